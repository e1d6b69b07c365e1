//! `secretsmanager.secret_policy`: who may read the database secret's value, as the
//! secret's resource policy. Like the rotation, it has no AWS identity of its own: it lives
//! on its secret, which carries the `paystack:policy` tag naming it.

use async_trait::async_trait;
use aws_sdk_secretsmanager as secretsmanager;
use paystack_core::stack::STACK_TAG;
use paystack_core::{FieldChange, Fields, Observed, ResourceId};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{SecretPolicy, readers_of, readers_only_policy};
use secretsmanager::types::Tag;
use serde_json::{Value, json};

use super::{stack_secrets, tag_map};
use crate::error::{classify, missing, unless_gone, unless_gone_since};
use crate::owned::{POLICY_TAG, cannot_update, resolved, spec, updated};

pub(crate) struct SecretPolicies {
    client: secretsmanager::Client,
}

impl SecretPolicies {
    pub(crate) fn new(client: &secretsmanager::Client) -> Self {
        Self { client: client.clone() }
    }

    async fn put(&self, arn: &str, policy: &SecretPolicy) -> Result<(), ReconcileError> {
        self.client
            .put_resource_policy()
            .secret_id(arn)
            .resource_policy(readers_only_policy(&policy.readers).to_string())
            .send()
            .await
            .map_err(|e| classify("PutResourcePolicy", e))?;
        Ok(())
    }
}

#[async_trait]
impl Reconciler for SecretPolicies {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        for s in stack_secrets(&self.client, scope).await?.iter() {
            let tags = tag_map(s.tags());
            let (Some(id), Some(stack)) = (tags.get(POLICY_TAG), tags.get(STACK_TAG)) else { continue };
            let arn = s.arn().ok_or_else(|| missing("secret ARN"))?;
            let got = self.client.get_resource_policy().secret_id(arn).send().await;
            let Some(got) = unless_gone_since("GetResourcePolicy", got, |e| e.is_resource_not_found_exception())?
            else {
                continue;
            };
            // A policy someone replaced by hand reads as naming no reader, and apply writes
            // it again.
            let policy: Option<Value> = got.resource_policy().and_then(|p| serde_json::from_str(p).ok());
            let readers = policy.as_ref().and_then(readers_of).unwrap_or_default();
            let Value::Object(attributes) = json!({ "secret_arn": arn, "readers": readers }) else { continue };
            out.push(Observed::new(ResourceId::new(id), arn, attributes, Fields::new()).of_stack(stack));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: SecretPolicy = spec(desired)?;
        let arn = resolved(desired, &typed.secret_arn)?.as_str();
        self.put(arn, &typed).await?;
        self.client
            .tag_resource()
            .secret_id(arn)
            .tags(Tag::builder().key(POLICY_TAG).value(desired.id.as_str()).build())
            .send()
            .await
            .map_err(|e| classify("TagResource", e))?;
        Ok(Observed::new(desired.id.clone(), arn, desired.fields.clone(), Fields::new()))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "readers" => self.put(&current.aws_id, &spec(desired)?).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        // The secret may be gone already: then so is its policy.
        unless_gone(
            "DeleteResourcePolicy",
            self.client.delete_resource_policy().secret_id(&current.aws_id).send().await,
            |e| e.is_resource_not_found_exception(),
            |_| false,
        )?;
        unless_gone(
            "UntagResource",
            self.client.untag_resource().secret_id(&current.aws_id).tag_keys(POLICY_TAG).send().await,
            |e| e.is_resource_not_found_exception(),
            |_| false,
        )?;
        Ok(())
    }
}
