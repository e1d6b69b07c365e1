//! Each command, from validated input to rendered result.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use miette::{IntoDiagnostic, Result, miette};
use paystack_aws::{ClientPool, Clients, RemoteBackend, StateLocation, Target};
use paystack_config::{Config, Environment, StateStore};
use paystack_core::{Action, Plan, ResourceId, StateDocument};
use paystack_engine::{ExecOptions, Executor, Inventory, ResourceGraph, Scope, StateWriter};
use paystack_platform::{Blueprint, Lookups, blueprint};
use paystack_state::{LocalBackend, Lock, LockInfo, LockOptions, StateBackend};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::args::{Cli, Command, LockArgs, StackArgs, StateCommand};
use crate::diagnostics::{InvalidConfig, state_error};
use crate::render;

/// Everything known about a stack before touching AWS.
struct Stack {
    env: Environment,
    blueprint: Blueprint,
    graph: ResourceGraph,
    state_dir: PathBuf,
}

impl Stack {
    fn key(&self) -> String {
        self.blueprint.stack.key()
    }

    fn scope(&self) -> Scope {
        let env = &self.env;
        Scope {
            stack: self.key(),
            name_prefix: format!("{}-{}-", env.name, env.region),
            name_suffix: env.suffix.as_ref().map(|s| format!("-{s}")),
        }
    }

    /// The same stack with what the blueprint looks up read from AWS (the certificate of the
    /// HTTPS listener, the hosted zone of the service's name), as every plan that may be
    /// applied needs. Fails, before anything changes, when a lookup finds nothing.
    async fn looked_up(&self, aws: &Aws) -> Result<Stack> {
        use paystack_aws::LookupError;
        let env = &self.env;
        let wanted = paystack_aws::Wanted {
            region: &env.region,
            certificate_domain: &env.load_balancer.certificate_domain,
            zone: &env.dns.zone,
        };
        let lookups = paystack_aws::look_up(&aws.clients, &wanted).await.map_err(|e| {
            let help = match &e {
                LookupError::NoCertificate { .. } => format!(
                    "request or import a certificate for `{}` in ACM in {}, or point `load_balancer.certificate_domain` at one; paystack looks it up and never creates it",
                    env.load_balancer.certificate_domain, env.region
                ),
                LookupError::NoZone { zone } => format!(
                    "create the public hosted zone `{zone}` in Route 53 (or point `dns.zone` at an existing one); paystack looks it up and never creates it"
                ),
                LookupError::AmbiguousZone { .. } => {
                    "delete the unused zone, so the records go to the one the domain delegates to".to_owned()
                }
                LookupError::Failed(_) => "check AWS credentials, region and AWS_ENDPOINT_URL; nothing was changed".to_owned(),
            };
            miette!(help = help, "{e}")
        })?;
        build(self.env.clone(), &lookups, self.state_dir.clone())
    }

    /// Turns a state error into a diagnostic that says what to do next.
    fn state_error(&self, e: paystack_state::StateError) -> miette::Report {
        state_error(e, &self.env.name, &self.key())
    }
}

/// Loads and validates the whole configuration, then builds the stack's graph. Nothing here
/// reaches AWS, and every command goes through it first.
fn load(cli: &Cli, args: &StackArgs) -> Result<Stack> {
    let config = Config::load(&cli.config).map_err(InvalidConfig::from)?;
    let env = config.environment(&args.env, args.suffix.as_deref()).map_err(InvalidConfig::from)?;
    // Lookups are read from AWS only by the commands that plan changes.
    build(env, &Lookups::default(), cli.state_dir.clone())
}

fn build(env: Environment, lookups: &Lookups, state_dir: PathBuf) -> Result<Stack> {
    let blueprint = blueprint(&env, lookups).map_err(|e| {
        miette!(
            help = "validation should have refused this configuration; please report it with the environment's files",
            "the platform cannot be laid out for `{}`: {e}",
            env.name
        )
    })?;
    let graph = ResourceGraph::build(blueprint.specs.clone())
        .map_err(|e| miette!("the platform's resource graph is invalid: {e}"))?;
    check_ignored(&env, &graph)?;
    Ok(Stack { env, blueprint, graph, state_dir })
}

