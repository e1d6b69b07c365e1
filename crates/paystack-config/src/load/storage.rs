//! `[sessions]` and `[artifacts]`: the DynamoDB sessions table's settings and the S3
//! artifacts bucket's lifecycle.

use serde::Deserialize;
use toml::Spanned;

use super::Checker;
use super::Located;
use crate::model::{Artifacts, Sessions};

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

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArtifacts {
    infrequent_access_days: Option<Spanned<i64>>,
    glacier_ir_days: Option<Spanned<i64>>,
    noncurrent_expiration_days: Option<Spanned<i64>>,
}

/// The fewest days S3 lets an object stay in STANDARD before a lifecycle rule moves it to
/// STANDARD_IA.
const MIN_INFREQUENT_ACCESS_DAYS: u32 = 30;
const DEFAULT_INFREQUENT_ACCESS_DAYS: u32 = 30;
const DEFAULT_GLACIER_IR_DAYS: u32 = 90;
const DEFAULT_NONCURRENT_EXPIRATION_DAYS: u32 = 30;
/// A lifecycle day count past a hundred years is a typo.
const MAX_LIFECYCLE_DAYS: u32 = 36_500;

/// The artifacts bucket's lifecycle, each count from the environment's file, else
/// `shared.toml`, else its default: STANDARD_IA after 30 days, GLACIER_IR after 90, and
/// replaced versions kept 30 days. S3's own rules are checked here, before any call: STANDARD_IA no sooner
/// than 30 days, GLACIER_IR after it, and a noncurrent version kept at least a day.
pub(super) fn artifacts(c: &mut Checker<'_>, env: RawArtifacts, shared: RawArtifacts) -> Option<Artifacts> {
    let ia = c.pick_optional(env.infrequent_access_days, shared.infrequent_access_days);
    let glacier = c.pick_optional(env.glacier_ir_days, shared.glacier_ir_days);
    let noncurrent = c.pick_optional(env.noncurrent_expiration_days, shared.noncurrent_expiration_days);
    let days = |c: &mut Checker<'_>, l: &Located<i64>, key: &str, min: u32, help: &str| match u32::try_from(l.value) {
        Ok(d) if (min..=MAX_LIFECYCLE_DAYS).contains(&d) => Some(d),
        _ => {
            c.fail(
                &l.at,
                format!("`artifacts.{key}` = {} is out of range", l.value),
                format!("{help}; at most {MAX_LIFECYCLE_DAYS}"),
            );
            None
        }
    };
    let ia_days = match &ia {
        Some(l) => {
            let help = format!(
                "S3 moves an object to STANDARD_IA no sooner than {MIN_INFREQUENT_ACCESS_DAYS} days after it was written"
            );
            days(c, l, "infrequent_access_days", MIN_INFREQUENT_ACCESS_DAYS, &help)
        }
        None => Some(DEFAULT_INFREQUENT_ACCESS_DAYS),
    };
    let glacier_days = match &glacier {
        Some(l) => days(c, l, "glacier_ir_days", 1, "use a number of days"),
        None => Some(DEFAULT_GLACIER_IR_DAYS),
    };
    let noncurrent_days = match &noncurrent {
        Some(l) => days(c, l, "noncurrent_expiration_days", 1, "keep a replaced version at least 1 day"),
        None => Some(DEFAULT_NONCURRENT_EXPIRATION_DAYS),
    };
    if let (Some(ia_days), Some(glacier_days)) = (ia_days, glacier_days)
        && glacier_days <= ia_days
    {
        // Located at whichever of the two was set; one of them was, as the defaults agree.
        let at = glacier.as_ref().or(ia.as_ref())?;
        c.fail(
            &at.at,
            format!("`artifacts.glacier_ir_days` = {glacier_days} is not after `infrequent_access_days` = {ia_days}"),
            "an object moves to STANDARD_IA first, then to GLACIER_IR: make glacier_ir_days the larger, by 30 days or more since STANDARD_IA bills at least 30",
        );
        return None;
    }
    Some(Artifacts {
        infrequent_access_days: ia_days?,
        glacier_ir_days: glacier_days?,
        noncurrent_expiration_days: noncurrent_days?,
    })
}
