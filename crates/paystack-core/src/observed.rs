//! What a reconciler reads back from AWS.

use serde::{Deserialize, Serialize};

use crate::placement::Placement;
use crate::spec::{Fields, ResourceId};

/// The attribute of a resource that AWS keeps this many days after a delete, recoverable
/// until then (a protected environment's secret). Plans say so, and state keeps the
/// deletion until the days have passed.
pub const RECOVERY_WINDOW_DAYS: &str = "recovery_window_days";

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
    /// The stack whose ownership tag it carries, as a read found it; `None` on what a
    /// create or update returned, which the caller's stack owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// Where the read found it: the engine sets this from the placement it read.
    #[serde(default)]
    pub placement: Placement,
}

impl Observed {
    /// A resource that is ready, as a create or update returned it.
    pub fn new(id: ResourceId, aws_id: impl Into<String>, attributes: Fields, outputs: Fields) -> Self {
        Self {
            id,
            aws_id: aws_id.into(),
            attributes,
            outputs,
            pending: false,
            stack: None,
            placement: Placement::default(),
        }
    }

    /// The same resource, found by a read to carry `stack`'s ownership tag.
    pub fn of_stack(self, stack: impl Into<String>) -> Self {
        Self { stack: Some(stack.into()), ..self }
    }
}
