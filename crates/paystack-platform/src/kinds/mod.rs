//! The resource kinds and their contracts. Each kind is one Rust type, declared once in the
//! module of its layer: the blueprint builds values of it, the reconciler in `paystack-aws`
//! reads the same type back from the resolved fields, and its [`KindDef`] next to it says
//! which of its fields force a replacement, which are unordered sets, and which latency row
//! it takes. A field named in a contract is checked against the type at compile time
//! ([`fields!`]), so a misspelt field fails to build instead of failing an apply.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use paystack_core::{Input, Kind, KindSchema, ReplaceOrder, ResourceId};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod automation;
mod compute;
mod database;
mod discovery;
mod edge;
mod monitoring;
mod network;
mod storage;

pub use automation::*;
pub use compute::*;
pub use database::*;
pub use discovery::*;
pub use edge::*;
pub use monitoring::*;
pub use network::*;
pub use storage::*;

/// Tags as AWS takes them: key to value.
pub type Tags = BTreeMap<String, String>;

/// A kind's spec type. The planner, state and output keep working on its serialized fields.
pub trait KindSpec: Serialize + DeserializeOwned {
    const DEF: &'static KindDef;
}

/// The names of fields of `$ty`, as a contract lists them. Each name is checked to be a field
/// of the type when the crate builds.
macro_rules! fields {
    ($ty:ty: $($field:ident),* $(,)?) => {{
        #[allow(dead_code)]
        fn exists(spec: &$ty) {
            $(let _ = &spec.$field;)*
        }
        &[$(stringify!($field)),*]
    }};
}
pub(crate) use fields;

