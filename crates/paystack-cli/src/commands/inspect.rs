//! The commands that read a stack without planning it, and the one that forgets part of
//! it: `output`, `envs`, `graph`, `state list|show|rm`, `unlock` and `completions`. Each
//! validates only the environment it names.

use std::process::ExitCode;

use clap::CommandFactory;
use miette::{IntoDiagnostic, Result, miette};
use paystack_config::Config;
use paystack_core::{ResourceId, StateDocument};

use super::converge::{ask, give_back, take_lock};
use super::{Aws, Stack};
use crate::args::{Cli, GraphFormat, LockArgs};
use crate::render;

/// The stack's state; `None` when it was never applied.
pub(super) async fn read_state(s: &Stack) -> Result<Option<StateDocument>> {
    let aws = Aws::connect(s).await?;
    s.read_from(&*aws.backend(s)).await
}

/// `output`: every output, or the one `name`; `--raw` prints its bare value for a shell.
pub(super) async fn output(s: &Stack, name: Option<&str>, json: bool, raw: bool) -> Result<ExitCode> {
    let state = read_state(s).await?;
    let applied = state.as_ref().filter(|state| !state.resources.is_empty());
    // Some outputs are names the configuration fixes; with nothing applied they say nothing.
    let outputs = applied.map(|state| s.blueprint.resolve_outputs(state)).unwrap_or_default();
    if applied.is_none() && name.is_none() {
        // Scripts reading `--json` still get an object; people get a sentence.
        if json {
            outln!("{{}}");
        }
        diagln!(
            "`{}` has no outputs: {}. `{}` makes them.",
            s.key(),
            if state.is_none() { "it was never applied" } else { "nothing of it is applied" },
            s.command("apply")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(name) = name else {
        if json {
            outln!("{}", serde_json::to_string_pretty(&outputs).into_diagnostic()?);
        } else {
            out!("{}", render::outputs_text(&outputs));
        }
        return Ok(ExitCode::SUCCESS);
    };
    let Some(value) = outputs.get(name) else {
        let known: Vec<&str> = s.blueprint.outputs.keys().map(String::as_str).collect();
        let help = if s.blueprint.outputs.contains_key(name) {
            format!("`{name}` comes from a resource not applied yet; `{}` makes it", s.command("apply"))
        } else {
            format!("the outputs are {}", known.join(", "))
        };
        return Err(miette!(help = help, "`{}` has no output `{name}`", s.key()));
    };
    match value {
        serde_json::Value::String(text) if raw => outln!("{text}"),
        other if raw => outln!("{other}"),
        other => outln!("{}", serde_json::to_string_pretty(other).into_diagnostic()?),
    }
    Ok(ExitCode::SUCCESS)
}

/// `envs`: every environment with where it lives and how it is guarded.
pub(super) fn envs(config: &Config) -> ExitCode {
    let rows: Vec<[String; 5]> = super::many::in_order(config)
        .iter()
        .filter_map(|name| config.environments.get(name))
        .map(|e| {
            [
                e.name.clone(),
                e.account.as_ref().map_or_else(|| "(the caller's)".to_owned(), |a| a.id.clone()),
                e.replica_region.as_ref().map_or_else(|| e.region.clone(), |r| format!("{}, {r}", e.region)),
                if e.protected { "yes".into() } else { "no".into() },
                e.suffix
                    .clone()
                    .map_or_else(|| "none; --suffix adds one".to_owned(), |s| format!("{s} (from its file)")),
            ]
        })
        .collect();
    let head = ["environment", "account", "regions", "protected", "suffix"];
    let widths: Vec<usize> =
        (0..head.len()).map(|i| rows.iter().map(|r| r[i].len()).chain([head[i].len()]).max().unwrap_or(0)).collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(&head.map(str::to_owned));
    for row in &rows {
        line(row);
    }
    ExitCode::SUCCESS
}

/// `completions SHELL`: the script that completes commands, flags and values.
pub(super) fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "paystack", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    ExitCode::SUCCESS
}

/// `graph`: the stack's resources, or the targets' closure, coloured by kind family or by
/// the plan.
pub(super) async fn graph(s: &Stack, plan: bool, targets: &[String], format: GraphFormat) -> Result<ExitCode> {
    use render::graph::{closure, dot, through_graphviz};
    if format == GraphFormat::Png && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(miette!(
            help = format!("send it to a file: `{} --format png > {}.png`", s.command("graph"), s.key()),
            "a PNG is not for a terminal"
        ));
    }
    let shown = closure(&s.graph, targets);
    if shown.is_empty() {
        return Err(miette!(
            help = format!("`{}` shows every resource id", s.command("graph")),
            "--target {} names no resource of `{}`",
            targets.join(", --target "),
            s.key()
        ));
    }
    let actions = if plan {
        let planned = super::planned(&Aws::connect(s).await?, s, false, targets).await?;
        Some(planned.plan.changes.iter().map(|c| (c.id.clone(), c.action)).collect())
    } else {
        None
    };
    let place = s.env.account.as_ref().map_or_else(|| s.env.region.clone(), |a| format!("{}, {}", a.id, s.env.region));
    let title = format!("{} ({place}){}", s.key(), if plan { ": the plan" } else { "" });
    let text = dot(&s.graph, &title, &shown, actions.as_ref());
    match format {
        GraphFormat::Dot => out!("{text}"),
        GraphFormat::Svg | GraphFormat::Png => {
            let kind = if format == GraphFormat::Svg { "svg" } else { "png" };
            let drawn = through_graphviz(&text, kind).map_err(|e| {
                miette!(
                    help = "install Graphviz (`apt-get install graphviz`, `brew install graphviz`), or print DOT with `--format dot`",
                    "{e}"
                )
            })?;
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(&drawn);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `state list`.
pub(super) async fn state_list(s: &Stack) -> Result<ExitCode> {
    let state = read_state(s).await?.unwrap_or_else(|| paystack_state::new_document(&s.key()));
    if state.resources.is_empty() {
        diagln!("`{}` has nothing recorded in state.", s.key());
    }
    for (id, r) in &state.resources {
        outln!("{id}\t{}\t{}", r.kind, r.aws_id);
    }
    Ok(ExitCode::SUCCESS)
}

/// `state show ID`.
pub(super) async fn state_show(s: &Stack, id: &str) -> Result<ExitCode> {
    let state = read_state(s).await?.unwrap_or_else(|| paystack_state::new_document(&s.key()));
    let record = state.resources.get(&ResourceId::new(id)).ok_or_else(|| not_recorded(s, id))?;
    outln!("{}", serde_json::to_string_pretty(record).into_diagnostic()?);
    Ok(ExitCode::SUCCESS)
}

fn not_recorded(s: &Stack, id: &str) -> miette::Report {
    miette!(
        help = format!("`{}` lists what is recorded", s.command("state list")),
        "`{id}` is not in the state of `{}`",
        s.key()
    )
}

/// `state rm ID…`: forgets the resources under the stack's lock, after asking. They stay in
/// AWS as they are.
pub(super) async fn state_rm(s: &Stack, ids: &[String], yes: bool, lock_args: &LockArgs) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let aws = Aws::connect(s).await?;
    let backend = aws.backend(s);
    let lock = take_lock(s, &backend, "state rm", lock_args).await?;
    let result = async {
        let mut state = s.read_from(&*backend).await?.ok_or_else(|| not_recorded(s, &ids[0]))?;
        for id in ids {
            if !state.resources.contains_key(&ResourceId::new(id.as_str())) {
                return Err(not_recorded(s, id));
            }
        }
        for id in ids {
            let r = &state.resources[&ResourceId::new(id.as_str())];
            outln!("  - {id} ({}) {}", r.kind, r.aws_id);
        }
        let what = render::count(ids.len(), "resource");
        if !yes {
            if !std::io::stdin().is_terminal() {
                let again = format!("{} {} --yes", s.command("state rm"), ids.join(" "));
                return Err(miette!(
                    help = format!("run `{again}` to forget them"),
                    "refusing to forget {what} without confirmation: there is no terminal to ask"
                ));
            }
            ask("forget", &format!("these {what} of `{}` (they stay in AWS)", s.key()), "yes")?;
        }
        for id in ids {
            state.resources.remove(&ResourceId::new(id.as_str()));
        }
        lock.write(&mut state).await.map_err(|e| s.state_error(e))?;
        outln!(
            "Forgot {what}. They stay in AWS with their tags: while the configuration still has them, the next apply adopts them back by those tags; `{}` shows it.",
            s.command("plan")
        );
        Ok(ExitCode::SUCCESS)
    }
    .await;
    give_back(s, lock).await;
    result
}

/// `unlock ID`: releases a crashed run's lock.
pub(super) async fn unlock(s: &Stack, lock_id: &str) -> Result<ExitCode> {
    let aws = Aws::connect(s).await?;
    let backend = aws.backend(s);
    let released = paystack_state::unlock(&*backend.locks(), &s.key(), lock_id).await.map_err(|e| s.state_error(e))?;
    outln!("Released lock {} on `{}`, held by {released}.", released.id, s.key());
    outln!("The next run takes the lock and fences that holder off: it can no longer write state.");
    Ok(ExitCode::SUCCESS)
}
