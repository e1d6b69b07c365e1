//! The alerting layer: the environment's SNS topic, with the email subscriptions from
//! configuration.

use super::storage::Storage;
use super::{BlueprintError, Builder};
use crate::kinds::{Handle, Topic};

/// What the other layers build on.
pub(super) struct Alerts {
    pub(super) topic: Handle<Topic>,
}

pub(super) fn alerts(b: &mut Builder<'_>, storage: &Storage) -> Result<Alerts, BlueprintError> {
    let emails = b.env.alerts.emails.clone();
    let topic = b.add("alerts.topic", ("alerts", "topic"), |n| Topic {
        name: n.name,
        subscriptions: emails,
        kms_master_key_id: storage.key.arn(),
        tags: n.tags,
    })?;
    Ok(Alerts { topic })
}
