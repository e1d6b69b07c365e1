//! `[cost]`: the usage the cost estimate assumes, key by key from the environment's file,
//! else `shared.toml`, else the default.

use std::collections::{BTreeMap, BTreeSet};

use toml::Spanned;

use super::Checker;
use crate::cost::{Assumption, CostAssumptions};

/// `[cost]` as written: assumption keys to numbers.
pub(super) type RawCost = BTreeMap<String, Spanned<f64>>;

pub(super) fn cost(c: &mut Checker<'_>, mut env: RawCost, mut shared: RawCost) -> CostAssumptions {
    let mut assumptions = CostAssumptions::default();
    let keys: BTreeSet<String> = env.keys().chain(shared.keys()).cloned().collect();
    for key in keys {
        let Some(set) = c.pick_optional(env.remove(&key), shared.remove(&key)) else { continue };
        let Some(assumption) = Assumption::from_key(&key) else {
            let known: Vec<&str> = Assumption::ALL.iter().map(|a| a.key()).collect();
            c.fail(
                &set.at,
                format!("`cost.{key}` is not an assumption of the cost estimate"),
                format!("the assumptions are {}; docs/cost.md says what each means", known.join(", ")),
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
