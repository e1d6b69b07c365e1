//! What each kind costs a month: the one place that knows how AWS charges for it.

use paystack_config::Assumption;
use paystack_platform::kinds;

use crate::estimate::{Charge, Context, Line, Resource, Status};
use crate::prices::instance_dimension;

/// The line of `r`.
pub(crate) fn line(cx: &Context<'_>, r: &Resource) -> Line {
    let free = |why| Priced::status(Status::Free(why));
    let unmodelled = |why| Priced::status(Status::NotEstimated(why));
    let kind = r.kind.as_str();
    let priced = match kind {
        k if k == kinds::DB_INSTANCE.name => db_instance(cx, r),
        k if k == kinds::DB_CLUSTER.name => db_cluster(cx, r),
        k if k == kinds::NAT_GATEWAY.name => nat_gateway(cx, r),
        k if k == kinds::ELASTIC_IP.name => {
            let region = region(cx, r);
            Priced::fixed("public IPv4 address", vec![cx.charge(region, "ec2", "public-ipv4", cx.hours())])
                .knobs(&["network.nat_gateways"])
        }
        k if k == kinds::TRANSIT_GATEWAY_ATTACHMENT.name => {
            let region = region(cx, r);
            Priced::fixed(
                "Transit Gateway attachment",
                vec![
                    cx.charge(region, "ec2", "transit-gateway-attachment", cx.hours()),
                    cx.assumed(region, "ec2", "transit-gateway-data", Assumption::TransitGb, 1.0),
                ],
            )
            .knobs(&["transit_gateway"])
        }
        k if k == kinds::LOAD_BALANCER.name => {
            let region = region(cx, r);
            Priced::fixed(
                "application load balancer",
                vec![
                    cx.charge(region, "elasticloadbalancing", "alb", cx.hours()),
                    cx.assumed(region, "elasticloadbalancing", "alb-lcu", Assumption::AlbLcus, cx.hours()),
                ],
            )
        }
        k if k == kinds::ECS_SERVICE.name => ecs_service(cx, r),
        k if k == kinds::SCHEDULE.name => schedule(cx, r),
        k if k == kinds::LOG_GROUP.name => log_group(cx, r),
        k if k == kinds::ALARM.name => {
            Priced::fixed("standard alarm", vec![cx.charge(region(cx, r), "cloudwatch", "alarm", 1.0)])
        }
        k if k == kinds::SECRET.name => {
            Priced::fixed("secret", vec![cx.charge(region(cx, r), "secretsmanager", "secret", 1.0)])
        }
        k if k == kinds::KMS_KEY.name => {
            Priced::fixed("customer managed key", vec![cx.charge(region(cx, r), "kms", "key", 1.0)])
        }
        k if k == kinds::TABLE.name => table(cx, r),
        k if k == kinds::BUCKET.name => bucket(cx, r),
        k if k == kinds::WEB_ACL.name => web_acl(cx, r),
        k if k == kinds::NAMESPACE.name => {
            Priced::fixed("private hosted zone", vec![cx.charge(region(cx, r), "route53", "hosted-zone", 1.0)])
        }
        k if k == kinds::DISCOVERY_SERVICE.name => discovery_service(cx, r),
        k if k == kinds::ECS_CLUSTER.name => match r.fields.get("container_insights").and_then(|v| v.as_bool()) {
            Some(true) => unmodelled("Container Insights is billed per metric and per GB of performance logs")
                .knobs(&["logs.container_insights"]),
            _ => free("a cluster is free; its tasks are priced on their services"),
        },
        k if k == kinds::FUNCTION.name => {
            unmodelled("billed per invocation and GB-second of each CloudTrail change it checks")
        }
        k if k == kinds::FLOW_LOG.name => free("its records are priced as its log group's ingestion"),
        k if k == kinds::TASK_DEFINITION.name => free("its tasks are priced on the service or schedule that runs them"),
        k if k == kinds::VPC_ENDPOINT.name => free("gateway endpoints are free"),
        k if k == kinds::TOPIC.name => free("the first 1,000 email notifications a month are free"),
        k if k == kinds::DNS_RECORD.name => {
            free("alias queries to a load balancer are free; the hosted zone is not the stack's")
        }
        k if k == kinds::EVENT_RULE.name => free("AWS service events on the default event bus are free"),
        k if k == kinds::PARAMETER.name => free("standard parameters are free"),
        k if k == kinds::IAM_ROLE.name => free("IAM is free"),
        k if k == kinds::TRANSIT_GATEWAY_ROUTE_TABLE.name => free("the gateway charges per attachment"),
        k if k == kinds::SECRET_ROTATION.name => free("the rotation function's invocations are its own account's"),
        k if k == kinds::SERVICE_SCALING.name || k == kinds::TABLE_SCALING.name => {
            free("Application Auto Scaling is free; what it scales is priced")
        }
        k if FREE.contains(&k) => free("no charge for the resource itself"),
        _ => unmodelled(UNPRICED),
    };
    priced.into_line(r)
}

