//! Executes a plan: a concurrent walk of the change graph.
//!
//! One coordinator owns the state document and is its only writer; tasks make the calls. A
//! change runs as a sequence of phases. Call phases (create, update, delete) hold a slot of
//! their service for the length of the API call; wait phases (AWS settling) hold none. Among
//! the changes whose call could start, the one with the longest remaining chain of expected
//! durations goes first.

use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use paystack_core::{
    Action, Change, Fields, Intent, Observed, Plan, Planned, Reference, ReplaceOrder, ResourceId, Spec, StateDocument,
};
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::events::{Event, Progress};
use crate::graph::ResourceGraph;
use crate::planner::{Inventory, decide, diff, resolve_partially};
use crate::reconciler::{Desired, ErrorClass, ReconcileError, Reconciler, Registry};

/// Persists the state document. The executor calls it after every change to AWS.
#[async_trait]
pub trait StateWriter: Send + Sync {
    /// Writes `doc` and advances its serial. An error stops the run: going on without a
    /// record of what was created is how duplicates are made.
    async fn write(&self, doc: &mut StateDocument) -> Result<(), String>;
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
    pub state_error: Option<String>,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Create,
    Update,
    Delete,
    WaitReady,
    WaitDeleted,
}

impl Phase {
    fn holds_slot(self) -> bool {
        matches!(self, Phase::Create | Phase::Update | Phase::Delete)
    }
}

