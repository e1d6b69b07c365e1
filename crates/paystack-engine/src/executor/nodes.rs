//! The nodes of a run: one per change, two per replace, each a queue of phases.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use paystack_core::{
    Action, Change, KindSchema, Observed, Placement, Plan, ReplaceOrder, ResourceId, Spec, StateDocument,
};
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use super::{ExecError, Executor, Outcome};
use crate::graph::ResourceGraph;
use crate::planner::Inventory;
use crate::reconciler::{Desired, Reconciler};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Create,
    Update,
    Delete,
    WaitReady,
    WaitDeleted,
}

impl Phase {
    pub(super) fn holds_slot(self) -> bool {
        matches!(self, Phase::Create | Phase::Update | Phase::Delete)
    }
}

pub(super) fn phases(action: Action, pending: bool) -> VecDeque<Phase> {
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
pub(super) enum Status {
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
pub(super) enum Part {
    Whole,
    ReplaceCreate,
    ReplaceDelete,
}

pub(super) struct Node {
    /// Index of the change in the plan; a replace has two nodes with the same index.
    pub(super) change_index: usize,
    pub(super) part: Part,
    /// The later node of a replace's two.
    pub(super) second_half: bool,
    pub(super) change: Change,
    pub(super) spec: Option<Spec>,
    pub(super) reconciler: Arc<dyn Reconciler>,
    pub(super) schema: KindSchema,
    /// Where this node's calls go: the resource's placement, or for a removal where the
    /// resource was found (the old half of a move).
    pub(super) placement: Placement,
    /// Resources it refers to, recorded in state for destroy ordering.
    pub(super) depends_on: Vec<ResourceId>,
    pub(super) current: Option<Observed>,
    pub(super) desired: Option<Desired>,
    pub(super) phases: VecDeque<Phase>,
    pub(super) preds_left: usize,
    pub(super) succs: Vec<usize>,
    pub(super) priority: Duration,
    pub(super) attempts: u32,
    /// The "already exists" a create got, kept while it looks whether that is its own.
    pub(super) conflict: Option<crate::reconciler::ReconcileError>,
    pub(super) started: Option<Instant>,
    pub(super) status: Status,
    pub(super) outcome: Option<Outcome>,
}

impl Executor<'_> {
    pub(super) fn build_nodes(
        &self,
        plan: &Plan,
        graph: &ResourceGraph,
        inventory: &Inventory,
        state: &StateDocument,
    ) -> Result<Vec<Node>, ExecError> {
        let mut nodes = Vec::with_capacity(plan.changes.len());
        for (change_index, change) in plan.changes.iter().enumerate() {
            let current = change.aws_id.as_deref().and_then(|aws_id| inventory.find(&change.kind, aws_id)).cloned();
            let spec_deps = graph.spec(&change.id).map(|s| s.dependencies()).unwrap_or_default();
            let recorded_deps = state.resources.get(&change.id).map(|r| r.depends_on.clone()).unwrap_or_default();
            let depends_on = if change.action == Action::Delete { recorded_deps } else { spec_deps };
            let pending = current.as_ref().is_some_and(|c| c.pending);
            const CREATE: (Part, Action) = (Part::ReplaceCreate, Action::Create);
            const DELETE: (Part, Action) = (Part::ReplaceDelete, Action::Delete);
            let schema = self.registries.schema(&change.kind).ok_or_else(|| ExecError::NoReconciler {
                kind: change.kind.clone(),
                id: change.id.clone(),
                placement: change.placement.clone(),
            })?;
            let parts: &[(Part, Action)] = match (change.action, schema.replace_order) {
                (Action::Replace, ReplaceOrder::CreateBeforeDelete) => &[CREATE, DELETE],
                (Action::Replace, ReplaceOrder::DeleteBeforeCreate) => &[DELETE, CREATE],
                (action, _) => &[(Part::Whole, action)][..],
            };
            for (half, &(part, action)) in parts.iter().enumerate() {
                // What goes away is where it was found; what is made, where the spec places it.
                let removes = action == Action::Delete;
                let placement = match &current {
                    Some(c) if removes && c.placement != Placement::default() => c.placement.clone(),
                    _ => change.placement.clone(),
                };
                let registered =
                    self.registries.get(&change.kind, &placement).ok_or_else(|| ExecError::NoReconciler {
                        kind: change.kind.clone(),
                        id: change.id.clone(),
                        placement: placement.clone(),
                    })?;
                nodes.push(Node {
                    change_index,
                    part,
                    second_half: half == 1,
                    phases: phases(action, pending && part == Part::Whole),
                    change: change.clone(),
                    spec: graph.spec(&change.id).filter(|_| action != Action::Delete).cloned(),
                    reconciler: Arc::clone(&registered.reconciler),
                    schema: registered.schema.clone(),
                    placement,
                    depends_on: depends_on.clone(),
                    current: current.clone().filter(|_| part != Part::ReplaceCreate),
                    desired: None,
                    preds_left: 0,
                    succs: Vec::new(),
                    priority: Duration::ZERO,
                    attempts: 0,
                    conflict: None,
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
        let order = toposort(&dag, None).map_err(|c| ExecError::Cycle(nodes[dag[c.node_id()]].change.id.clone()))?;

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
    /// The bucket of call slots this node's calls take: its service, in its placement.
    pub(super) fn slot(&self) -> (&'static str, Placement) {
        (self.schema.service, self.placement.clone())
    }

    /// True for a node that takes a resource away: a delete, or the second half of a replace.
    pub(super) fn removes(&self) -> bool {
        self.change.action == Action::Delete || self.part == Part::ReplaceDelete
    }
}

pub(super) fn expected(n: &Node) -> Duration {
    let e = n.schema.expected;
    match (n.part, n.change.action) {
        (Part::ReplaceDelete, _) | (_, Action::Delete) => e.delete,
        (Part::ReplaceCreate, _) | (_, Action::Create) => e.create,
        (_, Action::NoOp) => Duration::ZERO,
        (_, Action::Update | Action::Replace) => e.update,
    }
}

/// One outcome per change, from the outcomes of its nodes.
pub(super) fn merge(nodes: Vec<Node>, changes: &[Change]) -> Vec<(Change, Outcome)> {
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
