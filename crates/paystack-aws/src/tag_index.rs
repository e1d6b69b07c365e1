//! Tags from the Resource Groups Tagging API, for kinds whose listings carry none.
//!
//! Parameters, alarms, log groups, EventBridge rules, RDS groups, tables, topics, keys and
//! buckets, functions, and Cloud Map namespaces and services are listed without their tags, and reading them takes one request per resource.
//! `GetResources`, filtered by the stacks' ownership tag, returns the tags of all of them,
//! some fifty resources a page, in one listing per placement that every such kind shares
//! (`Scope::shared`).
//!
//! That index trails AWS: a resource made a moment ago may be missing from it, and a tag
//! changed a moment ago may show its old value there. So a resource's tags are taken from it
//! only where they are what state recorded for that resource. A resource the index lacks, or
//! whose tags there differ from state (changed since by paystack or by hand, or not yet
//! indexed), has its tags read from the resource itself. What this gives up: a tag changed by
//! hand on a resource state knows is seen once the index has it, one index delay late,
//! rather than at once. Ownership is decided by the same tags either way.
//!
//! A scope made without state (the compliance function, the look for what a lost create
//! made) has nothing to check the index against, asks it nothing, and reads every resource.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_resourcegroupstagging as tagging;
use paystack_core::stack::{RESOURCE_TAG, STACK_TAG};
use paystack_engine::{ReconcileError, Scope};
use serde_json::json;
use tagging::types::TagFilter;
use tracing::warn;

use crate::error::all;
use crate::owned::{TagMap, shown_tags, stack_values};

/// The services whose resources are read through the index. A service name alone matches
/// every resource type of it, whatever AWS or an emulator calls the type.
const INDEXED: [&str; 11] =
    ["ssm", "cloudwatch", "logs", "events", "rds", "dynamodb", "sns", "kms", "s3", "lambda", "servicediscovery"];
/// `GetResources` takes at most 20 values for one tag key.
const VALUES_PER_FILTER: usize = 20;
/// A page ends at 100 tags unless asked for more, 500 at most: some 50 of paystack's
/// resources, which carry about ten tags each.
const TAGS_PER_PAGE: i32 = 500;

/// The indexed resources of the scope's stacks: their tags by ARN.
type Index = HashMap<String, TagMap>;

/// The tags of the resource `arn`, from the index where state recorded the same, or else by
/// `read` from the resource itself; `None` when `read` finds it gone.
pub(crate) async fn indexed_tags<F, Fut>(
    client: &tagging::Client,
    scope: &Scope,
    arn: &str,
    read: F,
) -> Result<Option<TagMap>, ReconcileError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Option<TagMap>, ReconcileError>>,
{
    if scope.has_recorded() {
        let index = scope.shared("tagging:index", || read_index(client, scope)).await?;
        // A log group's ARN is listed with a `:*` for its streams; the index leaves it off.
        if let Some(tags) = index.get(arn.trim_end_matches(":*")).filter(|tags| as_recorded(scope, tags)) {
            return Ok(Some(tags.clone()));
        }
    }
    read().await
}

/// Whether `tags` are exactly what state recorded for the resource they name.
fn as_recorded(scope: &Scope, tags: &TagMap) -> bool {
    let (Some(stack), Some(id)) = (tags.get(STACK_TAG), tags.get(RESOURCE_TAG)) else { return false };
    scope.recorded_tags(stack, id).is_some_and(|recorded| *recorded == json!(shown_tags(tags)))
}

/// One listing of the index for the scope's stacks. An index that cannot be read (a deploy
/// role bootstrapped before paystack asked for `tag:GetResources`) is an empty one: every
/// resource's tags are then read from itself, as before.
async fn read_index(client: &tagging::Client, scope: &Scope) -> Result<Index, ReconcileError> {
    let mut index = Index::new();
    for stacks in stack_values(scope).chunks(VALUES_PER_FILTER) {
        let pages = client
            .get_resources()
            .tag_filters(TagFilter::builder().key(STACK_TAG).set_values(Some(stacks.to_vec())).build())
            .set_resource_type_filters(Some(INDEXED.map(str::to_owned).to_vec()))
            .tags_per_page(TAGS_PER_PAGE)
            .into_paginator()
            .send();
        let pages = match all("GetResources", pages).await {
            Ok(pages) => pages,
            Err(e) => {
                warn!(error = %e, "the tag index cannot be read; tags are read resource by resource");
                return Ok(Index::new());
            }
        };
        for mapping in pages.iter().flat_map(|p| p.resource_tag_mapping_list()) {
            let Some(arn) = mapping.resource_arn() else { continue };
            let tags = mapping.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
            index.insert(arn.to_owned(), tags);
        }
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paystack_core::{ResourceId, StateDocument};
    use paystack_engine::Owner;

    fn scope_with(recorded: serde_json::Value) -> Scope {
        let mut state = StateDocument::new("dev".into(), "lineage".into());
        let mut record: paystack_core::ResourceRecord = serde_json::from_value(json!({
            "kind": "cloudwatch.alarm", "name": "dev-cpu", "aws_id": "dev-cpu",
            "attributes": {}, "outputs": {}, "depends_on": []
        }))
        .unwrap();
        record.attributes.insert("tags".into(), recorded);
        state.resources.insert(ResourceId::new("alerts.cpu"), record);
        let owner = Owner { stack: "dev".into(), name_prefix: "dev-".into(), name_suffix: None };
        Scope::of(owner).recording([&state])
    }

    fn tags(pairs: &[(&str, &str)]) -> TagMap {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_index_is_believed_only_where_it_shows_what_state_recorded() {
        let live = tags(&[(STACK_TAG, "dev"), (RESOURCE_TAG, "alerts.cpu"), ("team", "payments")]);
        let recorded = json!({ STACK_TAG: "dev", RESOURCE_TAG: "alerts.cpu", "team": "payments" });
        assert!(as_recorded(&scope_with(recorded), &live));

        let changed = json!({ STACK_TAG: "dev", RESOURCE_TAG: "alerts.cpu", "team": "platform" });
        assert!(!as_recorded(&scope_with(changed), &live), "a tag changed since: read from the resource");

        let other = tags(&[(STACK_TAG, "dev"), (RESOURCE_TAG, "alerts.memory")]);
        let recorded = json!({ STACK_TAG: "dev", RESOURCE_TAG: "alerts.cpu", "team": "payments" });
        assert!(!as_recorded(&scope_with(recorded), &other), "unknown to state: read from the resource");

        let without_state = Scope::of(Owner { stack: "dev".into(), name_prefix: String::new(), name_suffix: None });
        assert!(!without_state.has_recorded());
        assert!(!as_recorded(&without_state, &live));
    }
}
