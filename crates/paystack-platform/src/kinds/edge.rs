//! The edge layer's kinds: the load balancer, its target group and listeners, and the
//! service's DNS records.

use std::collections::BTreeMap;

use paystack_core::Input;
use serde::{Deserialize, Serialize};

use super::{KindDef, KindSpec, Tags, fields, outputs};

/// The kinds of this layer.
pub(super) const KINDS: &[&KindDef] = &[&LOAD_BALANCER, &TARGET_GROUP, &LISTENER, &DNS_RECORD, &WEB_ACL];

/// An internet-facing Application Load Balancer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub name: String,
    pub subnet_ids: Vec<Input<String>>,
    pub security_group_ids: Vec<Input<String>>,
    /// The attributes paystack sets ([`MANAGED_ATTRIBUTES`]), key to value; the others keep
    /// AWS's defaults and are never read.
    pub attributes: BTreeMap<String, Input<String>>,
    pub tags: Tags,
}

/// Drops requests whose headers are not valid HTTP, instead of passing them to the service.
pub const DROP_INVALID_HEADER_FIELDS: &str = "routing.http.drop_invalid_header_fields.enabled";
/// How the load balancer treats requests that could desynchronise it from the service
/// (request smuggling); `strictest` drops every one that does not comply with RFC 7230.
pub const DESYNC_MITIGATION_MODE: &str = "routing.http.desync_mitigation_mode";
/// Access logs: a record of every request, written to the named bucket under the prefix.
pub const ACCESS_LOGS_ENABLED: &str = "access_logs.s3.enabled";
pub const ACCESS_LOGS_BUCKET: &str = "access_logs.s3.bucket";
pub const ACCESS_LOGS_PREFIX: &str = "access_logs.s3.prefix";
/// Every load balancer attribute paystack manages: what it reads back and compares.
pub const MANAGED_ATTRIBUTES: &[&str] =
    &[DROP_INVALID_HEADER_FIELDS, DESYNC_MITIGATION_MODE, ACCESS_LOGS_ENABLED, ACCESS_LOGS_BUCKET, ACCESS_LOGS_PREFIX];
pub const LOAD_BALANCER: KindDef = KindDef::new("elbv2.load_balancer", "elasticloadbalancing", "load_balancer")
    .named("name", 32)
    .replace_on(fields!(LoadBalancer: name))
    .unordered(fields!(LoadBalancer: subnet_ids, security_group_ids));
impl KindSpec for LoadBalancer {
    const DEF: &'static KindDef = &LOAD_BALANCER;
}
outputs!(LoadBalancer {
    arn: String,
    /// The part of the ARN CloudWatch names the load balancer by.
    arn_suffix: String,
    dns_name: String,
    zone_id: String,
});

/// An `ip` target group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub name: String,
    pub port: u16,
    pub vpc_id: Input<String>,
    pub health_check_path: String,
    pub tags: Tags,
}
pub const TARGET_GROUP: KindDef = KindDef::new("elbv2.target_group", "elasticloadbalancing", "target_group")
    .named("name", 32)
    .replace_on(fields!(TargetGroup: name, port, vpc_id));
impl KindSpec for TargetGroup {
    const DEF: &'static KindDef = &TARGET_GROUP;
}
outputs!(TargetGroup { arn: String });

/// What a listener does with a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ListenerAction {
    Redirect { protocol: String, port: String },
    Forward { target_group_arn: Input<String> },
}

/// A listener; `certificate_arn` and `ssl_policy` (the TLS security policy) are null for
/// HTTP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    pub load_balancer_arn: Input<String>,
    pub port: u16,
    pub protocol: String,
    pub certificate_arn: Option<String>,
    pub ssl_policy: Option<String>,
    pub default_action: ListenerAction,
    pub tags: Tags,
}
pub const LISTENER: KindDef = KindDef::new("elbv2.listener", "elasticloadbalancing", "listener")
    .replace_on(fields!(Listener: load_balancer_arn, port));
impl KindSpec for Listener {
    const DEF: &'static KindDef = &LISTENER;
}
outputs!(Listener { arn: String });

/// Where an alias record points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AliasTarget {
    pub dns_name: Input<String>,
    pub hosted_zone_id: Input<String>,
    pub evaluate_target_health: bool,
}

/// An alias `A` record to the load balancer, plain or weighted, in a hosted zone that was
/// looked up. Route 53 keeps no tags on records, so each has an owner: a `TXT` record at
/// [`dns_owner_name`] that names the stack's resource and the record it owns (the pattern
/// of external-dns). Both are written in one atomic change batch. `name` has no final dot;
/// `set_identifier` and `weight` are both null for a plain record. Replaced old-first: a
/// plain and a weighted record of one name cannot coexist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsRecord {
    pub zone_id: String,
    pub name: String,
    pub set_identifier: Option<String>,
    pub weight: Option<u8>,
    pub alias_target: AliasTarget,
    pub owner_name: String,
}
pub const DNS_RECORD: KindDef = KindDef::new("route53.record", "route53", "route53_record")
    .replace_on(fields!(DnsRecord: zone_id, name, set_identifier, owner_name))
    .delete_before_create()
    .global();
impl KindSpec for DnsRecord {
    const DEF: &'static KindDef = &DNS_RECORD;
}
outputs!(DnsRecord { fqdn: String, url: String });

/// Where the owner records of every stack's DNS records live in a zone.
pub fn dns_owner_root(zone: &str) -> String {
    format!("_paystack.{}", zone.trim_end_matches('.'))
}

/// Where the owner records of a stack's DNS records live: one name per stack, so one listing
/// from there finds them all.
pub fn dns_owner_parent(stack_key: &str, zone: &str) -> String {
    format!("{stack_key}.{}", dns_owner_root(zone))
}

/// The owner record of the resource `id` of a stack.
pub fn dns_owner_name(stack_key: &str, id: &str, zone: &str) -> String {
    format!("{}.{}", id.replace('.', "-"), dns_owner_parent(stack_key, zone))
}

/// One rule of a web ACL: an AWS managed rule group, at its place in the list. `count_only`
/// counts what the group matches and blocks nothing, which is how a group is tried first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WafRule {
    pub rule_group: String,
    pub count_only: bool,
}

/// A regional WAFv2 web ACL: a request its rules do not block is let through. It guards
/// `resource_arns` (the load balancer), and logs each request it inspects to the log group
/// `log_destination`, whose name starts with [`WAF_LOG_GROUP_PREFIX`] as WAF requires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebAcl {
    pub name: String,
    pub description: String,
    pub rules: Vec<WafRule>,
    pub resource_arns: Vec<Input<String>>,
    pub log_destination: Input<String>,
    pub tags: Tags,
}
pub const WEB_ACL: KindDef = KindDef::new("wafv2.web_acl", "wafv2", "wafv2_web_acl")
    .named("name", 128)
    .replace_on(fields!(WebAcl: name))
    .unordered(fields!(WebAcl: resource_arns));
impl KindSpec for WebAcl {
    const DEF: &'static KindDef = &WEB_ACL;
}
outputs!(WebAcl { arn: String, id: String });

/// What every WAF log group's name starts with: WAF logs to no other.
pub const WAF_LOG_GROUP_PREFIX: &str = "aws-waf-logs-";
/// The vendor of the managed rule groups a web ACL runs.
pub const AWS_VENDOR: &str = "AWS";
