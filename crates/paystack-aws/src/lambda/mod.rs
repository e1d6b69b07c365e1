//! Lambda: the compliance function, and the statements of its resource policy that let each
//! EventBridge rule invoke it.
//!
//! `ListFunctions` returns no tags, so only the functions whose names the stacks may own are
//! read further.

use aws_sdk_lambda as lambda;
use lambda::types::FunctionConfiguration;
use paystack_engine::{ReconcileError, Scope};

use crate::error::all;

pub(crate) mod function;
pub(crate) mod permission;

/// The functions the scope's stacks may own, by name.
async fn candidates(client: &lambda::Client, scope: &Scope) -> Result<Vec<FunctionConfiguration>, ReconcileError> {
    let listed = all("ListFunctions", client.list_functions().into_paginator().items().send()).await?;
    Ok(listed.into_iter().filter(|f| f.function_name().is_some_and(|n| scope.may_own(n))).collect())
}

// Lambda tags a function by its ARN, with a map of tags.
crate::tagging::tag_resource_api!(lambda::Client, resource, |tags| tags.into_iter().collect());
