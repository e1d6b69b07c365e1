//! The contract between the engine and one resource kind.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use paystack_core::{FieldChange, Fields, Kind, KindSchema, Observed, Placement, ResourceId};

use crate::listings::Listings;

/// One stack a read covers: its ownership tag, and the shape of the names it gives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owner {
    /// The value of the stack ownership tag.
    pub stack: String,
    /// What the name of every resource the stack creates starts with (`{env}-{region}-`).
    pub name_prefix: String,
    /// What it ends with on a suffixed stack (`-{suffix}`).
    pub name_suffix: Option<String>,
}

impl Owner {
    fn may_own(&self, name: &str) -> bool {
        name.starts_with(&self.name_prefix) && self.name_suffix.as_ref().is_none_or(|s| name.ends_with(s.as_str()))
    }
}

/// Which stacks a reconciler reads: one for a plan, many for a fleet read, where one batched
/// request per kind serves every stack that shares a placement. Each observed resource says
/// which of them owns it.
#[derive(Clone, Debug)]
pub struct Scope {
    owners: Vec<Owner>,
    /// The listings this read of one placement shares between kinds; only `observe_all` sets
    /// them, for the length of its pass.
    listings: Option<Listings>,
    /// The tags state recorded for each resource of the stacks, by stack and id: where a tag
    /// index that may trail AWS agrees with them, a reconciler may take its tags from it.
    recorded: Option<Arc<BTreeMap<(String, String), serde_json::Value>>>,
}

impl Scope {
    /// A scope that considers every name: ownership is decided by tags alone.
    pub fn new(stack: impl Into<String>) -> Self {
        Self::of(Owner { stack: stack.into(), name_prefix: String::new(), name_suffix: None })
    }

    /// The scope of one stack.
    pub fn of(owner: Owner) -> Self {
        Self { owners: vec![owner], listings: None, recorded: None }
    }

    /// The scope of several stacks, read together; `None` when there are none.
    pub fn fleet(owners: impl IntoIterator<Item = Owner>) -> Option<Self> {
        let mut owners: Vec<Owner> = owners.into_iter().collect();
        owners.sort();
        owners.dedup_by(|a, b| a.stack == b.stack);
        (!owners.is_empty()).then_some(Self { owners, listings: None, recorded: None })
    }

    /// The same scope for one pass over one placement, whose kinds share their listings.
    pub(crate) fn for_pass(&self) -> Self {
        Self { listings: Some(Listings::default()), ..self.clone() }
    }

    /// The same scope, knowing what the stacks' states recorded of their resources' tags.
    pub fn recording<'a>(self, states: impl IntoIterator<Item = &'a paystack_core::StateDocument>) -> Self {
        let recorded = states
            .into_iter()
            .filter(|state| self.reads(&state.stack))
            .flat_map(|state| {
                state.resources.iter().filter_map(|(id, record)| {
                    let tags = record.attributes.get("tags")?;
                    Some(((state.stack.clone(), id.as_str().to_owned()), tags.clone()))
                })
            })
            .collect();
        Self { recorded: Some(Arc::new(recorded)), ..self }
    }

    /// Whether state recorded what the stacks hold; a scope made without state has nothing
    /// to check a tag index against, and reads tags from the resources themselves.
    pub fn has_recorded(&self) -> bool {
        self.recorded.is_some()
    }

    /// The tags state recorded for the resource `id` of `stack`, as the `tags` field.
    pub fn recorded_tags(&self, stack: &str, id: &str) -> Option<&serde_json::Value> {
        self.recorded.as_ref()?.get(&(stack.to_owned(), id.to_owned()))
    }

    /// A listing that several kinds of a placement read, such as every load balancer: made by
    /// `read` once in a pass of `observe_all` and shared by every kind that asks for `key`;
    /// made afresh by every call outside one.
    pub async fn shared<T, F, Fut>(&self, key: &str, read: F) -> Result<Arc<T>, ReconcileError>
    where
        T: std::any::Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, ReconcileError>>,
    {
        match &self.listings {
            Some(listings) => listings.get(key, read).await,
            None => read().await.map(Arc::new),
        }
    }

    /// The stacks read, in order.
    pub fn stacks(&self) -> impl Iterator<Item = &str> {
        self.owners.iter().map(|o| o.stack.as_str())
    }

    /// The one stack of a single-stack scope.
    pub fn single(&self) -> Option<&str> {
        match self.owners.as_slice() {
            [one] => Some(&one.stack),
            _ => None,
        }
    }

    /// Whether `stack` (an ownership tag's value) is one the scope reads.
    pub fn reads(&self, stack: &str) -> bool {
        self.owners.iter().any(|o| o.stack == stack)
    }

    /// What every name the scope may own starts with, for a listing filtered by prefix;
    /// `None` when the names share no prefix (AWS refuses an empty one).
    pub fn name_prefix(&self) -> Option<&str> {
        let first = self.owners[0].name_prefix.as_str();
        let common = self.owners[1..].iter().fold(first.len(), |len, o| {
            first.bytes().zip(o.name_prefix.bytes()).take(len).take_while(|(a, b)| a == b).count()
        });
        Some(&first[..first.floor_char_boundary(common)]).filter(|p| !p.is_empty())
    }

    /// Whether a resource of this name may be one of the stacks'. Kinds whose list calls
    /// return no tags read the tags of these only, so that reading a stack costs about one
    /// call per resource it has, not per resource in the account. Only for kinds whose names
    /// are never shortened to fit a length cap, which could cut the suffix off.
    pub fn may_own(&self, name: &str) -> bool {
        self.owners.iter().any(|o| o.may_own(name))
    }
}