fn phases(action: Action, pending: bool) -> VecDeque<Phase> {
    use Phase::*;
    VecDeque::from(match action {
        Action::NoOp if pending => vec![WaitReady],
        Action::NoOp => vec![],
        Action::Create => vec![Create, WaitReady],
        Action::Update => vec![Update, WaitReady],
        Action::Replace => vec![Delete, WaitDeleted, Create, WaitReady],
        Action::Delete => vec![Delete, WaitDeleted],
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Blocked,
    Running,
    Done,
    Failed,
    Skipped,
    Interrupted,
}

/// Which part of its change a node carries. A replace is two nodes, in the order its kind's
/// [`ReplaceOrder`] gives. Created first, the new resource exists before anything that
/// referred to the old one moves, and the old one is deleted only after everything that
/// referred to it has moved or gone, so no reference points at nothing (AWS enforces this:
/// a NAT gateway keeps its subnet alive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Whole,
    ReplaceCreate,
    ReplaceDelete,
}

struct Node {
    /// Index of the change in the plan; a replace has two nodes with the same index.
    change_index: usize,
    part: Part,
    /// The later node of a replace's two.
    second_half: bool,
    change: Change,
    spec: Option<Spec>,
    reconciler: Arc<dyn Reconciler>,
    /// Resources it refers to, recorded in state for destroy ordering.
    depends_on: Vec<ResourceId>,
    current: Option<Observed>,
    desired: Option<Desired>,
    phases: VecDeque<Phase>,
    preds_left: usize,
    succs: Vec<usize>,
    priority: Duration,
    attempts: u32,
    started: Option<Instant>,
    status: Status,
    outcome: Option<Outcome>,
}

// One message per phase of a change: their size does not matter.
#[allow(clippy::large_enum_variant)]
enum Msg {
    PhaseDone { node: usize, phase: Phase, result: Result<Option<Observed>, ReconcileError> },
    Interrupted { node: usize },
    RetryNow { node: usize },
}

pub struct Executor<'a> {
    pub registry: &'a Registry,
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
    ) -> Result<ApplyReport, String> {
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

    fn build_nodes(
        &self,
        plan: &Plan,
        graph: &ResourceGraph,
        inventory: &Inventory,
        state: &StateDocument,
    ) -> Result<Vec<Node>, String> {
        let mut nodes = Vec::with_capacity(plan.changes.len());
        for (change_index, change) in plan.changes.iter().enumerate() {
            let reconciler = self
                .registry
                .get(&change.kind)
                .ok_or_else(|| format!("no reconciler for kind `{}` (resource `{}`)", change.kind, change.id))?
                .clone();
            let current = change.aws_id.as_deref().and_then(|aws_id| inventory.find(&change.kind, aws_id)).cloned();
            let spec_deps = graph.spec(&change.id).map(|s| s.dependencies()).unwrap_or_default();
            let recorded_deps = state.resources.get(&change.id).map(|r| r.depends_on.clone()).unwrap_or_default();
            let depends_on = if change.action == Action::Delete { recorded_deps } else { spec_deps };
            let pending = current.as_ref().is_some_and(|c| c.pending);
            const CREATE: (Part, Action) = (Part::ReplaceCreate, Action::Create);
            const DELETE: (Part, Action) = (Part::ReplaceDelete, Action::Delete);
            let parts: &[(Part, Action)] = match (change.action, reconciler.schema().replace_order) {
                (Action::Replace, ReplaceOrder::CreateBeforeDelete) => &[CREATE, DELETE],
                (Action::Replace, ReplaceOrder::DeleteBeforeCreate) => &[DELETE, CREATE],
                (action, _) => &[(Part::Whole, action)][..],
            };
            for (half, &(part, action)) in parts.iter().enumerate() {
                nodes.push(Node {
                    change_index,
                    part,
                    second_half: half == 1,
                    phases: phases(action, pending && part == Part::Whole),
                    change: change.clone(),
                    spec: graph.spec(&change.id).filter(|_| action != Action::Delete).cloned(),
                    reconciler: reconciler.clone(),
                    depends_on: depends_on.clone(),
                    current: current.clone().filter(|_| part != Part::ReplaceCreate),
                    desired: None,
                    preds_left: 0,
                    succs: Vec::new(),
                    priority: Duration::ZERO,
                    attempts: 0,
                    started: None,
                    status: Status::Blocked,
                    outcome: None,
                });
            }
        }

        let mut dag: DiGraph<usize, ()> = DiGraph::new();
        let idx: Vec<NodeIndex> = (0..nodes.len()).map(|i| dag.add_node(i)).collect();
        // The node that makes each desired resource exist, whose outputs dependents read.
        let mut provider: HashMap<&ResourceId, usize> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            if !n.removes() {
                provider.insert(&n.change.id, i);
            }
        }
        for (i, n) in nodes.iter().enumerate() {
            if n.second_half {
                dag.update_edge(idx[i - 1], idx[i], ());
            }
            // Creates and updates follow references forwards.
            if !n.removes() {
                for dep in &n.depends_on {
                    if let Some(&d) = provider.get(dep) {
                        dag.update_edge(idx[d], idx[i], ());
                    }
                }
            }
        }
        // A resource is removed only after everything that referred to it has moved to its
        // replacement (an update), been replaced (its old half deleted) or gone. A new half
        // refers to the new resource, not the old one, so it is not waited for.
        for (d, gone) in nodes.iter().enumerate().filter(|(_, n)| n.removes()) {
            if gone.part == Part::ReplaceDelete && !gone.second_half {
                // Replaced old-first: AWS lets it go while others still refer to it, so it
                // waits for none of them, only until everything its successor needs exists.
                // The gap is then as short as it can be, and nothing is deleted for a
                // successor that cannot be built.
                for dep in &gone.depends_on {
                    if let Some(&p) = provider.get(dep) {
                        dag.update_edge(idx[p], idx[d], ());
                    }
                }
                continue;
            }
            for (i, n) in nodes.iter().enumerate() {
                if n.change.id == gone.change.id || n.part == Part::ReplaceCreate {
                    continue;
                }
                let recorded =
                    state.resources.get(&n.change.id).is_some_and(|r| r.depends_on.contains(&gone.change.id));
                if n.depends_on.contains(&gone.change.id) || recorded {
                    dag.update_edge(idx[i], idx[d], ());
                }
            }
        }
        let order = toposort(&dag, None).map_err(|c| {
            format!("the changes cannot be ordered: `{}` is part of a cycle", nodes[dag[c.node_id()]].change.id)
        })?;

        for e in dag.raw_edges() {
            let (a, b) = (dag[e.source()], dag[e.target()]);
            nodes[a].succs.push(b);
            nodes[b].preds_left += 1;
        }
        // Remaining critical path: own expected duration plus the longest chain after it.
        for &n in order.iter().rev() {
            let i = dag[n];
            let own = expected(&nodes[i]);
            let tail = nodes[i].succs.iter().map(|&s| nodes[s].priority).max().unwrap_or_default();
            nodes[i].priority = own + tail;
        }
        Ok(nodes)
    }
}

