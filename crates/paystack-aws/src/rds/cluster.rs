//! `rds.db_cluster`: the Aurora PostgreSQL cluster.
//!
//! The master password is read from the secret the spec names, at the moment it is sent to
//! RDS, and is held nowhere else: not in the spec, not in what this reconciler returns, not
//! in an error. Which secret's password the cluster has is written on the cluster itself, as
//! the `paystack:password-secret` tag, so that a plan can see it.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_rds as rds;
use aws_sdk_secretsmanager as secretsmanager;
use aws_smithy_runtime::client::waiters::AcceptorState;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{DbCluster, FINAL_SNAPSHOT_TAG, rds_log_group};
use rds::operation::describe_db_clusters::{DescribeDBClustersError, DescribeDbClustersOutput};
use rds::types::{CloudwatchLogsExportConfiguration, ServerlessV2ScalingConfiguration, Tag};
use serde_json::{Value, json};

use super::{create_tags, sync_tags, tag_map};
use crate::error::{all, classify, classify_typed, gone, missing, ran_out, settled, unless_gone};
use crate::owned::{PASSWORD_SECRET_TAG, arn_of, cannot_update, created, observed, resolved, spec, strings, updated};
use crate::wait::{Cadence, Wait};

pub(crate) struct DbClusters {
    client: rds::Client,
    secrets: secretsmanager::Client,
    /// How long to wait for AWS to finish making or deleting one (`[waits]`).
    wait: Wait,
}

fn scaling(cluster: &DbCluster) -> Option<ServerlessV2ScalingConfiguration> {
    cluster.serverless_v2_scaling.as_ref().map(|s| {
        ServerlessV2ScalingConfiguration::builder().min_capacity(s.min_capacity).max_capacity(s.max_capacity).build()
    })
}

impl DbClusters {
    pub(crate) fn new(client: &rds::Client, secrets: &secretsmanager::Client, wait: Wait) -> Self {
        Self { client: client.clone(), secrets: secrets.clone(), wait }
    }

    /// The cluster's status as AWS reports it now, if it can be read.
    async fn status_of(&self, id: &str) -> Option<String> {
        let out = self.client.describe_db_clusters().db_cluster_identifier(id).send().await.ok()?;
        out.db_clusters().first()?.status().map(str::to_owned)
    }

    /// The password in the secret `arn`. It goes straight into the request that needs it.
    async fn password(&self, arn: &str) -> Result<String, ReconcileError> {
        let out =
            self.secrets.get_secret_value().secret_id(arn).send().await.map_err(|e| classify("GetSecretValue", e))?;
        let document: Value = out
            .secret_string()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| ReconcileError::permanent(format!("the secret {arn} does not hold a JSON document")))?;
        document
            .get("password")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ReconcileError::permanent(format!("the secret {arn} has no `password`")))
    }
}

fn statuses(out: &DescribeDbClustersOutput) -> impl Iterator<Item = &str> {
    out.db_clusters().iter().map(|c| c.status().unwrap_or_default())
}

