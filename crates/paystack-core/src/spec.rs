//! Desired resources. A [`Spec`] holds expressions; an expression may refer to an output of
//! another resource, and those references are the only source of dependency edges.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::input::REF_MARKER;
use crate::placement::Placement;

/// Resolved attribute values, keyed by field name.
pub type Fields = serde_json::Map<String, Value>;

/// The logical identity of a resource inside one stack, such as `network.subnet.public.a`.
/// It is stable across runs and is written into the resource's ownership tag.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceId(String);

impl ResourceId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The type of a resource, such as `ec2.vpc`. The engine treats it as an opaque key into the
/// reconciler registry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Kind(String);

impl Kind {
    pub fn new(kind: impl Into<String>) -> Self {
        Self(kind.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the engine needs to know about a kind without knowing what it is: which fields can
/// only be changed by replacing the resource, which API rate bucket it draws from, and how
/// long its operations usually take (for critical-path scheduling).
#[derive(Clone, Debug)]
pub struct KindSchema {
    pub kind: Kind,
    /// The AWS service whose request slots the kind's API calls use, such as `ec2`.
    pub service: &'static str,
    pub replace_on: &'static [&'static str],
    /// List fields whose order carries no meaning (rules, associations); they are compared as
    /// sets.
    pub unordered: &'static [&'static str],
    /// Fields AWS never reports back (where a function's code is read from): sent on create
    /// and update, never compared.
    pub unread: &'static [&'static str],
    pub replace_order: ReplaceOrder,
    pub expected: ExpectedDurations,
    /// For a kind AWS deletes only after a waiting period (KMS keys): its days. State keeps
    /// each such deletion until then.
    pub deletion_days: Option<u32>,
}

/// How a kind is replaced when a field forces it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplaceOrder {
    /// The new resource first, then dependents move to it, then the old one goes: nothing
    /// ever refers to a resource that is gone, and there is no gap.
    #[default]
    CreateBeforeDelete,
    /// The old resource first, for kinds whose replacement needs something the old one holds
    /// exclusively (a NAT gateway's Elastic IP) and whose deletion AWS allows while others
    /// still refer to it.
    DeleteBeforeCreate,
}

/// Typical wall-clock durations of a kind's operations, waiting included.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExpectedDurations {
    pub create: Duration,
    pub update: Duration,
    pub delete: Duration,
}

/// A reference to an output of another resource, e.g. the `id` of `network.vpc`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Reference {
    pub resource: ResourceId,
    pub output: String,
}

/// A desired value: a literal, a reference to another resource's output, or a structure of
/// those.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Literal(Value),
    Ref(Reference),
    List(Vec<Expr>),
    Map(BTreeMap<String, Expr>),
}

impl Expr {
    pub fn reference(resource: &ResourceId, output: &str) -> Self {
        Expr::Ref(Reference { resource: resource.clone(), output: output.to_owned() })
    }

    /// Calls `f` on every reference inside this expression.
    pub fn for_each_ref<'a>(&'a self, f: &mut impl FnMut(&'a Reference)) {
        match self {
            Expr::Literal(_) => {}
            Expr::Ref(r) => f(r),
            Expr::List(items) => items.iter().for_each(|e| e.for_each_ref(f)),
            Expr::Map(entries) => entries.values().for_each(|e| e.for_each_ref(f)),
        }
    }

    /// Resolves the expression with `lookup`. Returns `None` when a referenced output is not
    /// known yet (its resource has still to be created).
    pub fn resolve(&self, lookup: &impl Fn(&Reference) -> Option<Value>) -> Option<Value> {
        Some(match self {
            Expr::Literal(v) => v.clone(),
            Expr::Ref(r) => lookup(r)?,
            Expr::List(items) => Value::Array(items.iter().map(|e| e.resolve(lookup)).collect::<Option<_>>()?),
            Expr::Map(entries) => Value::Object(
                entries.iter().map(|(k, e)| Some((k.clone(), e.resolve(lookup)?))).collect::<Option<_>>()?,
            ),
        })
    }
}