impl Node {
    /// True for a node that takes a resource away: a delete, or the second half of a replace.
    fn removes(&self) -> bool {
        self.change.action == Action::Delete || self.part == Part::ReplaceDelete
    }
}

fn expected(n: &Node) -> Duration {
    let e = n.reconciler.schema().expected;
    match (n.part, n.change.action) {
        (Part::ReplaceDelete, _) | (_, Action::Delete) => e.delete,
        (Part::ReplaceCreate, _) | (_, Action::Create) => e.create,
        (_, Action::NoOp) => Duration::ZERO,
        (_, Action::Update | Action::Replace) => e.update,
    }
}

/// One outcome per change, from the outcomes of its nodes.
fn merge(nodes: Vec<Node>, changes: &[Change]) -> Vec<(Change, Outcome)> {
    let mut by_change: Vec<Vec<Outcome>> = vec![Vec::new(); changes.len()];
    for n in nodes {
        let outcome = n.outcome.unwrap_or(match n.status {
            Status::Running | Status::Interrupted => Outcome::Interrupted,
            _ => Outcome::NotStarted,
        });
        by_change[n.change_index].push(outcome);
    }
    changes
        .iter()
        .zip(by_change)
        .map(|(change, outcomes)| {
            let first = |pred: fn(&Outcome) -> bool| outcomes.iter().find(|o| pred(o)).cloned();
            let outcome = first(|o| matches!(o, Outcome::Failed(_)))
                .or_else(|| first(|o| matches!(o, Outcome::Skipped { .. })))
                .or_else(|| first(|o| matches!(o, Outcome::Interrupted)))
                // A replace whose new resource exists but whose old one was never deleted.
                .or_else(|| {
                    (outcomes.iter().any(|o| matches!(o, Outcome::Done(_))) && outcomes.contains(&Outcome::NotStarted))
                        .then_some(Outcome::Interrupted)
                })
                .unwrap_or_else(|| outcomes.into_iter().next().unwrap_or(Outcome::NotStarted));
            (change.clone(), outcome)
        })
        .collect()
}

/// True when state does not yet say what the inventory shows, even though the plan has no
/// change to make: a run stopped after a create reached AWS and before it was recorded, or a
/// recorded resource is gone. Applying such a plan makes no AWS call; it only records.
pub fn state_lags(plan: &Plan, inventory: &Inventory, state: &StateDocument) -> bool {
    let live: std::collections::HashSet<(&str, &str)> =
        inventory.resources.iter().map(|(_, o)| (o.id.as_str(), o.aws_id.as_str())).collect();
    !state.pending.is_empty()
        || state.resources.iter().any(|(id, r)| !live.contains(&(id.as_str(), r.aws_id.as_str())))
        || plan.changes.iter().any(|c| {
            c.action != Action::Delete
                && c.aws_id
                    .as_deref()
                    .is_some_and(|aws_id| state.resources.get(&c.id).map(|r| r.aws_id.as_str()) != Some(aws_id))
        })
}

