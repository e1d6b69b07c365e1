//! Planning: desired specs + recorded state + observed resources → changes. No IO.

use std::collections::{BTreeMap, HashMap, HashSet};

use paystack_core::{
    Action, Change, FieldChange, Fields, Kind, KindSchema, Observed, Placement, Plan, Planned, Reference, ResourceId,
    ResourceRecord, Spec, StateDocument,
};
use serde_json::Value;

use crate::graph::ResourceGraph;
use crate::reconciler::Registries;

/// Every live resource of one stack, as its kind's reconciler observed it.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub resources: Vec<(Kind, Observed)>,
}

impl Inventory {
    pub fn find(&self, kind: &Kind, aws_id: &str) -> Option<&Observed> {
        self.resources.iter().find(|(k, o)| k == kind && o.aws_id == aws_id).map(|(_, o)| o)
    }
}

/// Plans the changes that bring the live stack to the desired specs.
///
/// Each live resource is matched to its spec through its ownership tag, so a resource created
/// just before a crash, and never recorded, is adopted rather than created twice. When two
/// live resources claim one id, the one the state recorded (or else the first by AWS id) is
/// kept and the other is planned for deletion, with the reason.
pub fn plan(graph: &ResourceGraph, registry: &Registries, state: &StateDocument, inventory: &Inventory) -> Plan {
    let mut live: BTreeMap<&ResourceId, Vec<(&Kind, &Observed)>> = BTreeMap::new();
    for (kind, o) in &inventory.resources {
        live.entry(&o.id).or_default().push((kind, o));
    }

    let mut changes = Vec::new();
    let mut extra = Vec::new();
    let mut unknown: HashSet<&ResourceId> = HashSet::new();
    let mut outputs: HashMap<&ResourceId, &Fields> = HashMap::new();

    for spec in graph.topological() {
        let mut candidates: Vec<(&Kind, &Observed)> = live.remove(&spec.id).unwrap_or_default();
        // A live resource of another kind under this id is not this resource.
        let (mut same, other): (Vec<_>, Vec<_>) = candidates.drain(..).partition(|(k, _)| **k == spec.kind);
        extra.extend(other.into_iter().map(|(k, o)| {
            delete_change(k, o, "its kind no longer matches the configuration", &recorded_placement(state, o))
        }));
        let recorded = state.resources.get(&spec.id);
        same.sort_by_key(|(_, o)| (recorded.is_none_or(|r| r.aws_id != o.aws_id), o.aws_id.clone()));
        let mut same = same.into_iter();
        let adopted = same.next().map(|(_, o)| o);
        for (k, o) in same {
            let keep = adopted.map_or("", |a| a.aws_id.as_str());
            extra.push(delete_change(k, o, &format!("duplicate of `{}`; {keep} is kept", spec.id), &spec.placement));
        }

        let lookup = |r: &Reference| -> Option<Value> {
            if unknown.contains(&r.resource) {
                return None;
            }
            outputs.get(&r.resource)?.get(&r.output).cloned()
        };
        let desired = resolve_partially(spec, &lookup);
        let schema = registry.schema(&spec.kind);
        let change = decide(spec, &desired, adopted, schema, recorded);

        match change.action {
            Action::Create | Action::Replace => {
                unknown.insert(&spec.id);
            }
            _ => {
                if let Some(o) = adopted {
                    outputs.insert(&spec.id, &o.outputs);
                }
            }
        }
        changes.push(change);
    }

    for (_, leftovers) in live {
        for (k, o) in leftovers {
            // Recorded once: removed from the configuration since. Never recorded: something
            // carrying this stack's tags that paystack did not make.
            let reason = if state.resources.contains_key(&o.id) {
                "it is no longer in the configuration"
            } else {
                "it carries this stack's tags but was never in its configuration or state"
            };
            extra.push(delete_change(k, o, reason, &recorded_placement(state, o)));
        }
    }
    changes.extend(extra);
    Plan { changes }
}