/// Kinds AWS charges nothing for, beside those with a reason of their own above.
const FREE: &[&str] = &[
    kinds::VPC.name,
    kinds::SUBNET.name,
    kinds::INTERNET_GATEWAY.name,
    kinds::ROUTE_TABLE.name,
    kinds::NETWORK_ACL.name,
    kinds::SECURITY_GROUP.name,
    kinds::SECURITY_GROUP_RULE.name,
    kinds::DEFAULT_SECURITY_GROUP.name,
    kinds::DEFAULT_NETWORK_ACL.name,
    kinds::TARGET_GROUP.name,
    kinds::LISTENER.name,
    kinds::FUNCTION_PERMISSION.name,
    kinds::DB_SUBNET_GROUP.name,
    kinds::DB_CLUSTER_PARAMETER_GROUP.name,
    kinds::SECRET_POLICY.name,
    kinds::BUCKET_LOGGING.name,
];

/// What a kind paystack has not priced is said to be: never silently free.
pub(crate) const UNPRICED: &str = "paystack does not price this kind yet (crates/paystack-cost/src/pricing.rs)";

/// A line before it knows its resource.
pub(crate) struct Priced {
    item: String,
    status: Status,
    charges: Vec<Charge>,
    knobs: Vec<String>,
    /// Where the figure scales: its lowest and highest, else the figure itself.
    range: Option<(f64, f64)>,
    inputs: Vec<paystack_core::ResourceId>,
}

impl Priced {
    fn status(status: Status) -> Self {
        Self { item: String::new(), status, charges: Vec::new(), knobs: Vec::new(), range: None, inputs: Vec::new() }
    }

    fn fixed(item: impl Into<String>, charges: Vec<Charge>) -> Self {
        Self { item: item.into(), charges, ..Self::status(Status::Priced) }
    }

    fn knobs(mut self, knobs: &[&str]) -> Self {
        self.knobs = knobs.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    fn into_line(self, r: &Resource) -> Line {
        let monthly: f64 = self.charges.iter().map(Charge::monthly).sum();
        let (low, high) = self.range.unwrap_or((monthly, monthly));
        Line {
            resource: r.id.clone(),
            kind: r.kind.clone(),
            layer: r.id.as_str().split('.').next().unwrap_or_default().to_owned(),
            item: self.item,
            status: self.status,
            charges: self.charges,
            knobs: self.knobs,
            low,
            high,
            inputs: self.inputs,
        }
    }
}

/// The region a regional resource is in; the environment's for one recorded without it.
fn region<'a>(cx: &'a Context<'_>, r: &'a Resource) -> &'a str {
    r.region.as_deref().unwrap_or(&cx.env.region)
}

