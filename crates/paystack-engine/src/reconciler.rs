//! The contract between the engine and one resource kind.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use paystack_core::{FieldChange, Fields, Kind, KindSchema, Observed, ResourceId};

/// Which stack a reconciler reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The value of the stack ownership tag.
    pub stack: String,
    /// What the name of every resource the stack creates starts with (`{env}-{region}-`).
    pub name_prefix: String,
    /// What it ends with on a suffixed stack (`-{suffix}`).
    pub name_suffix: Option<String>,
}

impl Scope {
    /// A scope that considers every name: ownership is decided by tags alone.
    pub fn new(stack: impl Into<String>) -> Self {
        Self { stack: stack.into(), name_prefix: String::new(), name_suffix: None }
    }

    /// Whether a resource of this name may be the stack's. Kinds whose list calls return no
    /// tags read the tags of these only, so that reading a stack costs about one call per
    /// resource it has, not per resource in the account. Only for kinds whose names are
    /// never shortened to fit a length cap, which could cut the suffix off.
    pub fn may_own(&self, name: &str) -> bool {
        name.starts_with(&self.name_prefix) && self.name_suffix.as_ref().is_none_or(|s| name.ends_with(s.as_str()))
    }
}

/// A desired resource with every reference resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub id: ResourceId,
    pub name: String,
    pub fields: Fields,
}

/// Why a call failed, as the caller saw it; the engine retries only what can succeed later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Might succeed if tried again (a dependency still settling, a transient fault).
    Retryable,
    /// Will fail the same way again until something changes (bad input, missing permission).
    Permanent,
    /// AWS holds something that conflicts with the desired state.
    Conflict,
}

#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct ReconcileError {
    pub class: ErrorClass,
    pub message: String,
}

impl ReconcileError {
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { class: ErrorClass::Permanent, message: message.into() }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        Self { class: ErrorClass::Retryable, message: message.into() }
    }
}

/// One resource kind. A reconciler is stateless between calls and idempotent: each method
/// may be called again after a crash, and every `.await` inside it is a cancellation point.
///
/// `create`, `update` and `delete` are the API calls and run while holding a slot of the
/// kind's service; `wait_ready` and `wait_deleted` wait for AWS to settle and hold none.
#[async_trait]
pub trait Reconciler: Send + Sync {
    fn schema(&self) -> &KindSchema;

    /// Every live resource of this kind that carries the scope's ownership tag, read with as
    /// few calls as the API allows.
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError>;

    /// Creates the resource with its ownership tags set in the same call where AWS allows it.
    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError>;

    /// Changes the fields in `changes` in place.
    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError>;

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError>;

    /// Waits until the resource is usable by its dependents.
    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        Ok(current)
    }

    /// Waits until the resource is gone, so whatever it depended on can be deleted.
    async fn wait_deleted(&self, _current: &Observed) -> Result<(), ReconcileError> {
        Ok(())
    }
}

/// The reconcilers by kind. Adding a kind is one `register` call.
#[derive(Clone, Default)]
pub struct Registry {
    by_kind: BTreeMap<Kind, Arc<dyn Reconciler>>,
}

impl Registry {
    pub fn register(&mut self, reconciler: Arc<dyn Reconciler>) {
        self.by_kind.insert(reconciler.schema().kind.clone(), reconciler);
    }

    pub fn get(&self, kind: &Kind) -> Option<&Arc<dyn Reconciler>> {
        self.by_kind.get(kind)
    }

    pub fn schema(&self, kind: &Kind) -> Option<&KindSchema> {
        self.get(kind).map(|r| r.schema())
    }

    pub fn reconcilers(&self) -> impl Iterator<Item = &Arc<dyn Reconciler>> {
        self.by_kind.values()
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn a_scope_owns_names_of_its_environment_and_suffix_only() {
        let pr7 =
            Scope { stack: "dev-pr7".into(), name_prefix: "dev-us-east-1-".into(), name_suffix: Some("-pr7".into()) };
        assert!(pr7.may_own("dev-us-east-1-alarms-db-cpu-pr7"));
        assert!(!pr7.may_own("dev-us-east-1-alarms-db-cpu-pr8"), "a sibling stack's");
        assert!(!pr7.may_own("prod-us-east-1-alarms-db-cpu-pr7"), "another environment's");
        assert!(!pr7.may_own("TargetTracking-service/dev-cluster/api-AlarmHigh-1a2b"), "auto-scaling's own");
        let dev = Scope { name_suffix: None, ..pr7.clone() };
        assert!(dev.may_own("dev-us-east-1-alarms-db-cpu"));
        assert!(Scope::new("dev").may_own("anything"), "tags alone decide");
    }
}
