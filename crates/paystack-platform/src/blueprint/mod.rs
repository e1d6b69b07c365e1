//! One environment's resources, derived from its configuration, layer by layer.
//!
//! Each layer is a module with one entry function: it takes the configuration and the typed
//! handles of the layers it builds on, places its resources, and returns its own handles.
//! Nothing refers to another layer's resource by a string id, so renaming a resource or an
//! output fails to build. The ids and names of a layer are written in that layer only.

use std::collections::{BTreeMap, BTreeSet};

use paystack_config::{Environment, IgnoredField};
use paystack_core::naming;
use paystack_core::stack::{RESOURCE_TAG, STACK_TAG};
use paystack_core::{
    Change, Expr, FieldChange, Fields, Input, Kind, Placement, ResourceId, Spec, Stack, StateDocument,
};
use serde::Serialize;

use crate::kinds::{self, Handle, KindDef, KindSpec, Tags, TransitSide};

mod alerts;
mod audit;
mod automation;
mod compute;
mod database;
mod edge;
mod monitoring;
mod network;
mod parameters;
mod security;
mod storage;
mod transit;
mod trust;

pub use automation::{FUNCTION_RUNTIME, FunctionPackage};
pub use transit::{GATEWAY_TAG, Gateway, GatewayError, TransitLookup, gateway, network_placement};
#[cfg(test)]
pub(crate) mod tests;

/// The desired resources of one stack and the outputs it publishes.
#[derive(Debug)]
pub struct Blueprint {
    pub stack: Stack,
    pub specs: Vec<Spec>,
    /// Named outputs, as expressions over resource outputs.
    pub outputs: BTreeMap<String, Expr>,
    /// The compliance function's package was not read, so its code is not compared.
    pub package_unknown: bool,
}

impl Blueprint {
    /// The outputs, resolved against what state recorded. An output whose resources are not
    /// recorded (not applied yet, or failed) is left out.
    pub fn resolve_outputs(&self, state: &StateDocument) -> Fields {
        let lookup = |r: &paystack_core::Reference| state.resources.get(&r.resource)?.outputs.get(&r.output).cloned();
        self.outputs.iter().filter_map(|(k, e)| Some((k.clone(), e.resolve(&lookup)?))).collect()
    }

    /// The task-count range auto-scaling keeps the ECS service `service` in, if it scales.
    /// Within it, the service's live desired count is auto-scaling's to set, not drift.
    pub fn scaling_range(&self, service: &ResourceId) -> Option<(i64, i64)> {
        let scaling = self
            .specs
            .iter()
            .find(|s| s.kind == kinds::SERVICE_SCALING.kind() && s.dependencies().contains(service))?;
        let number = |key: &str| match scaling.fields.get(key)? {
            Expr::Literal(v) => v.as_i64(),
            _ => None,
        };
        Some((number("min_capacity")?, number("max_capacity")?))
    }

    /// Who else owns a live field value, if anyone. A field `ignore` (the configuration's
    /// `drift.ignore`) names belongs to whoever the configuration leaves it to. A service's
    /// desired count that moved away from what paystack last set, and stays within the
    /// service's auto-scaling range, is auto-scaling's: neither drift nor something for apply
    /// to undo. A count paystack set and nothing moved since is paystack's, so a new one in the
    /// configuration is applied.
    pub fn field_owner(
        &self,
        ignore: &[IgnoredField],
        state: &StateDocument,
        change: &Change,
        field: &FieldChange,
    ) -> Option<String> {
        if ignore.iter().any(|r| r.resource == change.id.as_str() && r.field == field.field) {
            return Some("configuration (drift.ignore)".to_owned());
        }
        if change.kind == kinds::FUNCTION.kind() && field.field == "code_sha256" && self.package_unknown {
            return Some("the package, which this run has not read".to_owned());
        }
        if change.kind != kinds::ECS_SERVICE.kind() || !kinds::AUTOSCALED_FIELDS.contains(&field.field.as_str()) {
            return None;
        }
        let (min, max) = self.scaling_range(&change.id)?;
        let live = field.before.as_ref()?.as_i64()?;
        let set = state.resources.get(&change.id)?.attributes.get(&field.field)?.as_i64()?;
        (live != set && (min..=max).contains(&live)).then(|| "application-autoscaling".to_owned())
    }
}

