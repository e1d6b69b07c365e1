//! What a plan's changes do to the monthly estimate: each changed resource's line after the
//! change less its line before, grouped by what is charged for.

use std::collections::BTreeSet;

use paystack_config::Environment;
use paystack_core::{Plan, ResourceId, Spec, StateDocument};
use serde::Serialize;

use crate::estimate::{Estimate, MissingPrices, Resource, estimate};
use crate::prices::PriceTable;

/// The monthly difference a plan makes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delta {
    pub monthly: f64,
    /// By what is charged for, largest difference first.
    pub items: Vec<DeltaItem>,
    pub prices: String,
}

/// Resources whose figure changes the same way: "2 × db.r5.large instance".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeltaItem {
    /// What is charged for: the line's item after the change, or before it for a deletion;
    /// `before → after` where the item itself changes.
    pub item: String,
    pub resources: Vec<ResourceId>,
    pub monthly: f64,
}

impl Delta {
    pub fn is_zero(&self) -> bool {
        self.items.is_empty()
    }
}

/// The difference `plan` makes to the estimate: from what `state` records to what `specs`
/// describe (nothing, for a destroy), counting only the resources the plan changes and those
/// whose price reads one it changes.
pub fn delta(
    env: &Environment,
    plan: &Plan,
    specs: &[Spec],
    state: Option<&StateDocument>,
    destroy: bool,
    prices: &PriceTable,
) -> Result<Delta, MissingPrices> {
    let before = estimate(env, &state.map(Resource::from_state).unwrap_or_default(), prices)?;
    let desired: Vec<Resource> = if destroy { Vec::new() } else { specs.iter().map(Resource::from_spec).collect() };
    let after = estimate(env, &desired, prices)?;
    let changed: BTreeSet<&ResourceId> = plan.changes.iter().filter(|c| c.action.is_change()).map(|c| &c.id).collect();
    let touched = |e: &Estimate, id: &ResourceId| {
        e.line(id).is_some_and(|l| changed.contains(id) || l.inputs.iter().any(|i| changed.contains(i)))
    };
    let ids: BTreeSet<&ResourceId> = before
        .lines
        .iter()
        .chain(&after.lines)
        .map(|l| &l.resource)
        .filter(|id| touched(&before, id) || touched(&after, id))
        .collect();
    let mut items: Vec<DeltaItem> = Vec::new();
    for id in ids {
        let (was, will) = (before.line(id), after.line(id));
        let difference = will.map_or(0.0, |l| l.monthly()) - was.map_or(0.0, |l| l.monthly());
        if difference.abs() < 0.005 {
            continue;
        }
        let item = match (was, will) {
            (Some(w), Some(n)) if w.item != n.item => format!("{} → {}", w.item, n.item),
            (_, Some(l)) | (Some(l), None) => l.item.clone(),
            (None, None) => continue,
        };
        let sign = difference > 0.0;
        match items.iter_mut().find(|i| i.item == item && (i.monthly > 0.0) == sign) {
            Some(existing) => {
                existing.monthly += difference;
                existing.resources.push(id.clone());
            }
            None => items.push(DeltaItem { item, resources: vec![id.clone()], monthly: difference }),
        }
    }
    items.sort_by(|a, b| b.monthly.abs().total_cmp(&a.monthly.abs()));
    let monthly = crate::estimate::positive_zero(items.iter().map(|i| i.monthly).sum());
    Ok(Delta { monthly, items, prices: prices.source.clone() })
}
