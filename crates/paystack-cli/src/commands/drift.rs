//! `drift`: one stack, or a fleet of stacks at once, with `--notify` and `--fix`.
//!
//! Both go through the engine's fleet runner: the certificate and zone are looked up once
//! per environment, each stack's state is read on its own, and one batched read per kind
//! per placement serves every stack.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use miette::{IntoDiagnostic, Result, miette};
use paystack_aws::ClientPool;
use paystack_core::{Change, FieldChange, Plan, StateDocument};
use paystack_engine::{DriftReport, Member, Registries};
use paystack_platform::Lookups;

use super::converge::{Confirm, Mode, converge};
use super::{Aws, Flags, Stack, build, owner_of};
use crate::args::{Cli, LockArgs, RunArgs};
use crate::diagnostics::config_error;
use crate::render;

#[derive(Clone, Copy)]
pub(super) struct DriftArgs {
    pub(super) json: bool,
    pub(super) notify: bool,
    pub(super) fix: bool,
    /// With `fix`: delete the unmanaged resources too.
    pub(super) prune: bool,
    /// How many stacks' states are read at once.
    pub(super) parallel: usize,
}

/// How many drifted fields a notification lists.
const NOTIFY_LIMIT: usize = 10;

/// What a drift check found for one stack: `None` when it has no state (it was never
/// applied, so there is nothing to drift from).
type Outcome = Result<Option<(StateDocument, DriftReport)>>;

/// `drift`: read-only unless `--fix`, and then through the same lock, guard and executor as
/// apply, with a plan cut down to the drifted resources.
pub(super) async fn drift(s: &Stack, args: DriftArgs, confirm: Confirm, lock: &LockArgs) -> Result<ExitCode> {
    let pool = Arc::new(ClientPool::from_env(&s.env.region).await);
    let aws = Aws::from_pool(&pool, s).await?;
    let s = Arc::new(s.looked_up(&aws).await?);
    let outcome = check(&pool, std::slice::from_ref(&s), args.parallel).await.into_iter().next();
    let outcome = outcome.unwrap_or_else(|| Err(miette!("the drift check of `{}` returned nothing", s.key())));
    let (state, report) = outcome?.ok_or_else(|| {
        miette!(
            help = format!("run `{}` first; drift is measured from what it recorded", s.command("apply")),
            "`{}` has no state yet",
            s.key()
        )
    })?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&render::drift_json(&report, &s.env.name, &s.key())).into_diagnostic()?
        );
    } else {
        out!("{}", render::drift_text(&report, &s.key(), &s.env.region));
    }
    if !report.has_drift() {
        return Ok(ExitCode::SUCCESS);
    }
    if args.notify {
        notify(&s, &aws, &state, &report).await?;
    }
    if args.fix {
        converge(&s, Mode::Fix { prune: args.prune }, confirm, lock, &RunArgs::default(), None).await?;
    }
    Ok(ExitCode::from(2))
}

/// `drift --all-envs` and `drift --suffix a,b,…`: every stack named, reported in name order.
/// One stack's failure is reported and does not stop the others. Every stack's
/// configuration is validated before the first AWS call.
pub(super) async fn drift_many(cli: &Cli, env: Option<&str>, suffixes: &[String], args: DriftArgs) -> Result<ExitCode> {
    // One environment's stacks need only its file; every environment's need all of them.
    let validate = if env.is_some() { super::Validate::One } else { super::Validate::Whole };
    let config = super::load::config(cli, validate, env.unwrap_or_default())?;
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
    let mut unresolved = Vec::new();
    for name in envs {
        for suffix in &suffixes {
            let env = config.environment(name, *suffix).map_err(config_error)?;
            let local = super::local_lookups(cli, &env)?;
            let built = build(env, &local, cli.state_dir.clone())?;
            unresolved.push(Stack { flags: Flags::of(cli, *suffix), ..built });
        }
    }

    // The certificate and zone, once per environment: its stacks share them.
    let home = unresolved.first().map_or("us-east-1", |s| s.env.region.as_str());
    let pool = Arc::new(ClientPool::from_env(home).await);
    let mut lookups: BTreeMap<String, Option<Lookups>> = BTreeMap::new();
    for s in &unresolved {
        if !lookups.contains_key(&s.env.name) {
            let found = match Aws::from_pool(&pool, s).await {
                Ok(aws) => s.lookups(&aws).await,
                Err(e) => Err(e),
            };
            lookups.insert(s.env.name.clone(), found.inspect_err(|e| diagln!("{e:?}")).ok());
        }
    }
    let (mut failed, mut drifted, mut documents) = (false, false, Vec::new());
    let mut stacks = Vec::new();
    for s in unresolved {
        match &lookups[&s.env.name] {
            Some(found) => stacks.push(Arc::new(s.with_lookups(found)?)),
            None => {
                failed = true;
                let error = format!("the lookups of `{}` failed (see above)", s.env.name);
                documents.push(serde_json::json!({ "environment": s.env.name, "stack": s.key(), "error": error }));
            }
        }
    }

    let outcomes = check(&pool, &stacks, args.parallel).await;
    for (s, outcome) in stacks.iter().zip(outcomes) {
        match outcome {
            Err(e) => {
                failed = true;
                diagln!("{e:?}");
                documents
                    .push(serde_json::json!({ "environment": s.env.name, "stack": s.key(), "error": e.to_string() }));
            }
            Ok(None) => {
                if !args.json {
                    outln!("`{}`: not applied yet, so nothing to drift from.", s.key());
                }
                documents.push(serde_json::json!({ "environment": s.env.name, "stack": s.key(), "applied": false }));
            }
            Ok(Some((state, report))) => {
                if args.json {
                    documents.push(render::drift_json(&report, &s.env.name, &s.key()));
                } else {
                    out!("{}", render::drift_text(&report, &s.key(), &s.env.region));
                }
                if report.has_drift() {
                    drifted = true;
                    if args.notify
                        && let Err(e) = notify_through(&pool, s, &state, &report).await
                    {
                        failed = true;
                        diagln!("{e:?}");
                    }
                }
            }
        }
    }
    if args.json {
        documents.sort_by(|a, b| a["stack"].as_str().cmp(&b["stack"].as_str()));
        let all = serde_json::json!({ "format_version": 1, "drift": drifted, "environments": documents });
        outln!("{}", serde_json::to_string_pretty(&all).into_diagnostic()?);
    }
    Ok(ExitCode::from(if failed {
        1
    } else if drifted {
        2
    } else {
        0
    }))
}

