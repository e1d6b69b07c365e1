//! `plan`, `apply` and `destroy` over several environments in one run, as CloudFormation
//! StackSets would deploy one template to several accounts: each environment in its own
//! account through its role, at most `--max-concurrent` at once, in the order given, and no
//! new one started once more than `--failure-tolerance` have failed.
//!
//! Every environment is validated first, then planned; one confirmation covers the combined
//! plan; then each runs as a single `apply` would, taking its own lock only while it runs, and
//! carrying out exactly the plan that was confirmed (or failing, if its state or resources
//! moved in between). A result table closes the run.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use miette::{IntoDiagnostic, Result, miette};
use paystack_aws::ClientPool;
use paystack_config::{Config, Environment};
use paystack_core::{Action, Plan};
use paystack_cost::PriceTable;
use paystack_engine::SavedPlan;
use serde_json::{Value, json};

use super::converge::{Confirm, Mode, ask, converge};
use super::{Aws, Flags, Stack, build};
use crate::args::{Cli, EnvsArgs, LockArgs, RunArgs};
use crate::diagnostics::config_error;
use crate::render;

/// What became of one environment.
#[derive(Clone, Debug, PartialEq)]
enum EnvResult {
    Succeeded,
    NoChanges,
    Failed(String),
    NotStarted,
}

impl EnvResult {
    fn name(&self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::NoChanges => "no changes",
            Self::Failed(_) => "failed",
            Self::NotStarted => "not started",
        }
    }
}

/// One environment of the run: its stack, and its plan or why it has none.
struct Member {
    stack: Arc<Stack>,
    planned: Result<(Plan, SavedPlan), String>,
    /// What the plan adds to the month, where `plan` estimates it.
    cost: Option<Result<paystack_cost::Delta, String>>,
    result: EnvResult,
    took: Duration,
}

/// The environments `args` names, in the order they start: as given, or for `--all-envs`
/// dev, staging and prod first, then the others by name.
fn environments(config: &Config, args: &EnvsArgs) -> Vec<String> {
    if !args.all_envs {
        let mut seen = Vec::new();
        for e in &args.env {
            if !seen.contains(e) {
                seen.push(e.clone());
            }
        }
        return seen;
    }
    in_order(config)
}

/// Every environment of the configuration in the order runs take them: dev, staging, prod,
/// then the rest by name.
pub(super) fn in_order(config: &Config) -> Vec<String> {
    let rank = |name: &str| ["dev", "staging", "prod"].iter().position(|n| *n == name).unwrap_or(3);
    let mut names: Vec<String> = config.environments.keys().cloned().collect();
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    names
}

/// Validates every environment before anything reaches AWS.
fn load_all(cli: &Cli, args: &EnvsArgs) -> Result<Vec<Stack>> {
    let config = super::load::config(cli, super::Validate::Whole, "")?;
    let mut stacks = Vec::new();
    for name in environments(&config, args) {
        let env = config.environment(&name, args.suffix.as_deref()).map_err(config_error)?;
        let local = super::local_lookups(cli, &env)?;
        let built = build(env, &local, cli.state_dir.clone())?;
        stacks.push(Stack { flags: Flags::of(cli, args.suffix.as_deref()), ..built });
    }
    if stacks.is_empty() {
        return Err(miette!(
            help = "name one with `--env E`, several with `--env dev,staging`, or every one with `--all-envs`",
            "no environment was named; nothing was sent to AWS"
        ));
    }
    Ok(stacks)
}

/// The stack's plan, as `mode` makes it, the stack looked up if the plan needed that, and
/// with `prices` what the plan adds to the month.
async fn plan_one(
    pool: &Arc<ClientPool>,
    s: &Stack,
    mode: Mode,
    targets: &[String],
    prices: Option<&PriceTable>,
) -> Result<(Option<Stack>, Plan, SavedPlan, Option<Result<paystack_cost::Delta, String>>)> {
    let aws = Aws::from_pool(pool, s).await?;
    let destroy = mode == Mode::Destroy;
    let planned = super::planned(&aws, s, destroy, targets).await?;
    let key = planned.looked_up.as_ref().unwrap_or(s).key();
    let saved = SavedPlan::new(&key, planned.stored.as_ref(), &planned.plan);
    let cost = prices.map(|p| super::cost::plan_delta(s, p, &planned.plan, planned.stored.as_ref(), destroy));
    Ok((planned.looked_up, planned.plan, saved, cost))
}

