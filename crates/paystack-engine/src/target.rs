//! `--target`: a plan narrowed to some resources and what has to change with them, so a team
//! can converge one layer on its own.
//!
//! An address is a resource id (`database.cluster`) or a prefix of ids at a dot
//! (`database`, `edge.alb`). A plan that creates or updates keeps its targets and everything
//! they depend on, because a target cannot be made before what it refers to; a destroy keeps
//! its targets and everything that depends on them, because nothing may be left referring to
//! what is gone. Every other change is left out: it becomes a no-op, so the resource stays as
//! it is, recorded as it was, and the next whole plan still shows it.

use std::collections::{BTreeMap, BTreeSet};

use paystack_core::{Action, Change, Plan, ResourceId, StateDocument};

use crate::graph::ResourceGraph;

/// Which way a target's closure runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closure {
    /// The targets and what they depend on: `plan` and `apply`.
    Dependencies,
    /// The targets and what depends on them: `destroy`.
    Dependents,
}

/// Whether `address` names `id`: the id itself, or a prefix of it that ends at a dot.
pub fn addresses(address: &str, id: &ResourceId) -> bool {
    let id = id.as_str();
    id == address || id.strip_prefix(address).is_some_and(|rest| rest.starts_with('.'))
}

/// The addresses among `targets` that name none of `ids`: a typo would otherwise narrow the
/// plan to nothing and report that nothing needs changing.
pub fn unmatched<'a>(targets: &'a [String], ids: &BTreeSet<&ResourceId>) -> Vec<&'a str> {
    targets.iter().filter(|t| !ids.iter().any(|id| addresses(t, id))).map(String::as_str).collect()
}

