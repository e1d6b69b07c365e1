//! Saved plans: `plan --out` records the changes shown and the state version they were
//! planned from; applying the file is refused unless both are where they were.

use paystack_core::{Plan, StateDocument};
use serde::{Deserialize, Serialize};

/// A plan as saved, for one stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    format: u32,
    stack: String,
    /// `None` when the stack had no state yet.
    state: Option<StateVersion>,
    changes: serde_json::Value,
    /// The command line it was made from, so `apply FILE` needs none. Absent from plans
    /// saved before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<Origin>,
}

/// What a plan was made for, as the command line said it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// `--target` addresses: the plan holds only their closure, and applying it narrows the
    /// fresh plan the same way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
}

/// Which state document a plan was made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateVersion {
    pub lineage: String,
    pub serial: u64,
}

impl StateVersion {
    fn of(doc: Option<&StateDocument>) -> Option<Self> {
        doc.map(|d| Self { lineage: d.lineage.clone(), serial: d.serial })
    }
}

/// Why a saved plan cannot be applied.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum SavedPlanError {
    #[error("it is not a saved plan: {0}")]
    NotAPlan(String),
    #[error("it was saved in plan format {found}, and this paystack reads format {expected}")]
    Format { found: u32, expected: u32 },
    #[error("it is a plan for `{found}`, not `{expected}`")]
    OtherStack { found: String, expected: String },
    #[error("the state moved since the plan was made: it was at {}, it is now at {}", describe(was), describe(now))]
    StateMoved { was: Option<StateVersion>, now: Option<StateVersion> },
    #[error("the live resources changed since the plan was made, so it no longer says what apply would do")]
    LiveChanged,
}

fn describe(v: &Option<StateVersion>) -> String {
    v.as_ref().map_or("no state".to_owned(), |v| format!("serial {} of lineage {}", v.serial, v.lineage))
}

impl SavedPlan {
    const FORMAT: u32 = 1;

    pub fn new(stack: &str, state: Option<&StateDocument>, plan: &Plan) -> Self {
        Self {
            format: Self::FORMAT,
            stack: stack.to_owned(),
            state: StateVersion::of(state),
            changes: serde_json::to_value(&plan.changes).unwrap_or_default(),
            origin: None,
        }
    }

    /// The same plan, saying what it was made for.
    pub fn made_for(self, origin: Origin) -> Self {
        Self { origin: Some(origin), ..self }
    }

    /// What the plan in `text` was made for, read before knowing which stack it is for.
    pub fn origin_of(text: &str) -> Result<Option<Origin>, SavedPlanError> {
        let saved: Self = serde_json::from_str(text).map_err(|e| SavedPlanError::NotAPlan(e.to_string()))?;
        Ok(saved.origin)
    }

    /// The `--target` addresses the plan was narrowed to.
    pub fn targets(&self) -> &[String] {
        self.origin.as_ref().map_or(&[], |o| o.targets.as_slice())
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a saved plan for `stack`.
    pub fn from_text(text: &str, stack: &str) -> Result<Self, SavedPlanError> {
        let saved: Self = serde_json::from_str(text).map_err(|e| SavedPlanError::NotAPlan(e.to_string()))?;
        if saved.format != Self::FORMAT {
            return Err(SavedPlanError::Format { found: saved.format, expected: Self::FORMAT });
        }
        if saved.stack != stack {
            return Err(SavedPlanError::OtherStack { found: saved.stack, expected: stack.to_owned() });
        }
        Ok(saved)
    }

    /// Refuses the plan unless state and live resources are where they were when it was made:
    /// `fresh` is the plan made now, from what is live now.
    pub fn check(&self, state: Option<&StateDocument>, fresh: &Plan) -> Result<(), SavedPlanError> {
        let now = StateVersion::of(state);
        if now != self.state {
            return Err(SavedPlanError::StateMoved { was: self.state.clone(), now });
        }
        if serde_json::to_value(&fresh.changes).unwrap_or_default() != self.changes {
            return Err(SavedPlanError::LiveChanged);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(serial: u64) -> StateDocument {
        let mut d = StateDocument::new("dev".into(), "lineage-1".into());
        d.serial = serial;
        d
    }

    #[test]
    fn a_saved_plan_is_applied_only_as_made() {
        let plan = Plan::default();
        let saved = SavedPlan::new("dev", Some(&doc(3)), &plan);
        let read = SavedPlan::from_text(&saved.to_text(), "dev").unwrap();
        assert_eq!(read, saved);
        assert_eq!(read.check(Some(&doc(3)), &plan), Ok(()));
        assert!(matches!(read.check(Some(&doc(4)), &plan), Err(SavedPlanError::StateMoved { .. })));
        assert!(matches!(read.check(None, &plan), Err(SavedPlanError::StateMoved { now: None, .. })));
        assert!(matches!(SavedPlan::from_text(&saved.to_text(), "prod"), Err(SavedPlanError::OtherStack { .. })));
        assert!(matches!(SavedPlan::from_text("{}", "dev"), Err(SavedPlanError::NotAPlan(_))));
        let other_format = saved.to_text().replace("\"format\": 1", "\"format\": 9");
        assert_eq!(SavedPlan::from_text(&other_format, "dev"), Err(SavedPlanError::Format { found: 9, expected: 1 }));
    }

    #[test]
    fn a_plan_of_other_changes_is_refused() {
        let saved = SavedPlan::new("dev", None, &Plan::default());
        let mut moved = Plan::default();
        moved.changes.push(paystack_core::Change {
            id: paystack_core::ResourceId::new("x"),
            kind: paystack_core::Kind::new("k"),
            placement: Default::default(),
            name: "x".into(),
            aws_id: None,
            action: paystack_core::Action::Create,
            fields: Vec::new(),
            reason: None,
        });
        assert_eq!(saved.check(None, &moved), Err(SavedPlanError::LiveChanged));
    }

    #[test]
    fn a_moved_state_is_told_by_its_serial_and_lineage() {
        let saved = SavedPlan::new("dev", Some(&doc(3)), &Plan::default());
        let err = saved.check(None, &Plan::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the state moved since the plan was made: it was at serial 3 of lineage lineage-1, it is now at no state"
        );
    }
}