/// What the SDK's `DBClusterAvailable` waiter accepts.
fn available(answer: Result<&DescribeDbClustersOutput, &DescribeDBClustersError>) -> AcceptorState {
    match answer {
        Ok(out) => super::available(statuses(out)),
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

/// What the SDK's `DBClusterDeleted` waiter accepts.
fn deleted(answer: Result<&DescribeDbClustersOutput, &DescribeDBClustersError>) -> AcceptorState {
    match answer {
        Ok(out) => super::deleted(statuses(out)),
        Err(e) if e.is_db_cluster_not_found_fault() => AcceptorState::Success,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

#[async_trait]
impl Reconciler for DbClusters {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let clusters =
            all("DescribeDBClusters", self.client.describe_db_clusters().into_paginator().items().send()).await?;
        let mut out = Vec::new();
        for c in clusters {
            let id = c.db_cluster_identifier().ok_or_else(|| missing("DB cluster identifier"))?;
            let status = c.status().unwrap_or_default();
            if status == "deleting" {
                continue;
            }
            let tags = tag_map(c.tag_list());
            let password_secret = tags.get(PASSWORD_SECRET_TAG);
            let scaling = c
                .serverless_v2_scaling_configuration()
                .map(|s| json!({ "min_capacity": s.min_capacity(), "max_capacity": s.max_capacity() }));
            let security_groups: Vec<&str> =
                c.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect();
            let attributes = json!({
                "identifier": id,
                "engine": c.engine(),
                "engine_version": c.engine_version(),
                "database_name": c.database_name(),
                "master_username": c.master_username(),
                "master_password_secret": password_secret,
                "port": c.port(),
                "db_subnet_group_name": c.db_subnet_group(),
                "vpc_security_group_ids": security_groups,
                "db_cluster_parameter_group_name": c.db_cluster_parameter_group(),
                "storage_encrypted": c.storage_encrypted(),
                "backup_retention_period": c.backup_retention_period(),
                "preferred_backup_window": c.preferred_backup_window(),
                "serverless_v2_scaling": scaling,
                "deletion_protection": c.deletion_protection(),
                "log_exports": c
                    .enabled_cloudwatch_logs_exports()
                    .iter()
                    .map(|t| (t.clone(), Value::from(rds_log_group(id, t))))
                    .collect::<serde_json::Map<_, _>>(),
            });
            let outputs = json!({
                "arn": c.db_cluster_arn(),
                "endpoint": c.endpoint(),
                "reader_endpoint": c.reader_endpoint(),
                "port": c.port(),
            });
            if let Some(mut o) = observed(scope, &tags, id, attributes, outputs) {
                o.pending = status == "creating";
                out.push(o);
            }
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: DbCluster = spec(desired)?;
        let identifier = typed.identifier.as_str();
        let secret = resolved(desired, &typed.master_password_secret)?.as_str();
        let mut tags = create_tags(desired);
        tags.push(Tag::builder().key(PASSWORD_SECRET_TAG).value(secret).build());
        let out = self
            .client
            .create_db_cluster()
            .db_cluster_identifier(identifier)
            .engine(typed.engine.as_str())
            .engine_version(typed.engine_version.as_str())
            .database_name(typed.database_name.as_str())
            .master_username(typed.master_username.as_str())
            .master_user_password(self.password(secret).await?)
            .port(i32::from(typed.port))
            .db_subnet_group_name(resolved(desired, &typed.db_subnet_group_name)?.as_str())
            .set_vpc_security_group_ids(Some(strings(desired.fields.get("vpc_security_group_ids"))))
            .db_cluster_parameter_group_name(resolved(desired, &typed.db_cluster_parameter_group_name)?.as_str())
            .storage_encrypted(typed.storage_encrypted)
            .backup_retention_period(i32::from(typed.backup_retention_period))
            .preferred_backup_window(typed.preferred_backup_window.as_str())
            .set_serverless_v2_scaling_configuration(scaling(&typed))
            .deletion_protection(typed.deletion_protection)
            .set_enable_cloudwatch_logs_exports(Some(typed.log_exports.keys().cloned().collect()))
            .copy_tags_to_snapshot(true)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify("CreateDBCluster", e))?;
        let c = out.db_cluster().ok_or_else(|| missing("DB cluster"))?;
        let outputs = json!({
            "arn": c.db_cluster_arn(),
            "endpoint": c.endpoint(),
            "reader_endpoint": c.reader_endpoint(),
            "port": c.port(),
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
        let typed: DbCluster = spec(desired)?;
        let mut modify = self.client.modify_db_cluster().db_cluster_identifier(&current.aws_id).apply_immediately(true);
        let mut modified = false;
        let mut new_secret = None;
        for change in changes {
            modified |= change.field != "tags";
            modify = match change.field.as_str() {
                "engine_version" => modify.engine_version(typed.engine_version.as_str()),
                "port" => modify.port(i32::from(typed.port)),
                "vpc_security_group_ids" => {
                    modify.set_vpc_security_group_ids(Some(strings(desired.fields.get("vpc_security_group_ids"))))
                }
                "db_cluster_parameter_group_name" => modify.db_cluster_parameter_group_name(
                    resolved(desired, &typed.db_cluster_parameter_group_name)?.as_str(),
                ),
                "backup_retention_period" => modify.backup_retention_period(i32::from(typed.backup_retention_period)),
                "preferred_backup_window" => modify.preferred_backup_window(typed.preferred_backup_window.as_str()),
                "serverless_v2_scaling" => modify.set_serverless_v2_scaling_configuration(scaling(&typed)),
                "deletion_protection" => modify.deletion_protection(typed.deletion_protection),
                "log_exports" => {
                    let want: BTreeSet<&String> = typed.log_exports.keys().collect();
                    let have: BTreeSet<String> = current
                        .attributes
                        .get("log_exports")
                        .and_then(Value::as_object)
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default();
                    let exports = CloudwatchLogsExportConfiguration::builder()
                        .set_enable_log_types(Some(
                            want.iter().filter(|t| !have.contains(**t)).map(|t| (*t).clone()).collect(),
                        ))
                        .set_disable_log_types(Some(have.iter().filter(|t| !want.contains(t)).cloned().collect()))
                        .build();
                    modify.cloudwatch_logs_export_configuration(exports)
                }
                "master_password_secret" => {
                    let secret = resolved(desired, &typed.master_password_secret)?.as_str();
                    new_secret = Some(secret);
                    modify.master_user_password(self.password(secret).await?)
                }
                "tags" => modify,
                other => return Err(cannot_update(desired, other)),
            };
        }
        if modified {
            modify
                .send()
                .await
                .map_err(|e| classify_typed("ModifyDBCluster", e, |e| e.is_invalid_db_cluster_state_fault()))?;
        }
        let arn = arn_of(current)?;
        if changes.iter().any(|c| c.field == "tags") {
            sync_tags(&self.client, arn, desired, current).await?;
        }
        if let Some(secret) = new_secret {
            let tag = Tag::builder().key(PASSWORD_SECRET_TAG).value(secret).build();
            self.client
                .add_tags_to_resource()
                .resource_name(arn)
                .tags(tag)
                .send()
                .await
                .map_err(|e| classify("AddTagsToResource", e))?;
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let keep_snapshot = current
            .attributes
            .get("tags")
            .and_then(|t| t.get(FINAL_SNAPSHOT_TAG))
            .and_then(Value::as_str)
            .is_some_and(|v| v == "true");
        // Automated backups go with the cluster; a final snapshot, where asked for, stays.
        let mut call =
            self.client.delete_db_cluster().db_cluster_identifier(&current.aws_id).delete_automated_backups(true);
        call = if keep_snapshot {
            // A snapshot name must be unique for as long as the snapshot is kept.
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
            call.final_db_snapshot_identifier(paystack_core::naming::fit(
                &format!("{}-final-{now}", current.aws_id),
                255,
            ))
        } else {
            call.skip_final_snapshot(true)
        };
        unless_gone(
            "DeleteDBCluster",
            call.send().await,
            |e| e.is_db_cluster_not_found_fault(),
            // Instances still being deleted, or the cluster is busy with a change.
            |e| e.is_invalid_db_cluster_state_fault(),
        )
    }

    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        let look = || self.client.describe_db_clusters().db_cluster_identifier(&current.aws_id).send();
        let ready = self.wait.until(Cadence::STEADY, look, available).await;
        let still = if ran_out(&ready) { self.status_of(&current.aws_id).await } else { None };
        settled(current, "DB cluster", ready, still)
    }

    async fn wait_deleted(&self, current: &Observed) -> Result<(), ReconcileError> {
        // Its subnet group and parameter group can only go once the cluster is gone.
        let look = || self.client.describe_db_clusters().db_cluster_identifier(&current.aws_id).send();
        let deleted = self.wait.until(Cadence::STEADY, look, deleted).await;
        gone(current, "DB cluster", deleted)
    }
}
