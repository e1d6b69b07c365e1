//! Drift: what changed in AWS behind paystack's back, told apart from configuration that has
//! simply not been applied yet.
//!
//! The plan compares the configuration with what is live; state records what was live after
//! the last run. A planned change is drift only where the live value also differs from that
//! record. Three kinds:
//! - *modified*: a live field moved away from both the configuration and the record;
//! - *deleted*: a recorded resource is gone;
//! - *unmanaged*: a live resource carries the stack's ownership tags but is not recorded.
//!
//! A field something else legitimately moves (auto-scaling's desired count) is reported as
//! ignored, with its owner, never as drift.

use std::collections::BTreeSet;

use paystack_core::{Action, Change, FieldChange, Kind, Plan, Planned, ResourceId, StateDocument};
use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftKind {
    Modified,
    Deleted,
    Unmanaged,
}

/// One drifted field: what the configuration wants, what is live, and who owns the field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldDrift {
    pub field: String,
    pub expected: Planned,
    pub actual: Option<Value>,
    pub owner: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub id: ResourceId,
    pub kind: Kind,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_id: Option<String>,
    pub drift: DriftKind,
    /// The drifted fields of a modified resource; empty for the other kinds.
    pub fields: Vec<FieldDrift>,
}

/// A live field that differs from the configuration because its owner moved it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ignored {
    pub id: ResourceId,
    pub field: String,
    pub actual: Option<Value>,
    pub owner: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DriftReport {
    pub findings: Vec<Finding>,
    pub ignored: Vec<Ignored>,
}

impl DriftReport {
    pub fn has_drift(&self) -> bool {
        !self.findings.is_empty()
    }

    pub fn count(&self, kind: DriftKind) -> usize {
        self.findings.iter().filter(|f| f.drift == kind).count()
    }

    /// The part of `plan` that converges the drifted resources back, and only them: their
    /// changes without the ignored fields; every other change becomes a no-op. Unmanaged
    /// resources are deleted only when `prune` says so: paystack never made them, and
    /// without it they leave the plan altogether, so nothing records them as managed.
    pub fn fix_plan(&self, plan: &Plan, prune: bool) -> Plan {
        let unmanaged = |c: &Change| {
            self.findings
                .iter()
                .any(|f| f.drift == DriftKind::Unmanaged && f.id == c.id && f.aws_id.as_deref() == c.aws_id.as_deref())
        };
        let changes = plan
            .changes
            .iter()
            .filter(|c| prune || !unmanaged(c))
            .map(|c| {
                // An unmanaged resource may carry the id of a managed one: its AWS id tells
                // its delete apart from that resource's change.
                let finding = self.findings.iter().find(|f| {
                    f.id == c.id && (f.drift != DriftKind::Unmanaged || f.aws_id.as_deref() == c.aws_id.as_deref())
                });
                match finding {
                    Some(f) if f.drift == DriftKind::Modified => {
                        let wanted: BTreeSet<&str> = f.fields.iter().map(|d| d.field.as_str()).collect();
                        let fields: Vec<FieldChange> =
                            c.fields.iter().filter(|fc| wanted.contains(fc.field.as_str())).cloned().collect();
                        let action =
                            if fields.iter().any(|fc| fc.forces_replacement) { c.action } else { Action::Update };
                        Change { action, fields, ..c.clone() }
                    }
                    // Unmanaged ones are here only with `prune`: the filter above took them out.
                    Some(_) => c.clone(),
                    _ => Change { action: Action::NoOp, fields: Vec::new(), reason: None, ..c.clone() },
                }
            })
            .collect();
        Plan { changes }
    }
}

/// `plan` without the field changes `owner_of` gives to another owner: an apply leaves
/// those fields where their owner put them (Terraform's `ignore_changes`). An update left
/// with no field becomes a no-op; a create or a replace still sets every field.
pub fn yield_to_owners(mut plan: Plan, owner_of: impl Fn(&Change, &FieldChange) -> Option<String>) -> Plan {
    for c in plan.changes.iter_mut().filter(|c| c.action == Action::Update) {
        let snapshot = c.clone();
        c.fields.retain(|f| owner_of(&snapshot, f).is_none());
        if c.fields.is_empty() {
            c.action = Action::NoOp;
        }
    }
    plan
}

