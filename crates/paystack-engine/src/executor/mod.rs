//! Executes a plan: a concurrent walk of the change graph.
//!
//! One coordinator owns the state document and is its only writer; tasks make the calls. A
//! change runs as a sequence of phases. Call phases (create, update, delete) hold a slot of
//! their service for the length of the API call; wait phases (AWS settling) hold none. Among
//! the changes whose call could start, the one with the longest remaining chain of expected
//! durations goes first.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use paystack_core::{Action, Change, Kind, Plan, ResourceId, StateDocument};
use tokio_util::sync::CancellationToken;

use crate::events::Progress;
use crate::graph::ResourceGraph;
use crate::planner::Inventory;
use crate::reconciler::{Registries, Scope};
use journal::adopt;
use nodes::merge;
use run::Run;

mod journal;
mod nodes;
mod run;

pub use journal::state_lags;

/// Persists the state document. The executor calls it after every change to AWS.
#[async_trait]
pub trait StateWriter: Send + Sync {
    /// Writes `doc` and advances its serial. An error stops the run: going on without a
    /// record of what was created is how duplicates are made.
    async fn write(&self, doc: &mut StateDocument) -> Result<(), StateWriteError>;
}

/// Why a state write failed. Each stops the run; they differ in what the user does next.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StateWriteError {
    /// This run no longer holds the stack's lock (taken over, or unlocked): it may not write.
    #[error("{0}")]
    LostLock(String),
    /// Someone else wrote the state since this run last read or wrote it.
    #[error("{0}")]
    Conflict(String),
    /// The write did not happen (the backend failed or could not be reached).
    #[error("{0}")]
    Failed(String),
}

/// A plan the executor cannot carry out at all; nothing was changed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExecError {
    #[error("no reconciler for kind `{kind}` in {placement} (resource `{id}`)")]
    NoReconciler { kind: Kind, id: ResourceId, placement: paystack_core::Placement },
    #[error("the changes cannot be ordered: `{0}` is part of a cycle")]
    Cycle(ResourceId),
}

#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// In-flight API calls allowed per service when `service_slots` does not name it.
    pub default_slots: usize,
    pub service_slots: BTreeMap<String, usize>,
    /// Attempts per call for errors classed retryable (the SDK has already retried
    /// throttling and transport errors by then).
    pub max_attempts: u32,
    pub retry_delay: Duration,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            default_slots: 8,
            service_slots: BTreeMap::from([("ec2".to_owned(), 16)]),
            max_attempts: 4,
            retry_delay: Duration::from_secs(2),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Done(Action),
    Failed(String),
    /// Not attempted because something it depends on failed.
    Skipped {
        because: ResourceId,
    },
    /// Started, then stopped at a safe point by cancellation; the next run picks it up.
    Interrupted,
    /// Never started: the run was cancelled or stopped first.
    NotStarted,
}

#[derive(Debug, Default)]
pub struct ApplyReport {
    pub outcomes: Vec<(Change, Outcome)>,
    /// Set when state could not be written; the run stopped launching work at that point.
    pub state_error: Option<StateWriteError>,
    pub cancelled: bool,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        self.state_error.is_none()
            && !self.cancelled
            && self.outcomes.iter().all(|(_, o)| matches!(o, Outcome::Done(_)))
    }

    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.iter().filter(|(_, o)| pred(o)).count()
    }
}

pub struct Executor<'a> {
    pub registries: &'a Registries,
    /// The stack the run works on: where a create that may have taken effect is looked for.
    pub scope: &'a Scope,
    pub options: ExecOptions,
    pub progress: &'a dyn Progress,
    pub writer: &'a dyn StateWriter,
}

impl Executor<'_> {
    /// Carries out `plan`. `inventory` is what the plan was made from; `graph` supplies the
    /// specs of what is created or updated. Returns when nothing more can run.
    pub async fn apply(
        &self,
        plan: &Plan,
        graph: &ResourceGraph,
        inventory: &Inventory,
        state: &mut StateDocument,
        cancel: CancellationToken,
    ) -> Result<ApplyReport, ExecError> {
        let mut nodes = self.build_nodes(plan, graph, inventory, state)?;
        // Bring state in line with what is live before the first call: adopt resources the
        // last run created but never recorded, forget records of resources that are gone.
        adopt(state, &nodes, inventory);
        if let Err(e) = self.writer.write(state).await {
            return Ok(ApplyReport { state_error: Some(e), ..ApplyReport::default() });
        }
        let mut run = Run {
            nodes: &mut nodes,
            state,
            exec: self,
            ready: BinaryHeap::new(),
            in_flight: HashMap::new(),
            running: 0,
            stopping: false,
            state_error: None,
            outputs: HashMap::new(),
        };
        let cancelled = run.drive(cancel).await;
        let state_error = run.state_error.take();
        let outcomes = merge(nodes, &plan.changes);
        Ok(ApplyReport { outcomes, state_error, cancelled })
    }
}
