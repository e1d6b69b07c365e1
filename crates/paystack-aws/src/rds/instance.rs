//! `rds.db_instance`: the Aurora writer and readers.

use async_trait::async_trait;
use aws_sdk_rds as rds;
use aws_smithy_runtime::client::waiters::AcceptorState;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::DbInstance;
use rds::operation::describe_db_instances::{DescribeDBInstancesError, DescribeDbInstancesOutput};
use serde_json::json;

use super::{create_tags, sync_tags, tag_map};
use crate::error::{all, classify_typed, gone, missing, ran_out, settled, unless_gone};
use crate::owned::{arn_of, cannot_update, created, observed, resolved, spec, updated};
use crate::wait::{Cadence, Wait};

pub(crate) struct DbInstances {
    client: rds::Client,
    /// How long to wait for AWS to finish making or deleting one (`[waits]`).
    wait: Wait,
}

impl DbInstances {
    pub(crate) fn new(client: &rds::Client, wait: Wait) -> Self {
        Self { client: client.clone(), wait }
    }

    /// The instance's status as AWS reports it now, if it can be read.
    async fn status_of(&self, id: &str) -> Option<String> {
        let out = self.client.describe_db_instances().db_instance_identifier(id).send().await.ok()?;
        out.db_instances().first()?.db_instance_status().map(str::to_owned)
    }
}

fn statuses(out: &DescribeDbInstancesOutput) -> impl Iterator<Item = &str> {
    out.db_instances().iter().map(|i| i.db_instance_status().unwrap_or_default())
}

/// What the SDK's `DBInstanceAvailable` waiter accepts.
fn available(answer: Result<&DescribeDbInstancesOutput, &DescribeDBInstancesError>) -> AcceptorState {
    match answer {
        Ok(out) => super::available(statuses(out)),
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

/// What the SDK's `DBInstanceDeleted` waiter accepts.
fn deleted(answer: Result<&DescribeDbInstancesOutput, &DescribeDBInstancesError>) -> AcceptorState {
    match answer {
        Ok(out) => super::deleted(statuses(out)),
        Err(e) if e.is_db_instance_not_found_fault() => AcceptorState::Success,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

#[async_trait]
impl Reconciler for DbInstances {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let instances =
            all("DescribeDBInstances", self.client.describe_db_instances().into_paginator().items().send()).await?;
        let mut out = Vec::new();
        for i in instances {
            let id = i.db_instance_identifier().ok_or_else(|| missing("DB instance identifier"))?;
            let status = i.db_instance_status().unwrap_or_default();
            if status == "deleting" {
                continue;
            }
            let attributes = json!({
                "identifier": id,
                "cluster_identifier": i.db_cluster_identifier(),
                "engine": i.engine(),
                "instance_class": i.db_instance_class(),
                "availability_zone": i.availability_zone(),
                "promotion_tier": i.promotion_tier(),
                "performance_insights": (i.performance_insights_enabled() == Some(true)).then(|| json!({
                    "kms_key_id": i.performance_insights_kms_key_id(),
                    "retention_days": i.performance_insights_retention_period(),
                })),
            });
            let outputs = json!({
                "arn": i.db_instance_arn(),
                "cluster_identifier": i.db_cluster_identifier(),
                "endpoint": i.endpoint().and_then(|e| e.address()),
            });
            if let Some(mut o) = observed(scope, &tag_map(i.tag_list()), id, attributes, outputs) {
                o.pending = status == "creating";
                out.push(o);
            }
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: DbInstance = spec(desired)?;
        let identifier = typed.identifier.as_str();
        let cluster = resolved(desired, &typed.cluster_identifier)?.as_str();
        let out = self
            .client
            .create_db_instance()
            .db_instance_identifier(identifier)
            .db_cluster_identifier(cluster)
            .engine(typed.engine.as_str())
            .db_instance_class(typed.instance_class.as_str())
            .availability_zone(typed.availability_zone.as_str())
            .promotion_tier(typed.promotion_tier)
            .publicly_accessible(false)
            .enable_performance_insights(typed.performance_insights.is_some())
            .set_performance_insights_kms_key_id(insights_key(desired, &typed)?)
            .set_performance_insights_retention_period(typed.performance_insights.as_ref().map(|p| p.retention_days))
            .set_tags(Some(create_tags(desired)))
            .send()
            .await
            // The cluster may still be settling from its own creation or a change.
            .map_err(|e| classify_typed("CreateDBInstance", e, |e| e.is_invalid_db_cluster_state_fault()))?;
        let i = out.db_instance().ok_or_else(|| missing("DB instance"))?;
        let outputs = json!({
            "arn": i.db_instance_arn(),
            "cluster_identifier": cluster,
            "endpoint": i.endpoint().and_then(|e| e.address()),
        });
        let mut o = created(desired, identifier, outputs);
        o.pending = true;
        Ok(o)
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let typed: DbInstance = spec(desired)?;
        let mut modify =
            self.client.modify_db_instance().db_instance_identifier(&current.aws_id).apply_immediately(true);
        let mut modified = false;
        for change in changes {
            modified |= change.field != "tags";
            modify = match change.field.as_str() {
                "instance_class" => modify.db_instance_class(typed.instance_class.as_str()),
                "promotion_tier" => modify.promotion_tier(typed.promotion_tier),
                "performance_insights" => modify
                    .enable_performance_insights(typed.performance_insights.is_some())
                    .set_performance_insights_kms_key_id(insights_key(desired, &typed)?)
                    .set_performance_insights_retention_period(
                        typed.performance_insights.as_ref().map(|p| p.retention_days),
                    ),
                "tags" => modify,
                other => return Err(cannot_update(desired, other)),
            };
        }
        if modified {
            modify.send().await.map_err(|e| {
                classify_typed("ModifyDBInstance", e, |e| {
                    e.is_invalid_db_instance_state_fault() || e.is_invalid_db_cluster_state_fault()
                })
            })?;
        }
        if changes.iter().any(|c| c.field == "tags") {
            sync_tags(&self.client, arn_of(current)?, desired, current).await?;
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_gone(
            "DeleteDBInstance",
            self.client.delete_db_instance().db_instance_identifier(&current.aws_id).send().await,
            |e| e.is_db_instance_not_found_fault(),
            |e| e.is_invalid_db_instance_state_fault() || e.is_invalid_db_cluster_state_fault(),
        )
    }

    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        let look = || self.client.describe_db_instances().db_instance_identifier(&current.aws_id).send();
        let ready = self.wait.until(Cadence::STEADY, look, available).await;
        let still = if ran_out(&ready) { self.status_of(&current.aws_id).await } else { None };
        settled(current, "DB instance", ready, still)
    }

    async fn wait_deleted(&self, current: &Observed) -> Result<(), ReconcileError> {
        let look = || self.client.describe_db_instances().db_instance_identifier(&current.aws_id).send();
        let deleted = self.wait.until(Cadence::STEADY, look, deleted).await;
        gone(current, "DB instance", deleted)
    }
}

/// The key Performance Insights encrypts with, if it is on.
fn insights_key(desired: &Desired, typed: &DbInstance) -> Result<Option<String>, ReconcileError> {
    typed.performance_insights.as_ref().map(|p| resolved(desired, &p.kms_key_id).cloned()).transpose()
}
