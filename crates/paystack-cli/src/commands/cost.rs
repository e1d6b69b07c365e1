//! `cost`: the stack's monthly estimate; the price table every estimate reads, with the
//! difference a plan makes; and `--refresh-prices`, the only part that reaches AWS (the
//! Price List API).

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
    match &cli.prices {
        Some(path) => read_table(path),
        None => PriceTable::shipped().map_err(price_errors),
    }
}

fn read_table(path: &std::path::Path) -> Result<PriceTable> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        miette!(
            help = "point --prices (PAYSTACK_PRICES) at a price table, or leave it out to use the built-in one",
            "cannot read the price table {}: {e}",
            path.display()
        )
    })?;
    PriceTable::parse(&path.display().to_string(), &text, paystack_cost::Day::today()).map_err(price_errors)
}

fn price_errors(e: PriceErrors) -> miette::Report {
    let lines: Vec<String> = e.errors.iter().map(|r| format!("  {}:{}: {}", e.table, r.line, r.message)).collect();
    miette!(
        help = "each row is `region,service,dimension,unit,usd,effective`; docs/cost.md lists the dimensions and their units",
        "the price table {} has {}:\n{}",
        e.table,
        render::count(e.errors.len(), "mistake"),
        lines.join("\n")
    )
}

/// `cost --refresh-prices`: the table's file rewritten from the AWS Price List API. A row
/// the API cannot answer keeps its price; an API that does not answer leaves the file as it
/// was.
pub(super) async fn refresh(cli: &Cli, s: &Stack) -> Result<()> {
    use paystack_aws::pricing::{Match, PriceListError, products};
    use paystack_cost::refresh::{merge, price_of, query, wanted};
    let path = cli.prices.clone().unwrap_or_else(|| std::path::PathBuf::from(paystack_cost::prices::SHIPPED_PATH));
    let old = read_table(&path)?;
    let regions: Vec<&str> = std::iter::once(s.env.region.as_str()).chain(s.env.replica_region.as_deref()).collect();
    let keys = wanted(&old, &regions);
    let pool = paystack_aws::ClientPool::from_env(&s.env.region).await;
    let client = pool.price_list();
    let progress = indicatif::ProgressBar::new(keys.len() as u64).with_message("reading the AWS Price List");
    let mut answers = Vec::new();
    for key in &keys {
        progress.inc(1);
        let Some(q) = query(key) else { continue };
        let mut filters: Vec<(&str, Match, &str)> =
            q.attributes.iter().map(|(k, v)| (*k, Match::Exactly, v.as_str())).collect();
        if let Some(region) = &q.region {
            filters.push(("regionCode", Match::Exactly, region));
        }
        if let Some(usagetype) = &q.usagetype {
            filters.push(("usagetype", Match::Containing, usagetype));
        }
        let unit = paystack_cost::prices::unit_of(&key.service, &key.dimension).unwrap_or_default();
        let answer = match products(&client, q.service_code, &filters).await {
            Ok(documents) => price_of(&q, unit, &documents),
            Err(PriceListError::Refused(why)) => Err(why),
            Err(PriceListError::Unreachable(why)) => {
                progress.finish_and_clear();
                return Err(miette!(
                    help = "the Price List API needs network access to its us-east-1 endpoint and credentials allowed pricing:GetProducts; an emulator has none, and there the table in the repository is what is used",
                    "the AWS Price List API did not answer ({why}); {} is unchanged",
                    path.display()
                ));
            }
        };
        answers.push((key.clone(), answer));
    }
    progress.finish_and_clear();
    let refreshed = merge(&old, answers).map_err(price_errors)?;
    let written = path.with_extension("csv.new");
    std::fs::write(&written, refreshed.table.to_csv())
        .and_then(|()| std::fs::rename(&written, &path))
        .map_err(|e| miette!("cannot write the price table {}: {e}", path.display()))?;
    diagln!(
        "Refreshed {} from the AWS Price List API: {} changed, {} confirmed, {} added, {} kept as they were.",
        path.display(),
        refreshed.changed.len(),
        refreshed.confirmed,
        refreshed.added,
        refreshed.kept.len()
    );
    for (key, was, now) in &refreshed.changed {
        diagln!("  {} {} {}: ${was} → ${now}", key.region, key.service, key.dimension);
    }
    for (key, why) in refreshed.kept.iter().chain(&refreshed.missing) {
        diagln!("  {} {} {}: {why}", key.region, key.service, key.dimension);
    }
    if cli.prices.is_none() {
        diagln!(
            "This run's estimate uses the rewritten file; later runs use it once paystack is rebuilt, or with --prices {}.",
            path.display()
        );
    }
    Ok(())
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
pub(super) fn cost(cli: &Cli, s: &Stack, json: bool, refreshed: bool) -> Result<ExitCode> {
    // Right after a refresh, the file just written, not the table built in.
    let prices = match (&cli.prices, refreshed) {
        (None, true) => read_table(std::path::Path::new(paystack_cost::prices::SHIPPED_PATH))?,
        _ => prices(cli)?,
    };
    let estimate = estimate(s, &prices)?;
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
