//! Service discovery's kinds: the Cloud Map private DNS namespace in the VPC, and one
//! discovery service per ECS service, which ECS registers the service's tasks in.

use paystack_core::Input;
use serde::{Deserialize, Serialize};

use super::{KindDef, KindSpec, Tags, fields, outputs};

/// The kinds of this layer.
pub(super) const KINDS: &[&KindDef] = &[&NAMESPACE, &DISCOVERY_SERVICE];

/// A private DNS namespace: Cloud Map makes a private hosted zone of that name in the VPC.
/// AWS allows one per VPC and changes neither the name nor the VPC in place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    pub vpc_id: Input<String>,
    pub description: String,
    pub tags: Tags,
}
pub const NAMESPACE: KindDef =
    KindDef::new("servicediscovery.namespace", "servicediscovery", "service_discovery_namespace")
        .replace_on(fields!(Namespace: name, vpc_id));
impl KindSpec for Namespace {
    const DEF: &'static KindDef = &NAMESPACE;
}
outputs!(Namespace { id: String });

/// A discovery service: `{name}.{namespace}` answers with an `A` record per healthy task
/// (multivalue routing), whose health ECS reports (a custom health check).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryService {
    pub name: String,
    pub namespace_id: Input<String>,
    /// How long resolvers may cache an answer, in seconds.
    pub dns_ttl: u32,
    pub tags: Tags,
}
pub const DISCOVERY_SERVICE: KindDef =
    KindDef::new("servicediscovery.service", "servicediscovery", "service_discovery_service")
        .replace_on(fields!(DiscoveryService: name, namespace_id));
impl KindSpec for DiscoveryService {
    const DEF: &'static KindDef = &DISCOVERY_SERVICE;
}
outputs!(DiscoveryService { id: String, arn: String });
