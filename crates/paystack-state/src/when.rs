//! Times in lock messages: the local time a run started, and how long ago.

use std::sync::OnceLock;

use time::{OffsetDateTime, UtcOffset};

static LOCAL: OnceLock<UtcOffset> = OnceLock::new();

/// Sets the offset lock messages show times in. Call it once, before any thread starts: the
/// operating system's offset can only be read safely then. Without it, times are UTC.
pub fn use_local_offset() {
    let _ = LOCAL.set(UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC));
}

/// Seconds since the Unix epoch as a local date and time with its offset
/// (`2026-12-02 09:41:07 +01:00`).
pub fn local(unix: u64) -> String {
    let offset = LOCAL.get().copied().unwrap_or(UtcOffset::UTC);
    let Ok(at) = OffsetDateTime::from_unix_timestamp(i64::try_from(unix).unwrap_or(i64::MAX)) else {
        return format!("at unix time {unix}");
    };
    let at = at.to_offset(offset);
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
    );
    at.format(&format).unwrap_or_else(|_| format!("at unix time {unix}"))
}

/// A duration in seconds, as a person says it: `42s`, `7m`, `3h 5m`, `2d 4h`.
pub fn age(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{m}m"),
        3600..86_400 => format!("{h}h {}m", m % 60),
        _ => format!("{d}d {}h", h % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_offset_is_read_once_and_kept() {
        use_local_offset();
        assert!(LOCAL.get().is_some(), "times are shown in the offset read at start");
    }

    #[test]
    fn times_read_as_a_date_and_an_age() {
        assert_eq!(local(1_764_668_467), "2025-12-02 09:41:07 +00:00");
        assert_eq!(age(42), "42s");
        assert_eq!(age(7 * 60 + 5), "7m");
        assert_eq!(age(3 * 3600 + 5 * 60), "3h 5m");
        assert_eq!(age(2 * 86_400 + 4 * 3600), "2d 4h");
    }
}
