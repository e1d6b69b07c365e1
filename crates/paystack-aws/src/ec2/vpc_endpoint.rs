//! `ec2.vpc_endpoint`: the S3 gateway endpoint, routed from every route table.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use aws_smithy_runtime::client::waiters::AcceptorState;
use ec2::error::ProvideErrorMetadata;
use ec2::operation::describe_vpc_endpoints::{DescribeVpcEndpointsError, DescribeVpcEndpointsOutput};
use ec2::types::{ResourceType, VpcEndpointType};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::VpcEndpoint;
use serde_json::{Value, json};

use super::{Listed, cannot_update, created, owned_of, stack_filter, strings, sync_tags, tag_specification, updated};
use crate::error::{all, classify, gone, missing, ran_out, settled, unless_not_found};
use crate::owned::{resolved, spec};
use crate::wait::{Cadence, Wait, all_or_any};

pub(crate) struct VpcEndpoints {
    client: ec2::Client,
    /// How long to wait for AWS to finish making or deleting one (`[waits]`).
    wait: Wait,
}

impl VpcEndpoints {
    pub(crate) fn new(client: &ec2::Client, wait: Wait) -> Self {
        Self { client: client.clone(), wait }
    }

    /// The endpoint's state as AWS reports it now, if it can be read.
    async fn state_of(&self, id: &str) -> Option<String> {
        let out = self.client.describe_vpc_endpoints().vpc_endpoint_ids(id).send().await.ok()?;
        Some(state(out.vpc_endpoints().first()?).to_owned())
    }
}

/// The state as the wire has it, lowercased: the API documents `Deleted` and answers
/// `deleted`, which the SDK parses as an unknown variant.
fn state(e: &ec2::types::VpcEndpoint) -> String {
    e.state().map(|s| s.as_str().to_ascii_lowercase()).unwrap_or_default()
}

/// EC2's documented error code for an endpoint id it does not know.
const NOT_FOUND: &str = "InvalidVpcEndpointId.NotFound";

/// Every endpoint `available`; one that failed, was rejected or expired, or is going, fails.
fn available(answer: Result<&DescribeVpcEndpointsOutput, &DescribeVpcEndpointsError>) -> AcceptorState {
    const FAILED: &[&str] = &["failed", "rejected", "expired", "deleting", "deleted"];
    match answer {
        Ok(out) => all_or_any(out.vpc_endpoints().iter().map(state), "available", FAILED),
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

/// Every endpoint `deleted`, or none found.
fn deleted(answer: Result<&DescribeVpcEndpointsOutput, &DescribeVpcEndpointsError>) -> AcceptorState {
    match answer {
        Ok(out) if out.vpc_endpoints().is_empty() => AcceptorState::Success,
        Ok(out) => all_or_any(out.vpc_endpoints().iter().map(state), "deleted", &[]),
        Err(e) if e.code() == Some(NOT_FOUND) => AcceptorState::Success,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

#[async_trait]
impl Reconciler for VpcEndpoints {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed = self.client.describe_vpc_endpoints().filters(stack_filter(scope)).into_paginator().items().send();
        let endpoints = all("DescribeVpcEndpoints", listed).await?;
        owned_of(scope, "VPC endpoint id", &endpoints, |e| {
            let state = state(e);
            if matches!(state.as_str(), "deleted" | "deleting") {
                return None;
            }
            let attributes = json!({
                "vpc_id": e.vpc_id(),
                "service_name": e.service_name(),
                "route_table_ids": e.route_table_ids(),
                "policy": e.policy_document().and_then(|p| serde_json::from_str::<Value>(p).ok()),
            });
            Some(Listed::new(e.vpc_endpoint_id(), e.tags(), attributes).pending(state == "pending"))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let endpoint: VpcEndpoint = spec(desired)?;
        let out = self
            .client
            .create_vpc_endpoint()
            .set_client_token(crate::owned::client_token(desired))
            .vpc_id(resolved(desired, &endpoint.vpc_id)?)
            .service_name(&endpoint.service_name)
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .set_route_table_ids(Some(strings(desired.fields.get("route_table_ids"))))
            .policy_document(endpoint.policy.to_string())
            .tag_specifications(tag_specification(ResourceType::VpcEndpoint, desired))
            .send()
            .await
            .map_err(|e| classify("CreateVpcEndpoint", e))?;
        let id = out.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).ok_or_else(|| missing("VPC endpoint id"))?;
        let mut o = created(desired, id, json!({}));
        o.pending = true;
        Ok(o)
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "route_table_ids" => {
                    let want: BTreeSet<String> = strings(desired.fields.get("route_table_ids")).into_iter().collect();
                    let have: BTreeSet<String> =
                        strings(current.attributes.get("route_table_ids")).into_iter().collect();
                    self.client
                        .modify_vpc_endpoint()
                        .vpc_endpoint_id(&current.aws_id)
                        .set_add_route_table_ids(Some(want.difference(&have).cloned().collect()))
                        .set_remove_route_table_ids(Some(have.difference(&want).cloned().collect()))
                        .send()
                        .await
                        .map_err(|e| classify("ModifyVpcEndpoint", e))?;
                }
                "policy" => {
                    let endpoint: VpcEndpoint = spec(desired)?;
                    self.client
                        .modify_vpc_endpoint()
                        .vpc_endpoint_id(&current.aws_id)
                        .policy_document(endpoint.policy.to_string())
                        .send()
                        .await
                        .map_err(|e| classify("ModifyVpcEndpoint", e))?;
                }
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_not_found(
            "DeleteVpcEndpoints",
            self.client.delete_vpc_endpoints().vpc_endpoint_ids(&current.aws_id).send().await,
        )
    }

    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        let look = || self.client.describe_vpc_endpoints().vpc_endpoint_ids(&current.aws_id).send();
        let ready = self.wait.until(Cadence::STEADY, look, available).await;
        let still = if ran_out(&ready) { self.state_of(&current.aws_id).await } else { None };
        settled(current, "VPC endpoint", ready, still)
    }

    async fn wait_deleted(&self, current: &Observed) -> Result<(), ReconcileError> {
        let look = || self.client.describe_vpc_endpoints().vpc_endpoint_ids(&current.aws_id).send();
        let deleted = self.wait.until(Cadence::STEADY, look, deleted).await;
        gone(current, "VPC endpoint", deleted)
    }
}
