//! What every kind shares, whatever its service: reading a desired resource's fields, proving
//! ownership by tags, and the [`Observed`] values a reconciler hands back to the engine.

use std::collections::BTreeMap;

use paystack_core::stack::{RESOURCE_TAG, STACK_TAG};
use paystack_core::{Fields, Input, Observed, ResourceId};
use paystack_engine::{Desired, ReconcileError, Scope};
use paystack_platform::kinds::KindSpec;
use serde_json::{Value, json};

/// Tag key to value, whatever the service's own tag type.
pub(crate) type TagMap = BTreeMap<String, String>;

/// Tags paystack writes on a resource to remember what AWS will not report back (which
/// secret's password a cluster has, the username inside a secret, the rotation set on a
/// secret). They are facts of their reconcilers, not part of the `tags` field: never shown
/// as tags, and never removed as tags the configuration does not ask for.
pub(crate) const USERNAME_TAG: &str = "paystack:username";
pub(crate) const PASSWORD_SECRET_TAG: &str = "paystack:password-secret";
pub(crate) const ROTATION_TAG: &str = "paystack:rotation";
/// On a Cloud Map namespace: the VPC its private zone is in, which Cloud Map does not report.
pub(crate) const VPC_TAG: &str = "paystack:vpc";
/// On a rotated secret: where its rotation function connects, as written into its document,
/// so that a read of the rotation never reads the document (and so the password).
pub(crate) const CONNECTION_TAG: &str = "paystack:connection";
/// On a secret: the id of the policy that names who may read it.
pub(crate) const POLICY_TAG: &str = "paystack:policy";
/// On a protected environment's secret: the days it stays recoverable after a delete, which
/// the delete reads.
pub(crate) const RECOVERY_TAG: &str = "paystack:recovery-window-days";
const ANNOTATIONS: &[&str] =
    &[USERNAME_TAG, PASSWORD_SECRET_TAG, ROTATION_TAG, VPC_TAG, CONNECTION_TAG, POLICY_TAG, RECOVERY_TAG];

pub(crate) fn desired_tags(desired: &Desired) -> TagMap {
    tag_map_of(desired.fields.get("tags"))
}

