//! Typed spec fields. A kind's spec is a Rust struct whose fields are plain values or
//! [`Input`]s: a value known when the blueprint is built, or a reference to another resource's
//! output that the engine resolves before the reconciler sees it. One struct serves both
//! sides: the blueprint builds it, [`Spec::from_typed`](crate::Spec::from_typed) serializes
//! it into the generic [`Expr`](crate::Expr) fields the planner, state and output work on, and
//! the reconciler deserializes the resolved fields back into it.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::spec::{Reference, ResourceId};

/// The key under which a serialized [`Input::Ref`] carries its reference. No AWS field is
/// named like this, so a map with this one key is always a reference.
pub const REF_MARKER: &str = "$paystack_ref";

/// A field value: known now, or another resource's output.
#[derive(Clone, Debug, PartialEq)]
pub enum Input<T> {
    Value(T),
    Ref(Reference),
}

impl<T> Input<T> {
    pub fn reference(resource: &ResourceId, output: &str) -> Self {
        Input::Ref(Reference { resource: resource.clone(), output: output.to_owned() })
    }

    /// The value, once the engine has resolved every reference (as in a reconciler).
    pub fn resolved(&self) -> Result<&T, Unresolved> {
        match self {
            Input::Value(v) => Ok(v),
            Input::Ref(r) => Err(Unresolved(r.clone())),
        }
    }
}

impl<T> From<T> for Input<T> {
    fn from(v: T) -> Self {
        Input::Value(v)
    }
}

impl From<&str> for Input<String> {
    fn from(v: &str) -> Self {
        Input::Value(v.to_owned())
    }
}

/// A reference that was read where only resolved values can be.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct Unresolved(pub Reference);

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} was read before it was resolved", self.0.resource, self.0.output)
    }
}

impl<T: Serialize> Serialize for Input<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Input::Value(v) => v.serialize(serializer),
            Input::Ref(r) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(REF_MARKER, r)?;
                map.end()
            }
        }
    }
}

/// Reconcilers read resolved fields, so only values are ever deserialized.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Input<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Input::Value)
    }
}

/// Reads resolved fields (a reconciler's `Desired::fields`) as the kind's typed spec.
pub fn from_fields<T: DeserializeOwned>(fields: &crate::Fields) -> Result<T, serde_json::Error> {
    serde_json::from_value(Value::Object(fields.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Expr, Spec};
    use serde_json::json;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Subnet {
        vpc_id: Input<String>,
        cidr_block: String,
        route_table_ids: Vec<Input<String>>,
        nested: Option<Nested>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Nested {
        target: Input<String>,
        port: u16,
    }

    #[test]
    fn a_typed_spec_becomes_expressions_with_references_and_back() {
        let vpc = ResourceId::new("network.vpc");
        let rt = ResourceId::new("network.rt");
        let typed = Subnet {
            vpc_id: Input::reference(&vpc, "id"),
            cidr_block: "10.0.0.0/24".into(),
            route_table_ids: vec![Input::reference(&rt, "id"), "rtb-fixed".into()],
            nested: Some(Nested { target: Input::reference(&rt, "arn"), port: 443 }),
        };
        let spec = Spec::from_typed(ResourceId::new("s"), &crate::Kind::new("k"), "s".into(), &typed);
        assert_eq!(spec.fields["vpc_id"], Expr::reference(&vpc, "id"));
        assert_eq!(spec.fields["cidr_block"], Expr::from("10.0.0.0/24"));
        assert_eq!(spec.fields["route_table_ids"], Expr::List(vec![Expr::reference(&rt, "id"), "rtb-fixed".into()]));
        let Expr::Map(nested) = &spec.fields["nested"] else { panic!("{:?}", spec.fields["nested"]) };
        assert_eq!(nested["port"], Expr::from(443), "literals beside references stay literals");
        assert_eq!(spec.dependencies(), [rt, vpc], "each once, sorted");

        // What a reconciler sees once the engine has resolved the references.
        let resolved: crate::Fields = spec
            .fields
            .iter()
            .map(|(k, e)| (k.clone(), e.resolve(&|r| Some(json!(format!("{}/{}", r.resource, r.output)))).unwrap()))
            .collect();
        let back: Subnet = from_fields(&resolved).unwrap();
        assert_eq!(back.vpc_id.resolved().unwrap(), "network.vpc/id");
        assert_eq!(back.route_table_ids[1].resolved().unwrap(), "rtb-fixed");
        assert_eq!(back.nested.unwrap().port, 443);
    }

    #[test]
    fn structures_without_references_stay_one_literal() {
        let fields = json!({ "tags": { "Name": "x" }, "list": ["a", "b"], "none": null });
        let Value::Object(fields) = fields else { unreachable!() };
        let spec = Spec::from_typed(ResourceId::new("s"), &crate::Kind::new("k"), "s".into(), &fields);
        assert_eq!(spec.fields["tags"], Expr::Literal(json!({ "Name": "x" })));
        assert_eq!(spec.fields["list"], Expr::Literal(json!(["a", "b"])));
        assert_eq!(spec.fields["none"], Expr::Literal(Value::Null));
    }

    #[test]
    fn an_unresolved_reference_is_an_error_not_a_value() {
        let input: Input<String> = Input::reference(&ResourceId::new("a"), "id");
        assert_eq!(input.resolved().unwrap_err().to_string(), "a.id was read before it was resolved");
    }
}
