//! `[sessions]`: the DynamoDB sessions table's settings.

use serde::Deserialize;
use toml::Spanned;

use super::Checker;
use crate::model::Sessions;

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSessions {
    ttl: Option<Spanned<bool>>,
    ttl_attribute: Option<Spanned<String>>,
    point_in_time_recovery: Option<Spanned<bool>>,
}

/// The longest attribute name DynamoDB takes.
const MAX_ATTRIBUTE_LEN: usize = 255;

/// The sessions table's settings, each from the environment's file, else `shared.toml`,
/// else its default: time to live on `expires_at`, and point-in-time recovery on.
pub(super) fn sessions(c: &mut Checker<'_>, env: RawSessions, shared: RawSessions) -> Option<Sessions> {
    let ttl = c.pick_optional(env.ttl, shared.ttl).is_none_or(|t| t.value);
    let attribute = c.pick_optional(env.ttl_attribute, shared.ttl_attribute);
    let pitr = c.pick_optional(env.point_in_time_recovery, shared.point_in_time_recovery).is_none_or(|p| p.value);
    let ttl_attribute = match attribute {
        Some(a) if a.value.is_empty() || a.value.len() > MAX_ATTRIBUTE_LEN => {
            c.fail(
                &a.at,
                format!("`sessions.ttl_attribute` must be 1 to {MAX_ATTRIBUTE_LEN} characters"),
                "name the attribute that holds each session's expiry, such as `expires_at`",
            );
            return None;
        }
        Some(a) => a.value,
        None => "expires_at".to_owned(),
    };
    Some(Sessions { ttl_attribute: ttl.then_some(ttl_attribute), point_in_time_recovery: pitr })
}
