//! `ecs.service`: a Fargate service in the private subnets, behind the load balancer's
//! target group when it takes web traffic.
//!
//! A new task definition revision is an in-place update here, and ECS rolls the tasks. An
//! apply does not wait for the rollout to reach a steady state (nothing in the platform
//! depends on it, and Terraform does not wait either by default): ECS keeps rolling, and
//! reports a rollout that fails through the service's events. The service is scaled to zero
//! before it is deleted, so its tasks drain instead of being killed mid-request. Its tasks
//! are registered in its discovery service (`service_registries`) by ECS itself.

use async_trait::async_trait;
use aws_sdk_ecs as ecs;
use aws_smithy_runtime::client::waiters::AcceptorState;
use ecs::operation::describe_services::{DescribeServicesError, DescribeServicesOutput};
use ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags, ServiceField,
    ServiceRegistry,
};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::EcsService;
use serde_json::{Value, json};

use super::{create_tags, stack_clusters, sync_tags, tag_map};
use crate::error::{all, classify, gone, missing, unless_gone};
use crate::owned::{arn_of, aws_int, cannot_update, created, observed, resolved, resolved_all, spec, updated};
use crate::wait::{Cadence, Wait};

/// DescribeServices takes at most 10 services per call.
const SERVICES_PER_CALL: usize = 10;
pub(crate) struct Services {
    client: ecs::Client,
    /// How long to wait for AWS to finish making or deleting one (`[waits]`).
    wait: Wait,
}

fn network(desired: &Desired, service: &EcsService) -> Result<NetworkConfiguration, ReconcileError> {
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(resolved_all(desired, &service.subnet_ids)?))
        .set_security_groups(Some(resolved_all(desired, &service.security_group_ids)?))
        .assign_public_ip(AssignPublicIp::Disabled)
        .build()
        .map_err(|e| ReconcileError::permanent(e.to_string()))?;
    Ok(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
}

fn load_balancers(desired: &Desired, service: &EcsService) -> Result<Option<Vec<LoadBalancer>>, ReconcileError> {
    let Some(lb) = &service.load_balancer else { return Ok(None) };
    Ok(Some(vec![
        LoadBalancer::builder()
            .target_group_arn(resolved(desired, &lb.target_group_arn)?)
            .container_name(&lb.container_name)
            .set_container_port(lb.container_port.map(i32::from))
            .build(),
    ]))
}

/// The discovery services ECS registers the tasks in.
fn registries(desired: &Desired, service: &EcsService) -> Result<Vec<ServiceRegistry>, ReconcileError> {
    let arns = resolved_all(desired, &service.service_registries)?;
    Ok(arns.into_iter().map(|arn| ServiceRegistry::builder().registry_arn(arn).build()).collect())
}

/// The id Application Auto Scaling knows the service by.
fn scaling_resource_id(cluster_arn: &str, name: &str) -> String {
    let cluster = cluster_arn.rsplit('/').next().unwrap_or(cluster_arn);
    format!("service/{cluster}/{name}")
}

fn outputs(arn: &str, cluster_arn: &str, name: &str) -> Value {
    json!({ "arn": arn, "name": name, "scaling_resource_id": scaling_resource_id(cluster_arn, name) })
}

impl Services {
    pub(crate) fn new(client: &ecs::Client, wait: Wait) -> Self {
        Self { client: client.clone(), wait }
    }

    fn cluster_of(current: &Observed) -> Result<&str, ReconcileError> {
        current
            .attributes
            .get("cluster")
            .and_then(Value::as_str)
            .ok_or_else(|| ReconcileError::permanent(format!("`{}` has no recorded cluster", current.id)))
    }
}

