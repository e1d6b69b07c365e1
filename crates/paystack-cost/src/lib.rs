//! What a stack costs a month, estimated from on-demand list prices: per resource, per
//! layer, and as the difference a plan makes.
//!
//! The prices are a data file in the repository (`prices/aws.csv`, [`PriceTable`]); the
//! usage AWS charges by (GB processed, requests) is the environment's `[cost]` assumptions.
//! An estimate is never a bill: it prices what the configuration asks for at the assumed
//! usage. This crate depends on no AWS crate: [`refresh`] says what to ask the Price
//! List API and reads its answers; `paystack-aws` makes the calls.

mod delta;
mod estimate;
pub mod prices;
mod pricing;
pub mod refresh;

pub use delta::{Delta, DeltaItem, delta};
pub use estimate::{Charge, Estimate, Line, MissingPrices, Resource, Status, estimate, estimate_specs};
pub use prices::{Day, Price, PriceErrors, PriceKey, PriceTable, RowError};

#[cfg(test)]
mod tests;