fn db_instance(cx: &Context<'_>, r: &Resource) -> Priced {
    let region = region(cx, r);
    let class = r.str("instance_class").unwrap_or_default();
    if class == "db.serverless" {
        // Serverless v2 bills each instance by the capacity units it runs at: the cluster's
        // minimum is the floor, its maximum the ceiling.
        let cluster = cx.dependency(r, &kinds::DB_CLUSTER.kind());
        let scaling = cluster.and_then(|c| c.fields.get("serverless_v2_scaling"));
        let acu = |key| scaling.and_then(|s| s.get(key)).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
        let (min, max) = (acu("min_capacity"), acu("max_capacity"));
        let charge = cx.charge(region, "rds", "aurora-serverless-v2", min * cx.hours());
        let ceiling = max * cx.hours() * charge.usd;
        let floor = charge.monthly();
        return Priced {
            range: Some((floor, ceiling)),
            inputs: cluster.map(|c| vec![c.id.clone()]).unwrap_or_default(),
            ..Priced::fixed(format!("Serverless v2 instance, {min}-{max} ACU"), vec![charge])
        }
        .knobs(&["database.instance_class", "database.readers", "database.serverless_min_acu"]);
    }
    Priced::fixed(format!("{class} instance"), vec![cx.charge(region, "rds", &instance_dimension(class), cx.hours())])
        .knobs(&["database.instance_class", "database.readers"])
}

fn db_cluster(cx: &Context<'_>, r: &Resource) -> Priced {
    let region = region(cx, r);
    Priced::fixed(
        "Aurora storage and I/O",
        vec![
            cx.assumed(region, "rds", "aurora-storage", Assumption::AuroraStorageGb, 1.0),
            cx.assumed(region, "rds", "aurora-io", Assumption::AuroraIoMillions, 1.0),
        ],
    )
}

fn nat_gateway(cx: &Context<'_>, r: &Resource) -> Priced {
    let region = region(cx, r);
    Priced::fixed(
        "NAT gateway",
        vec![
            cx.charge(region, "ec2", "nat-gateway", cx.hours()),
            cx.assumed(region, "ec2", "nat-gateway-data", Assumption::NatGbPerGateway, 1.0),
        ],
    )
    .knobs(&["network.nat_gateways"])
}

/// Fargate: `desired_count` tasks of the task definition's size, all month; the range runs
/// from auto-scaling's minimum to its maximum.
fn ecs_service(cx: &Context<'_>, r: &Resource) -> Priced {
    let region = region(cx, r);
    let task = cx.dependency(r, &kinds::TASK_DEFINITION.kind());
    let (vcpu, gb) = task_size(task);
    let count = r.num("desired_count").unwrap_or(0.0);
    let scaling = cx.dependents(r, kinds::SERVICE_SCALING.kind()).next();
    let bound = |key| scaling.and_then(|s| s.num(key)).unwrap_or(count);
    let charges = vec![
        cx.charge(region, "ecs", "fargate-vcpu", count * vcpu * cx.hours()),
        cx.charge(region, "ecs", "fargate-memory", count * gb * cx.hours()),
    ];
    let per_task: f64 = if count > 0.0 { charges.iter().map(Charge::monthly).sum::<f64>() / count } else { 0.0 };
    let service = r.id.as_str().split('.').nth(1).unwrap_or_default();
    let mut inputs: Vec<_> = task.map(|t| t.id.clone()).into_iter().collect();
    inputs.extend(scaling.map(|s| s.id.clone()));
    Priced {
        range: Some((per_task * bound("min_capacity"), per_task * bound("max_capacity"))),
        inputs,
        knobs: vec![format!("services.{service} (cpu, memory, desired_count)")],
        ..Priced::fixed(format!("{} of {vcpu} vCPU, {gb} GB", counted(count, "Fargate task")), charges)
    }
}

/// A task definition's vCPU and GB (ECS writes CPU units and MiB).
fn task_size(task: Option<&Resource>) -> (f64, f64) {
    let cpu = task.and_then(|t| t.num("cpu")).unwrap_or(0.0);
    let memory = task.and_then(|t| t.num("memory")).unwrap_or(0.0);
    (cpu / 1024.0, memory / 1024.0)
}

