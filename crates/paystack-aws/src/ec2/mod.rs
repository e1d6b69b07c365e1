//! EC2 resource kinds, and what they share: tags, the stack filter, field access.

pub(crate) mod defaults;
pub(crate) mod elastic_ip;
pub(crate) mod flow_log;
pub(crate) mod internet_gateway;
pub(crate) mod nat_gateway;
pub(crate) mod network_acl;
pub(crate) mod route_table;
pub(crate) mod security_group;
pub(crate) mod security_group_rule;
pub(crate) mod subnet;
pub(crate) mod transit_gateway_attachment;
pub(crate) mod transit_gateway_route_table;
pub(crate) mod vpc;
pub(crate) mod vpc_endpoint;

use std::sync::Arc;

use async_trait::async_trait;

use aws_sdk_ec2 as ec2;
use ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use paystack_core::stack::STACK_TAG;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Registry, Scope};
use paystack_platform::kinds;
use serde_json::Value;

use crate::error::{classify, missing};
use crate::owned::{self, TagMap};
pub(crate) use crate::owned::{cannot_update, created, desired_tags, objects, strings, updated};
use crate::tagging::Tagging;
pub(crate) use crate::tagging::sync_tags;
use crate::wait::Wait;

/// How long each slow EC2 kind may take (`[waits]`).
pub(crate) struct Waits {
    pub(crate) nat_gateway: Wait,
    pub(crate) vpc_endpoint: Wait,
    pub(crate) transit_gateway_attachment: Wait,
}

/// Every EC2 reconciler. Adding an EC2 kind is its module above and one line here.
pub(crate) fn register(r: &mut Registry, client: &ec2::Client, waits: Waits) {
    r.register(kinds::VPC.schema(), Arc::new(vpc::Vpcs::new(client)));
    r.register(kinds::SUBNET.schema(), Arc::new(subnet::Subnets::new(client)));
    r.register(kinds::INTERNET_GATEWAY.schema(), Arc::new(internet_gateway::InternetGateways::new(client)));
    r.register(kinds::ELASTIC_IP.schema(), Arc::new(elastic_ip::ElasticIps::new(client)));
    r.register(kinds::NAT_GATEWAY.schema(), Arc::new(nat_gateway::NatGateways::new(client, waits.nat_gateway)));
    r.register(kinds::ROUTE_TABLE.schema(), Arc::new(route_table::RouteTables::new(client)));
    r.register(kinds::FLOW_LOG.schema(), Arc::new(flow_log::FlowLogs::new(client)));
    r.register(kinds::DEFAULT_SECURITY_GROUP.schema(), Arc::new(defaults::DefaultSecurityGroups::new(client)));
    r.register(kinds::DEFAULT_NETWORK_ACL.schema(), Arc::new(defaults::DefaultNetworkAcls::new(client)));
    r.register(kinds::NETWORK_ACL.schema(), Arc::new(network_acl::NetworkAcls::new(client)));
    r.register(kinds::SECURITY_GROUP.schema(), Arc::new(security_group::SecurityGroups::new(client)));
    r.register(kinds::SECURITY_GROUP_RULE.schema(), Arc::new(security_group_rule::SecurityGroupRules::new(client)));
    r.register(kinds::VPC_ENDPOINT.schema(), Arc::new(vpc_endpoint::VpcEndpoints::new(client, waits.vpc_endpoint)));
    r.register(
        kinds::TRANSIT_GATEWAY_ATTACHMENT.schema(),
        Arc::new(transit_gateway_attachment::TransitGatewayAttachments::new(client, waits.transit_gateway_attachment)),
    );
    r.register(
        kinds::TRANSIT_GATEWAY_ROUTE_TABLE.schema(),
        Arc::new(transit_gateway_route_table::TransitGatewayRouteTables::new(client)),
    );
}

