//! Parity: how two environments differ, and whether their configurations explain it.
//!
//! Both environments come from one blueprint, so their logical resources share ids. Three
//! things are compared:
//! - *structure*: the ids each configuration wants. An id only one of them wants is a
//!   difference the configuration makes (staging's readers, prod's weighted records).
//! - *configured differences*: fields of a shared resource whose desired values differ once
//!   names are set aside (sizes, retention, counts, CIDRs).
//! - *unexplained differences*: a resource live in one environment and not the other where
//!   the configurations do not say so, or a live field that differs where the configurations
//!   agree. These are what `parity` exists to find.
//!
//! Names differ between any two environments by construction: every resource's own name,
//! and the environment and stack names inside other values, are replaced by placeholders
//! before values are compared.

use std::collections::{BTreeMap, BTreeSet};

use paystack_core::{Action, Change, Expr, Plan, ResourceId};
use serde::Serialize;
use serde_json::Value;

use crate::graph::ResourceGraph;
use crate::planner::Inventory;

/// One environment as parity sees it: what its configuration wants, and the plan that
/// compares that with what is live (already cut to what paystack owns).
pub struct Side<'a> {
    pub env: &'a str,
    pub stack: &'a str,
    pub graph: &'a ResourceGraph,
    pub plan: &'a Plan,
    pub inventory: &'a Inventory,
}

/// A field whose desired values differ: a knob the configurations set apart on purpose.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Configured {
    pub id: ResourceId,
    /// The field, with a dotted path into a map (`tags.CostCenter`).
    pub field: String,
    pub a: Option<Value>,
    pub b: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unexplained {
    /// Live in a different number in each environment (usually: in one, not in the other).
    Presence,
    /// A live field differs where the configurations agree.
    Field,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Difference {
    pub id: ResourceId,
    pub kind: Unexplained,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a field, its live value; for presence, how many are live.
    pub a: Option<Value>,
    pub b: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ParityReport {
    /// How many logical resources both configurations want.
    pub shared: usize,
    pub only_in_a: Vec<ResourceId>,
    pub only_in_b: Vec<ResourceId>,
    pub configured: Vec<Configured>,
    pub unexplained: Vec<Difference>,
}

impl ParityReport {
    pub fn has_unexplained(&self) -> bool {
        !self.unexplained.is_empty()
    }
}

/// Compares two environments.
pub fn compare(a: &Side<'_>, b: &Side<'_>) -> ParityReport {
    let (names_a, names_b) = (Names::of(a), Names::of(b));
    let wanted = |s: &Side<'_>| -> BTreeSet<ResourceId> { s.graph.topological().map(|spec| spec.id.clone()).collect() };
    let (wanted_a, wanted_b) = (wanted(a), wanted(b));
    let mut report = ParityReport {
        shared: wanted_a.intersection(&wanted_b).count(),
        only_in_a: wanted_a.difference(&wanted_b).cloned().collect(),
        only_in_b: wanted_b.difference(&wanted_a).cloned().collect(),
        ..ParityReport::default()
    };

    // Presence: live counts that differ without the configurations saying so.
    let (live_a, live_b) = (live_counts(a.plan), live_counts(b.plan));
    let every: BTreeSet<&ResourceId> =
        wanted_a.iter().chain(&wanted_b).chain(live_a.keys().copied()).chain(live_b.keys().copied()).collect();
    for id in every {
        let (na, nb) = (live_a.get(id).copied().unwrap_or(0), live_b.get(id).copied().unwrap_or(0));
        let (wa, wb) = (usize::from(wanted_a.contains(id)), usize::from(wanted_b.contains(id)));
        if na != nb && (na, nb) != (wa, wb) {
            report.unexplained.push(Difference {
                id: id.clone(),
                kind: Unexplained::Presence,
                field: None,
                a: Some(na.into()),
                b: Some(nb.into()),
            });
        }
    }

    for spec_a in a.graph.topological() {
        let Some(spec_b) = b.graph.spec(&spec_a.id) else { continue };
        let fields: BTreeSet<&String> = spec_a.fields.keys().chain(spec_b.fields.keys()).collect();
        let (change_a, change_b) = (main_change(a.plan, &spec_a.id), main_change(b.plan, &spec_a.id));
        let both_live = [change_a, change_b].iter().all(|c| c.is_some_and(|c| c.action != Action::Create));
        for field in fields {
            let raw_a = spec_a.fields.get(field).map(expr_json);
            let raw_b = spec_b.fields.get(field).map(expr_json);
            let norm_a = raw_a.as_ref().map(|v| names_a.normalise(v));
            let norm_b = raw_b.as_ref().map(|v| names_b.normalise(v));
            if norm_a != norm_b {
                configured(
                    &spec_a.id,
                    field,
                    raw_a.as_ref(),
                    raw_b.as_ref(),
                    norm_a.as_ref(),
                    norm_b.as_ref(),
                    &mut report,
                );
                continue;
            }
            let (Some(ca), Some(cb)) = (change_a, change_b) else { continue };
            if !both_live {
                continue; // presence already tells this one
            }
            // The configurations agree; a field differs live when exactly one environment
            // departs from it, or both do in different ways.
            let departs = |c: &Change| c.fields.iter().find(|f| &f.field == field).map(|f| f.before.clone());
            let same = match (departs(ca), departs(cb)) {
                (None, None) => true,
                (Some(x), Some(y)) => {
                    x.as_ref().map(|v| names_a.normalise(v)) == y.as_ref().map(|v| names_b.normalise(v))
                }
                _ => false,
            };
            if !same {
                report.unexplained.push(Difference {
                    id: spec_a.id.clone(),
                    kind: Unexplained::Field,
                    field: Some(field.clone()),
                    a: live_value(a, ca, field),
                    b: live_value(b, cb, field),
                });
            }
        }
    }
    report.configured.sort_by(|x, y| (&x.id, &x.field).cmp(&(&y.id, &y.field)));
    report
}

/// Records where two desired values differ: leaf by leaf inside maps, whole otherwise.
fn configured(
    id: &ResourceId,
    path: &str,
    raw_a: Option<&Value>,
    raw_b: Option<&Value>,
    norm_a: Option<&Value>,
    norm_b: Option<&Value>,
    report: &mut ParityReport,
) {
    if norm_a == norm_b {
        return;
    }
    if let (Some(Value::Object(ra)), Some(Value::Object(rb)), Some(Value::Object(na)), Some(Value::Object(nb))) =
        (raw_a, raw_b, norm_a, norm_b)
    {
        let keys: BTreeSet<&String> = na.keys().chain(nb.keys()).collect();
        for key in keys {
            let sub = format!("{path}.{key}");
            configured(id, &sub, ra.get(key), rb.get(key), na.get(key), nb.get(key), report);
        }
        return;
    }
    report.configured.push(Configured { id: id.clone(), field: path.to_owned(), a: raw_a.cloned(), b: raw_b.cloned() });
}

/// The change the plan makes for a wanted resource: the planner puts it before any delete
/// of a duplicate under the same id.
fn main_change<'p>(plan: &'p Plan, id: &ResourceId) -> Option<&'p Change> {
    plan.changes.iter().find(|c| &c.id == id)
}