/// The scheduled drift task: each run is a Fargate task of the drift task definition's size,
/// for the assumed minutes.
fn schedule(cx: &Context<'_>, r: &Resource) -> Priced {
    let region = region(cx, r);
    let expression = r.str("expression").unwrap_or_default();
    let Some(every) = rate_minutes(expression) else {
        return Priced::status(Status::NotEstimated("a cron schedule's runs a month are not counted"))
            .knobs(&["drift.schedule"]);
    };
    let task = cx.dependency(r, &kinds::TASK_DEFINITION.kind());
    let (vcpu, gb) = task_size(task);
    let runs = cx.hours() * 60.0 / every;
    let minutes = Assumption::DriftTaskMinutes;
    let task_hours = runs / 60.0;
    let charges = vec![
        cx.assumed(region, "ecs", "fargate-vcpu", minutes, task_hours * vcpu),
        cx.assumed(region, "ecs", "fargate-memory", minutes, task_hours * gb),
    ];
    Priced {
        inputs: task.map(|t| vec![t.id.clone()]).unwrap_or_default(),
        ..Priced::fixed(format!("{runs:.0} Fargate runs of {vcpu} vCPU, {gb} GB"), charges)
    }
    .knobs(&["drift.schedule"])
}

/// `1 rule`, `4 rules`.
fn counted(n: f64, noun: &str) -> String {
    if n == 1.0 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// The minutes between runs of `rate(N unit)`; `None` for a cron expression.
fn rate_minutes(expression: &str) -> Option<f64> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: f64 = n.parse().ok()?;
    let per = match unit.trim_end_matches('s') {
        "minute" => 1.0,
        "hour" => 60.0,
        "day" => 1440.0,
        _ => return None,
    };
    (n > 0.0).then_some(n * per)
}

/// Ingestion at the assumed GB, and storage of what the retention keeps: a month's
/// ingestion for each month of it (a group kept forever is counted at a year).
fn log_group(cx: &Context<'_>, r: &Resource) -> Priced {
    let region = region(cx, r);
    let days = r.num("retention_in_days").filter(|d| *d > 0.0).unwrap_or(365.0);
    let months = days / 30.0;
    Priced::fixed(
        format!("log group kept {days} days"),
        vec![
            cx.assumed(region, "logs", "ingestion", Assumption::LogGbPerGroup, 1.0),
            cx.assumed(region, "logs", "storage", Assumption::LogGbPerGroup, months),
        ],
    )
    .knobs(&["logs.retention_days"])
}

