//! `ec2.flow_log`: the VPC's flow log into its CloudWatch Logs group. AWS cannot change a
//! flow log, so every change is a new one.

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::types::{FlowLogsResourceType, LogDestinationType, ResourceType, TrafficType};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::FlowLog;
use serde_json::json;

use super::{Listed, cannot_update, created, owned_of, stack_filter, sync_tags, tag_specification, updated};
use crate::error::{all, classify, is_not_found, missing};
use crate::owned::{resolved, spec};

pub(crate) struct FlowLogs {
    client: ec2::Client,
}

impl FlowLogs {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }
}

/// What an item of `Unsuccessful` says, as one line.
fn refusal(item: &ec2::types::UnsuccessfulItem) -> String {
    let error = item.error();
    format!(
        "{}: {}",
        error.and_then(|e| e.code()).unwrap_or("refused"),
        error.and_then(|e| e.message()).unwrap_or("AWS gave no reason")
    )
}

#[async_trait]
impl Reconciler for FlowLogs {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed = self.client.describe_flow_logs().filter(stack_filter(scope)).into_paginator().items().send();
        let logs = all("DescribeFlowLogs", listed).await?;
        owned_of(scope, "flow log id", &logs, |f| {
            let attributes = json!({
                "vpc_id": f.resource_id(),
                "traffic_type": f.traffic_type().map(|t| t.as_str()),
                "log_group_name": f.log_group_name(),
                "deliver_logs_role_arn": f.deliver_logs_permission_arn(),
                "max_aggregation_interval": f.max_aggregation_interval(),
            });
            Some(Listed::new(f.flow_log_id(), f.tags(), attributes))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: FlowLog = spec(desired)?;
        let out = self
            .client
            .create_flow_logs()
            .set_client_token(crate::owned::client_token(desired))
            .resource_type(FlowLogsResourceType::Vpc)
            .resource_ids(resolved(desired, &typed.vpc_id)?)
            .traffic_type(TrafficType::from(typed.traffic_type.as_str()))
            .log_destination_type(LogDestinationType::CloudWatchLogs)
            .log_group_name(resolved(desired, &typed.log_group_name)?)
            .deliver_logs_permission_arn(resolved(desired, &typed.deliver_logs_role_arn)?)
            .max_aggregation_interval(typed.max_aggregation_interval)
            .tag_specifications(tag_specification(ResourceType::VpcFlowLog, desired))
            .send()
            .await
            .map_err(|e| classify("CreateFlowLogs", e))?;
        if let Some(item) = out.unsuccessful().first() {
            return Err(ReconcileError::permanent(format!("CreateFlowLogs: {}", refusal(item))));
        }
        let id = out.flow_log_ids().first().ok_or_else(|| missing("flow log id"))?;
        Ok(created(desired, id, json!({})))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let out = match self.client.delete_flow_logs().flow_log_ids(&current.aws_id).send().await {
            // Gone already, as after a delete whose answer was lost: deleted is what was wanted.
            Err(e) if is_not_found(&e) => return Ok(()),
            other => other.map_err(|e| classify("DeleteFlowLogs", e))?,
        };
        // One already gone may also be refused item by item, as not found.
        let refused = out.unsuccessful().iter().find(|i| {
            !i.error()
                .and_then(|e| e.code())
                .is_some_and(|c| c.ends_with(".NotFound") || c == "InvalidFlowLogId.NotFound")
        });
        match refused {
            Some(item) => Err(ReconcileError::retryable(format!("DeleteFlowLogs: {}", refusal(item)))),
            None => Ok(()),
        }
    }
}
