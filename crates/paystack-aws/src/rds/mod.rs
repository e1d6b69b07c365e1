//! RDS resource kinds (Aurora PostgreSQL), and what they share: tags and ownership.
//!
//! RDS returns tags with clusters and instances, but not with subnet or parameter groups:
//! those are listed, then their tags are read one group at a time.

pub(crate) mod cluster;
pub(crate) mod cluster_parameter_group;
pub(crate) mod instance;
pub(crate) mod subnet_group;

use async_trait::async_trait;
use aws_sdk_rds as rds;
use aws_smithy_runtime::client::waiters::AcceptorState;
use paystack_engine::{Desired, ReconcileError};
use rds::error::ProvideErrorMetadata;
use rds::types::Tag;

use crate::error::{classify, unless_gone_since};
use crate::owned::{TagMap, desired_tags};
use crate::tagging::Tagging;
pub(crate) use crate::tagging::sync_tags;
use crate::wait::all_or_any;

/// What the SDK's RDS waiters accept as available, the same for clusters and instances:
/// every status `available`; one that is going or gone, or failed, is a failure.
pub(crate) fn available<'s>(statuses: impl IntoIterator<Item = &'s str>) -> AcceptorState {
    const FAILED: &[&str] = &["deleted", "deleting", "failed", "incompatible-restore", "incompatible-parameters"];
    all_or_any(statuses, "available", FAILED)
}

/// What the SDK's RDS waiters accept as deleted: none left (a "not found" answer counts as
/// none); one that is being made or changed is not being deleted.
pub(crate) fn deleted<'s>(statuses: impl IntoIterator<Item = &'s str>) -> AcceptorState {
    const FAILED: &[&str] = &["creating", "modifying", "rebooting", "resetting-master-credentials"];
    let statuses: Vec<&str> = statuses.into_iter().collect();
    if statuses.is_empty() {
        AcceptorState::Success
    } else if statuses.iter().any(|s| FAILED.contains(s)) {
        AcceptorState::Failure
    } else {
        AcceptorState::Retry
    }
}

pub(crate) fn tag_map(tags: &[Tag]) -> TagMap {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

/// The desired tags, to set in the create call itself so that the resource is never
/// unfindable after a crash.
pub(crate) fn create_tags(desired: &Desired) -> Vec<Tag> {
    desired_tags(desired).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// The tags of one resource that does not come with its tags, or `None` if it was deleted
/// since it was listed.
pub(crate) async fn read_tags(client: &rds::Client, arn: &str) -> Result<Option<TagMap>, ReconcileError> {
    let listed = unless_gone_since(
        "ListTagsForResource",
        client.list_tags_for_resource().resource_name(arn).send().await,
        |e| {
            // The model lists no "not found" fault for these groups, which RDS returns all the same.
            matches!(e.code(), Some("DBSubnetGroupNotFoundFault" | "DBParameterGroupNotFound"))
        },
    )?;
    Ok(listed.map(|out| tag_map(out.tag_list())))
}

/// RDS tags a resource by its ARN.
#[async_trait]
impl Tagging for rds::Client {
    async fn tag(&self, resource: &str, tags: TagMap) -> Result<(), ReconcileError> {
        let tags = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        self.add_tags_to_resource()
            .resource_name(resource)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify("AddTagsToResource", e))?;
        Ok(())
    }

    async fn untag(&self, resource: &str, keys: Vec<String>) -> Result<(), ReconcileError> {
        self.remove_tags_from_resource()
            .resource_name(resource)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .map_err(|e| classify("RemoveTagsFromResource", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod waiter_tests {
    use super::*;

    #[test]
    fn the_rds_waiters_states_for_clusters_and_instances_alike() {
        assert_eq!(available(["available", "available"]), AcceptorState::Success);
        assert_eq!(available(["available", "creating"]), AcceptorState::Retry);
        assert_eq!(available(["deleting"]), AcceptorState::Failure);
        assert_eq!(deleted([]), AcceptorState::Success);
        assert_eq!(deleted(["deleting"]), AcceptorState::Retry);
        assert_eq!(deleted(["modifying"]), AcceptorState::Failure);
    }
}
