//! The platform's compliance rules, written once.
//!
//! `paystack check` reads a stack's live resources as `plan` does and hands them here; with
//! `--event`, only the resource a CloudTrail event names ([`events`]), as the compliance
//! function will. A rule
//! reads a resource's live attributes, in the shape its kind's spec has, leniently: what
//! someone changed by hand need not look like anything paystack writes, and a field that is
//! missing counts as unset. This crate depends on no AWS crate, and its tests are plain data.

use std::collections::BTreeSet;

use paystack_core::{Kind, Observed};
use paystack_platform::kinds::{self, KindDef};
use serde::Serialize;
use serde_json::Value;

pub mod change;
pub mod events;
mod iam;
#[cfg(test)]
mod tests;

pub use paystack_platform::watch::Expectations;

/// One resource that breaks one rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Violation {
    pub rule: &'static str,
    /// The resource's logical id, as its ownership tag names it.
    pub resource: String,
    pub kind: String,
    /// What AWS calls it.
    pub aws_id: String,
    pub expected: String,
    pub actual: String,
}

/// What a rule found wrong with one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub expected: String,
    pub actual: String,
}

fn finding(expected: impl Into<String>, actual: impl Into<String>) -> Finding {
    Finding { expected: expected.into(), actual: actual.into() }
}

/// What every rule may know besides the resource it reads: the expectations, and facts
/// gathered from the other resources of the stack.
pub struct Context<'a> {
    pub expect: &'a Expectations,
    /// The security groups a load balancer uses: only they may be open to the internet.
    load_balancer_groups: BTreeSet<String>,
    /// The ARNs of the environment's keys, in every region it uses.
    keys: BTreeSet<String>,
}

impl<'a> Context<'a> {
    /// The context of `resources`, a stack's live resources.
    pub fn new(expect: &'a Expectations, resources: &[(Kind, Observed)]) -> Self {
        let of = |def: &'static KindDef| resources.iter().filter(move |(k, _)| k.as_str() == def.name).map(|(_, o)| o);
        let load_balancer_groups = of(&kinds::LOAD_BALANCER)
            .flat_map(|o| strings(o.attributes.get("security_group_ids")))
            .map(str::to_owned)
            .collect();
        let keys = of(&kinds::KMS_KEY).filter_map(|o| text(o.outputs.get("arn"))).map(str::to_owned).collect();
        Self { expect, load_balancer_groups, keys }
    }

    /// Whether `key` (an ARN or a key id) is one of the environment's keys.
    fn is_environment_key(&self, key: &str) -> bool {
        self.keys.iter().any(|arn| arn == key || arn.strip_suffix(key).is_some_and(|rest| rest.ends_with("key/")))
    }
}

/// A compliance rule: the kinds it reads, and what it checks on one resource.
pub struct Rule {
    pub id: &'static str,
    pub description: &'static str,
    /// The kinds it reads; empty for every kind.
    pub kinds: &'static [&'static KindDef],
    check: fn(&Context<'_>, &Observed) -> Vec<Finding>,
}

impl Rule {
    fn applies_to(&self, kind: &Kind) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k.name == kind.as_str())
    }

    /// What is wrong with one resource by this rule.
    pub fn check(&self, cx: &Context<'_>, kind: &Kind, observed: &Observed) -> Vec<Finding> {
        if self.applies_to(kind) { (self.check)(cx, observed) } else { Vec::new() }
    }
}

