//! `lambda.permission`: one statement of a function's resource policy, letting one
//! service resource (an EventBridge rule) invoke it. Statements carry no tags: a statement's
//! id is its stack's key then its resource id (`kinds::statement_id`), so reading the policies
//! of the functions the stacks may own finds each stack's own.

use async_trait::async_trait;
use aws_sdk_lambda as lambda;
use paystack_core::{FieldChange, Fields, Observed, ResourceId};
use paystack_engine::{Desired, ReconcileError, Scope};
use paystack_platform::kinds::{self, FunctionPermission};
use serde_json::{Value, json};

use super::candidates;
use crate::error::{classify, missing, unless_gone, unless_gone_since};
use crate::owned::{cannot_update, resolved, spec};

pub(crate) struct Permissions {
    client: lambda::Client,
}

impl Permissions {
    pub(crate) fn new(client: &lambda::Client) -> Self {
        Self { client: client.clone() }
    }
}

/// The value of a condition on `key`, under whichever operator AWS files it.
fn condition(statement: &Value, key: &str) -> Value {
    let conditions = statement["Condition"].as_object().into_iter().flat_map(|ops| ops.values());
    conditions.filter_map(|c| c.get(key)).next().cloned().unwrap_or(Value::Null)
}

#[async_trait]
impl paystack_engine::Reconciler for Permissions {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        for f in candidates(&self.client, scope).await? {
            let name = f.function_name().ok_or_else(|| missing("function name"))?;
            let got = self.client.get_policy().function_name(name).send().await;
            // A function without a policy answers "not found", as one deleted since.
            let Some(got) = unless_gone_since("GetPolicy", got, |e| e.is_resource_not_found_exception())? else {
                continue;
            };
            let policy: Value = got.policy().and_then(|p| serde_json::from_str(p).ok()).unwrap_or(Value::Null);
            for statement in policy["Statement"].as_array().into_iter().flatten() {
                let Some(sid) = statement["Sid"].as_str() else { continue };
                let Some((stack, id)) = scope.stacks().find_map(|s| Some((s, kinds::statement_resource(s, sid)?)))
                else {
                    continue;
                };
                let principal = &statement["Principal"];
                let attributes = json!({
                    "function_name": name,
                    "statement_id": sid,
                    "action": statement["Action"],
                    "principal": principal.get("Service").unwrap_or(principal),
                    "source_arn": condition(statement, "AWS:SourceArn"),
                    "source_account": condition(statement, "AWS:SourceAccount"),
                });
                let Value::Object(attributes) = attributes else { continue };
                let aws_id = format!("{name}/{sid}");
                out.push(Observed::new(ResourceId::new(&id), aws_id, attributes, Fields::new()).of_stack(stack));
            }
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: FunctionPermission = spec(desired)?;
        let function = resolved(desired, &typed.function_name)?;
        let added = self
            .client
            .add_permission()
            .function_name(function)
            .statement_id(&typed.statement_id)
            .action(&typed.action)
            .principal(&typed.principal)
            .source_arn(resolved(desired, &typed.source_arn)?)
            .source_account(&typed.source_account)
            .send()
            .await;
        match added {
            Ok(_) => {}
            // The statement of this id is there: an earlier attempt whose answer was lost.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_conflict_exception()) => {}
            Err(e) => return Err(classify("AddPermission", e)),
        }
        let aws_id = format!("{function}/{}", typed.statement_id);
        Ok(Observed::new(desired.id.clone(), aws_id, desired.fields.clone(), Fields::new()))
    }

    async fn update(
        &self,
        desired: &Desired,
        _: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        // Every field forces a replacement: nothing is changed in place.
        Err(cannot_update(desired, changes.first().map_or("", |c| c.field.as_str())))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let (function, sid) = current
            .aws_id
            .split_once('/')
            .ok_or_else(|| ReconcileError::permanent(format!("`{}` names no statement", current.aws_id)))?;
        unless_gone(
            "RemovePermission",
            self.client.remove_permission().function_name(function).statement_id(sid).send().await,
            |e| e.is_resource_not_found_exception(),
            |e| e.is_precondition_failed_exception(),
        )
    }
}
