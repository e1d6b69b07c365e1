//! The resource kinds and their contracts. Each kind's fields are what its spec sets and
//! what its reconciler reports back, under the same names and in the same shape.

use paystack_core::{Kind, KindSchema, ReplaceOrder};

/// A kind's fixed facts; [`KindDef::schema`] adds the expected durations.
#[derive(Debug)]
pub struct KindDef {
    pub name: &'static str,
    pub service: &'static str,
    latency_key: &'static str,
    pub replace_on: &'static [&'static str],
    pub unordered: &'static [&'static str],
    pub replace_order: ReplaceOrder,
}

impl KindDef {
    const fn ec2(name: &'static str, latency_key: &'static str) -> Self {
        Self {
            name,
            service: "ec2",
            latency_key,
            replace_on: &[],
            unordered: &[],
            replace_order: ReplaceOrder::CreateBeforeDelete,
        }
    }

    /// Fields AWS cannot change in place.
    const fn replace_on(mut self, fields: &'static [&'static str]) -> Self {
        self.replace_on = fields;
        self
    }

    /// List fields compared as sets.
    const fn unordered(mut self, fields: &'static [&'static str]) -> Self {
        self.unordered = fields;
        self
    }

    const fn delete_before_create(mut self) -> Self {
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
            replace_order: self.replace_order,
            expected: crate::latency::expected(self.latency_key),
        }
    }
}

/// Fields: `cidr_block`, `enable_dns_hostnames`, `enable_dns_support`, `tags`.
pub const VPC: KindDef = KindDef::ec2("ec2.vpc", "vpc").replace_on(&["cidr_block"]);

/// Fields: `vpc_id`, `cidr_block`, `availability_zone`, `map_public_ip_on_launch`, `tags`.
pub const SUBNET: KindDef =
    KindDef::ec2("ec2.subnet", "subnet").replace_on(&["vpc_id", "cidr_block", "availability_zone"]);

/// Fields: `vpc_id` (the attachment, moved in place), `tags`.
pub const INTERNET_GATEWAY: KindDef = KindDef::ec2("ec2.internet_gateway", "internet_gateway");

/// An Elastic IP in the VPC domain. Fields: `tags`. Outputs: `id` (the allocation id),
/// `public_ip`.
pub const ELASTIC_IP: KindDef = KindDef::ec2("ec2.eip", "eip");

/// Fields: `subnet_id`, `allocation_id`, `tags`. Replaced old-first: its Elastic IP can
/// belong to one gateway at a time, and AWS lets routes outlive the gateway they point at.
pub const NAT_GATEWAY: KindDef =
    KindDef::ec2("ec2.nat_gateway", "nat_gateway").replace_on(&["subnet_id", "allocation_id"]).delete_before_create();

/// Fields: `vpc_id`, `routes` (a list of `{destination_cidr_block, gateway_id}` or
/// `{destination_cidr_block, nat_gateway_id}`), `subnet_ids` (the associations), `tags`.
pub const ROUTE_TABLE: KindDef =
    KindDef::ec2("ec2.route_table", "route_table").replace_on(&["vpc_id"]).unordered(&["routes", "subnet_ids"]);

/// Fields: `vpc_id`, `group_name`, `description`, `ingress` (a list of `{protocol,
/// from_port, to_port, description}` plus `cidr_ipv4` or `source_security_group_id`),
/// `tags`. Egress keeps the AWS default.
pub const SECURITY_GROUP: KindDef = KindDef::ec2("ec2.security_group", "security_group")
    .replace_on(&["vpc_id", "group_name", "description"])
    .unordered(&["ingress"]);

/// A gateway endpoint. Fields: `vpc_id`, `service_name`, `route_table_ids`, `tags`.
pub const VPC_ENDPOINT: KindDef = KindDef::ec2("ec2.vpc_endpoint", "vpc_endpoint")
    .replace_on(&["vpc_id", "service_name"])
    .unordered(&["route_table_ids"]);