/// What the platform uses but never makes: read from AWS before planning, like a Terraform
/// data source. A value still unknown (when nothing needs AWS, as for `graph`) shows as a
/// placeholder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lookups {
    /// The ARN of the ACM certificate for `load_balancer.certificate_domain`.
    pub certificate_arn: Option<String>,
    /// The id of the public hosted zone named `dns.zone`.
    pub hosted_zone_id: Option<String>,
    /// The Transit Gateway and its shared-services attachment, for an environment with
    /// `[transit_gateway]`.
    pub transit_gateway: Option<TransitLookup>,
    /// The account the run's credentials act in, for the key policies of an environment
    /// without `[account]`.
    pub account_id: Option<String>,
    /// The role the database secret's rotation function runs as, where rotation is on: one
    /// of the secret's readers.
    pub rotation_role_arn: Option<String>,
    /// The compliance function's package, read from this machine; `None` where the run has
    /// none (the scheduled drift task), and the function's code is then not compared.
    pub function_package: Option<FunctionPackage>,
}

pub(super) const NOT_LOOKED_UP: &str = "(looked up when planning)";

/// A configuration the blueprint cannot place. Validation rejects these before the blueprint
/// is built; this says which rule a configuration that slipped past it broke.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BlueprintError {
    #[error("the environment has no availability zones")]
    NoZones,
    #[error("the environment has no NAT gateway, so its private subnets cannot reach AWS's APIs")]
    NoNatGateway,
    #[error("the DNS configuration gives the service no record")]
    NoServiceRecord,
    #[error("two resources have the id {0}")]
    DuplicateId(ResourceId),
    #[error(
        "{id} is a {kind}, which AWS knows by its `{field}`, but the spec does not carry the name the blueprint gave it"
    )]
    NameNotCarried { id: ResourceId, kind: &'static str, field: &'static str },
}

/// Builds the specs of `env`. Every name and tag is computed here, and every dependency is a
/// reference from one spec to another's output.
pub fn blueprint(env: &Environment, lookups: &Lookups) -> Result<Blueprint, BlueprintError> {
    let stack = Stack { env: env.name.clone(), suffix: env.suffix.clone(), region: env.region.clone() };
    let mut b = Builder { env, stack: stack.clone(), specs: Vec::new() };

    let network = network::network(&mut b, lookups)?;
    let security = security::security(&mut b, &network)?;
    let storage = storage::storage(&mut b, lookups)?;
    let audit = audit::audit(&mut b, &network, &storage)?;
    let database = database::database(&mut b, lookups, &network, &security, &storage)?;
    let alerts = alerts::alerts(&mut b, &storage)?;
    let edge = edge::edge(&mut b, &network, &security, &storage, &audit, lookups)?;
    let compute = compute::compute(&mut b, &network, &security, &database, &alerts, &edge, &storage)?;
    monitoring::monitoring(&mut b, &alerts, &edge, &database, &compute, &storage)?;
    automation::automation(&mut b, lookups, &network, &security, &storage, &alerts, &compute)?;

    let mut outputs = BTreeMap::new();
    let mut output = |name: &str, value: Expr| outputs.insert(name.to_owned(), value);
    output("vpc_id", expr(&network.vpc.id()));
    output("public_subnet_ids", expr(&kinds::each(&network.public_subnets, |h| h.id())));
    output("private_subnet_ids", expr(&kinds::each(&network.private_subnets, |h| h.id())));
    output("nat_gateway_ids", expr(&kinds::each(&network.nat_gateways, |h| h.id())));
    output("s3_endpoint_id", expr(&network.s3_endpoint.id()));
    output(
        "security_group_ids",
        expr(&BTreeMap::from([("alb", security.alb.id()), ("app", security.app.id()), ("db", security.db.id())])),
    );
    output("db_secret_arn", expr(&database.secret.arn()));
    output("db_cluster_endpoint", expr(&database.cluster.endpoint()));
    output("db_reader_endpoint", expr(&database.cluster.reader_endpoint()));
    output("sns_topic_arn", expr(&alerts.topic.arn()));
    output("alb_dns_name", expr(&edge.load_balancer.dns_name()));
    output("service_url", expr(&edge.service_record.url()));
    output("ecs_cluster_arn", expr(&compute.cluster.arn()));
    let service_arns: BTreeMap<&str, Input<String>> =
        compute.services.iter().map(|s| (s.name.as_str(), s.service.arn())).collect();
    output("ecs_service_arns", expr(&service_arns));
    output("discovery_namespace", expr(&compute.namespace));
    output("sessions_table_name", expr(&storage.sessions.name()));
    output("sessions_table_arn", expr(&storage.sessions.arn()));
    output("kms_key_arn", expr(&storage.key.arn()));
    output("artifacts_bucket", expr(&storage.artifacts.name()));
    output("access_log_bucket", expr(&audit.access_logs.name()));
    if let Some(replica) = &storage.artifacts_replica {
        output("artifacts_replica_bucket", expr(&replica.name()));
    }
    output("parameter_path", expr(&parameters::root(&b)));

    let package_unknown = env.compliance.function && lookups.function_package.is_none();
    Ok(Blueprint { stack, specs: b.specs, outputs, package_unknown })
}