fn adopt(state: &mut StateDocument, nodes: &[Node], inventory: &Inventory) {
    // The journal of a run that stopped mid-create: what its calls made carries the ownership
    // tags, so the inventory has it and it is adopted below; what they never made is in the
    // plan as a create again.
    for (id, intent) in std::mem::take(&mut state.pending) {
        let found = inventory.resources.iter().any(|(kind, o)| *kind == intent.kind && o.id == id);
        info!(resource = %id, found, "settling a create an earlier run started and did not record");
    }
    let live: std::collections::HashSet<(&str, &str)> =
        inventory.resources.iter().map(|(_, o)| (o.id.as_str(), o.aws_id.as_str())).collect();
    state.resources.retain(|id, r| live.contains(&(id.as_str(), r.aws_id.as_str())));
    for n in nodes {
        if n.change.action != Action::Delete
            && let Some(current) = &n.current
        {
            // What paystack last set stays recorded for a resource it leaves alone: a field
            // another owner moved (auto-scaling's desired count) is told apart by it.
            let mut current = current.clone();
            if n.change.action == Action::NoOp
                && let Some(r) = state.resources.get(&n.change.id)
                && r.aws_id == current.aws_id
            {
                current.attributes = r.attributes.clone();
            }
            state.record(&n.change.kind, &n.change.name, &current, n.depends_on.clone());
        }
    }
}

struct Run<'r, 'e> {
    nodes: &'r mut Vec<Node>,
    state: &'r mut StateDocument,
    exec: &'r Executor<'e>,
    /// Changes whose next phase is an API call, by remaining critical path.
    ready: BinaryHeap<(Duration, std::cmp::Reverse<usize>)>,
    in_flight: HashMap<&'static str, usize>,
    running: usize,
    stopping: bool,
    state_error: Option<String>,
    /// Outputs of settled resources, for resolving the references of their dependents.
    outputs: HashMap<ResourceId, Fields>,
}

