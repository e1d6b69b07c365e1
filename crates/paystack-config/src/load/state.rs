//! `[state]`: the backend, its bucket and lock table, and the lock's lease.

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, Located};
use crate::model::{StateSettings, StateStore};

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    pub(super) backend: Option<Spanned<String>>,
    pub(super) bucket: Option<Spanned<String>>,
    pub(super) lock_table: Option<Spanned<String>>,
    pub(super) lock_lease_seconds: Option<Spanned<i64>>,
}

const DEFAULT_LOCK_LEASE_SECONDS: u64 = 30;

pub(super) fn state_settings(
    c: &mut Checker<'_>,
    backend: Option<Located<String>>,
    bucket: Option<Located<String>>,
    lock_table: Option<Located<String>>,
    lease: Option<Located<i64>>,
) -> Option<StateSettings> {
    let remote = match backend.as_ref().map(|b| b.value.as_str()) {
        None | Some("s3") => true,
        Some("local") => false,
        Some(other) => {
            let at = backend.as_ref().map(|b| b.at.clone())?;
            c.fail(
                &at,
                format!("`{other}` is not a state backend"),
                "use \"s3\" (S3 with DynamoDB locks) or \"local\" (files on this machine)",
            );
            return None;
        }
    };
    if let Some(b) = &bucket
        && !is_bucket_name(&b.value)
    {
        c.fail(
            &b.at,
            format!("`{}` is not a valid S3 bucket name", b.value),
            "use 3 to 63 lowercase letters, digits, hyphens or dots, starting and ending with a letter or digit",
        );
    }
    if let Some(t) = &lock_table
        && (!(3..=255).contains(&t.value.len())
            || !t.value.chars().all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch)))
    {
        c.fail(
            &t.at,
            format!("`{}` is not a valid DynamoDB table name", t.value),
            "use 3 to 255 letters, digits, underscores, hyphens or dots",
        );
    }
    let lock_lease = match &lease {
        None => DEFAULT_LOCK_LEASE_SECONDS,
        Some(l) => match u64::try_from(l.value) {
            Ok(secs @ 3..=3600) => secs,
            _ => {
                c.fail(
                    &l.at,
                    format!("`state.lock_lease_seconds` = {} is out of range", l.value),
                    "use 3 to 3600 seconds; the lock is renewed three times per lease while an operation runs",
                );
                return None;
            }
        },
    };
    let store = if remote {
        StateStore::S3 { bucket: bucket.map(|b| b.value), lock_table: lock_table.map(|t| t.value) }
    } else {
        for (key, set) in [("state.bucket", &bucket.map(|b| b.at)), ("state.lock_table", &lock_table.map(|t| t.at))] {
            if let Some(at) = set {
                c.fail(
                    at,
                    format!("`{key}` is set, but the state backend is \"local\""),
                    "remove it, or set `state.backend = \"s3\"`",
                );
            }
        }
        StateStore::Local
    };
    Some(StateSettings { backend: store, lock_lease: std::time::Duration::from_secs(lock_lease) })
}

fn is_bucket_name(s: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && edge(s.chars().next())
        && edge(s.chars().last())
        && !s.contains("..")
        && s.parse::<std::net::Ipv4Addr>().is_err()
}
