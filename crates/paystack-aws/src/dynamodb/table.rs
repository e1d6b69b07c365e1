//! `dynamodb.table`: a table with its settings and its global-table replicas (version
//! 2019.11.21), each a region where DynamoDB keeps a copy, encrypted with that region's key.
//!
//! A provisioned table starts at one capacity unit each way: its capacity is Application
//! Auto Scaling's to set (`autoscaling.table_scaling`), and so is not observed.
//!
//! Time to live and point-in-time recovery are set by calls of their own after the table is
//! active, and replicas one `UpdateTable` at a time: a create stopped in between is found by
//! its name and tags and finished as an update. Replicas go before the table does.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb as ddb;
use aws_smithy_runtime::client::waiters::AcceptorState;
use ddb::operation::describe_table::{DescribeTableError, DescribeTableOutput};
use ddb::types::{
    AttributeDefinition, BillingMode, CreateReplicationGroupMemberAction, DeleteReplicationGroupMemberAction,
    KeySchemaElement, KeyType, PointInTimeRecoverySpecification, ProvisionedThroughput, ReplicaStatus,
    ReplicationGroupUpdate, ScalarAttributeType, SseSpecification, SseType, StreamSpecification, StreamViewType,
    TableDescription, TableStatus, Tag, TimeToLiveSpecification, TimeToLiveStatus,
};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::Table;
use serde_json::{Value, json};

use crate::error::{all, classify, gone, missing, ran_out, settled, unless_gone_since, waited};
use crate::owned::{TagMap, cannot_update, created, desired_tags, observed, owned_by, resolved, spec, updated};
use crate::tag_index::indexed_tags;
use crate::tagging::sync_tags;
use crate::wait::{Cadence, Wait};

pub(crate) struct Tables {
    client: ddb::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
    /// How long a table, with its replicas, may take to become active or to go.
    wait: Wait,
}

fn ddb_tags(tags: TagMap) -> Result<Vec<Tag>, ReconcileError> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ReconcileError::permanent(e.to_string())))
        .collect()
}