fn table(cx: &Context<'_>, r: &Resource) -> Priced {
    let region = region(cx, r);
    let replicas: Vec<String> = r
        .fields
        .get("replicas")
        .and_then(|v| v.as_array())
        .map(|rs| rs.iter().filter_map(|x| x.get("region")?.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let mut charges = Vec::new();
    let mut range = None;
    let mut inputs = Vec::new();
    if r.str("billing_mode") == Some("PROVISIONED") {
        let scaling: Vec<&Resource> = cx.dependents(r, kinds::TABLE_SCALING.kind()).collect();
        inputs = scaling.iter().map(|s| s.id.clone()).collect();
        let units = |dimension: &str, key: &str| {
            scaling.iter().find(|s| s.str("dimension") == Some(dimension)).and_then(|s| s.num(key)).unwrap_or(1.0)
        };
        let mut low = 0.0;
        let mut high = 0.0;
        for (dimension, price, places) in [
            ("read", "provisioned-read", vec![region.to_owned()]),
            (
                "write",
                "provisioned-write",
                std::iter::once(region.to_owned()).chain(replicas.iter().cloned()).collect(),
            ),
        ] {
            for place in places {
                // A replica writes what the table writes: the same capacity, in its region.
                let charge = cx.charge(&place, "dynamodb", price, units(dimension, "min_capacity") * cx.hours());
                low += charge.monthly();
                high += units(dimension, "max_capacity") * cx.hours() * charge.usd;
                charges.push(charge);
            }
        }
        range = Some((low, high));
    } else {
        charges.push(cx.assumed(region, "dynamodb", "read-request", Assumption::SessionsReadMillions, 1.0));
        charges.push(cx.assumed(region, "dynamodb", "write-request", Assumption::SessionsWriteMillions, 1.0));
        for replica in &replicas {
            charges.push(cx.assumed(
                replica,
                "dynamodb",
                "replicated-write-request",
                Assumption::SessionsWriteMillions,
                1.0,
            ));
        }
    }
    for place in std::iter::once(region).chain(replicas.iter().map(String::as_str)) {
        let storage = cx.assumed(place, "dynamodb", "storage", Assumption::SessionsStorageGb, 1.0);
        if let Some((low, high)) = range.as_mut() {
            *low += storage.monthly();
            *high += storage.monthly();
        }
        charges.push(storage);
    }
    let mode = if range.is_some() { "provisioned" } else { "on-demand" };
    let item = match replicas.len() {
        0 => format!("{mode} table"),
        n => format!("{mode} global table, {}", counted(n as f64, "replica")),
    };
    Priced { range, inputs, ..Priced::fixed(item, charges) }.knobs(&["sessions.billing_mode"])
}

fn bucket(cx: &Context<'_>, r: &Resource) -> Priced {
    let region = region(cx, r);
    let mut charges = vec![cx.assumed(region, "s3", "standard-storage", Assumption::BucketStorageGb, 1.0)];
    let replicated = r.fields.get("replication").is_some_and(|v| !v.is_null());
    if replicated {
        charges.push(cx.assumed(region, "s3", "inter-region-transfer", Assumption::ReplicatedGb, 1.0));
    }
    Priced::fixed(if replicated { "bucket, replicated" } else { "bucket" }, charges)
}

fn web_acl(cx: &Context<'_>, r: &Resource) -> Priced {
    let region = region(cx, r);
    let rules = r.fields.get("rules").and_then(|v| v.as_array()).map_or(0, Vec::len);
    Priced::fixed(
        format!("web ACL with {}", counted(rules as f64, "rule")),
        vec![
            cx.charge(region, "wafv2", "web-acl", 1.0),
            cx.charge(region, "wafv2", "rule", rules as f64),
            cx.assumed(region, "wafv2", "request", Assumption::WafRequestMillions, 1.0),
        ],
    )
    .knobs(&["waf.enabled", "waf.rule_groups"])
}

/// Cloud Map charges per registered instance: the tasks of the service registered in it.
fn discovery_service(cx: &Context<'_>, r: &Resource) -> Priced {
    let region = region(cx, r);
    let Some(service) =
        cx.resources.iter().find(|s| s.kind == kinds::ECS_SERVICE.kind() && s.depends_on.contains(&r.id))
    else {
        return Priced::status(Status::Free("no service registers in it"));
    };
    let count = service.num("desired_count").unwrap_or(0.0);
    Priced {
        inputs: vec![service.id.clone()],
        ..Priced::fixed(
            counted(count, "registered instance"),
            vec![cx.charge(region, "servicediscovery", "registered-instance", count)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::rate_minutes;

    /// Every kind has its own case: priced, free for a stated reason, or charged by use the
    /// estimate does not model. None falls through to "not priced yet".
    #[test]
    fn every_kind_is_priced_or_said_to_be_free() {
        use crate::estimate::{Context, Resource, Status};
        let env = crate::tests::shipped("dev");
        let prices = crate::PriceTable::shipped().expect("valid");
        let cx = Context { env: &env, prices: &prices, resources: &[], missing: Default::default() };
        for kind in paystack_platform::kinds::all() {
            let r = Resource {
                id: paystack_core::ResourceId::new("layer.x"),
                kind: kind.kind(),
                region: Some("us-east-1".into()),
                fields: Default::default(),
                depends_on: Vec::new(),
            };
            let line = super::line(&cx, &r);
            assert_ne!(line.status, Status::NotEstimated(super::UNPRICED), "{} has no case", kind.name);
        }
    }

    #[test]
    fn rates_are_read_and_crons_are_not() {
        assert_eq!(rate_minutes("rate(15 minutes)"), Some(15.0));
        assert_eq!(rate_minutes("rate(1 hour)"), Some(60.0));
        assert_eq!(rate_minutes("rate(2 days)"), Some(2880.0));
        assert_eq!(rate_minutes("cron(0 * * * ? *)"), None);
        assert_eq!(rate_minutes("rate(0 minutes)"), None);
    }
}
