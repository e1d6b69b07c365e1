//! The Transit Gateway's owner side. `paystack bootstrap --transit-gateway` makes the gateway
//! and its AWS RAM share once ([`bootstrap_gateway`]); every environment's plan looks the
//! gateway up ([`look_up_gateway`]), with the attachment of the shared-services VPC its
//! route to shared services leaves by.

use std::time::Duration;

use aws_sdk_ec2 as ec2;
use aws_sdk_ram as ram;
use aws_smithy_runtime::client::waiters::AcceptorState;
use ec2::operation::describe_transit_gateways::{DescribeTransitGatewaysError, DescribeTransitGatewaysOutput};
use ec2::types::{
    AutoAcceptSharedAttachmentsValue, DefaultRouteTableAssociationValue, DefaultRouteTablePropagationValue, Filter,
    ModifyTransitGatewayOptions, ResourceType, Tag, TagSpecification, TransitGateway, TransitGatewayAttachmentState,
    TransitGatewayRequestOptions, TransitGatewayState,
};
use paystack_config::Ipv4Cidr;
use paystack_engine::ReconcileError;
use paystack_platform::{GATEWAY_TAG, Gateway, TransitLookup};
use ram::operation::get_resource_share_associations::GetResourceShareAssociationsOutput;
use ram::types::{ResourceOwner, ResourceShareAssociationType, ResourceShareStatus};

use crate::clients::Clients;
use crate::error::{all, classify, missing, waited};
use crate::state::{InitStep, Outcome};
use crate::wait::{Cadence, Wait, all_or_any};

/// How long a new gateway may take to become available: 2-5 minutes typically, 10 on a slow
/// day.
const GATEWAY_WAIT: Duration = Duration::from_secs(20 * 60);

/// Why the environment cannot reach the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayLookupError {
    #[error("there is no Transit Gateway of project `{project}` in {region}")]
    NoGateway { project: String, region: String },
    #[error("{count} Transit Gateways of project `{project}` are in {region}")]
    Ambiguous { project: String, region: String, count: usize },
    #[error("no VPC attached to Transit Gateway {gateway} holds the shared services range {cidr}")]
    NoSharedServices { gateway: String, cidr: Ipv4Cidr },
    #[error(transparent)]
    Failed(#[from] ReconcileError),
}

fn live(g: &TransitGateway) -> bool {
    !matches!(g.state(), Some(TransitGatewayState::Deleting | TransitGatewayState::Deleted))
}

/// The project's gateways that are not going away.
async fn gateways(client: &ec2::Client, project: &str) -> Result<Vec<TransitGateway>, ReconcileError> {
    let filter = Filter::builder().name(format!("tag:{GATEWAY_TAG}")).values(project).build();
    let listed = client.describe_transit_gateways().filters(filter).into_paginator().items().send();
    Ok(all("DescribeTransitGateways", listed).await?.into_iter().filter(live).collect())
}

/// The gateway of `project`, and the attachment whose VPC holds `shared_services`: one VPC of
/// the gateway's own account, attached and available.
pub async fn look_up_gateway(
    clients: &Clients,
    project: &str,
    region: &str,
    shared_services: Ipv4Cidr,
) -> Result<TransitLookup, GatewayLookupError> {
    let client = &clients.ec2;
    let found = gateways(client, project).await?;
    let gateway = match found.as_slice() {
        [one] => one,
        [] => return Err(GatewayLookupError::NoGateway { project: project.to_owned(), region: region.to_owned() }),
        many => {
            return Err(GatewayLookupError::Ambiguous {
                project: project.to_owned(),
                region: region.to_owned(),
                count: many.len(),
            });
        }
    };
    let id = gateway.transit_gateway_id().ok_or_else(|| missing("Transit Gateway id"))?;
    let by_gateway = Filter::builder().name("transit-gateway-id").values(id).build();
    let listed = client.describe_transit_gateway_vpc_attachments().filters(by_gateway).into_paginator().items().send();
    let attachments = all("DescribeTransitGatewayVpcAttachments", listed).await?;
    // The owner's own VPCs: the environments' VPCs are in their own accounts, and a
    // Describe of another account's VPC fails.
    let owned: Vec<_> = attachments
        .iter()
        .filter(|a| a.state() == Some(&TransitGatewayAttachmentState::Available))
        .filter(|a| a.vpc_owner_id().is_some() && a.vpc_owner_id() == gateway.owner_id())
        .filter_map(|a| Some((a.transit_gateway_attachment_id()?, a.vpc_id()?)))
        .collect();
    let vpc_ids: Vec<String> = owned.iter().map(|(_, vpc)| (*vpc).to_owned()).collect();
    let vpcs = if vpc_ids.is_empty() {
        Vec::new()
    } else {
        let listed = client.describe_vpcs().set_vpc_ids(Some(vpc_ids)).into_paginator().items().send();
        all("DescribeVpcs", listed).await?
    };
    let holds = |vpc_id: &str| {
        vpcs.iter().filter(|v| v.vpc_id() == Some(vpc_id)).any(|v| {
            v.cidr_block_association_set()
                .iter()
                .filter_map(|b| b.cidr_block()?.parse::<Ipv4Cidr>().ok())
                .any(|block| block.overlaps(shared_services))
        })
    };
    let shared = owned.iter().find(|(_, vpc)| holds(vpc)).map(|(attachment, _)| (*attachment).to_owned());
    let shared_services_attachment_id =
        shared.ok_or_else(|| GatewayLookupError::NoSharedServices { gateway: id.to_owned(), cidr: shared_services })?;
    Ok(TransitLookup { id: id.to_owned(), shared_services_attachment_id })
}

