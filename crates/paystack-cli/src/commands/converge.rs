//! `apply`, `destroy` and `drift --fix`: lock, plan, guard, confirm, execute, report.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use miette::{IntoDiagnostic, Result, miette};
use paystack_core::{Plan, ResourceId, StateDocument};
use paystack_engine::{ExecOptions, Executor, Progress, StateWriteError, StateWriter};
use paystack_state::{Lock, LockInfo, LockOptions, StateBackend, StateError};
use tokio_util::sync::CancellationToken;

use super::drift::drift_report;
use super::{Aws, SavedPlan, Stack, apply_plan, check_plan, observe, targeted};
use crate::args::{LockArgs, RunArgs};
use crate::render;
use crate::stream::JsonEvents;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Mode {
    Apply,
    Destroy,
    /// `drift --fix`: apply only what converges drifted resources, and with `prune` delete
    /// the unmanaged ones too.
    Fix {
        prune: bool,
    },
}

impl Mode {
    /// The command, as messages name it.
    fn operation(self) -> &'static str {
        match self {
            Mode::Apply => "apply",
            Mode::Destroy => "destroy",
            Mode::Fix { prune: false } => "drift --fix",
            Mode::Fix { prune: true } => "drift --fix --prune",
        }
    }
}

#[derive(Clone, Copy)]
pub(super) struct Confirm {
    pub(super) yes: bool,
    pub(super) override_protection: bool,
}

/// The executor writes state through the lock, so a run that lost its lock cannot write.
struct LockWriter<'a>(&'a Lock);

#[async_trait]
impl StateWriter for LockWriter<'_> {
    async fn write(&self, doc: &mut StateDocument) -> std::result::Result<(), StateWriteError> {
        self.0.write(doc).await.map_err(write_error)
    }
}

/// A failed write as the executor tells them apart: this run lost its lock, someone else
/// wrote, or the write did not happen.
fn write_error(e: StateError) -> StateWriteError {
    match e {
        StateError::LeaseLost { .. } | StateError::Fenced { .. } => StateWriteError::LostLock(e.to_string()),
        StateError::Stale { .. } | StateError::LineageMismatch { .. } => StateWriteError::Conflict(e.to_string()),
        other => StateWriteError::Failed(other.to_string()),
    }
}

/// The command that runs this one again as it was given: its stack, targets and override,
/// for every message that says to run it again.
fn again(s: &Stack, mode: Mode, confirm: Confirm, run: &RunArgs) -> String {
    let mut again = s.command(mode.operation());
    for target in &run.targets.targets {
        again.push_str(&format!(" --target {target}"));
    }
    if confirm.override_protection {
        again.push_str(" --override-protection");
    }
    again
}

/// What to do after a state write failed, by why it failed.
fn after_state_error(e: &StateWriteError, s: &Stack, again: &str) -> String {
    match e {
        StateWriteError::LostLock(_) => format!(
            "another run holds the lock of `{}` now; let it finish, then run `{again}` to see what is left",
            s.key()
        ),
        StateWriteError::Conflict(_) => {
            format!("another run wrote the state of `{}`; run `{again}` again, which plans from what it wrote", s.key())
        }
        StateWriteError::Failed(_) => format!("check the state backend, then run `{again}` again"),
    }
}

/// Apply or destroy: lock, then plan, guard, confirm, execute and report, then unlock.
pub(super) async fn converge(
    s: &Stack,
    mode: Mode,
    confirm: Confirm,
    lock_args: &LockArgs,
    run: &RunArgs,
    saved: Option<SavedPlan>,
) -> Result<ExitCode> {
    let operation = mode.operation();
    if run.json && !confirm.yes && saved.is_none() {
        // Nothing can be asked on a stream that a program reads.
        return Err(miette!(
            help =
                format!("review `{}` first, then run `{} --yes`", plan_command(s, run), again(s, mode, confirm, run)),
            "{operation} --json carries out the plan without asking, so it needs --yes or a saved plan"
        ));
    }
    let aws = Aws::connect(s).await?;
    let backend = aws.backend(s);
    let lock = take_lock(s, &backend, operation, lock_args).await?;
    let result = converge_locked(s, mode, confirm, run, saved, &aws, &*backend, &lock).await;
    give_back(s, lock).await;
    result
}