/// What the SDK's `ServicesInactive` waiter accepts: the service `INACTIVE`; one ECS does
/// not know (`MISSING`) is a failure.
fn inactive(answer: Result<&DescribeServicesOutput, &DescribeServicesError>) -> AcceptorState {
    match answer {
        Ok(out) if out.failures().iter().any(|f| f.reason() == Some("MISSING")) => AcceptorState::Failure,
        Ok(out) if out.services().iter().any(|s| s.status() == Some("INACTIVE")) => AcceptorState::Success,
        Ok(_) => AcceptorState::Retry,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

#[async_trait]
impl Reconciler for Services {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        for cluster in stack_clusters(&self.client, scope).await?.iter() {
            let cluster_arn = cluster.cluster_arn().ok_or_else(|| missing("cluster ARN"))?;
            let arns =
                all("ListServices", self.client.list_services().cluster(cluster_arn).into_paginator().items().send())
                    .await?;
            for chunk in arns.chunks(SERVICES_PER_CALL) {
                let described = self
                    .client
                    .describe_services()
                    .cluster(cluster_arn)
                    .set_services(Some(chunk.to_vec()))
                    .include(ServiceField::Tags)
                    .send()
                    .await
                    .map_err(|e| classify("DescribeServices", e))?;
                for s in described.services().iter().filter(|s| s.status() == Some("ACTIVE")) {
                    let arn = s.service_arn().ok_or_else(|| missing("service ARN"))?;
                    let name = s.service_name().ok_or_else(|| missing("service name"))?;
                    let vpc = s.network_configuration().and_then(|n| n.awsvpc_configuration());
                    let load_balancer = s.load_balancers().first().map(|lb| {
                        json!({
                            "target_group_arn": lb.target_group_arn(),
                            "container_name": lb.container_name(),
                            "container_port": lb.container_port(),
                        })
                    });
                    let attributes = json!({
                        "name": name,
                        "cluster": s.cluster_arn().unwrap_or(cluster_arn),
                        "task_definition": s.task_definition(),
                        "desired_count": s.desired_count(),
                        "subnet_ids": vpc.map(AwsVpcConfiguration::subnets),
                        "security_group_ids": vpc.map(AwsVpcConfiguration::security_groups),
                        "load_balancer": load_balancer,
                        "service_registries": s.service_registries().iter().filter_map(|r| r.registry_arn()).collect::<Vec<_>>(),
                    });
                    out.extend(observed(scope, &tag_map(s.tags()), name, attributes, outputs(arn, cluster_arn, name)));
                }
            }
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: EcsService = spec(desired)?;
        let name = typed.name.as_str();
        let cluster = resolved(desired, &typed.cluster)?.as_str();
        let out = self
            .client
            .create_service()
            .set_client_token(crate::owned::client_token(desired))
            .cluster(cluster)
            .service_name(name)
            .task_definition(resolved(desired, &typed.task_definition)?.as_str())
            .desired_count(aws_int(typed.desired_count)?)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network(desired, &typed)?)
            .set_load_balancers(load_balancers(desired, &typed)?)
            .set_service_registries(Some(registries(desired, &typed)?))
            .propagate_tags(PropagateTags::Service)
            .enable_ecs_managed_tags(true)
            .set_tags(Some(create_tags(desired)))
            .send()
            .await
            .map_err(|e| classify("CreateService", e))?;
        let arn = out.service().and_then(|s| s.service_arn()).ok_or_else(|| missing("service ARN"))?;
        Ok(created(desired, name, outputs(arn, cluster, name)))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let typed: EcsService = spec(desired)?;
        let cluster = Self::cluster_of(current)?;
        let mut call = self.client.update_service().cluster(cluster).service(&current.aws_id);
        let mut modified = false;
        for change in changes {
            modified |= change.field != "tags";
            call = match change.field.as_str() {
                "task_definition" => call.task_definition(resolved(desired, &typed.task_definition)?.as_str()),
                "desired_count" => call.desired_count(aws_int(typed.desired_count)?),
                "subnet_ids" | "security_group_ids" => call.network_configuration(network(desired, &typed)?),
                // An empty list removes the load balancer; ECS rolls the tasks either way.
                "load_balancer" => call.set_load_balancers(Some(load_balancers(desired, &typed)?.unwrap_or_default())),
                // An empty list takes the service out of discovery.
                "service_registries" => call.set_service_registries(Some(registries(desired, &typed)?)),
                "tags" => call,
                other => return Err(cannot_update(desired, other)),
            };
        }
        if modified {
            call.send().await.map_err(|e| classify("UpdateService", e))?;
        }
        if changes.iter().any(|c| c.field == "tags") {
            sync_tags(&self.client, arn_of(current)?, desired, current).await?;
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let cluster = Self::cluster_of(current)?;
        unless_gone(
            "UpdateService",
            self.client.update_service().cluster(cluster).service(&current.aws_id).desired_count(0).send().await,
            |e| {
                e.is_service_not_found_exception()
                    || e.is_service_not_active_exception()
                    || e.is_cluster_not_found_exception()
            },
            |_| false,
        )?;
        unless_gone(
            "DeleteService",
            self.client.delete_service().cluster(cluster).service(&current.aws_id).force(true).send().await,
            |e| e.is_service_not_found_exception() || e.is_cluster_not_found_exception(),
            |_| false,
        )
    }

    async fn wait_deleted(&self, current: &Observed) -> Result<(), ReconcileError> {
        let cluster = Self::cluster_of(current)?;
        let look = || self.client.describe_services().cluster(cluster).services(&current.aws_id).send();
        let deleted = self.wait.until(Cadence::STEADY, look, inactive).await;
        gone(current, "ECS service", deleted)
    }
}
