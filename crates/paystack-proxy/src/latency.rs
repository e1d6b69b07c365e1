//! The latency mode: AWS's durations, played from the latency table at a scale.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Response;

use crate::form_value;

/// How the proxy plays AWS's settling times.
#[derive(Clone, Debug)]
pub struct Latency {
    /// The share of AWS's typical durations to take: 1/200 makes Aurora's minutes seconds.
    pub scale: f64,
    /// A latency-table row whose first resource never settles.
    pub stuck: Option<&'static str>,
}

/// A kind whose settling the proxy plays: its calls, and where its answers keep its id and
/// its status. In each Describe answer the status element follows the id element within the
/// resource (the order of AWS's shapes, which the emulator keeps).
pub struct Settling {
    /// Its row in the latency table.
    pub row: &'static str,
    create: &'static str,
    describe: &'static str,
    id: &'static str,
    status: &'static str,
    ready: &'static str,
    creating: &'static str,
    /// The delete, the request parameter naming what it deletes, and the statuses a
    /// Describe shows once it is gone and while it goes.
    delete: Option<(&'static str, &'static str, &'static str, &'static str)>,
    /// The emulator gives every create the same id (Route 53's change id): the proxy makes
    /// each one unique, as AWS's are.
    fresh_ids: bool,
}

pub const SETTLING: &[Settling] = &[
    Settling {
        row: "nat_gateway",
        create: "CreateNatGateway",
        describe: "DescribeNatGateways",
        id: "natGatewayId",
        status: "state",
        ready: "available",
        creating: "pending",
        delete: Some(("DeleteNatGateway", "NatGatewayId", "deleted", "deleting")),
        fresh_ids: false,
    },
    Settling {
        row: "vpc_endpoint",
        create: "CreateVpcEndpoint",
        describe: "DescribeVpcEndpoints",
        id: "vpcEndpointId",
        status: "state",
        ready: "available",
        creating: "pending",
        delete: None,
        fresh_ids: false,
    },
    Settling {
        row: "route53_record",
        create: "ChangeResourceRecordSets",
        describe: "GetChange",
        id: "Id",
        status: "Status",
        ready: "INSYNC",
        creating: "PENDING",
        delete: None,
        fresh_ids: true,
    },
    Settling {
        row: "rds_cluster",
        create: "CreateDBCluster",
        describe: "DescribeDBClusters",
        id: "DBClusterIdentifier",
        status: "Status",
        ready: "available",
        creating: "creating",
        delete: None,
        fresh_ids: false,
    },
    Settling {
        row: "rds_instance",
        create: "CreateDBInstance",
        describe: "DescribeDBInstances",
        id: "DBInstanceIdentifier",
        status: "DBInstanceStatus",
        ready: "available",
        creating: "creating",
        delete: None,
        fresh_ids: false,
    },
    Settling {
        row: "load_balancer",
        create: "CreateLoadBalancer",
        describe: "DescribeLoadBalancers",
        id: "LoadBalancerArn",
        status: "Code",
        ready: "active",
        creating: "provisioning",
        delete: None,
        fresh_ids: false,
    },
];