/// Finds the drift in `plan`. `unordered` gives a kind's list fields compared as sets;
/// `owner_of` names the owner of a live field value that is not paystack's to correct.
pub fn detect(
    plan: &Plan,
    state: &StateDocument,
    unordered: impl Fn(&Kind) -> &'static [&'static str],
    owner_of: impl Fn(&Change, &FieldChange) -> Option<String>,
) -> DriftReport {
    let mut report = DriftReport::default();
    for c in &plan.changes {
        let recorded = state.resources.get(&c.id);
        let finding = |drift, fields| Finding {
            id: c.id.clone(),
            kind: c.kind.clone(),
            name: c.name.clone(),
            aws_id: c.aws_id.clone().or_else(|| recorded.map(|r| r.aws_id.clone())),
            drift,
            fields,
        };
        match c.action {
            Action::NoOp => {}
            // Not live: gone out of band if it was recorded, else simply not applied yet.
            Action::Create if recorded.is_some() => report.findings.push(finding(DriftKind::Deleted, Vec::new())),
            Action::Create => {}
            // Live but not wanted: configuration that left if it is recorded under this AWS
            // id, else something that carries the stack's tags without being the stack's.
            Action::Delete if recorded.is_some_and(|r| Some(r.aws_id.as_str()) == c.aws_id.as_deref()) => {}
            Action::Delete => report.findings.push(finding(DriftKind::Unmanaged, Vec::new())),
            Action::Update | Action::Replace => {
                // A live resource state does not record yet is one an interrupted run made:
                // the next apply adopts it.
                let Some(recorded) = recorded else { continue };
                let sets = unordered(&c.kind);
                let mut fields = Vec::new();
                for fc in &c.fields {
                    let was = recorded.attributes.get(&fc.field);
                    let unordered = sets.contains(&fc.field.as_str());
                    if same(fc.before.as_ref(), was, unordered) {
                        continue; // the configuration changed; AWS did not
                    }
                    if let Some(owner) = owner_of(c, fc) {
                        report.ignored.push(Ignored {
                            id: c.id.clone(),
                            field: fc.field.clone(),
                            actual: fc.before.clone(),
                            owner,
                        });
                        continue;
                    }
                    fields.push(FieldDrift {
                        field: fc.field.clone(),
                        expected: fc.after.clone(),
                        actual: fc.before.clone(),
                        owner: "paystack".to_owned(),
                    });
                }
                if !fields.is_empty() {
                    report.findings.push(finding(DriftKind::Modified, fields));
                }
            }
        }
    }
    report
}