/// Every rule, in the order they are reported.
pub const RULES: &[Rule] = &[
    Rule {
        id: "encryption-at-rest",
        description: "every data store is encrypted at rest with the environment's key (Aurora with storage encryption)",
        kinds: &[&kinds::DB_CLUSTER, &kinds::TABLE, &kinds::BUCKET, &kinds::SECRET, &kinds::TOPIC, &kinds::LOG_GROUP],
        check: encryption,
    },
    Rule {
        id: "open-ingress",
        description: "no security group admits 0.0.0.0/0 or ::/0, except the load balancer's on its public ports",
        kinds: &[&kinds::SECURITY_GROUP],
        check: open_ingress,
    },
    Rule {
        id: "open-network-acl",
        description: "no network ACL rule allows all traffic from anywhere",
        kinds: &[&kinds::NETWORK_ACL],
        check: open_acl,
    },
    Rule {
        id: "iam-wildcard-action",
        description: "no IAM statement allows `*` as its action",
        kinds: &[&kinds::IAM_ROLE],
        check: iam::wildcard_action,
    },
    Rule {
        id: "iam-wildcard-resource",
        description: "no IAM statement allows `*` as its resource without a condition",
        kinds: &[&kinds::IAM_ROLE],
        check: iam::wildcard_resource,
    },
    Rule {
        id: "iam-managed-policy",
        description: "a role's permissions are its own inline policy: no managed policy is attached",
        kinds: &[&kinds::IAM_ROLE],
        check: iam::managed_policies,
    },
    Rule {
        id: "permissions-boundary",
        description: "every role carries the environment's permissions boundary, where it has one",
        kinds: &[&kinds::IAM_ROLE],
        check: iam::boundary,
    },
    Rule {
        id: "confused-deputy",
        description: "a service may take a role only when it acts for this account",
        kinds: &[&kinds::IAM_ROLE],
        check: iam::confused_deputy,
    },
    Rule {
        id: "required-tags",
        description: "every taggable resource carries the five required tags",
        kinds: &[],
        check: required_tags,
    },
    Rule {
        id: "log-retention",
        description: "log groups keep events as long as the environment configures",
        kinds: &[&kinds::LOG_GROUP],
        check: log_retention,
    },
    Rule {
        id: "tls-policy",
        description: "HTTPS listeners use the configured TLS policy",
        kinds: &[&kinds::LISTENER],
        check: tls_policy,
    },
    Rule {
        id: "alb-request-hardening",
        description: "load balancers drop invalid header fields and mitigate desync at its strictest",
        kinds: &[&kinds::LOAD_BALANCER],
        check: request_hardening,
    },
    Rule {
        id: "alb-access-logs",
        description: "load balancers write a record of every request to an S3 bucket",
        kinds: &[&kinds::LOAD_BALANCER],
        check: access_logs,
    },
    Rule {
        id: "web-acl-guards-and-logs",
        description: "the firewall guards a load balancer, runs rules, and logs what it inspects",
        kinds: &[&kinds::WEB_ACL],
        check: web_acl,
    },
    Rule {
        id: "no-public-ip-on-launch",
        description: "no subnet gives what starts in it a public address",
        kinds: &[&kinds::SUBNET],
        check: |_, o| match o.attributes.get("map_public_ip_on_launch") {
            Some(Value::Bool(true)) => vec![finding("`map_public_ip_on_launch` false", "true")],
            _ => Vec::new(),
        },
    },
    Rule {
        id: "database-log-export",
        description: "Aurora exports PostgreSQL's log to CloudWatch Logs",
        kinds: &[&kinds::DB_CLUSTER],
        check: |_, o| match o.attributes.get("log_exports").and_then(|e| e.get("postgresql")) {
            Some(Value::String(_)) => Vec::new(),
            _ => vec![finding("the `postgresql` log exported", "not exported")],
        },
    },
    Rule {
        id: "container-not-root",
        description: "no container runs as root",
        kinds: &[&kinds::TASK_DEFINITION],
        check: not_root,
    },
    Rule {
        id: "endpoint-policy",
        description: "the S3 endpoint names the buckets it lets through, instead of allowing all",
        kinds: &[&kinds::VPC_ENDPOINT],
        check: endpoint_policy,
    },
    Rule {
        id: "bucket-public-access",
        description: "buckets block every kind of public access",
        kinds: &[&kinds::BUCKET],
        check: |_, o| expect_true(&o.attributes, "block_public_access", "all four public-access blocks on"),
    },
    Rule {
        id: "bucket-versioning",
        description: "buckets keep every version",
        kinds: &[&kinds::BUCKET],
        check: |_, o| expect_true(&o.attributes, "versioning", "versioning enabled"),
    },
    Rule {
        id: "bucket-tls-only",
        description: "bucket policies deny every request made without TLS",
        kinds: &[&kinds::BUCKET],
        check: tls_only,
    },
    Rule {
        id: "table-pitr",
        description: "tables have point-in-time recovery",
        kinds: &[&kinds::TABLE],
        check: |_, o| expect_true(&o.attributes, "point_in_time_recovery", "point-in-time recovery on"),
    },
    Rule {
        id: "key-rotation",
        description: "the environment's keys rotate yearly",
        kinds: &[&kinds::KMS_KEY],
        check: |_, o| expect_true(&o.attributes, "enable_key_rotation", "automatic rotation on"),
    },
];

