//! RDS resource kinds (Aurora PostgreSQL), and what they share: tags and ownership.
//!
//! RDS returns tags with clusters and instances, but not with subnet or parameter groups:
//! those are listed, then their tags are read one group at a time.

pub(crate) mod cluster;
pub(crate) mod cluster_parameter_group;
pub(crate) mod instance;
pub(crate) mod subnet_group;

use aws_sdk_rds as rds;
use paystack_core::Observed;
use paystack_engine::{Desired, ReconcileError};
use rds::error::ProvideErrorMetadata;
use rds::types::Tag;

use crate::error::{classify, unless_gone_since};
use crate::owned::{TagMap, desired_tags, tag_changes};

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

/// Makes the resource's tags equal to the desired ones.
pub(crate) async fn sync_tags(
    client: &rds::Client,
    arn: &str,
    desired: &Desired,
    current: &Observed,
) -> Result<(), ReconcileError> {
    let (set, unset) = tag_changes(desired, current);
    if !set.is_empty() {
        let tags = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        client
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify("AddTagsToResource", e))?;
    }
    if !unset.is_empty() {
        client
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(unset))
            .send()
            .await
            .map_err(|e| classify("RemoveTagsFromResource", e))?;
    }
    Ok(())
}
