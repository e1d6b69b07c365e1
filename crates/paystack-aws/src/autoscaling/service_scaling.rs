//! `autoscaling.service_scaling` and `autoscaling.table_scaling`: a scalable target (an ECS
//! service's task count range, or a provisioned DynamoDB table's read or write capacity) and
//! its one target-tracking policy (on the service's average CPU, or on the table's capacity
//! utilisation).
//!
//! Application Auto Scaling keeps no tags on policies, so ownership is in the policy's name,
//! `{stack}.{resource id}`: one listing of the namespace's policies and one of its targets
//! is the stack's whole inventory.

use async_trait::async_trait;
use autoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_applicationautoscaling as autoscaling;
use paystack_core::{FieldChange, Fields, Observed, ResourceId};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{self, ServiceScaling, TableScaling};
use serde_json::{Value, json};

use crate::error::{all, classify, classify_typed, unless_gone};
use crate::owned::{aws_int, cannot_update, resolved, spec, updated};

pub(crate) struct ServiceScalings {
    client: autoscaling::Client,
    scaled: Scaled,
}

/// What a reconciler of this module scales.
#[derive(Clone, Copy)]
pub(crate) enum Scaled {
    EcsService,
    DynamoDbTable,
}

/// One scaling, whichever its kind: where it applies and what it keeps.
struct Scaling {
    policy_name: String,
    resource_id: String,
    dimension: ScalableDimension,
    min_capacity: i32,
    max_capacity: i32,
    target: f64,
}

impl Scaled {
    fn namespace(self) -> ServiceNamespace {
        match self {
            Self::EcsService => ServiceNamespace::Ecs,
            Self::DynamoDbTable => ServiceNamespace::Dynamodb,
        }
    }

    /// The field of the kind that holds the target value.
    fn target_field(self) -> &'static str {
        match self {
            Self::EcsService => "cpu_target_percent",
            Self::DynamoDbTable => "target_percent",
        }
    }

    fn metric(dimension: &ScalableDimension) -> MetricType {
        match dimension {
            ScalableDimension::DynamoDbTableReadCapacityUnits => MetricType::DynamoDbReadCapacityUtilization,
            ScalableDimension::DynamoDbTableWriteCapacityUnits => MetricType::DynamoDbWriteCapacityUtilization,
            _ => MetricType::EcsServiceAverageCpuUtilization,
        }
    }

    /// A table's `read` or `write`, as a scalable dimension, and back.
    fn table_dimension(name: &str) -> Result<ScalableDimension, ReconcileError> {
        match name {
            "read" => Ok(ScalableDimension::DynamoDbTableReadCapacityUnits),
            "write" => Ok(ScalableDimension::DynamoDbTableWriteCapacityUnits),
            other => Err(ReconcileError::permanent(format!("`{other}` is not a table's capacity: read or write"))),
        }
    }

    fn dimension_name(dimension: &ScalableDimension) -> &'static str {
        match dimension {
            ScalableDimension::DynamoDbTableReadCapacityUnits => "read",
            _ => "write",
        }
    }

    fn scaling(self, desired: &Desired) -> Result<Scaling, ReconcileError> {
        Ok(match self {
            Self::EcsService => {
                let typed: ServiceScaling = spec(desired)?;
                Scaling {
                    resource_id: resolved(desired, &typed.resource_id)?.clone(),
                    policy_name: typed.policy_name,
                    dimension: ScalableDimension::EcsServiceDesiredCount,
                    min_capacity: aws_int(typed.min_capacity)?,
                    max_capacity: aws_int(typed.max_capacity)?,
                    target: typed.cpu_target_percent,
                }
            }
            Self::DynamoDbTable => {
                let typed: TableScaling = spec(desired)?;
                Scaling {
                    resource_id: resolved(desired, &typed.resource_id)?.clone(),
                    policy_name: typed.policy_name,
                    dimension: Self::table_dimension(&typed.dimension)?,
                    min_capacity: aws_int(typed.min_capacity)?,
                    max_capacity: aws_int(typed.max_capacity)?,
                    target: typed.target_percent,
                }
            }
        })
    }

    /// The dimension a recorded scaling applies to.
    fn recorded_dimension(self, current: &Observed) -> Result<ScalableDimension, ReconcileError> {
        match self {
            Self::EcsService => Ok(ScalableDimension::EcsServiceDesiredCount),
            Self::DynamoDbTable => {
                Self::table_dimension(current.attributes.get("dimension").and_then(Value::as_str).unwrap_or_default())
            }
        }
    }
}

