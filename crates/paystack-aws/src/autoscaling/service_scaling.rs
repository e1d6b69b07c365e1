//! `autoscaling.service_scaling`: an ECS service's scalable target (its task count range)
//! and its target-tracking policy on average CPU.
//!
//! Application Auto Scaling keeps no tags on policies, so ownership is in the policy's name,
//! `{stack}.{resource id}`: one listing of the ECS policies and one of the targets is the
//! stack's whole inventory.

use async_trait::async_trait;
use autoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_applicationautoscaling as autoscaling;
use paystack_core::{FieldChange, Fields, Observed, ResourceId};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{self, ServiceScaling};
use serde_json::{Value, json};

use crate::error::{all, classify, classify_typed, unless_gone};
use crate::owned::{aws_int, cannot_update, resolved, spec, updated};

pub(crate) struct ServiceScalings {
    client: autoscaling::Client,
}

impl ServiceScalings {
    /// Whether the scaling policy `name` of `resource_id` exists.
    async fn policy_exists(&self, resource_id: &str, name: &str) -> Result<bool, ReconcileError> {
        let found = self
            .client
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id)
            .policy_names(name)
            .send()
            .await
            .map_err(|e| classify("DescribeScalingPolicies", e))?;
        Ok(!found.scaling_policies().is_empty())
    }

    /// Whether `resource_id` is registered as a scalable target.
    async fn target_exists(&self, resource_id: &str) -> Result<bool, ReconcileError> {
        let found = self
            .client
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(resource_id)
            .send()
            .await
            .map_err(|e| classify("DescribeScalableTargets", e))?;
        Ok(!found.scalable_targets().is_empty())
    }

    pub(crate) fn new(client: &autoscaling::Client) -> Self {
        Self { client: client.clone() }
    }

    async fn register(&self, desired: &Desired) -> Result<(), ReconcileError> {
        let typed: ServiceScaling = spec(desired)?;
        self.client
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resolved(desired, &typed.resource_id)?.as_str())
            .min_capacity(aws_int(typed.min_capacity)?)
            .max_capacity(aws_int(typed.max_capacity)?)
            .send()
            .await
            .map_err(|e| classify_typed("RegisterScalableTarget", e, |e| e.is_concurrent_update_exception()))?;
        Ok(())
    }

    async fn put_policy(&self, name: &str, desired: &Desired) -> Result<(), ReconcileError> {
        let typed: ServiceScaling = spec(desired)?;
        let target = typed.cpu_target_percent;
        let metric = PredefinedMetricSpecification::builder()
            .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization)
            .build()
            .map_err(|e| ReconcileError::permanent(e.to_string()))?;
        let tracking = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(target)
            .predefined_metric_specification(metric)
            .build()
            .map_err(|e| ReconcileError::permanent(e.to_string()))?;
        self.client
            .put_scaling_policy()
            .policy_name(name)
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resolved(desired, &typed.resource_id)?.as_str())
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(tracking)
            .send()
            .await
            .map_err(|e| classify_typed("PutScalingPolicy", e, |e| e.is_concurrent_update_exception()))?;
        Ok(())
    }
}

#[async_trait]
impl Reconciler for ServiceScalings {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let policies = all(
            "DescribeScalingPolicies",
            self.client
                .describe_scaling_policies()
                .service_namespace(ServiceNamespace::Ecs)
                .into_paginator()
                .items()
                .send(),
        )
        .await?;
        // A policy's name starts with its stack's key: one listing serves every stack.
        let ours: Vec<_> = policies
            .iter()
            .filter_map(|p| {
                let (stack, id) = scope.stacks().find_map(|stack| {
                    Some((stack, p.policy_name().strip_prefix(&kinds::scaling_policy_prefix(stack))?))
                })?;
                Some((stack, id, p))
            })
            .collect();
        if ours.is_empty() {
            return Ok(Vec::new());
        }
        let targets = all(
            "DescribeScalableTargets",
            self.client
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .into_paginator()
                .items()
                .send(),
        )
        .await?;
        let mut out = Vec::new();
        for (stack, id, p) in ours {
            let target = targets.iter().find(|t| t.resource_id() == p.resource_id());
            let attributes = json!({
                "policy_name": p.policy_name(),
                "resource_id": p.resource_id(),
                "min_capacity": target.map(|t| t.min_capacity()),
                "max_capacity": target.map(|t| t.max_capacity()),
                "cpu_target_percent": p.target_tracking_scaling_policy_configuration().map(|c| c.target_value()),
            });
            let Value::Object(attributes) = attributes else { continue };
            out.push(Observed::new(ResourceId::new(id), p.policy_name(), attributes, Fields::new()).of_stack(stack));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: ServiceScaling = spec(desired)?;
        let name = typed.policy_name.as_str();
        self.register(desired).await?;
        self.put_policy(name, desired).await?;
        Ok(Observed::new(desired.id.clone(), name, desired.fields.clone(), Fields::new()))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let mut registered = false;
        for change in changes {
            match change.field.as_str() {
                "min_capacity" | "max_capacity" if !registered => {
                    registered = true;
                    self.register(desired).await?;
                }
                "min_capacity" | "max_capacity" => {}
                "cpu_target_percent" => self.put_policy(&current.aws_id, desired).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let resource_id = current
            .attributes
            .get("resource_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ReconcileError::permanent(format!("`{}` has no recorded resource id", current.id)))?;
        // Each part may be gone already, deleted by an earlier attempt (or by the SDK's own
        // repeat of one) whose answer was lost. AWS then answers ObjectNotFoundException; the
        // emulator answers ValidationException, which is taken as "gone" only when a read
        // confirms it.
        let deleted = self
            .client
            .delete_scaling_policy()
            .policy_name(&current.aws_id)
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource_id)
            .send()
            .await;
        match deleted {
            Err(e) if e.as_service_error().is_some_and(|s| s.is_validation_exception()) => {
                if self.policy_exists(resource_id, &current.aws_id).await? {
                    return Err(classify("DeleteScalingPolicy", e));
                }
            }
            other => unless_gone(
                "DeleteScalingPolicy",
                other,
                |e| e.is_object_not_found_exception(),
                |e| e.is_concurrent_update_exception(),
            )?,
        }
        let deregistered = self
            .client
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource_id)
            .send()
            .await;
        match deregistered {
            Err(e) if e.as_service_error().is_some_and(|s| s.is_validation_exception()) => {
                if self.target_exists(resource_id).await? {
                    return Err(classify("DeregisterScalableTarget", e));
                }
                Ok(())
            }
            other => unless_gone(
                "DeregisterScalableTarget",
                other,
                |e| e.is_object_not_found_exception(),
                |e| e.is_concurrent_update_exception(),
            ),
        }
    }
}
