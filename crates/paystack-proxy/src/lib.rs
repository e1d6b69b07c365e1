//! A loopback proxy between `paystack` and the AWS emulator, for what real AWS does that the
//! emulator never does: throttle, answer 503, lose the answer to a call that took effect, and
//! take its time. The integration tests start it in-process ([`FaultProxy`]); the latency
//! benchmark runs it as the `paystack-proxy` binary.
//!
//! A share of the requests (the rate) gets a fault, chosen from the seed and the request's
//! number, so one seed always injects the same sequence of faults; which request gets which
//! number depends on how concurrent calls interleave. A fault is one of:
//! - throttling, in the error shape of the request's protocol (`RequestLimitExceeded` for
//!   EC2, `SlowDown` for S3, `ThrottlingException` for JSON services, `Throttling` for the
//!   query and REST-XML ones); the emulator never sees the request;
//! - 503, without forwarding;
//! - a lost answer: the request is forwarded and the emulator acts on it, then the proxy
//!   answers 500 `InternalError` instead of the emulator's answer.
//!
//! In latency mode ([`Latency`]) it plays AWS's durations (`aws-latency.toml`, times a
//! scale), which the emulator skips:
//! - for a kind that settles ([`SETTLING`]), after its create it answers each Describe of
//!   that resource with AWS's in-progress status (`pending`, `creating`, `provisioning`,
//!   `PENDING`) until the kind's duration has passed; after a NAT gateway's delete, with
//!   `deleting` instead of `deleted`. Resources are keyed by the ids in the create answers.
//!   A "stuck" kind's first resource never settles;
//! - for a kind whose create is one call ([`ANSWERED`]), it holds the answer for the kind's
//!   duration.
//!
//! Every answer it rewrote is one line of [`FaultProxy::rewrites`], and every request's
//! action is in its timeline. [`played`] says how long each latency-table row takes through
//! the proxy, for the benchmark's critical path.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What the proxy did, counted.
#[derive(Debug, Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub unavailable: AtomicU64,
    pub lost: AtomicU64,
}

impl Counts {
    pub fn faults(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
            + self.unavailable.load(Ordering::Relaxed)
            + self.lost.load(Ordering::Relaxed)
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        write!(
            f,
            "{} requests, {} faults: {} throttled, {} answered 503, {} answers lost after the emulator acted",
            n(&self.requests),
            self.faults(),
            n(&self.throttled),
            n(&self.unavailable),
            n(&self.lost)
        )
    }
}

/// The proxy, serving on its own thread until dropped.
pub struct FaultProxy {
    pub url: String,
    pub counts: Arc<Counts>,
    settling: Arc<Settled>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

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

/// A resource AWS is still making (or deleting).
#[derive(Clone, Copy)]
struct Unsettled {
    /// When it settles; `None`: never (stuck).
    until: Option<Instant>,
    deleting: bool,
}

/// What the latency mode keeps: when each resource settles, what it rewrote, what it saw.
#[derive(Default)]
struct Settled {
    latency: Option<Latency>,
    start: Option<Instant>,
    /// By id: until when it is making or deleting.
    until: Mutex<HashMap<String, Unsettled>>,
    stuck_taken: Mutex<bool>,
    /// Creates whose id the proxy made unique.
    fresh: AtomicU64,
    rewrites: Mutex<Vec<String>>,
    timeline: Mutex<Vec<Seen>>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Clone, Copy)]
enum Fault {
    Throttle,
    Unavailable,
    LoseAnswer,
}

#[derive(Clone, Copy)]
struct Faults {
    seed: u64,
    /// Faults per million requests.
    per_million: u64,
}

