//! The network layer: the VPC, public and private subnets in each zone, the internet
//! gateway, NAT gateways with their Elastic IPs, route tables, and the S3 gateway endpoint.

use super::{BlueprintError, Builder};
use crate::kinds::{ElasticIp, Handle, InternetGateway, NatGateway, Route, RouteTable, Subnet, Vpc, VpcEndpoint, each};

/// Anywhere on the internet.
const ANYWHERE: &str = "0.0.0.0/0";
/// One availability zone: its name and the letter that names its resources.
pub(super) struct Zone {
    pub(super) name: String,
    pub(super) letter: String,
}

/// What the other layers build on.
pub(super) struct Network {
    pub(super) zones: Vec<Zone>,
    pub(super) vpc: Handle<Vpc>,
    pub(super) public_subnets: Vec<Handle<Subnet>>,
    pub(super) private_subnets: Vec<Handle<Subnet>>,
    pub(super) nat_gateways: Vec<Handle<NatGateway>>,
    pub(super) s3_endpoint: Handle<VpcEndpoint>,
}

pub(super) fn network(b: &mut Builder<'_>) -> Result<Network, BlueprintError> {
    let env = b.env;
    let zones: Vec<Zone> = env
        .network
        .availability_zones
        .iter()
        .map(|az| Zone { name: az.clone(), letter: az.strip_prefix(env.region.as_str()).unwrap_or(az).to_owned() })
        .collect();
    if zones.is_empty() {
        return Err(BlueprintError::NoZones);
    }

    let vpc = b.add("network.vpc", ("network", "vpc"), |n| Vpc {
        cidr_block: env.network.cidr.to_string(),
        enable_dns_hostnames: true,
        enable_dns_support: true,
        tags: n.tags,
    })?;
    let igw = b.add("network.igw", ("network", "igw"), |n| InternetGateway { vpc_id: vpc.id(), tags: n.tags })?;

    let mut public_subnets = Vec::new();
    let mut private_subnets = Vec::new();
    for (i, zone) in zones.iter().enumerate() {
        // Validation guarantees every block fits the VPC.
        let public = env.network.public_subnet(i).map(|c| c.to_string()).unwrap_or_default();
        let private = env.network.private_subnet(i).map(|c| c.to_string()).unwrap_or_default();
        for (tier, cidr, public_ip, list) in
            [("public", public, true, &mut public_subnets), ("private", private, false, &mut private_subnets)]
        {
            let letter = &zone.letter;
            list.push(b.add(
                &format!("network.subnet.{tier}.{letter}"),
                ("network", &format!("{tier}-{letter}")),
                |n| Subnet {
                    vpc_id: vpc.id(),
                    cidr_block: cidr,
                    availability_zone: zone.name.clone(),
                    map_public_ip_on_launch: public_ip,
                    tags: n.tags,
                },
            )?);
        }
    }

    // NAT gateways go in the first zones' public subnets; each private subnet routes through
    // the NAT of its own zone when there is one, else through the first.
    let mut nat_gateways = Vec::new();
    for (zone, subnet) in zones.iter().zip(&public_subnets).take(env.network.nat_gateways) {
        let letter = &zone.letter;
        let eip = b.add(&format!("network.eip.nat-{letter}"), ("network", &format!("nat-{letter}-eip")), |n| {
            ElasticIp { tags: n.tags }
        })?;
        nat_gateways.push(b.add(&format!("network.nat.{letter}"), ("network", &format!("nat-{letter}")), |n| {
            NatGateway { subnet_id: subnet.id(), allocation_id: eip.id(), tags: n.tags }
        })?);
    }
    let first_nat = nat_gateways.first().ok_or(BlueprintError::NoNatGateway)?.clone();

    let public_rt = b.add("network.rt.public", ("network", "public-rt"), |n| RouteTable {
        vpc_id: vpc.id(),
        routes: vec![Route {
            destination_cidr_block: ANYWHERE.into(),
            gateway_id: Some(igw.id()),
            nat_gateway_id: None,
        }],
        subnet_ids: each(&public_subnets, |h| h.id()),
        tags: n.tags,
    })?;
    let mut route_tables = vec![public_rt];
    for (i, (zone, subnet)) in zones.iter().zip(&private_subnets).enumerate() {
        let letter = &zone.letter;
        let nat = nat_gateways.get(i).unwrap_or(&first_nat);
        route_tables.push(b.add(
            &format!("network.rt.private.{letter}"),
            ("network", &format!("private-{letter}-rt")),
            |n| RouteTable {
                vpc_id: vpc.id(),
                routes: vec![Route {
                    destination_cidr_block: ANYWHERE.into(),
                    gateway_id: None,
                    nat_gateway_id: Some(nat.id()),
                }],
                subnet_ids: vec![subnet.id()],
                tags: n.tags,
            },
        )?);
    }

    let s3_endpoint = b.add("network.endpoint.s3", ("network", "s3-endpoint"), |n| VpcEndpoint {
        vpc_id: vpc.id(),
        service_name: format!("com.amazonaws.{}.s3", env.region),
        route_table_ids: each(&route_tables, |h| h.id()),
        tags: n.tags,
    })?;

    Ok(Network { zones, vpc, public_subnets, private_subnets, nat_gateways, s3_endpoint })
}
