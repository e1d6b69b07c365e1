//! An in-memory cloud for the engine's tests: reconcilers that keep resources in a map, log
//! their calls, and can be told to be slow or to fail.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use paystack_core::spec::ExpectedDurations;
use paystack_core::{
    Expr, FieldChange, Kind, KindSchema, Observed, Placement, ReplaceOrder, ResourceId, Spec, StateDocument,
};
use serde_json::json;

use crate::executor::{StateWriteError, StateWriter};
use crate::reconciler::{Desired, ReconcileError, Reconciler, Registries, Registry, Scope};

pub(crate) const THING: &str = "test.thing";
pub(crate) const SLOW: &str = "test.slow";
/// A kind that lives inside what it refers to: a changed reference forces replacement (a
/// NAT gateway in a subnet).
pub(crate) const CHILD: &str = "test.child";
/// Like [`CHILD`], but holding something exclusively (a NAT gateway's Elastic IP): replaced
/// old-first, and deletable while others still refer to it.
pub(crate) const EXCLUSIVE: &str = "test.exclusive";

/// A spec of kind `test.thing` referring to the `id` output of each of `deps`.
pub(crate) fn spec(id: &str, deps: &[&str]) -> Spec {
    spec_of(THING, id, deps)
}

pub(crate) fn spec_of(kind: &str, id: &str, deps: &[&str]) -> Spec {
    let mut s = Spec::new(ResourceId::new(id), &Kind::new(kind), id.to_owned());
    for (i, d) in deps.iter().enumerate() {
        s = s.field(&format!("ref{i}"), Expr::reference(&ResourceId::new(*d), "id"));
    }
    s
}

#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) live: BTreeMap<String, (Kind, Observed)>,
    next: u32,
    /// API calls, and `ready:ID` when a wait ends, in the order they happened.
    pub(crate) log: Vec<String>,
    in_flight: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) fail: HashSet<String>,
    pub(crate) fail_once: HashSet<String>,
    /// Ids whose every call fails with an error that may pass (AWS unavailable).
    pub(crate) unavailable: HashSet<String>,
    /// Creates that take effect and then answer with a retryable error, as when AWS's answer
    /// is lost on the way back.
    pub(crate) lose_answer: HashSet<String>,
    /// Like `lose_answer`, for a create of several calls that stopped after the first: the
    /// resource exists, with none of its fields set.
    pub(crate) stop_part_way: HashSet<String>,
    /// Ids whose create AWS refuses as "already exists": someone else holds the name.
    pub(crate) taken: HashSet<String>,
    /// The idempotency token of every create call, in order.
    pub(crate) tokens: Vec<(String, String)>,
    /// The fields each update call was told changed, in order.
    pub(crate) changed: Vec<(String, Vec<String>)>,
    pub(crate) call_time: Duration,
    /// How many batched reads (observe calls) were made.
    pub(crate) observed: usize,
    pub(crate) wait_time: Duration,
}

#[derive(Clone, Default)]
pub(crate) struct FakeCloud {
    pub(crate) inner: Arc<Mutex<Inner>>,
}

impl FakeCloud {
    pub(crate) fn registry(&self) -> Registry {
        self.registry_in(&Placement::default())
    }

    /// Reconcilers that make and read the resources of one placement of this cloud.
    pub(crate) fn registry_in(&self, placement: &Placement) -> Registry {
        let mut r = Registry::default();
        for (kind, secs, replace_on, replace_order) in [
            (THING, 1, &["cidr"][..], ReplaceOrder::CreateBeforeDelete),
            (SLOW, 300, &["cidr"], ReplaceOrder::CreateBeforeDelete),
            (CHILD, 1, &["cidr", "ref0"], ReplaceOrder::CreateBeforeDelete),
            (EXCLUSIVE, 1, &["cidr", "ref0"], ReplaceOrder::DeleteBeforeCreate),
        ] {
            let d = Duration::from_secs(secs);
            let schema = KindSchema {
                kind: Kind::new(kind),
                service: "test",
                replace_on,
                replace_order,
                unordered: &["set"],
                unread: &[],
                expected: ExpectedDurations { create: d, update: d, delete: d },
                deletion_days: None,
            };
            let reconciler =
                FakeReconciler { cloud: self.clone(), placement: placement.clone(), kind: schema.kind.clone() };
            r.register(schema, Arc::new(reconciler));
        }
        r
    }

