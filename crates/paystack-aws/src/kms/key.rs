//! `kms.key`: a customer-managed key of the environment in one region, found by its alias.
//!
//! KMS makes a key with no name and no idempotency token; the alias, made right after, is
//! its name. A key whose alias was never made (its create's answer lost, or the run killed in
//! between) carries the ownership tags all the same, and the next create finds it by them and
//! gives it its alias instead of making another. A key is never deleted at once: its deletion
//! is scheduled, with AWS's shortest window.

use async_trait::async_trait;
use aws_sdk_kms as kms;
use kms::types::{KeyManagerType, KeySpec, KeyState, KeyUsageType, Tag};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{KEY_DELETION_DAYS, KmsKey};
use serde_json::{Value, json};

use crate::error::{all, classify, missing, unless_gone_since};
use crate::owned::{TagMap, cannot_update, created, desired_tags, observed, owned_by, spec, updated};
use crate::tag_index::indexed_tags;
use crate::tagging::sync_tags;

/// The one key policy a key has.
const POLICY_NAME: &str = "default";

pub(crate) struct Keys {
    client: kms::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

fn kms_tags(tags: TagMap) -> Result<Vec<Tag>, ReconcileError> {
    tags.into_iter()
        .map(|(k, v)| {
            Tag::builder().tag_key(k).tag_value(v).build().map_err(|e| ReconcileError::permanent(e.to_string()))
        })
        .collect()
}

/// Whether a key in this state is on its way out: it counts as gone.
fn going(state: Option<&KeyState>) -> bool {
    matches!(state, Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion))
}

/// A key's live fields and outputs, read with the calls KMS needs (it lists no details).
struct Read {
    tags: TagMap,
    attributes: Value,
    outputs: Value,
}

impl Keys {
    pub(crate) fn new(client: &kms::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }

