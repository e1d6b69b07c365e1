//! The compute layer's kinds: the ECS cluster, task definitions and services, their log
//! groups and IAM roles, and auto-scaling.

use std::collections::BTreeMap;

use paystack_core::Input;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{KindDef, KindSpec, Tags, fields, outputs};

/// The kinds of this layer.
pub(super) const KINDS: &[&KindDef] =
    &[&LOG_GROUP, &IAM_ROLE, &ECS_CLUSTER, &TASK_DEFINITION, &ECS_SERVICE, &SERVICE_SCALING];

/// A service's log group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogGroup {
    pub name: String,
    pub retention_in_days: u32,
    /// The environment's key, which CloudWatch Logs encrypts the group's events with.
    pub kms_key_id: Input<String>,
    pub tags: Tags,
}
pub const LOG_GROUP: KindDef =
    KindDef::new("logs.log_group", "logs", "log_group").named("name", 512).replace_on(fields!(LogGroup: name));
impl KindSpec for LogGroup {
    const DEF: &'static KindDef = &LOG_GROUP;
}
outputs!(LogGroup {
    /// Of the group itself, without the `:*` AWS appends for its streams.
    arn: String,
    /// Of the group's streams (`…:log-stream:*`).
    streams_arn: String,
    name: String,
});

/// One statement of a policy paystack writes: an `Allow` of named actions on named
/// resources, held by `Condition` (the environment's region).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub effect: String,
    pub action: Vec<String>,
    pub resource: Vec<Input<String>>,
    pub condition: Value,
}

/// An IAM policy document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    pub version: String,
    pub statement: Vec<Statement>,
}

/// An IAM role with one inline policy, under the path [`role_path`]. `assume_role_policy`
/// is the trust policy as AWS takes it.
///
/// The role's permissions are exactly `policy`, as Terraform's exclusive `inline_policy` and
/// `managed_policy_arns` make them: `other_policies` (any other inline policy, by name) and
/// `managed_policy_arns` (attached managed policies) are empty in every spec, so one added
/// by hand is drift, and the next apply removes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IamRole {
    pub name: String,
    pub path: String,
    pub assume_role_policy: Value,
    pub policy: PolicyDocument,
    #[serde(default)]
    pub other_policies: BTreeMap<String, Value>,
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    pub permissions_boundary: Option<String>,
    pub tags: Tags,
}
pub const IAM_ROLE: KindDef = KindDef::new("iam.role", "iam", "iam_role")
    .named("name", 64)
    .replace_on(fields!(IamRole: name, path))
    .unordered(fields!(IamRole: managed_policy_arns))
    .global();
impl KindSpec for IamRole {
    const DEF: &'static KindDef = &IAM_ROLE;
}
outputs!(IamRole { arn: String });

/// The IAM path of a stack's roles. Listing roles under it is the stack's whole inventory of
/// roles, with no other stack's in the way.
pub fn role_path(stack_key: &str) -> String {
    format!("{ROLE_PATH_ROOT}{stack_key}/")
}

/// What every stack's role path starts with.
pub const ROLE_PATH_ROOT: &str = "/paystack/";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EcsCluster {
    pub name: String,
    pub container_insights: bool,
    pub tags: Tags,
}
pub const ECS_CLUSTER: KindDef =
    KindDef::new("ecs.cluster", "ecs", "ecs_cluster").named("name", 255).replace_on(fields!(EcsCluster: name));
impl KindSpec for EcsCluster {
    const DEF: &'static KindDef = &ECS_CLUSTER;
}
outputs!(EcsCluster { arn: String, name: String });

/// The one container of a task. `secrets` maps an environment variable to the ARN of the
/// secret it is read from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub port: Option<u16>,
    pub log_group: Input<String>,
    pub region: String,
    pub secrets: BTreeMap<String, Input<String>>,
    /// The command, where it is not the image's own (the drift task's `paystack drift …`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    pub read_only_root_filesystem: bool,
    /// The user the process runs as: never root.
    pub user: String,
    /// The directories it writes to, each an ephemeral volume of the task mounted there
    /// ([`volume_name`]), where the root filesystem is read-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writable_paths: Vec<String>,
}