/// Plans every environment, one after another, into members.
async fn plan_all(
    pool: &Arc<ClientPool>,
    stacks: Vec<Stack>,
    mode: Mode,
    targets: &[String],
    json: bool,
    prices: Option<&PriceTable>,
) -> Vec<Member> {
    let mut members = Vec::new();
    for s in stacks {
        let member = match plan_one(pool, &s, mode, targets, prices).await {
            Ok((looked_up, plan, saved, cost)) => {
                let s = looked_up.unwrap_or(s);
                if !json {
                    outln!("== {} ({}) ==", s.env.name, where_(&s.env));
                    out!("{}", render::plan_text(&plan, &s.heading(targets, mode == Mode::Destroy)));
                    if let Some(cost) = cost.as_ref().filter(|_| plan.has_changes()) {
                        out!("{}", super::cost::delta_text(cost));
                    }
                }
                Member {
                    stack: Arc::new(s),
                    planned: Ok((plan, saved)),
                    cost,
                    result: EnvResult::NotStarted,
                    took: Duration::ZERO,
                }
            }
            Err(e) => {
                diagln!("{}: cannot plan: {e:?}", s.env.name);
                let why = format!("cannot plan: {e}");
                Member {
                    stack: Arc::new(s),
                    planned: Err(why),
                    cost: None,
                    result: EnvResult::NotStarted,
                    took: Duration::ZERO,
                }
            }
        };
        members.push(member);
    }
    members
}

/// The account and region an environment lives in, as the table shows them.
fn where_(env: &Environment) -> String {
    let account = env.account.as_ref().map_or("the caller's account", |a| a.id.as_str());
    format!("{account}, {}", env.region)
}

/// `plan` over several environments: each one's plan, then the table. Exit 1 if any could
/// not be planned, else 2 with `--detailed-exitcode` and changes, else 0.
pub(super) async fn plan(
    cli: &Cli,
    args: &EnvsArgs,
    mode: Mode,
    targets: &[String],
    json: bool,
    detailed: bool,
) -> Result<ExitCode> {
    let stacks = load_all(cli, args)?;
    let prices = super::cost::prices(cli)?;
    let pool = Arc::new(ClientPool::from_env(&stacks[0].env.region).await);
    let mut members = plan_all(&pool, stacks, mode, targets, json, Some(&prices)).await;
    for m in &mut members {
        m.result = match &m.planned {
            Ok((plan, _)) if plan.has_changes() => EnvResult::Succeeded,
            Ok(_) => EnvResult::NoChanges,
            Err(why) => EnvResult::Failed(why.clone()),
        };
    }
    if json {
        let docs: Vec<Value> = members
            .iter()
            .map(|m| match &m.planned {
                Ok((plan, _)) => {
                    let mut doc = render::plan_json(plan, &m.stack.env.name, &m.stack.key());
                    if let Some(cost) = &m.cost {
                        doc["cost"] = super::cost::delta_json(cost);
                    }
                    doc
                }
                Err(why) => json!({ "environment": m.stack.env.name, "stack": m.stack.key(), "error": why }),
            })
            .collect();
        let all = json!({ "format_version": 1, "environments": docs, "results": results_json(&members, "plan") });
        outln!("{}", serde_json::to_string_pretty(&all).into_diagnostic()?);
    } else {
        out!("{}", table(&members, "plan"));
    }
    let failed = members.iter().any(|m| matches!(m.result, EnvResult::Failed(_)));
    let changes = members.iter().any(|m| m.result == EnvResult::Succeeded);
    Ok(ExitCode::from(if failed {
        1
    } else if detailed && changes {
        2
    } else {
        0
    }))
}

/// `paystack OPERATION` over the same environments with the flags this run was given, for a
/// message to suggest.
fn again(cli: &Cli, args: &EnvsArgs, operation: &str, run: &RunArgs, confirm: Confirm) -> String {
    let selector = if args.all_envs { "--all-envs".to_owned() } else { format!("--env {}", args.env.join(",")) };
    let mut again = Flags::of(cli, args.suffix.as_deref()).selecting(operation, &selector);
    if args.max_concurrent != 1 {
        again.push_str(&format!(" --max-concurrent {}", args.max_concurrent));
    }
    if args.failure_tolerance != 0 {
        again.push_str(&format!(" --failure-tolerance {}", args.failure_tolerance));
    }
    for target in &run.targets.targets {
        again.push_str(&format!(" --target {target}"));
    }
    if confirm.override_protection && operation != "plan" {
        again.push_str(" --override-protection");
    }
    again
}