/// Takes the stack's lock for `operation`, waiting as `--lock-timeout` allows, and says
/// whose lock it took over, if any.
pub(super) async fn take_lock(
    s: &Stack,
    backend: &Arc<dyn StateBackend>,
    operation: &str,
    lock_args: &LockArgs,
) -> Result<Lock> {
    let options = LockOptions { timeout: lock_args.lock_timeout, ..LockOptions::new(s.env.state.lock_lease) };
    let key = s.key();
    let on_wait = |holder: &LockInfo, lease_left: u64| {
        diagln!("Waiting for the lock on `{key}`, held by {holder}; its lease ends in {lease_left}s unless renewed.");
    };
    let lock = paystack_state::acquire(Arc::clone(backend), &key, LockInfo::current(operation), &options, &on_wait)
        .await
        .map_err(|e| s.state_error(e))?;
    match lock.took_over() {
        Some(previous) if lock.holder_was_gone() => diagln!(
            "Took over the lock of {previous}: that process is no longer running on this host, so its lease was not waited out."
        ),
        Some(previous) => diagln!("Took over the lapsed lock of {previous}; that run can no longer write state."),
        None => {}
    }
    Ok(lock)
}

/// Releases the lock; one that cannot be released lapses, and the warning says how to
/// release it now.
pub(super) async fn give_back(s: &Stack, lock: Lock) {
    let id = lock.info().id.clone();
    if let paystack_state::Released::Lapses { lease_left, error } = lock.release().await {
        diagln!(
            "warning: the lock on `{}` could not be released ({error}); it lapses in {lease_left}s. \
             To release it now, run `{} {id}`",
            s.key(),
            s.command("unlock")
        );
    }
}

