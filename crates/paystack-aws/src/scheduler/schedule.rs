//! `scheduler.schedule`: a schedule whose target is ECS `RunTask` of one Fargate task in the
//! private subnets. Schedules carry no tags: a schedule's name is its stack's key then its
//! resource id (`kinds::owned_name`), so one listing finds each stack's own.

use async_trait::async_trait;
use aws_sdk_scheduler as scheduler;
use paystack_core::{FieldChange, Fields, Observed, ResourceId};
use paystack_engine::{Desired, ReconcileError, Scope};
use paystack_platform::kinds::{self, Schedule};
use scheduler::types::{
    AssignPublicIp, AwsVpcConfiguration, EcsParameters, FlexibleTimeWindow, FlexibleTimeWindowMode, LaunchType,
    NetworkConfiguration, ScheduleState, Target,
};
use serde_json::{Value, json};

use crate::error::{all, classify, missing, unless_gone, unless_gone_since};
use crate::owned::{cannot_update, client_token, resolved, resolved_all, spec, updated};

pub(crate) struct Schedules {
    client: scheduler::Client,
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, ReconcileError> {
    r.map_err(|e| ReconcileError::permanent(e.to_string()))
}

impl Schedules {
    pub(crate) fn new(client: &scheduler::Client) -> Self {
        Self { client: client.clone() }
    }

    fn target(desired: &Desired, typed: &Schedule) -> Result<Target, ReconcileError> {
        let t = &typed.target;
        let vpc = built(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(resolved_all(desired, &t.subnet_ids)?))
                .set_security_groups(Some(resolved_all(desired, &t.security_group_ids)?))
                .assign_public_ip(AssignPublicIp::Disabled)
                .build(),
        )?;
        let ecs = built(
            EcsParameters::builder()
                .task_definition_arn(resolved(desired, &t.task_definition_arn)?)
                .task_count(1)
                .launch_type(LaunchType::Fargate)
                .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
                .build(),
        )?;
        built(
            Target::builder()
                .arn(resolved(desired, &t.cluster_arn)?)
                .role_arn(resolved(desired, &t.role_arn)?)
                .ecs_parameters(ecs)
                .build(),
        )
    }
}

#[async_trait]
impl paystack_engine::Reconciler for Schedules {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed = all("ListSchedules", self.client.list_schedules().into_paginator().items().send()).await?;
        let mut out = Vec::new();
        for summary in listed {
            let (Some(name), Some(group)) = (summary.name(), summary.group_name()) else {
                return Err(missing("schedule name or group"));
            };
            let Some((stack, id)) = scope.stacks().find_map(|s| Some((s, kinds::owned_id(s, name)?))) else {
                continue;
            };
            let got = self.client.get_schedule().name(name).group_name(group).send().await;
            let Some(got) = unless_gone_since("GetSchedule", got, |e| e.is_resource_not_found_exception())? else {
                continue;
            };
            let target = got.target();
            let ecs = target.and_then(|t| t.ecs_parameters());
            let vpc = ecs.and_then(|e| e.network_configuration()).and_then(|n| n.awsvpc_configuration());
            let attributes = json!({
                "name": name,
                "group": group,
                "expression": got.schedule_expression(),
                "description": got.description().unwrap_or_default(),
                "target": {
                    "cluster_arn": target.map(|t| t.arn()),
                    "role_arn": target.map(|t| t.role_arn()),
                    "task_definition_arn": ecs.map(|e| e.task_definition_arn()),
                    "subnet_ids": vpc.map(|v| v.subnets()),
                    "security_group_ids": vpc.map(|v| v.security_groups()),
                },
            });
            let Value::Object(attributes) = attributes else { continue };
            let outputs = json!({ "arn": got.arn() });
            let Value::Object(outputs) = outputs else { continue };
            out.push(Observed::new(ResourceId::new(id), name, attributes, outputs).of_stack(stack));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: Schedule = spec(desired)?;
        let made = self
            .client
            .create_schedule()
            .name(&typed.name)
            .group_name(&typed.group)
            .schedule_expression(&typed.expression)
            .description(&typed.description)
            .flexible_time_window(built(FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build())?)
            .target(Self::target(desired, &typed)?)
            .state(ScheduleState::Enabled)
            .set_client_token(client_token(desired))
            .send()
            .await
            .map_err(|e| classify("CreateSchedule", e))?;
        let mut outputs = Fields::new();
        outputs.insert("arn".into(), json!(made.schedule_arn()));
        Ok(Observed::new(desired.id.clone(), &typed.name, desired.fields.clone(), outputs))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        if let Some(other) =
            changes.iter().find(|c| !matches!(c.field.as_str(), "expression" | "description" | "target"))
        {
            return Err(cannot_update(desired, &other.field));
        }
        // UpdateSchedule replaces the whole definition.
        let typed: Schedule = spec(desired)?;
        self.client
            .update_schedule()
            .name(&typed.name)
            .group_name(&typed.group)
            .schedule_expression(&typed.expression)
            .description(&typed.description)
            .flexible_time_window(built(FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build())?)
            .target(Self::target(desired, &typed)?)
            .state(ScheduleState::Enabled)
            .send()
            .await
            .map_err(|e| classify("UpdateSchedule", e))?;
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let group = current.attributes.get("group").and_then(Value::as_str).unwrap_or("default");
        unless_gone(
            "DeleteSchedule",
            self.client.delete_schedule().name(&current.aws_id).group_name(group).send().await,
            |e| e.is_resource_not_found_exception(),
            |e| e.is_conflict_exception(),
        )
    }
}
