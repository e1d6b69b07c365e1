//! The environment's side of the Transit Gateway (`[transit_gateway]`): a VPC attachment on
//! its private subnets, and in the account that owns the gateway, a route table of its own,
//! associated with that attachment alone, whose only route goes to shared services. Nothing
//! propagates into it, so no environment can reach another through the gateway.
//!
//! The gateway itself, and its share with the environments' accounts, are made once by
//! `paystack bootstrap --transit-gateway`; every environment looks them up.

use paystack_core::Placement;

use super::{BlueprintError, Builder, Lookups, NOT_LOOKED_UP};
use crate::kinds::{
    Handle, Subnet, TransitGatewayAttachment, TransitGatewayRoute, TransitGatewayRouteTable, Vpc, each,
};

/// What the gateway's owner has, as looked up before planning.
#[derive(Clone, Debug, PartialEq)]
pub struct TransitLookup {
    /// The Transit Gateway's id (`tgw-…`).
    pub id: String,
    /// The attachment of the shared-services VPC: where the route to shared services leaves.
    pub shared_services_attachment_id: String,
}

/// The attachment, for the private route tables' route to shared services; `None` when the
/// environment has no Transit Gateway.
pub(super) struct Transit {
    pub(super) attachment: Handle<TransitGatewayAttachment>,
    pub(super) shared_services_cidr: String,
}

/// Where the gateway's route tables live: the region of the environment, in the account
/// that owns the gateway.
pub fn network_placement(env: &paystack_config::Environment) -> Option<Placement> {
    let tgw = env.transit_gateway.as_ref()?;
    Some(Placement::regional(tgw.owner.as_ref().map(|a| a.id.as_str()), &env.region))
}

pub(super) fn transit(
    b: &mut Builder<'_>,
    vpc: &Handle<Vpc>,
    private_subnets: &[Handle<Subnet>],
    lookups: &Lookups,
) -> Result<Option<Transit>, BlueprintError> {
    let Some(tgw) = &b.env.transit_gateway else { return Ok(None) };
    let looked_up = lookups.transit_gateway.clone().unwrap_or_else(|| TransitLookup {
        id: NOT_LOOKED_UP.to_owned(),
        shared_services_attachment_id: NOT_LOOKED_UP.to_owned(),
    });
    let attachment = b.add("network.tgw.attachment", ("network", "tgw-attachment"), |n| TransitGatewayAttachment {
        transit_gateway_id: looked_up.id.clone(),
        vpc_id: vpc.id(),
        subnet_ids: each(private_subnets, |h| h.id()),
        tags: n.tags,
    })?;
    let shared_services_cidr = tgw.shared_services_cidr.to_string();
    b.add("network.tgw.route_table", ("network", "tgw-rt"), |n| TransitGatewayRouteTable {
        transit_gateway_id: looked_up.id.clone(),
        association: attachment.id(),
        routes: vec![TransitGatewayRoute {
            destination_cidr_block: shared_services_cidr.clone(),
            transit_gateway_attachment_id: looked_up.shared_services_attachment_id.clone(),
        }],
        tags: n.tags,
    })?;
    Ok(Some(Transit { attachment, shared_services_cidr }))
}

/// The tag by which every environment finds the gateway: its value is the project.
pub const GATEWAY_TAG: &str = "paystack:transit-gateway";

/// What `paystack bootstrap --transit-gateway` makes once, in the account that owns the
/// gateway: the gateway, with default route-table association and propagation off (every
/// environment's attachment is associated with its own table, and nothing propagates), and
/// its share with the environments' accounts.
#[derive(Clone, Debug, PartialEq)]
pub struct Gateway {
    /// The owning account; `None`: the caller's.
    pub owner: Option<paystack_config::Account>,
    pub region: String,
    pub name: String,
    pub tags: Vec<(String, String)>,
    /// The AWS RAM share's name.
    pub share_name: String,
    /// The environments' accounts other than the owner's, which the gateway is shared with.
    pub principals: Vec<String>,
}

/// Why the configuration describes no gateway to make.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GatewayError {
    #[error("no environment sets `[transit_gateway]`")]
    NotConfigured,
    #[error("the environments are in {0}, and one Transit Gateway serves one region")]
    Regions(String),
}

/// The gateway the environments of `config` attach to.
pub fn gateway(config: &paystack_config::Config) -> Result<Gateway, GatewayError> {
    let envs: Vec<&paystack_config::Environment> =
        config.environments.values().filter(|e| e.transit_gateway.is_some()).collect();
    let (Some(first), Some(tgw)) = (envs.first(), envs.first().and_then(|e| e.transit_gateway.as_ref())) else {
        return Err(GatewayError::NotConfigured);
    };
    let regions: std::collections::BTreeSet<&str> = envs.iter().map(|e| e.region.as_str()).collect();
    if regions.len() > 1 {
        return Err(GatewayError::Regions(regions.into_iter().collect::<Vec<_>>().join(", ")));
    }
    let owner = tgw.owner.as_ref().map(|a| a.id.as_str());
    let mut principals: Vec<String> = envs
        .iter()
        .filter_map(|e| e.account.as_ref().map(|a| a.id.clone()))
        .filter(|id| Some(id.as_str()) != owner)
        .collect();
    principals.sort();
    principals.dedup();
    let name = format!("{}-{}-tgw", first.project, first.region);
    let mut tags: Vec<(String, String)> = crate::required_tags(first)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), if k == "Environment" { "shared".to_owned() } else { v }))
        .collect();
    tags.push(("Name".to_owned(), name.clone()));
    tags.push((GATEWAY_TAG.to_owned(), first.project.clone()));
    Ok(Gateway {
        owner: tgw.owner.clone(),
        region: first.region.clone(),
        share_name: format!("{}-transit-gateway", first.project),
        name,
        tags,
        principals,
    })
}
