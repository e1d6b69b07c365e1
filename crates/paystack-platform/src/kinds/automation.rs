//! What the platform runs on its own, to watch itself: the compliance function, the
//! EventBridge rules that invoke it on each watched CloudTrail call and its permission to be
//! invoked by them, and the EventBridge Scheduler schedule that runs drift as an ECS task.

use std::collections::BTreeMap;

use paystack_core::Input;
use serde::{Deserialize, Serialize};

use super::{KindDef, KindSpec, Tags, fields, outputs};

/// The kinds of this layer.
pub(super) const KINDS: &[&KindDef] = &[&FUNCTION, &FUNCTION_PERMISSION, &EVENT_RULE, &SCHEDULE];

/// A Lambda function whose code is a zip package built by the project's own script.
/// `code_sha256` (base64, as Lambda reports `CodeSha256`) is what is compared: a new package
/// is an in-place code update. `package` is where this run reads the zip from; AWS never
/// reports it, so it is never compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub name: String,
    pub role_arn: Input<String>,
    /// `provided.al2023`: a `bootstrap` executable at the package's root.
    pub runtime: String,
    pub handler: String,
    pub architecture: String,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    pub environment: BTreeMap<String, Input<String>>,
    /// The environment's key, which Lambda encrypts the environment variables with.
    pub kms_key_arn: Input<String>,
    /// Where the function logs (Lambda's `LoggingConfig`): the stack's own group, with the
    /// environment's retention and key, rather than one Lambda would make.
    pub log_group: Input<String>,
    pub code_sha256: String,
    pub package: String,
    pub tags: Tags,
}
pub const FUNCTION: KindDef = KindDef::new("lambda.function", "lambda", "lambda_function")
    .named("name", 64)
    .replace_on(fields!(Function: name))
    .unread(fields!(Function: package));
impl KindSpec for Function {
    const DEF: &'static KindDef = &FUNCTION;
}
outputs!(Function { arn: String, name: String });

/// One statement of a function's resource policy: who may invoke it, from where. Lambda
/// changes none in place, and a replacement reuses the statement id, so the old one goes
/// first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionPermission {
    pub function_name: Input<String>,
    pub statement_id: String,
    pub action: String,
    /// A service principal, such as `events.amazonaws.com`.
    pub principal: String,
    /// The one resource of that service that may invoke (`aws:SourceArn`).
    pub source_arn: Input<String>,
    /// Its account (`aws:SourceAccount`).
    pub source_account: String,
}
pub const FUNCTION_PERMISSION: KindDef = KindDef::new("lambda.permission", "lambda", "lambda_permission")
    .replace_on(fields!(FunctionPermission: function_name, statement_id, action, principal, source_arn, source_account))
    .delete_before_create();
impl KindSpec for FunctionPermission {
    const DEF: &'static KindDef = &FUNCTION_PERMISSION;
}
outputs!(FunctionPermission {});

/// An EventBridge rule on the default bus, with its targets. `event_pattern` is the pattern's
/// JSON with its keys sorted, so the text compares equal to what EventBridge returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRule {
    pub name: String,
    pub description: String,
    pub event_pattern: String,
    pub targets: Vec<EventTarget>,
    pub tags: Tags,
}
pub const EVENT_RULE: KindDef = KindDef::new("events.rule", "events", "eventbridge_rule")
    .named("name", 64)
    .replace_on(fields!(EventRule: name))
    .unordered(fields!(EventRule: targets));
impl KindSpec for EventRule {
    const DEF: &'static KindDef = &EVENT_RULE;
}
outputs!(EventRule { arn: String });

/// One target of a rule: what it invokes, by its id within the rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventTarget {
    pub id: String,
    pub arn: Input<String>,
}

/// The name of a resource of a kind that carries no tags (a schedule, a function's
/// permission statement): its stack's key, then its id, so one listing finds each stack's own
/// and the resource each is.
pub fn owned_name(stack_key: &str, id: &str) -> String {
    format!("{stack_key}.{id}")
}

/// The resource id of `name`, if it is a resource of the stack `stack_key`.
pub fn owned_id<'a>(stack_key: &str, name: &'a str) -> Option<&'a str> {
    name.strip_prefix(stack_key)?.strip_prefix('.')
}

/// A permission's statement id: like [`owned_name`], with `_` for the dots, which Lambda's
/// `RemovePermission` takes in its URL path, where a dot is best avoided.
pub fn statement_id(stack_key: &str, id: &str) -> String {
    owned_name(stack_key, id).replace('.', "_")
}

/// The resource id of statement `sid`, if it is one of the stack `stack_key`'s.
pub fn statement_resource(stack_key: &str, sid: &str) -> Option<String> {
    let stack = stack_key.replace('.', "_");
    Some(sid.strip_prefix(&stack)?.strip_prefix('_')?.replace('_', "."))
}

/// An EventBridge Scheduler schedule that runs one Fargate task. Schedules carry no tags,
/// so a stack owns the ones whose name it gives (`{env}-{region}-…`, with its suffix), as
/// with auto-scaling policies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub name: String,
    pub group: String,
    pub expression: String,
    pub description: String,
    pub target: ScheduleTarget,
}
pub const SCHEDULE: KindDef = KindDef::new("scheduler.schedule", "scheduler", "scheduler_schedule")
    .named("name", 64)
    .replace_on(fields!(Schedule: name, group));
impl KindSpec for Schedule {
    const DEF: &'static KindDef = &SCHEDULE;
}
outputs!(Schedule { arn: String });

/// ECS `RunTask`, as the schedule calls it: Fargate, in the private subnets, no public IP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleTarget {
    pub cluster_arn: Input<String>,
    /// The role Scheduler takes to call `RunTask`.
    pub role_arn: Input<String>,
    pub task_definition_arn: Input<String>,
    pub subnet_ids: Vec<Input<String>>,
    pub security_group_ids: Vec<Input<String>>,
}