/// The table and every replica `ACTIVE`.
fn active(answer: Result<&DescribeTableOutput, &DescribeTableError>) -> AcceptorState {
    match answer {
        Ok(out) => match out.table() {
            Some(t) if settled_now(t) => AcceptorState::Success,
            Some(t) if t.replicas().iter().any(|r| r.replica_status() == Some(&ReplicaStatus::CreationFailed)) => {
                AcceptorState::Failure
            }
            _ => AcceptorState::Retry,
        },
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

/// Gone: DynamoDB no longer knows the table.
fn deleted(answer: Result<&DescribeTableOutput, &DescribeTableError>) -> AcceptorState {
    match answer {
        Err(e) if e.is_resource_not_found_exception() => AcceptorState::Success,
        Err(_) => AcceptorState::NoAcceptorsMatched,
        Ok(_) => AcceptorState::Retry,
    }
}

fn settled_now(t: &TableDescription) -> bool {
    t.table_status() == Some(&TableStatus::Active)
        && t.replicas().iter().all(|r| r.replica_status() == Some(&ReplicaStatus::Active))
}

/// Replica region → the key it is encrypted with.
fn replicas_of(t: &TableDescription) -> BTreeMap<String, String> {
    t.replicas()
        .iter()
        .filter(|r| !matches!(r.replica_status(), Some(ReplicaStatus::Deleting)))
        .filter_map(|r| Some((r.region_name()?.to_owned(), r.kms_master_key_id().unwrap_or_default().to_owned())))
        .collect()
}

fn wanted_replicas(desired: &Desired) -> Result<BTreeMap<String, String>, ReconcileError> {
    let table: Table = spec(desired)?;
    table.replicas.iter().map(|r| Ok((r.region.clone(), resolved(desired, &r.kms_key_arn)?.clone()))).collect()
}

fn outputs_of(name: &str, arn: &str) -> Value {
    json!({
        "name": name,
        "arn": arn,
        "indexes_arn": format!("{arn}/index/*"),
        "scaling_resource_id": format!("table/{name}"),
    })
}

/// The capacity a provisioned table starts with: one unit each way, which registering its
/// scaling moves into the configured range at once. On demand, none.
fn starting_throughput(table: &Table) -> Result<Option<ProvisionedThroughput>, ReconcileError> {
    if table.billing_mode != paystack_platform::kinds::PROVISIONED {
        return Ok(None);
    }
    let one = ProvisionedThroughput::builder().read_capacity_units(1).write_capacity_units(1).build();
    one.map(Some).map_err(|e| ReconcileError::permanent(e.to_string()))
}

impl Tables {
    pub(crate) fn new(client: &ddb::Client, tagging: &aws_sdk_resourcegroupstagging::Client, wait: Wait) -> Self {
        Self { client: client.clone(), tagging: tagging.clone(), wait }
    }

    /// A table's tags, read from it; `None` if it went since it was listed.
    async fn tags(&self, arn: &str) -> Result<Option<TagMap>, ReconcileError> {
        let listed = self.client.list_tags_of_resource().resource_arn(arn).send().await;
        let Some(listed) = unless_gone_since("ListTagsOfResource", listed, |e| e.is_resource_not_found_exception())?
        else {
            return Ok(None);
        };
        Ok(Some(listed.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()))
    }

    async fn describe(&self, name: &str) -> Result<Option<TableDescription>, ReconcileError> {
        let out = self.client.describe_table().table_name(name).send().await;
        let out = unless_gone_since("DescribeTable", out, |e| e.is_resource_not_found_exception())?;
        Ok(out.and_then(|o| o.table().cloned()))
    }

    async fn set_ttl(&self, name: &str, attribute: Option<&str>, current: Option<&str>) -> Result<(), ReconcileError> {
        let spec = match (attribute, current) {
            (Some(on), _) => TimeToLiveSpecification::builder().enabled(true).attribute_name(on).build(),
            (None, Some(was)) => TimeToLiveSpecification::builder().enabled(false).attribute_name(was).build(),
            (None, None) => return Ok(()),
        };
        let spec = spec.map_err(|e| ReconcileError::permanent(e.to_string()))?;
        let call = self.client.update_time_to_live().table_name(name).time_to_live_specification(spec);
        call.send().await.map_err(|e| classify("UpdateTimeToLive", e))?;
        Ok(())
    }

    async fn set_pitr(&self, name: &str, on: bool) -> Result<(), ReconcileError> {
        let pitr = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(on)
            .build()
            .map_err(|e| ReconcileError::permanent(e.to_string()))?;
        let call = self.client.update_continuous_backups().table_name(name).point_in_time_recovery_specification(pitr);
        call.send().await.map_err(|e| classify("UpdateContinuousBackups", e))?;
        Ok(())
    }

    /// Makes the replicas `want` has and the table lacks, and removes the others, one
    /// `UpdateTable` each, waiting for the table to settle after each.
    async fn sync_replicas(
        &self,
        name: &str,
        want: &BTreeMap<String, String>,
        have: &BTreeMap<String, String>,
    ) -> Result<(), ReconcileError> {
        let perm = |e: ddb::error::BuildError| ReconcileError::permanent(e.to_string());
        // Each update, its region, and whether the region is to have a replica after it.
        let mut updates = Vec::new();
        for region in have.keys().filter(|r| !want.contains_key(*r)) {
            let delete = DeleteReplicationGroupMemberAction::builder().region_name(region).build().map_err(perm)?;
            updates.push((ReplicationGroupUpdate::builder().delete(delete).build(), region, false));
        }
        for (region, key) in want.iter().filter(|(r, _)| !have.contains_key(*r)) {
            let create = CreateReplicationGroupMemberAction::builder()
                .region_name(region)
                .kms_master_key_id(key)
                .build()
                .map_err(perm)?;
            updates.push((ReplicationGroupUpdate::builder().create(create).build(), region, true));
        }
        for (update, region, replicated) in updates {
            let call = self.client.update_table().table_name(name).replica_updates(update);
            if let Err(e) = call.send().await {
                // A repeat of an update that acted before its answer was lost finds the table
                // busy with it (`ResourceInUseException`): what the table now has decides.
                let busy = e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception());
                let made = busy
                    && self.describe(name).await?.is_some_and(|t| replicas_of(&t).contains_key(region) == replicated);
                if !made {
                    return Err(classify("UpdateTable", e));
                }
            }
            self.settle(name).await?;
        }
        Ok(())
    }

    async fn settle(&self, name: &str) -> Result<(), ReconcileError> {
        let look = || self.client.describe_table().table_name(name).send();
        let ready = self.wait.until(Cadence::STEADY, look, active).await;
        let still = if ran_out(&ready) { self.status_of(name).await } else { None };
        waited(&format!("waiting for DynamoDB table {name}"), ready, still)
    }

    async fn status_of(&self, name: &str) -> Option<String> {
        let t = self.describe(name).await.ok()??;
        Some(t.table_status().map_or("", TableStatus::as_str).to_owned())
    }
}

#[async_trait]
impl Reconciler for Tables {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let names = all("ListTables", self.client.list_tables().into_paginator().items().send()).await?;
        let mut out = Vec::new();
        for name in names.iter().filter(|n| scope.may_own(n)) {
            let Some(t) = self.describe(name).await? else { continue };
            if t.table_status() == Some(&TableStatus::Deleting) {
                continue;
            }
            let arn = t.table_arn().ok_or_else(|| missing("table ARN"))?;
            let Some(tags) = indexed_tags(&self.tagging, scope, arn, || self.tags(arn)).await? else { continue };
            if !owned_by(scope, &tags) {
                continue;
            }
            let ttl = self.client.describe_time_to_live().table_name(name).send().await;
            let ttl = ttl.map_err(|e| classify("DescribeTimeToLive", e))?;
            let ttl = ttl.time_to_live_description().filter(|d| {
                matches!(d.time_to_live_status(), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling))
            });
            let backups = self.client.describe_continuous_backups().table_name(name).send().await;
            let backups = backups.map_err(|e| classify("DescribeContinuousBackups", e))?;
            let pitr = backups
                .continuous_backups_description()
                .and_then(|d| d.point_in_time_recovery_description())
                .and_then(|p| p.point_in_time_recovery_status())
                .is_some_and(|s| s.as_str() == "ENABLED");
            let hash_key = t.key_schema().iter().find(|k| k.key_type() == &KeyType::Hash).map(|k| k.attribute_name());
            let replicas: Vec<Value> = replicas_of(&t)
                .into_iter()
                .map(|(region, key)| json!({ "region": region, "kms_key_arn": key }))
                .collect();
            // A table never switched to on demand may have no billing summary: it is provisioned.
            let billing = t.billing_mode_summary().and_then(|b| b.billing_mode()).unwrap_or(&BillingMode::Provisioned);
            let attributes = json!({
                "table_name": name,
                "hash_key": hash_key,
                "billing_mode": billing.as_str(),
                "kms_key_arn": t.sse_description().and_then(|s| s.kms_master_key_arn()),
                "point_in_time_recovery": pitr,
                "ttl_attribute": ttl.and_then(|d| d.attribute_name()),
                "replicas": replicas,
            });
            let outputs = outputs_of(name, arn);
            let pending = !settled_now(&t);
            out.extend(observed(scope, &tags, name, attributes, outputs).map(|o| Observed { pending, ..o }));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let table: Table = spec(desired)?;
        let perm = |e: ddb::error::BuildError| ReconcileError::permanent(e.to_string());
        let name = table.table_name.as_str();
        let key = AttributeDefinition::builder()
            .attribute_name(&table.hash_key)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(perm)?;
        let schema = KeySchemaElement::builder().attribute_name(&table.hash_key).key_type(KeyType::Hash).build();
        let made = self
            .client
            .create_table()
            .table_name(name)
            .attribute_definitions(key)
            .key_schema(schema.map_err(perm)?)
            .billing_mode(BillingMode::from(table.billing_mode.as_str()))
            .set_provisioned_throughput(starting_throughput(&table)?)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(perm)?,
            )
            .sse_specification(
                SseSpecification::builder()
                    .enabled(true)
                    .sse_type(SseType::Kms)
                    .kms_master_key_id(resolved(desired, &table.kms_key_arn)?)
                    .build(),
            )
            .set_tags(Some(ddb_tags(desired_tags(desired))?))
            .send()
            .await;
        let made = match made {
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {
                return Err(ReconcileError {
                    class: paystack_engine::ErrorClass::Conflict,
                    message: format!("CreateTable: a table named `{name}` already exists"),
                });
            }
            other => other.map_err(|e| classify("CreateTable", e))?,
        };
        let arn = made.table_description().and_then(|t| t.table_arn()).ok_or_else(|| missing("table ARN"))?.to_owned();
        self.settle(name).await?;
        self.set_ttl(name, table.ttl_attribute.as_deref(), None).await?;
        if table.point_in_time_recovery {
            self.set_pitr(name, true).await?;
        }
        self.sync_replicas(name, &wanted_replicas(desired)?, &BTreeMap::new()).await?;
        Ok(created(desired, name, outputs_of(name, &arn)))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let table: Table = spec(desired)?;
        let name = current.aws_id.as_str();
        for change in changes {
            match change.field.as_str() {
                "ttl_attribute" => {
                    let was = current.attributes.get("ttl_attribute").and_then(Value::as_str);
                    // Another attribute is off, then on: DynamoDB keeps one at a time.
                    if let (Some(_), Some(was)) = (&table.ttl_attribute, was) {
                        self.set_ttl(name, None, Some(was)).await?;
                    }
                    self.set_ttl(name, table.ttl_attribute.as_deref(), was).await?;
                }
                "point_in_time_recovery" => self.set_pitr(name, table.point_in_time_recovery).await?,
                "billing_mode" => {
                    let call = self
                        .client
                        .update_table()
                        .table_name(name)
                        .billing_mode(BillingMode::from(table.billing_mode.as_str()))
                        .set_provisioned_throughput(starting_throughput(&table)?);
                    call.send().await.map_err(|e| classify("UpdateTable", e))?;
                    self.settle(name).await?;
                }
                "kms_key_arn" => {
                    let sse = SseSpecification::builder()
                        .enabled(true)
                        .sse_type(SseType::Kms)
                        .kms_master_key_id(resolved(desired, &table.kms_key_arn)?)
                        .build();
                    let call = self.client.update_table().table_name(name).sse_specification(sse);
                    call.send().await.map_err(|e| classify("UpdateTable", e))?;
                    self.settle(name).await?;
                }
                "replicas" => {
                    let have: BTreeMap<String, String> = current
                        .attributes
                        .get("replicas")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|r| Some((r["region"].as_str()?.to_owned(), r["kms_key_arn"].as_str()?.to_owned())))
                        .collect();
                    self.sync_replicas(name, &wanted_replicas(desired)?, &have).await?;
                }
                "tags" => {
                    let arn = current.outputs.get("arn").and_then(Value::as_str).ok_or_else(|| missing("table ARN"))?;
                    sync_tags(&self.client, arn, desired, current).await?;
                }
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    /// Removes the replicas first (DynamoDB refuses to delete a table that still has them),
    /// then the table.
    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let name = current.aws_id.as_str();
        let Some(t) = self.describe(name).await? else { return Ok(()) };
        let have = replicas_of(&t);
        if !have.is_empty() {
            self.sync_replicas(name, &BTreeMap::new(), &have).await?;
        }
        let deleted = self.client.delete_table().table_name(name).send().await;
        unless_gone_since("DeleteTable", deleted, |e| e.is_resource_not_found_exception())?;
        Ok(())
    }

    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        let look = || self.client.describe_table().table_name(&current.aws_id).send();
        let ready = self.wait.until(Cadence::STEADY, look, active).await;
        let still = if ran_out(&ready) { self.status_of(&current.aws_id).await } else { None };
        settled(current, "DynamoDB table", ready, still)
    }

    async fn wait_deleted(&self, current: &Observed) -> Result<(), ReconcileError> {
        let look = || self.client.describe_table().table_name(&current.aws_id).send();
        let deleted = self.wait.until(Cadence::STEADY, look, deleted).await;
        gone(current, "DynamoDB table", deleted)
    }
}

crate::tagging::tag_resource_api!(ddb::Client, resource_arn, |tags| ddb_tags(tags)?);