/// Whether a live value equals the recorded one, lists of `unordered` fields as sets.
fn same(live: Option<&Value>, recorded: Option<&Value>, unordered: bool) -> bool {
    let normal = |v: Option<&Value>| match v {
        Some(Value::Array(items)) if unordered => {
            let mut items: Vec<String> = items.iter().map(Value::to_string).collect();
            items.sort();
            Some(Value::from(items))
        }
        Some(Value::Null) | None => None,
        other => other.cloned(),
    };
    normal(live) == normal(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paystack_core::Observed;
    use serde_json::json;

    fn change(id: &str, action: Action, fields: Vec<FieldChange>) -> Change {
        Change {
            id: ResourceId::new(id),
            kind: Kind::new("test.thing"),
            placement: Default::default(),
            name: id.to_owned(),
            action,
            reason: None,
            // What is not live has no AWS id.
            aws_id: (action != Action::Create).then(|| format!("aws-{id}")),
            fields,
        }
    }

    fn field(name: &str, live: Value, wanted: Value) -> FieldChange {
        FieldChange {
            field: name.to_owned(),
            before: Some(live),
            after: Planned::Known(wanted),
            forces_replacement: false,
        }
    }

    fn recorded(state: &mut StateDocument, id: &str, attributes: Value) {
        let Value::Object(attributes) = attributes else { panic!() };
        let observed = Observed::new(ResourceId::new(id), format!("aws-{id}"), attributes, Default::default());
        state.record(&Kind::new("test.thing"), id, &Default::default(), &observed, Vec::new());
    }

    #[test]
    fn drift_is_what_moved_in_aws_not_what_changed_in_config() {
        let mut state = StateDocument::new("dev".into(), "l".into());
        recorded(&mut state, "tampered", json!({ "retention": 7, "rules": ["a", "b"] }));
        recorded(&mut state, "edited", json!({ "retention": 7 }));
        recorded(&mut state, "gone", json!({}));
        recorded(&mut state, "scaled", json!({ "count": 1 }));
        let plan = Plan {
            changes: vec![
                // AWS moved retention; the rules are the same set in another order.
                change(
                    "tampered",
                    Action::Update,
                    vec![field("retention", json!(1), json!(7)), field("rules", json!(["b", "a"]), json!(["a"]))],
                ),
                // The configuration moved retention; AWS still has what was applied.
                change("edited", Action::Update, vec![field("retention", json!(7), json!(14))]),
                change("gone", Action::Create, Vec::new()),
                change("new-in-config", Action::Create, Vec::new()),
                change("rogue", Action::Delete, Vec::new()),
                change("scaled", Action::Update, vec![field("count", json!(3), json!(1))]),
            ],
        };
        let owner = |c: &Change, f: &FieldChange| {
            (c.id.as_str() == "scaled" && f.field == "count").then(|| "autoscaling".to_owned())
        };
        let report = detect(&plan, &state, |_| &["rules"], owner);
        let found: Vec<(&str, DriftKind, Vec<&str>)> = report
            .findings
            .iter()
            .map(|f| (f.id.as_str(), f.drift, f.fields.iter().map(|d| d.field.as_str()).collect()))
            .collect();
        assert_eq!(
            found,
            [
                ("tampered", DriftKind::Modified, vec!["retention"]),
                ("gone", DriftKind::Deleted, vec![]),
                ("rogue", DriftKind::Unmanaged, vec![]),
            ]
        );
        assert_eq!(report.ignored.len(), 1);
        assert_eq!((report.ignored[0].id.as_str(), report.ignored[0].owner.as_str()), ("scaled", "autoscaling"));

        // An apply leaves the scaled count alone too.
        let applied = yield_to_owners(plan.clone(), owner);
        let scaled = applied.changes.iter().find(|c| c.id.as_str() == "scaled").unwrap();
        assert_eq!((scaled.action, scaled.fields.len()), (Action::NoOp, 0));

        // Fixing touches the drifted resources only, and only their drifted fields.
        let fix = |prune| {
            let fix = report.fix_plan(&plan, prune);
            fix.changes.iter().map(|c| (c.id.to_string(), c.action, c.fields.len())).collect::<Vec<_>>()
        };
        let expected = |rogue| {
            [("tampered", Action::Update, 1), ("edited", Action::NoOp, 0), ("gone", Action::Create, 0)]
                .into_iter()
                .chain([("new-in-config", Action::NoOp, 0), ("rogue", rogue, 0), ("scaled", Action::NoOp, 0)])
                .map(|(id, action, n)| (id.to_owned(), action, n))
                .collect::<Vec<_>>()
        };
        assert_eq!(fix(true), expected(Action::Delete), "with --prune the unmanaged resource goes");
        let left_alone: Vec<_> = expected(Action::Delete).into_iter().filter(|(id, ..)| id != "rogue").collect();
        assert_eq!(fix(false), left_alone, "without it, it is not in the plan at all");
    }

    #[test]
    fn counts_and_fixes_keep_what_each_finding_needs() {
        let mut state = StateDocument::new("dev".into(), "l".into());
        recorded(&mut state, "cidr", json!({ "cidr": "10.0.0.0/16" }));
        recorded(&mut state, "gone", json!({}));
        recorded(&mut state, "left", json!({}));
        recorded(&mut state, "mixed", json!({ "zone": "a", "order": ["x", "y"] }));
        let mut moved = field("cidr", json!("10.9.0.0/16"), json!("10.0.0.0/16"));
        moved.forces_replacement = true;
        // The configuration moved a field that forces a replacement; AWS moved the order of
        // a list whose order counts. Only the second is drift, and it is fixed in place.
        let mut rezoned = field("zone", json!("a"), json!("b"));
        rezoned.forces_replacement = true;
        let mixed =
            change("mixed", Action::Replace, vec![rezoned, field("order", json!(["y", "x"]), json!(["x", "y"]))]);
        let mut removed = change("left", Action::Delete, Vec::new());
        removed.reason = Some("it is no longer in the configuration".into());
        let mut gone = change("gone", Action::Create, Vec::new());
        gone.reason = Some("it is gone".into());
        // Recorded under another AWS id: the live one is a stranger wearing the stack's tags.
        let mut stranger = change("left", Action::Delete, Vec::new());
        stranger.aws_id = Some("aws-someone".into());
        let plan = Plan {
            changes: vec![
                change("cidr", Action::Replace, vec![moved]),
                gone,
                stranger,
                // Recorded under this AWS id: configuration that left, not drift.
                removed,
                mixed,
            ],
        };
        let report = detect(&plan, &state, |_| &[], |_, _| None);
        assert!(report.has_drift());
        let counts = [DriftKind::Modified, DriftKind::Deleted, DriftKind::Unmanaged].map(|k| report.count(k));
        assert_eq!(counts, [2, 1, 1]);
        let unmanaged: Vec<_> = report.findings.iter().filter(|f| f.drift == DriftKind::Unmanaged).collect();
        assert_eq!(unmanaged[0].aws_id.as_deref(), Some("aws-someone"));

        let fix = report.fix_plan(&plan, true);
        let got: Vec<_> = fix.changes.iter().map(|c| (c.id.as_str(), c.action, c.aws_id.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("cidr", Action::Replace, Some("aws-cidr")),
                ("gone", Action::Create, None),
                ("left", Action::Delete, Some("aws-someone")),
                ("left", Action::NoOp, Some("aws-left")),
                ("mixed", Action::Update, Some("aws-mixed")),
            ],
            "a drifted field that forces replacement keeps the replace; one that does not is an update"
        );
        assert_eq!(fix.changes[1].reason.as_deref(), Some("it is gone"), "a fix keeps its reason");
        assert_eq!(fix.changes[3].reason, None, "what the fix leaves alone says no reason");
        let fields: Vec<&str> = fix.changes[4].fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["order"], "the fix sets the drifted field only");

        let quiet =
            detect(&Plan { changes: vec![change("left", Action::Delete, Vec::new())] }, &state, |_| &[], |_, _| None);
        assert!(!quiet.has_drift(), "a removal from the configuration is not drift");
        assert_eq!(quiet.count(DriftKind::Unmanaged), 0);
    }
}
