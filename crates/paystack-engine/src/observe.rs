//! Reading everything live: every kind's batched read, in every placement, at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use paystack_core::Kind;

use crate::planner::Inventory;
use crate::reconciler::{ReconcileError, Registries, Scope};

/// A kind whose live resources could not be read; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("cannot read the live {kind} resources in {placement}: {source}")]
    Read { kind: Kind, placement: paystack_core::Placement, source: ReconcileError },
    #[error("a read of live resources stopped: {0}")]
    Stopped(String),
}

/// Reads the live resources of the scope's stacks concurrently: one batched read per kind
/// per placement, whatever the number of stacks. Each resource carries the placement it was
/// read in and the stack whose tag it carries. The inventory is sorted, so plans made from
/// it are reproducible.
pub async fn observe_all(registries: &Registries, scope: &Scope) -> Result<Inventory, ObserveError> {
    let mut reads = tokio::task::JoinSet::new();
    for (placement, registry) in registries.placements() {
        // The kinds of a placement share the listings they have in common, for this pass only.
        let pass = scope.for_pass();
        for registered in registry.reconcilers() {
            let (reconciler, scope, placement) = (Arc::clone(&registered.reconciler), pass.clone(), placement.clone());
            let kind = registered.schema.kind.clone();
            reads.spawn(async move {
                let found = reconciler.observe(&scope).await;
                (kind, placement, found)
            });
        }
    }
    let mut inventory = Inventory::default();
    while let Some(joined) = reads.join_next().await {
        let (kind, placement, found) = joined.map_err(|e| ObserveError::Stopped(e.to_string()))?;
        let found =
            found.map_err(|source| ObserveError::Read { kind: kind.clone(), placement: placement.clone(), source })?;
        let placed =
            found.into_iter().map(|o| (kind.clone(), paystack_core::Observed { placement: placement.clone(), ..o }));
        inventory.resources.extend(placed);
    }
    // Join order varies; a stable order keeps plans reproducible.
    inventory.resources.sort_by(|a, b| (a.1.id.as_str(), &a.1.aws_id).cmp(&(b.1.id.as_str(), &b.1.aws_id)));
    Ok(inventory)
}

impl Inventory {
    /// The inventory of each stack a fleet read covered, by the stack each resource's tag
    /// names. A stack the read found nothing of has an empty inventory.
    pub fn by_stack(self, scope: &Scope) -> BTreeMap<String, Inventory> {
        let mut split: BTreeMap<String, Inventory> =
            scope.stacks().map(|s| (s.to_owned(), Inventory::default())).collect();
        for (kind, o) in self.resources {
            if let Some(inventory) = o.stack.as_ref().and_then(|s| split.get_mut(s)) {
                inventory.resources.push((kind, o));
            }
        }
        split
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconciler::Owner;
    use crate::testing::{CHILD, FakeCloud, SLOW, THING};
    use paystack_core::Placement;
    use serde_json::json;

    #[tokio::test]
    async fn every_kind_is_read_and_the_inventory_is_sorted() {
        let cloud = FakeCloud::default();
        cloud.seed(THING, "z", json!({}));
        cloud.seed(SLOW, "y", json!({}));
        cloud.seed(CHILD, "x", json!({}));
        let inventory = observe_all(&cloud.registries(), &Scope::new("stack")).await.unwrap();
        let found: Vec<(&str, &str)> = inventory.resources.iter().map(|(k, o)| (o.id.as_str(), k.as_str())).collect();
        assert_eq!(found, [("x", CHILD), ("y", SLOW), ("z", THING)]);
    }

    #[tokio::test]
    async fn each_placement_is_read_by_its_own_registry_and_says_where_it_read() {
        let (us, eu) = (FakeCloud::default(), FakeCloud::default());
        us.seed(THING, "vpc", json!({}));
        eu.seed(THING, "replica", json!({}));
        let (at_us, at_eu) = (Placement::regional(None, "us-east-1"), Placement::regional(None, "eu-west-1"));
        let mut registries = Registries::at(at_us.clone(), us.registry());
        registries.insert(at_eu.clone(), eu.registry());
        let inventory = observe_all(&registries, &Scope::new("stack")).await.unwrap();
        let found: Vec<(&str, &Placement)> =
            inventory.resources.iter().map(|(_, o)| (o.id.as_str(), &o.placement)).collect();
        assert_eq!(found, [("replica", &at_eu), ("vpc", &at_us)]);
    }

    #[tokio::test]
    async fn one_read_serves_a_fleet_and_each_stack_gets_its_own() {
        let cloud = FakeCloud::default();
        cloud.seed_in("dev-a", THING, "vpc", json!({}));
        cloud.seed_in("dev-b", THING, "vpc", json!({}));
        cloud.seed_in("dev-b", SLOW, "db", json!({}));
        cloud.seed_in("dev-z", THING, "vpc", json!({}));
        let owner = |stack: &str| Owner { stack: stack.into(), name_prefix: String::new(), name_suffix: None };
        let fleet = Scope::fleet([owner("dev-a"), owner("dev-b"), owner("dev-c")]).unwrap();
        let by_stack = observe_all(&cloud.registries(), &fleet).await.unwrap().by_stack(&fleet);
        let ids = |stack: &str| by_stack[stack].resources.iter().map(|(_, o)| o.id.as_str()).collect::<Vec<_>>();
        assert_eq!(by_stack.keys().collect::<Vec<_>>(), ["dev-a", "dev-b", "dev-c"], "not dev-z, which is not read");
        assert_eq!(ids("dev-a"), ["vpc"]);
        assert_eq!(ids("dev-b"), ["db", "vpc"]);
        assert!(ids("dev-c").is_empty());
        assert_eq!(cloud.with(|i| i.observed), 4, "one read per kind, for all three stacks");
    }
}
