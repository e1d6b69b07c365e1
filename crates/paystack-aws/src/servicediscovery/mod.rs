//! Cloud Map: the environment's private DNS namespace and the services' discovery services.
//!
//! Cloud Map reports neither kind's tags in its listings, and names neither by the stack (a
//! discovery service is named as the service it finds), so each listed one's tags are read
//! to prove ownership.

use aws_sdk_servicediscovery as sd;
use paystack_engine::ReconcileError;
use sd::types::Tag;

use crate::error::unless_gone_since;
use crate::owned::TagMap;

pub(crate) mod namespace;
pub(crate) mod service;

fn cloud_map_tags(tags: TagMap) -> Result<Vec<Tag>, ReconcileError> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ReconcileError::permanent(e.to_string())))
        .collect()
}

/// The tags of `arn`, or `None` if it went since it was listed.
async fn tags_of(client: &sd::Client, arn: &str) -> Result<Option<TagMap>, ReconcileError> {
    let listed = client.list_tags_for_resource().resource_arn(arn).send().await;
    let Some(listed) = unless_gone_since("ListTagsForResource", listed, |e| e.is_resource_not_found_exception())?
    else {
        return Ok(None);
    };
    Ok(Some(listed.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()))
}

// Cloud Map tags a resource by its ARN.
crate::tagging::tag_resource_api!(sd::Client, resource_arn, |tags| cloud_map_tags(tags)?);
