//! `[cost]`: the usage the monthly cost estimate assumes where a price is charged per use
//! (GB processed, requests, hours). Each has a default; an environment's file or
//! `shared.toml` sets its own. The estimate prints each beside the figure it drives.

use std::fmt;

/// One assumption of the cost estimate, by its key in `[cost]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Assumption {
    HoursPerMonth,
    AuroraStorageGb,
    AuroraIoMillions,
    NatGbPerGateway,
    AlbLcus,
    LogGbPerGroup,
    SessionsReadMillions,
    SessionsWriteMillions,
    SessionsStorageGb,
    BucketStorageGb,
    ReplicatedGb,
    WafRequestMillions,
    TransitGb,
    DriftTaskMinutes,
}

impl Assumption {
    pub const ALL: [Assumption; 14] = [
        Assumption::HoursPerMonth,
        Assumption::AuroraStorageGb,
        Assumption::AuroraIoMillions,
        Assumption::NatGbPerGateway,
        Assumption::AlbLcus,
        Assumption::LogGbPerGroup,
        Assumption::SessionsReadMillions,
        Assumption::SessionsWriteMillions,
        Assumption::SessionsStorageGb,
        Assumption::BucketStorageGb,
        Assumption::ReplicatedGb,
        Assumption::WafRequestMillions,
        Assumption::TransitGb,
        Assumption::DriftTaskMinutes,
    ];

    /// Its key in `[cost]`, its default, and what it measures (the unit first).
    const fn facts(self) -> (&'static str, f64, &'static str) {
        match self {
            Assumption::HoursPerMonth => ("hours_per_month", 730.0, "hours in a month, as AWS bills them"),
            Assumption::AuroraStorageGb => ("aurora_storage_gb", 20.0, "GB the database cluster stores"),
            Assumption::AuroraIoMillions => ("aurora_io_millions", 5.0, "million I/O requests a month"),
            Assumption::NatGbPerGateway => ("nat_gb_per_gateway", 50.0, "GB each NAT gateway processes a month"),
            Assumption::AlbLcus => ("alb_lcus", 1.0, "load balancer capacity units, on average"),
            Assumption::LogGbPerGroup => ("log_gb_per_group", 1.0, "GB each log group takes in a month"),
            Assumption::SessionsReadMillions => ("sessions_read_millions", 10.0, "million session reads a month"),
            Assumption::SessionsWriteMillions => ("sessions_write_millions", 2.0, "million session writes a month"),
            Assumption::SessionsStorageGb => ("sessions_storage_gb", 1.0, "GB the sessions table holds"),
            Assumption::BucketStorageGb => ("bucket_storage_gb", 10.0, "GB each bucket holds"),
            Assumption::ReplicatedGb => ("replicated_gb", 5.0, "GB replicated to the replica region a month"),
            Assumption::WafRequestMillions => ("waf_request_millions", 5.0, "million requests the firewall inspects"),
            Assumption::TransitGb => ("transit_gb", 20.0, "GB through the Transit Gateway attachment a month"),
            Assumption::DriftTaskMinutes => ("drift_task_minutes", 2.0, "minutes each scheduled drift task runs"),
        }
    }

    pub const fn key(self) -> &'static str {
        self.facts().0
    }

    pub const fn default_value(self) -> f64 {
        self.facts().1
    }

    pub const fn meaning(self) -> &'static str {
        self.facts().2
    }

    /// The assumption `key` names, if any.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.key() == key)
    }

    /// The largest value that makes sense: a month has at most 744 hours; the rest are
    /// usage, capped only against a slip of the keyboard.
    pub(crate) const fn ceiling(self) -> f64 {
        match self {
            Assumption::HoursPerMonth => 744.0,
            Assumption::DriftTaskMinutes => 60.0,
            _ => 1.0e9,
        }
    }
}

impl fmt::Display for Assumption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cost.{}", self.key())
    }
}

/// Every assumption's value for one environment.
#[derive(Clone, Debug, PartialEq)]
pub struct CostAssumptions {
    values: [f64; Assumption::ALL.len()],
}

impl Default for CostAssumptions {
    fn default() -> Self {
        Self { values: Assumption::ALL.map(Assumption::default_value) }
    }
}

impl CostAssumptions {
    pub fn get(&self, a: Assumption) -> f64 {
        self.values[a as usize]
    }

    pub fn set(&mut self, a: Assumption, value: f64) {
        self.values[a as usize] = value;
    }

    /// The assumptions set to something other than their default.
    pub fn overridden(&self) -> impl Iterator<Item = (Assumption, f64)> + '_ {
        Assumption::ALL.into_iter().map(|a| (a, self.get(a))).filter(|(a, v)| *v != a.default_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_declaration_order_and_keys_are_unique() {
        for (i, a) in Assumption::ALL.into_iter().enumerate() {
            assert_eq!(a as usize, i, "{a} is out of order");
            assert_eq!(Assumption::from_key(a.key()), Some(a));
            assert!(a.default_value() >= 0.0 && a.default_value() <= a.ceiling());
        }
    }
}