/// Kinds whose create or delete is one call that AWS answers once it is done: the proxy
/// holds the answer for the row's duration. Action, row, and whether it deletes.
///
/// Not here: an ECS service, whose create AWS answers at once, then rolls out for minutes;
/// paystack does not wait for the rollout to be steady (nor does Terraform by default), so
/// the proxy plays none of it. And the settings of other resources (tags, rules, attributes).
pub const ANSWERED: &[(&str, &str, bool)] = &[
    ("CreateVpc", "vpc", false),
    ("DeleteVpc", "vpc", true),
    ("CreateSubnet", "subnet", false),
    ("DeleteSubnet", "subnet", true),
    ("CreateInternetGateway", "internet_gateway", false),
    ("DeleteInternetGateway", "internet_gateway", true),
    ("AllocateAddress", "eip", false),
    ("ReleaseAddress", "eip", true),
    ("CreateRouteTable", "route_table", false),
    ("DeleteRouteTable", "route_table", true),
    ("CreateNetworkAcl", "network_acl", false),
    ("DeleteNetworkAcl", "network_acl", true),
    ("CreateSecurityGroup", "security_group", false),
    ("DeleteSecurityGroup", "security_group", true),
    ("CreateDBSubnetGroup", "db_subnet_group", false),
    ("DeleteDBSubnetGroup", "db_subnet_group", true),
    ("CreateDBClusterParameterGroup", "db_cluster_parameter_group", false),
    ("DeleteDBClusterParameterGroup", "db_cluster_parameter_group", true),
    ("CreateSecret", "secret", false),
    ("DeleteSecret", "secret", true),
    ("CreateLogGroup", "log_group", false),
    ("DeleteLogGroup", "log_group", true),
    ("CreateRole", "iam_role", false),
    ("DeleteRole", "iam_role", true),
    ("CreateCluster", "ecs_cluster", false),
    ("DeleteCluster", "ecs_cluster", true),
    ("RegisterTaskDefinition", "task_definition", false),
    ("DeregisterTaskDefinition", "task_definition", true),
    ("CreateTargetGroup", "target_group", false),
    ("DeleteTargetGroup", "target_group", true),
    ("CreateListener", "listener", false),
    ("DeleteListener", "listener", true),
    ("PutMetricAlarm", "alarm", false),
    ("DeleteAlarms", "alarm", true),
    ("CreateTopic", "sns_topic", false),
    ("DeleteTopic", "sns_topic", true),
];

/// How long a create of `row` takes through the proxy in latency mode, before the scale:
/// the latency table's figure for the rows it plays, nothing for the rest.
pub fn played(row: &str) -> Duration {
    let settles = SETTLING.iter().any(|s| s.row == row);
    let answered = ANSWERED.iter().any(|(_, r, delete)| *r == row && !delete);
    if settles || answered { paystack_platform::expected_durations(row).create } else { Duration::ZERO }
}

/// One request, as the latency mode saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Since the proxy started.
    pub at: Duration,
    pub action: String,
    /// For a Describe of a settling kind: the ids it showed settled, as the emulator had them.
    pub settled: Vec<String>,
    /// For a Describe of a settling kind: the ids it showed gone (`deleted`).
    pub gone: Vec<String>,
}

/// A resource AWS is still making (or deleting). It settles once its time has passed and it
/// has been described unsettled at least once: how soon a busy machine gets to look must not
/// decide whether a wait sees AWS's in-progress status at all.
#[derive(Clone, Copy)]
struct Unsettled {
    /// When it settles; `None`: never (stuck).
    until: Option<Instant>,
    deleting: bool,
    /// Whether a Describe has shown it unsettled.
    seen: bool,
}

/// What the latency mode keeps: when each resource settles, what it rewrote, what it saw.
#[derive(Default)]
pub(crate) struct Settled {
    pub(crate) latency: Option<Latency>,
    pub(crate) start: Option<Instant>,
    /// By id: until when it is making or deleting.
    until: Mutex<HashMap<String, Unsettled>>,
    stuck_taken: Mutex<bool>,
    /// Creates whose id the proxy made unique.
    fresh: AtomicU64,
    pub(crate) rewrites: Mutex<Vec<String>>,
    pub(crate) timeline: Mutex<Vec<Seen>>,
}

/// The text of each `<tag>…</tag>` in `xml`, with where its text starts.
fn elements<'x>(xml: &'x str, tag: &str) -> Vec<(usize, &'x str)> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = xml[from..].find(&open) {
        let start = from + at + open.len();
        let Some(len) = xml[start..].find(&close) else { break };
        found.push((start, &xml[start..start + len]));
        from = start + len;
    }
    found
}

/// A resource's key: its id, without the `/change/` that Route 53 puts in front of a change
/// id in some answers and not in others.
fn key(id: &str) -> &str {
    id.trim_start_matches("/change/")
}

impl Settled {
    pub(crate) fn new(latency: Option<Latency>) -> Self {
        Self { latency, start: Some(Instant::now()), ..Self::default() }
    }

    fn since_start(&self) -> Duration {
        self.start.map(|s| s.elapsed()).unwrap_or_default()
    }