impl Run<'_, '_> {
    /// Runs until nothing more can run. Returns whether the run was cancelled.
    async fn drive(&mut self, cancel: CancellationToken) -> bool {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut cancelled = false;
        for i in 0..self.nodes.len() {
            // A change with no dependencies may already have been started by a no-op before
            // it that finished at once.
            if self.nodes[i].preds_left == 0 && self.nodes[i].status == Status::Blocked {
                self.start(i, &tx, &cancel);
            }
        }
        loop {
            self.dispatch(&tx).await;
            if self.running == 0 {
                break;
            }
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { break };
                    self.handle(msg, &tx, &cancel).await;
                }
                () = cancel.cancelled(), if !cancelled => {
                    cancelled = true;
                    self.stopping = true;
                }
            }
        }
        // The last task may have reported its interruption before the loop saw the token.
        cancelled || cancel.is_cancelled()
    }

    fn start(&mut self, i: usize, tx: &mpsc::UnboundedSender<Msg>, cancel: &CancellationToken) {
        // A replace is timed from the start of its first half.
        let started = if self.nodes[i].second_half { self.nodes[i - 1].started } else { None };
        let node = &mut self.nodes[i];
        node.status = Status::Running;
        node.started = started.or_else(|| Some(Instant::now()));
        if node.change.action.is_change() && !node.second_half {
            self.exec.progress.event(Event::Started { id: node.change.id.clone(), action: node.change.action });
        }
        self.advance(i, tx, cancel);
    }

    /// Moves a change on to its next phase, or finishes it.
    fn advance(&mut self, i: usize, tx: &mpsc::UnboundedSender<Msg>, cancel: &CancellationToken) {
        let Some(&phase) = self.nodes[i].phases.front() else {
            return self.finish(i, tx, cancel);
        };
        if phase.holds_slot() {
            if let Err(e) = self.prepare(i, phase) {
                return self.fail(i, e.to_string());
            }
            let n = &self.nodes[i];
            if n.phases.front() != Some(&phase) {
                // Preparing found nothing left to do for this phase.
                return self.advance(i, tx, cancel);
            }
            self.ready.push((n.priority, std::cmp::Reverse(i)));
        } else {
            self.spawn_wait(i, phase, tx, cancel);
        }
    }

    /// Resolves the desired fields now that every dependency has settled, and checks that
    /// the change is still what the approved plan said.
    fn prepare(&mut self, i: usize, phase: Phase) -> Result<(), ReconcileError> {
        if !matches!(phase, Phase::Create | Phase::Update) || self.nodes[i].desired.is_some() {
            return Ok(());
        }
        let node = &self.nodes[i];
        let spec = node
            .spec
            .as_ref()
            .ok_or_else(|| ReconcileError::permanent(format!("`{}` has no spec to apply", node.change.id)))?;
        let outputs = &self.outputs;
        let resolved = resolve_partially(spec, &|r: &Reference| outputs.get(&r.resource)?.get(&r.output).cloned());
        let mut fields = Fields::new();
        for (field, value) in &resolved {
            let Planned::Known(v) = value else {
                return Err(ReconcileError::permanent(format!(
                    "`{}`: field `{field}` refers to an output that its resource did not produce",
                    spec.id
                )));
            };
            fields.insert(field.clone(), v.clone());
        }
        let nothing_to_update = phase == Phase::Update && {
            let now = decide(spec, &resolved, node.current.as_ref(), Some(node.reconciler.schema()), None);
            match now.action {
                Action::NoOp => true,
                Action::Update => false,
                _ => {
                    return Err(ReconcileError::permanent(format!(
                        "`{}` now needs to be replaced ({}), which the approved plan did not show; run plan again",
                        spec.id,
                        now.reason.unwrap_or_default()
                    )));
                }
            }
        };
        let desired = Desired { id: spec.id.clone(), name: spec.name.clone(), fields };
        let node = &mut self.nodes[i];
        if nothing_to_update {
            // What the plan could not know yet turned out to match: nothing to call.
            node.phases.retain(|p| *p != Phase::Update);
            if !node.current.as_ref().is_some_and(|c| c.pending) {
                node.phases.retain(|p| *p != Phase::WaitReady);
            }
        }
        node.desired = Some(desired);
        Ok(())
    }

    fn spawn_wait(&mut self, i: usize, phase: Phase, tx: &mpsc::UnboundedSender<Msg>, cancel: &CancellationToken) {
        let node = &self.nodes[i];
        let Some(current) = node.current.clone() else {
            // Nothing was created (an update found nothing to do): nothing to wait for.
            self.nodes[i].phases.pop_front();
            return self.advance(i, tx, cancel);
        };
        if node.change.action.is_change() {
            self.exec.progress.event(Event::Waiting { id: node.change.id.clone() });
        }
        let reconciler = node.reconciler.clone();
        let (tx, cancel) = (tx.clone(), cancel.clone());
        let span = info_span!("wait", resource = %node.change.id, ?phase);
        self.running += 1;
        tokio::spawn(
            async move {
                let work = async {
                    match phase {
                        Phase::WaitReady => reconciler.wait_ready(current).await.map(Some),
                        _ => reconciler.wait_deleted(&current).await.map(|()| None),
                    }
                };
                // Waiting is a safe point to stop at: the resource is already recorded, and
                // the next run waits for it again.
                let msg = tokio::select! {
                    result = work => Msg::PhaseDone { node: i, phase, result },
                    () = cancel.cancelled() => Msg::Interrupted { node: i },
                };
                let _ = tx.send(msg);
            }
            .instrument(span),
        );
    }

    /// Starts the API calls that have a free slot, most critical first. The creates among
    /// them are first written to the state's journal, in one write, so that a crash during
    /// the call leaves a record of what to look for.
    async fn dispatch(&mut self, tx: &mpsc::UnboundedSender<Msg>) {
        if self.stopping {
            return;
        }
        let mut deferred = Vec::new();
        let mut starting = Vec::new();
        while let Some((prio, std::cmp::Reverse(i))) = self.ready.pop() {
            let service = self.nodes[i].reconciler.schema().service;
            let limit =
                self.exec.options.service_slots.get(service).copied().unwrap_or(self.exec.options.default_slots).max(1);
            let used = self.in_flight.entry(service).or_default();
            if *used >= limit {
                deferred.push((prio, std::cmp::Reverse(i)));
                continue;
            }
            *used += 1;
            starting.push(i);
        }
        self.ready.extend(deferred);

        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut journaled = false;
        for &i in &starting {
            let node = &self.nodes[i];
            if node.phases.front() == Some(&Phase::Create) {
                let intent = Intent { kind: node.change.kind.clone(), name: node.change.name.clone(), started: now };
                self.state.pending.insert(node.change.id.clone(), intent);
                journaled = true;
            }
        }
        if journaled && let Err(e) = self.exec.writer.write(self.state).await {
            warn!(error = %e, "state write failed; stopping before the creates it announced");
            self.state_error = Some(e);
            self.stopping = true;
            for i in starting {
                let service = self.nodes[i].reconciler.schema().service;
                if let Some(used) = self.in_flight.get_mut(service) {
                    *used = used.saturating_sub(1);
                }
                self.nodes[i].status = Status::Interrupted;
            }
            return;
        }
        for i in starting {
            self.spawn_call(i, tx);
        }
    }

    fn spawn_call(&mut self, i: usize, tx: &mpsc::UnboundedSender<Msg>) {
        let node = &self.nodes[i];
        let Some(&phase) = node.phases.front() else { return };
        let reconciler = node.reconciler.clone();
        let desired = node.desired.clone();
        let current = node.current.clone();
        let changes = match (&desired, &current) {
            (Some(d), Some(c)) => {
                let wanted = d.fields.iter().map(|(k, v)| (k.clone(), Planned::Known(v.clone()))).collect();
                diff(&wanted, &c.attributes, Some(reconciler.schema()))
            }
            _ => Vec::new(),
        };
        let tx = tx.clone();
        let span = info_span!("call", resource = %node.change.id, kind = %node.change.kind, ?phase);
        self.running += 1;
        tokio::spawn(
            async move {
                let result = match (phase, desired, current) {
                    (Phase::Create, Some(d), _) => reconciler.create(&d).await.map(Some),
                    (Phase::Update, Some(d), Some(c)) => reconciler.update(&d, &c, &changes).await.map(Some),
                    (Phase::Delete, _, Some(c)) => reconciler.delete(&c).await.map(|()| None),
                    (phase, ..) => Err(ReconcileError::permanent(format!("internal: {phase:?} without its inputs"))),
                };
                debug!(ok = result.is_ok(), "call finished");
                let _ = tx.send(Msg::PhaseDone { node: i, phase, result });
            }
            .instrument(span),
        );
    }

    async fn handle(&mut self, msg: Msg, tx: &mpsc::UnboundedSender<Msg>, cancel: &CancellationToken) {
        self.running -= 1;
        match msg {
            Msg::RetryNow { node } => self.advance(node, tx, cancel),
            Msg::Interrupted { node } => {
                self.nodes[node].status = Status::Interrupted;
            }
            Msg::PhaseDone { node: i, phase, result } => {
                if phase.holds_slot() {
                    let service = self.nodes[i].reconciler.schema().service;
                    if let Some(used) = self.in_flight.get_mut(service) {
                        *used = used.saturating_sub(1);
                    }
                }
                match result {
                    Ok(observed) => {
                        self.nodes[i].phases.pop_front();
                        self.nodes[i].attempts = 0;
                        self.settle_phase(i, phase, observed).await;
                        if self.state_error.is_some() {
                            self.stopping = true;
                            self.nodes[i].status = Status::Interrupted;
                        } else if self.stopping && self.nodes[i].phases.front().is_some_and(|p| p.holds_slot()) {
                            // Cancelled between two calls of one change (a replace): stop here.
                            self.nodes[i].status = Status::Interrupted;
                        } else {
                            self.advance(i, tx, cancel);
                        }
                    }
                    Err(e) => self.retry_or_fail(i, e, tx),
                }
            }
        }
    }

    /// Records what a finished phase changed, and writes state if AWS changed.
    async fn settle_phase(&mut self, i: usize, phase: Phase, observed: Option<Observed>) {
        let node = &mut self.nodes[i];
        match phase {
            Phase::Create | Phase::Update | Phase::WaitReady => {
                if let Some(o) = observed {
                    node.current = Some(o);
                }
                if let Some(current) = &node.current {
                    self.state.record(&node.change.kind, &node.change.name, current, node.depends_on.clone());
                }
            }
            Phase::Delete => {
                // A replaced resource's record is rewritten by its create; a deleted one goes.
                let removed = self
                    .state
                    .resources
                    .get(&node.change.id)
                    .is_some_and(|r| Some(r.aws_id.as_str()) == node.current.as_ref().map(|c| c.aws_id.as_str()));
                if removed {
                    self.state.resources.remove(&node.change.id);
                }
            }
            Phase::WaitDeleted => {
                node.current = None;
                return;
            }
        }
        if let Err(e) = self.exec.writer.write(self.state).await {
            warn!(error = %e, "state write failed; stopping");
            self.state_error = Some(e);
        }
    }

    fn retry_or_fail(&mut self, i: usize, e: ReconcileError, tx: &mpsc::UnboundedSender<Msg>) {
        let node = &mut self.nodes[i];
        node.attempts += 1;
        if e.class == ErrorClass::Retryable && node.attempts < self.exec.options.max_attempts && !self.stopping {
            self.exec.progress.event(Event::Retrying {
                id: node.change.id.clone(),
                attempt: node.attempts,
                error: e.message,
            });
            let delay = self.exec.options.retry_delay * 2u32.pow(node.attempts - 1);
            let tx = tx.clone();
            self.running += 1;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(Msg::RetryNow { node: i });
            });
        } else {
            self.fail(i, e.message);
        }
    }

    fn fail(&mut self, i: usize, error: String) {
        let id = self.nodes[i].change.id.clone();
        self.exec.progress.event(Event::Failed { id: id.clone(), error: error.clone() });
        self.nodes[i].status = Status::Failed;
        self.nodes[i].outcome = Some(Outcome::Failed(error));
        // Everything downstream is skipped; independent branches go on.
        let mut stack = self.nodes[i].succs.clone();
        while let Some(s) = stack.pop() {
            if self.nodes[s].status == Status::Blocked {
                self.nodes[s].status = Status::Skipped;
                self.nodes[s].outcome = Some(Outcome::Skipped { because: id.clone() });
                // The second half of a replace is news only if its first half was done;
                // otherwise the change's own failure or skip has been reported already.
                let unstarted_half = self.nodes[s].second_half && self.nodes[s - 1].status != Status::Done;
                if !unstarted_half {
                    self.exec
                        .progress
                        .event(Event::Skipped { id: self.nodes[s].change.id.clone(), because: id.clone() });
                }
                stack.extend(self.nodes[s].succs.iter().copied());
            }
        }
    }

    fn finish(&mut self, i: usize, tx: &mpsc::UnboundedSender<Msg>, cancel: &CancellationToken) {
        let node = &mut self.nodes[i];
        node.status = Status::Done;
        node.outcome = Some(Outcome::Done(node.change.action));
        if let Some(current) = &node.current {
            self.outputs.insert(node.change.id.clone(), current.outputs.clone());
        }
        let first_half = node.part != Part::Whole && !node.second_half;
        if node.change.action.is_change() && !first_half {
            let elapsed = node.started.map(|s| s.elapsed()).unwrap_or_default();
            self.exec.progress.event(Event::Finished {
                id: node.change.id.clone(),
                action: node.change.action,
                elapsed,
            });
        }
        let succs = node.succs.clone();
        for s in succs {
            let succ = &mut self.nodes[s];
            succ.preds_left -= 1;
            if succ.preds_left == 0 && succ.status == Status::Blocked && !self.stopping {
                self.start(s, tx, cancel);
            }
        }
    }
}
