//! `servicediscovery.namespace`: the environment's private DNS namespace in its VPC.
//!
//! Cloud Map makes and deletes a namespace (and its private hosted zone) as an operation:
//! the create names the namespace at once, and its operation is waited for before anything
//! registers in it. Cloud Map does not report a namespace's VPC, so the create writes it as
//! an annotation.

use async_trait::async_trait;
use aws_sdk_servicediscovery as sd;
use aws_smithy_runtime::client::waiters::AcceptorState;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::Namespace;
use sd::operation::get_namespace::{GetNamespaceError, GetNamespaceOutput};
use sd::operation::get_operation::{GetOperationError, GetOperationOutput};
use sd::types::{
    NamespaceFilter, NamespaceFilterName, NamespaceType, OperationStatus, OperationTargetType,
    PrivateDnsNamespaceChange,
};
use serde_json::{Value, json};

use super::{cloud_map_tags, tags_of};
use crate::error::{all, classify, gone, missing, settled, unless_gone};
use crate::owned::{VPC_TAG, arn_of, cannot_update, client_token, desired_tags, observed, resolved, spec, updated};
use crate::tag_index::indexed_tags;
use crate::tagging::sync_tags;
use crate::wait::{Cadence, Wait};

pub(crate) struct Namespaces {
    client: sd::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
    wait: Wait,
}

impl Namespaces {
    pub(crate) fn new(client: &sd::Client, tagging: &aws_sdk_resourcegroupstagging::Client, wait: Wait) -> Self {
        Self { client: client.clone(), tagging: tagging.clone(), wait }
    }
}

/// The operation that makes or deletes a namespace: done, failed, or not yet.
fn finished(answer: Result<&GetOperationOutput, &GetOperationError>) -> AcceptorState {
    match answer.map(|o| o.operation().and_then(|op| op.status())) {
        Ok(Some(OperationStatus::Success)) => AcceptorState::Success,
        Ok(Some(OperationStatus::Fail)) => AcceptorState::Failure,
        Ok(_) => AcceptorState::Retry,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

/// The namespace is gone once Cloud Map no longer finds it.
fn deleted(answer: Result<&GetNamespaceOutput, &GetNamespaceError>) -> AcceptorState {
    match answer {
        Ok(_) => AcceptorState::Retry,
        Err(e) if e.is_namespace_not_found() => AcceptorState::Success,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

/// The output that carries the create's operation, for the wait that follows it.
const OPERATION: &str = "operation";

#[async_trait]
impl Reconciler for Namespaces {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let private = NamespaceFilter::builder()
            .name(NamespaceFilterName::Type)
            .values(NamespaceType::DnsPrivate.as_str())
            .build()
            .map_err(|e| ReconcileError::permanent(e.to_string()))?;
        // The listing's pages have no item view of their own.
        let pages =
            all("ListNamespaces", self.client.list_namespaces().filters(private).into_paginator().send()).await?;
        let mut out = Vec::new();
        for namespace in pages.iter().flat_map(|p| p.namespaces()) {
            let (Some(id), Some(arn), Some(name)) = (namespace.id(), namespace.arn(), namespace.name()) else {
                return Err(missing("namespace id, ARN or name"));
            };
            let Some(tags) = indexed_tags(&self.tagging, scope, arn, || tags_of(&self.client, arn)).await? else {
                continue;
            };
            let attributes = json!({
                "name": name,
                "vpc_id": tags.get(VPC_TAG),
                "description": namespace.description().unwrap_or_default(),
            });
            out.extend(observed(scope, &tags, id, attributes, json!({ "arn": arn })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: Namespace = spec(desired)?;
        let vpc = resolved(desired, &typed.vpc_id)?;
        let mut tags = desired_tags(desired);
        tags.insert(VPC_TAG.to_owned(), vpc.clone());
        let made = self
            .client
            .create_private_dns_namespace()
            .name(typed.name.as_str())
            .vpc(vpc)
            .description(typed.description.as_str())
            .set_creator_request_id(client_token(desired))
            .set_tags(Some(cloud_map_tags(tags)?))
            .send()
            .await
            .map_err(|e| classify("CreatePrivateDnsNamespace", e))?;
        let operation = made.operation_id().ok_or_else(|| missing("operation id"))?;
        let read = self.client.get_operation().operation_id(operation).send().await;
        let read = read.map_err(|e| classify("GetOperation", e))?;
        let id = read
            .operation()
            .and_then(|op| op.targets())
            .and_then(|t| t.get(&OperationTargetType::Namespace))
            .ok_or_else(|| missing("namespace of the create operation"))?;
        let got = self.client.get_namespace().id(id).send().await;
        // The ARN is the namespace's once it exists; until then it is made of its parts.
        let arn = got.ok().and_then(|g| g.namespace().and_then(|n| n.arn().map(str::to_owned)));
        let mut made = crate::owned::created(desired, id, json!({ "arn": arn, OPERATION: operation }));
        made.pending = true;
        Ok(made)
    }

    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        let Some(operation) = current.outputs.get(OPERATION).and_then(Value::as_str).map(str::to_owned) else {
            return Ok(current);
        };
        let look = || self.client.get_operation().operation_id(&operation).send();
        let done = self.wait.until(Cadence::STEADY, look, finished).await;
        let mut ready = settled(current, "Cloud Map namespace", done, None)?;
        ready.outputs.remove(OPERATION);
        if ready.outputs.get("arn").is_none_or(Value::is_null) {
            let got =
                self.client.get_namespace().id(&ready.aws_id).send().await.map_err(|e| classify("GetNamespace", e))?;
            let arn = got.namespace().and_then(|n| n.arn()).ok_or_else(|| missing("namespace ARN"))?;
            ready.outputs.insert("arn".into(), json!(arn));
        }
        Ok(ready)
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "tags" => sync_tags(&self.client, arn_of(current)?, desired, current).await?,
                "description" => {
                    let typed: Namespace = spec(desired)?;
                    let change = PrivateDnsNamespaceChange::builder().description(typed.description.as_str()).build();
                    self.client
                        .update_private_dns_namespace()
                        .id(&current.aws_id)
                        .namespace(change)
                        .send()
                        .await
                        .map_err(|e| classify("UpdatePrivateDnsNamespace", e))?;
                }
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_gone(
            "DeleteNamespace",
            self.client.delete_namespace().id(&current.aws_id).send().await,
            |e| e.is_namespace_not_found(),
            // Its discovery services are deleted first; one still going is not yet gone.
            |e| e.is_resource_in_use(),
        )
    }

    async fn wait_deleted(&self, current: &Observed) -> Result<(), ReconcileError> {
        let look = || self.client.get_namespace().id(&current.aws_id).send();
        let done = self.wait.until(Cadence::STEADY, look, deleted).await;
        gone(current, "Cloud Map namespace", done)
    }
}
