//! `plan` of one stack, the plan every command that plans shares (`planned`), `--target`'s
//! narrowing, and `apply FILE`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use miette::{IntoDiagnostic, Result, miette};
use paystack_core::{Plan, ResourceId, StateDocument};
use paystack_engine::{Origin, SavedPlan};

use super::converge::{Confirm, Mode, converge};
use super::load::{Validate, load};
use super::{Aws, Stack, apply_plan, load_plan, observe, save_plan};
use crate::args::{Cli, StackArgs};
use crate::render;

/// `plan` of one stack: what apply (or with `destroy`, destroy) would do, narrowed to
/// `targets`.
pub(super) async fn plan(
    s: &Stack,
    prices: &paystack_cost::PriceTable,
    destroy: bool,
    targets: &[String],
    json: bool,
    out: Option<&Path>,
    detailed_exitcode: bool,
) -> Result<ExitCode> {
    let Planned { plan, stored, .. } = planned(&Aws::connect(s).await?, s, destroy, targets).await?;
    let delta = super::cost::plan_delta(s, prices, &plan, stored.as_ref(), destroy);
    if json {
        let mut doc = render::plan_json(&plan, &s.env.name, &s.key());
        doc["targets"] = serde_json::json!(targets);
        doc["cost"] = super::cost::delta_json(&delta);
        outln!("{}", serde_json::to_string_pretty(&doc).into_diagnostic()?);
    } else {
        out!("{}", render::plan_text(&plan, &s.heading(targets, destroy)));
        if plan.has_changes() {
            out!("{}", super::cost::delta_text(&delta));
        }
    }
    if let Some(path) = out {
        let origin =
            Origin { environment: s.env.name.clone(), suffix: s.env.suffix.clone(), targets: targets.to_vec() };
        save_plan(s, stored.as_ref(), &plan, origin, path)?;
        diagln!("Saved this plan to {}. Apply exactly it with `paystack apply {}`.", path.display(), path.display());
    }
    Ok(if detailed_exitcode && plan.has_changes() { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// What a plan of a stack found.
pub(super) struct Planned {
    pub(super) plan: Plan,
    /// The state it was made from; `None` before the first apply.
    pub(super) stored: Option<StateDocument>,
    /// The stack with its lookups read, when the plan needed them (not for destroy).
    pub(super) looked_up: Option<Stack>,
}

/// What apply (or with `destroy`, destroy) would do to `s`, read from live AWS through `aws`
/// and narrowed to `targets`.
pub(super) async fn planned(aws: &Aws, s: &Stack, destroy: bool, targets: &[String]) -> Result<Planned> {
    if !destroy {
        s.require_package()?;
    }
    // Destroy needs no lookup: it deletes what is live.
    let looked_up = if destroy { None } else { Some(s.looked_up(aws).await?) };
    let s = looked_up.as_ref().unwrap_or(s);
    let stored = s.read_from(&*aws.backend(s)).await?;
    let state = stored.clone().unwrap_or_else(|| paystack_state::new_document(&s.key()));
    let registries = aws.registries(s, &state).await?;
    let inventory = observe(&registries, &s.scope().recording([&state])).await?;
    let plan = if destroy {
        paystack_engine::plan_destroy(&inventory, &state)
    } else {
        apply_plan(s, &registries, &state, &inventory)
    };
    let plan = targeted(s, plan, &state, targets, destroy)?;
    Ok(Planned { plan, stored, looked_up })
}

/// `apply FILE`: the stack and targets come from the plan; flags given as well must agree.
pub(super) async fn apply_saved(
    cli: &Cli,
    stack: &crate::args::EnvsArgs,
    path: &Path,
    confirm: Confirm,
    lock: &crate::args::LockArgs,
    run: &crate::args::RunArgs,
) -> Result<ExitCode> {
    let text = std::fs::read_to_string(path).map_err(|e| miette!("cannot read the plan {}: {e}", path.display()))?;
    let origin = SavedPlan::origin_of(&text).map_err(|e| {
        miette!(help = "save a plan with `paystack plan --env E --out FILE`", "{}: {e}", path.display())
    })?;
    let single = match (stack.single(), origin.as_ref()) {
        (Some(single), _) => single,
        (None, Some(o)) if stack.env.is_empty() && !stack.all_envs => {
            StackArgs { env: o.environment.clone(), suffix: stack.suffix.clone().or_else(|| o.suffix.clone()) }
        }
        (None, None) if stack.env.is_empty() && !stack.all_envs => {
            return Err(miette!(
                help = format!("pass the environment it was made for: `paystack apply {} --env E`", path.display()),
                "{} was saved by an older paystack and does not say its environment",
                path.display()
            ));
        }
        _ => {
            return Err(miette!(
                help = format!("a saved plan is one stack's: `paystack apply {}`", path.display()),
                "a saved plan cannot be applied to several environments"
            ));
        }
    };
    let saved_targets = origin.map(|o| o.targets).unwrap_or_default();
    if !run.targets.targets.is_empty() && run.targets.targets != saved_targets {
        return Err(miette!(
            help = format!("apply it as it was made: `paystack apply {}`", path.display()),
            "{} was planned for {}, and this names other targets",
            path.display(),
            if saved_targets.is_empty() { "the whole stack".to_owned() } else { saved_targets.join(", ") }
        ));
    }
    let s = load(cli, &single, Validate::Whole)?;
    let saved = load_plan(path, &s)?;
    let run =
        crate::args::RunArgs { targets: crate::args::TargetArgs { targets: saved.targets().to_vec() }, ..run.clone() };
    converge(&s, Mode::Apply, confirm, lock, &run, Some(saved)).await
}

/// `plan` narrowed to `targets` (all of it without any): for destroy, the targets and what
/// depends on them; else the targets and what they depend on. An address that names no
/// resource is refused, rather than planning nothing.
pub(super) fn targeted(
    s: &Stack,
    plan: Plan,
    state: &StateDocument,
    targets: &[String],
    destroy: bool,
) -> Result<Plan> {
    use paystack_engine::target::{Closure, narrow, unmatched};
    if targets.is_empty() {
        return Ok(plan);
    }
    let ids: BTreeSet<&ResourceId> = s
        .blueprint
        .specs
        .iter()
        .map(|spec| &spec.id)
        .chain(state.resources.keys())
        .chain(plan.changes.iter().map(|c| &c.id))
        .collect();
    let unknown = unmatched(targets, &ids);
    if !unknown.is_empty() {
        let layers: BTreeSet<&str> = ids.iter().filter_map(|id| id.as_str().split('.').next()).collect();
        return Err(miette!(
            help = format!(
                "a target is a resource id or a prefix of ids, such as {}; `{}` lists the ids",
                layers.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", "),
                s.command("graph")
            ),
            "--target {} names no resource of `{}`; nothing was read or changed",
            unknown.join(", --target "),
            s.key()
        ));
    }
    let closure = if destroy { Closure::Dependents } else { Closure::Dependencies };
    Ok(narrow(&plan, targets, &s.graph, state, closure))
}