/// A desired resource with every reference resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub id: ResourceId,
    pub name: String,
    pub fields: Fields,
    /// The idempotency token of a create, derived from the intent recorded in the journal:
    /// the same on every attempt and after a crash. Empty outside a create.
    pub token: String,
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

/// A kind's schema and its reconciler.
#[derive(Clone)]
pub struct Registered {
    pub schema: KindSchema,
    pub reconciler: Arc<dyn Reconciler>,
}

/// The reconcilers by kind, each with its kind's schema. Adding a kind is one `register`
/// call.
#[derive(Clone, Default)]
pub struct Registry {
    by_kind: BTreeMap<Kind, Registered>,
}

impl Registry {
    pub fn register(&mut self, schema: KindSchema, reconciler: Arc<dyn Reconciler>) {
        self.by_kind.insert(schema.kind.clone(), Registered { schema, reconciler });
    }

    pub fn get(&self, kind: &Kind) -> Option<&Registered> {
        self.by_kind.get(kind)
    }

    pub fn schema(&self, kind: &Kind) -> Option<&KindSchema> {
        self.get(kind).map(|r| &r.schema)
    }

    pub fn reconcilers(&self) -> impl Iterator<Item = &Registered> {
        self.by_kind.values()
    }

    /// Keeps only the kinds for which `keep` holds: a placement's registry holds the kinds
    /// that live there (the global kinds, or the regional ones), so each is read once.
    pub fn retain(mut self, keep: impl Fn(&Kind) -> bool) -> Self {
        self.by_kind.retain(|kind, _| keep(kind));
        self
    }
}

/// The reconcilers of every placement a run reaches: one [`Registry`] per account and region,
/// over that placement's clients. A change is carried out, and a kind read, by the registry
/// of its placement, so every call lands in the account and region the resource lives in.
#[derive(Clone, Default)]
pub struct Registries {
    by_placement: BTreeMap<Placement, Registry>,
}

impl Registries {
    /// The registry of one placement.
    pub fn at(placement: Placement, registry: Registry) -> Self {
        let mut all = Self::default();
        all.insert(placement, registry);
        all
    }

    pub fn insert(&mut self, placement: Placement, registry: Registry) {
        self.by_placement.insert(placement, registry);
    }

    /// Adds the placements of `other` this does not cover yet.
    pub fn extend(&mut self, other: Registries) {
        for (placement, registry) in other.by_placement {
            self.by_placement.entry(placement).or_insert(registry);
        }
    }

    pub fn covers(&self, placement: &Placement) -> bool {
        self.by_placement.contains_key(placement)
    }

    /// The reconciler of `kind` in `placement`, with the kind's schema.
    pub fn get(&self, kind: &Kind, placement: &Placement) -> Option<&Registered> {
        self.by_placement.get(placement)?.get(kind)
    }

