//! The network layer's kinds: EC2 VPCs, subnets, gateways, routes, network ACLs, security
//! groups and the S3 gateway endpoint.

use paystack_core::Input;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{KindDef, KindSpec, Tags, TransitSide, fields, outputs};

/// The kinds of this layer.
pub(super) const KINDS: &[&KindDef] = &[
    &VPC,
    &SUBNET,
    &INTERNET_GATEWAY,
    &ELASTIC_IP,
    &NAT_GATEWAY,
    &ROUTE_TABLE,
    &FLOW_LOG,
    &DEFAULT_SECURITY_GROUP,
    &DEFAULT_NETWORK_ACL,
    &NETWORK_ACL,
    &SECURITY_GROUP,
    &SECURITY_GROUP_RULE,
    &VPC_ENDPOINT,
    &TRANSIT_GATEWAY_ATTACHMENT,
    &TRANSIT_GATEWAY_ROUTE_TABLE,
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vpc {
    pub cidr_block: String,
    pub enable_dns_hostnames: bool,
    pub enable_dns_support: bool,
    pub tags: Tags,
}
pub const VPC: KindDef = KindDef::ec2("ec2.vpc", "vpc").replace_on(fields!(Vpc: cidr_block));
impl KindSpec for Vpc {
    const DEF: &'static KindDef = &VPC;
}
outputs!(Vpc { id: String, cidr_block: String });

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    pub vpc_id: Input<String>,
    pub cidr_block: String,
    pub availability_zone: String,
    pub map_public_ip_on_launch: bool,
    pub tags: Tags,
}
pub const SUBNET: KindDef =
    KindDef::ec2("ec2.subnet", "subnet").replace_on(fields!(Subnet: vpc_id, cidr_block, availability_zone));
impl KindSpec for Subnet {
    const DEF: &'static KindDef = &SUBNET;
}
outputs!(Subnet { id: String });

/// `vpc_id` is the attachment, moved in place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InternetGateway {
    pub vpc_id: Input<String>,
    pub tags: Tags,
}
pub const INTERNET_GATEWAY: KindDef = KindDef::ec2("ec2.internet_gateway", "internet_gateway");
impl KindSpec for InternetGateway {
    const DEF: &'static KindDef = &INTERNET_GATEWAY;
}
outputs!(InternetGateway { id: String });

/// An Elastic IP in the VPC domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ElasticIp {
    pub tags: Tags,
}
pub const ELASTIC_IP: KindDef = KindDef::ec2("ec2.eip", "eip");
impl KindSpec for ElasticIp {
    const DEF: &'static KindDef = &ELASTIC_IP;
}
outputs!(ElasticIp {
    /// The allocation id.
    id: String,
    public_ip: String,
});

/// Replaced old-first: its Elastic IP can belong to one gateway at a time, and AWS lets
/// routes outlive the gateway they point at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NatGateway {
    pub subnet_id: Input<String>,
    pub allocation_id: Input<String>,
    pub tags: Tags,
}
pub const NAT_GATEWAY: KindDef = KindDef::ec2("ec2.nat_gateway", "nat_gateway")
    .replace_on(fields!(NatGateway: subnet_id, allocation_id))
    .delete_before_create();
impl KindSpec for NatGateway {
    const DEF: &'static KindDef = &NAT_GATEWAY;
}
outputs!(NatGateway { id: String });

/// A route to the internet gateway, a NAT gateway or the Transit Gateway.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub destination_cidr_block: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_id: Option<Input<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway_id: Option<Input<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_gateway_id: Option<Input<String>>,
}

/// `subnet_ids` are the associations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteTable {
    pub vpc_id: Input<String>,
    pub routes: Vec<Route>,
    pub subnet_ids: Vec<Input<String>>,
    pub tags: Tags,
}
pub const ROUTE_TABLE: KindDef = KindDef::ec2("ec2.route_table", "route_table")
    .replace_on(fields!(RouteTable: vpc_id))
    .unordered(fields!(RouteTable: routes, subnet_ids));
impl KindSpec for RouteTable {
    const DEF: &'static KindDef = &ROUTE_TABLE;
}
outputs!(RouteTable { id: String });

/// One numbered rule of a network ACL. `protocol` is the IP protocol number as AWS reports
/// it (`"6"` for TCP); ports are inclusive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AclEntry {
    pub rule_number: i32,
    pub egress: bool,
    pub protocol: String,
    pub rule_action: String,
    pub cidr_block: Input<String>,
    pub from_port: i32,
    pub to_port: i32,
}

