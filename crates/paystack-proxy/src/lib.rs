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
//!   query and REST-XML ones, `TooManyRequestsException` for the REST-JSON ones); the
//!   emulator never sees the request;
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

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

mod latency;

use latency::Settled;
pub use latency::{ANSWERED, Latency, SETTLING, Seen, Settling, played};

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
        let settling = Arc::new(Settled::new(latency));
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
pub(crate) fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))?;
    percent_encoding::percent_decode_str(raw).decode_utf8().ok().map(|v| v.into_owned())
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
    /// The REST-JSON services (Lambda, EventBridge Scheduler): the code is in the
    /// `X-Amzn-ErrorType` header.
    RestJson,
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
            Some("lambda" | "scheduler") => Self::RestJson,
            _ => Self::QueryXml,
        }
    }

    fn error(self, status: StatusCode, code: &'static str, message: &str) -> Response<Full<Bytes>> {
        let body = match self {
            Self::Json => {
                return reply(
                    status,
                    "application/x-amz-json-1.1",
                    format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
                );
            }
            Self::RestJson => {
                let mut response = reply(status, "application/json", format!(r#"{{"message":"{message}"}}"#));
                response.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(code));
                return response;
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
            Self::RestJson => self.error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", "Rate exceeded"),
        }
    }

    fn internal_error(self) -> Response<Full<Bytes>> {
        let code = match self {
            Self::Json => "InternalFailure",
            Self::RestJson => "ServiceException",
            _ => "InternalError",
        };
        self.error(StatusCode::INTERNAL_SERVER_ERROR, code, "We encountered an internal error. Please try again.")
    }
}
