//! Each command, from validated input to rendered result.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use miette::{IntoDiagnostic, Result, miette};
use paystack_aws::{ClientPool, Target};
use paystack_config::{Config, Environment};
use paystack_core::{Action, Plan, ResourceId, StateDocument};
use paystack_engine::{ExecOptions, Executor, Inventory, ResourceGraph, Scope, StateWriter};
use paystack_platform::{Blueprint, blueprint};
use paystack_state::{LocalBackend, LockInfo, StateBackend};
use tokio_util::sync::CancellationToken;

use crate::args::{Cli, Command, StackArgs, StateCommand};
use crate::diagnostics::{InvalidConfig, state_error};
use crate::render;

/// Everything known about a stack before touching AWS.
struct Stack {
    env: Environment,
    blueprint: Blueprint,
    graph: ResourceGraph,
    backend: LocalBackend,
}

impl Stack {
    fn key(&self) -> String {
        self.blueprint.stack.key()
    }

    fn scope(&self) -> Scope {
        Scope { stack: self.key() }
    }
}

/// Loads and validates the whole configuration, then builds the stack's graph. Nothing here
/// reaches AWS, and every command goes through it first.
fn load(cli: &Cli, args: &StackArgs) -> Result<Stack> {
    let config = Config::load(&cli.config).map_err(InvalidConfig::from)?;
    let env = config.environment(&args.env, args.suffix.as_deref()).map_err(InvalidConfig::from)?;
    let blueprint = blueprint(&env);
    let graph = ResourceGraph::build(blueprint.specs.clone())
        .map_err(|e| miette!("the platform's resource graph is invalid: {e}"))?;
    let backend = LocalBackend::new(&cli.state_dir, &blueprint.stack.key());
    Ok(Stack { env, blueprint, graph, backend })
}

pub(crate) async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Plan { stack, json, detailed_exitcode } => {
            let s = load(&cli, stack)?;
            let state = read_state(&s).await?;
            let aws = Aws::connect(&s).await;
            let inventory = aws.observe(&s.scope()).await?;
            let plan = paystack_engine::plan(&s.graph, &aws.registry, &state, &inventory);
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&render::plan_json(&plan, &s.env.name, &s.key())).into_diagnostic()?
                );
            } else {
                print!("{}", render::plan_text(&plan, &s.key(), &s.env.region));
            }
            Ok(if *detailed_exitcode && plan.has_changes() { ExitCode::from(2) } else { ExitCode::SUCCESS })
        }
        Command::Apply { stack, yes, override_protection } => {
            let s = load(&cli, stack)?;
            converge(&s, Mode::Apply, *yes, *override_protection).await
        }
        Command::Destroy { stack, yes, override_protection } => {
            let s = load(&cli, stack)?;
            converge(&s, Mode::Destroy, *yes, *override_protection).await
        }
        Command::Output { stack, json } => {
            let s = load(&cli, stack)?;
            let state = s.backend.read().await.map_err(|e| state_error(e, &s.key()))?.ok_or_else(|| {
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
            let state = read_state(&s).await?;
            for (id, r) in &state.resources {
                println!("{id}\t{}\t{}", r.kind, r.aws_id);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::State(StateCommand::Show { stack, id }) => {
            let s = load(&cli, stack)?;
            let state = read_state(&s).await?;
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

async fn read_state(s: &Stack) -> Result<StateDocument> {
    let state = s.backend.read().await.map_err(|e| state_error(e, &s.key()))?;
    Ok(state.unwrap_or_else(|| paystack_state::new_document(&s.key())))
}

/// The AWS side of a run: clients for the stack's region and the reconcilers over them.
struct Aws {
    registry: paystack_engine::Registry,
}

impl Aws {
    async fn connect(s: &Stack) -> Self {
        let pool = ClientPool::from_env().await;
        let clients = pool.clients(&Target { region: s.env.region.clone(), role_arn: None }).await;
        Self { registry: paystack_aws::registry(&clients) }
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

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Apply,
    Destroy,
}

struct BackendWriter<'a>(&'a dyn StateBackend);

#[async_trait]
impl StateWriter for BackendWriter<'_> {
    async fn write(&self, doc: &mut StateDocument) -> std::result::Result<(), String> {
        self.0.write(doc).await.map_err(|e| e.to_string())
    }
}

/// Apply or destroy: lock, observe, plan, guard, confirm, execute, report.
async fn converge(s: &Stack, mode: Mode, yes: bool, override_protection: bool) -> Result<ExitCode> {
    let operation = if mode == Mode::Apply { "apply" } else { "destroy" };
    let _lock = s.backend.lock(LockInfo::current(operation)).await.map_err(|e| state_error(e, &s.key()))?;
    let mut state = read_state(s).await?;
    let aws = Aws::connect(s).await;
    let inventory = aws.observe(&s.scope()).await?;
    let plan = match mode {
        Mode::Apply => paystack_engine::plan(&s.graph, &aws.registry, &state, &inventory),
        Mode::Destroy => paystack_engine::plan_destroy(&inventory),
    };
    print!("{}", render::plan_text(&plan, &s.key(), &s.env.region));
    if !plan.has_changes() {
        return Ok(ExitCode::SUCCESS);
    }
    guard(s, &plan, override_protection)?;
    confirm(s, operation, yes)?;

    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
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

    let progress = render::ProgressLines::new(plan.changes.iter().filter(|c| c.action.is_change()).count());
    let writer = BackendWriter(&s.backend);
    let executor =
        Executor { registry: &aws.registry, options: ExecOptions::default(), progress: &progress, writer: &writer };
    let report = {
        let run = executor.apply(&plan, &s.graph, &inventory, &mut state, cancel);
        tokio::pin!(run);
        let mut heartbeat = tokio::time::interval(render::ProgressLines::HEARTBEAT);
        loop {
            tokio::select! {
                report = &mut run => break report.map_err(|e| miette!("{e}"))?,
                _ = heartbeat.tick() => progress.heartbeat(),
            }
        }
    };
    let verb = if mode == Mode::Apply { "Apply" } else { "Destroy" };
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

/// The engine's prevent-destroy rule: nothing is deleted or replaced in a protected
/// environment without an explicit override.
fn guard(s: &Stack, plan: &Plan, override_protection: bool) -> Result<()> {
    let destructive: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .map(|c| c.id.as_str())
        .collect();
    if !s.env.protected || destructive.is_empty() || override_protection {
        return Ok(());
    }
    Err(miette!(
        help = "nothing was changed. If this is intended, run again with --override-protection",
        "`{}` is protected, and this would delete or replace {} resource(s): {}",
        s.env.name,
        destructive.len(),
        destructive.join(", ")
    ))
}

/// Asks on the terminal unless `--yes`. A protected environment must be typed by name.
fn confirm(s: &Stack, operation: &str, yes: bool) -> Result<()> {
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
    eprint!("\nDo you want to {operation} `{}`? Type `{expected}` to continue: ", s.key());
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).into_diagnostic()?;
    if answer.trim() != expected {
        return Err(miette!("{operation} cancelled; nothing was changed"));
    }
    Ok(())
}
