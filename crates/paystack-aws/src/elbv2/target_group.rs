//! `elbv2.target_group`: the `ip` target group the load-balanced service registers into.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::types::{ProtocolEnum, TargetTypeEnum};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::TargetGroup;
use serde_json::json;

use super::{create_tags, sync_tags, tags_of};
use crate::error::{all, classify, missing, unless_gone};
use crate::owned::{cannot_update, created, observed, resolved, spec, updated};

pub(crate) struct TargetGroups {
    client: elbv2::Client,
}

impl TargetGroups {
    pub(crate) fn new(client: &elbv2::Client) -> Self {
        Self { client: client.clone() }
    }
}

#[async_trait]
impl Reconciler for TargetGroups {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let groups =
            all("DescribeTargetGroups", self.client.describe_target_groups().into_paginator().items().send()).await?;
        let arns: Vec<String> = groups.iter().filter_map(|g| g.target_group_arn().map(str::to_owned)).collect();
        let mut tags = tags_of(&self.client, &arns).await?;
        let mut out = Vec::new();
        for g in &groups {
            let arn = g.target_group_arn().ok_or_else(|| missing("target group ARN"))?;
            let Some(tags) = tags.remove(arn) else { continue };
            let attributes = json!({
                "name": g.target_group_name(),
                "port": g.port(),
                "vpc_id": g.vpc_id(),
                "health_check_path": g.health_check_path(),
            });
            out.extend(observed(scope, &tags, arn, attributes, json!({ "arn": arn })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: TargetGroup = spec(desired)?;
        let out = self
            .client
            .create_target_group()
            .name(typed.name.as_str())
            .protocol(ProtocolEnum::Http)
            .port(i32::from(typed.port))
            .vpc_id(resolved(desired, &typed.vpc_id)?.as_str())
            .target_type(TargetTypeEnum::Ip)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(typed.health_check_path.as_str())
            .set_tags(Some(create_tags(desired)))
            .send()
            .await
            .map_err(|e| classify("CreateTargetGroup", e))?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|g| g.target_group_arn())
            .ok_or_else(|| missing("target group ARN"))?;
        Ok(created(desired, arn, json!({ "arn": arn })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let typed: TargetGroup = spec(desired)?;
        for change in changes {
            match change.field.as_str() {
                "health_check_path" => {
                    self.client
                        .modify_target_group()
                        .target_group_arn(&current.aws_id)
                        .health_check_path(typed.health_check_path.as_str())
                        .send()
                        .await
                        .map_err(|e| classify("ModifyTargetGroup", e))?;
                }
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_gone(
            "DeleteTargetGroup",
            self.client.delete_target_group().target_group_arn(&current.aws_id).send().await,
            |_| false,
            // Still used by a listener or a load balancer that is going.
            |e| e.is_resource_in_use_exception(),
        )
    }
}