impl Faults {
    /// The fault of request `n`, if it gets one: a splitmix64 of the seed and `n`.
    fn of(self, n: u64) -> Option<Fault> {
        let mut z = self.seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        if z % 1_000_000 >= self.per_million {
            return None;
        }
        Some(match (z / 1_000_000) % 3 {
            0 => Fault::Throttle,
            1 => Fault::Unavailable,
            _ => Fault::LoseAnswer,
        })
    }
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` that faults `rate` (0.0–1.0) of requests.
    pub fn start(upstream: &str, seed: u64, rate: f64) -> Self {
        Self::serve_with(upstream, seed, rate, None)
    }

    /// Starts a proxy in front of `upstream` that injects no faults and plays AWS's settling
    /// times at `latency`.
    pub fn with_latency(upstream: &str, latency: Latency) -> Self {
        Self::serve_with(upstream, 0, 0.0, Some(latency))
    }

    /// One line per answer the latency mode rewrote.
    pub fn rewrites(&self) -> Vec<String> {
        self.settling.rewrites.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Every request the latency mode saw, in order.
    pub fn timeline(&self) -> Vec<Seen> {
        self.settling.timeline.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Starts a proxy in front of `upstream` that faults `rate` of requests and, with
    /// `latency`, plays AWS's durations.
    pub fn serve_with(upstream: &str, seed: u64, rate: f64, latency: Option<Latency>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let counts = Arc::new(Counts::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        // Faults per million, rounded: the rate is a share of requests, not a probability of
        // a float comparison.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let faults = Faults { seed, per_million: (rate.clamp(0.0, 1.0) * 1_000_000.0).round() as u64 };
        let (upstream, served) = (upstream.trim_end_matches('/').to_owned(), Arc::clone(&counts));
        let settling = Arc::new(Settled { latency, start: Some(Instant::now()), ..Settled::default() });
        let shared = Arc::clone(&settling);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the fault proxy's runtime");
            runtime.block_on(serve(listener, upstream, faults, served, shared, stopped));
        });
        Self { url, counts, settling, stop: Some(stop) }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    upstream: String,
    faults: Faults,
    counts: Arc<Counts>,
    settling: Arc<Settled>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let upstream = Arc::new(upstream);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let (client, upstream, counts) = (client.clone(), Arc::clone(&upstream), Arc::clone(&counts));
        let settling = Arc::clone(&settling);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let (client, upstream, counts) = (client.clone(), Arc::clone(&upstream), Arc::clone(&counts));
                let settling = Arc::clone(&settling);
                async move { Ok::<_, Infallible>(answer(request, &client, &upstream, faults, &counts, &settling).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
    faults: Faults,
    counts: &Counts,
    settling: &Settled,
) -> Response<Full<Bytes>> {
    let n = counts.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default();
    let protocol = Protocol::of(&parts.headers);
    match faults.of(n) {
        Some(Fault::Throttle) => {
            counts.throttled.fetch_add(1, Ordering::Relaxed);
            return protocol.throttled();
        }
        Some(Fault::Unavailable) => {
            counts.unavailable.fetch_add(1, Ordering::Relaxed);
            return reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "Service Unavailable".into());
        }
        _ => {}
    }
    let action = settling.latency.is_some().then(|| action_of(&parts, &body)).flatten();
    let forwarded = forward(client, upstream, parts, body.clone()).await;
    if matches!(faults.of(n), Some(Fault::LoseAnswer)) {
        counts.lost.fetch_add(1, Ordering::Relaxed);
        return protocol.internal_error();
    }
    match action {
        Some(action) => settling.settle(&action, &body, forwarded).await,
        None => forwarded,
    }
}

/// The operation a request calls: the `Action` of the query protocols (EC2, RDS, ELB, IAM,
/// SNS, CloudWatch), the `X-Amz-Target` of the JSON ones, and Route 53's REST paths.
fn action_of(parts: &hyper::http::request::Parts, body: &[u8]) -> Option<String> {
    if let Some(target) = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().map(str::to_owned);
    }
    let path = parts.uri.path();
    if path.starts_with("/2013-04-01/") {
        let action = match (parts.method.as_str(), path.trim_end_matches('/')) {
            ("POST", p) if p.ends_with("/rrset") => "ChangeResourceRecordSets",
            ("GET", p) if p.contains("/change/") => "GetChange",
            _ => return None,
        };
        return Some(action.to_owned());
    }
    form_value(body, "Action")
}

/// The value of `key` in a form-encoded request body (the query protocols: EC2, RDS, ELB).
fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))?;
    percent_encoding::percent_decode_str(raw).decode_utf8().ok().map(|v| v.into_owned())
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
    fn since_start(&self) -> Duration {
        self.start.map(|s| s.elapsed()).unwrap_or_default()
    }

    /// Notes creates and deletes of settling kinds, and rewrites the Describe answers of
    /// resources that have not settled yet.
    async fn settle(&self, action: &str, request: &[u8], answer: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
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
                .insert(key(&id).to_owned(), Unsettled { until, deleting: false });
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
                .insert(id, Unsettled { until: Some(now + scaled(typical)), deleting: true });
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
                let pending = until.get(key(id)).filter(|u| u.until.is_none_or(|t| t > now));
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

/// Headers that belong to one hop, not to the request.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut out = headers.clone();
    for name in [header::HOST, header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION, header::EXPECT] {
        out.remove(name);
    }
    out
}

async fn forward(
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = parts.method;
    *request.headers_mut() = end_to_end(&parts.headers);
    match format!("{upstream}{path}").parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(e) => return reply(StatusCode::BAD_GATEWAY, "text/plain", format!("bad path: {e}")),
    }
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(e) => return reply(StatusCode::BAD_GATEWAY, "text/plain", format!("emulator unreachable: {e}")),
    };
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default();
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = parts.status;
    *out.headers_mut() = end_to_end(&parts.headers);
    out
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// How a request's service shapes its errors.
#[derive(Clone, Copy)]
enum Protocol {
    /// `X-Amz-Target` services: DynamoDB, Secrets Manager, Logs, ECS, ACM, auto-scaling.
    Json,
    Ec2,
    S3,
    /// The query services (IAM, SNS, RDS, ELB, CloudWatch) and Route 53's REST-XML.
    QueryXml,
}

impl Protocol {
    fn of(headers: &HeaderMap) -> Self {
        if headers.contains_key("x-amz-target") {
            return Self::Json;
        }
        // `Credential=KEY/DATE/REGION/SERVICE/aws4_request` in the signature names the service.
        let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let scope = authorization.split("Credential=").nth(1).unwrap_or_default();
        match scope.split('/').nth(3) {
            Some("ec2") => Self::Ec2,
            Some("s3") => Self::S3,
            _ => Self::QueryXml,
        }
    }

    fn error(self, status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
        let body = match self {
            Self::Json => {
                return reply(
                    status,
                    "application/x-amz-json-1.1",
                    format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
                );
            }
            Self::Ec2 => format!(
                "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fault</RequestID></Response>"
            ),
            Self::S3 => {
                format!("<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault</RequestId></Error>")
            }
            Self::QueryXml => format!(
                "<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
            ),
        };
        reply(status, "text/xml", format!(r#"<?xml version="1.0" encoding="UTF-8"?>{body}"#))
    }

    fn throttled(self) -> Response<Full<Bytes>> {
        match self {
            Self::Json => self.error(StatusCode::BAD_REQUEST, "ThrottlingException", "Rate exceeded"),
            Self::Ec2 => self.error(StatusCode::SERVICE_UNAVAILABLE, "RequestLimitExceeded", "Request limit exceeded."),
            Self::S3 => self.error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "Please reduce your request rate."),
            Self::QueryXml => self.error(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
        }
    }

    fn internal_error(self) -> Response<Full<Bytes>> {
        let code = if matches!(self, Self::Json) { "InternalFailure" } else { "InternalError" };
        self.error(StatusCode::INTERNAL_SERVER_ERROR, code, "We encountered an internal error. Please try again.")
    }
}
