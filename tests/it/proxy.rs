//! A fault-injecting proxy on loopback, between `paystack` and the emulator, for what real
//! AWS does that the emulator never does: throttle, answer 503, and lose the answer to a
//! call that took effect.
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

/// What the proxy did, counted.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) requests: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) unavailable: AtomicU64,
    pub(crate) lost: AtomicU64,
}

impl Counts {
    pub(crate) fn faults(&self) -> u64 {
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
pub(crate) struct FaultProxy {
    pub(crate) url: String,
    pub(crate) counts: Arc<Counts>,
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
    pub(crate) fn start(upstream: &str, seed: u64, rate: f64) -> Self {
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
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the fault proxy's runtime");
            runtime.block_on(serve(listener, upstream, faults, served, stopped));
        });
        Self { url, counts, stop: Some(stop) }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    upstream: String,
    faults: Faults,
    counts: Arc<Counts>,
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
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let (client, upstream, counts) = (client.clone(), Arc::clone(&upstream), Arc::clone(&counts));
                async move { Ok::<_, Infallible>(answer(request, &client, &upstream, faults, &counts).await) }
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
    let forwarded = forward(client, upstream, parts, body).await;
    if matches!(faults.of(n), Some(Fault::LoseAnswer)) {
        counts.lost.fetch_add(1, Ordering::Relaxed);
        return protocol.internal_error();
    }
    forwarded
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