/// `plan` with only the changes of the targets' closure kept; every other change is a no-op.
/// Edges come from the configuration's references and, for resources that have left it,
/// from what state recorded. A replaced resource's dependents are kept too: they have to move
/// to the new resource before the old one can go.
pub fn narrow(plan: &Plan, targets: &[String], graph: &ResourceGraph, state: &StateDocument, closure: Closure) -> Plan {
    let mut depends_on: BTreeMap<&ResourceId, BTreeSet<ResourceId>> = BTreeMap::new();
    for c in &plan.changes {
        let edges = depends_on.entry(&c.id).or_default();
        if let Some(spec) = graph.spec(&c.id) {
            edges.extend(spec.dependencies());
        }
        if let Some(record) = state.resources.get(&c.id) {
            edges.extend(record.depends_on.iter().cloned());
        }
    }
    let dependents = |id: &ResourceId| -> Vec<ResourceId> {
        depends_on.iter().filter(|(_, deps)| deps.contains(id)).map(|(d, _)| (*d).clone()).collect()
    };
    let replaced: BTreeSet<&ResourceId> =
        plan.changes.iter().filter(|c| c.action == Action::Replace).map(|c| &c.id).collect();

    let mut kept: BTreeSet<ResourceId> =
        plan.changes.iter().filter(|c| targets.iter().any(|t| addresses(t, &c.id))).map(|c| c.id.clone()).collect();
    let mut queue: Vec<ResourceId> = kept.iter().cloned().collect();
    while let Some(id) = queue.pop() {
        let mut next: Vec<ResourceId> = match closure {
            Closure::Dependencies => depends_on.get(&id).into_iter().flatten().cloned().collect(),
            Closure::Dependents => dependents(&id),
        };
        if closure == Closure::Dependencies && replaced.contains(&id) {
            next.extend(dependents(&id));
        }
        for n in next {
            if kept.insert(n.clone()) {
                queue.push(n);
            }
        }
    }
    let changes = plan
        .changes
        .iter()
        .map(|c| {
            if kept.contains(&c.id) {
                c.clone()
            } else {
                Change { action: Action::NoOp, fields: Vec::new(), reason: None, ..c.clone() }
            }
        })
        .collect();
    Plan { changes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::spec;
    use paystack_core::Kind;

    fn change(id: &str, action: Action) -> Change {
        Change {
            id: ResourceId::new(id),
            kind: Kind::new("test.thing"),
            placement: Default::default(),
            name: id.into(),
            aws_id: None,
            action,
            fields: Vec::new(),
            reason: None,
        }
    }

    fn kept(plan: &Plan) -> Vec<&str> {
        plan.changes.iter().filter(|c| c.action != Action::NoOp).map(|c| c.id.as_str()).collect()
    }

    /// network.vpc <- database.subnets <- database.cluster <- app.service; edge.alb <- app.service
    fn stack() -> (ResourceGraph, Plan) {
        let graph = ResourceGraph::build(vec![
            spec("network.vpc", &[]),
            spec("database.subnets", &["network.vpc"]),
            spec("database.cluster", &["database.subnets"]),
            spec("edge.alb", &["network.vpc"]),
            spec("edge.alb.listener", &["edge.alb"]),
            spec("app.service", &["database.cluster", "edge.alb"]),
        ])
        .unwrap();
        let plan = Plan {
            changes: [
                "network.vpc",
                "database.subnets",
                "database.cluster",
                "edge.alb",
                "edge.alb.listener",
                "app.service",
            ]
            .into_iter()
            .map(|id| change(id, Action::Create))
            .collect(),
        };
        (graph, plan)
    }

    #[test]
    fn an_address_is_an_id_or_a_prefix_at_a_dot() {
        let id = ResourceId::new("edge.alb.listener");
        assert!(addresses("edge", &id) && addresses("edge.alb", &id) && addresses("edge.alb.listener", &id));
        assert!(!addresses("edge.al", &id) && !addresses("edge.alb.listener.x", &id));
    }

    #[test]
    fn apply_takes_the_targets_and_what_they_depend_on() {
        let (graph, plan) = stack();
        let state = StateDocument::new("dev".into(), "l".into());
        let narrowed = narrow(&plan, &["database".into()], &graph, &state, Closure::Dependencies);
        assert_eq!(kept(&narrowed), ["network.vpc", "database.subnets", "database.cluster"]);
        let narrowed = narrow(&plan, &["edge.alb".into()], &graph, &state, Closure::Dependencies);
        assert_eq!(kept(&narrowed), ["network.vpc", "edge.alb", "edge.alb.listener"]);
        assert_eq!(narrowed.changes.len(), plan.changes.len(), "the rest stays, as no-ops");
    }

    #[test]
    fn destroy_takes_the_targets_and_what_depends_on_them() {
        let (graph, mut plan) = stack();
        for c in &mut plan.changes {
            c.action = Action::Delete;
        }
        let state = StateDocument::new("dev".into(), "l".into());
        let narrowed = narrow(&plan, &["database.cluster".into()], &graph, &state, Closure::Dependents);
        assert_eq!(kept(&narrowed), ["database.cluster", "app.service"]);
    }

    #[test]
    fn a_replaced_target_takes_along_what_must_move_off_it() {
        let (graph, mut plan) = stack();
        for c in &mut plan.changes {
            c.action = if c.id.as_str() == "edge.alb" { Action::Replace } else { Action::NoOp };
        }
        plan.changes.iter_mut().filter(|c| c.id.as_str() == "app.service").for_each(|c| c.action = Action::Update);
        let state = StateDocument::new("dev".into(), "l".into());
        let narrowed = narrow(&plan, &["edge.alb".into()], &graph, &state, Closure::Dependencies);
        assert_eq!(kept(&narrowed), ["edge.alb", "app.service"]);
    }

    #[test]
    fn a_target_that_names_nothing_is_reported() {
        let (_, plan) = stack();
        let ids: BTreeSet<&ResourceId> = plan.changes.iter().map(|c| &c.id).collect();
        let targets = vec!["database".to_owned(), "databse".to_owned()];
        assert_eq!(unmatched(&targets, &ids), ["databse"]);
    }
}
