//! The engine's prevent-destroy rule, as a decision on a plan: in a protected environment,
//! nothing is deleted or replaced without an explicit override. Asking is the CLI's part.

use paystack_core::{Action, Plan, ResourceId};

/// The resources `plan` would delete or replace, in plan order: what a protected
/// environment refuses without an override.
pub fn destructive(plan: &Plan) -> Vec<&ResourceId> {
    plan.changes.iter().filter(|c| matches!(c.action, Action::Delete | Action::Replace)).map(|c| &c.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use paystack_core::{Change, Kind};

    #[test]
    fn only_deletes_and_replaces_are_destructive() {
        let change = |id: &str, action| Change {
            id: ResourceId::new(id),
            kind: Kind::new("k"),
            placement: Default::default(),
            name: id.into(),
            action,
            reason: None,
            aws_id: None,
            fields: Vec::new(),
        };
        let plan = Plan {
            changes: vec![
                change("create", Action::Create),
                change("update", Action::Update),
                change("replace", Action::Replace),
                change("noop", Action::NoOp),
                change("delete", Action::Delete),
            ],
        };
        let ids: Vec<&str> = destructive(&plan).into_iter().map(ResourceId::as_str).collect();
        assert_eq!(ids, ["replace", "delete"]);
        assert!(destructive(&Plan::default()).is_empty());
    }
}