/// The drift of each of `stacks` (already looked up), in their order. Their states are read
/// `parallel` at a time; then one read per kind per placement serves every applied stack.
async fn check(pool: &Arc<ClientPool>, stacks: &[Arc<Stack>], parallel: usize) -> Vec<Outcome> {
    let slots = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut reads = tokio::task::JoinSet::new();
    for (i, s) in stacks.iter().enumerate() {
        let (pool, slots, s) = (Arc::clone(pool), Arc::clone(&slots), Arc::clone(s));
        reads.spawn(async move {
            let read = match slots.acquire_owned().await {
                Ok(_slot) => match Aws::from_pool(&pool, &s).await {
                    Ok(aws) => s.read_from(&*aws.backend(&s)).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(miette!("{e}")),
            };
            (i, read)
        });
    }
    let mut states: Vec<Result<Option<StateDocument>>> = stacks.iter().map(|_| Ok(None)).collect();
    while let Some(joined) = reads.join_next().await {
        match joined {
            Ok((i, read)) => states[i] = read,
            Err(e) => return stacks.iter().map(|_| Err(miette!("a state read stopped: {e}"))).collect(),
        }
    }

    let mut registries = Registries::default();
    for (s, state) in stacks.iter().zip(states.iter_mut()) {
        if let Ok(Some(document)) = state {
            match Aws::from_pool(pool, s).await {
                Ok(aws) => match aws.registries(s, document).await {
                    Ok(r) => registries.extend(r),
                    Err(e) => *state = Err(e),
                },
                Err(e) => *state = Err(e),
            }
        }
    }
    let applied: Vec<(&Arc<Stack>, &StateDocument)> =
        stacks.iter().zip(&states).filter_map(|(s, state)| Some((s, state.as_ref().ok()?.as_ref()?))).collect();
    let field_owners: Vec<_> =
        applied.iter().map(|&(s, state)| move |c: &Change, f: &FieldChange| owner_of(s, state, c, f)).collect();
    let members: Vec<Member> = applied
        .iter()
        .zip(&field_owners)
        .map(|(&(s, state), field_owner)| Member { owner: s.owner(), graph: &s.graph, state, field_owner })
        .collect();
    let mut checked = match paystack_engine::drift_fleet(&registries, &members).await {
        Ok(checked) => checked.into_iter(),
        Err(e) => {
            let help = "check AWS credentials, region and AWS_ENDPOINT_URL; nothing was changed";
            return stacks.iter().map(|_| Err(miette!(help = help, "{e}"))).collect();
        }
    };
    states
        .into_iter()
        .map(|state| match state? {
            None => Ok(None),
            Some(state) => {
                let found = checked.next().ok_or_else(|| miette!("the fleet read returned too few results"))?;
                Ok(Some((state, found.report)))
            }
        })
        .collect()
}

/// The drift in `plan`.
pub(super) fn drift_report(s: &Stack, registries: &Registries, plan: &Plan, state: &StateDocument) -> DriftReport {
    paystack_engine::drift_in(plan, registries, state, &|c, f| owner_of(s, state, c, f))
}

/// Publishes one message about `report` to the environment's topic.
/// [`notify`] through the clients of `pool`.
async fn notify_through(pool: &Arc<ClientPool>, s: &Stack, state: &StateDocument, report: &DriftReport) -> Result<()> {
    notify(s, &Aws::from_pool(pool, s).await?, state, report).await
}

async fn notify(s: &Stack, aws: &Aws, state: &StateDocument, report: &DriftReport) -> Result<()> {
    use paystack_aws::Attribute;
    use paystack_engine::DriftKind;
    let outputs = s.blueprint.resolve_outputs(state);
    let topic = outputs.get("sns_topic_arn").and_then(serde_json::Value::as_str).ok_or_else(|| {
        miette!(
            help = format!("run `{}` to create it", s.command("apply")),
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
    diagln!("Notified {topic} (message {id}).");
    Ok(())
}
