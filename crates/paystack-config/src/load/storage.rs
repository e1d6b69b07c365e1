//! `[sessions]`, `[artifacts]` and `[access_logs]`: the DynamoDB sessions table's settings,
//! the S3 artifacts bucket's lifecycle, and how long the access logs are kept.

use serde::Deserialize;
use toml::Spanned;

use super::Checker;
use super::Located;
use crate::model::{AccessLogs, Artifacts, CapacityRange, Sessions, SessionsCapacity};

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSessions {
    ttl: Option<Spanned<bool>>,
    ttl_attribute: Option<Spanned<String>>,
    point_in_time_recovery: Option<Spanned<bool>>,
    billing_mode: Option<Spanned<String>>,
    read_capacity: Option<Spanned<RawCapacity>>,
    write_capacity: Option<Spanned<RawCapacity>>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCapacity {
    min: i64,
    max: i64,
    target_percent: f64,
}

/// The most capacity units DynamoDB gives a table by default, per direction.
const MAX_CAPACITY_UNITS: i64 = 40_000;

/// The longest attribute name DynamoDB takes.
const MAX_ATTRIBUTE_LEN: usize = 255;

/// The sessions table's settings, each from the environment's file, else `shared.toml`,
/// else its default: time to live on `expires_at`, and point-in-time recovery on.
pub(super) fn sessions(c: &mut Checker<'_>, mut env: RawSessions, mut shared: RawSessions) -> Option<Sessions> {
    let ttl = c.pick_optional(env.ttl.take(), shared.ttl.take()).is_none_or(|t| t.value);
    let attribute = c.pick_optional(env.ttl_attribute.take(), shared.ttl_attribute.take());
    let pitr = c
        .pick_optional(env.point_in_time_recovery.take(), shared.point_in_time_recovery.take())
        .is_none_or(|p| p.value);
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
    let capacity = capacity(c, env, shared)?;
    Some(Sessions { ttl_attribute: ttl.then_some(ttl_attribute), point_in_time_recovery: pitr, capacity })
}

/// `billing_mode` (`on_demand`, the default, or `provisioned`) and, for a provisioned table
/// only, both capacity ranges.
fn capacity(c: &mut Checker<'_>, env: RawSessions, shared: RawSessions) -> Option<SessionsCapacity> {
    let mode = c.pick_optional(env.billing_mode, shared.billing_mode);
    let read = c.pick_optional(env.read_capacity, shared.read_capacity);
    let write = c.pick_optional(env.write_capacity, shared.write_capacity);
    match mode.as_ref().map(|m| m.value.as_str()) {
        None | Some("on_demand") => {
            if let Some(range) = read.as_ref().or(write.as_ref()) {
                c.fail(
                    &range.at,
                    "a capacity range is set, but the sessions table is on demand",
                    "set `billing_mode = \"provisioned\"` in [sessions], or remove read_capacity and write_capacity",
                );
                return None;
            }
            Some(SessionsCapacity::OnDemand)
        }
        Some("provisioned") => {
            let at = mode.as_ref().map(|m| m.at.clone())?;
            let (Some(read), Some(write)) = (read, write) else {
                c.fail(
                    &at,
                    "a provisioned sessions table needs `read_capacity` and `write_capacity`",
                    "add, in [sessions], read_capacity = { min = 5, max = 100, target_percent = 70 } and the same for write_capacity",
                );
                return None;
            };
            let read = range(c, "read_capacity", read);
            let write = range(c, "write_capacity", write);
            Some(SessionsCapacity::Provisioned { read: read?, write: write? })
        }
        Some(other) => {
            c.fail(
                &mode.as_ref()?.at,
                format!("`sessions.billing_mode` = `{other}` is not a billing mode"),
                "use `on_demand` (pay per request) or `provisioned` (with read_capacity and write_capacity)",
            );
            None
        }
    }
}

fn range(c: &mut Checker<'_>, key: &str, raw: Located<RawCapacity>) -> Option<CapacityRange> {
    let RawCapacity { min, max, target_percent } = raw.value;
    if !(1..=MAX_CAPACITY_UNITS).contains(&min) || !(min..=MAX_CAPACITY_UNITS).contains(&max) {
        c.fail(
            &raw.at,
            format!("`sessions.{key}` = {min}..{max} is not a capacity range"),
            format!("use 1 <= min <= max <= {MAX_CAPACITY_UNITS} capacity units"),
        );
        return None;
    }
    // Application Auto Scaling keeps DynamoDB's utilisation between 20 and 90 per cent.
    if !(20.0..=90.0).contains(&target_percent) {
        c.fail(
            &raw.at,
            format!("`sessions.{key}.target_percent` = {target_percent} is outside 20 to 90"),
            "DynamoDB's target tracking keeps utilisation between 20 and 90 per cent, such as 70",
        );
        return None;
    }
    Some(CapacityRange { min: u32::try_from(min).ok()?, max: u32::try_from(max).ok()?, target_percent })
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

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccessLogs {
    expiration_days: Option<Spanned<i64>>,
}

/// Access logs are kept 90 days unless configured: PCI DSS asks for 12 months of audit
/// history, three of them at hand, which production's configuration sets.
const DEFAULT_ACCESS_LOG_DAYS: u32 = 90;

/// How long the access-log bucket keeps what it holds: from the environment's file, else
/// `shared.toml`, else 90 days; at least one day, as S3 expires nothing sooner.
pub(super) fn access_logs(c: &mut Checker<'_>, env: RawAccessLogs, shared: RawAccessLogs) -> Option<AccessLogs> {
    let Some(days) = c.pick_optional(env.expiration_days, shared.expiration_days) else {
        return Some(AccessLogs { expiration_days: DEFAULT_ACCESS_LOG_DAYS });
    };
    match u32::try_from(days.value) {
        Ok(d) if (1..=MAX_LIFECYCLE_DAYS).contains(&d) => Some(AccessLogs { expiration_days: d }),
        _ => {
            c.fail(
                &days.at,
                format!("`access_logs.expiration_days` = {} is out of range", days.value),
                format!("keep access logs at least 1 day and at most {MAX_LIFECYCLE_DAYS}"),
            );
            None
        }
    }
}
