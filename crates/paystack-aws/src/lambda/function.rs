//! `lambda.function`: a function whose code is a zip package read from this machine.
//! `CodeSha256` is compared, so a new package is an in-place code update; a change of
//! configuration is one `UpdateFunctionConfiguration`. Both wait for the function to be
//! active again, with the SDK's waiters.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda as lambda;
use aws_smithy_types::Blob;
use lambda::client::Waiters;
use lambda::types::{Architecture, Environment, FunctionCode, LoggingConfig, Runtime};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Scope};
use paystack_platform::kinds::Function;
use serde_json::json;

use super::candidates;
use crate::error::{classify, classify_typed, missing, unless_gone, unless_gone_since, waited};
use crate::owned::{arn_of, cannot_update, created, desired_tags, observed, resolved, spec, updated};
use crate::tag_index::indexed_tags;
use crate::tagging::sync_tags;

/// How long a function may take to become active after a create or an update.
const SETTLE: Duration = Duration::from_secs(300);

pub(crate) struct Functions {
    client: lambda::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

impl Functions {
    pub(crate) fn new(client: &lambda::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }

    /// A function's tags, read from it; `None` if it went since it was listed.
    async fn tags(&self, arn: &str) -> Result<Option<crate::owned::TagMap>, ReconcileError> {
        let listed = self.client.list_tags().resource(arn).send().await;
        let Some(listed) = unless_gone_since("ListTags", listed, |e| e.is_resource_not_found_exception())? else {
            return Ok(None);
        };
        Ok(Some(listed.tags().cloned().unwrap_or_default().into_iter().collect()))
    }

    fn zip(typed: &Function) -> Result<Blob, ReconcileError> {
        std::fs::read(&typed.package).map(Blob::new).map_err(|e| {
            ReconcileError::permanent(format!(
                "cannot read the function's package {}: {e}; build it with scripts/package-function",
                typed.package
            ))
        })
    }

    fn variables(desired: &Desired, typed: &Function) -> Result<Environment, ReconcileError> {
        let mut variables = HashMap::new();
        for (k, v) in &typed.environment {
            variables.insert(k.clone(), resolved(desired, v)?.clone());
        }
        Ok(Environment::builder().set_variables(Some(variables)).build())
    }

    async fn settle(&self, name: &str) -> Result<(), ReconcileError> {
        let done = self.client.wait_until_function_updated_v2().function_name(name).wait(SETTLE).await;
        waited(&format!("waiting for the function {name}"), done, None)
    }
}

#[async_trait]
impl paystack_engine::Reconciler for Functions {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        for f in candidates(&self.client, scope).await? {
            let (Some(name), Some(arn)) = (f.function_name(), f.function_arn()) else {
                return Err(missing("function name or ARN"));
            };
            let Some(tags) = indexed_tags(&self.tagging, scope, arn, || self.tags(arn)).await? else { continue };
            let variables = f.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
            let attributes = json!({
                "name": name,
                "role_arn": f.role(),
                "runtime": f.runtime().map(Runtime::as_str),
                "handler": f.handler(),
                "architecture": f.architectures().first().map(Architecture::as_str),
                "memory_mb": f.memory_size(),
                "timeout_seconds": f.timeout(),
                "environment": variables.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                "kms_key_arn": f.kms_key_arn(),
                "log_group": f.logging_config().and_then(LoggingConfig::log_group),
                "code_sha256": f.code_sha256(),
            });
            out.extend(observed(scope, &tags, name, attributes, json!({ "arn": arn, "name": name })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: Function = spec(desired)?;
        let made = self
            .client
            .create_function()
            .function_name(&typed.name)
            .role(resolved(desired, &typed.role_arn)?)
            .runtime(Runtime::from(typed.runtime.as_str()))
            .handler(&typed.handler)
            .architectures(Architecture::from(typed.architecture.as_str()))
            .memory_size(crate::owned::aws_int(typed.memory_mb)?)
            .timeout(crate::owned::aws_int(typed.timeout_seconds)?)
            .environment(Self::variables(desired, &typed)?)
            .kms_key_arn(resolved(desired, &typed.kms_key_arn)?)
            .logging_config(LoggingConfig::builder().log_group(resolved(desired, &typed.log_group)?).build())
            .code(FunctionCode::builder().zip_file(Self::zip(&typed)?).build())
            .set_tags(Some(desired_tags(desired).into_iter().collect()))
            .send()
            .await;
        let arn = match made {
            Ok(made) => made.function_arn().ok_or_else(|| missing("function ARN"))?.to_owned(),
            // A role made a moment ago is not yet one Lambda can take: AWS says so with this
            // error, and a later attempt succeeds.
            Err(e) => return Err(classify_typed("CreateFunction", e, |e| e.is_invalid_parameter_value_exception())),
        };
        self.settle(&typed.name).await?;
        Ok(created(desired, &typed.name, json!({ "arn": arn, "name": typed.name })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let typed: Function = spec(desired)?;
        let name = current.aws_id.as_str();
        let configuration = ["role_arn", "runtime", "handler", "memory_mb", "timeout_seconds", "environment"];
        let configuration = changes.iter().any(|c| {
            configuration.contains(&c.field.as_str()) || matches!(c.field.as_str(), "kms_key_arn" | "log_group")
        });
        if changes.iter().any(|c| matches!(c.field.as_str(), "code_sha256" | "architecture")) {
            self.client
                .update_function_code()
                .function_name(name)
                .zip_file(Self::zip(&typed)?)
                .architectures(Architecture::from(typed.architecture.as_str()))
                .send()
                .await
                .map_err(|e| classify("UpdateFunctionCode", e))?;
            self.settle(name).await?;
        }
        if configuration {
            self.client
                .update_function_configuration()
                .function_name(name)
                .role(resolved(desired, &typed.role_arn)?)
                .runtime(Runtime::from(typed.runtime.as_str()))
                .handler(&typed.handler)
                .memory_size(crate::owned::aws_int(typed.memory_mb)?)
                .timeout(crate::owned::aws_int(typed.timeout_seconds)?)
                .environment(Self::variables(desired, &typed)?)
                .kms_key_arn(resolved(desired, &typed.kms_key_arn)?)
                .logging_config(LoggingConfig::builder().log_group(resolved(desired, &typed.log_group)?).build())
                .send()
                .await
                .map_err(|e| {
                    classify_typed("UpdateFunctionConfiguration", e, |e| e.is_resource_conflict_exception())
                })?;
            self.settle(name).await?;
        }
        for change in changes {
            match change.field.as_str() {
                "tags" => sync_tags(&self.client, arn_of(current)?, desired, current).await?,
                "code_sha256" | "architecture" | "role_arn" | "runtime" | "handler" | "memory_mb"
                | "timeout_seconds" | "environment" | "kms_key_arn" | "log_group" => {}
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_gone(
            "DeleteFunction",
            self.client.delete_function().function_name(&current.aws_id).send().await,
            |e| e.is_resource_not_found_exception(),
            |e| e.is_resource_conflict_exception(),
        )
    }
}