/// Where a resource of `kind` lives by default in `env`: its primary region in its account
/// (the caller's, unless it names its own), that account alone for a global kind, or the
/// account that owns the Transit Gateway for the gateway's route tables. A state document
/// written before placement is migrated with this.
pub fn primary_placement(env: &Environment, kind: &Kind) -> Placement {
    match kinds::all().find(|k| k.name == kind.as_str()) {
        Some(def) => placement_of(env, def),
        None => placement_in(env, false),
    }
}

/// Whether `kind` lives once per account (IAM, Route 53) rather than once per region.
pub fn is_global(kind: &Kind) -> bool {
    kinds::all().find(|k| k.name == kind.as_str()).is_some_and(|k| k.global)
}

/// Every placement a run of `env` reaches for `specs`: each kind's primary placement (where
/// a kind with nothing configured is still read, to find what a stack left behind), and
/// wherever a spec is placed.
pub fn placements<'a>(env: &Environment, specs: impl IntoIterator<Item = &'a Spec>) -> BTreeSet<Placement> {
    let primary = kinds::all().filter(|k| configured(env, k)).map(|k| placement_of(env, k));
    let replicas = kinds::all().filter(|k| k.replicated).filter_map(|_| replica_placement(env));
    primary.chain(replicas).chain(specs.into_iter().map(|s| s.placement.clone())).collect()
}

/// The environment's replica region, in its account, if it has one.
fn replica_placement(env: &Environment) -> Option<Placement> {
    let region = env.replica_region.as_deref()?;
    Some(Placement::regional(env.account.as_ref().map(|a| a.id.as_str()), region))
}

/// Whether a run of `env` reads `kind` at `placement` when neither its configuration nor
/// its state puts one there: to find what a stack left behind where its kind lives. That is
/// its primary placement, and the replica region for a kind that lives there too. A kind of
/// a feature the environment does not use is not read, and the account that owns the
/// Transit Gateway is read only for the gateway's own kinds.
pub fn reads(env: &Environment, kind: &Kind, placement: &Placement) -> bool {
    let Some(def) = kinds::all().find(|k| k.name == kind.as_str()) else { return false };
    configured(env, def)
        && (*placement == placement_of(env, def)
            || (def.replicated && Some(placement) == replica_placement(env).as_ref()))
}

/// Where the environment's regional resources live, its state and lookups with them: its
/// region, in its own account if it names one.
pub fn home(env: &Environment) -> Placement {
    placement_in(env, false)
}

/// Whether the environment uses what `def`'s kind is part of.
fn configured(env: &Environment, def: &KindDef) -> bool {
    def.transit.is_none() || env.transit_gateway.is_some()
}

/// Where a resource of `def`'s kind goes: the environment's primary region of its account,
/// the account alone for a global kind, or the gateway owner's account for its side of the
/// Transit Gateway.
fn placement_of(env: &Environment, def: &KindDef) -> Placement {
    match (def.transit, network_placement(env)) {
        (Some(TransitSide::Owner), Some(network)) => network,
        _ => placement_in(env, def.global),
    }
}

fn placement_in(env: &Environment, global: bool) -> Placement {
    let account = env.account.as_ref().map(|a| a.id.as_str());
    if global { Placement::global(account) } else { Placement::regional(account, &env.region) }
}

/// The five tags the organisation requires on everything, the state bucket and lock table
/// included.
pub fn required_tags(env: &Environment) -> Vec<(&'static str, String)> {
    vec![
        ("Environment", env.name.clone()),
        ("Project", env.project.clone()),
        ("ManagedBy", "paystack".to_owned()),
        ("Application", env.tags.application.clone()),
        ("CostCenter", env.tags.cost_center.clone()),
    ]
}

/// A typed value as the generic expression the planner and outputs work on.
fn expr(value: &impl Serialize) -> Expr {
    Expr::from_serialized(serde_json::to_value(value).unwrap_or_default())
}

/// What the builder gives a tagged resource's constructor: its name (fitted to AWS's limit
/// for kinds AWS knows by name) and its tags.
struct Named {
    name: String,
    tags: Tags,
}

/// Places resources, computing every name and tag, and refusing a second resource of one id.
struct Builder<'a> {
    env: &'a Environment,
    stack: Stack,
    specs: Vec<Spec>,
}