    /// The registry at the default placement, which every test spec and change has.
    pub(crate) fn registries(&self) -> Registries {
        Registries::at(Default::default(), self.registry())
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    /// The API calls made, in order.
    pub(crate) fn calls(&self) -> Vec<String> {
        self.with(|i| i.log.iter().filter(|l| !l.starts_with("ready:")).cloned().collect())
    }

    /// Calls and ends of waits, in order.
    pub(crate) fn log(&self) -> Vec<String> {
        self.with(|i| i.log.clone())
    }

    /// Puts a resource into the cloud as if an earlier run had created it. It carries no
    /// stack: whichever single stack reads it owns it.
    pub(crate) fn seed(&self, kind: &str, id: &str, fields: serde_json::Value) -> String {
        self.seed_owned(None, kind, id, fields)
    }

    /// Puts a resource of `stack` into the cloud.
    pub(crate) fn seed_in(&self, stack: &str, kind: &str, id: &str, fields: serde_json::Value) -> String {
        self.seed_owned(Some(stack), kind, id, fields)
    }

    fn seed_owned(&self, stack: Option<&str>, kind: &str, id: &str, fields: serde_json::Value) -> String {
        self.seed_at(&Placement::default(), stack, kind, id, fields)
    }

    fn seed_at(
        &self,
        placement: &Placement,
        stack: Option<&str>,
        kind: &str,
        id: &str,
        fields: serde_json::Value,
    ) -> String {
        self.with(|i| {
            i.next += 1;
            let aws_id = format!("x-{}", i.next);
            let serde_json::Value::Object(attributes) = fields else { panic!("fields must be an object") };
            let outputs = [("id".to_owned(), json!(aws_id))].into_iter().collect();
            let o = Observed::new(ResourceId::new(id), aws_id.clone(), attributes, outputs);
            let o = Observed { stack: stack.map(str::to_owned), placement: placement.clone(), ..o };
            i.live.insert(aws_id.clone(), (Kind::new(kind), o));
            aws_id
        })
    }
}

struct FakeReconciler {
    cloud: FakeCloud,
    placement: Placement,
    kind: Kind,
}

impl FakeReconciler {
    async fn call(&self, what: &str, id: &ResourceId) -> Result<(), ReconcileError> {
        let delay = self.cloud.with(|i| {
            i.log.push(format!("{what}:{id}"));
            i.in_flight += 1;
            i.max_in_flight = i.max_in_flight.max(i.in_flight);
            i.call_time
        });
        tokio::time::sleep(delay).await;
        self.cloud.with(|i| {
            i.in_flight -= 1;
            if i.fail.contains(id.as_str()) {
                return Err(ReconcileError::permanent(format!("{id} refused")));
            }
            if i.unavailable.contains(id.as_str()) {
                return Err(ReconcileError::retryable(format!("{id}: ServiceUnavailable")));
            }
            if i.fail_once.remove(id.as_str()) {
                return Err(ReconcileError::retryable(format!("{id} not yet")));
            }
            Ok(())
        })
    }
}

#[async_trait]
impl Reconciler for FakeReconciler {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        Ok(self.cloud.with(|i| {
            i.observed += 1;
            let of_kind = i.live.values().filter(|(k, o)| *k == self.kind && o.placement == self.placement);
            let owned = of_kind.filter_map(|(_, o)| {
                let stack = o.stack.as_deref().or(scope.single()).filter(|s| scope.reads(s))?;
                Some(o.clone().of_stack(stack))
            });
            owned.collect()
        }))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let id = desired.id.as_str();
        self.cloud.with(|i| i.tokens.push((id.to_owned(), desired.token.clone())));
        self.call("create", &desired.id).await?;
        self.cloud.with(|i| {
            if i.taken.contains(id) {
                return Err(ReconcileError {
                    class: crate::reconciler::ErrorClass::Conflict,
                    message: format!("AlreadyExists: {} is taken", desired.name),
                });
            }
            Ok(())
        })?;
        let part_way = self.cloud.with(|i| i.stop_part_way.remove(id));
        let fields = if part_way { json!({}) } else { serde_json::Value::Object(desired.fields.clone()) };
        let aws_id = self.cloud.seed_at(&self.placement, None, self.kind.as_str(), id, fields);
        if part_way || self.cloud.with(|i| i.lose_answer.remove(id)) {
            return Err(ReconcileError::retryable("InternalError: the answer was lost"));
        }
        Ok(self.cloud.with(|i| i.live[&aws_id].1.clone()))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let fields = changes.iter().map(|c| c.field.clone()).collect();
        self.cloud.with(|i| i.changed.push((desired.id.to_string(), fields)));
        self.call("update", &desired.id).await?;
        self.cloud.with(|i| {
            // Like AWS, a client of one placement does not see another's resources.
            let here = i.live.get_mut(&current.aws_id).filter(|(_, o)| o.placement == self.placement);
            let entry = &mut here.ok_or_else(|| ReconcileError::permanent("gone"))?.1;
            entry.attributes = desired.fields.clone();
            Ok(entry.clone())
        })
    }

    /// Like AWS, refuses to delete what another live resource still refers to, except for a
    /// kind AWS lets go regardless (routes to a deleted NAT gateway become blackholes).
    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        self.call("delete", &current.id).await?;
        let strict = self.kind.as_str() != EXCLUSIVE;
        self.cloud.with(|i| {
            let target = json!(current.aws_id);
            let refers = |v: &serde_json::Value| *v == target || v.as_array().is_some_and(|a| a.contains(&target));
            if let Some((_, user)) = i.live.values().find(|(_, o)| strict && o.attributes.values().any(refers)) {
                return Err(ReconcileError {
                    class: crate::reconciler::ErrorClass::Conflict,
                    message: format!("DependencyViolation: {} is in use by {}", current.aws_id, user.aws_id),
                });
            }
            // Like AWS, a client of one placement does not see another's resources: its
            // delete finds nothing, which a reconciler counts as already gone.
            if i.live.get(&current.aws_id).is_some_and(|(_, o)| o.placement == self.placement) {
                i.live.remove(&current.aws_id);
            }
            Ok(())
        })
    }

    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        let wait = self.cloud.with(|i| i.wait_time);
        tokio::time::sleep(wait).await;
        self.cloud.with(|i| i.log.push(format!("ready:{}", current.id)));
        Ok(current)
    }
}

/// Keeps every state document written, in order.
#[derive(Default)]
pub(crate) struct MemoryWriter {
    pub(crate) writes: Mutex<Vec<StateDocument>>,
    pub(crate) fail: HashMap<u64, String>,
}

#[async_trait]
impl StateWriter for MemoryWriter {
    async fn write(&self, doc: &mut StateDocument) -> Result<(), StateWriteError> {
        if let Some(e) = self.fail.get(&(doc.serial + 1)) {
            return Err(StateWriteError::Failed(e.clone()));
        }
        doc.serial += 1;
        self.writes.lock().unwrap().push(doc.clone());
        Ok(())
    }
}
