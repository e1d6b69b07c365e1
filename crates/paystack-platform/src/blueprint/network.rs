//! The network layer: the VPC, public and private subnets in each zone, the internet
//! gateway, NAT gateways with their Elastic IPs, route tables, a network ACL per subnet
//! tier, and the S3 gateway endpoint.

use paystack_core::Input;
use serde_json::{Value, json};

use super::edge::{HTTP_PORT, HTTPS_PORT};
use super::{BlueprintError, Builder, Lookups};
use crate::kinds::{
    AclEntry, DefaultNetworkAcl, DefaultSecurityGroup, ElasticIp, Handle, InternetGateway, NatGateway, NetworkAcl,
    Route, RouteTable, Subnet, Vpc, VpcEndpoint, each,
};

/// Anywhere on the internet.
const ANYWHERE: &str = "0.0.0.0/0";
/// IANA's protocol number for TCP, as network ACL entries name it.
const TCP: &str = "6";
/// The ports AWS's NAT gateways and load balancers answer from (1024-65535), less RDP's 3389,
/// so that no rule of ours opens it: the return traffic of every connection the platform
/// makes or accepts.
const EPHEMERAL: [(i32, i32); 2] = [(1024, 3388), (3390, 65535)];

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

pub(super) fn network(b: &mut Builder<'_>, lookups: &Lookups) -> Result<Network, BlueprintError> {
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
        for (tier, cidr, list) in [("public", public, &mut public_subnets), ("private", private, &mut private_subnets)]
        {
            let letter = &zone.letter;
            list.push(b.add(
                &format!("network.subnet.{tier}.{letter}"),
                ("network", &format!("{tier}-{letter}")),
                |n| Subnet {
                    vpc_id: vpc.id(),
                    cidr_block: cidr,
                    availability_zone: zone.name.clone(),
                    // Not even the public tier hands out addresses: the NAT gateways use
                    // their Elastic IPs, and the load balancer manages its own.
                    map_public_ip_on_launch: false,
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
    let transit = super::transit::transit(b, &vpc, &private_subnets, lookups)?;

    let public_rt = b.add("network.rt.public", ("network", "public-rt"), |n| RouteTable {
        vpc_id: vpc.id(),
        routes: vec![Route { destination_cidr_block: ANYWHERE.into(), gateway_id: Some(igw.id()), ..Route::default() }],
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
            |n| {
                RouteTable {
                    vpc_id: vpc.id(),
                    routes: [Route {
                        destination_cidr_block: ANYWHERE.into(),
                        nat_gateway_id: Some(nat.id()),
                        ..Route::default()
                    }]
                    .into_iter()
                    .chain(transit.as_ref().map(|t| Route {
                        destination_cidr_block: t.shared_services_cidr.clone(),
                        transit_gateway_id: Some(t.attachment.transit_gateway_id()),
                        ..Route::default()
                    }))
                    .collect(),
                    subnet_ids: vec![subnet.id()],
                    tags: n.tags,
                }
            },
        )?);
    }

    let policy = endpoint_policy(env, &super::storage::artifacts_name(b, &super::storage::account_of(env, lookups)));
    let s3_endpoint = b.add("network.endpoint.s3", ("network", "s3-endpoint"), |n| VpcEndpoint {
        vpc_id: vpc.id(),
        service_name: format!("com.amazonaws.{}.s3", env.region),
        route_table_ids: each(&route_tables, |h| h.id()),
        policy,
        tags: n.tags,
    })?;

    network_acls(b, &vpc, &public_subnets, &private_subnets)?;
    // What AWS makes with every VPC and nothing here uses: emptied, so that nothing can.
    b.add("network.default_sg", ("network", "default-sg"), |n| DefaultSecurityGroup {
        vpc_id: vpc.id(),
        ingress: Vec::new(),
        egress: Vec::new(),
        tags: n.tags,
    })?;
    b.add("network.default_acl", ("network", "default-acl"), |n| DefaultNetworkAcl {
        vpc_id: vpc.id(),
        entries: Vec::new(),
        tags: n.tags,
    })?;

    Ok(Network { zones, vpc, public_subnets, private_subnets, nat_gateways, s3_endpoint })
}

/// What may reach S3 through the gateway endpoint: the environment's artifacts bucket and
/// its state bucket, and the region's ECR layer bucket, which image pulls read. Nothing the
/// workloads hold can be sent to any other bucket.
fn endpoint_policy(env: &paystack_config::Environment, artifacts: &str) -> Value {
    let buckets = std::iter::once(artifacts.to_owned()).chain(env.state_bucket());
    let arns: Vec<String> =
        buckets.flat_map(|b| [format!("arn:aws:s3:::{b}"), format!("arn:aws:s3:::{b}/*")]).collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnvironmentBuckets",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ENDPOINT_BUCKET_ACTIONS,
                "Resource": arns,
            },
            {
                "Sid": "ImageLayers",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [format!("arn:aws:s3:::prod-{}-starport-layer-bucket/*", env.region)],
            },
        ],
    })
}

