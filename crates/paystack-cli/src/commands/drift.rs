//! `drift`: one stack, or a fleet of stacks at once, with `--notify` and `--fix`.

use std::process::ExitCode;
use std::sync::Arc;

use miette::{IntoDiagnostic, Result, miette};
use paystack_aws::ClientPool;
use paystack_config::Config;
use paystack_core::{Plan, StateDocument};
use paystack_platform::Lookups;

use super::converge::{Confirm, Mode, converge};
use super::{Aws, Stack, build, owner_of};
use crate::args::{Cli, LockArgs};
use crate::diagnostics::InvalidConfig;
use crate::render;

#[derive(Clone, Copy)]
pub(super) struct DriftArgs {
    pub(super) json: bool,
    pub(super) notify: bool,
    pub(super) fix: bool,
    /// How many stacks `drift_many` reads at once.
    pub(super) parallel: usize,
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
    let Some(state) = s.read_from(&*backend).await? else { return Ok(None) };
    let inventory = aws.observe(&s.scope()).await?;
    let plan = paystack_engine::plan(&looked_up.graph, &aws.registry, &state, &inventory);
    let report = drift_report(&looked_up, &aws, &plan, &state);
    Ok(Some(Checked { aws, state, report }))
}

/// `drift`: read-only unless `--fix`, and then through the same lock, guard and executor as
/// apply, with a plan cut down to the drifted resources.
pub(super) async fn drift(s: &Stack, args: DriftArgs, confirm: Confirm, lock: &LockArgs) -> Result<ExitCode> {
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
pub(super) async fn drift_many(cli: &Cli, env: Option<&str>, suffixes: &[String], args: DriftArgs) -> Result<ExitCode> {
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

/// The drift in `plan`.
pub(super) fn drift_report(s: &Stack, aws: &Aws, plan: &Plan, state: &StateDocument) -> paystack_engine::DriftReport {
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
