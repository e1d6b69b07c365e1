//! EC2 resource kinds, and what they share: tags, the stack filter, field access.

pub(crate) mod elastic_ip;
pub(crate) mod internet_gateway;
pub(crate) mod nat_gateway;
pub(crate) mod route_table;
pub(crate) mod security_group;
pub(crate) mod subnet;
pub(crate) mod vpc;
pub(crate) mod vpc_endpoint;

use std::collections::BTreeMap;

use aws_sdk_ec2 as ec2;
use ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use paystack_core::stack::{RESOURCE_TAG, STACK_TAG};
use paystack_core::{FieldChange, Fields, Observed, ResourceId};
use paystack_engine::{Desired, ReconcileError, Scope};
use serde_json::{Value, json};

use crate::error::classify;

/// The filter that selects every resource of the scope's stack: one tag-filtered Describe
/// per kind is the whole live inventory of that kind.
pub(crate) fn stack_filter(scope: &Scope) -> Filter {
    Filter::builder().name(format!("tag:{STACK_TAG}")).values(&scope.stack).build()
}

pub(crate) fn desired_tags(desired: &Desired) -> BTreeMap<String, String> {
    desired
        .fields
        .get("tags")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

/// Tags to set in the create call itself, so a resource is never visible untagged (and so
/// never unfindable after a crash).
pub(crate) fn tag_specification(resource_type: ResourceType, desired: &Desired) -> TagSpecification {
    let tags = desired_tags(desired).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
    TagSpecification::builder().resource_type(resource_type).set_tags(Some(tags.collect())).build()
}

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// True when the tags say the resource belongs to the scope's stack.
pub(crate) fn owned_by(scope: &Scope, tags: &[Tag]) -> bool {
    tag(tags, STACK_TAG) == Some(scope.stack.as_str())
}

fn tags_value(tags: &[Tag]) -> Value {
    let map: BTreeMap<&str, &str> =
        tags.iter().filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))).collect();
    json!(map)
}

/// A live resource as the engine sees it, or `None` unless it carries both ownership tags
/// for this stack. The server-side filter is not trusted alone: a resource that is not
/// provably ours is never managed (some EC2 implementations ignore filters on some calls).
pub(crate) fn observed(
    scope: &Scope,
    tags: &[Tag],
    aws_id: &str,
    attributes: Value,
    outputs: Value,
) -> Option<Observed> {
    if !owned_by(scope, tags) {
        return None;
    }
    let id = tag(tags, RESOURCE_TAG)?;
    let mut attributes = into_fields(attributes);
    attributes.insert("tags".into(), tags_value(tags));
    let mut outputs = into_fields(outputs);
    outputs.insert("id".into(), json!(aws_id));
    Some(Observed { id: ResourceId::new(id), aws_id: aws_id.to_owned(), attributes, outputs, pending: false })
}

/// What a create call made: the desired fields are what was set.
pub(crate) fn created(desired: &Desired, aws_id: &str, outputs: Value) -> Observed {
    let mut outputs = into_fields(outputs);
    outputs.insert("id".into(), json!(aws_id));
    Observed {
        id: desired.id.clone(),
        aws_id: aws_id.to_owned(),
        attributes: desired.fields.clone(),
        outputs,
        pending: false,
    }
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

/// Makes the resource's tags equal to the desired ones: adds and changes, then removes.
pub(crate) async fn sync_tags(
    client: &ec2::Client,
    desired: &Desired,
    current: &Observed,
) -> Result<(), ReconcileError> {
    let want = desired_tags(desired);
    let have: BTreeMap<String, String> = current
        .attributes
        .get("tags")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default();
    let set: Vec<Tag> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(v))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    if !set.is_empty() {
        client
            .create_tags()
            .resources(&current.aws_id)
            .set_tags(Some(set))
            .send()
            .await
            .map_err(|e| classify("CreateTags", e))?;
    }
    let unset: Vec<Tag> = have
        .keys()
        .filter(|k| !want.contains_key(*k) && !k.starts_with("aws:"))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    if !unset.is_empty() {
        client
            .delete_tags()
            .resources(&current.aws_id)
            .set_tags(Some(unset))
            .send()
            .await
            .map_err(|e| classify("DeleteTags", e))?;
    }
    Ok(())
}

pub(crate) fn field<'a>(desired: &'a Desired, key: &str) -> Result<&'a Value, ReconcileError> {
    desired.fields.get(key).ok_or_else(|| ReconcileError::permanent(format!("`{}` has no field `{key}`", desired.id)))
}

pub(crate) fn str_field<'a>(desired: &'a Desired, key: &str) -> Result<&'a str, ReconcileError> {
    field(desired, key)?
        .as_str()
        .ok_or_else(|| ReconcileError::permanent(format!("`{}`: `{key}` is not a string", desired.id)))
}

pub(crate) fn bool_field(desired: &Desired, key: &str) -> Result<bool, ReconcileError> {
    field(desired, key)?
        .as_bool()
        .ok_or_else(|| ReconcileError::permanent(format!("`{}`: `{key}` is not a boolean", desired.id)))
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

/// The update of a kind whose only field that changes in place is its tags.
pub(crate) async fn update_tags_only(
    client: &ec2::Client,
    desired: &Desired,
    current: &Observed,
    changes: &[FieldChange],
) -> Result<Observed, ReconcileError> {
    for change in changes {
        match change.field.as_str() {
            "tags" => sync_tags(client, desired, current).await?,
            other => return Err(cannot_update(desired, other)),
        }
    }
    Ok(updated(desired, current))
}

/// Rejects an in-place change to a field the kind cannot change in place; the planner turns
/// those into replacements, so reaching this is a defect in the kind's contract.
pub(crate) fn cannot_update(desired: &Desired, field: &str) -> ReconcileError {
    ReconcileError::permanent(format!("`{}`: `{field}` cannot be changed in place", desired.id))
}
