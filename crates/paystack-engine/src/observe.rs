//! Reading everything live: every kind's batched read at once.

use std::sync::Arc;

use paystack_core::Kind;

use crate::planner::Inventory;
use crate::reconciler::{ReconcileError, Registry, Scope};

/// A kind whose live resources could not be read; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("cannot read the live {kind} resources: {source}")]
    Read { kind: Kind, source: ReconcileError },
    #[error("a read of live resources stopped: {0}")]
    Stopped(String),
}

/// Reads every kind's live resources of the scope concurrently, one batched read per kind.
/// The inventory is sorted, so plans made from it are reproducible.
pub async fn observe_all(registry: &Registry, scope: &Scope) -> Result<Inventory, ObserveError> {
    let mut reads = tokio::task::JoinSet::new();
    for reconciler in registry.reconcilers() {
        let (reconciler, scope) = (Arc::clone(reconciler), scope.clone());
        reads.spawn(async move {
            let kind = reconciler.schema().kind.clone();
            let found = reconciler.observe(&scope).await;
            (kind, found)
        });
    }
    let mut inventory = Inventory::default();
    while let Some(joined) = reads.join_next().await {
        let (kind, found) = joined.map_err(|e| ObserveError::Stopped(e.to_string()))?;
        let found = found.map_err(|source| ObserveError::Read { kind: kind.clone(), source })?;
        inventory.resources.extend(found.into_iter().map(|o| (kind.clone(), o)));
    }
    // Join order varies; a stable order keeps plans reproducible.
    inventory.resources.sort_by(|a, b| (a.1.id.as_str(), &a.1.aws_id).cmp(&(b.1.id.as_str(), &b.1.aws_id)));
    Ok(inventory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CHILD, FakeCloud, SLOW, THING};
    use serde_json::json;

    #[tokio::test]
    async fn every_kind_is_read_and_the_inventory_is_sorted() {
        let cloud = FakeCloud::default();
        cloud.seed(THING, "z", json!({}));
        cloud.seed(SLOW, "y", json!({}));
        cloud.seed(CHILD, "x", json!({}));
        let inventory = observe_all(&cloud.registry(), &Scope::new("stack")).await.unwrap();
        let found: Vec<(&str, &str)> = inventory.resources.iter().map(|(k, o)| (o.id.as_str(), k.as_str())).collect();
        assert_eq!(found, [("x", CHILD), ("y", SLOW), ("z", THING)]);
    }
}
