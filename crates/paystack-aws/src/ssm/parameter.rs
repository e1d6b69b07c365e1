//! `ssm.parameter`: a `String` parameter of Parameter Store, under `/{stack}/`.
//!
//! A stack's parameters are read by path, ten to a page, and each one's tags by name: one
//! call or so per parameter. A value is written only when it changed, so SSM's version
//! history holds real changes only. A parameter is made with its tags in the same call, so
//! no crash leaves one without them.

use async_trait::async_trait;
use aws_sdk_ssm as ssm;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::Parameter;
use serde_json::json;
use ssm::types::{ParameterType, ResourceTypeForTagging, Tag};

use crate::error::{all, classify, missing, unless_gone, unless_gone_since};
use crate::owned::{TagMap, cannot_update, created, desired_tags, observed, resolved, spec, updated};
use crate::tag_index::indexed_tags;
use crate::tagging::{Tagging, sync_tags};

pub(crate) struct Parameters {
    client: ssm::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

/// How a value is written.
enum Write {
    /// A new parameter, with these tags.
    New(Vec<Tag>),
    /// A new version of the parameter.
    Overwrite,
}

fn ssm_tags(tags: TagMap) -> Result<Vec<Tag>, ReconcileError> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ReconcileError::permanent(e.to_string())))
        .collect()
}

impl Parameters {
    pub(crate) fn new(client: &ssm::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }

    /// A parameter's tags, read from it; `None` if it went since it was listed.
    async fn tags(&self, name: &str) -> Result<Option<TagMap>, ReconcileError> {
        let listed = self
            .client
            .list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .send()
            .await;
        let Some(listed) = unless_gone_since("ListTagsForResource", listed, |e| e.is_invalid_resource_id())? else {
            return Ok(None);
        };
        Ok(Some(listed.tag_list().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()))
    }

    /// Writes `value` to the parameter `name`: a new parameter with its tags, or a new
    /// version of an existing one (SSM takes tags only on a new parameter).
    async fn put(&self, name: &str, value: &str, write: Write) -> Result<(), ReconcileError> {
        let call = self.client.put_parameter().name(name).value(value).r#type(ParameterType::String);
        let call = match write {
            Write::New(tags) => call.overwrite(false).set_tags(Some(tags)),
            Write::Overwrite => call.overwrite(true),
        };
        match call.send().await {
            Err(e) if e.as_service_error().is_some_and(|e| e.is_parameter_already_exists()) => Err(ReconcileError {
                class: paystack_engine::ErrorClass::Conflict,
                message: format!("PutParameter: a parameter named `{name}` already exists, and is not this stack's"),
            }),
            other => other.map(|_| ()).map_err(|e| classify("PutParameter", e)),
        }
    }
}

#[async_trait]
impl Tagging for ssm::Client {
    async fn tag(&self, resource: &str, tags: TagMap) -> Result<(), ReconcileError> {
        let call = self
            .add_tags_to_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(resource)
            .set_tags(Some(ssm_tags(tags)?));
        call.send().await.map_err(|e| classify("AddTagsToResource", e))?;
        Ok(())
    }

    async fn untag(&self, resource: &str, keys: Vec<String>) -> Result<(), ReconcileError> {
        let call = self
            .remove_tags_from_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(resource)
            .set_tag_keys(Some(keys));
        call.send().await.map_err(|e| classify("RemoveTagsFromResource", e))?;
        Ok(())
    }
}

#[async_trait]
impl Reconciler for Parameters {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        for stack in scope.stacks() {
            let pages = self
                .client
                .get_parameters_by_path()
                .path(format!("/{stack}/"))
                .recursive(true)
                .with_decryption(false)
                .into_paginator()
                .send();
            let pages = all("GetParametersByPath", pages).await?;
            for p in pages.iter().flat_map(|page| page.parameters()) {
                if p.r#type() != Some(&ParameterType::String) {
                    continue; // paystack writes plain strings only
                }
                let name = p.name().ok_or_else(|| missing("parameter name"))?;
                let arn = p.arn().ok_or_else(|| missing("parameter ARN"))?;
                let Some(tags) = indexed_tags(&self.tagging, scope, arn, || self.tags(name)).await? else { continue };
                let attributes = json!({ "name": name, "value": p.value() });
                out.extend(observed(scope, &tags, name, attributes, json!({ "arn": arn })));
            }
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let parameter: Parameter = spec(desired)?;
        let value = resolved(desired, &parameter.value)?;
        self.put(&parameter.name, value, Write::New(ssm_tags(desired_tags(desired))?)).await?;
        let read = self.client.get_parameter().name(&parameter.name).send().await;
        let read = read.map_err(|e| classify("GetParameter", e))?;
        let arn = read.parameter().and_then(|p| p.arn()).ok_or_else(|| missing("parameter ARN"))?;
        Ok(created(desired, &parameter.name, json!({ "arn": arn })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let parameter: Parameter = spec(desired)?;
        for change in changes {
            match change.field.as_str() {
                "value" => self.put(&current.aws_id, resolved(desired, &parameter.value)?, Write::Overwrite).await?,
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let deleted = self.client.delete_parameter().name(&current.aws_id).send().await;
        unless_gone("DeleteParameter", deleted, |e| e.is_parameter_not_found(), |_| false)
    }
}
