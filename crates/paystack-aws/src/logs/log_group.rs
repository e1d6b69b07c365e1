//! `logs.log_group`: where a service's containers write, kept for the environment's
//! retention.

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs as logs;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{LogGroup, RDS_LOG_GROUP_PREFIX, WAF_LOG_GROUP_PREFIX};
use serde_json::json;

use crate::error::{all, classify, missing, unless_gone, unless_gone_since};
use crate::owned::{
    TagMap, arn_of, aws_int, cannot_update, created, desired_tags, observed, owned_by, resolved, spec, updated,
};
use crate::tag_index::indexed_tags;
use crate::tagging::sync_tags;

pub(crate) struct LogGroups {
    client: logs::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

/// The outputs: the group's ARN, and the ARN of its streams, which is what a policy that
/// writes logs names.
fn outputs(name: &str, arn: &str) -> serde_json::Value {
    json!({ "name": name, "arn": arn, "streams_arn": format!("{arn}:*") })
}

/// The group's own ARN. The `arn` AWS also reports ends in `:*` (the streams).
fn group_arn(group: &logs::types::LogGroup) -> Result<String, ReconcileError> {
    group
        .log_group_arn()
        .map(str::to_owned)
        .or_else(|| group.arn().map(|a| a.trim_end_matches(":*").to_owned()))
        .ok_or_else(|| missing("log group ARN"))
}

impl LogGroups {
    pub(crate) fn new(client: &logs::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }

    /// A group's tags, read from it; `None` if it went since it was listed.
    async fn tags(&self, arn: &str) -> Result<Option<TagMap>, ReconcileError> {
        let listed = self.client.list_tags_for_resource().resource_arn(arn).send().await;
        let Some(listed) = unless_gone_since("ListTagsForResource", listed, |e| e.is_resource_not_found_exception())?
        else {
            return Ok(None);
        };
        Ok(Some(listed.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()))
    }

    async fn set_retention(&self, name: &str, desired: &Desired) -> Result<(), ReconcileError> {
        let typed: LogGroup = spec(desired)?;
        self.client
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(aws_int(typed.retention_in_days)?)
            .send()
            .await
            .map_err(|e| classify("PutRetentionPolicy", e))?;
        Ok(())
    }
}

#[async_trait]
impl Reconciler for LogGroups {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        // The stacks' own names, the database's group under RDS's prefix and the firewall's
        // under WAF's. Without a common prefix, one listing of every group holds them all.
        let prefixes = match scope.name_prefix() {
            Some(p) => vec![
                Some(p.to_owned()),
                Some(format!("{RDS_LOG_GROUP_PREFIX}{p}")),
                Some(format!("{WAF_LOG_GROUP_PREFIX}{p}")),
            ],
            None => vec![None],
        };
        let mut groups = Vec::new();
        for prefix in prefixes {
            let listed = self.client.describe_log_groups().set_log_group_name_prefix(prefix);
            groups.extend(all("DescribeLogGroups", listed.into_paginator().items().send()).await?);
        }
        let mut out = Vec::new();
        for g in groups {
            let name = g.log_group_name().ok_or_else(|| missing("log group name"))?;
            // A database's group ends in its log type and carries a cluster identifier that
            // may have been shortened, so its name cannot say whose it is: its tags do.
            let own = name.strip_prefix(WAF_LOG_GROUP_PREFIX).unwrap_or(name);
            if !name.starts_with(RDS_LOG_GROUP_PREFIX) && !scope.may_own(own) {
                continue; // another stack's: its tags are not read
            }
            let arn = group_arn(&g)?;
            let Some(tags) = indexed_tags(&self.tagging, scope, &arn, || self.tags(&arn)).await? else { continue };
            if !owned_by(scope, &tags) {
                continue;
            }
            let attributes =
                json!({ "name": name, "retention_in_days": g.retention_in_days(), "kms_key_id": g.kms_key_id() });
            out.extend(observed(scope, &tags, name, attributes, outputs(name, &arn)));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: LogGroup = spec(desired)?;
        let name = typed.name.as_str();
        self.client
            .create_log_group()
            .log_group_name(name)
            .kms_key_id(resolved(desired, &typed.kms_key_id)?)
            .set_tags(Some(desired_tags(desired).into_iter().collect()))
            .send()
            .await
            .map_err(|e| classify("CreateLogGroup", e))?;
        self.set_retention(name, desired).await?;
        // CreateLogGroup returns nothing; the ARN is read back.
        let described = self
            .client
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .map_err(|e| classify("DescribeLogGroups", e))?;
        let group = described
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
            .ok_or_else(|| missing("log group just created"))?;
        let arn = group_arn(group)?;
        Ok(created(desired, name, outputs(name, &arn)))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "retention_in_days" => self.set_retention(&current.aws_id, desired).await?,
                "kms_key_id" => {
                    let typed: LogGroup = spec(desired)?;
                    self.client
                        .associate_kms_key()
                        .log_group_name(&current.aws_id)
                        .kms_key_id(resolved(desired, &typed.kms_key_id)?)
                        .send()
                        .await
                        .map_err(|e| classify("AssociateKmsKey", e))?;
                }
                "tags" => {
                    let arn = arn_of(current)?;
                    sync_tags(&self.client, arn, desired, current).await?;
                }
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_gone(
            "DeleteLogGroup",
            self.client.delete_log_group().log_group_name(&current.aws_id).send().await,
            |e| e.is_resource_not_found_exception(),
            |e| e.is_operation_aborted_exception(),
        )
    }
}

// CloudWatch Logs tags a log group by its own ARN (without `:*`).
crate::tagging::tag_resource_api!(logs::Client, resource_arn, |tags| tags.into_iter().collect());
