//! `cost`: the stack's monthly estimate; and the price table every estimate reads, with the
//! difference a plan makes. Nothing here reaches AWS.

use std::process::ExitCode;

use miette::{IntoDiagnostic, Result, miette};
use paystack_core::{Plan, StateDocument};
use paystack_cost::{Delta, Estimate, PriceErrors, PriceTable};
use serde_json::Value;

use super::Stack;
use crate::args::Cli;
use crate::render;

/// The price table: the file `--prices` names, else the one built in. Validated whole.
pub(super) fn prices(cli: &Cli) -> Result<PriceTable> {
    let table = match &cli.prices {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                miette!(
                    help = "point --prices (PAYSTACK_PRICES) at a price table, or leave it out to use the built-in one",
                    "cannot read the price table {}: {e}",
                    path.display()
                )
            })?;
            PriceTable::parse(&path.display().to_string(), &text, paystack_cost::Day::today())
        }
        None => PriceTable::shipped(),
    };
    table.map_err(price_errors)
}

fn price_errors(e: PriceErrors) -> miette::Report {
    let lines: Vec<String> = e.errors.iter().map(|r| format!("  {}:{}: {}", e.table, r.line, r.message)).collect();
    miette!(
        help = "each row is `region,service,dimension,unit,usd,effective`; docs/cost.md lists the dimensions and their units",
        "the price table {} has {} mistake{}:\n{}",
        e.table,
        e.errors.len(),
        if e.errors.len() == 1 { "" } else { "s" },
        lines.join("\n")
    )
}

/// The estimate of the stack as configured.
pub(super) fn estimate(s: &Stack, prices: &PriceTable) -> Result<Estimate> {
    paystack_cost::estimate_specs(&s.env, &s.blueprint.specs, prices).map_err(|e| {
        miette!(
            help = format!(
                "add the missing rows to the price table (docs/cost.md), or pass one that has them with --prices; {} prices {}",
                e.table,
                prices.regions().into_iter().collect::<Vec<_>>().join(" and ")
            ),
            "cannot estimate `{}`: {e}",
            s.key()
        )
    })
}

/// `cost`: the estimate, per layer and per resource, with its total.
pub(super) fn cost(cli: &Cli, s: &Stack, json: bool) -> Result<ExitCode> {
    let estimate = estimate(s, &prices(cli)?)?;
    if json {
        let doc = render::cost::estimate_json(&estimate, &s.key());
        outln!("{}", serde_json::to_string_pretty(&doc).into_diagnostic()?);
    } else {
        out!("{}", render::cost::estimate_text(&estimate, &s.key(), &s.env.region));
    }
    Ok(ExitCode::SUCCESS)
}

/// What `plan` changes in the estimate. A table that cannot price the stack leaves the plan
/// as it is, and says why.
pub(super) fn plan_delta(
    s: &Stack,
    prices: &PriceTable,
    plan: &Plan,
    state: Option<&StateDocument>,
    destroy: bool,
) -> std::result::Result<Delta, String> {
    paystack_cost::delta(&s.env, plan, &s.blueprint.specs, state, destroy, prices).map_err(|e| e.to_string())
}

/// The delta as plan text prints it.
pub(super) fn delta_text(delta: &std::result::Result<Delta, String>) -> String {
    match delta {
        Ok(d) => render::cost::delta_text(d),
        Err(e) => format!("Monthly cost: not estimated: {e}.\n"),
    }
}

/// The delta as `plan --json` carries it.
pub(super) fn delta_json(delta: &std::result::Result<Delta, String>) -> Value {
    match delta {
        Ok(d) => render::cost::delta_json(d),
        Err(e) => serde_json::json!({ "estimate": true, "error": e }),
    }
}
