//! Secrets Manager kinds: the database credentials, their rotation, and who may read them.

pub(crate) mod policy;
pub(crate) mod rotation;
pub(crate) mod secret;

use std::sync::Arc;

use aws_sdk_secretsmanager as secretsmanager;
use paystack_core::stack::STACK_TAG;
use paystack_engine::{ReconcileError, Scope};
use secretsmanager::types::{Filter, FilterNameStringType, SecretListEntry, Tag};

use crate::error::all;
use crate::owned::{TagMap, owned_by, stack_values};

fn tag_map(tags: &[Tag]) -> TagMap {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

/// Every secret carrying one of the scope's ownership tags, read with one paginated call
/// that the secret's, its policy's and its rotation's reads share.
async fn stack_secrets(
    client: &secretsmanager::Client,
    scope: &Scope,
) -> Result<Arc<Vec<SecretListEntry>>, ReconcileError> {
    scope.shared("secretsmanager:secrets", || read_secrets(client, scope)).await
}

async fn read_secrets(client: &secretsmanager::Client, scope: &Scope) -> Result<Vec<SecretListEntry>, ReconcileError> {
    // The two filters match independently (any tag key, any tag value); ownership is checked
    // on the tags themselves.
    let pages = all(
        "ListSecrets",
        client
            .list_secrets()
            .filters(Filter::builder().key(FilterNameStringType::TagKey).values(STACK_TAG).build())
            .filters(
                Filter::builder().key(FilterNameStringType::TagValue).set_values(Some(stack_values(scope))).build(),
            )
            .into_paginator()
            .send(),
    )
    .await?;
    Ok(pages
        .into_iter()
        .flat_map(|p| p.secret_list.unwrap_or_default())
        .filter(|s| owned_by(scope, &tag_map(s.tags())))
        .collect())
}
