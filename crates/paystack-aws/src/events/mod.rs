//! EventBridge: the rules that invoke the compliance function, with their targets.

use aws_sdk_eventbridge as events;
use events::types::Tag;
use paystack_engine::ReconcileError;

use crate::owned::TagMap;

pub(crate) mod rule;

fn event_tags(tags: TagMap) -> Result<Vec<Tag>, ReconcileError> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ReconcileError::permanent(e.to_string())))
        .collect()
}

// EventBridge tags a rule by its ARN.
crate::tagging::tag_resource_api!(events::Client, resource_arn, |tags| event_tags(tags)?);