fn tag_map_of(value: Option<&Value>) -> TagMap {
    value
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

/// What a tag update must do to make the live tags equal the desired ones: the tags to set
/// (new or changed) and the keys to remove. Keys AWS reserves (`aws:`) and annotations are
/// never removed.
pub(crate) fn tag_changes(desired: &Desired, current: &Observed) -> (TagMap, Vec<String>) {
    let want = desired_tags(desired);
    let have = tag_map_of(current.attributes.get("tags"));
    let set = want.iter().filter(|(k, v)| have.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let unset = have
        .keys()
        .filter(|k| !want.contains_key(*k) && !k.starts_with("aws:") && !ANNOTATIONS.contains(&k.as_str()))
        .cloned()
        .collect();
    (set, unset)
}

/// The tags as the `tags` field shows them: without the annotations.
pub(crate) fn shown_tags(tags: &TagMap) -> TagMap {
    tags.iter().filter(|(k, _)| !ANNOTATIONS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// True when the tags say the resource belongs to one of the scope's stacks.
pub(crate) fn owned_by(scope: &Scope, tags: &TagMap) -> bool {
    tags.get(STACK_TAG).is_some_and(|stack| scope.reads(stack))
}

/// The scope's stacks, as the values of a server-side tag filter.
pub(crate) fn stack_values(scope: &Scope) -> Vec<String> {
    scope.stacks().map(str::to_owned).collect()
}

/// A live resource as the engine sees it, or `None` unless it carries both ownership tags
/// for this stack. A server-side filter is never trusted alone: a resource that is not
/// provably ours is never managed.
pub(crate) fn observed(
    scope: &Scope,
    tags: &TagMap,
    aws_id: &str,
    attributes: Value,
    outputs: Value,
) -> Option<Observed> {
    if !owned_by(scope, tags) {
        return None;
    }
    let id = tags.get(RESOURCE_TAG)?;
    let mut attributes = into_fields(attributes);
    attributes.insert("tags".into(), json!(shown_tags(tags)));
    let mut outputs = into_fields(outputs);
    outputs.entry("id").or_insert_with(|| json!(aws_id));
    let stack = tags.get(STACK_TAG)?;
    Some(Observed::new(ResourceId::new(id), aws_id, attributes, outputs).of_stack(stack))
}

/// The create's idempotency token (see `Desired::token`), for the APIs that take one.
pub(crate) fn client_token(desired: &Desired) -> Option<String> {
    Some(desired.token.clone()).filter(|t| !t.is_empty())
}

/// What a create call made: the desired fields are what was set.
pub(crate) fn created(desired: &Desired, aws_id: &str, outputs: Value) -> Observed {
    let mut outputs = into_fields(outputs);
    outputs.entry("id").or_insert_with(|| json!(aws_id));
    Observed::new(desired.id.clone(), aws_id, desired.fields.clone(), outputs)
}

/// The resource after an in-place update: the desired fields are what is now set.
pub(crate) fn updated(desired: &Desired, current: &Observed) -> Observed {
    Observed { attributes: desired.fields.clone(), ..current.clone() }
}

fn into_fields(v: Value) -> Fields {
    match v {
        Value::Object(m) => m,
        _ => Fields::new(),
    }
}

/// The ARN a reconciler recorded among a resource's outputs.
pub(crate) fn arn_of(current: &Observed) -> Result<&str, ReconcileError> {
    current
        .outputs
        .get("arn")
        .and_then(Value::as_str)
        .ok_or_else(|| ReconcileError::permanent(format!("`{}` has no recorded ARN", current.id)))
}

/// The desired resource as its kind's typed spec: the same type the blueprint built.
pub(crate) fn spec<S: KindSpec>(desired: &Desired) -> Result<S, ReconcileError> {
    paystack_core::input::from_fields(&desired.fields)
        .map_err(|e| ReconcileError::permanent(format!("`{}` does not read as a {}: {e}", desired.id, S::DEF.name)))
}

/// A field of a typed spec, which the engine has resolved before any reconciler sees it.
pub(crate) fn resolved<'a, T>(desired: &Desired, input: &'a Input<T>) -> Result<&'a T, ReconcileError> {
    input.resolved().map_err(|e| ReconcileError::permanent(format!("`{}`: {e}", desired.id)))
}

/// Every value of a list field of a typed spec, resolved.
pub(crate) fn resolved_all(desired: &Desired, inputs: &[Input<String>]) -> Result<Vec<String>, ReconcileError> {
    inputs.iter().map(|i| resolved(desired, i).cloned()).collect()
}

pub(crate) fn field<'a>(desired: &'a Desired, key: &str) -> Result<&'a Value, ReconcileError> {
    desired.fields.get(key).ok_or_else(|| ReconcileError::permanent(format!("`{}` has no field `{key}`", desired.id)))
}

/// A count or duration from a spec (a `u32`) as the signed 32-bit integer AWS takes.
pub(crate) fn aws_int(value: u32) -> Result<i32, ReconcileError> {
    i32::try_from(value).map_err(|_| ReconcileError::permanent(format!("{value} is larger than AWS accepts")))
}

/// A list of strings, such as ids.
pub(crate) fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A list of objects, such as rules or routes.
pub(crate) fn objects(value: Option<&Value>) -> Vec<Fields> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_object().cloned()).collect())
        .unwrap_or_default()
}

/// Rejects an in-place change to a field the kind cannot change in place; the planner turns
/// those into replacements, so reaching this is a defect in the kind's contract.
pub(crate) fn cannot_update(desired: &Desired, field: &str) -> ReconcileError {
    ReconcileError::permanent(format!("`{}`: `{field}` cannot be changed in place", desired.id))
}