/// The filter that selects every resource of the scope's stack: one tag-filtered Describe
/// per kind is the whole live inventory of that kind.
pub(crate) fn stack_filter(scope: &Scope) -> Filter {
    Filter::builder().name(format!("tag:{STACK_TAG}")).set_values(Some(owned::stack_values(scope))).build()
}

/// Tags to set in the create call itself, so a resource is never visible untagged (and so
/// never unfindable after a crash).
pub(crate) fn tag_specification(resource_type: ResourceType, desired: &Desired) -> TagSpecification {
    let tags = desired_tags(desired).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
    TagSpecification::builder().resource_type(resource_type).set_tags(Some(tags.collect())).build()
}

pub(crate) fn tag_map(tags: &[Tag]) -> TagMap {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

/// True when the tags say the resource belongs to the scope's stack.
pub(crate) fn owned_by(scope: &Scope, tags: &[Tag]) -> bool {
    owned::owned_by(scope, &tag_map(tags))
}

/// A live resource as the engine sees it, or `None` unless it is provably this stack's.
pub(crate) fn observed(
    scope: &Scope,
    tags: &[Tag],
    aws_id: &str,
    attributes: Value,
    outputs: Value,
) -> Option<Observed> {
    owned::observed(scope, &tag_map(tags), aws_id, attributes, outputs)
}

/// One listed EC2 resource as `observe` reports it.
pub(crate) struct Listed<'a> {
    id: Option<&'a str>,
    tags: &'a [Tag],
    attributes: Value,
    outputs: Value,
    pending: bool,
}

impl<'a> Listed<'a> {
    pub(crate) fn new(id: Option<&'a str>, tags: &'a [Tag], attributes: Value) -> Self {
        Self { id, tags, attributes, outputs: Value::Null, pending: false }
    }

    /// What other resources may refer to, beside its id.
    pub(crate) fn outputs(self, outputs: Value) -> Self {
        Self { outputs, ..self }
    }

    /// Whether AWS still reports it as becoming ready.
    pub(crate) fn pending(self, pending: bool) -> Self {
        Self { pending, ..self }
    }
}

/// The resources of `items` the scope owns. `read` tells what one is, or `None` for one
/// AWS still lists but that is gone (deleted, failed); `what` names the id AWS should have
/// given, for the error when it left it out.
pub(crate) fn owned_of<'a, T>(
    scope: &Scope,
    what: &str,
    items: &'a [T],
    read: impl Fn(&'a T) -> Option<Listed<'a>>,
) -> Result<Vec<Observed>, ReconcileError> {
    let mut out = Vec::new();
    for listed in items.iter().filter_map(read) {
        let id = listed.id.ok_or_else(|| missing(what))?;
        let found = observed(scope, listed.tags, id, listed.attributes, listed.outputs);
        out.extend(found.map(|o| Observed { pending: listed.pending, ..o }));
    }
    Ok(out)
}

/// EC2 tags any of its resources by id.
#[async_trait]
impl Tagging for ec2::Client {
    async fn tag(&self, resource: &str, tags: TagMap) -> Result<(), ReconcileError> {
        let tags = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
        self.create_tags()
            .resources(resource)
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(|e| classify("CreateTags", e))?;
        Ok(())
    }

    async fn untag(&self, resource: &str, keys: Vec<String>) -> Result<(), ReconcileError> {
        let tags = keys.into_iter().map(|k| Tag::builder().key(k).build());
        self.delete_tags()
            .resources(resource)
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(|e| classify("DeleteTags", e))?;
        Ok(())
    }
}

/// The update of a kind whose only field that changes in place is its tags.
pub(crate) async fn update_tags_only(
    client: &ec2::Client,
    desired: &Desired,
    current: &Observed,
    changes: &[FieldChange],
) -> Result<Observed, ReconcileError> {
    for change in changes {
        match change.field.as_str() {
            "tags" => sync_tags(client, &current.aws_id, desired, current).await?,
            other => return Err(cannot_update(desired, other)),
        }
    }
    Ok(updated(desired, current))
}