/// The name of the task volume mounted at `path`: `/var/cache/nginx` is `var-cache-nginx`.
pub fn volume_name(path: &str) -> String {
    path.trim_matches('/').replace('/', "-")
}

/// A Fargate task definition. Revisions never change: any change registers a new revision
/// (a replacement, new first), the service moves to it, and the old one is deregistered.
/// `cpu` and `memory` are strings, as ECS takes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskDefinition {
    pub family: String,
    pub cpu: String,
    pub memory: String,
    pub execution_role_arn: Input<String>,
    pub task_role_arn: Input<String>,
    pub container: Container,
    pub tags: Tags,
}
pub const TASK_DEFINITION: KindDef = KindDef::new("ecs.task_definition", "ecs", "task_definition")
    .named("family", 255)
    .replace_on(fields!(TaskDefinition: family, cpu, memory, execution_role_arn, task_role_arn, container));
impl KindSpec for TaskDefinition {
    const DEF: &'static KindDef = &TASK_DEFINITION;
}
outputs!(TaskDefinition {
    /// With the revision.
    arn: String,
});

/// Where a service's load balancer sends traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceLoadBalancer {
    pub target_group_arn: Input<String>,
    pub container_name: String,
    pub container_port: Option<u16>,
}

/// A Fargate service in the private subnets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EcsService {
    pub name: String,
    pub cluster: Input<String>,
    pub task_definition: Input<String>,
    pub desired_count: u32,
    pub subnet_ids: Vec<Input<String>>,
    pub security_group_ids: Vec<Input<String>>,
    pub load_balancer: Option<ServiceLoadBalancer>,
    /// The ARNs of the discovery services ECS registers the tasks in.
    #[serde(default)]
    pub service_registries: Vec<Input<String>>,
    pub tags: Tags,
}
pub const ECS_SERVICE: KindDef = KindDef::new("ecs.service", "ecs", "ecs_service")
    .named("name", 255)
    .replace_on(fields!(EcsService: name, cluster))
    .unordered(fields!(EcsService: subnet_ids, security_group_ids));
/// The fields of a service that auto-scaling sets too: within the service's scaling range, a
/// value moved away from what paystack last set is auto-scaling's.
pub const AUTOSCALED_FIELDS: &[&str] = fields!(EcsService: desired_count);
impl KindSpec for EcsService {
    const DEF: &'static KindDef = &ECS_SERVICE;
}
outputs!(EcsService {
    arn: String,
    name: String,
    /// `service/CLUSTER/SERVICE`, as Application Auto Scaling names it.
    scaling_resource_id: String,
});

/// Target tracking on a service's average CPU: the scalable target and its one policy.
/// Application Auto Scaling takes no tags here, so the policy's name carries ownership
/// ([`scaling_policy_name`]). `resource_id` is `service/CLUSTER/SERVICE`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceScaling {
    pub policy_name: String,
    pub resource_id: Input<String>,
    pub min_capacity: u32,
    pub max_capacity: u32,
    pub cpu_target_percent: f64,
}
pub const SERVICE_SCALING: KindDef =
    KindDef::new("autoscaling.service_scaling", "application-autoscaling", "service_scaling")
        .replace_on(fields!(ServiceScaling: policy_name, resource_id));
impl KindSpec for ServiceScaling {
    const DEF: &'static KindDef = &SERVICE_SCALING;
}

/// The start of every scaling policy name of a stack.
pub fn scaling_policy_prefix(stack_key: &str) -> String {
    format!("{stack_key}.")
}

/// A scaling policy's name: its stack, then the resource's id, so that listing the policies
/// finds a stack's own and names the resource each belongs to.
pub fn scaling_policy_name(stack_key: &str, id: &str) -> String {
    format!("{}{id}", scaling_policy_prefix(stack_key))
}