    async fn tags(&self, key: &str) -> Result<Option<TagMap>, ReconcileError> {
        let listed = self.client.list_resource_tags().key_id(key).send().await;
        let Some(listed) = unless_gone_since("ListResourceTags", listed, |e| e.is_not_found_exception())? else {
            return Ok(None);
        };
        Ok(Some(listed.tags().iter().map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned())).collect()))
    }

    /// Everything about `key` that its spec says, or `None` if it is gone or going; its tags
    /// from the tag index where the read is of a scope that knows its state.
    async fn read(&self, key: &str, alias: &str, scope: Option<&Scope>) -> Result<Option<Read>, ReconcileError> {
        let described = self.client.describe_key().key_id(key).send().await;
        let Some(described) = unless_gone_since("DescribeKey", described, |e| e.is_not_found_exception())? else {
            return Ok(None);
        };
        let meta = described.key_metadata().ok_or_else(|| missing("key metadata"))?;
        if going(meta.key_state()) {
            return Ok(None);
        }
        let tags = match (scope, meta.arn()) {
            (Some(scope), Some(arn)) => indexed_tags(&self.tagging, scope, arn, || self.tags(key)).await?,
            _ => self.tags(key).await?,
        };
        let Some(tags) = tags else { return Ok(None) };
        let rotation = self.client.get_key_rotation_status().key_id(key).send().await;
        let rotation = rotation.map_err(|e| classify("GetKeyRotationStatus", e))?;
        let policy = self.client.get_key_policy().key_id(key).policy_name(POLICY_NAME).send().await;
        let policy = policy.map_err(|e| classify("GetKeyPolicy", e))?;
        let policy: Value = policy.policy().and_then(|p| serde_json::from_str(p).ok()).unwrap_or(Value::Null);
        Ok(Some(Read {
            tags,
            attributes: json!({
                "alias": alias,
                "description": meta.description(),
                "policy": policy,
                "enable_key_rotation": rotation.key_rotation_enabled(),
            }),
            outputs: json!({ "id": meta.key_id(), "arn": meta.arn() }),
        }))
    }

    /// A key of this stack's resource that has no alias: made by a create whose answer was
    /// lost, or that was stopped before its alias. Read only before a create.
    async fn unnamed(&self, desired: &Desired) -> Result<Option<String>, ReconcileError> {
        let aliases = all("ListAliases", self.client.list_aliases().into_paginator().items().send()).await?;
        let named: Vec<&str> = aliases.iter().filter_map(|a| a.target_key_id()).collect();
        let keys = all("ListKeys", self.client.list_keys().into_paginator().items().send()).await?;
        let want = desired_tags(desired);
        let ours = |tags: &TagMap| {
            [paystack_core::stack::STACK_TAG, paystack_core::stack::RESOURCE_TAG]
                .iter()
                .all(|k| tags.get(*k).is_some() && tags.get(*k) == want.get(*k))
        };
        for key in keys.iter().filter_map(|k| k.key_id()).filter(|k| !named.contains(k)) {
            let described = self.client.describe_key().key_id(key).send().await;
            let Some(described) = unless_gone_since("DescribeKey", described, |e| e.is_not_found_exception())? else {
                continue;
            };
            let Some(meta) = described.key_metadata() else { continue };
            if meta.key_manager() != Some(&KeyManagerType::Customer) || going(meta.key_state()) {
                continue;
            }
            if self.tags(key).await?.is_some_and(|tags| ours(&tags)) {
                return Ok(Some(key.to_owned()));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Reconciler for Keys {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let aliases = all("ListAliases", self.client.list_aliases().into_paginator().items().send()).await?;
        let mut out = Vec::new();
        for a in &aliases {
            let (Some(alias), Some(key)) = (a.alias_name(), a.target_key_id()) else { continue };
            let Some(name) = alias.strip_prefix("alias/") else { continue };
            if !scope.may_own(name) {
                continue; // another stack's: its key is not read
            }
            let Some(read) = self.read(key, alias, Some(scope)).await? else { continue };
            if !owned_by(scope, &read.tags) {
                continue;
            }
            out.extend(observed(scope, &read.tags, key, read.attributes, read.outputs));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let key: KmsKey = spec(desired)?;
        let id = match self.unnamed(desired).await? {
            Some(found) => found,
            None => {
                let made = self
                    .client
                    .create_key()
                    .description(&key.description)
                    .policy(key.policy.to_string())
                    .key_usage(KeyUsageType::EncryptDecrypt)
                    .key_spec(KeySpec::SymmetricDefault)
                    .set_tags(Some(kms_tags(desired_tags(desired))?))
                    .send()
                    .await
                    .map_err(|e| classify("CreateKey", e))?;
                made.key_metadata().map(|m| m.key_id().to_owned()).ok_or_else(|| missing("key id"))?
            }
        };
        self.client
            .create_alias()
            .alias_name(&key.alias)
            .target_key_id(&id)
            .send()
            .await
            .map_err(|e| classify("CreateAlias", e))?;
        if key.enable_key_rotation {
            self.client.enable_key_rotation().key_id(&id).send().await.map_err(|e| classify("EnableKeyRotation", e))?;
        }
        let read = self.read(&id, &key.alias, None).await?.ok_or_else(|| missing("the key just made"))?;
        Ok(created(desired, &id, read.outputs))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let key: KmsKey = spec(desired)?;
        let id = current.aws_id.as_str();
        for change in changes {
            match change.field.as_str() {
                "description" => {
                    let call = self.client.update_key_description().key_id(id).description(&key.description);
                    call.send().await.map_err(|e| classify("UpdateKeyDescription", e))?;
                }
                "policy" => {
                    let call =
                        self.client.put_key_policy().key_id(id).policy_name(POLICY_NAME).policy(key.policy.to_string());
                    call.send().await.map_err(|e| classify("PutKeyPolicy", e))?;
                }
                "enable_key_rotation" if key.enable_key_rotation => {
                    let call = self.client.enable_key_rotation().key_id(id);
                    call.send().await.map_err(|e| classify("EnableKeyRotation", e))?;
                }
                "enable_key_rotation" => {
                    let call = self.client.disable_key_rotation().key_id(id);
                    call.send().await.map_err(|e| classify("DisableKeyRotation", e))?;
                }
                "tags" => sync_tags(&self.client, id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    /// Removes the alias, then schedules the key's deletion: AWS deletes it after the
    /// shortest window it allows, and until then what it encrypted can still be read.
    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        if let Some(alias) = current.attributes.get("alias").and_then(Value::as_str) {
            let deleted = self.client.delete_alias().alias_name(alias).send().await;
            unless_gone_since("DeleteAlias", deleted, |e| e.is_not_found_exception())?;
        }
        let described = self.client.describe_key().key_id(&current.aws_id).send().await;
        let Some(described) = unless_gone_since("DescribeKey", described, |e| e.is_not_found_exception())? else {
            return Ok(());
        };
        if going(described.key_metadata().and_then(|m| m.key_state())) {
            return Ok(());
        }
        let scheduled = self
            .client
            .schedule_key_deletion()
            .key_id(&current.aws_id)
            .pending_window_in_days(crate::owned::aws_int(KEY_DELETION_DAYS)?)
            .send()
            .await;
        unless_gone_since("ScheduleKeyDeletion", scheduled, |e| e.is_not_found_exception())?;
        Ok(())
    }
}

crate::tagging::tag_resource_api!(kms::Client, key_id, |tags| kms_tags(tags)?);
