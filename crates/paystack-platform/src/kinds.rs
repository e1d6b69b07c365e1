//! The resource kinds and their contracts. Each kind's fields are what its spec sets and
//! what its reconciler reports back, under the same names and in the same shape.

use paystack_core::{Kind, KindSchema};

/// A kind's fixed facts; [`KindDef::schema`] adds the expected durations.
#[derive(Debug)]
pub struct KindDef {
    pub name: &'static str,
    pub service: &'static str,
    latency_key: &'static str,
    pub replace_on: &'static [&'static str],
    pub unordered: &'static [&'static str],
}

impl KindDef {
    pub fn kind(&self) -> Kind {
        Kind::new(self.name)
    }

    pub fn schema(&self) -> KindSchema {
        KindSchema {
            kind: self.kind(),
            service: self.service,
            replace_on: self.replace_on,
            unordered: self.unordered,
            expected: crate::latency::expected(self.latency_key),
        }
    }
}

/// Fields: `cidr_block`, `enable_dns_hostnames`, `enable_dns_support`, `tags`.
pub const VPC: KindDef =
    KindDef { name: "ec2.vpc", service: "ec2", latency_key: "vpc", replace_on: &["cidr_block"], unordered: &[] };

/// Fields: `vpc_id`, `cidr_block`, `availability_zone`, `map_public_ip_on_launch`, `tags`.
pub const SUBNET: KindDef = KindDef {
    name: "ec2.subnet",
    service: "ec2",
    latency_key: "subnet",
    replace_on: &["vpc_id", "cidr_block", "availability_zone"],
    unordered: &[],
};

/// Fields: `vpc_id` (the attachment), `tags`.
pub const INTERNET_GATEWAY: KindDef = KindDef {
    name: "ec2.internet_gateway",
    service: "ec2",
    latency_key: "internet_gateway",
    replace_on: &[],
    unordered: &[],
};

/// An Elastic IP in the VPC domain. Fields: `tags`. Outputs: `id` (the allocation id),
/// `public_ip`.
pub const ELASTIC_IP: KindDef =
    KindDef { name: "ec2.eip", service: "ec2", latency_key: "eip", replace_on: &[], unordered: &[] };

/// Fields: `subnet_id`, `allocation_id`, `tags`.
pub const NAT_GATEWAY: KindDef = KindDef {
    name: "ec2.nat_gateway",
    service: "ec2",
    latency_key: "nat_gateway",
    replace_on: &["subnet_id", "allocation_id"],
    unordered: &[],
};

/// Fields: `vpc_id`, `routes` (a list of `{destination_cidr_block, gateway_id}` or
/// `{destination_cidr_block, nat_gateway_id}`), `subnet_ids` (the associations), `tags`.
pub const ROUTE_TABLE: KindDef = KindDef {
    name: "ec2.route_table",
    service: "ec2",
    latency_key: "route_table",
    replace_on: &["vpc_id"],
    unordered: &["routes", "subnet_ids"],
};

/// Fields: `vpc_id`, `group_name`, `description`, `ingress` (a list of `{protocol,
/// from_port, to_port, description}` plus `cidr_ipv4` or `source_security_group_id`),
/// `tags`. Egress keeps the AWS default.
pub const SECURITY_GROUP: KindDef = KindDef {
    name: "ec2.security_group",
    service: "ec2",
    latency_key: "security_group",
    replace_on: &["vpc_id", "group_name", "description"],
    unordered: &["ingress"],
};

/// A gateway endpoint. Fields: `vpc_id`, `service_name`, `route_table_ids`, `tags`.
pub const VPC_ENDPOINT: KindDef = KindDef {
    name: "ec2.vpc_endpoint",
    service: "ec2",
    latency_key: "vpc_endpoint",
    replace_on: &["vpc_id", "service_name"],
    unordered: &["route_table_ids"],
};

pub const ALL: &[&KindDef] =
    &[&VPC, &SUBNET, &INTERNET_GATEWAY, &ELASTIC_IP, &NAT_GATEWAY, &ROUTE_TABLE, &SECURITY_GROUP, &VPC_ENDPOINT];