/// The outputs a kind's reconciler reports, as typed methods of its [`Handle`].
macro_rules! outputs {
    ($ty:ty { $($(#[$meta:meta])* $output:ident: $out_ty:ty),* $(,)? }) => {
        impl $crate::kinds::Handle<$ty> {
            $(
                $(#[$meta])*
                pub fn $output(&self) -> paystack_core::Input<$out_ty> {
                    self.output(stringify!($output))
                }
            )*
        }
    };
}
pub(crate) use outputs;

/// A resource the blueprint placed, by which other resources refer to its outputs. Its
/// methods are the outputs its kind declares, so a reference to an output that does not
/// exist fails to build.
#[derive(Debug, PartialEq, Eq)]
pub struct Handle<S> {
    resource: ResourceId,
    kind: PhantomData<fn() -> S>,
}

impl<S> Clone for Handle<S> {
    fn clone(&self) -> Self {
        Self { resource: self.resource.clone(), kind: PhantomData }
    }
}

impl<S> Handle<S> {
    pub(crate) fn new(resource: ResourceId) -> Self {
        Self { resource, kind: PhantomData }
    }

    /// The logical id of the resource.
    pub fn resource(&self) -> &ResourceId {
        &self.resource
    }

    pub(crate) fn output<T>(&self, name: &str) -> Input<T> {
        Input::reference(&self.resource, name)
    }
}

/// The same output of every handle in `handles`.
pub fn each<S, T>(handles: &[Handle<S>], output: impl Fn(&Handle<S>) -> Input<T>) -> Vec<Input<T>> {
    handles.iter().map(output).collect()
}

/// A kind's fixed facts; [`KindDef::schema`] adds the expected durations.
#[derive(Debug)]
pub struct KindDef {
    pub name: &'static str,
    pub service: &'static str,
    pub latency_key: &'static str,
    pub replace_on: &'static [&'static str],
    pub unordered: &'static [&'static str],
    /// Fields AWS never reports back (where a function's code is read from): sent, never
    /// compared.
    pub unread: &'static [&'static str],
    pub replace_order: ReplaceOrder,
    /// For kinds AWS identifies by a name the caller chooses (RDS, Secrets Manager, SNS): the
    /// field that carries it, and the longest name AWS accepts.
    pub name_field: Option<(&'static str, usize)>,
    /// A global kind (IAM, Route 53) lives once per account, not once per region.
    pub global: bool,
    /// The kind exists only with the Transit Gateway configured.
    pub transit: Option<TransitSide>,
    /// The kind lives in the replica region too (a key per region the environment uses).
    pub replicated: bool,
    /// AWS deletes a resource of the kind only this many days after it is asked to.
    pub deletion_days: Option<u32>,
}

/// Which side of the Transit Gateway a kind of it lives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitSide {
    /// In the environment's account, beside its VPC.
    Environment,
    /// In the account that owns the gateway.
    Owner,
}

impl KindDef {
    pub(crate) const fn ec2(name: &'static str, latency_key: &'static str) -> Self {
        Self::new(name, "ec2", latency_key)
    }

    pub(crate) const fn new(name: &'static str, service: &'static str, latency_key: &'static str) -> Self {
        Self {
            name,
            service,
            latency_key,
            replace_on: &[],
            unordered: &[],
            unread: &[],
            replace_order: ReplaceOrder::CreateBeforeDelete,
            name_field: None,
            global: false,
            transit: None,
            replicated: false,
            deletion_days: None,
        }
    }

    /// AWS schedules a deletion `days` ahead instead of deleting at once.
    pub(crate) const fn deleted_after(mut self, days: u32) -> Self {
        self.deletion_days = Some(days);
        self
    }

    /// The kind lives in the environment's replica region too.
    pub(crate) const fn replicated(mut self) -> Self {
        self.replicated = true;
        self
    }

    /// The kind exists only with the Transit Gateway configured, on its `side`.
    pub(crate) const fn transit(mut self, side: TransitSide) -> Self {
        self.transit = Some(side);
        self
    }

    /// The kind lives once per account, whatever the region.
    pub(crate) const fn global(mut self) -> Self {
        self.global = true;
        self
    }

    /// The kind is identified by the name in `field`, at most `max` characters long.
    pub(crate) const fn named(mut self, field: &'static str, max: usize) -> Self {
        self.name_field = Some((field, max));
        self
    }

    /// Fields AWS cannot change in place.
    pub(crate) const fn replace_on(mut self, fields: &'static [&'static str]) -> Self {
        self.replace_on = fields;
        self
    }

    /// List fields compared as sets.
    pub(crate) const fn unordered(mut self, fields: &'static [&'static str]) -> Self {
        self.unordered = fields;
        self
    }

    /// Fields AWS never reports back.
    pub(crate) const fn unread(mut self, fields: &'static [&'static str]) -> Self {
        self.unread = fields;
        self
    }

    pub(crate) const fn delete_before_create(mut self) -> Self {
        self.replace_order = ReplaceOrder::DeleteBeforeCreate;
        self
    }

    pub fn kind(&self) -> Kind {
        Kind::new(self.name)
    }

    pub fn schema(&self) -> KindSchema {
        KindSchema {
            kind: self.kind(),
            service: self.service,
            replace_on: self.replace_on,
            unordered: self.unordered,
            unread: self.unread,
            replace_order: self.replace_order,
            expected: crate::latency::expected(self.latency_key),
            deletion_days: self.deletion_days,
        }
    }
}

/// Every kind, for what must see them all (a registry of stand-ins, the benchmarks): each
/// layer's module lists its own.
pub fn all() -> impl Iterator<Item = &'static KindDef> {
    [
        network::KINDS,
        database::KINDS,
        storage::KINDS,
        compute::KINDS,
        discovery::KINDS,
        edge::KINDS,
        monitoring::KINDS,
        automation::KINDS,
    ]
    .into_iter()
    .flatten()
    .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_latency_row() {
        for kind in all() {
            assert!(crate::latency::has_row(kind.latency_key), "{} has no row {:?}", kind.name, kind.latency_key);
        }
    }

    #[test]
    fn kind_names_are_unique() {
        let mut names: Vec<&str> = all().map(|k| k.name).collect();
        let total = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), total);
    }
}