/// A network ACL of one subnet tier. `subnet_ids` are its associations: a subnet it lets go
/// returns to the VPC's default ACL. AWS's own last rule (32767, deny everything) is on
/// every ACL and is not an entry here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkAcl {
    pub vpc_id: Input<String>,
    pub entries: Vec<AclEntry>,
    pub subnet_ids: Vec<Input<String>>,
    pub tags: Tags,
}
pub const NETWORK_ACL: KindDef = KindDef::ec2("ec2.network_acl", "network_acl")
    .replace_on(fields!(NetworkAcl: vpc_id))
    .unordered(fields!(NetworkAcl: entries, subnet_ids));
impl KindSpec for NetworkAcl {
    const DEF: &'static KindDef = &NETWORK_ACL;
}
outputs!(NetworkAcl { id: String });

/// A rule of a security group to or from a CIDR block, or (ingress only) from another
/// group. `description` says why the rule exists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupRuleSpec {
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_ipv4: Option<String>,
    /// paystack sets none; AWS reports one added by hand, which is then drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_ipv6: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_security_group_id: Option<Input<String>>,
    pub description: String,
}

/// A security group with its ingress and its egress to CIDR blocks. AWS's default egress
/// (everything, anywhere) is revoked at creation: `egress` is all the group may send,
/// besides the [`SecurityGroupRule`]s that name it. Egress to another group is a rule
/// resource of its own, because a group's egress to a group whose ingress names it back would
/// make the two groups depend on each other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub vpc_id: Input<String>,
    pub group_name: String,
    pub description: String,
    pub ingress: Vec<SecurityGroupRuleSpec>,
    pub egress: Vec<SecurityGroupRuleSpec>,
    pub tags: Tags,
}
pub const SECURITY_GROUP: KindDef = KindDef::ec2("ec2.security_group", "security_group")
    .replace_on(fields!(SecurityGroup: vpc_id, group_name, description))
    .unordered(fields!(SecurityGroup: ingress, egress));
impl KindSpec for SecurityGroup {
    const DEF: &'static KindDef = &SECURITY_GROUP;
}
outputs!(SecurityGroup { id: String });

/// One egress rule from a security group to another group, with tags of its own (AWS gives
/// security group rules an id and tags). Every field but the tags forces a new rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    pub security_group_id: Input<String>,
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub destination_security_group_id: Input<String>,
    pub description: String,
    pub tags: Tags,
}
pub const SECURITY_GROUP_RULE: KindDef = KindDef::ec2("ec2.security_group_rule", "security_group_rule").replace_on(
    fields!(SecurityGroupRule: security_group_id, protocol, from_port, to_port, destination_security_group_id, description),
);
impl KindSpec for SecurityGroupRule {
    const DEF: &'static KindDef = &SECURITY_GROUP_RULE;
}
outputs!(SecurityGroupRule { id: String });

/// A gateway endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VpcEndpoint {
    pub vpc_id: Input<String>,
    pub service_name: String,
    pub route_table_ids: Vec<Input<String>>,
    /// What may pass through it, in place of AWS's default that allows everything.
    pub policy: Value,
    pub tags: Tags,
}
pub const VPC_ENDPOINT: KindDef = KindDef::ec2("ec2.vpc_endpoint", "vpc_endpoint")
    .replace_on(fields!(VpcEndpoint: vpc_id, service_name))
    .unordered(fields!(VpcEndpoint: route_table_ids));
impl KindSpec for VpcEndpoint {
    const DEF: &'static KindDef = &VPC_ENDPOINT;
}
outputs!(VpcEndpoint { id: String });

/// The environment's VPC attachment to the Transit Gateway, on its private subnets (one per
/// zone, as AWS requires). The subnets change in place; another gateway or VPC is a new
/// attachment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransitGatewayAttachment {
    pub transit_gateway_id: String,
    pub vpc_id: Input<String>,
    pub subnet_ids: Vec<Input<String>>,
    pub tags: Tags,
}
pub const TRANSIT_GATEWAY_ATTACHMENT: KindDef =
    KindDef::ec2("ec2.transit_gateway_attachment", "transit_gateway_attachment")
        .replace_on(fields!(TransitGatewayAttachment: transit_gateway_id, vpc_id))
        .unordered(fields!(TransitGatewayAttachment: subnet_ids))
        .transit(TransitSide::Environment);
