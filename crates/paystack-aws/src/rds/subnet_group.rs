//! `rds.db_subnet_group`: the private subnets the Aurora cluster lives in.

use async_trait::async_trait;
use aws_sdk_rds as rds;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::DbSubnetGroup;
use serde_json::json;

use super::{create_tags, read_tags, sync_tags};
use crate::error::{all, classify, missing, unless_gone};
use crate::owned::{arn_of, cannot_update, created, observed, spec, strings, updated};
use crate::tag_index::indexed_tags;

pub(crate) struct DbSubnetGroups {
    client: rds::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

impl DbSubnetGroups {
    pub(crate) fn new(client: &rds::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }
}

#[async_trait]
impl Reconciler for DbSubnetGroups {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let groups =
            all("DescribeDBSubnetGroups", self.client.describe_db_subnet_groups().into_paginator().items().send())
                .await?;
        let mut out = Vec::new();
        for g in groups {
            let name = g.db_subnet_group_name().ok_or_else(|| missing("DB subnet group name"))?;
            let arn = g.db_subnet_group_arn().ok_or_else(|| missing("DB subnet group ARN"))?;
            if !scope.may_own(name) {
                continue; // another stack's: its tags are not read
            }
            let Some(tags) = indexed_tags(&self.tagging, scope, arn, || read_tags(&self.client, arn)).await? else {
                continue;
            };
            let subnet_ids: Vec<&str> = g.subnets().iter().filter_map(|s| s.subnet_identifier()).collect();
            let attributes = json!({
                "name": name,
                "description": g.db_subnet_group_description(),
                "subnet_ids": subnet_ids,
            });
            out.extend(observed(scope, &tags, name, attributes, json!({ "name": name, "arn": arn })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: DbSubnetGroup = spec(desired)?;
        let name = typed.name.as_str();
        let out = self
            .client
            .create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(typed.description.as_str())
            .set_subnet_ids(Some(strings(desired.fields.get("subnet_ids"))))
            .set_tags(Some(create_tags(desired)))
            .send()
            .await
            .map_err(|e| classify("CreateDBSubnetGroup", e))?;
        let arn = out
            .db_subnet_group()
            .and_then(|g| g.db_subnet_group_arn())
            .ok_or_else(|| missing("DB subnet group ARN"))?;
        Ok(created(desired, name, json!({ "name": name, "arn": arn })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let typed: DbSubnetGroup = spec(desired)?;
        let mut modified = false;
        for change in changes {
            match change.field.as_str() {
                // One call sets both.
                "subnet_ids" | "description" if !modified => {
                    modified = true;
                    self.client
                        .modify_db_subnet_group()
                        .db_subnet_group_name(&current.aws_id)
                        .db_subnet_group_description(typed.description.as_str())
                        .set_subnet_ids(Some(strings(desired.fields.get("subnet_ids"))))
                        .send()
                        .await
                        .map_err(|e| classify("ModifyDBSubnetGroup", e))?;
                }
                "subnet_ids" | "description" => {}
                "tags" => sync_tags(&self.client, arn_of(current)?, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_gone(
            "DeleteDBSubnetGroup",
            self.client.delete_db_subnet_group().db_subnet_group_name(&current.aws_id).send().await,
            |e| e.is_db_subnet_group_not_found_fault(),
            // Still used by a cluster that is being deleted.
            |e| e.is_invalid_db_subnet_group_state_fault(),
        )
    }
}