/// How many live resources the plan saw under each id.
fn live_counts(plan: &Plan) -> BTreeMap<&ResourceId, usize> {
    let mut counts = BTreeMap::new();
    for c in plan.changes.iter().filter(|c| c.action != Action::Create) {
        *counts.entry(&c.id).or_insert(0) += 1;
    }
    counts
}

/// A live field's value: what the plan saw where it departs from the configuration, else
/// what the reconciler observed.
fn live_value(side: &Side<'_>, change: &Change, field: &str) -> Option<Value> {
    if let Some(f) = change.fields.iter().find(|f| f.field == field) {
        return f.before.clone();
    }
    let aws_id = change.aws_id.as_deref()?;
    side.inventory.find(&change.kind, aws_id)?.attributes.get(field).cloned()
}

/// A desired value as JSON: a reference reads `${resource.output}`.
fn expr_json(e: &Expr) -> Value {
    match e {
        Expr::Literal(v) => v.clone(),
        Expr::Ref(r) => Value::String(format!("${{{}.{}}}", r.resource, r.output)),
        Expr::List(items) => Value::Array(items.iter().map(expr_json).collect()),
        Expr::Map(entries) => Value::Object(entries.iter().map(|(k, v)| (k.clone(), expr_json(v))).collect()),
    }
}