/// What the workloads and paystack's own state do to the environment's buckets.
const ENDPOINT_BUCKET_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetBucketLocation",
];

/// A network ACL per subnet tier, letting through exactly the platform's own traffic, both
/// ways (ACLs keep no connection state, so every flow needs its return rule):
/// - internet → load balancer on its listener ports, and the replies;
/// - load balancer → application port in the private tier, and the replies;
/// - application → database port inside the private tier, and the replies;
/// - application → HTTPS anywhere through the NAT gateway (AWS's APIs, image pulls), and the
///   replies.
///
/// No rule allows every protocol, and no rule opens SSH (22) or RDP (3389).
fn network_acls(
    b: &mut Builder<'_>,
    vpc: &Handle<Vpc>,
    public_subnets: &[Handle<Subnet>],
    private_subnets: &[Handle<Subnet>],
) -> Result<(), BlueprintError> {
    let sec = &b.env.security;
    let inside = || vpc.cidr_block();
    let anywhere = || Input::from(ANYWHERE);

    // The load balancer's listeners, whatever else its security group admits: a port no
    // listener answers on has nothing to reach.
    let mut public = Vec::new();
    for (i, port) in (0..).zip([HTTP_PORT, HTTPS_PORT]) {
        public.push(allow(100 + 10 * i, Inbound, anywhere(), (i32::from(port), i32::from(port))));
    }
    // The NAT gateway forwards the private tier's HTTPS to the internet.
    public.push(allow(200, Inbound, inside(), (443, 443)));
    public.push(allow(200, Outbound, anywhere(), (443, 443)));
    let app_port = i32::from(sec.app_port);
    public.push(allow(210, Outbound, inside(), (app_port, app_port)));
    public.extend(ephemeral(300, Inbound, anywhere()));
    public.extend(ephemeral(300, Outbound, anywhere()));

    let db_port = i32::from(sec.db_port);
    let mut private = vec![
        allow(100, Inbound, inside(), (app_port, app_port)),
        allow(110, Inbound, inside(), (db_port, db_port)),
        allow(100, Outbound, anywhere(), (443, 443)),
        allow(110, Outbound, inside(), (db_port, db_port)),
    ];
    private.extend(ephemeral(300, Inbound, anywhere()));
    private.extend(ephemeral(300, Outbound, inside()));

    for (tier, entries, subnets) in [("public", public, public_subnets), ("private", private, private_subnets)] {
        b.add(&format!("network.acl.{tier}"), ("network", &format!("{tier}-acl")), |n| NetworkAcl {
            vpc_id: vpc.id(),
            entries,
            subnet_ids: each(subnets, |h| h.id()),
            tags: n.tags,
        })?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Direction {
    Inbound,
    Outbound,
}
use Direction::{Inbound, Outbound};

fn allow(rule_number: i32, direction: Direction, cidr_block: Input<String>, (from, to): (i32, i32)) -> AclEntry {
    AclEntry {
        rule_number,
        egress: matches!(direction, Outbound),
        protocol: TCP.into(),
        rule_action: "allow".into(),
        cidr_block,
        from_port: from,
        to_port: to,
    }
}

/// The return traffic's port ranges, numbered from `first`.
fn ephemeral(first: i32, direction: Direction, cidr_block: Input<String>) -> Vec<AclEntry> {
    (0..).zip(EPHEMERAL).map(|(i, range)| allow(first + 10 * i, direction, cidr_block.clone(), range)).collect()
}