/// What the gateway's options must be: no default association or propagation (each
/// environment's attachment is associated with its own table, and nothing propagates), and
/// the environments' attachments accepted on their own, since nothing routes to or from one
/// until the owner's side associates it.
fn options_hold(g: &TransitGateway) -> bool {
    g.options().is_some_and(|o| {
        o.default_route_table_association() == Some(&DefaultRouteTableAssociationValue::Disable)
            && o.default_route_table_propagation() == Some(&DefaultRouteTablePropagationValue::Disable)
            && o.auto_accept_shared_attachments() == Some(&AutoAcceptSharedAttachmentsValue::Enable)
    })
}

/// Every gateway `available`; one going away fails.
fn available(answer: Result<&DescribeTransitGatewaysOutput, &DescribeTransitGatewaysError>) -> AcceptorState {
    match answer {
        Ok(out) => all_or_any(
            out.transit_gateways().iter().map(|g| g.state().map_or("", TransitGatewayState::as_str)),
            "available",
            &["deleting", "deleted"],
        ),
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

/// Makes or brings up to date the gateway of `g`, then its share, through clients acting in
/// the owner's account; says what each step did.
pub async fn bootstrap_gateway(clients: &Clients, g: &Gateway) -> Result<(String, Vec<InitStep>), ReconcileError> {
    let (client, ram) = (&clients.ec2, &clients.ram);
    let wait = Wait::new(GATEWAY_WAIT, clients.wait_clock);
    let project = g.tags.iter().find(|(k, _)| k == GATEWAY_TAG).map_or("", |(_, v)| v.as_str());
    let (gateway, step) = ensure_gateway(client, g, project, wait).await?;
    let id = gateway.transit_gateway_id().ok_or_else(|| missing("Transit Gateway id"))?.to_owned();
    let mut steps = vec![step];
    if !g.principals.is_empty() {
        let arn = gateway.transit_gateway_arn().ok_or_else(|| missing("Transit Gateway ARN"))?;
        steps.push(ensure_share(ram, g, arn).await?);
    }
    Ok((id, steps))
}

async fn ensure_gateway(
    client: &ec2::Client,
    g: &Gateway,
    project: &str,
    wait: Wait,
) -> Result<(TransitGateway, InitStep), ReconcileError> {
    let what = format!("Transit Gateway {} in {}", g.name, g.region);
    let found = gateways(client, project).await?;
    if let [gateway] = found.as_slice() {
        if options_hold(gateway) {
            return Ok((gateway.clone(), InitStep { what, outcome: Outcome::Unchanged }));
        }
        let id = gateway.transit_gateway_id().ok_or_else(|| missing("Transit Gateway id"))?;
        let options = ModifyTransitGatewayOptions::builder()
            .default_route_table_association(DefaultRouteTableAssociationValue::Disable)
            .default_route_table_propagation(DefaultRouteTablePropagationValue::Disable)
            .auto_accept_shared_attachments(AutoAcceptSharedAttachmentsValue::Enable)
            .build();
        let out = client
            .modify_transit_gateway()
            .transit_gateway_id(id)
            .options(options)
            .send()
            .await
            .map_err(|e| classify("ModifyTransitGateway", e))?;
        let gateway = out.transit_gateway().cloned().ok_or_else(|| missing("Transit Gateway"))?;
        return Ok((gateway, InitStep { what, outcome: Outcome::Changed }));
    }
    if found.len() > 1 {
        return Err(ReconcileError::permanent(format!(
            "{} Transit Gateways carry `{GATEWAY_TAG} = {project}`; delete the ones not in use, then run again",
            found.len()
        )));
    }
    let tags = g.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
    let options = TransitGatewayRequestOptions::builder()
        .default_route_table_association(DefaultRouteTableAssociationValue::Disable)
        .default_route_table_propagation(DefaultRouteTablePropagationValue::Disable)
        .auto_accept_shared_attachments(AutoAcceptSharedAttachmentsValue::Enable)
        .build();
    let out = client
        .create_transit_gateway()
        .description(format!("paystack: the {project} environments' way to shared services"))
        .options(options)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::TransitGateway)
                .set_tags(Some(tags.collect()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| classify("CreateTransitGateway", e))?;
    let id = out.transit_gateway().and_then(|t| t.transit_gateway_id()).ok_or_else(|| missing("Transit Gateway id"))?;
    let look = || client.describe_transit_gateways().transit_gateway_ids(id).send();
    let ready = wait.until(Cadence::STEADY, look, available).await;
    waited(&format!("waiting for Transit Gateway {id}"), ready, None)?;
    let out = look().await.map_err(|e| classify("DescribeTransitGateways", e))?;
    let gateway = out.transit_gateways().first().cloned().ok_or_else(|| missing("Transit Gateway"))?;
    Ok((gateway, InitStep { what, outcome: Outcome::Created }))
}

/// The share of the gateway with every environment's account: made if missing, with the
/// gateway and accounts it lacks added.
async fn ensure_share(client: &ram::Client, g: &Gateway, arn: &str) -> Result<InitStep, ReconcileError> {
    let what = format!("AWS RAM share {} with {}", g.share_name, g.principals.join(", "));
    let listed = client
        .get_resource_shares()
        .resource_owner(ResourceOwner::SelfValue)
        .name(&g.share_name)
        .into_paginator()
        .send();
    let pages = all("GetResourceShares", listed).await?;
    let shares: Vec<_> = pages.iter().flat_map(|p| p.resource_shares()).collect();
    let active = shares
        .iter()
        .find(|s| s.status() == Some(&ResourceShareStatus::Active) && s.name() == Some(g.share_name.as_str()));
    let Some(share) = active else {
        let tags = g.tags.iter().map(|(k, v)| ram::types::Tag::builder().key(k).value(v).build());
        client
            .create_resource_share()
            .name(&g.share_name)
            .resource_arns(arn)
            .set_principals(Some(g.principals.clone()))
            .allow_external_principals(false)
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(|e| classify("CreateResourceShare", e))?;
        return Ok(InitStep { what, outcome: Outcome::Created });
    };
    let share_arn = share.resource_share_arn().ok_or_else(|| missing("resource share ARN"))?;
    let associated = |kind: ResourceShareAssociationType| {
        client
            .get_resource_share_associations()
            .association_type(kind)
            .resource_share_arns(share_arn)
            .into_paginator()
            .send()
    };
    let principals = all("GetResourceShareAssociations", associated(ResourceShareAssociationType::Principal)).await?;
    let resources = all("GetResourceShareAssociations", associated(ResourceShareAssociationType::Resource)).await?;
    let has = |pages: &[GetResourceShareAssociationsOutput], entity: &str| {
        pages.iter().flat_map(|p| p.resource_share_associations()).any(|a| a.associated_entity() == Some(entity))
    };
    let missing_principals: Vec<String> = g.principals.iter().filter(|p| !has(&principals, p)).cloned().collect();
    let missing_resource = !has(&resources, arn);
    if missing_principals.is_empty() && !missing_resource {
        return Ok(InitStep { what, outcome: Outcome::Unchanged });
    }
    client
        .associate_resource_share()
        .resource_share_arn(share_arn)
        .set_principals((!missing_principals.is_empty()).then_some(missing_principals))
        .set_resource_arns(missing_resource.then(|| vec![arn.to_owned()]))
        .send()
        .await
        .map_err(|e| classify("AssociateResourceShare", e))?;
    Ok(InitStep { what, outcome: Outcome::Changed })
}
