//! The application's sections: `[services.NAME]`, `[logs]`, `[load_balancer]`, `[dns]`
//! and `[iam]`.
//! A service table in an environment file overrides the same service's keys in the shared
//! file, key by key, so `prod.toml` can change one service's size and nothing else.

use std::collections::BTreeMap;

use paystack_core::naming;
use serde::Deserialize;
use toml::Spanned;

use super::{Checker, Located, container};
use crate::model::{Alarms, Dns, Drift, Iam, IgnoredField, LoadBalancer, Logs, Service};

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    image: Option<Spanned<String>>,
    cpu: Option<Spanned<i64>>,
    memory: Option<Spanned<i64>>,
    desired_count: Option<Spanned<i64>>,
    min_count: Option<Spanned<i64>>,
    max_count: Option<Spanned<i64>>,
    cpu_target_percent: Option<Spanned<f64>>,
    load_balanced: Option<Spanned<bool>>,
    parameters: Option<Spanned<BTreeMap<String, String>>>,
    read_only_root_filesystem: Option<Spanned<bool>>,
    user: Option<Spanned<String>>,
    writable_paths: Option<Spanned<Vec<String>>>,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogs {
    retention_days: Option<Spanned<i64>>,
    container_insights: Option<Spanned<bool>>,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDrift {
    ignore: Option<Spanned<Vec<String>>>,
    schedule: Option<super::automation::RawSchedule>,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoadBalancer {
    certificate_domain: Option<Spanned<String>>,
    health_check_path: Option<Spanned<String>>,
    tls_policy: Option<Spanned<String>>,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDns {
    zone: Option<Spanned<String>>,
    record: Option<Spanned<String>>,
    weights: Option<Spanned<BTreeMap<String, i64>>>,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIam {
    permissions_boundary_arn: Option<Spanned<String>>,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlarms {
    ecs_cpu_percent: Option<Spanned<f64>>,
    alb_5xx_count: Option<Spanned<f64>>,
    target_response_seconds: Option<Spanned<f64>>,
    db_cpu_percent: Option<Spanned<f64>>,
    db_connections: Option<Spanned<f64>>,
}

pub(super) type RawServices = BTreeMap<String, RawService>;

/// The retention periods CloudWatch Logs accepts, in days.
const RETENTION_DAYS: &[u32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// The memory sizes (MiB) Fargate allows with each CPU size (CPU units): from, to, step.
const FARGATE_SIZES: &[(u32, u32, u32, u32)] = &[
    (256, 512, 2048, 512),
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122_880, 8192),
];

/// Whether Fargate runs a task of `cpu` units with `memory` MiB. 256 units take 512, 1024 or
/// 2048 MiB; every other size takes a range in steps.
pub(crate) fn fargate_allows(cpu: u32, memory: u32) -> bool {
    FARGATE_SIZES.iter().any(|&(c, from, to, step)| {
        c == cpu
            && (from..=to).contains(&memory)
            && (memory - from).is_multiple_of(step)
            && (cpu != 256 || memory != 1536)
    })
}

/// Service names go into every name of the service's resources and into its log stream
/// prefix, so they keep to the characters every AWS name takes.
const MAX_SERVICE_NAME: usize = 20;

pub(super) fn services(
    c: &mut Checker<'_>,
    env: Option<RawServices>,
    shared: Option<RawServices>,
) -> Option<Vec<Service>> {
    let (mut env, mut shared) = (env.unwrap_or_default(), shared.unwrap_or_default());
    let names: std::collections::BTreeSet<String> = env.keys().chain(shared.keys()).cloned().collect();
    let mut out = Vec::new();
    let mut ok = true;
    let mut balanced: Vec<(String, Located<bool>)> = Vec::new();
    for name in names {
        let (e, s) = (env.remove(&name).unwrap_or_default(), shared.remove(&name).unwrap_or_default());
        let key = |k: &str| format!("services.{name}.{k}");
        let image = c.pick(&key("image"), e.image, s.image);
        let cpu = c.pick(&key("cpu"), e.cpu, s.cpu);
        let memory = c.pick(&key("memory"), e.memory, s.memory);
        let desired = c.pick(&key("desired_count"), e.desired_count, s.desired_count);
        let min = c.pick(&key("min_count"), e.min_count, s.min_count);
        let max = c.pick(&key("max_count"), e.max_count, s.max_count);
        let target = c.pick(&key("cpu_target_percent"), e.cpu_target_percent, s.cpu_target_percent);
        let load_balanced = c.pick_optional(e.load_balanced, s.load_balanced);
        let parameters = c.pick_optional(e.parameters, s.parameters);
        let Some(parameters) = check_parameters(c, &name, parameters) else {
            ok = false;
            continue;
        };
        let read_only = c.pick_optional(e.read_only_root_filesystem, s.read_only_root_filesystem);
        let user = c.pick_optional(e.user, s.user);
        let writable = c.pick_optional(e.writable_paths, s.writable_paths);
        let Some(runs_as) = container::check_user(c, &name, user) else {
            ok = false;
            continue;
        };
        let Some(writable_paths) = container::check_writable_paths(c, &name, writable) else {
            ok = false;
            continue;
        };
        let (Some(image), Some(cpu), Some(memory), Some(desired), Some(min), Some(max), Some(target)) =
            (image, cpu, memory, desired, min, max, target)
        else {
            ok = false;
            continue;
        };
        if !naming::is_portable(&name) || name.len() > MAX_SERVICE_NAME {
            c.fail(
                &image.at,
                format!("`{name}` cannot name a service"),
                format!("use lowercase letters, digits and single hyphens, at most {MAX_SERVICE_NAME} characters: it starts the names of the service's resources"),
            );
            ok = false;
        }
        if image.value.trim().is_empty() || image.value.contains(char::is_whitespace) {
            c.fail(
                &image.at,
                format!("`{}` is not a container image", image.value),
                "name an image such as public.ecr.aws/docker/library/nginx:1.27",
            );
            ok = false;
        }
        let sizes = u32::try_from(cpu.value).ok().zip(u32::try_from(memory.value).ok());
        if !sizes.is_some_and(|(cpu, memory)| fargate_allows(cpu, memory)) {
            c.fail(
                &memory.at,
                format!("Fargate does not run {} CPU units with {} MiB of memory", cpu.value, memory.value),
                "use a Fargate pair: 256 with 512, 1024 or 2048; 512 with 1024 to 4096; 1024 with 2048 to 8192; 2048 with 4096 to 16384 (steps of 1024); 4096 with 8192 to 30720",
            );
            ok = false;
        }
        let count = |c: &mut Checker<'_>, l: &Located<i64>, what: &str| match u32::try_from(l.value) {
            Ok(n) if n <= 1000 => Some(n),
            _ => {
                c.fail(&l.at, format!("`{what}` = {} is out of range", l.value), "use a task count from 0 to 1000");
                None
            }
        };
        let (Some(d), Some(lo), Some(hi)) = (
            count(c, &desired, &key("desired_count")),
            count(c, &min, &key("min_count")),
            count(c, &max, &key("max_count")),
        ) else {
            ok = false;
            continue;
        };
        if lo > hi || hi == 0 {
            c.fail(
                &max.at,
                format!("`{}` = {hi} is below `min_count` = {lo}", key("max_count")),
                "auto-scaling needs min_count <= max_count, and max_count of at least 1",
            );
            ok = false;
        } else if !(lo..=hi).contains(&d) {
            c.fail(
                &desired.at,
                format!("`{}` = {d} is outside {lo}..={hi}", key("desired_count")),
                "start the service within its auto-scaling range",
            );
            ok = false;
        }
        if !(target.value > 0.0 && target.value <= 100.0) {
            c.fail(
                &target.at,
                format!("`{}` = {} is not a CPU percentage", key("cpu_target_percent"), target.value),
                "use a target above 0 and at most 100, such as 60",
            );
            ok = false;
        }
        let is_balanced = load_balanced.as_ref().is_some_and(|l| l.value);
        if let Some(l) = load_balanced.filter(|l| l.value) {
            balanced.push((name.clone(), l));
        }
        out.push(Service {
            name,
            image: image.value,
            cpu: sizes.map_or(0, |s| s.0),
            memory: sizes.map_or(0, |s| s.1),
            desired_count: d,
            min_count: lo,
            max_count: hi,
            cpu_target_percent: target.value,
            load_balanced: is_balanced,
            parameters,
            read_only_root_filesystem: read_only.is_none_or(|r| r.value),
            user: runs_as,
            writable_paths,
        });
    }
    if let [(first, _), (second, l), ..] = balanced.as_slice() {
        c.fail(
            &l.at,
            format!("`{second}` is load balanced, and so is `{first}`"),
            "the load balancer forwards to one service; set `load_balanced = false` on the others",
        );
        ok = false;
    }
    ok.then_some(out)
}

/// The deepest hierarchy SSM allows: `/{env}/{service}/` takes two of its levels.
const MAX_PARAMETER_LEVELS: usize = 15;
/// The longest parameter name SSM takes, less the longest `/{env}-{suffix}/{service}/` in
/// front of it.
const MAX_PARAMETER_NAME: usize = 1011 - (1 + 12 + 1 + super::MAX_SUFFIX_LEN + 1 + MAX_SERVICE_NAME + 1);
/// The largest value of a standard-tier parameter.
const MAX_PARAMETER_VALUE: usize = 4096;

/// A service's own parameters: names in SSM's characters (with `/` for deeper levels)
/// within its depth and length, values SSM stores, and none that takes the name or the
/// environment variable of another or of one the platform writes.
fn check_parameters(
    c: &mut Checker<'_>,
    service: &str,
    raw: Option<Located<BTreeMap<String, String>>>,
) -> Option<BTreeMap<String, String>> {
    let Some(Located { value: raw, at }) = raw else { return Some(BTreeMap::new()) };
    let mut ok = true;
    let mut variables: BTreeMap<String, &str> =
        crate::model::PLATFORM_PARAMETERS.iter().map(|p| (crate::model::parameter_variable(p), *p)).collect();
    for (name, value) in &raw {
        let key = format!("services.{service}.parameters.{name}");
        let charset = |ch: char| ch.is_ascii_alphanumeric() || "_.-/".contains(ch);
        let levels = name.split('/').count();
        if name.is_empty()
            || !name.chars().all(charset)
            || name.starts_with('/')
            || name.ends_with('/')
            || name.contains("//")
            || name.len() > MAX_PARAMETER_NAME
        {
            c.fail(
                &at,
                format!("`{key}`: `{name}` cannot name an SSM parameter"),
                format!(
                    "use letters, digits and _ . - (and / between levels), at most {MAX_PARAMETER_NAME} characters"
                ),
            );
            ok = false;
        } else if levels + 2 > MAX_PARAMETER_LEVELS {
            c.fail(
                &at,
                format!("`{key}` is {} levels deep under /{{env}}/{service}/", levels),
                format!(
                    "SSM allows {MAX_PARAMETER_LEVELS} levels, and /{{env}}/{{service}}/ takes two: use at most {}",
                    MAX_PARAMETER_LEVELS - 2
                ),
            );
            ok = false;
        } else if let Some(taken) = variables.insert(crate::model::parameter_variable(name), name) {
            c.fail(
                &at,
                format!(
                    "`{key}` reaches the container as {}, as `{taken}` does",
                    crate::model::parameter_variable(name)
                ),
                "give it a name that differs in more than case and punctuation, and not one the platform writes",
            );
            ok = false;
        }
        if value.is_empty() || value.len() > MAX_PARAMETER_VALUE {
            c.fail(
                &at,
                format!("`{key}` has a value of {} characters", value.len()),
                format!("SSM stores 1 to {MAX_PARAMETER_VALUE} characters in a standard parameter"),
            );
            ok = false;
        }
    }
    ok.then_some(raw)
}

pub(super) fn logs(c: &mut Checker<'_>, env: RawLogs, shared: RawLogs) -> Option<Logs> {
    let insights = c.pick_optional(env.container_insights, shared.container_insights).is_some_and(|i| i.value);
    let retention = c.pick("logs.retention_days", env.retention_days, shared.retention_days)?;
    match u32::try_from(retention.value) {
        Ok(days) if RETENTION_DAYS.contains(&days) => Some(Logs { retention_days: days, container_insights: insights }),
        _ => {
            c.fail(
                &retention.at,
                format!("CloudWatch Logs cannot keep logs for {} days", retention.value),
                "use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
            );
            None
        }
    }
}

/// `[drift] ignore`: fields another owner sets, as `RESOURCE.FIELD`. Whether the resource
/// and the field exist is checked against the platform's graph, which this crate does not
/// know; here only their form.
pub(super) fn drift(c: &mut Checker<'_>, env: RawDrift, shared: RawDrift, protected: bool) -> Option<Drift> {
    let schedule = super::automation::schedule(
        c,
        env.schedule.unwrap_or_default(),
        shared.schedule.unwrap_or_default(),
        protected,
    );
    let Some(ignore) = c.pick_optional(env.ignore, shared.ignore) else {
        return Some(Drift { ignore: Vec::new(), schedule: schedule? });
    };
    let mut rules = Vec::new();
    for entry in &ignore.value {
        let part =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        match entry.rsplit_once('.') {
            Some((resource, field)) if part(resource) && part(field) => {
                rules.push(IgnoredField { resource: resource.to_owned(), field: field.to_owned() });
            }
            _ => c.fail(
                &ignore.at,
                format!("`drift.ignore`: `{entry}` does not name a field"),
                "write RESOURCE.FIELD, e.g. \"app.worker.service.desired_count\"; `paystack plan --json` shows resource ids and fields",
            ),
        }
    }
    Some(Drift { ignore: rules, schedule: schedule? })
}

pub(super) fn load_balancer(
    c: &mut Checker<'_>,
    env: RawLoadBalancer,
    shared: RawLoadBalancer,
) -> Option<LoadBalancer> {
    let domain = c.pick("load_balancer.certificate_domain", env.certificate_domain, shared.certificate_domain);
    let path = c.pick("load_balancer.health_check_path", env.health_check_path, shared.health_check_path);
    let tls = c.pick_optional(env.tls_policy, shared.tls_policy);
    let (domain, path) = (domain?, path?);
    let mut ok = true;
    let tls_policy = match tls {
        None => crate::tls::DEFAULT_POLICY.to_owned(),
        Some(tls) => {
            match crate::tls::policy(&tls.value) {
                Some(p) if p.minimum.is_current() => {}
                Some(p) => {
                    c.fail(
                        &tls.at,
                        format!("`{}` accepts {}, which PCI DSS no longer allows", tls.value, p.minimum),
                        format!("use a policy whose minimum is TLS 1.2, such as {}", crate::tls::DEFAULT_POLICY),
                    );
                    ok = false;
                }
                None => {
                    c.fail(
                        &tls.at,
                        format!("`{}` is not an Application Load Balancer security policy", tls.value),
                        format!("use one of AWS's policies, such as {}", crate::tls::DEFAULT_POLICY),
                    );
                    ok = false;
                }
            }
            tls.value
        }
    };
    if domain.value.is_empty() || domain.value.len() > 253 || domain.value.contains(char::is_whitespace) {
        c.fail(
            &domain.at,
            format!("`{}` is not a domain name", domain.value),
            "name the certificate's domain, such as *.payments.example.com",
        );
        ok = false;
    }
    if !path.value.starts_with('/') || path.value.len() > 1024 || path.value.contains(char::is_whitespace) {
        c.fail(
            &path.at,
            format!("`{}` is not a health check path", path.value),
            "use an absolute path such as /health",
        );
        ok = false;
    }
    ok.then_some(LoadBalancer { certificate_domain: domain.value, health_check_path: path.value, tls_policy })
}

/// A record label leaves room for `-` and the longest suffix within DNS's 63.
const MAX_LABEL_LEN: usize = 63 - 1 - super::MAX_SUFFIX_LEN;

pub(super) fn dns(c: &mut Checker<'_>, env: RawDns, shared: RawDns, lb: Option<&LoadBalancer>) -> Option<Dns> {
    let zone = c.pick("dns.zone", env.zone, shared.zone)?;
    let name = zone.value.strip_suffix('.').unwrap_or(&zone.value).to_owned();
    if !is_domain(&name) {
        c.fail(
            &zone.at,
            format!("`{}` is not a hosted zone name", zone.value),
            "name the public hosted zone in lowercase, such as payments.example.com",
        );
        return None;
    }
    let label = match c.pick_optional(env.record, shared.record) {
        Some(r) if naming::is_portable(&r.value) && r.value.len() <= MAX_LABEL_LEN => r.value,
        Some(r) => {
            c.fail(
                &r.at,
                format!("`dns.record` = `{}` is not a DNS label paystack can use", r.value),
                format!(
                    "use 1 to {MAX_LABEL_LEN} lowercase letters, digits or inner hyphens; a stack's suffix is appended"
                ),
            );
            return None;
        }
        None => c.env.to_owned(),
    };
    let weights = c.pick_optional(env.weights, shared.weights);
    let dns = Dns { weights: check_weights(c, weights)?, label, zone: name };
    // The HTTPS listener answers for this name with the looked-up certificate, so the
    // certificate must cover it.
    if let Some(lb) = lb
        && !covers(&lb.certificate_domain, &dns.record_name(None))
    {
        c.fail(
            &zone.at,
            format!("the certificate for `{}` does not cover `{}`", lb.certificate_domain, dns.record_name(None)),
            "point `load_balancer.certificate_domain` at a certificate for the record's name or its zone's wildcard",
        );
        return None;
    }
    Some(dns)
}

/// `dns.weights`: set identifier to a Route 53 weight (0 to 255).
fn check_weights(c: &mut Checker<'_>, raw: Option<Located<BTreeMap<String, i64>>>) -> Option<BTreeMap<String, u8>> {
    let Some(Located { value: raw, at }) = raw else { return Some(BTreeMap::new()) };
    if raw.is_empty() {
        c.fail(&at, "`dns.weights` is empty", "list a weight per set identifier, such as { blue = 100, green = 0 }, or remove the key for one plain record");
        return None;
    }
    let mut out = BTreeMap::new();
    for (id, weight) in raw {
        match u8::try_from(weight) {
            Ok(w) if naming::is_portable(&id) && id.len() <= 128 => {
                out.insert(id, w);
            }
            Ok(_) => {
                c.fail(
                    &at,
                    format!("`{id}` is not a set identifier paystack can use"),
                    "use lowercase letters, digits or inner hyphens, such as blue and green",
                );
                return None;
            }
            Err(_) => {
                c.fail(
                    &at,
                    format!("`dns.weights.{id}` = {weight} is out of range"),
                    "Route 53 weights run from 0 to 255",
                );
                return None;
            }
        }
    }
    Some(out)
}

fn is_domain(s: &str) -> bool {
    s.len() <= 253 && s.contains('.') && s.split('.').all(|l| l.len() <= 63 && naming::is_portable(l))
}

/// Whether a certificate for `domain` (possibly a `*.` wildcard) is valid for `name`.
fn covers(domain: &str, name: &str) -> bool {
    match domain.strip_prefix("*.") {
        Some(parent) => name.split_once('.').is_some_and(|(_, rest)| rest == parent),
        None => domain == name,
    }
}

pub(super) fn alarms(c: &mut Checker<'_>, env: RawAlarms, shared: RawAlarms) -> Option<Alarms> {
    let value = |c: &mut Checker<'_>, key: &str, e: Option<Spanned<f64>>, s: Option<Spanned<f64>>, max: f64| {
        let v = c.pick(&format!("alarms.{key}"), e, s)?;
        if v.value > 0.0 && v.value <= max {
            Some(v.value)
        } else {
            c.fail(
                &v.at,
                format!("`alarms.{key}` = {} is out of range", v.value),
                format!("use a threshold above 0 and at most {max}"),
            );
            None
        }
    };
    let ecs_cpu = value(c, "ecs_cpu_percent", env.ecs_cpu_percent, shared.ecs_cpu_percent, 100.0);
    let alb_5xx = value(c, "alb_5xx_count", env.alb_5xx_count, shared.alb_5xx_count, 1e9);
    let response =
        value(c, "target_response_seconds", env.target_response_seconds, shared.target_response_seconds, 3600.0);
    let db_cpu = value(c, "db_cpu_percent", env.db_cpu_percent, shared.db_cpu_percent, 100.0);
    let db_connections = value(c, "db_connections", env.db_connections, shared.db_connections, 1e6);
    Some(Alarms {
        ecs_cpu_percent: ecs_cpu?,
        alb_5xx_count: alb_5xx?,
        target_response_seconds: response?,
        db_cpu_percent: db_cpu?,
        db_connections: db_connections?,
    })
}

pub(super) fn iam(c: &mut Checker<'_>, env: RawIam, shared: RawIam) -> Option<Iam> {
    let boundary = c.pick_optional(env.permissions_boundary_arn, shared.permissions_boundary_arn);
    if let Some(b) = &boundary {
        let parts: Vec<&str> = b.value.splitn(6, ':').collect();
        let valid = parts.len() == 6
            && parts[0] == "arn"
            && parts[2] == "iam"
            && (parts[4] == "aws" || (parts[4].len() == 12 && parts[4].bytes().all(|x| x.is_ascii_digit())))
            && parts[5].starts_with("policy/");
        if !valid {
            c.fail(
                &b.at,
                format!("`{}` is not an IAM policy ARN", b.value),
                "write it as arn:aws:iam::ACCOUNT:policy/NAME",
            );
            return None;
        }
    }
    Some(Iam { permissions_boundary_arn: boundary.map(|b| b.value) })
}

#[cfg(test)]
mod tests {
    use super::fargate_allows;

    #[test]
    fn fargate_pairs() {
        assert!(fargate_allows(256, 512));
        assert!(fargate_allows(256, 2048));
        assert!(!fargate_allows(256, 1536));
        assert!(!fargate_allows(256, 4096));
        assert!(fargate_allows(1024, 3072));
        assert!(!fargate_allows(1024, 1024));
        assert!(fargate_allows(8192, 20480));
        assert!(!fargate_allows(8192, 18432));
        assert!(!fargate_allows(300, 512));
    }
}
