//! The edge layer: the internet-facing load balancer, its target group, its two listeners
//! (HTTP only redirects to HTTPS, which uses the looked-up certificate), and the service's
//! name in the looked-up zone.

use paystack_core::naming;

use super::audit::{ALB_LOG_PREFIX, Audit};
use super::network::Network;
use super::security::Security;
use super::storage::Storage;
use super::{BlueprintError, Builder, Lookups, NOT_LOOKED_UP};
use crate::kinds::{
    self, ACCESS_LOGS_BUCKET, ACCESS_LOGS_ENABLED, ACCESS_LOGS_PREFIX, AliasTarget, DESYNC_MITIGATION_MODE,
    DROP_INVALID_HEADER_FIELDS, DnsRecord, Handle, Listener, ListenerAction, LoadBalancer, LogGroup, TargetGroup,
    WAF_LOG_GROUP_PREFIX, WafRule, WebAcl, each,
};

/// The ports the load balancer listens on: HTTP only to redirect to HTTPS.
pub(super) const HTTP_PORT: u16 = 80;
pub(super) const HTTPS_PORT: u16 = 443;

/// What the other layers build on.
pub(super) struct Edge {
    pub(super) load_balancer: Handle<LoadBalancer>,
    pub(super) target_group: Handle<TargetGroup>,
    /// The record the service's URL is read from (the first, where prod has blue and green).
    pub(super) service_record: Handle<DnsRecord>,
}

pub(super) fn edge(
    b: &mut Builder<'_>,
    network: &Network,
    security: &Security,
    storage: &Storage,
    audit: &Audit,
    lookups: &Lookups,
) -> Result<Edge, BlueprintError> {
    let env = b.env;
    let load_balancer = b.add("edge.alb", ("edge", "alb"), |n| LoadBalancer {
        name: n.name,
        subnet_ids: each(&network.public_subnets, |h| h.id()),
        security_group_ids: vec![security.alb.id()],
        attributes: [
            (DROP_INVALID_HEADER_FIELDS, "true".into()),
            (DESYNC_MITIGATION_MODE, "strictest".into()),
            (ACCESS_LOGS_ENABLED, "true".into()),
            (ACCESS_LOGS_BUCKET, audit.access_logs.name()),
            (ACCESS_LOGS_PREFIX, ALB_LOG_PREFIX.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        tags: n.tags,
    })?;
    let service_record = dns_records(b, &load_balancer, lookups)?;
    // The name carries a hash of what forces a replacement (the port and the VPC), so the new
    // group can exist beside the old one while the listener and the service move over.
    let replaced_by = format!("{}/{}", env.security.app_port, env.network.cidr);
    let target_group =
        b.add("edge.target_group", ("edge", &format!("tg-{}", naming::short_hash(&replaced_by))), |n| TargetGroup {
            name: n.name,
            port: env.security.app_port,
            vpc_id: network.vpc.id(),
            health_check_path: env.load_balancer.health_check_path.clone(),
            tags: n.tags,
        })?;
    b.add("edge.listener.http", ("edge", "http"), |n| Listener {
        load_balancer_arn: load_balancer.arn(),
        port: HTTP_PORT,
        protocol: "HTTP".into(),
        certificate_arn: None,
        ssl_policy: None,
        default_action: ListenerAction::Redirect { protocol: "HTTPS".into(), port: HTTPS_PORT.to_string() },
        tags: n.tags,
    })?;
    let certificate = lookups.certificate_arn.clone().unwrap_or_else(|| NOT_LOOKED_UP.to_owned());
    b.add("edge.listener.https", ("edge", "https"), |n| Listener {
        load_balancer_arn: load_balancer.arn(),
        port: HTTPS_PORT,
        protocol: "HTTPS".into(),
        certificate_arn: Some(certificate),
        ssl_policy: Some(env.load_balancer.tls_policy.clone()),
        default_action: ListenerAction::Forward { target_group_arn: target_group.arn() },
        tags: n.tags,
    })?;
    if env.waf.enabled {
        firewall(b, storage, &load_balancer)?;
    }
    Ok(Edge { load_balancer, target_group, service_record })
}

/// The web application firewall on the load balancer: AWS managed rule groups in the
/// configured order, each blocking what it matches or only counting it, and a log of every
/// request it inspects in a group with the environment's retention and key.
fn firewall(
    b: &mut Builder<'_>,
    storage: &Storage,
    load_balancer: &Handle<LoadBalancer>,
) -> Result<(), BlueprintError> {
    let env = b.env;
    let logs_name = format!("{WAF_LOG_GROUP_PREFIX}{}", b.name("edge", "waf"));
    let logs = b.add_at(b.placement(&kinds::LOG_GROUP), logs_name, "edge.waf.logs", |n| LogGroup {
        name: n.name,
        retention_in_days: env.logs.retention_days,
        kms_key_id: storage.key.arn(),
        tags: n.tags,
    })?;
    b.add("edge.waf", ("edge", "waf"), |n| WebAcl {
        name: n.name,
        description: format!("paystack: what {} lets through to its load balancer", env.name),
        rules: env
            .waf
            .rule_groups
            .iter()
            .map(|g| WafRule { rule_group: g.name.clone(), count_only: g.action == paystack_config::WafAction::Count })
            .collect(),
        resource_arns: vec![load_balancer.arn()],
        log_destination: logs.arn(),
        tags: n.tags,
    })?;
    Ok(())
}

/// The service's name in the looked-up zone: one alias record to the load balancer, or one
/// weighted alias record per set identifier (blue/green). Returns the first.
fn dns_records(
    b: &mut Builder<'_>,
    alb: &Handle<LoadBalancer>,
    lookups: &Lookups,
) -> Result<Handle<DnsRecord>, BlueprintError> {
    let dns = &b.env.dns;
    let name = dns.record_name(b.env.suffix.as_deref());
    let zone_id = lookups.hosted_zone_id.clone().unwrap_or_else(|| NOT_LOOKED_UP.to_owned());
    let alias_target =
        AliasTarget { dns_name: alb.dns_name(), hosted_zone_id: alb.zone_id(), evaluate_target_health: true };
    // A suffixed stack's set identifiers carry its suffix, like every other name of it. (The
    // emulator deletes a weighted record by set identifier alone, whatever its name, so this
    // also keeps one stack's delete off another's records there.)
    let weighted: Vec<(String, Option<(String, u8)>)> = if dns.weights.is_empty() {
        vec![("edge.dns".to_owned(), None)]
    } else {
        let set_identifier = |set: &str| match &b.env.suffix {
            Some(suffix) => format!("{set}-{suffix}"),
            None => set.to_owned(),
        };
        dns.weights.iter().map(|(set, w)| (format!("edge.dns.{set}"), Some((set_identifier(set), *w)))).collect()
    };
    let mut records = Vec::new();
    for (id, weight) in weighted {
        // Weighted records share their name; each is shown with its set identifier.
        let shown = weight.as_ref().map_or_else(|| name.clone(), |(set, _)| format!("{name}/{set}"));
        let (set_identifier, weight) = weight.map_or((None, None), |(s, w)| (Some(s), Some(w)));
        let spec = DnsRecord {
            zone_id: zone_id.clone(),
            name: name.clone(),
            set_identifier,
            weight,
            alias_target: alias_target.clone(),
            owner_name: kinds::dns_owner_name(&b.stack.key(), &id, &dns.zone),
        };
        records.push(b.untagged(&id, shown, &spec)?);
    }
    records.into_iter().next().ok_or(BlueprintError::NoServiceRecord)
}