/// Sets names aside: each resource's name becomes `{name:ID}`, then the stack's and the
/// environment's names, as whole words, become `{stack}` and `{env}`.
struct Names {
    resources: Vec<(String, String)>,
    stack: String,
    env: String,
}

impl Names {
    fn of(side: &Side<'_>) -> Self {
        let mut resources: Vec<(String, String)> = side
            .graph
            .topological()
            .filter(|s| !s.name.is_empty())
            .map(|s| (s.name.clone(), format!("{{name:{}}}", s.id)))
            .collect();
        // Longest first, so a name that contains another is replaced whole.
        resources.sort_by(|x, y| y.0.len().cmp(&x.0.len()).then_with(|| x.0.cmp(&y.0)));
        Self { resources, stack: side.stack.to_owned(), env: side.env.to_owned() }
    }

    fn normalise(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => {
                let mut s = s.clone();
                for (name, placeholder) in &self.resources {
                    if s.contains(name.as_str()) {
                        s = s.replace(name.as_str(), placeholder);
                    }
                }
                let s = replace_word(&s, &self.stack, "{stack}");
                Value::String(replace_word(&s, &self.env, "{env}"))
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| self.normalise(i)).collect()),
            Value::Object(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.clone(), self.normalise(v))).collect())
            }
            other => other.clone(),
        }
    }
}