impl ServiceScalings {
    /// Whether the scaling policy `name` of `resource_id` exists.
    async fn policy_exists(&self, resource_id: &str, name: &str) -> Result<bool, ReconcileError> {
        let found = self
            .client
            .describe_scaling_policies()
            .service_namespace(self.scaled.namespace())
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
            .service_namespace(self.scaled.namespace())
            .resource_ids(resource_id)
            .send()
            .await
            .map_err(|e| classify("DescribeScalableTargets", e))?;
        Ok(!found.scalable_targets().is_empty())
    }

    pub(crate) fn new(client: &autoscaling::Client, scaled: Scaled) -> Self {
        Self { client: client.clone(), scaled }
    }

    async fn register(&self, scaling: &Scaling) -> Result<(), ReconcileError> {
        self.client
            .register_scalable_target()
            .service_namespace(self.scaled.namespace())
            .scalable_dimension(scaling.dimension.clone())
            .resource_id(&scaling.resource_id)
            .min_capacity(scaling.min_capacity)
            .max_capacity(scaling.max_capacity)
            .send()
            .await
            .map_err(|e| classify_typed("RegisterScalableTarget", e, |e| e.is_concurrent_update_exception()))?;
        Ok(())
    }

    async fn put_policy(&self, name: &str, scaling: &Scaling) -> Result<(), ReconcileError> {
        let target = scaling.target;
        let metric = PredefinedMetricSpecification::builder()
            .predefined_metric_type(Scaled::metric(&scaling.dimension))
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
            .service_namespace(self.scaled.namespace())
            .scalable_dimension(scaling.dimension.clone())
            .resource_id(&scaling.resource_id)
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
                .service_namespace(self.scaled.namespace())
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
                .service_namespace(self.scaled.namespace())
                .into_paginator()
                .items()
                .send(),
        )
        .await?;
        let mut out = Vec::new();
        for (stack, id, p) in ours {
            let target = targets
                .iter()
                .find(|t| t.resource_id() == p.resource_id() && t.scalable_dimension() == p.scalable_dimension());
            let mut attributes = json!({
                "policy_name": p.policy_name(),
                "resource_id": p.resource_id(),
                "min_capacity": target.map(|t| t.min_capacity()),
                "max_capacity": target.map(|t| t.max_capacity()),
                self.scaled.target_field(): p.target_tracking_scaling_policy_configuration().map(|c| c.target_value()),
            });
            if let Scaled::DynamoDbTable = self.scaled {
                attributes["dimension"] = json!(Scaled::dimension_name(p.scalable_dimension()));
            }
            let Value::Object(attributes) = attributes else { continue };
            out.push(Observed::new(ResourceId::new(id), p.policy_name(), attributes, Fields::new()).of_stack(stack));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let scaling = self.scaled.scaling(desired)?;
        self.register(&scaling).await?;
        self.put_policy(&scaling.policy_name, &scaling).await?;
        Ok(Observed::new(desired.id.clone(), &scaling.policy_name, desired.fields.clone(), Fields::new()))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let scaling = self.scaled.scaling(desired)?;
        let mut registered = false;
        for change in changes {
            match change.field.as_str() {
                "min_capacity" | "max_capacity" if !registered => {
                    registered = true;
                    self.register(&scaling).await?;
                }
                "min_capacity" | "max_capacity" => {}
                field if field == self.scaled.target_field() => self.put_policy(&current.aws_id, &scaling).await?,
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
        let dimension = self.scaled.recorded_dimension(current)?;
        // Each part may be gone already, deleted by an earlier attempt (or by the SDK's own
        // repeat of one) whose answer was lost. AWS then answers ObjectNotFoundException; the
        // emulator answers ValidationException, which is taken as "gone" only when a read
        // confirms it.
        let deleted = self
            .client
            .delete_scaling_policy()
            .policy_name(&current.aws_id)
            .service_namespace(self.scaled.namespace())
            .scalable_dimension(dimension.clone())
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
            .service_namespace(self.scaled.namespace())
            .scalable_dimension(dimension)
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