/// The rule of that id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Every violation among `resources` (a stack's live resources), by rule, then resource.
pub fn evaluate(expect: &Expectations, resources: &[(Kind, Observed)]) -> Vec<Violation> {
    let cx = Context::new(expect, resources);
    let mut out = Vec::new();
    for rule in RULES {
        let mut found: Vec<Violation> = resources
            .iter()
            .flat_map(|(kind, o)| {
                rule.check(&cx, kind, o).into_iter().map(|f| Violation {
                    rule: rule.id,
                    resource: o.id.to_string(),
                    kind: kind.to_string(),
                    aws_id: o.aws_id.clone(),
                    expected: f.expected,
                    actual: f.actual,
                })
            })
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

fn shown(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "unset".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn expect_true(a: &serde_json::Map<String, Value>, field: &str, expected: &str) -> Vec<Finding> {
    match a.get(field) {
        Some(Value::Bool(true)) => Vec::new(),
        other => vec![finding(expected, format!("`{field}` is {}", shown(other)))],
    }
}

/// Each data store's field that names its key; Aurora's says only whether it is encrypted.
fn encryption(cx: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let a = &o.attributes;
    if let Some(encrypted) = a.get("storage_encrypted") {
        return if encrypted == &Value::Bool(true) {
            Vec::new()
        } else {
            vec![finding("storage encrypted", format!("`storage_encrypted` is {}", shown(Some(encrypted))))]
        };
    }
    let Some((field, key)) =
        ["kms_key_arn", "kms_key_id", "kms_master_key_id"].iter().find_map(|f| a.get(*f).map(|v| (*f, v)))
    else {
        return vec![finding("encrypted with the environment's key", "no encryption key")];
    };
    if key.is_null() && receives_access_logs(a) {
        return Vec::new(); // log delivery writes only to a bucket under S3's own keys
    }
    match text(Some(key)) {
        None => vec![finding("encrypted with the environment's key", format!("`{field}` is unset"))],
        Some(key) if !cx.keys.is_empty() && !cx.is_environment_key(key) => {
            vec![finding("encrypted with the environment's key", format!("encrypted with {key}"))]
        }
        Some(_) => Vec::new(),
    }
}

/// Whether a bucket's policy lets S3's log delivery write to it: the access-log bucket, the
/// one store AWS allows no customer key for.
fn receives_access_logs(a: &serde_json::Map<String, Value>) -> bool {
    let statements = a.get("policy").and_then(|p| p.get("Statement")).map(iam::as_list).unwrap_or_default();
    statements.iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && s.get("Principal").and_then(|p| p.get("Service")).and_then(Value::as_str) == Some(kinds::S3_LOG_DELIVERY)
    })
}

/// A rule of a group open to the whole internet, unless it is the load balancer's public
/// port.
fn open_ingress(cx: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let a = &o.attributes;
    let load_balancer = cx.load_balancer_groups.contains(&o.aws_id);
    let mut out = Vec::new();
    for rule in a.get("ingress").and_then(Value::as_array).into_iter().flatten() {
        let anywhere = [("cidr_ipv4", "0.0.0.0/0"), ("cidr_ipv6", "::/0")]
            .into_iter()
            .find(|(field, any)| text(rule.get(*field)) == Some(*any));
        let Some((_, cidr)) = anywhere else { continue };
        let (protocol, from, to) =
            (text(rule.get("protocol")).unwrap_or("-1"), rule.get("from_port"), rule.get("to_port"));
        let port = from.and_then(Value::as_u64).filter(|f| Some(*f) == to.and_then(Value::as_u64));
        let public = protocol == "tcp"
            && port.and_then(|p| u16::try_from(p).ok()).is_some_and(|p| cx.expect.public_ports.contains(&p));
        if load_balancer && public {
            continue;
        }
        let what = match (protocol, from, to) {
            ("-1", _, _) => "every protocol and port".to_owned(),
            (_, Some(f), Some(t)) if f == t => format!("{protocol} port {f}"),
            (_, f, t) => format!("{protocol} ports {}-{}", shown(f), shown(t)),
        };
        let allowed = if load_balancer {
            let ports: Vec<String> = cx.expect.public_ports.iter().map(u16::to_string).collect();
            format!("ingress from anywhere on {} only", ports.join(" and "))
        } else {
            "no ingress from anywhere".to_owned()
        };
        out.push(finding(allowed, format!("{cidr} on {what}")));
    }
    out
}

fn open_acl(_: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let a = &o.attributes;
    let mut out = Vec::new();
    for e in a.get("entries").and_then(Value::as_array).into_iter().flatten() {
        let inbound = e.get("egress") != Some(&Value::Bool(true));
        let allow = text(e.get("rule_action")).is_some_and(|r| r.eq_ignore_ascii_case("allow"));
        let all = text(e.get("protocol")) == Some("-1");
        let cidr = text(e.get("cidr_block")).or_else(|| text(e.get("ipv6_cidr_block")));
        if inbound && allow && all && matches!(cidr, Some("0.0.0.0/0" | "::/0")) {
            out.push(finding(
                "no rule allowing all traffic from anywhere",
                format!("rule {} allows all traffic from {}", shown(e.get("rule_number")), cidr.unwrap_or_default()),
            ));
        }
    }
    out
}

fn required_tags(cx: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let a = &o.attributes;
    // A kind with no tags field takes no tags (settings, Route 53 records).
    let Some(tags) = a.get("tags") else { return Vec::new() };
    let mut out = Vec::new();
    for (key, value) in &cx.expect.required_tags {
        match tags.get(key).and_then(Value::as_str) {
            Some(v) if v == value => {}
            Some(v) => out.push(finding(format!("{key}={value}"), format!("{key}={v}"))),
            None => out.push(finding(format!("{key}={value}"), format!("no {key} tag"))),
        }
    }
    out
}

fn log_retention(cx: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let a = &o.attributes;
    let expected = u64::from(cx.expect.log_retention_days);
    match a.get("retention_in_days").and_then(Value::as_u64) {
        Some(days) if days == expected => Vec::new(),
        Some(days) => vec![finding(format!("{expected} days"), format!("{days} days"))],
        None => vec![finding(format!("{expected} days"), "kept forever")],
    }
}

fn tls_policy(cx: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let a = &o.attributes;
    if text(a.get("protocol")) != Some("HTTPS") {
        return Vec::new();
    }
    match text(a.get("ssl_policy")) {
        Some(p) if p == cx.expect.tls_policy => Vec::new(),
        other => vec![finding(cx.expect.tls_policy.clone(), other.unwrap_or("AWS's default"))],
    }
}

fn request_hardening(_: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let attributes = o.attributes.get("attributes");
    [(kinds::DROP_INVALID_HEADER_FIELDS, "true"), (kinds::DESYNC_MITIGATION_MODE, "strictest")]
        .into_iter()
        .filter_map(|(key, expected)| {
            let actual = attributes.and_then(|a| a.get(key));
            (text(actual) != Some(expected)).then(|| finding(format!("`{key}` {expected}"), shown(actual)))
        })
        .collect()
}

fn access_logs(_: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let attributes = o.attributes.get("attributes");
    let enabled = attributes.and_then(|a| a.get(kinds::ACCESS_LOGS_ENABLED));
    let bucket = text(attributes.and_then(|a| a.get(kinds::ACCESS_LOGS_BUCKET))).filter(|b| !b.is_empty());
    match (text(enabled), bucket) {
        (Some("true"), Some(_)) => Vec::new(),
        (Some("true"), None) => vec![finding("access logs written to a bucket", "no bucket named")],
        _ => vec![finding("access logs on", shown(enabled))],
    }
}

fn web_acl(_: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let a = &o.attributes;
    let empty = |field: &str| a.get(field).and_then(Value::as_array).is_none_or(Vec::is_empty);
    let mut out = Vec::new();
    if empty("resource_arns") {
        out.push(finding("guards a load balancer", "guards nothing"));
    }
    if empty("rules") {
        out.push(finding("runs managed rule groups", "no rule"));
    }
    if text(a.get("log_destination")).is_none() {
        out.push(finding("logs what it inspects", "no logging"));
    }
    out
}

fn not_root(_: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let user = o.attributes.get("container").and_then(|c| c.get("user"));
    let who = text(user).map(|u| u.split(':').next().unwrap_or_default());
    match who {
        Some(w) if w != "root" && w.parse::<u32>() != Ok(0) => Vec::new(),
        Some(_) => vec![finding("an unprivileged user", shown(user))],
        None => vec![finding("an unprivileged user", "the image's own, which may be root")],
    }
}

fn endpoint_policy(_: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let statements = o.attributes.get("policy").and_then(|p| p.get("Statement")).map(iam::as_list).unwrap_or_default();
    let open = statements.iter().any(|s| {
        let everything =
            |key: &str| s.get(key).map(iam::as_list).unwrap_or_default().iter().any(|v| v.as_str() == Some("*"));
        text(s.get("Effect")) == Some("Allow") && everything("Resource")
    });
    if statements.is_empty() || open {
        vec![finding("a policy naming its buckets", "every bucket allowed")]
    } else {
        Vec::new()
    }
}

fn tls_only(_: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let a = &o.attributes;
    let statements = a.get("policy").and_then(|p| p.get("Statement")).map(iam::as_list).unwrap_or_default();
    let denies_plain = statements.iter().any(|s| {
        let secure = s.get("Condition").and_then(|c| c.get("Bool")).and_then(|b| b.get("aws:SecureTransport"));
        text(s.get("Effect")) == Some("Deny") && matches!(secure, Some(v) if v == "false" || v == &Value::Bool(false))
    });
    if denies_plain {
        Vec::new()
    } else {
        vec![finding("a statement denying requests without TLS (aws:SecureTransport false)", "none")]
    }
}
