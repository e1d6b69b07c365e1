//! Lambda: the compliance function, and the statements of its resource policy that let each
//! EventBridge rule invoke it.
//!
//! `ListFunctions` returns no tags, so only the functions whose names start as the stacks'
//! do are read further. Not by `Scope::may_own`: a function's name is fitted to Lambda's 64
//! characters, which can cut a stack's suffix off; the tags prove whose it is.

use aws_sdk_lambda as lambda;
use lambda::types::FunctionConfiguration;
use paystack_engine::{ReconcileError, Scope};

use crate::error::all;

pub(crate) mod function;
pub(crate) mod permission;

/// The functions whose names start as the scope's stacks' names do.
async fn candidates(client: &lambda::Client, scope: &Scope) -> Result<Vec<FunctionConfiguration>, ReconcileError> {
    let listed = all("ListFunctions", client.list_functions().into_paginator().items().send()).await?;
    let prefix = scope.name_prefix().unwrap_or_default();
    Ok(listed.into_iter().filter(|f| f.function_name().is_some_and(|n| n.starts_with(prefix))).collect())
}

// Lambda tags a function by its ARN, with a map of tags.
crate::tagging::tag_resource_api!(lambda::Client, resource, |tags| tags.into_iter().collect());
