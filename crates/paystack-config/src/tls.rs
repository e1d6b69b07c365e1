//! The security policies an Application Load Balancer's HTTPS listener can use, by the
//! oldest TLS version each accepts (AWS's "Security policies for your Application Load
//! Balancer"). Configuration is checked against this list before any AWS call.

use std::fmt;

/// The oldest protocol version a policy accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// TLS 1.2 or later: what PCI DSS (since 3.2) and AWS's own recommendation accept.
    pub fn is_current(self) -> bool {
        self >= TlsVersion::Tls12
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls10 => "TLS 1.0",
            TlsVersion::Tls11 => "TLS 1.1",
            TlsVersion::Tls12 => "TLS 1.2",
            TlsVersion::Tls13 => "TLS 1.3",
        })
    }
}

/// One of AWS's policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsPolicy {
    pub name: &'static str,
    pub minimum: TlsVersion,
}

/// TLS 1.3 and 1.2 with forward-secret ciphers only: AWS's recommended policy.
pub const DEFAULT_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

const fn p(name: &'static str, minimum: TlsVersion) -> TlsPolicy {
    TlsPolicy { name, minimum }
}

use TlsVersion::{Tls10, Tls11, Tls12, Tls13};

/// Every policy an Application Load Balancer accepts.
pub const POLICIES: &[TlsPolicy] = &[
    p("ELBSecurityPolicy-TLS13-1-3-2021-06", Tls13),
    p("ELBSecurityPolicy-TLS13-1-3-PQ-2025-09", Tls13),
    p("ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04", Tls13),
    p("ELBSecurityPolicy-TLS13-1-2-2021-06", Tls12),
    p("ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", Tls12),
    p("ELBSecurityPolicy-TLS13-1-2-Res-2021-06", Tls12),
    p("ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", Tls12),
    p("ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06", Tls12),
    p("ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09", Tls12),
    p("ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", Tls12),
    p("ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09", Tls12),
    p("ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", Tls12),
    p("ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04", Tls12),
    p("ELBSecurityPolicy-TLS13-1-1-2021-06", Tls11),
    p("ELBSecurityPolicy-TLS13-1-0-2021-06", Tls10),
    p("ELBSecurityPolicy-TLS13-1-0-PQ-2025-09", Tls10),
    p("ELBSecurityPolicy-FS-1-2-Res-2020-10", Tls12),
    p("ELBSecurityPolicy-FS-1-2-Res-2019-08", Tls12),
    p("ELBSecurityPolicy-FS-1-2-2019-08", Tls12),
    p("ELBSecurityPolicy-FS-1-1-2019-08", Tls11),
    p("ELBSecurityPolicy-FS-2018-06", Tls10),
    p("ELBSecurityPolicy-TLS-1-2-Ext-2018-06", Tls12),
    p("ELBSecurityPolicy-TLS-1-2-2017-01", Tls12),
    p("ELBSecurityPolicy-TLS-1-1-2017-01", Tls11),
    p("ELBSecurityPolicy-2016-08", Tls10),
    p("ELBSecurityPolicy-TLS-1-0-2015-04", Tls10),
    p("ELBSecurityPolicy-2015-05", Tls10),
];

/// The policy of that name, if AWS has one.
pub fn policy(name: &str) -> Option<TlsPolicy> {
    POLICIES.iter().copied().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_a_current_policy_and_names_are_unique() {
        assert!(policy(DEFAULT_POLICY).is_some_and(|p| p.minimum.is_current()));
        let mut names: Vec<_> = POLICIES.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), POLICIES.len());
        // AWS's default when a listener names none accepts TLS 1.0.
        assert!(!policy("ELBSecurityPolicy-2016-08").unwrap().minimum.is_current());
    }
}