#[allow(clippy::too_many_arguments)]
async fn converge_locked(
    s: &Stack,
    mode: Mode,
    confirm: Confirm,
    run: &RunArgs,
    saved: Option<SavedPlan>,
    aws: &Aws,
    backend: &dyn StateBackend,
    lock: &Lock,
) -> Result<ExitCode> {
    let operation = mode.operation();
    let again = again(s, mode, confirm, run);
    // Destroy needs no lookup: it deletes what is live, whatever the configuration refers to.
    let resolved;
    let s = if mode != Mode::Destroy {
        // A fix changes only what drifted, and the function's code is not compared without
        // its package: the scheduled task's `drift --fix` runs without one.
        if mode == Mode::Apply {
            s.require_package()?;
        }
        resolved = s.looked_up(aws).await?;
        &resolved
    } else {
        s
    };
    let stored = s.read_from(backend).await?;
    let mut state = stored.clone().unwrap_or_else(|| paystack_state::new_document(&s.key()));
    let registries = aws.registries(s, &state).await?;
    let scope = s.scope();
    let inventory = observe(&registries, &scope.clone().recording([&state])).await?;
    let plan = match mode {
        Mode::Apply => apply_plan(s, &registries, &state, &inventory),
        Mode::Destroy => paystack_engine::plan_destroy(&inventory, &state),
        Mode::Fix { prune } => {
            let plan = paystack_engine::plan(&s.graph, &registries, &state, &inventory);
            drift_report(s, &registries, &plan, &state).fix_plan(&plan, prune)
        }
    };
    let targets = &run.targets.targets;
    let plan = targeted(s, plan, &state, targets, mode == Mode::Destroy)?;
    if let Some(saved) = &saved {
        check_plan(saved, stored.as_ref(), &plan, s)?;
    }
    let stream = JsonEvents::new(&s.env.name);
    if run.json {
        stream.plan(render::plan_json(&plan, &s.env.name, &s.key()));
    } else if !run.plan_shown {
        out!("{}", render::plan_text(&plan, &s.heading(targets, mode == Mode::Destroy)));
    }
    let options = exec_options(run);
    if !plan.has_changes() {
        if paystack_engine::state_lags(&plan, &inventory, &state) {
            // Nothing to change in AWS, but state is behind it: record what is live.
            let before = state.resources.len();
            let lines = render::ProgressLines::new(0);
            let progress: &dyn Progress = if run.json { &stream } else { &lines };
            let writer = LockWriter(lock);
            let executor = Executor {
                registries: &registries,
                scope: &scope,
                options: options.clone(),
                progress,
                writer: &writer,
            };
            let report = executor
                .apply(&plan, &s.graph, &inventory, &mut state, CancellationToken::new())
                .await
                .map_err(|e| miette!("{e}"))?;
            if run.json {
                stream.result(&report);
            }
            if let Some(e) = report.state_error {
                return Err(miette!(help = after_state_error(&e, s, &again), "cannot record state: {e}"));
            }
            if !run.json {
                outln!(
                    "Recorded in state what an interrupted run had left unrecorded ({} resources recorded, {before} before).",
                    state.resources.len()
                );
            }
        } else if run.json {
            stream.result(&paystack_engine::ApplyReport::default());
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Among several environments, the protected ones' names were typed before any started.
    let asked = guard(s, &plan, confirm.override_protection, (operation, &again), run.plan_shown)?;
    // A saved plan was reviewed when it was made; applying the file is the approval.
    confirm_on_terminal(s, (operation, &again), asked || confirm.yes || saved.is_some())?;

    let started = std::time::Instant::now();
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let signals = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            diagln!(
                "\nInterrupted: starting nothing new; calls in flight finish and state is saved. Press Ctrl-C again to stop at once."
            );
            on_signal.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let (lost, on_lost) = (lock.lost(), cancel.clone());
    let lease = tokio::spawn(async move {
        lost.cancelled().await;
        diagln!(
            "\nThis run lost its lock (it was taken over or unlocked): starting nothing new, and no more state writes."
        );
        on_lost.cancel();
    });

    let total = plan.changes.iter().filter(|c| c.action.is_change()).count();
    let mut lines = render::ProgressLines::new(total);
    if run.plan_shown {
        // One of several environments, whose progress lines mix on the terminal.
        lines = lines.labelled(&s.env.name);
    }
    // On a terminal, one run's progress is a live view; in a pipe, a CI log, or among several
    // environments whose lines mix, it is a line per event.
    let live = (!run.json && !run.plan_shown && std::io::stderr().is_terminal()).then(|| render::LiveView::new(total));
    let progress: &dyn Progress = match (&live, run.json) {
        (_, true) => &stream,
        (Some(live), false) => live,
        (None, false) => &lines,
    };
    let writer = LockWriter(lock);
    let executor = Executor { registries: &registries, scope: &scope, options, progress, writer: &writer };
    let report = {
        let going = executor.apply(&plan, &s.graph, &inventory, &mut state, cancel);
        tokio::pin!(going);
        let mut heartbeat = tokio::time::interval(render::ProgressLines::HEARTBEAT);
        loop {
            tokio::select! {
                report = &mut going => break report.map_err(|e| miette!("{e}")),
                _ = heartbeat.tick(), if !run.json && live.is_none() => lines.heartbeat(),
            }
        }
    };
    if let Some(live) = &live {
        live.finish();
    }
    signals.abort();
    lease.abort();
    let report = report?;
    let verb = match mode {
        Mode::Apply => "Apply",
        Mode::Destroy => "Destroy",
        Mode::Fix { .. } => "Fix",
    };
    if run.json {
        stream.result(&report);
    } else {
        // Among several environments, each line says whose it is.
        let label = if run.plan_shown { format!("{}: ", s.env.name) } else { String::new() };
        for line in render::report_text(&report, verb, started.elapsed()).lines() {
            outln!("{label}{line}");
        }
    }
    if !report.succeeded() {
        let help = if let Some(e) = &report.state_error {
            after_state_error(e, s, &again)
        } else if report.cancelled {
            format!("run `{again}` again to finish; what was created is recorded and will be adopted")
        } else {
            format!(
                "fix the failures above, then run `{again}` again; finished resources are recorded and are not redone"
            )
        };
        return Err(miette!(help = help, "{operation} of `{}` did not complete", s.key()));
    }
    if mode == Mode::Apply && !run.json {
        if run.plan_shown {
            outln!("\nOutputs of `{}`:", s.key());
        } else {
            outln!("\nOutputs:");
        }
        out!("{}", render::outputs_text(&s.blueprint.resolve_outputs(&state)));
    }
    Ok(ExitCode::SUCCESS)
}

/// `plan` of the same stack and targets, for a message to suggest reviewing.
fn plan_command(s: &Stack, run: &RunArgs) -> String {
    let mut plan = s.command("plan");
    for target in &run.targets.targets {
        plan.push_str(&format!(" --target {target}"));
    }
    plan
}

/// The executor's limits: `--parallelism`, when given, for every service alike.
fn exec_options(run: &RunArgs) -> ExecOptions {
    match run.parallelism {
        Some(n) => ExecOptions { default_slots: n.into(), service_slots: Default::default(), ..ExecOptions::default() },
        None => ExecOptions::default(),
    }
}

/// The engine's prevent-destroy rule: nothing is deleted or replaced in a protected
/// environment without an explicit override, and on a terminal the environment's name must
/// be typed as well, `--yes` or not. Returns whether it asked.
fn guard(
    s: &Stack,
    plan: &Plan,
    override_protection: bool,
    (operation, again): (&str, &str),
    typed_already: bool,
) -> Result<bool> {
    let destructive: Vec<&str> =
        paystack_engine::guard::destructive(plan).into_iter().map(ResourceId::as_str).collect();
    if !s.env.protected || destructive.is_empty() {
        return Ok(false);
    }
    if !override_protection {
        return Err(miette!(
            help = format!("nothing was changed. If this is intended, run `{again} --override-protection`"),
            "`{}` is protected, and this would delete or replace {}: {}",
            s.env.name,
            render::count(destructive.len(), "resource"),
            destructive.join(", ")
        ));
    }
    if typed_already || !std::io::stdin().is_terminal() {
        return Ok(typed_already);
    }
    ask(operation, &format!("`{}`", s.key()), &s.env.name)?;
    Ok(true)
}

/// Asks on the terminal unless `--yes`. A protected environment must be typed by name.
fn confirm_on_terminal(s: &Stack, (operation, again): (&str, &str), yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            help = format!("review the plan above, then run `{again} --yes`"),
            "refusing to {operation} without confirmation: there is no terminal to ask"
        ));
    }
    let expected = if s.env.protected { s.env.name.clone() } else { "yes".to_owned() };
    ask(operation, &format!("`{}`", s.key()), &expected)
}

