//! `sns.topic`: the environment's alert topic and its email subscriptions.
//!
//! An email subscription stays pending until its owner confirms it, and a pending
//! subscription cannot be removed through the API (AWS drops it after three days). Pending
//! ones therefore count as present: they are what the configuration asked for.

use async_trait::async_trait;
use aws_sdk_sns as sns;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::Topic;
use serde_json::json;
use sns::types::Tag;

use crate::error::{all, classify, missing, unless_gone, unless_gone_since};
use crate::owned::{
    TagMap, cannot_update, created, desired_tags, observed, owned_by, resolved, spec, strings, updated,
};
use crate::tag_index::indexed_tags;
use crate::tagging::sync_tags;

const EMAIL: &str = "email";
/// The topic attribute naming the key SNS encrypts messages at rest with.
const KMS_MASTER_KEY_ID: &str = "KmsMasterKeyId";
const PENDING: &str = "PendingConfirmation";

pub(crate) struct Topics {
    client: sns::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

fn sns_tags(tags: TagMap) -> Result<Vec<Tag>, ReconcileError> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ReconcileError::permanent(e.to_string())))
        .collect()
}

impl Topics {
    pub(crate) fn new(client: &sns::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }

    /// A topic's tags, read from it; `None` if it went since it was listed.
    async fn tags(&self, arn: &str) -> Result<Option<TagMap>, ReconcileError> {
        let listed = self.client.list_tags_for_resource().resource_arn(arn).send().await;
        let Some(listed) = unless_gone_since("ListTagsForResource", listed, |e| e.is_resource_not_found_exception())?
        else {
            return Ok(None);
        };
        Ok(Some(listed.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()))
    }

    /// Email address → subscription ARN (or `PendingConfirmation`), or `None` if the topic
    /// was deleted since it was listed.
    async fn subscriptions(&self, topic: &str) -> Result<Option<Vec<(String, String)>>, ReconcileError> {
        let listed = self
            .client
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        let Some(subscriptions) =
            unless_gone_since("ListSubscriptionsByTopic", listed, |e| e.is_not_found_exception())?
        else {
            return Ok(None);
        };
        Ok(Some(
            subscriptions
                .iter()
                .filter(|s| s.protocol() == Some(EMAIL))
                .filter_map(|s| Some((s.endpoint()?.to_owned(), s.subscription_arn().unwrap_or(PENDING).to_owned())))
                .collect(),
        ))
    }

    async fn subscribe(&self, topic: &str, emails: &[String]) -> Result<(), ReconcileError> {
        for email in emails {
            self.client
                .subscribe()
                .topic_arn(topic)
                .protocol(EMAIL)
                .endpoint(email)
                .send()
                .await
                .map_err(|e| classify("Subscribe", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Reconciler for Topics {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let topics = all("ListTopics", self.client.list_topics().into_paginator().items().send()).await?;
        let mut out = Vec::new();
        for t in topics {
            let arn = t.topic_arn().ok_or_else(|| missing("topic ARN"))?;
            let name = arn.rsplit(':').next().unwrap_or(arn);
            if !scope.may_own(name) {
                continue; // another stack's: its tags are not read
            }
            let Some(tags) = indexed_tags(&self.tagging, scope, arn, || self.tags(arn)).await? else { continue };
            if !owned_by(scope, &tags) {
                continue;
            }
            let Some(subscriptions) = self.subscriptions(arn).await? else { continue };
            let emails: Vec<String> = subscriptions.into_iter().map(|(email, _)| email).collect();
            let read = self.client.get_topic_attributes().topic_arn(arn).send().await;
            let Some(read) = unless_gone_since("GetTopicAttributes", read, |e| e.is_not_found_exception())? else {
                continue;
            };
            let key = read.attributes().and_then(|a| a.get(KMS_MASTER_KEY_ID));
            let attributes = json!({ "name": name, "subscriptions": emails, "kms_master_key_id": key });
            out.extend(observed(scope, &tags, arn, attributes, json!({ "arn": arn })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: Topic = spec(desired)?;
        let out = self
            .client
            .create_topic()
            .name(typed.name.as_str())
            .attributes(KMS_MASTER_KEY_ID, resolved(desired, &typed.kms_master_key_id)?)
            .set_tags(Some(sns_tags(desired_tags(desired))?))
            .send()
            .await
            .map_err(|e| classify("CreateTopic", e))?;
        let arn = out.topic_arn().ok_or_else(|| missing("topic ARN"))?;
        self.subscribe(arn, &strings(desired.fields.get("subscriptions"))).await?;
        Ok(created(desired, arn, json!({ "arn": arn })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "subscriptions" => {
                    let want = strings(desired.fields.get("subscriptions"));
                    let have = self.subscriptions(&current.aws_id).await?.unwrap_or_default();
                    let new: Vec<String> =
                        want.iter().filter(|w| !have.iter().any(|(e, _)| e == *w)).cloned().collect();
                    self.subscribe(&current.aws_id, &new).await?;
                    for (email, arn) in have {
                        if want.contains(&email) || arn == PENDING {
                            continue;
                        }
                        self.client
                            .unsubscribe()
                            .subscription_arn(arn)
                            .send()
                            .await
                            .map_err(|e| classify("Unsubscribe", e))?;
                    }
                }
                "kms_master_key_id" => {
                    let typed: Topic = spec(desired)?;
                    self.client
                        .set_topic_attributes()
                        .topic_arn(&current.aws_id)
                        .attribute_name(KMS_MASTER_KEY_ID)
                        .attribute_value(resolved(desired, &typed.kms_master_key_id)?)
                        .send()
                        .await
                        .map_err(|e| classify("SetTopicAttributes", e))?;
                }
                "tags" => {
                    sync_tags(&self.client, &current.aws_id, desired, current).await?;
                }
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        // Deleting a topic deletes its subscriptions.
        unless_gone(
            "DeleteTopic",
            self.client.delete_topic().topic_arn(&current.aws_id).send().await,
            |e| e.is_not_found_exception(),
            |e| e.is_concurrent_access_exception(),
        )
    }
}

// SNS tags a topic by its ARN.
crate::tagging::tag_resource_api!(sns::Client, resource_arn, |tags| sns_tags(tags)?);
