//! Drift over a fleet of stacks: one batched read per kind per placement serves them all,
//! then each stack's drift is found from its own share of what was read.

use paystack_core::{Change, FieldChange, Plan, StateDocument};

use crate::drift::{DriftReport, detect};
use crate::graph::ResourceGraph;
use crate::observe::{ObserveError, observe_all};
use crate::planner::{Inventory, plan};
use crate::reconciler::{Owner, Registries, Scope};

/// Who else owns a live field value of a change, if anyone (auto-scaling, an ignore rule).
pub type FieldOwner<'a> = &'a (dyn Fn(&Change, &FieldChange) -> Option<String> + Send + Sync);

/// One applied stack of a fleet: how its resources are found, what they should be, and
/// what its last run recorded.
pub struct Member<'a> {
    pub owner: Owner,
    pub graph: &'a ResourceGraph,
    pub state: &'a StateDocument,
    pub field_owner: FieldOwner<'a>,
}

/// The drift of one stack, with the plan and inventory it was found in.
pub struct Checked {
    pub plan: Plan,
    pub inventory: Inventory,
    pub report: DriftReport,
}

/// The drift in one stack's plan.
pub fn drift_in(
    plan: &Plan,
    registries: &Registries,
    state: &StateDocument,
    field_owner: FieldOwner<'_>,
) -> DriftReport {
    let unordered = |k: &paystack_core::Kind| registries.schema(k).map_or(&[][..], |schema| schema.unordered);
    detect(plan, state, unordered, field_owner)
}

/// Finds the drift of every member with one read of every kind in every placement of
/// `registries`, whatever the number of members. Returns the members' results in their
/// order; a failed read fails them all, since none of them was read.
pub async fn drift_fleet(registries: &Registries, members: &[Member<'_>]) -> Result<Vec<Checked>, ObserveError> {
    let Some(scope) = Scope::fleet(members.iter().map(|m| m.owner.clone())) else { return Ok(Vec::new()) };
    let scope = scope.recording(members.iter().map(|m| m.state));
    let mut by_stack = observe_all(registries, &scope).await?.by_stack(&scope);
    let checked = members.iter().map(|m| {
        let inventory = by_stack.remove(&m.owner.stack).unwrap_or_default();
        let plan = plan(m.graph, registries, m.state, &inventory);
        let report = drift_in(&plan, registries, m.state, m.field_owner);
        Checked { plan, inventory, report }
    });
    Ok(checked.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DriftKind;
    use crate::testing::{FakeCloud, THING, spec};
    use paystack_core::{Kind, ResourceId};
    use serde_json::json;

    fn owner(stack: &str) -> Owner {
        Owner { stack: stack.into(), name_prefix: String::new(), name_suffix: None }
    }

    #[tokio::test]
    async fn each_member_gets_its_own_drift_from_one_shared_read() {
        let cloud = FakeCloud::default();
        let registries = cloud.registries();
        let graph = ResourceGraph::build(vec![spec("vpc", &[]).field("cidr", "10.0.0.0/16")]).unwrap();
        // `a` is as recorded, `b` was changed by hand, `c` lost its VPC.
        let mut states = Vec::new();
        for (stack, live) in [("a", Some("10.0.0.0/16")), ("b", Some("10.9.0.0/16")), ("c", None)] {
            let mut state = StateDocument::new(stack.into(), "l".into());
            let recorded = paystack_core::Observed::new(
                ResourceId::new("vpc"),
                format!("vpc-{stack}"),
                json!({ "cidr": "10.0.0.0/16" }).as_object().unwrap().clone(),
                Default::default(),
            );
            state.record(&Kind::new(THING), "vpc", &Default::default(), &recorded, Vec::new());
            states.push(state);
            if let Some(cidr) = live {
                cloud.seed_in(stack, THING, "vpc", json!({ "cidr": cidr }));
            }
        }
        let nobody = |_: &Change, _: &FieldChange| None;
        let members: Vec<Member> = ["a", "b", "c"]
            .iter()
            .zip(&states)
            .map(|(s, state)| Member { owner: owner(s), graph: &graph, state, field_owner: &nobody })
            .collect();
        let checked = drift_fleet(&registries, &members).await.unwrap();
        let kinds: Vec<Vec<DriftKind>> =
            checked.iter().map(|c| c.report.findings.iter().map(|f| f.drift).collect()).collect();
        assert_eq!(kinds, [vec![], vec![DriftKind::Modified], vec![DriftKind::Deleted]]);
        assert_eq!(cloud.with(|i| i.observed), 4, "one read per kind for the three stacks");
    }
}
