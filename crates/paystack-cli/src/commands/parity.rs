//! `parity`: two environments read at once, then compared. Read-only.

use std::process::ExitCode;

use miette::{IntoDiagnostic, Result, miette};
use paystack_core::Plan;
use paystack_cost::PriceTable;
use paystack_engine::Inventory;

use super::{Aws, Stack, apply_plan, observe};
use crate::render;

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
    let aws = Aws::connect(s).await?;
    let s = s.looked_up(&aws).await?;
    let state = s.read_from(&*aws.backend(&s)).await?.ok_or_else(|| {
        miette!(
            help = format!("run `{}` first; parity compares environments that exist", s.command("apply")),
            "`{}` has no state yet",
            s.key()
        )
    })?;
    let registries = aws.registries(&s, &state).await?;
    let inventory = observe(&registries, &s.scope().recording([&state])).await?;
    let plan = apply_plan(&s, &registries, &state, &inventory);
    Ok(Read { s, plan, inventory })
}

/// `parity`: both environments read at once, then compared. Read-only.
/// Each environment's estimate is made before any read, so a table that cannot price one
/// stops the run before AWS is reached.
pub(super) async fn parity(a: &Stack, b: &Stack, prices: &PriceTable, json: bool) -> Result<ExitCode> {
    let costs = (super::cost::estimate(a, prices)?, super::cost::estimate(b, prices)?);
    let (a, b) = tokio::try_join!(read_live(a), read_live(b))?;
    let (key_a, key_b) = (a.s.key(), b.s.key());
    let report = paystack_engine::compare_parity(&a.side(&key_a), &b.side(&key_b));
    if json {
        let mut document = render::parity_json(&report, (&a.s.env.name, &key_a), (&b.s.env.name, &key_b));
        document["cost"] = render::cost::parity_cost_json(&costs.0, &costs.1);
        outln!("{}", serde_json::to_string_pretty(&document).into_diagnostic()?);
    } else {
        out!("{}", render::parity_text(&report, &key_a, &key_b));
        out!("\n{}", render::cost::parity_cost_text((&key_a, &costs.0), (&key_b, &costs.1)));
    }
    Ok(if report.has_unexplained() { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