/// `s` with every occurrence of `word` that is not part of a longer word (letters and
/// digits) replaced.
fn replace_word(s: &str, word: &str, with: &str) -> String {
    if word.is_empty() {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut previous: Option<char> = None;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back().or(previous);
        let after = rest[at + word.len()..].chars().next();
        let bounded = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
        out.push_str(&rest[..at]);
        if bounded(before) && bounded(after) {
            out.push_str(with);
        } else {
            out.push_str(word);
        }
        previous = word.chars().next_back();
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use paystack_core::{FieldChange, Kind, Observed, Planned, Spec};
    use serde_json::json;

    fn spec(env: &str, id: &str, fields: &[(&str, Expr)]) -> Spec {
        let mut s = Spec::new(ResourceId::new(id), &Kind::new("test.thing"), format!("{env}-{id}"));
        for (k, v) in fields {
            s = s.field(k, v.clone());
        }
        s
    }

    fn noop(id: &str) -> Change {
        Change {
            id: ResourceId::new(id),
            kind: Kind::new("test.thing"),
            placement: Default::default(),
            name: id.to_owned(),
            action: Action::NoOp,
            reason: None,
            aws_id: Some(format!("aws-{id}")),
            fields: Vec::new(),
        }
    }

    fn departing(id: &str, field: &str, live: Value, wanted: Value) -> Change {
        Change {
            action: Action::Update,
            fields: vec![FieldChange {
                field: field.to_owned(),
                before: Some(live),
                after: Planned::Known(wanted),
                forces_replacement: false,
            }],
            ..noop(id)
        }
    }

    fn inventory(env: &str, ids: &[&str]) -> Inventory {
        Inventory {
            resources: ids
                .iter()
                .map(|id| {
                    let attributes =
                        [("path".to_owned(), json!("/health")), ("name".to_owned(), json!(format!("{env}-{id}")))];
                    let observed = Observed::new(
                        ResourceId::new(*id),
                        format!("aws-{id}"),
                        attributes.into_iter().collect(),
                        Default::default(),
                    );
                    (Kind::new("test.thing"), observed)
                })
                .collect(),
        }
    }

    fn graph(env: &str, readers: usize) -> ResourceGraph {
        let vpc = ResourceId::new("vpc");
        let mut specs = vec![
            spec(env, "vpc", &[("cidr", json!(if env == "dev" { "10.0.0.0/16" } else { "10.1.0.0/16" }).into())]),
            spec(
                env,
                "sg",
                &[
                    ("vpc_id", Expr::reference(&vpc, "id")),
                    ("name", json!(format!("{env}-sg")).into()),
                    ("tags", json!({ "Environment": env, "Owner": "payments", "Name": format!("{env}-sg") }).into()),
                ],
            ),
            spec(env, "tg", &[("path", "/health".into()), ("description", json!(format!("the {env} targets")).into())]),
            // A resource AWS knows by no name of its own: nothing of it is a name to set aside.
            Spec::new(ResourceId::new("rule"), &Kind::new("test.thing"), String::new()).field("port", json!(443)),
        ];
        for i in 0..readers {
            specs.push(spec(env, &format!("reader.{i}"), &[]));
        }
        ResourceGraph::build(specs).unwrap()
    }

    #[test]
    fn names_are_set_aside_and_only_unexplained_differences_count() {
        let (dev, staging) = (graph("dev", 0), graph("staging", 2));
        let dev_plan = Plan { changes: vec![noop("vpc"), noop("sg"), noop("tg")] };
        let staging_plan =
            Plan { changes: vec![noop("vpc"), noop("sg"), noop("tg"), noop("reader.0"), noop("reader.1")] };
        let (dev_live, staging_live) = (
            inventory("dev", &["vpc", "sg", "tg"]),
            inventory("staging", &["vpc", "sg", "tg", "reader.0", "reader.1"]),
        );
        let side = |env, graph, plan, inventory| Side { env, stack: env, graph, plan, inventory };
        let report =
            compare(&side("dev", &dev, &dev_plan, &dev_live), &side("staging", &staging, &staging_plan, &staging_live));
        assert_eq!(report.shared, 4);
        assert_eq!(report.only_in_b, [ResourceId::new("reader.0"), ResourceId::new("reader.1")]);
        assert!(report.only_in_a.is_empty());
        let reversed =
            compare(&side("staging", &staging, &staging_plan, &staging_live), &side("dev", &dev, &dev_plan, &dev_live));
        assert_eq!(reversed.only_in_a, report.only_in_b, "either way round");
        assert!(reversed.only_in_b.is_empty());
        let configured: Vec<(&str, &str)> =
            report.configured.iter().map(|c| (c.id.as_str(), c.field.as_str())).collect();
        assert_eq!(configured, [("vpc", "cidr")], "names, tags naming the environment and prose are set aside");
        assert!(!report.has_unexplained(), "{:?}", report.unexplained);

        // Out of band in dev: the health path moved, and staging lost a reader and gained a
        // resource nobody configured.
        let dev_plan =
            Plan { changes: vec![noop("vpc"), noop("sg"), departing("tg", "path", json!("/ping"), json!("/health"))] };
        let mut gone = noop("reader.1");
        gone.action = Action::Create;
        let mut rogue = noop("rogue");
        rogue.action = Action::Delete;
        let staging_plan = Plan { changes: vec![noop("vpc"), noop("sg"), noop("tg"), noop("reader.0"), gone, rogue] };
        let report =
            compare(&side("dev", &dev, &dev_plan, &dev_live), &side("staging", &staging, &staging_plan, &staging_live));
        let difference = |id: &str, kind, field: Option<&str>, a: Value, b: Value| Difference {
            id: ResourceId::new(id),
            kind,
            field: field.map(str::to_owned),
            a: Some(a),
            b: Some(b),
        };
        assert_eq!(
            report.unexplained,
            [
                difference("rogue", Unexplained::Presence, None, json!(0), json!(1)),
                difference("tg", Unexplained::Field, Some("path"), json!("/ping"), json!("/health")),
            ],
            "a reader only staging wants is missing there: staging's drift, not a difference from dev"
        );
        assert!(report.has_unexplained());

        // Both moved the same field: the same way is no difference between them; two ways are.
        let moved = |to: &str| departing("tg", "path", json!(to), json!("/health"));
        let plan_of = |tg: Change| Plan { changes: vec![noop("vpc"), noop("sg"), tg] };
        let (same_a, same_b) = (plan_of(moved("/ping")), plan_of(moved("/ping")));
        let both = compare(&side("dev", &dev, &same_a, &dev_live), &side("dev", &dev, &same_b, &dev_live));
        assert!(!both.has_unexplained(), "{:?}", both.unexplained);
        let other = plan_of(moved("/pong"));
        let apart = compare(&side("dev", &dev, &same_a, &dev_live), &side("dev", &dev, &other, &dev_live));
        let fields: Vec<Option<&str>> = apart.unexplained.iter().map(|d| d.field.as_deref()).collect();
        assert_eq!(fields, [Some("path")]);
    }

    #[test]
    fn words_are_replaced_whole() {
        assert_eq!(replace_word("dev.example.com", "dev", "{env}"), "{env}.example.com");
        assert_eq!(replace_word("device-dev", "dev", "{env}"), "device-{env}");
        assert_eq!(replace_word("devdev", "dev", "{env}"), "devdev");
    }
}