/// Every `drift.ignore` rule names a field of a resource this environment has: a rule that
/// matches nothing would silently stop ignoring what its author meant.
fn check_ignored(env: &Environment, graph: &ResourceGraph) -> Result<()> {
    for rule in &env.drift.ignore {
        let Some(spec) = graph.spec(&ResourceId::new(rule.resource.as_str())) else {
            return Err(miette!(
                help = format!(
                    "`paystack graph --env {}` lists the resources; a rule for resources only some environments have belongs in those environments' files",
                    env.name
                ),
                "`drift.ignore`: `{}` is not a resource of `{}`",
                rule.resource,
                env.name
            ));
        };
        if !spec.fields.contains_key(&rule.field) {
            let fields: Vec<&str> = spec.fields.keys().map(String::as_str).collect();
            return Err(miette!(
                help = format!("its fields are {}", fields.join(", ")),
                "`drift.ignore`: `{}` has no field `{}`",
                rule.resource,
                rule.field
            ));
        }
    }
    Ok(())
}

pub(crate) async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Plan { stack, json, detailed_exitcode, out } => {
            let s = load(&cli, stack)?;
            let aws = Aws::connect(&s).await;
            let s = s.looked_up(&aws).await?;
            let backend = aws.backend(&s);
            let stored = backend.read().await.map_err(|e| s.state_error(e))?;
            let inventory = aws.observe(&s.scope()).await?;
            let state = stored.clone().unwrap_or_else(|| paystack_state::new_document(&s.key()));
            let plan = apply_plan(&s, &aws, &state, &inventory);
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&render::plan_json(&plan, &s.env.name, &s.key())).into_diagnostic()?
                );
            } else {
                print!("{}", render::plan_text(&plan, &s.key(), &s.env.region));
            }
            if let Some(path) = out {
                SavedPlan::new(&s, stored.as_ref(), &plan)?.save(path)?;
                eprintln!(
                    "Saved this plan to {}. Apply exactly it with `paystack apply {} --env {}`.",
                    path.display(),
                    path.display(),
                    s.env.name
                );
            }
            Ok(if *detailed_exitcode && plan.has_changes() { ExitCode::from(2) } else { ExitCode::SUCCESS })
        }
        Command::Apply { stack, plan_file, yes, override_protection, lock } => {
            let s = load(&cli, stack)?;
            let saved = plan_file.as_deref().map(|path| SavedPlan::load(path, &s)).transpose()?;
            converge(&s, Mode::Apply, Confirm { yes: *yes, override_protection: *override_protection }, lock, saved)
                .await
        }
        Command::Destroy { stack, yes, override_protection, lock } => {
            let s = load(&cli, stack)?;
            converge(&s, Mode::Destroy, Confirm { yes: *yes, override_protection: *override_protection }, lock, None)
                .await
        }
        Command::Drift { env, suffix, all_envs, parallel, json, notify, fix, override_protection, lock } => {
            let args = DriftArgs { json: *json, notify: *notify, fix: *fix, parallel: usize::from(*parallel) };
            if *all_envs || suffix.len() > 1 {
                if *fix {
                    return Err(miette!(
                        help = "fix one stack at a time: `paystack drift --env E [--suffix S] --fix`",
                        "`--fix` converges one stack, and this names several"
                    ));
                }
                let env = if *all_envs { None } else { env.as_deref() };
                return drift_many(&cli, env, suffix, args).await;
            }
            let stack = StackArgs { env: env.clone().unwrap_or_default(), suffix: suffix.first().cloned() };
            let s = load(&cli, &stack)?;
            let confirm = Confirm { yes: true, override_protection: *override_protection };
            drift(&s, args, confirm, lock).await
        }
        Command::Parity { a, b, suffix, json } => {
            let sa = load(&cli, &StackArgs { env: a.clone(), suffix: suffix.clone() })?;
            let sb = load(&cli, &StackArgs { env: b.clone(), suffix: suffix.clone() })?;
            if sa.key() == sb.key() {
                return Err(miette!(
                    help = "name two different environments, e.g. `paystack parity staging prod`",
                    "`parity` compares `{}` with itself",
                    sa.key()
                ));
            }
            parity(&sa, &sb, *json).await
        }
        Command::Init { stack } => {
            let s = load(&cli, stack)?;
            init(&s).await
        }
        Command::Unlock { stack, lock_id } => {
            let s = load(&cli, stack)?;
            let aws = Aws::connect(&s).await;
            let backend = aws.backend(&s);
            let released =
                paystack_state::unlock(&*backend.locks(), &s.key(), lock_id).await.map_err(|e| s.state_error(e))?;
            println!("Released lock {} on `{}`, held by {released}.", released.id, s.key());
            println!("The next run takes the lock and fences that holder off: it can no longer write state.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Output { stack, json } => {
            let s = load(&cli, stack)?;
            let state = read_state(&s).await?.ok_or_else(|| {
                miette!(
                    help = format!("run `paystack apply --env {}` first", s.env.name),
                    "`{}` has no state yet",
                    s.key()
                )
            })?;
            let outputs = s.blueprint.resolve_outputs(&state);
            if *json {
                println!("{}", serde_json::to_string_pretty(&outputs).into_diagnostic()?);
            } else {
                print!("{}", render::outputs_text(&outputs));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Graph { stack } => {
            let s = load(&cli, stack)?;
            print!("{}", s.graph.to_dot());
            Ok(ExitCode::SUCCESS)
        }
        Command::State(StateCommand::List { stack }) => {
            let s = load(&cli, stack)?;
            let state = read_state(&s).await?.unwrap_or_else(|| paystack_state::new_document(&s.key()));
            for (id, r) in &state.resources {
                println!("{id}\t{}\t{}", r.kind, r.aws_id);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::State(StateCommand::Show { stack, id }) => {
            let s = load(&cli, stack)?;
            let state = read_state(&s).await?.unwrap_or_else(|| paystack_state::new_document(&s.key()));
            let record = state.resources.get(&ResourceId::new(id.as_str())).ok_or_else(|| {
                miette!(
                    help = format!("`paystack state list --env {}` lists what is recorded", s.env.name),
                    "`{id}` is not in the state of `{}`",
                    s.key()
                )
            })?;
            println!("{}", serde_json::to_string_pretty(record).into_diagnostic()?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn read_state(s: &Stack) -> Result<Option<StateDocument>> {
    let aws = Aws::connect(s).await;
    aws.backend(s).read().await.map_err(|e| s.state_error(e))
}

/// Where the environment's remote state lives, if it uses the remote backend.
fn state_location(env: &Environment) -> Option<StateLocation> {
    Some(StateLocation { bucket: env.state_bucket()?, lock_table: env.lock_table()? })
}

async fn init(s: &Stack) -> Result<ExitCode> {
    let Some(location) = state_location(&s.env) else {
        println!(
            "`{}` keeps its state in local files under {}; there is nothing to create.",
            s.env.name,
            s.state_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let aws = Aws::connect(s).await;
    let tags: Vec<(String, String)> =
        paystack_platform::required_tags(&s.env).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let steps =
        paystack_aws::init(&aws.clients, &s.env.region, &location, &tags).await.map_err(|e| s.state_error(e))?;
    print!("{}", render::init_text(&steps));
    Ok(ExitCode::SUCCESS)
}

/// The AWS side of a run: clients for the stack's region and the reconcilers over them.
/// Connecting sends nothing; the first request is the first read.
struct Aws {
    clients: Clients,
    registry: paystack_engine::Registry,
}

impl Aws {
    async fn connect(s: &Stack) -> Self {
        Self::from_pool(&ClientPool::from_env().await, s).await
    }

    /// Like [`Aws::connect`], with the clients (and so the connections and the adaptive
    /// retry's rate limit) of `pool`, which every stack of one run shares.
    async fn from_pool(pool: &ClientPool, s: &Stack) -> Self {
        let clients = pool.clients(&Target { region: s.env.region.clone(), role_arn: None }).await;
        let registry = paystack_aws::registry(&clients);
        Self { clients, registry }
    }

    /// The stack's state backend, as the configuration selects it.
    fn backend(&self, s: &Stack) -> Arc<dyn StateBackend> {
        match (&s.env.state.backend, state_location(&s.env)) {
            (StateStore::S3 { .. }, Some(at)) => Arc::new(RemoteBackend::new(&self.clients, &at, &s.key())),
            _ => Arc::new(LocalBackend::new(&s.state_dir, &s.key())),
        }
    }

    /// Reads every kind's live resources at once: one batched read per kind.
    async fn observe(&self, scope: &Scope) -> Result<Inventory> {
        let mut reads = tokio::task::JoinSet::new();
        for reconciler in self.registry.reconcilers() {
            let (reconciler, scope) = (Arc::clone(reconciler), scope.clone());
            reads.spawn(async move {
                let kind = reconciler.schema().kind.clone();
                let found = reconciler.observe(&scope).await;
                (kind, found)
            });
        }
        let mut inventory = Inventory::default();
        while let Some(joined) = reads.join_next().await {
            let (kind, found) = joined.into_diagnostic()?;
            let found = found.map_err(|e| {
                miette!(
                    help = "check AWS credentials, region and AWS_ENDPOINT_URL; nothing was changed",
                    "cannot read the live {kind} resources: {e}"
                )
            })?;
            inventory.resources.extend(found.into_iter().map(|o| (kind.clone(), o)));
        }
        // Join order varies; a stable order keeps plans reproducible.
        inventory.resources.sort_by(|a, b| (a.1.id.as_str(), &a.1.aws_id).cmp(&(b.1.id.as_str(), &b.1.aws_id)));
        Ok(inventory)
    }
}

/// A plan saved by `plan --out`: the changes shown, and the state version they were
/// planned from.
#[derive(Serialize, Deserialize)]
struct SavedPlan {
    format: u32,
    stack: String,
    /// `None` when the stack had no state yet.
    state: Option<StateVersion>,
    changes: serde_json::Value,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct StateVersion {
    lineage: String,
    serial: u64,
}

impl StateVersion {
    fn of(doc: Option<&StateDocument>) -> Option<Self> {
        doc.map(|d| Self { lineage: d.lineage.clone(), serial: d.serial })
    }
}

impl SavedPlan {
    const FORMAT: u32 = 1;

    fn new(s: &Stack, state: Option<&StateDocument>, plan: &Plan) -> Result<Self> {
        Ok(Self {
            format: Self::FORMAT,
            stack: s.key(),
            state: StateVersion::of(state),
            changes: serde_json::to_value(&plan.changes).into_diagnostic()?,
        })
    }

    fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).into_diagnostic()?;
        std::fs::write(path, text + "\n").map_err(|e| miette!("cannot write the plan to {}: {e}", path.display()))
    }

    fn load(path: &Path, s: &Stack) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| miette!("cannot read the plan {}: {e}", path.display()))?;
        let saved: Self = serde_json::from_str(&text).map_err(|e| {
            miette!(help = "save a plan with `paystack plan --out FILE`", "{} is not a saved plan: {e}", path.display())
        })?;
        if saved.format != Self::FORMAT {
            return Err(miette!(
                help = "make the plan again with this paystack",
                "{} was saved in plan format {}, and this paystack reads format {}",
                path.display(),
                saved.format,
                Self::FORMAT
            ));
        }
        if saved.stack != s.key() {
            return Err(miette!(
                help = "pass the --env and --suffix the plan was made for",
                "{} is a plan for `{}`, not `{}`",
                path.display(),
                saved.stack,
                s.key()
            ));
        }
        Ok(saved)
    }

    /// Refuses the plan unless state and live resources are where they were when it was made.
    fn check(&self, state: Option<&StateDocument>, fresh: &Plan, s: &Stack) -> Result<()> {
        let again =
            format!("make a new plan with `paystack plan --env {} --out FILE`, review it, and apply that", s.env.name);
        let now = StateVersion::of(state);
        if now != self.state {
            let describe = |v: &Option<StateVersion>| {
                v.as_ref().map_or("no state".to_owned(), |v| format!("serial {} of lineage {}", v.serial, v.lineage))
            };
            return Err(miette!(
                help = again,
                "the state of `{}` moved since the plan was made: it was at {}, it is now at {}; nothing was changed",
                s.key(),
                describe(&self.state),
                describe(&now)
            ));
        }
        if serde_json::to_value(&fresh.changes).into_diagnostic()? != self.changes {
            return Err(miette!(
                help = again,
                "the live resources of `{}` changed since the plan was made, so it no longer says what apply would do; nothing was changed",
                s.key()
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Apply,
    Destroy,
    /// `drift --fix`: apply only what converges drifted resources.
    Fix,
}

impl Mode {
    /// The command, as messages name it.
    fn operation(self) -> &'static str {
        match self {
            Mode::Apply => "apply",
            Mode::Destroy => "destroy",
            Mode::Fix => "drift --fix",
        }
    }
}

#[derive(Clone, Copy)]
struct Confirm {
    yes: bool,
    override_protection: bool,
}

/// The executor writes state through the lock, so a run that lost its lock cannot write.
struct LockWriter<'a>(&'a Lock);

#[async_trait]
impl StateWriter for LockWriter<'_> {
    async fn write(&self, doc: &mut StateDocument) -> std::result::Result<(), String> {
        self.0.write(doc).await.map_err(|e| e.to_string())
    }
}

/// Apply or destroy: lock, then plan, guard, confirm, execute and report, then unlock.
async fn converge(
    s: &Stack,
    mode: Mode,
    confirm: Confirm,
    lock_args: &LockArgs,
    saved: Option<SavedPlan>,
) -> Result<ExitCode> {
    let operation = mode.operation();
    let aws = Aws::connect(s).await;
    let backend = aws.backend(s);
    let options = LockOptions { timeout: lock_args.lock_timeout, ..LockOptions::new(s.env.state.lock_lease) };
    let key = s.key();
    let on_wait = |holder: &LockInfo, lease_left: u64| {
        eprintln!("Waiting for the lock on `{key}`, held by {holder}; its lease ends in {lease_left}s unless renewed.");
    };
    let lock = paystack_state::acquire(Arc::clone(&backend), &key, LockInfo::current(operation), &options, &on_wait)
        .await
        .map_err(|e| s.state_error(e))?;
    if let Some(previous) = lock.took_over() {
        eprintln!("Took over the lapsed lock of {previous}; that run can no longer write state.");
    }
    let result = converge_locked(s, mode, confirm, saved, &aws, &*backend, &lock).await;
    lock.release().await;
    result
}

async fn converge_locked(
    s: &Stack,
    mode: Mode,
    confirm: Confirm,
    saved: Option<SavedPlan>,
    aws: &Aws,
    backend: &dyn StateBackend,
    lock: &Lock,
) -> Result<ExitCode> {
    let operation = mode.operation();
    // Destroy needs no lookup: it deletes what is live, whatever the configuration refers to.
    let resolved;
    let s = if mode != Mode::Destroy {
        resolved = s.looked_up(aws).await?;
        &resolved
    } else {
        s
    };
    let stored = backend.read().await.map_err(|e| s.state_error(e))?;
    let inventory = aws.observe(&s.scope()).await?;
    let mut state = stored.clone().unwrap_or_else(|| paystack_state::new_document(&s.key()));
    let plan = match mode {
        Mode::Apply => apply_plan(s, aws, &state, &inventory),
        Mode::Destroy => paystack_engine::plan_destroy(&inventory),
        Mode::Fix => {
            let plan = paystack_engine::plan(&s.graph, &aws.registry, &state, &inventory);
            drift_report(s, aws, &plan, &state).fix_plan(&plan)
        }
    };
    if let Some(saved) = &saved {
        saved.check(stored.as_ref(), &plan, s)?;
    }
    print!("{}", render::plan_text(&plan, &s.key(), &s.env.region));
    if !plan.has_changes() {
        if paystack_engine::state_lags(&plan, &inventory, &state) {
            // Nothing to change in AWS, but state is behind it: record what is live.
            let before = state.resources.len();
            let progress = render::ProgressLines::new(0);
            let writer = LockWriter(lock);
            let executor = Executor {
                registry: &aws.registry,
                options: ExecOptions::default(),
                progress: &progress,
                writer: &writer,
            };
            let report = executor
                .apply(&plan, &s.graph, &inventory, &mut state, CancellationToken::new())
                .await
                .map_err(|e| miette!("{e}"))?;
            if let Some(e) = report.state_error {
                return Err(miette!(help = "run the command again", "cannot record state: {e}"));
            }
            println!(
                "Recorded in state what an interrupted run had left unrecorded ({} resources recorded, {before} before).",
                state.resources.len()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let asked = guard(s, &plan, confirm.override_protection, operation)?;
    // A saved plan was reviewed when it was made; applying the file is the approval.
    confirm_on_terminal(s, operation, asked || confirm.yes || saved.is_some())?;

    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let signals = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
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
        eprintln!(
            "\nThis run lost its lock (it was taken over or unlocked): starting nothing new, and no more state writes."
        );
        on_lost.cancel();
    });

    let progress = render::ProgressLines::new(plan.changes.iter().filter(|c| c.action.is_change()).count());
    let writer = LockWriter(lock);
    let executor =
        Executor { registry: &aws.registry, options: ExecOptions::default(), progress: &progress, writer: &writer };
    let report = {
        let run = executor.apply(&plan, &s.graph, &inventory, &mut state, cancel);
        tokio::pin!(run);
        let mut heartbeat = tokio::time::interval(render::ProgressLines::HEARTBEAT);
        loop {
            tokio::select! {
                report = &mut run => break report.map_err(|e| miette!("{e}")),
                _ = heartbeat.tick() => progress.heartbeat(),
            }
        }
    };
    signals.abort();
    lease.abort();
    let report = report?;
    let verb = match mode {
        Mode::Apply => "Apply",
        Mode::Destroy => "Destroy",
        Mode::Fix => "Fix",
    };
    print!("{}", render::report_text(&report, verb));
    if !report.succeeded() {
        let help = if report.cancelled {
            format!(
                "run `paystack {operation} --env {}` again to finish; what was created is recorded and will be adopted",
                s.env.name
            )
        } else {
            format!(
                "fix the failures above, then run `paystack {operation} --env {}` again; finished resources are recorded and are not redone",
                s.env.name
            )
        };
        return Err(miette!(help = help, "{operation} of `{}` did not complete", s.key()));
    }
    if mode == Mode::Apply {
        println!("\nOutputs:");
        print!("{}", render::outputs_text(&s.blueprint.resolve_outputs(&state)));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy)]
struct DriftArgs {
    json: bool,
    notify: bool,
    fix: bool,
    /// How many stacks `drift_many` reads at once.
    parallel: usize,
}

/// How many drifted fields a notification lists.
const NOTIFY_LIMIT: usize = 10;

/// What one drift check read and found.
struct Checked {
    aws: Aws,
    state: StateDocument,
    report: paystack_engine::DriftReport,
}

/// Reads the stack's state and live resources and finds the drift; `None` when the stack
/// has no state (it was never applied, so there is nothing to drift from).
async fn check_drift(s: &Stack, aws: Aws) -> Result<Option<Checked>> {
    let looked_up = s.looked_up(&aws).await?;
    let backend = aws.backend(&looked_up);
    let Some(state) = backend.read().await.map_err(|e| s.state_error(e))? else { return Ok(None) };
    let inventory = aws.observe(&s.scope()).await?;
    let plan = paystack_engine::plan(&looked_up.graph, &aws.registry, &state, &inventory);
    let report = drift_report(&looked_up, &aws, &plan, &state);
    Ok(Some(Checked { aws, state, report }))
}

/// `drift`: read-only unless `--fix`, and then through the same lock, guard and executor as
/// apply, with a plan cut down to the drifted resources.
async fn drift(s: &Stack, args: DriftArgs, confirm: Confirm, lock: &LockArgs) -> Result<ExitCode> {
    let Checked { aws, state, report } = check_drift(s, Aws::connect(s).await).await?.ok_or_else(|| {
        miette!(
            help = format!("run `paystack apply --env {}` first; drift is measured from what it recorded", s.env.name),
            "`{}` has no state yet",
            s.key()
        )
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::drift_json(&report, &s.env.name, &s.key())).into_diagnostic()?
        );
    } else {
        print!("{}", render::drift_text(&report, &s.key(), &s.env.region));
    }
    if !report.has_drift() {
        return Ok(ExitCode::SUCCESS);
    }
    if args.notify {
        notify(s, &aws, &state, &report).await?;
    }
    if args.fix {
        converge(s, Mode::Fix, confirm, lock, None).await?;
    }
    Ok(ExitCode::from(2))
}

/// `drift --all-envs` and `drift --suffix a,b,…`: every stack named checked concurrently,
/// reported in name order. One stack's failure is reported and does not stop the others.
/// Every stack's configuration is validated before the first check starts.
async fn drift_many(cli: &Cli, env: Option<&str>, suffixes: &[String], args: DriftArgs) -> Result<ExitCode> {
    let config = Config::load(&cli.config).map_err(InvalidConfig::from)?;
    let envs: Vec<&str> = match env {
        Some(env) => vec![env],
        None => config.environments.keys().map(String::as_str).collect(),
    };
    let mut suffixes: Vec<Option<&str>> = suffixes.iter().map(|s| Some(s.as_str())).collect();
    suffixes.sort_unstable();
    suffixes.dedup();
    if suffixes.is_empty() {
        suffixes.push(None);
    }
    let mut stacks = Vec::new();
    for name in envs {
        for suffix in &suffixes {
            let env = config.environment(name, *suffix).map_err(InvalidConfig::from)?;
            stacks.push(build(env, &Lookups::default(), cli.state_dir.clone())?);
        }
    }

    let pool = Arc::new(ClientPool::from_env().await);
    let slots = Arc::new(tokio::sync::Semaphore::new(args.parallel));
    let mut checks = tokio::task::JoinSet::new();
    for s in stacks {
        let (pool, slots) = (Arc::clone(&pool), Arc::clone(&slots));
        checks.spawn(async move {
            let checked = match slots.acquire_owned().await {
                Ok(_slot) => check_drift(&s, Aws::from_pool(&pool, &s).await).await,
                Err(e) => Err(miette!("{e}")),
            };
            (s, checked)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = checks.join_next().await {
        results.push(joined.into_diagnostic()?);
    }
    results.sort_by_key(|(s, _)| s.key());

    let (mut failed, mut drifted, mut documents) = (false, false, Vec::new());
    for (s, checked) in results {
        match checked {
            Err(e) => {
                failed = true;
                eprintln!("{e:?}");
                documents
                    .push(serde_json::json!({ "environment": s.env.name, "stack": s.key(), "error": e.to_string() }));
            }
            Ok(None) => {
                if !args.json {
                    println!("`{}`: not applied yet, so nothing to drift from.", s.key());
                }
                documents.push(serde_json::json!({ "environment": s.env.name, "stack": s.key(), "applied": false }));
            }
            Ok(Some(Checked { aws, state, report })) => {
                if args.json {
                    documents.push(render::drift_json(&report, &s.env.name, &s.key()));
                } else {
                    print!("{}", render::drift_text(&report, &s.key(), &s.env.region));
                }
                if report.has_drift() {
                    drifted = true;
                    if args.notify
                        && let Err(e) = notify(&s, &aws, &state, &report).await
                    {
                        failed = true;
                        eprintln!("{e:?}");
                    }
                }
            }
        }
    }
    if args.json {
        let all = serde_json::json!({ "format_version": 1, "drift": drifted, "environments": documents });
        println!("{}", serde_json::to_string_pretty(&all).into_diagnostic()?);
    }
    Ok(ExitCode::from(if failed {
        1
    } else if drifted {
        2
    } else {
        0
    }))
}

/// One environment as `parity` reads it.
struct Read {
    s: Stack,
    plan: Plan,
    inventory: Inventory,
}

impl Read {
    fn side<'a>(&'a self, stack: &'a str) -> paystack_engine::Side<'a> {
        paystack_engine::Side {
            env: &self.s.env.name,
            stack,
            graph: &self.s.graph,
            plan: &self.plan,
            inventory: &self.inventory,
        }
    }
}

/// Reads a stack's state and live resources, and plans what apply would change.
async fn read_live(s: &Stack) -> Result<Read> {
    let aws = Aws::connect(s).await;
    let s = s.looked_up(&aws).await?;
    let state = aws.backend(&s).read().await.map_err(|e| s.state_error(e))?.ok_or_else(|| {
        miette!(
            help = format!("run `paystack apply --env {}` first; parity compares environments that exist", s.env.name),
            "`{}` has no state yet",
            s.key()
        )
    })?;
    let inventory = aws.observe(&s.scope()).await?;
    let plan = apply_plan(&s, &aws, &state, &inventory);
    Ok(Read { s, plan, inventory })
}

/// `parity`: both environments read at once, then compared. Read-only.
async fn parity(a: &Stack, b: &Stack, json: bool) -> Result<ExitCode> {
    let (a, b) = tokio::try_join!(read_live(a), read_live(b))?;
    let (key_a, key_b) = (a.s.key(), b.s.key());
    let report = paystack_engine::compare_parity(&a.side(&key_a), &b.side(&key_b));
    if json {
        let document = render::parity_json(&report, (&a.s.env.name, &key_a), (&b.s.env.name, &key_b));
        println!("{}", serde_json::to_string_pretty(&document).into_diagnostic()?);
    } else {
        print!("{}", render::parity_text(&report, &key_a, &key_b));
    }
    Ok(if report.has_unexplained() { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// Who else owns a live field value, if anyone. A field `drift.ignore` names belongs to
/// whoever the configuration leaves it to. An ECS service's desired count that moved
/// away from what paystack last set, and stays within the service's auto-scaling range, is
/// auto-scaling's: neither drift nor something for apply to undo. A count paystack set and
/// nothing moved since is paystack's, so a new one in the configuration is applied.
fn owner_of(
    s: &Stack,
    state: &StateDocument,
    c: &paystack_core::Change,
    f: &paystack_core::FieldChange,
) -> Option<String> {
    if s.env.drift.ignore.iter().any(|r| r.resource == c.id.as_str() && r.field == f.field) {
        return Some("configuration (drift.ignore)".to_owned());
    }
    if c.kind != paystack_platform::kinds::ECS_SERVICE.kind() || f.field != "desired_count" {
        return None;
    }
    let (min, max) = s.blueprint.scaling_range(&c.id)?;
    let live = f.before.as_ref()?.as_i64()?;
    let set = state.resources.get(&c.id)?.attributes.get("desired_count")?.as_i64()?;
    (live != set && (min..=max).contains(&live)).then(|| "application-autoscaling".to_owned())
}

/// What `plan` and `apply` carry out: the plan, less what other owners set.
fn apply_plan(s: &Stack, aws: &Aws, state: &StateDocument, inventory: &Inventory) -> Plan {
    let plan = paystack_engine::plan(&s.graph, &aws.registry, state, inventory);
    paystack_engine::yield_to_owners(plan, |c, f| owner_of(s, state, c, f))
}

/// The drift in `plan`.
fn drift_report(s: &Stack, aws: &Aws, plan: &Plan, state: &StateDocument) -> paystack_engine::DriftReport {
    let unordered = |k: &paystack_core::Kind| aws.registry.schema(k).map_or(&[][..], |schema| schema.unordered);
    paystack_engine::detect_drift(plan, state, unordered, |c, f| owner_of(s, state, c, f))
}

/// Publishes one message about `report` to the environment's topic.
async fn notify(s: &Stack, aws: &Aws, state: &StateDocument, report: &paystack_engine::DriftReport) -> Result<()> {
    use paystack_aws::Attribute;
    use paystack_engine::DriftKind;
    let outputs = s.blueprint.resolve_outputs(state);
    let topic = outputs.get("sns_topic_arn").and_then(serde_json::Value::as_str).ok_or_else(|| {
        miette!(
            help = format!("run `paystack apply --env {}` to create it", s.env.name),
            "cannot notify: `{}` has no SNS topic recorded",
            s.key()
        )
    })?;
    let (subject, body) = render::drift_message(report, &s.env.name, &s.key(), NOTIFY_LIMIT);
    let attributes = [
        ("environment", Attribute::Text(s.env.name.clone())),
        ("stack", Attribute::Text(s.key())),
        ("modified", Attribute::Number(report.count(DriftKind::Modified))),
        ("deleted", Attribute::Number(report.count(DriftKind::Deleted))),
        ("unmanaged", Attribute::Number(report.count(DriftKind::Unmanaged))),
    ];
    let id = paystack_aws::publish(&aws.clients, topic, &subject, &body, &attributes).await.map_err(|e| {
        miette!(help = "check that the topic exists and these credentials may publish to it", "cannot notify: {e}")
    })?;
    eprintln!("Notified {topic} (message {id}).");
    Ok(())
}

/// The engine's prevent-destroy rule: nothing is deleted or replaced in a protected
/// environment without an explicit override, and on a terminal the environment's name must
/// be typed as well, `--yes` or not. Returns whether it asked.
fn guard(s: &Stack, plan: &Plan, override_protection: bool, operation: &str) -> Result<bool> {
    let destructive: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .map(|c| c.id.as_str())
        .collect();
    if !s.env.protected || destructive.is_empty() {
        return Ok(false);
    }
    if !override_protection {
        return Err(miette!(
            help = "nothing was changed. If this is intended, run again with --override-protection",
            "`{}` is protected, and this would delete or replace {} resource(s): {}",
            s.env.name,
            destructive.len(),
            destructive.join(", ")
        ));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    ask(s, operation, &s.env.name)?;
    Ok(true)
}

/// Asks on the terminal unless `--yes`. A protected environment must be typed by name.
fn confirm_on_terminal(s: &Stack, operation: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            help = format!("review the plan above, then run `paystack {operation} --env {} --yes`", s.env.name),
            "refusing to {operation} without confirmation: there is no terminal to ask"
        ));
    }
    let expected = if s.env.protected { s.env.name.clone() } else { "yes".to_owned() };
    ask(s, operation, &expected)
}

fn ask(s: &Stack, operation: &str, expected: &str) -> Result<()> {
    eprint!("\nDo you want to {operation} `{}`? Type `{expected}` to continue: ", s.key());
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).into_diagnostic()?;
    if answer.trim() != expected {
        return Err(miette!("{operation} cancelled; nothing was changed"));
    }
    Ok(())
}
