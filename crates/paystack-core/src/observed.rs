//! What a reconciler reads back from AWS.

use serde::{Deserialize, Serialize};

use crate::spec::{Fields, ResourceId};

/// A live resource that carries this stack's ownership tags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// The logical id read from the resource's ownership tag.
    pub id: ResourceId,
    /// The identifier AWS gave the resource, such as `vpc-0abc`.
    pub aws_id: String,
    /// Live attributes, normalised to the shape the spec uses, so they compare field by field.
    pub attributes: Fields,
    /// Values other resources may refer to, such as `id` or `arn`.
    pub outputs: Fields,
    /// True while AWS still reports the resource as becoming ready (a NAT gateway that is
    /// `pending`): the engine waits for it before its dependents run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}
