//! The engine: builds the resource graph from specs, plans changes, and executes them
//! concurrently through reconcilers.
//!
//! It knows nothing about AWS. A resource kind is a [`Reconciler`] in a [`Registry`]; the
//! engine owns everything around the calls: ordering, concurrency slots per service, retries,
//! failure isolation, cancellation, progress events and the single writer of state.
//!
//! Invariants:
//! - dependency edges come only from references inside specs (and, for resources that have
//!   left the configuration, from what the state recorded);
//! - planning is pure: desired specs, recorded state and observed resources in, a plan out;
//! - state is written after every call that changes AWS, so a crash loses at most the call
//!   in flight, and that resource carries ownership tags to be adopted on the next run;
//! - waiting for AWS to settle holds no concurrency slot.

mod drift;
mod events;
mod executor;
mod fleet;
mod graph;
pub mod guard;
mod listings;
mod observe;
mod parity;
mod planner;
mod reconciler;
mod saved_plan;
pub mod target;

#[cfg(test)]
mod executor_tests;
#[cfg(test)]
mod testing;

pub use drift::{DriftKind, DriftReport, FieldDrift, Finding, Ignored, detect as detect_drift, yield_to_owners};
pub use events::{Event, Progress};
pub use executor::{ApplyReport, ExecError, ExecOptions, Executor, Outcome, StateWriteError, StateWriter, state_lags};
pub use fleet::{Checked, FieldOwner, Member, drift_fleet, drift_in};
pub use graph::{GraphError, ResourceGraph};
pub use observe::{ObserveError, observe_all};
pub use parity::{Configured, Difference, ParityReport, Side, Unexplained, compare as compare_parity};
pub use planner::{Inventory, plan, plan_destroy};
pub use reconciler::{Desired, ErrorClass, Owner, ReconcileError, Reconciler, Registered, Registries, Registry, Scope};
pub use saved_plan::{Origin, SavedPlan, SavedPlanError, StateVersion};
