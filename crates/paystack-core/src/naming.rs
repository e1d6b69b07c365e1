//! Resource names: `{env}-{region}-{service}-{resource}`, then the stack suffix, shortened
//! deterministically where AWS caps the length.

/// Joins the parts of a resource name.
pub fn compose(env: &str, region: &str, service: &str, resource: &str, suffix: Option<&str>) -> String {
    let mut name = format!("{env}-{region}-{service}-{resource}");
    if let Some(suffix) = suffix {
        name.push('-');
        name.push_str(suffix);
    }
    name
}

/// Fits `name` into `max` characters. A name that fits is returned unchanged. A longer one
/// keeps its head and ends in a hash of the whole name, so the result is stable across runs
/// and two different long names do not collide.
pub fn fit(name: &str, max: usize) -> String {
    const HASH_LEN: usize = 8;
    if name.len() <= max {
        return name.to_owned();
    }
    let hash = format!("{:08x}", fnv1a(name.as_bytes()));
    let keep = max.saturating_sub(HASH_LEN + 1);
    let head = name[..keep].trim_end_matches('-');
    format!("{head}-{hash}")
}

/// True when `s` uses only the characters every AWS name accepts (lowercase letters, digits
/// and single inner hyphens), which is what environment names and suffixes must use.
pub fn is_portable(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Six hex digits that change whenever `s` does. A name that carries the hash of what forces
/// its resource's replacement never collides with the resource it replaces, since both live at
/// once while dependents move over.
pub fn short_hash(s: &str) -> String {
    format!("{:06x}", fnv1a(s.as_bytes()) & 0x00ff_ffff)
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_with_and_without_suffix() {
        assert_eq!(compose("dev", "us-east-1", "network", "vpc", None), "dev-us-east-1-network-vpc");
        assert_eq!(compose("dev", "us-east-1", "network", "vpc", Some("blue")), "dev-us-east-1-network-vpc-blue");
    }

    #[test]
    fn fit_is_deterministic_and_bounded() {
        let long = compose("staging", "ap-southeast-2", "payments-api", "alb", Some("feature7"));
        let a = fit(&long, 32);
        assert!(a.len() <= 32, "{a}");
        assert_eq!(a, fit(&long, 32));
        assert!(a.starts_with("staging-ap-southeast-2"));
        let other = compose("staging", "ap-southeast-2", "payments-api", "alb", Some("feature8"));
        assert_ne!(a, fit(&other, 32));
        assert_eq!(fit("short", 32), "short");
    }

    #[test]
    fn portable_names() {
        assert!(is_portable("blue-2"));
        assert!(!is_portable("Blue"));
        assert!(!is_portable("a_b"));
        assert!(!is_portable("-a"));
        assert!(!is_portable("a--b"));
        assert!(!is_portable(""));
    }
}
