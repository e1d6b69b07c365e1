//! The journal's side of a run: bringing state in line with what is live before the first
//! call, and telling when state lags what is live.

use paystack_core::{Action, Plan, ResourceId, StateDocument};
use tracing::info;

use super::nodes::{Node, Phase};
use crate::planner::Inventory;

/// True when state does not yet say what the inventory shows, even though the plan has no
/// change to make: a run stopped after a create reached AWS and before it was recorded, or a
/// recorded resource is gone. Applying such a plan makes no AWS call; it only records.
pub fn state_lags(plan: &Plan, inventory: &Inventory, state: &StateDocument) -> bool {
    let live: std::collections::HashSet<(&str, &str)> =
        inventory.resources.iter().map(|(_, o)| (o.id.as_str(), o.aws_id.as_str())).collect();
    !state.pending.is_empty()
        || state.resources.iter().any(|(id, r)| !live.contains(&(id.as_str(), r.aws_id.as_str())))
        || plan.changes.iter().any(|c| {
            c.action != Action::Delete
                && c.aws_id
                    .as_deref()
                    .is_some_and(|aws_id| state.resources.get(&c.id).map(|r| r.aws_id.as_str()) != Some(aws_id))
        })
}

pub(super) fn adopt(state: &mut StateDocument, nodes: &[Node], inventory: &Inventory) {
    // The journal of a run that stopped mid-create: what its calls made carries the ownership
    // tags, so the inventory has it and it is adopted below, which clears its intent. What is
    // not seen is in the plan as a create again, and keeps its intent, so that the create
    // sends the same idempotency token: if the earlier call did make it and AWS does not list
    // it yet, AWS answers with that one instead of making a second. An intent nothing creates
    // any more is dropped.
    let creates: std::collections::HashSet<&ResourceId> =
        nodes.iter().filter(|n| n.phases.contains(&Phase::Create)).map(|n| &n.change.id).collect();
    state.pending.retain(|id, _| {
        let redo = creates.contains(id);
        info!(resource = %id, redo, "settling a create an earlier run started and did not record");
        redo
    });
    let live: std::collections::HashSet<(&str, &str)> =
        inventory.resources.iter().map(|(_, o)| (o.id.as_str(), o.aws_id.as_str())).collect();
    state.resources.retain(|id, r| live.contains(&(id.as_str(), r.aws_id.as_str())));
    for n in nodes {
        if n.change.action != Action::Delete
            && let Some(current) = &n.current
        {
            // What paystack last set stays recorded for a resource it leaves alone: a field
            // another owner moved (auto-scaling's desired count) is told apart by it.
            let mut current = current.clone();
            if n.change.action == Action::NoOp
                && let Some(r) = state.resources.get(&n.change.id)
                && r.aws_id == current.aws_id
            {
                current.attributes = r.attributes.clone();
            }
            state.record(&n.change.kind, &n.change.name, &n.change.placement, &current, n.depends_on.clone());
        }
    }
}