impl Expr {
    /// The expression a serialized typed value stands for: every [`Input::Ref`] marker
    /// becomes a reference, and a list or map that holds no reference stays one literal, so
    /// the generic planner sees exactly what a hand-built spec would give it.
    ///
    /// [`Input::Ref`]: crate::Input::Ref
    pub fn from_serialized(value: Value) -> Self {
        match value {
            Value::Object(mut map) if map.len() == 1 && map.contains_key(REF_MARKER) => {
                let marker = map.remove(REF_MARKER).unwrap_or_default();
                match serde_json::from_value::<Reference>(marker.clone()) {
                    Ok(reference) => Expr::Ref(reference),
                    Err(_) => Expr::Literal(Value::Object([(REF_MARKER.to_owned(), marker)].into_iter().collect())),
                }
            }
            Value::Object(map) => {
                let entries: BTreeMap<String, Expr> =
                    map.into_iter().map(|(k, v)| (k, Expr::from_serialized(v))).collect();
                if entries.values().all(|e| matches!(e, Expr::Literal(_))) {
                    Expr::Literal(Value::Object(entries.into_iter().map(|(k, e)| (k, e.into_literal())).collect()))
                } else {
                    Expr::Map(entries)
                }
            }
            Value::Array(items) => {
                let items: Vec<Expr> = items.into_iter().map(Expr::from_serialized).collect();
                if items.iter().all(|e| matches!(e, Expr::Literal(_))) {
                    Expr::Literal(Value::Array(items.into_iter().map(Expr::into_literal).collect()))
                } else {
                    Expr::List(items)
                }
            }
            other => Expr::Literal(other),
        }
    }

    fn into_literal(self) -> Value {
        match self {
            Expr::Literal(v) => v,
            // Only called on literals.
            _ => Value::Null,
        }
    }
}

impl<T: Into<Value>> From<T> for Expr {
    fn from(v: T) -> Self {
        Expr::Literal(v.into())
    }
}

/// One desired resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub id: ResourceId,
    pub kind: Kind,
    /// The name the resource carries in AWS (its `Name` tag or name attribute).
    pub name: String,
    /// The account and region it lives in.
    pub placement: Placement,
    pub fields: BTreeMap<String, Expr>,
}

impl Spec {
    pub fn new(id: ResourceId, kind: &Kind, name: String) -> Self {
        Self { id, kind: kind.clone(), name, placement: Placement::default(), fields: BTreeMap::new() }
    }

    /// The spec of a typed kind value: each top-level field of its serialized form is one
    /// field, with references kept as references.
    pub fn from_typed(id: ResourceId, kind: &Kind, name: String, typed: &impl Serialize) -> Self {
        let fields = match serde_json::to_value(typed) {
            Ok(Value::Object(map)) => map.into_iter().map(|(k, v)| (k, Expr::from_serialized(v))).collect(),
            // A kind's spec is a struct; anything else has no fields to plan.
            _ => BTreeMap::new(),
        };
        Self { id, kind: kind.clone(), name, placement: Placement::default(), fields }
    }

    /// The spec, living in `placement`.
    pub fn placed(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    pub fn field(mut self, key: &str, value: impl Into<Expr>) -> Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    /// The resources this one refers to, each once, in a stable order.
    pub fn dependencies(&self) -> Vec<ResourceId> {
        let mut deps = Vec::new();
        for expr in self.fields.values() {
            expr.for_each_ref(&mut |r| deps.push(r.resource.clone()));
        }
        deps.sort();
        deps.dedup();
        deps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dependencies_come_from_references_only() {
        let vpc = ResourceId::new("network.vpc");
        let sg = ResourceId::new("security.sg.alb");
        let spec = Spec::new(ResourceId::new("x"), &Kind::new("k"), "x".into())
            .field("vpc_id", Expr::reference(&vpc, "id"))
            .field("cidr", "10.0.0.0/24")
            .field("rules", Expr::List(vec![Expr::reference(&sg, "id"), Expr::reference(&vpc, "cidr_block")]));
        assert_eq!(spec.dependencies(), vec![vpc, sg]);
    }

    #[test]
    fn resolve_is_none_while_an_output_is_unknown() {
        let vpc = ResourceId::new("network.vpc");
        let expr = Expr::List(vec![Expr::reference(&vpc, "id"), "x".into()]);
        assert_eq!(expr.resolve(&|_| None), None);
        assert_eq!(expr.resolve(&|_| Some(json!("vpc-1"))), Some(json!(["vpc-1", "x"])));
    }
}