/// Asks on the terminal whether to go on with `operation` of `what`, which the answer
/// `expected`, typed, allows.
pub(super) fn ask(operation: &str, what: &str, expected: &str) -> Result<()> {
    diag!("\nDo you want to {operation} {what}? Type `{expected}` to continue: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).into_diagnostic()?;
    if answer.trim() != expected {
        return Err(miette!("{operation} cancelled; nothing was changed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_lock_is_told_apart_from_a_stale_write_and_a_failed_one() {
        let lost = write_error(StateError::LeaseLost { stack: "prod".into() });
        assert!(matches!(lost, StateWriteError::LostLock(ref m) if m.contains("lost its lock on `prod`")), "{lost:?}");
        let fenced = write_error(StateError::Fenced { stack: "prod".into(), fence: 3, newer: 4 });
        assert!(matches!(fenced, StateWriteError::LostLock(_)), "{fenced:?}");
        let stale = write_error(StateError::Stale { expected: 23, on_disk: 24 });
        assert!(matches!(stale, StateWriteError::Conflict(ref m) if m.contains("serial 24")), "{stale:?}");
        let failed = write_error(StateError::Remote {
            action: "writing",
            location: "s3://b/k".into(),
            message: "timed out".into(),
            retryable: true,
        });
        assert!(matches!(failed, StateWriteError::Failed(_)), "{failed:?}");
    }
}