/// `apply` or `destroy` over several environments.
pub(super) async fn converge_all(
    cli: &Cli,
    args: &EnvsArgs,
    mode: Mode,
    confirm: Confirm,
    lock: &LockArgs,
    run: &RunArgs,
) -> Result<ExitCode> {
    let operation = if mode == Mode::Destroy { "destroy" } else { "apply" };
    if run.json && !confirm.yes {
        return Err(miette!(
            help = format!(
                "review `{}` first, then run `{} --yes`",
                again(cli, args, "plan", run, confirm),
                again(cli, args, operation, run, confirm)
            ),
            "{operation} --json carries out the plans without asking, so it needs --yes"
        ));
    }
    let stacks = load_all(cli, args)?;
    let pool = Arc::new(ClientPool::from_env(&stacks[0].env.region).await);
    let mut members = plan_all(&pool, stacks, mode, &run.targets.targets, run.json, None).await;

    // The production guard, for every protected environment, before anything changes.
    let guarded: Vec<(&str, usize)> = members
        .iter()
        .filter_map(|m| {
            let (plan, _) = m.planned.as_ref().ok()?;
            let destructive = paystack_engine::guard::destructive(plan);
            (m.stack.env.protected && !destructive.is_empty()).then_some((m.stack.env.name.as_str(), destructive.len()))
        })
        .collect();
    let refused: Vec<String> = guarded
        .iter()
        .filter(|_| !confirm.override_protection)
        .map(|(name, n)| format!("`{name}` ({} deleted or replaced)", render::count(*n, "resource")))
        .collect();
    if !refused.is_empty() {
        return Err(miette!(
            help = format!(
                "nothing was changed in any environment. If this is intended, run `{} --override-protection`",
                again(cli, args, operation, run, confirm)
            ),
            "protected, and this would delete or replace resources: {}",
            refused.join(", ")
        ));
    }
    if !members.iter().any(|m| m.planned.as_ref().map_or(true, |(p, _)| p.has_changes())) {
        for m in &mut members {
            m.result = EnvResult::NoChanges;
        }
        return finish(members, operation, run.json);
    }
    // On a terminal, the protected environments' names are typed, `--yes` or not, as for one
    // environment; once for all of them, before any starts.
    let names: Vec<&str> = guarded.iter().map(|(name, _)| *name).collect();
    if !names.is_empty() && std::io::stdin().is_terminal() {
        ask(
            operation,
            &format!("{}, deleting or replacing resources of {}", all_names(&members), names.join(", ")),
            &names.join(","),
        )?;
    } else if !confirm.yes {
        confirm_all(&members, operation, &again(cli, args, operation, run, confirm))?;
    }

    let tolerance = usize::from(args.failure_tolerance);
    let mut running = tokio::task::JoinSet::new();
    let (mut next, mut failures) = (0, 0);
    loop {
        while running.len() < usize::from(args.max_concurrent) && next < members.len() && failures <= tolerance {
            let i = next;
            next += 1;
            let m = &mut members[i];
            let planned = match &m.planned {
                Ok((plan, _)) if !plan.has_changes() => {
                    m.result = EnvResult::NoChanges;
                    continue;
                }
                Ok((_, saved)) => saved.clone(),
                Err(why) => {
                    m.result = EnvResult::Failed(why.clone());
                    failures += 1;
                    continue;
                }
            };
            let (s, lock) = (Arc::clone(&m.stack), lock.clone());
            let run = RunArgs { plan_shown: true, ..run.clone() };
            if run.json {
                outln!("{}", json!({ "event": "environment_started", "environment": s.env.name }));
            } else {
                diagln!("\n== {}: {operation} started ==", s.env.name);
            }
            running.spawn(async move {
                let started = Instant::now();
                let confirm = Confirm { yes: true, override_protection: confirm.override_protection };
                let result = converge(&s, mode, confirm, &lock, &run, Some(planned)).await;
                (i, result, started.elapsed())
            });
        }
        let Some(joined) = running.join_next().await else { break };
        let (i, result, took) = joined.map_err(|e| miette!("an environment's run stopped: {e}"))?;
        let m = &mut members[i];
        m.took = took;
        m.result = match result {
            Ok(_) => EnvResult::Succeeded,
            Err(e) => {
                failures += 1;
                diagln!("{}: {e:?}", m.stack.env.name);
                EnvResult::Failed(e.to_string())
            }
        };
        if run.json {
            outln!(
                "{}",
                json!({ "event": "environment_finished", "environment": m.stack.env.name, "result": m.result.name() })
            );
        }
    }
    finish(members, operation, run.json)
}