    /// Notes creates and deletes of settling kinds, and rewrites the Describe answers of
    /// resources that have not settled yet.
    pub(crate) async fn settle(
        &self,
        action: &str,
        request: &[u8],
        answer: Response<Full<Bytes>>,
    ) -> Response<Full<Bytes>> {
        let Some(latency) = &self.latency else { return answer };
        let (parts, body) = answer.into_parts();
        let bytes = body.collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default();
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        let (mut settled, mut gone) = (Vec::new(), Vec::new());
        let now = Instant::now();
        let scaled = |secs: Duration| secs.mul_f64(latency.scale);
        if parts.status.is_success()
            && let Some(kind) = SETTLING.iter().find(|s| s.create == action)
            && let Some((at, original)) = elements(&text, kind.id).first().map(|(at, id)| (*at, (*id).to_owned()))
        {
            let mut id = original.clone();
            if kind.fresh_ids {
                id = format!("{original}-{}", self.fresh.fetch_add(1, Ordering::Relaxed));
                text.replace_range(at..at + original.len(), &id);
            }
            let typical = paystack_platform::expected_durations(kind.row).create;
            let mut stuck_taken = self.stuck_taken.lock().unwrap_or_else(PoisonError::into_inner);
            let stuck = latency.stuck == Some(kind.row) && !*stuck_taken;
            *stuck_taken |= stuck;
            let until = (!stuck).then(|| now + scaled(typical));
            self.until
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key(&id).to_owned(), Unsettled { until, deleting: false, seen: false });
        }
        if parts.status.is_success()
            && let Some((_, row, delete)) = ANSWERED.iter().find(|(a, ..)| *a == action)
        {
            let typical = paystack_platform::expected_durations(row);
            tokio::time::sleep(scaled(if *delete { typical.delete } else { typical.create })).await;
        }
        if let Some(kind) = SETTLING.iter().find(|s| s.delete.is_some_and(|d| d.0 == action))
            && let Some(id) = kind.delete.and_then(|d| form_value(request, d.1))
        {
            let typical = paystack_platform::expected_durations(kind.row).delete;
            self.until
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, Unsettled { until: Some(now + scaled(typical)), deleting: true, seen: false });
        }
        if let Some(kind) = SETTLING.iter().find(|s| s.describe == action) {
            let until = self.until.lock().unwrap_or_else(PoisonError::into_inner).clone();
            // From the last resource back, so that earlier positions stay valid.
            let ids = elements(&text, kind.id);
            let mut edits = Vec::new();
            for (i, (at, id)) in ids.iter().enumerate() {
                let next = ids.get(i + 1).map_or(text.len(), |(n, _)| *n);
                let Some((start, status)) = elements(&text[*at..next], kind.status).into_iter().next() else {
                    continue;
                };
                let pending = until.get(key(id)).filter(|u| !u.seen || u.until.is_none_or(|t| t > now));
                let want = match pending {
                    Some(u) if u.deleting => kind.delete.filter(|d| status == d.2).map(|d| d.3),
                    Some(_) if status == kind.ready => Some(kind.creating),
                    _ => None,
                };
                match want {
                    Some(to) => edits.push((at + start, status.len(), to, (*id).to_owned(), status.to_owned())),
                    None if status == kind.ready => settled.push((*id).to_owned()),
                    None if kind.delete.is_some_and(|d| status == d.2) => gone.push((*id).to_owned()),
                    None => {}
                }
            }
            let at = self.since_start();
            {
                let mut until = self.until.lock().unwrap_or_else(PoisonError::into_inner);
                for (.., id, _) in &edits {
                    if let Some(u) = until.get_mut(key(id)) {
                        u.seen = true;
                    }
                }
            }
            for (pos, len, to, id, from) in edits.into_iter().rev() {
                text.replace_range(pos..pos + len, to);
                if let Ok(mut lines) = self.rewrites.lock() {
                    lines.push(format!("{:>8.3}s {action} {id}: {from} -> {to}", at.as_secs_f64()));
                }
            }
        }
        if let Ok(mut timeline) = self.timeline.lock() {
            timeline.push(Seen { at: self.since_start(), action: action.to_owned(), settled, gone });
        }
        let mut out = Response::new(Full::new(Bytes::from(text)));
        *out.status_mut() = parts.status;
        *out.headers_mut() = parts.headers;
        out
    }
}
