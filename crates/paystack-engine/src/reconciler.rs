//! The contract between the engine and one resource kind.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use paystack_core::{FieldChange, Fields, Kind, KindSchema, Observed, ResourceId};

/// Which stack a reconciler reads: the value of the stack ownership tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub stack: String,
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