impl KindSpec for TransitGatewayAttachment {
    const DEF: &'static KindDef = &TRANSIT_GATEWAY_ATTACHMENT;
}
outputs!(TransitGatewayAttachment {
    id: String,
    /// The gateway, once the attachment exists: what a VPC route to the gateway waits for.
    transit_gateway_id: String,
});

/// A static route of a Transit Gateway route table: a destination and the attachment it
/// leaves by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransitGatewayRoute {
    pub destination_cidr_block: String,
    pub transit_gateway_attachment_id: String,
}

/// An environment's own route table on the Transit Gateway, in the account that owns the
/// gateway. It is associated with that environment's attachment alone (`association`), and
/// `routes` are its only routes: nothing propagates into it, so the environment reaches
/// exactly those destinations and never another environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransitGatewayRouteTable {
    pub transit_gateway_id: String,
    pub association: Input<String>,
    pub routes: Vec<TransitGatewayRoute>,
    pub tags: Tags,
}
pub const TRANSIT_GATEWAY_ROUTE_TABLE: KindDef =
    KindDef::ec2("ec2.transit_gateway_route_table", "transit_gateway_route_table")
        .replace_on(fields!(TransitGatewayRouteTable: transit_gateway_id))
        .unordered(fields!(TransitGatewayRouteTable: routes))
        .transit(TransitSide::Owner);
impl KindSpec for TransitGatewayRouteTable {
    const DEF: &'static KindDef = &TRANSIT_GATEWAY_ROUTE_TABLE;
}
outputs!(TransitGatewayRouteTable { id: String });

/// A VPC flow log: every packet the VPC accepts or rejects (`ALL`), delivered to a
/// CloudWatch Logs group by a role. AWS cannot change a flow log: any change is a new one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowLog {
    pub vpc_id: Input<String>,
    pub traffic_type: String,
    pub log_group_name: Input<String>,
    pub deliver_logs_role_arn: Input<String>,
    /// Seconds over which packets are aggregated into one record: 60 or 600.
    pub max_aggregation_interval: i32,
    pub tags: Tags,
}
pub const FLOW_LOG: KindDef = KindDef::ec2("ec2.flow_log", "flow_log").replace_on(fields!(FlowLog:
    vpc_id,
    traffic_type,
    log_group_name,
    deliver_logs_role_arn,
    max_aggregation_interval,
));
impl KindSpec for FlowLog {
    const DEF: &'static KindDef = &FLOW_LOG;
}
outputs!(FlowLog { id: String });

/// The VPC's default security group, which AWS makes and deletes with the VPC: adopted,
/// tagged and emptied, so that nothing put in it by mistake can send or receive. Its rules
/// are read in the shape of a security group's; the spec wants none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefaultSecurityGroup {
    pub vpc_id: Input<String>,
    pub ingress: Vec<Value>,
    pub egress: Vec<Value>,
    pub tags: Tags,
}
pub const DEFAULT_SECURITY_GROUP: KindDef = KindDef::ec2("ec2.default_security_group", "default_security_group")
    .replace_on(fields!(DefaultSecurityGroup: vpc_id))
    .unordered(fields!(DefaultSecurityGroup: ingress, egress));
impl KindSpec for DefaultSecurityGroup {
    const DEF: &'static KindDef = &DEFAULT_SECURITY_GROUP;
}
outputs!(DefaultSecurityGroup { id: String });

/// The VPC's default network ACL, made and deleted with the VPC: adopted, tagged, and left
/// with AWS's deny-all rules alone. No subnet uses it: each has its tier's ACL. Its entries
/// are read as `{ingress|egress} {rule number}`; the spec wants none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefaultNetworkAcl {
    pub vpc_id: Input<String>,
    pub entries: Vec<String>,
    pub tags: Tags,
}
pub const DEFAULT_NETWORK_ACL: KindDef = KindDef::ec2("ec2.default_network_acl", "default_network_acl")
    .replace_on(fields!(DefaultNetworkAcl: vpc_id))
    .unordered(fields!(DefaultNetworkAcl: entries));
impl KindSpec for DefaultNetworkAcl {
    const DEF: &'static KindDef = &DEFAULT_NETWORK_ACL;
}
outputs!(DefaultNetworkAcl { id: String });
