//! `rds.db_cluster_parameter_group`: the Aurora cluster's settings.
//!
//! The spec lists only the parameters paystack sets; every other parameter keeps the family's
//! default, so the live group is read with `Source=user` and compared on those alone.

use async_trait::async_trait;
use aws_sdk_rds as rds;
use paystack_core::{FieldChange, Fields, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::DbClusterParameterGroup;
use rds::types::{ApplyMethod, Parameter};
use serde_json::{Value, json};

use super::{create_tags, read_tags, sync_tags};
use crate::error::{all, classify, missing, unless_gone, unless_gone_since};
use crate::owned::{arn_of, cannot_update, created, field, observed, owned_by, spec, updated};
use crate::tag_index::indexed_tags;

/// RDS takes at most 20 parameters per modify call.
const PARAMETERS_PER_CALL: usize = 20;

pub(crate) struct DbClusterParameterGroups {
    client: rds::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

fn parameters_of(desired: &Desired) -> Result<&Fields, ReconcileError> {
    field(desired, "parameters")?
        .as_object()
        .ok_or_else(|| ReconcileError::permanent(format!("`{}`: `parameters` is not a map", desired.id)))
}

impl DbClusterParameterGroups {
    pub(crate) fn new(client: &rds::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }

    /// The values this group sets, as the spec writes them, or `None` if the group was
    /// deleted since it was listed.
    async fn user_parameters(&self, name: &str) -> Result<Option<Fields>, ReconcileError> {
        let pages = self
            .client
            .describe_db_cluster_parameters()
            .db_cluster_parameter_group_name(name)
            .source("user")
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        let Some(parameters) =
            unless_gone_since("DescribeDBClusterParameters", pages, |e| e.is_db_parameter_group_not_found_fault())?
        else {
            return Ok(None);
        };
        Ok(Some(
            parameters
                .iter()
                .filter_map(|p| Some((p.parameter_name()?.to_owned(), json!(p.parameter_value()?))))
                .collect(),
        ))
    }

    /// Sets `values`, in as few calls as RDS allows. Every parameter paystack sets is dynamic,
    /// so it applies at once, without a reboot.
    async fn set(&self, name: &str, values: &Fields) -> Result<(), ReconcileError> {
        let parameters: Vec<Parameter> = values
            .iter()
            .map(|(k, v)| {
                let value = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                Parameter::builder()
                    .parameter_name(k)
                    .parameter_value(value)
                    .apply_method(ApplyMethod::Immediate)
                    .build()
            })
            .collect();
        for chunk in parameters.chunks(PARAMETERS_PER_CALL) {
            self.client
                .modify_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(name)
                .set_parameters(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| classify("ModifyDBClusterParameterGroup", e))?;
        }
        Ok(())
    }

    /// Returns the parameters the spec no longer sets to the family's defaults.
    async fn reset(&self, name: &str, keys: &[String]) -> Result<(), ReconcileError> {
        for chunk in keys.chunks(PARAMETERS_PER_CALL) {
            let parameters = chunk
                .iter()
                .map(|k| Parameter::builder().parameter_name(k).apply_method(ApplyMethod::Immediate).build())
                .collect();
            self.client
                .reset_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(name)
                .set_parameters(Some(parameters))
                .send()
                .await
                .map_err(|e| classify("ResetDBClusterParameterGroup", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Reconciler for DbClusterParameterGroups {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let groups = all(
            "DescribeDBClusterParameterGroups",
            self.client.describe_db_cluster_parameter_groups().into_paginator().items().send(),
        )
        .await?;
        let mut out = Vec::new();
        for g in groups {
            let name = g.db_cluster_parameter_group_name().ok_or_else(|| missing("parameter group name"))?;
            let arn = g.db_cluster_parameter_group_arn().ok_or_else(|| missing("parameter group ARN"))?;
            // Another stack's, or AWS's own default groups: their tags are not read.
            if !scope.may_own(name) || name.starts_with("default.") {
                continue;
            }
            let Some(tags) = indexed_tags(&self.tagging, scope, arn, || read_tags(&self.client, arn)).await? else {
                continue;
            };
            if !owned_by(scope, &tags) {
                continue;
            }
            let Some(parameters) = self.user_parameters(name).await? else { continue };
            let attributes = json!({
                "name": name,
                "family": g.db_parameter_group_family(),
                "description": g.description(),
                "parameters": parameters,
            });
            out.extend(observed(scope, &tags, name, attributes, json!({ "name": name, "arn": arn })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: DbClusterParameterGroup = spec(desired)?;
        let name = typed.name.as_str();
        let out = self
            .client
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .db_parameter_group_family(typed.family.as_str())
            .description(typed.description.as_str())
            .set_tags(Some(create_tags(desired)))
            .send()
            .await
            .map_err(|e| classify("CreateDBClusterParameterGroup", e))?;
        let arn = out
            .db_cluster_parameter_group()
            .and_then(|g| g.db_cluster_parameter_group_arn())
            .ok_or_else(|| missing("parameter group ARN"))?;
        self.set(name, parameters_of(desired)?).await?;
        Ok(created(desired, name, json!({ "name": name, "arn": arn })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "parameters" => {
                    let want = parameters_of(desired)?;
                    let have = current.attributes.get("parameters").and_then(Value::as_object);
                    let changed: Fields = want
                        .iter()
                        .filter(|(k, v)| have.and_then(|h| h.get(*k)) != Some(v))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let dropped: Vec<String> = have
                        .map(|h| h.keys().filter(|k| !want.contains_key(*k)).cloned().collect())
                        .unwrap_or_default();
                    self.set(&current.aws_id, &changed).await?;
                    self.reset(&current.aws_id, &dropped).await?;
                }
                "tags" => sync_tags(&self.client, arn_of(current)?, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_gone(
            "DeleteDBClusterParameterGroup",
            self.client
                .delete_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(&current.aws_id)
                .send()
                .await,
            |e| e.is_db_parameter_group_not_found_fault(),
            // Still used by a cluster that is being deleted.
            |e| e.is_invalid_db_parameter_group_state_fault(),
        )
    }
}