/// Asks once, on the terminal, for every environment's changes.
fn confirm_all(members: &[Member], operation: &str, again: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            help = format!("review the plans above, then run `{again} --yes`"),
            "refusing to {operation} without confirmation: there is no terminal to ask"
        ));
    }
    ask(operation, &all_names(members), "yes")
}

/// The environments of the run, as a prompt names them.
fn all_names(members: &[Member]) -> String {
    members.iter().map(|m| m.stack.env.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// The closing table, and the exit code: 0 when every environment succeeded (or had
/// nothing to do), 1 when any failed or was not started.
fn finish(members: Vec<Member>, operation: &str, json: bool) -> Result<ExitCode> {
    if json {
        outln!("{}", json!({ "event": "environments", "results": results_json(&members, operation) }));
    } else {
        out!("\n{}", table(&members, operation));
    }
    let ok = members.iter().all(|m| matches!(m.result, EnvResult::Succeeded | EnvResult::NoChanges));
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What an environment's plan changes, by action: what a successful run did, or what
/// `plan` found to do; nothing for a run that did not succeed.
fn counts(m: &Member, operation: &str) -> [usize; 4] {
    match (&m.planned, &m.result) {
        (Ok((plan, _)), EnvResult::Succeeded) => {
            let n = |a: Action| plan.changes.iter().filter(|c| c.action == a).count();
            [n(Action::Create), n(Action::Update), n(Action::Replace), n(Action::Delete)]
        }
        (Ok((plan, _)), _) if operation == "plan" => {
            let s = plan.summary();
            [s.create, s.update, s.replace, s.delete]
        }
        _ => [0; 4],
    }
}

fn results_json(members: &[Member], operation: &str) -> Vec<Value> {
    members
        .iter()
        .map(|m| {
            let [created, updated, replaced, deleted] = counts(m, operation);
            let env = &m.stack.env;
            json!({
                "environment": env.name,
                "account": env.account.as_ref().map(|a| a.id.clone()),
                "regions": regions(m),
                "result": m.result.name(),
                "error": match &m.result { EnvResult::Failed(e) => Some(e.clone()), _ => None },
                "created": created, "updated": updated, "replaced": replaced, "deleted": deleted,
                "seconds": m.took.as_secs_f64(),
            })
        })
        .collect()
}

/// The regions an environment's changes reach; its own region when it has none.
fn regions(m: &Member) -> Vec<String> {
    let mut regions: Vec<String> = match &m.planned {
        Ok((plan, _)) => plan.changes.iter().filter_map(|c| c.placement.region.clone()).collect(),
        Err(_) => Vec::new(),
    };
    regions.push(m.stack.env.region.clone());
    regions.sort();
    regions.dedup();
    regions
}

fn table(members: &[Member], operation: &str) -> String {
    let head = if operation == "plan" { "changes" } else { "result" };
    let mut out = format!(
        "{:<12} {:<14} {:<22} {:<12} {:>7} {:>7} {:>8} {:>7} {:>8}\n",
        "environment", "account", "regions", head, "create", "update", "replace", "delete", "took"
    );
    for m in members {
        let env = &m.stack.env;
        let account = env.account.as_ref().map_or("(caller)", |a| a.id.as_str());
        let result = match (operation, &m.result) {
            ("plan", EnvResult::Succeeded) => "changes",
            (_, r) => r.name(),
        };
        let [c, u, r, d] = counts(m, operation);
        let took = if m.took.is_zero() { "-".to_owned() } else { format!("{:.1}s", m.took.as_secs_f64()) };
        out.push_str(&format!(
            "{:<12} {:<14} {:<22} {:<12} {c:>7} {u:>7} {r:>8} {d:>7} {took:>8}\n",
            env.name,
            account,
            regions(m).join(","),
            result
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(env: &[&str], all_envs: bool) -> EnvsArgs {
        EnvsArgs {
            env: env.iter().map(|e| (*e).to_owned()).collect(),
            all_envs,
            suffix: None,
            max_concurrent: 1,
            failure_tolerance: 0,
        }
    }

    #[test]
    fn environments_start_in_the_order_given_or_dev_staging_prod() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let config = Config::load(&dir).map_err(|e| e.to_string()).unwrap();
        assert_eq!(environments(&config, &args(&[], true)), ["dev", "staging", "prod"]);
        assert_eq!(environments(&config, &args(&["prod", "dev", "prod"], false)), ["prod", "dev"], "each once");
    }
}