    /// A kind's schema; it is the same in every placement.
    pub fn schema(&self, kind: &Kind) -> Option<&KindSchema> {
        self.by_placement.values().find_map(|r| r.schema(kind))
    }

    /// Each placement with its registry, in order.
    pub fn placements(&self) -> impl Iterator<Item = (&Placement, &Registry)> {
        self.by_placement.iter()
    }

    /// Keeps only the kinds for which `keep` holds, in every placement: a read of a few kinds.
    pub fn retain(self, keep: impl Fn(&Kind) -> bool) -> Self {
        let by_placement = self.by_placement.into_iter().map(|(p, r)| (p, r.retain(&keep))).collect();
        Self { by_placement }
    }
}

#[cfg(test)]
mod tests {
    use super::{Owner, Scope};

    #[test]
    fn a_scope_owns_names_of_its_environment_and_suffix_only() {
        let owner = |suffix: Option<&str>| Owner {
            stack: format!("dev{}", suffix.unwrap_or_default()),
            name_prefix: "dev-us-east-1-".into(),
            name_suffix: suffix.map(str::to_owned),
        };
        let pr7 = Scope::of(owner(Some("-pr7")));
        assert!(pr7.may_own("dev-us-east-1-alarms-db-cpu-pr7"));
        assert!(!pr7.may_own("dev-us-east-1-alarms-db-cpu-pr8"), "a sibling stack's");
        assert!(!pr7.may_own("prod-us-east-1-alarms-db-cpu-pr7"), "another environment's");
        assert!(!pr7.may_own("TargetTracking-service/dev-cluster/api-AlarmHigh-1a2b"), "auto-scaling's own");
        let dev = Scope::of(owner(None));
        assert!(dev.may_own("dev-us-east-1-alarms-db-cpu"));
        assert!(Scope::new("dev").may_own("anything"), "tags alone decide");
    }

    #[test]
    fn a_fleet_scope_reads_every_member_and_shares_their_common_prefix() {
        let owner = |env: &str, suffix: &str| Owner {
            stack: format!("{env}{suffix}"),
            name_prefix: format!("{env}-us-east-1-"),
            name_suffix: Some(suffix.to_owned()),
        };
        let fleet = Scope::fleet([owner("dev", "-b"), owner("dev", "-a"), owner("dev", "-a")]).unwrap();
        assert_eq!(fleet.stacks().collect::<Vec<_>>(), ["dev-a", "dev-b"], "sorted, once each");
        assert_eq!(fleet.single(), None);
        assert!(fleet.reads("dev-b") && !fleet.reads("dev-c"));
        assert!(fleet.may_own("dev-us-east-1-db-b") && !fleet.may_own("dev-us-east-1-db-c"));
        assert_eq!(fleet.name_prefix(), Some("dev-us-east-1-"));
        let envs = Scope::fleet([owner("dev", "-a"), owner("demo", "-a")]).unwrap();
        assert_eq!(envs.name_prefix(), Some("de"), "what both environments' names start with");
        let apart = Scope::fleet([owner("dev", "-a"), owner("prod", "-a")]).unwrap();
        assert_eq!(apart.name_prefix(), None, "no prefix, rather than an empty one AWS refuses");
        assert!(Scope::fleet([]).is_none());
    }

    #[test]
    fn each_placement_keeps_its_own_kinds_and_extending_adds_only_new_placements() {
        use crate::testing::{CHILD, FakeCloud, THING};
        use paystack_core::{Kind, Placement};

        let cloud = FakeCloud::default();
        let (us, eu) = (Placement::regional(None, "us-east-1"), Placement::regional(None, "eu-west-1"));
        let regional = cloud.registry_in(&us).retain(|kind| kind.as_str() != THING);
        assert!(regional.get(&Kind::new(THING)).is_none() && regional.get(&Kind::new(CHILD)).is_some());
        let mut all = super::Registries::at(us.clone(), regional);
        assert!(all.covers(&us) && !all.covers(&eu));
        all.extend(super::Registries::at(eu.clone(), cloud.registry_in(&eu)));
        all.extend(super::Registries::at(us.clone(), cloud.registry_in(&us)));
        assert!(all.covers(&eu));
        assert!(all.get(&Kind::new(THING), &eu).is_some());
        assert!(all.get(&Kind::new(THING), &us).is_none(), "a placement already covered is kept as it was");
    }
}
