//! The vocabulary of paystack: resource ids, desired specs with references, observed
//! resources, plans with field-level changes, the state document and the naming rules.
//!
//! This crate is plain data. It does no IO and depends on no async runtime, no AWS crate and
//! no CLI crate, so every other crate can speak it and its tests build in seconds.
//! Invariant: nothing here can hold a secret value; specs carry references, not secrets.

pub mod input;
pub mod naming;
pub mod observed;
pub mod placement;
pub mod plan;
pub mod spec;
pub mod stack;
pub mod state;

pub use input::Input;
pub use observed::{Observed, RECOVERY_WINDOW_DAYS};
pub use placement::Placement;
pub use plan::{Action, Change, FieldChange, Plan, Planned};
pub use spec::{Expr, Fields, Kind, KindSchema, Reference, ReplaceOrder, ResourceId, Spec};
pub use stack::Stack;
pub use state::{Intent, ResourceRecord, ScheduledDeletion, StateDocument};
