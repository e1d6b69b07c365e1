//! The platform: what one environment contains, as code. [`blueprint`] turns a validated
//! environment into resource specs; [`kinds`] holds the contract of each resource kind (its
//! fields, which of them force replacement, how long it takes); [`outputs`] derives the
//! environment's outputs from state.
//!
//! The structure is identical for every environment; only values from configuration differ.
//! No AWS crate is used here, so the graph of any environment can be built and inspected
//! without one.

pub mod blueprint;
pub mod bootstrap;
pub mod kinds;
mod latency;
pub mod watch;

/// Typical AWS durations of each operation, by latency-table row (`aws-latency.toml`).
pub use latency::expected as expected_durations;

pub use blueprint::{
    Blueprint, BlueprintError, FunctionPackage, GATEWAY_TAG, Gateway, GatewayError, Lookups, TransitLookup, blueprint,
    gateway, home, is_global, network_placement, placements, primary_placement, reads, required_tags,
};
