//! The scheduler: one coordinator that starts ready calls by critical path within their
//! service's slots, spawns waits that hold none, retries, and settles each phase into state.

use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use paystack_core::{
    Action, Fields, Intent, Observed, Placement, Planned, Reference, ResourceId, ScheduledDeletion, StateDocument,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use super::nodes::{Node, Part, Phase, Status};
use super::{Executor, Outcome, StateWriteError};
use crate::events::Event;
use crate::planner::{decide, diff, resolve_partially};
use crate::reconciler::{Desired, ErrorClass, ReconcileError, Reconciler, Scope};

// One message per phase of a change: their size does not matter.
#[allow(clippy::large_enum_variant)]
enum Msg {
    PhaseDone { node: usize, phase: Phase, result: Result<Option<Observed>, ReconcileError> },
    Interrupted { node: usize },
    RetryNow { node: usize },
}

pub(super) struct Run<'r, 'e> {
    pub(super) nodes: &'r mut Vec<Node>,
    pub(super) state: &'r mut StateDocument,
    pub(super) exec: &'r Executor<'e>,
    /// Changes whose next phase is an API call, by remaining critical path.
    pub(super) ready: BinaryHeap<(Duration, std::cmp::Reverse<usize>)>,
    /// Calls in flight per service and placement: AWS throttles each account and region
    /// on its own.
    pub(super) in_flight: HashMap<(&'static str, Placement), usize>,
    pub(super) running: usize,
    pub(super) stopping: bool,
    pub(super) state_error: Option<StateWriteError>,
    /// Outputs of settled resources, for resolving the references of their dependents.
    pub(super) outputs: HashMap<ResourceId, Fields>,
}

impl Run<'_, '_> {
    /// Runs until nothing more can run. Returns whether the run was cancelled.
    pub(super) async fn drive(&mut self, cancel: CancellationToken) -> bool {
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
                    // What finished together is settled together, with one state write.
                    let mut batch = vec![msg];
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                    }
                    self.handle(batch, &tx, &cancel).await;
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
            let now = decide(spec, &resolved, node.current.as_ref(), Some(&node.schema), None);
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
        // A create's token is set when its intent is journaled, just before the call.
        let desired = Desired { id: spec.id.clone(), name: spec.name.clone(), fields, token: String::new() };
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
            let service = self.nodes[i].schema.service;
            let limit =
                self.exec.options.service_slots.get(service).copied().unwrap_or(self.exec.options.default_slots).max(1);
            let used = self.in_flight.entry(self.nodes[i].slot()).or_default();
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
            let node = &mut self.nodes[i];
            if node.phases.front() == Some(&Phase::Create) {
                // Kept across attempts (and from a crashed run), so the token derived from
                // it stays the same and AWS de-duplicates a repeated create.
                let intent = Intent { kind: node.change.kind.clone(), name: node.change.name.clone(), started: now };
                let kept = self.state.pending.entry(node.change.id.clone()).or_insert(intent);
                journaled |= kept.started == now;
                if let Some(desired) = &mut node.desired {
                    desired.token = kept.token(&self.state.stack, &node.change.id);
                }
            }
        }
        if journaled && let Err(e) = self.exec.writer.write(self.state).await {
            warn!(error = %e, "state write failed; stopping before the creates it announced");
            self.state_error = Some(e);
            self.stopping = true;
            for i in starting {
                if let Some(used) = self.in_flight.get_mut(&self.nodes[i].slot()) {
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
        let (service, placement) = node.slot();
        self.exec.progress.event(Event::Calling { id: node.change.id.clone(), service, placement });
        let reconciler = node.reconciler.clone();
        // A create tried before may have taken effect with its answer lost, or AWS says the
        // resource exists: look for it by its ownership tags before making it again.
        let look_first = phase == Phase::Create && node.attempts > 0;
        let conflict = node.conflict.clone();
        let scope = self.exec.scope.clone();
        let replaced = node.change.aws_id.clone();
        let schema = node.schema.clone();
        let desired = node.desired.clone();
        let current = node.current.clone();
        let changes = match (&desired, &current) {
            (Some(d), Some(c)) => {
                let wanted = d.fields.iter().map(|(k, v)| (k.clone(), Planned::Known(v.clone()))).collect();
                diff(&wanted, &c.attributes, Some(&schema))
            }
            _ => Vec::new(),
        };
        let tx = tx.clone();
        let span = info_span!("call", resource = %node.change.id, kind = %node.change.kind, ?phase);
        self.running += 1;
        tokio::spawn(
            async move {
                let result = match (phase, desired, current) {
                    (Phase::Create, Some(d), _) if look_first => {
                        match find(&*reconciler, &scope, &d.id, replaced.as_deref()).await {
                            Ok(Some(found)) => {
                                debug!(aws_id = %found.aws_id, "the earlier create had taken effect; adopted");
                                // A create of several calls may have stopped part way (an ACL
                                // made, its entries not): finish it as an update.
                                let wanted = d.fields.iter().map(|(k, v)| (k.clone(), Planned::Known(v.clone()))).collect();
                                let rest = diff(&wanted, &found.attributes, Some(&schema));
                                match rest.iter().find(|c| c.forces_replacement) {
                                    None if rest.is_empty() => Ok(Some(found)),
                                    None => reconciler.update(&d, &found, &rest).await.map(Some),
                                    Some(c) => Err(ReconcileError::permanent(format!(
                                        "`{}`: found {} from an earlier attempt, but its `{}` differs and cannot change in place",
                                        d.id, found.aws_id, c.field
                                    ))),
                                }
                            }
                            Ok(None) => match conflict {
                                Some(e) => Err(ReconcileError {
                                    class: ErrorClass::Conflict,
                                    message: format!(
                                        "{}; nothing carrying this stack's ownership tags answers to `{}`, so what \
                                         holds its place is not paystack's, and it is left alone",
                                        e.message, d.id
                                    ),
                                }),
                                None => reconciler.create(&d).await.map(Some),
                            },
                            Err(e) => Err(e),
                        }
                    }
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

    /// Handles the messages that arrived together. The phases among them that finished are
    /// recorded in state with one write, before anything that depends on them starts: a
    /// crash before that write leaves the creates in the journal and the deletions for the
    /// next run to find gone, as after a single one.
    async fn handle(&mut self, batch: Vec<Msg>, tx: &mpsc::UnboundedSender<Msg>, cancel: &CancellationToken) {
        let mut settled = Vec::new();
        let mut write = false;
        for msg in batch {
            self.running -= 1;
            match msg {
                Msg::RetryNow { node } => self.advance(node, tx, cancel),
                Msg::Interrupted { node } => {
                    self.nodes[node].status = Status::Interrupted;
                }
                Msg::PhaseDone { node: i, phase, result } => {
                    if phase.holds_slot() {
                        let slot = self.nodes[i].slot();
                        if let Some(used) = self.in_flight.get_mut(&slot) {
                            *used = used.saturating_sub(1);
                        }
                        let (service, placement) = slot;
                        self.exec.progress.event(Event::Called {
                            id: self.nodes[i].change.id.clone(),
                            service,
                            placement,
                        });
                    }
                    match result {
                        Ok(observed) => {
                            self.nodes[i].phases.pop_front();
                            self.nodes[i].attempts = 0;
                            write |= self.settle_phase(i, phase, observed);
                            settled.push(i);
                        }
                        Err(e) => self.retry_or_fail(i, e, tx),
                    }
                }
            }
        }
        if write && let Err(e) = self.exec.writer.write(self.state).await {
            warn!(error = %e, "state write failed; stopping");
            self.state_error = Some(e);
        }
        for i in settled {
            // No node has two calls in a row (a replace is two nodes), so a cancelled run
            // stops here only by not starting the nodes after it.
            if self.state_error.is_some() {
                self.stopping = true;
                self.nodes[i].status = Status::Interrupted;
            } else {
                self.advance(i, tx, cancel);
            }
        }
    }

    /// Records what a finished phase changed in state; whether AWS changed, and state is to
    /// be written.
    fn settle_phase(&mut self, i: usize, phase: Phase, observed: Option<Observed>) -> bool {
        let node = &mut self.nodes[i];
        match phase {
            Phase::Create | Phase::Update | Phase::WaitReady => {
                if let Some(o) = observed {
                    node.current = Some(o);
                }
                if let Some(current) = &node.current {
                    self.state.record(
                        &node.change.kind,
                        &node.change.name,
                        &node.change.placement,
                        current,
                        node.depends_on.clone(),
                    );
                }
            }
            Phase::Delete => {
                // A replaced resource's record is rewritten by its create; a deleted one goes.
                let removed = self
                    .state
                    .resources
                    .get(&node.change.id)
                    .is_some_and(|r| Some(r.aws_id.as_str()) == node.current.as_ref().map(|c| c.aws_id.as_str()));
                if removed && let Some(record) = self.state.resources.remove(&node.change.id) {
                    // AWS only scheduled it: state keeps it until AWS is done with it.
                    let days = self.exec.registries.schema(&record.kind).and_then(|s| s.deletion_days).or_else(|| {
                        let current = node.current.as_ref()?;
                        let days = current.attributes.get(paystack_core::RECOVERY_WINDOW_DAYS)?.as_u64()?;
                        u32::try_from(days).ok()
                    });
                    if let Some(days) = days {
                        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                        self.state.scheduled_deletions.push(ScheduledDeletion {
                            id: node.change.id.clone(),
                            kind: record.kind,
                            name: record.name,
                            placement: record.placement,
                            aws_id: record.aws_id,
                            deleted_by: now + u64::from(days) * 24 * 60 * 60,
                        });
                    }
                }
                // A deletion AWS has carried out by now is no longer worth keeping.
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                self.state.scheduled_deletions.retain(|d| d.deleted_by > now);
            }
            Phase::WaitDeleted => {
                node.current = None;
                return false;
            }
        }
        true
    }

    fn retry_or_fail(&mut self, i: usize, e: ReconcileError, tx: &mpsc::UnboundedSender<Msg>) {
        let node = &mut self.nodes[i];
        node.attempts += 1;
        // "Already exists" to a create: look once whether it is this stack's own (a create
        // whose answer was lost), and adopt it, or else fail naming it.
        let first_conflict = e.class == ErrorClass::Conflict
            && node.phases.front() == Some(&Phase::Create)
            && node.conflict.is_none()
            && !self.stopping;
        if first_conflict {
            node.conflict = Some(e);
            self.running += 1;
            let _ = tx.send(Msg::RetryNow { node: i });
            return;
        }
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

/// The live resource a create of `id` may already have made: one carrying the scope's
/// ownership tags for it, other than the resource it replaces.
async fn find(
    reconciler: &dyn Reconciler,
    scope: &Scope,
    id: &ResourceId,
    replaced: Option<&str>,
) -> Result<Option<Observed>, ReconcileError> {
    let live = reconciler.observe(scope).await?;
    Ok(live.into_iter().find(|o| o.id == *id && Some(o.aws_id.as_str()) != replaced))
}
