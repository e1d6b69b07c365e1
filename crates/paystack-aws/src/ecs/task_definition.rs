//! `ecs.task_definition`: one container on Fargate, logging to its log group, given the
//! database credentials through `secrets` (never as a plain environment value).
//!
//! A revision never changes. Any change is a replacement: the new revision is registered,
//! the service moves to it, and the old one is deregistered.

use async_trait::async_trait;
use aws_sdk_ecs as ecs;
use ecs::types::{
    Compatibility, ContainerDefinition, LogConfiguration, LogDriver, MountPoint, NetworkMode, PortMapping, Secret,
    TaskDefinitionField, TransportProtocol, Volume,
};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{Container, TaskDefinition, volume_name};
use serde_json::{Map, Value, json};

use super::{create_tags, sync_tags, tag_map};
use crate::error::{all, classify, missing, unless_gone};
use crate::owned::{arn_of, cannot_update, created, observed, owned_by, resolved, spec, updated};

/// The prefix of every log stream: `app/CONTAINER/TASK-ID`.
const STREAM_PREFIX: &str = "app";

pub(crate) struct TaskDefinitions {
    client: ecs::Client,
}

/// The spec's container as ECS takes it.
fn container(desired: &Desired, c: &Container) -> Result<ContainerDefinition, ReconcileError> {
    let built = |e: aws_sdk_ecs::error::BuildError| ReconcileError::permanent(format!("`{}`: {e}", desired.id));
    let logs = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", resolved(desired, &c.log_group)?)
        .options("awslogs-region", &c.region)
        .options("awslogs-stream-prefix", STREAM_PREFIX)
        .build()
        .map_err(built)?;
    let secrets = c
        .secrets
        .iter()
        .map(|(name, arn)| Secret::builder().name(name).value_from(resolved(desired, arn)?).build().map_err(built))
        .collect::<Result<Vec<_>, _>>()?;
    let mut def = ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(true)
        .log_configuration(logs)
        .set_secrets(Some(secrets))
        .set_command((!c.command.is_empty()).then(|| c.command.clone()))
        .readonly_root_filesystem(c.read_only_root_filesystem)
        .user(&c.user);
    for path in &c.writable_paths {
        let mount = MountPoint::builder().source_volume(volume_name(path)).container_path(path).read_only(false);
        def = def.mount_points(mount.build());
    }
    if let Some(port) = c.port {
        let mapping = PortMapping::builder().container_port(i32::from(port)).protocol(TransportProtocol::Tcp).build();
        def = def.port_mappings(mapping);
    }
    Ok(def.build())
}

/// A live container in the spec's shape.
fn container_value(c: &ContainerDefinition) -> Value {
    let options = c.log_configuration().and_then(|l| l.options());
    let option = |k: &str| options.and_then(|o| o.get(k)).cloned();
    let secrets: Map<String, Value> =
        c.secrets().iter().map(|s| (s.name().to_owned(), json!(s.value_from()))).collect();
    let mut value = json!({
        "name": c.name(),
        "image": c.image(),
        "port": c.port_mappings().first().and_then(|p| p.container_port()),
        "log_group": option("awslogs-group"),
        "region": option("awslogs-region"),
        "secrets": secrets,
        "read_only_root_filesystem": c.readonly_root_filesystem().unwrap_or(false),
        "user": c.user(),
    });
    let writable: Vec<&str> =
        c.mount_points().iter().filter(|m| m.read_only() != Some(true)).filter_map(|m| m.container_path()).collect();
    if !writable.is_empty() {
        value["writable_paths"] = json!(writable);
    }
    // As the spec leaves it out: only a container that overrides the image's command has one.
    if !c.command().is_empty() {
        value["command"] = json!(c.command());
    }
    value
}

impl TaskDefinitions {
    pub(crate) fn new(client: &ecs::Client) -> Self {
        Self { client: client.clone() }
    }
}

#[async_trait]
impl Reconciler for TaskDefinitions {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let arns =
            all("ListTaskDefinitions", self.client.list_task_definitions().into_paginator().items().send()).await?;
        let mut out = Vec::new();
        // `…:task-definition/FAMILY:REVISION`: only the stack's families are described.
        let family = |arn: &str| arn.rsplit_once('/').and_then(|(_, f)| f.rsplit_once(':')).map(|(f, _)| f.to_owned());
        for arn in arns.into_iter().filter(|arn| family(arn).is_none_or(|f| scope.may_own(&f))) {
            let described = self
                .client
                .describe_task_definition()
                .task_definition(&arn)
                .include(TaskDefinitionField::Tags)
                .send()
                .await;
            let described = described.map_err(|e| classify("DescribeTaskDefinition", e))?;
            let tags = tag_map(described.tags());
            if !owned_by(scope, &tags) {
                continue;
            }
            let Some(td) = described.task_definition() else { continue };
            let attributes = json!({
                "family": td.family(),
                "cpu": td.cpu(),
                "memory": td.memory(),
                "execution_role_arn": td.execution_role_arn(),
                "task_role_arn": td.task_role_arn(),
                "container": td.container_definitions().first().map(container_value),
            });
            out.extend(observed(scope, &tags, &arn, attributes, json!({ "arn": arn })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: TaskDefinition = spec(desired)?;
        let out = self
            .client
            .register_task_definition()
            .family(typed.family.as_str())
            .cpu(typed.cpu.as_str())
            .memory(typed.memory.as_str())
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .execution_role_arn(resolved(desired, &typed.execution_role_arn)?.as_str())
            .task_role_arn(resolved(desired, &typed.task_role_arn)?.as_str())
            .container_definitions(container(desired, &typed.container)?)
            .set_volumes(Some(
                typed.container.writable_paths.iter().map(|p| Volume::builder().name(volume_name(p)).build()).collect(),
            ))
            .set_tags(Some(create_tags(desired)))
            .send()
            .await
            .map_err(|e| classify("RegisterTaskDefinition", e))?;
        let arn = out
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .ok_or_else(|| missing("task definition ARN"))?;
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
                "tags" => sync_tags(&self.client, arn_of(current)?, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        // Deregistered, the revision is INACTIVE: tasks already running keep it, no new
        // service or task can use it.
        unless_gone(
            "DeregisterTaskDefinition",
            self.client.deregister_task_definition().task_definition(&current.aws_id).send().await,
            // A revision is never deleted, only made inactive, so there is no "gone" to allow for.
            |_| false,
            |_| false,
        )
    }
}
