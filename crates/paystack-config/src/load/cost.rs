//! `[cost]`: the usage the cost estimate assumes, key by key from the environment's file,
//! else `shared.toml`, else the default.

use std::collections::BTreeMap;

use toml::Spanned;

use super::Checker;
use crate::cost::{Assumption, CostAssumptions};

/// `[cost]` as written: assumption keys to numbers.
pub(super) type RawCost = BTreeMap<Spanned<String>, Spanned<f64>>;

pub(super) fn cost(c: &mut Checker<'_>, env: RawCost, shared: RawCost) -> CostAssumptions {
    let mut assumptions = CostAssumptions::default();
    let mut by_key: BTreeMap<String, (Option<Spanned<String>>, Option<Spanned<f64>>, Option<Spanned<f64>>)> =
        BTreeMap::new();
    for (from_env, raw) in [(true, env), (false, shared)] {
        for (key, value) in raw {
            let entry = by_key.entry(key.get_ref().clone()).or_default();
            if from_env {
                entry.1 = Some(value)
            } else {
                entry.2 = Some(value)
            }
            entry.0.get_or_insert(key);
        }
    }
    for (key, (_, env, shared)) in by_key {
        let Some(set) = c.pick_optional(env, shared) else { continue };
        let Some(assumption) = Assumption::from_key(&key) else {
            let known: Vec<&str> = Assumption::ALL.iter().map(|a| a.key()).collect();
            c.fail(
                &set.at,
                format!("`cost.{key}` is not an assumption of the cost estimate"),
                format!("the assumptions are {}; docs/configuration.md says what each means", known.join(", ")),
            );
            continue;
        };
        let ceiling = assumption.ceiling();
        if set.value.is_finite() && (0.0..=ceiling).contains(&set.value) {
            assumptions.set(assumption, set.value);
        } else {
            c.fail(
                &set.at,
                format!("`{assumption}` = {} is out of range", set.value),
                format!("use a number from 0 to {ceiling}: {}", assumption.meaning()),
            );
        }
    }
    assumptions
}
