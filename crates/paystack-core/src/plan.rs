//! A plan: what would change, resource by resource and field by field.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::placement::Placement;
use crate::spec::{Kind, ResourceId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    pub fn is_change(self) -> bool {
        self != Action::NoOp
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::NoOp => "no-op",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }
}

/// A desired value as far as it is known at plan time.
#[derive(Clone, Debug, PartialEq)]
pub enum Planned {
    Known(Value),
    /// Depends on an output of a resource that has still to be created or replaced.
    KnownAfterApply,
}

impl Serialize for Planned {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Planned::Known(v) => v.serialize(s),
            Planned::KnownAfterApply => s.serialize_str("(known after apply)"),
        }
    }
}

/// One field that differs between the live resource and the desired spec.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    /// The live value, or `None` when the resource does not exist yet.
    pub before: Option<Value>,
    pub after: Planned,
    /// Changing this field can only be done by replacing the resource.
    pub forces_replacement: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    pub id: ResourceId,
    pub kind: Kind,
    pub name: String,
    /// Where the resource lives (for a move, where it is going).
    pub placement: Placement,
    pub action: Action,
    /// Why the action was chosen when the fields alone do not say it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_id: Option<String>,
    pub fields: Vec<FieldChange>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub no_op: usize,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_change())
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            *match c.action {
                Action::NoOp => &mut s.no_op,
                Action::Create => &mut s.create,
                Action::Update => &mut s.update,
                Action::Replace => &mut s.replace,
                Action::Delete => &mut s.delete,
            } += 1;
        }
        s
    }

    pub fn change(&self, id: &ResourceId) -> Option<&Change> {
        self.changes.iter().find(|c| &c.id == id)
    }
}
