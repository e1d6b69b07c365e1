//! Loads `config/`: `shared.toml` plus one file per environment that overrides only what
//! differs, into a validated, typed model.
//!
//! Every error names the file, the line and the fix. Validation is complete before anything
//! else runs: the CLI makes no AWS call until [`Config::load`] has succeeded. This crate does
//! no network IO and depends on no AWS crate.

mod cidr;
mod cost;
mod error;
mod load;
mod model;
pub mod tls;

pub use cidr::Ipv4Cidr;
pub use cost::{Assumption, CostAssumptions};
pub use error::{ConfigError, ConfigErrors, Location};
pub use load::{MANAGED_RULE_GROUPS, SHARED_FILE};
pub use model::{
    AccessLogs, Account, Alarms, Alerts, Artifacts, CapacityRange, Compliance, Config, Database, DbCapacity, Discovery,
    Dns, Drift, DriftSchedule, Environment, Iam, IgnoredField, LoadBalancer, Logs, Network, PLATFORM_PARAMETERS,
    Rotation, Security, Service, Sessions, SessionsCapacity, StateSettings, StateStore, Tags, TransitGateway, Waf,
    WafAction, WafRuleGroup, Waits, parameter_variable,
};

#[cfg(test)]
mod tests;