impl Builder<'_> {
    /// Where a resource of `kind` goes by default: the environment's primary region of its
    /// account, or the account alone for a global kind.
    fn placement(&self, kind: &KindDef) -> Placement {
        placement_of(self.env, kind)
    }

    /// `{env}-{region}-{service}-{resource}`, with the stack's suffix.
    fn name(&self, service: &str, resource: &str) -> String {
        naming::compose(&self.env.name, &self.env.region, service, resource, self.env.suffix.as_deref())
    }

    /// The name [`Builder::add`] gives a resource of `kind` named after `(service, resource)`,
    /// for a resource that must be named after it before it exists.
    fn name_of(&self, kind: &KindDef, service: &str, resource: &str) -> String {
        let full = self.name(service, resource);
        match kind.name_field {
            Some((_, max)) => naming::fit(&full, max),
            None => full,
        }
    }

    /// The tags every resource carries: the five the organisation requires, its name, and
    /// the two ownership tags by which paystack finds it again.
    fn tags(&self, id: &str, name: &str) -> Tags {
        let mut tags: Tags = required_tags(self.env).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        tags.insert("Name".into(), name.to_owned());
        tags.insert(STACK_TAG.into(), self.stack.key());
        tags.insert(RESOURCE_TAG.into(), id.to_owned());
        tags
    }

    /// A tagged resource named after `(service, resource)`. A kind AWS knows by a name gets
    /// it fitted to AWS's limit, and its spec must carry it in its name field.
    fn add<S: KindSpec>(
        &mut self,
        id: &str,
        (service, resource): (&str, &str),
        make: impl FnOnce(Named) -> S,
    ) -> Result<Handle<S>, BlueprintError> {
        let full = self.name(service, resource);
        self.add_at(self.placement(S::DEF), full, id, make)
    }

    /// Like [`Builder::add`], in `region` of the environment's account (the replica region).
    /// Its name starts like every name of the stack, with the environment's own region.
    fn add_in_region<S: KindSpec>(
        &mut self,
        region: &str,
        id: &str,
        (service, resource): (&str, &str),
        make: impl FnOnce(Named) -> S,
    ) -> Result<Handle<S>, BlueprintError> {
        let full = self.name(service, resource);
        let account = self.env.account.as_ref().map(|a| a.id.as_str());
        self.add_at(Placement::regional(account, region), full, id, make)
    }

    fn add_at<S: KindSpec>(
        &mut self,
        placement: Placement,
        full: String,
        id: &str,
        make: impl FnOnce(Named) -> S,
    ) -> Result<Handle<S>, BlueprintError> {
        let name = match S::DEF.name_field {
            Some((_, max)) => naming::fit(&full, max),
            None => full,
        };
        let spec = make(Named { name: name.clone(), tags: self.tags(id, &name) });
        self.push_at(placement, id, name, &spec)
    }

    /// A resource AWS keeps no tags on, shown as `shown`.
    fn untagged<S: KindSpec>(&mut self, id: &str, shown: String, spec: &S) -> Result<Handle<S>, BlueprintError> {
        self.push(id, shown, spec)
    }

    /// A setting of another resource that the engine plans on its own: it takes no tags, and
    /// is shown under the name of the resource it sets.
    fn setting<S: KindSpec, O>(&mut self, id: &str, of: &Handle<O>, spec: &S) -> Result<Handle<S>, BlueprintError> {
        let shown = self.specs.iter().find(|s| &s.id == of.resource()).map(|s| s.name.clone()).unwrap_or_default();
        self.push(id, shown, spec)
    }

    fn push<S: KindSpec>(&mut self, id: &str, name: String, spec: &S) -> Result<Handle<S>, BlueprintError> {
        self.push_at(self.placement(S::DEF), id, name, spec)
    }

    fn push_at<S: KindSpec>(
        &mut self,
        placement: Placement,
        id: &str,
        name: String,
        spec: &S,
    ) -> Result<Handle<S>, BlueprintError> {
        let id = ResourceId::new(id);
        if self.specs.iter().any(|s| s.id == id) {
            return Err(BlueprintError::DuplicateId(id));
        }
        let spec = Spec::from_typed(id.clone(), &S::DEF.kind(), name, spec).placed(placement);
        if let Some((field, _)) = S::DEF.name_field
            && spec.fields.get(field) != Some(&Expr::from(spec.name.as_str()))
        {
            return Err(BlueprintError::NameNotCarried { id, kind: S::DEF.name, field });
        }
        self.specs.push(spec);
        Ok(Handle::new(id))
    }
}