/// Plans the deletion of every live resource of the stack.
pub fn plan_destroy(inventory: &Inventory, state: &StateDocument) -> Plan {
    let mut changes: Vec<Change> = inventory
        .resources
        .iter()
        .map(|(k, o)| delete_change(k, o, "destroy", &recorded_placement(state, o)))
        .collect();
    changes.sort_by(|a, b| a.id.cmp(&b.id).then_with(|| a.aws_id.cmp(&b.aws_id)));
    Plan { changes }
}

fn delete_change(kind: &Kind, o: &Observed, reason: &str, placement: &Placement) -> Change {
    Change {
        id: o.id.clone(),
        kind: kind.clone(),
        placement: placement.clone(),
        name: o
            .attributes
            .get("tags")
            .and_then(|t| t.get("Name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        action: Action::Delete,
        reason: Some(match o.attributes.get(paystack_core::RECOVERY_WINDOW_DAYS).and_then(Value::as_u64) {
            Some(days) => format!("{reason}; AWS keeps it {days} days, restorable until then"),
            None => reason.to_owned(),
        }),
        aws_id: Some(o.aws_id.clone()),
        fields: Vec::new(),
    }
}

/// Where a live resource is: where the read found it, or, for a resource found by a read
/// that names no placement, where state recorded it.
fn recorded_placement(state: &StateDocument, o: &Observed) -> Placement {
    if o.placement != Placement::default() {
        return o.placement.clone();
    }
    state.resources.get(&o.id).map(|r| r.placement.clone()).unwrap_or_default()
}

/// The spec's fields with every reference that can be resolved now resolved.
pub(crate) fn resolve_partially(
    spec: &Spec,
    lookup: &impl Fn(&Reference) -> Option<Value>,
) -> BTreeMap<String, Planned> {
    spec.fields
        .iter()
        .map(|(k, e)| (k.clone(), e.resolve(lookup).map_or(Planned::KnownAfterApply, Planned::Known)))
        .collect()
}

/// The change for one desired resource given what is live.
pub(crate) fn decide(
    spec: &Spec,
    desired: &BTreeMap<String, Planned>,
    live: Option<&Observed>,
    schema: Option<&KindSchema>,
    recorded: Option<&ResourceRecord>,
) -> Change {
    let mut change = Change {
        id: spec.id.clone(),
        kind: spec.kind.clone(),
        placement: spec.placement.clone(),
        name: spec.name.clone(),
        action: Action::NoOp,
        reason: None,
        aws_id: live.map(|o| o.aws_id.clone()),
        fields: Vec::new(),
    };
    let Some(live) = live else {
        change.action = Action::Create;
        change.fields = desired
            .iter()
            .map(|(k, v)| FieldChange { field: k.clone(), before: None, after: v.clone(), forces_replacement: false })
            .collect();
        change.reason = recorded.map(|r| {
            format!("{} is recorded in state but no longer exists; it was deleted outside paystack", r.aws_id)
        });
        return change;
    };
    change.fields = diff(desired, &live.attributes, schema);
    let forced: Vec<&str> = change.fields.iter().filter(|f| f.forces_replacement).map(|f| f.field.as_str()).collect();
    // A resource cannot move between accounts or regions: it is made again where it goes.
    let moved = recorded.map(|r| &r.placement).filter(|p| **p != spec.placement && **p != Placement::default());
    change.action = if let Some(from) = moved {
        change.reason = Some(format!("it moves from {from} to {}", spec.placement));
        Action::Replace
    } else if !forced.is_empty() {
        change.reason = Some(format!("{} cannot be changed in place", forced.join(", ")));
        Action::Replace
    } else if !change.fields.is_empty() {
        Action::Update
    } else {
        Action::NoOp
    };
    change
}

/// Field-level differences between desired values and live attributes. Live attributes the
/// spec does not set are not compared: they belong to AWS.
pub(crate) fn diff(
    desired: &BTreeMap<String, Planned>,
    live: &Fields,
    schema: Option<&KindSchema>,
) -> Vec<FieldChange> {
    let replace_on = schema.map_or(&[][..], |s| s.replace_on);
    let unordered = schema.map_or(&[][..], |s| s.unordered);
    let unread = schema.map_or(&[][..], |s| s.unread);
    desired
        .iter()
        .filter(|(field, _)| !unread.contains(&field.as_str()))
        .filter_map(|(field, after)| {
            let as_set = unordered.contains(&field.as_str());
            let before = live.get(field).cloned().map(|v| canonical(v, as_set));
            let after = match after {
                Planned::Known(v) => Planned::Known(canonical(v.clone(), as_set)),
                Planned::KnownAfterApply => Planned::KnownAfterApply,
            };
            let same = matches!(&after, Planned::Known(v) if Some(v) == before.as_ref());
            (!same).then(|| FieldChange {
                field: field.clone(),
                before,
                after,
                forces_replacement: replace_on.contains(&field.as_str()),
            })
        })
        .collect()
}

/// A list whose order carries no meaning, sorted and without repeats, so that two equal sets
/// compare equal and show the same in a plan.
fn canonical(v: Value, as_set: bool) -> Value {
    match v {
        Value::Array(mut items) if as_set => {
            items.sort_by_cached_key(order_free);
            items.dedup();
            Value::Array(items)
        }
        other => other,
    }
}

/// A value's text with every object's keys sorted: two equal values give one text, however
/// their objects were built (AWS's answer and the blueprint list keys in different orders).
fn order_free(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by_key(|(k, _)| *k);
                Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeCloud, spec};
    use paystack_core::Expr;
    use serde_json::json;

    fn live(id: &str, aws_id: &str, attrs: Value) -> (Kind, Observed) {
        let Value::Object(attributes) = attrs else { panic!() };
        (
            Kind::new("test.thing"),
            Observed::new(
                ResourceId::new(id),
                aws_id,
                attributes,
                [("id".to_owned(), json!(aws_id))].into_iter().collect(),
            ),
        )
    }

    #[test]
    fn a_delete_goes_where_the_resource_was_found_or_else_where_state_placed_it() {
        let replica = Placement::regional(Some("333333333333"), "eu-west-1");
        let (kind, mut found) = live("found", "aws-found", json!({}));
        found.placement = replica.clone();
        let (_, unplaced) = live("recorded", "aws-recorded", json!({}));
        let (_, unknown) = live("unknown", "aws-unknown", json!({}));
        let mut state = StateDocument::new("dev".into(), "l".into());
        let elsewhere = Placement::regional(None, "us-west-2");
        state.record(&kind, "recorded", &elsewhere, &unplaced, Vec::new());
        let mut recorded_found = found.clone();
        recorded_found.placement = Placement::default();
        state.record(&kind, "found", &elsewhere, &recorded_found, Vec::new());
        let inventory = Inventory { resources: vec![(kind.clone(), found), (kind.clone(), unplaced), (kind, unknown)] };
        let destroy = plan_destroy(&inventory, &state);
        let mut placed: Vec<(&str, &Placement)> =
            destroy.changes.iter().map(|c| (c.id.as_str(), &c.placement)).collect();
        placed.sort_by_key(|(id, _)| *id);
        assert_eq!(
            placed,
            [("found", &replica), ("recorded", &elsewhere), ("unknown", &Placement::default())],
            "the read's placement first, then state's"
        );
    }

    #[test]
    fn a_set_of_objects_is_equal_whatever_order_their_keys_were_written_in() {
        let mut written = serde_json::Map::new();
        written.insert("rule".into(), json!(100));
        written.insert("egress".into(), json!(false));
        let mut read = serde_json::Map::new();
        read.insert("egress".into(), json!(false));
        read.insert("rule".into(), json!(100));
        let other = json!({ "egress": true, "rule": 90 });
        let desired = canonical(json!([Value::Object(written), other.clone()]), true);
        let live = canonical(json!([other, Value::Object(read)]), true);
        assert_eq!(desired, live);
        assert_ne!(canonical(json!([1, 2]), false), canonical(json!([2, 1]), false), "a list keeps its order");
    }

    fn empty_state() -> StateDocument {
        StateDocument::new("dev".into(), "l".into())
    }

    fn vpc_and_subnet(cidr: &str) -> ResourceGraph {
        ResourceGraph::build(vec![
            spec("vpc", &[]).field("cidr", "10.0.0.0/16"),
            spec("subnet", &["vpc"]).field("cidr", cidr),
        ])
        .unwrap()
    }

    fn actions(plan: &Plan) -> Vec<(&str, Action)> {
        plan.changes.iter().map(|c| (c.id.as_str(), c.action)).collect()
    }

    #[test]
    fn nothing_live_means_create_everything_with_unknown_references() {
        let cloud = FakeCloud::default();
        let p = plan(&vpc_and_subnet("10.0.1.0/24"), &cloud.registries(), &empty_state(), &Inventory::default());
        assert_eq!(actions(&p), [("vpc", Action::Create), ("subnet", Action::Create)]);
        let subnet = p.change(&ResourceId::new("subnet")).unwrap();
        let vpc_ref = subnet.fields.iter().find(|f| f.field == "ref0").unwrap();
        assert_eq!(vpc_ref.after, Planned::KnownAfterApply);
    }

    #[test]
    fn converged_stack_is_all_no_op() {
        let cloud = FakeCloud::default();
        let inv = Inventory {
            resources: vec![
                live("vpc", "vpc-1", json!({"cidr": "10.0.0.0/16", "extra": "ignored"})),
                live("subnet", "sn-1", json!({"cidr": "10.0.1.0/24", "ref0": "vpc-1"})),
            ],
        };
        let p = plan(&vpc_and_subnet("10.0.1.0/24"), &cloud.registries(), &empty_state(), &inv);
        assert_eq!(actions(&p), [("vpc", Action::NoOp), ("subnet", Action::NoOp)]);
        assert!(!p.has_changes());
    }

    #[test]
    fn changed_field_is_an_update_and_a_replace_field_is_a_replace() {
        let cloud = FakeCloud::default();
        let inv = Inventory {
            resources: vec![
                live("vpc", "vpc-1", json!({"cidr": "10.0.0.0/16"})),
                live("subnet", "sn-1", json!({"cidr": "10.0.9.0/24", "ref0": "vpc-1"})),
            ],
        };
        let graph = ResourceGraph::build(vec![
            spec("vpc", &[]).field("cidr", "10.0.0.0/16"),
            spec("subnet", &["vpc"]).field("cidr", "10.0.1.0/24").field("public", true),
        ])
        .unwrap();
        let p = plan(&graph, &cloud.registries(), &empty_state(), &inv);
        let subnet = p.change(&ResourceId::new("subnet")).unwrap();
        // `cidr` is a replace-only field of the fake kind.
        assert_eq!(subnet.action, Action::Replace);
        assert_eq!(subnet.reason.as_deref(), Some("cidr cannot be changed in place"));
        let fields: Vec<(&str, Option<&Value>, &Planned, bool)> = subnet
            .fields
            .iter()
            .map(|f| (f.field.as_str(), f.before.as_ref(), &f.after, f.forces_replacement))
            .collect();
        assert_eq!(
            fields,
            [
                ("cidr", Some(&json!("10.0.9.0/24")), &Planned::Known(json!("10.0.1.0/24")), true),
                ("public", None, &Planned::Known(json!(true)), false),
            ]
        );

        let graph =
            ResourceGraph::build(vec![spec("vpc", &[]).field("cidr", "10.0.0.0/16").field("dns", true)]).unwrap();
        let p = plan(
            &graph,
            &cloud.registries(),
            &empty_state(),
            &Inventory { resources: vec![live("vpc", "vpc-1", json!({"cidr": "10.0.0.0/16", "dns": false}))] },
        );
        assert_eq!(actions(&p), [("vpc", Action::Update)]);
    }

    #[test]
    fn replacing_a_dependency_makes_its_references_unknown() {
        let cloud = FakeCloud::default();
        let inv = Inventory {
            resources: vec![
                live("vpc", "vpc-1", json!({"cidr": "10.9.0.0/16"})),
                live("subnet", "sn-1", json!({"cidr": "10.0.1.0/24", "ref0": "vpc-1"})),
            ],
        };
        let p = plan(&vpc_and_subnet("10.0.1.0/24"), &cloud.registries(), &empty_state(), &inv);
        assert_eq!(actions(&p), [("vpc", Action::Replace), ("subnet", Action::Update)]);
    }

    #[test]
    fn a_resource_placed_elsewhere_than_recorded_is_replaced_there() {
        let cloud = FakeCloud::default();
        let mut state = empty_state();
        let vpc = live("vpc", "vpc-1", json!({"cidr": "10.0.0.0/16"}));
        let us = Placement::regional(None, "us-east-1");
        let eu = Placement::regional(None, "eu-west-1");
        state.record(&vpc.0, "vpc", &us, &vpc.1, vec![]);
        let inv = Inventory { resources: vec![vpc] };
        let placed = |p: &Placement| {
            ResourceGraph::build(vec![spec("vpc", &[]).field("cidr", "10.0.0.0/16").placed(p.clone())]).unwrap()
        };

        let stays = plan(&placed(&us), &cloud.registries(), &state, &inv);
        assert_eq!(actions(&stays), [("vpc", Action::NoOp)]);
        assert_eq!(stays.changes[0].placement, us);

        let moves = plan(&placed(&eu), &cloud.registries(), &state, &inv);
        assert_eq!(actions(&moves), [("vpc", Action::Replace)]);
        assert_eq!(moves.changes[0].reason.as_deref(), Some("it moves from us-east-1 to eu-west-1"));
        assert_eq!(moves.changes[0].placement, eu, "a change says where the resource is going");

        // A record written before placement (migrated or not) is not a move.
        let mut legacy = state.clone();
        legacy.resources.values_mut().for_each(|r| r.placement = Placement::default());
        assert_eq!(actions(&plan(&placed(&eu), &cloud.registries(), &legacy, &inv)), [("vpc", Action::NoOp)]);
    }

    #[test]
    fn leftovers_and_duplicates_are_deleted_and_the_recorded_one_is_kept() {
        let cloud = FakeCloud::default();
        let mut state = empty_state();
        let kept = live("vpc", "vpc-2", json!({"cidr": "10.0.0.0/16"}));
        state.record(&kept.0, "vpc", &Placement::default(), &kept.1, vec![]);
        let inv = Inventory {
            resources: vec![
                live("vpc", "vpc-1", json!({"cidr": "10.0.0.0/16"})),
                kept.clone(),
                live("old", "x-1", json!({})),
            ],
        };
        let graph = ResourceGraph::build(vec![spec("vpc", &[]).field("cidr", "10.0.0.0/16")]).unwrap();
        let p = plan(&graph, &cloud.registries(), &state, &inv);
        let summary: Vec<(&str, Action, Option<&str>)> =
            p.changes.iter().map(|c| (c.id.as_str(), c.action, c.aws_id.as_deref())).collect();
        assert_eq!(
            summary,
            [
                ("vpc", Action::NoOp, Some("vpc-2")),
                ("vpc", Action::Delete, Some("vpc-1")),
                ("old", Action::Delete, Some("x-1"))
            ]
        );
        assert_eq!(p.changes[1].reason.as_deref(), Some("duplicate of `vpc`; vpc-2 is kept"));
    }

    #[test]
    fn recorded_but_gone_is_recreated_with_a_reason() {
        let cloud = FakeCloud::default();
        let mut state = empty_state();
        let gone = live("vpc", "vpc-9", json!({}));
        state.record(&gone.0, "vpc", &Placement::default(), &gone.1, vec![]);
        let graph = ResourceGraph::build(vec![spec("vpc", &[]).field("cidr", Expr::from("10.0.0.0/16"))]).unwrap();
        let p = plan(&graph, &cloud.registries(), &state, &Inventory::default());
        assert_eq!(p.changes[0].action, Action::Create);
        assert!(p.changes[0].reason.as_deref().unwrap().contains("vpc-9 is recorded in state but no longer exists"));
    }
}
