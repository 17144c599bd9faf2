//! A fault-injecting HTTP proxy in front of a stand-in (S3 or DynamoDB), for the chaos test.
//!
//! Each request is, at the configured rates: answered with a 500 error in the service's own
//! error format without reaching the stand-in; answered with the service's throttling error;
//! forwarded but its response replaced by a 500 (the write happened, the client cannot know —
//! the hardest case for conditional writes); or forwarded and its response cut off mid-body (a
//! dropped connection: the stand-in's status and headers, then a broken body; a HEAD, which has
//! no body, gets the 500 instead). Otherwise it is forwarded unchanged. Every request's method, path and
//! headers are recorded, so tests can also check what the worker sent. An outage
//! ([`FaultProxy::set_outage`]) refuses every request, as a service that is down, until ended.
//!
//! In front of S3 the proxy also makes each object's requests atomic, as S3 is: moto 5's
//! conditional PutObject checks `If-Match` / `If-None-Match` and then writes, without a lock, on a
//! threaded server, and sets the object's metadata after storing it
//! (`moto/s3/responses.py::put_object`). Two concurrent compare-and-swap writes of one progress
//! object can then both succeed, and a HeadObject can see an object without its metadata —
//! neither can happen on S3. Requests for the same object key are therefore forwarded one at a
//! time (different keys still run concurrently).
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::Response;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::Rng;

/// Which service's error formats to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    S3,
    DynamoDb,
}

/// Share of requests (0.0..1.0) given each fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultRates {
    pub server_error: f64,
    pub throttle: f64,
    pub lost_response: f64,
    pub dropped_connection: f64,
    /// Only requests for which this returns true (method, path and query) get faults; all when unset.
    pub applies_to: Option<fn(&str, &str) -> bool>,
}

impl FaultRates {
    /// Every request refused, as by a service that is down (nothing reaches the stand-in): 70%
    /// server errors, 30% throttling.
    pub fn refuse_everything() -> Self {
        Self {
            server_error: 0.7,
            throttle: 0.3,
            ..Self::default()
        }
    }
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    pub requests: AtomicU64,
    pub server_errors: AtomicU64,
    pub throttles: AtomicU64,
    pub lost_responses: AtomicU64,
    pub dropped_connections: AtomicU64,
    /// Requests refused by an outage ([`FaultProxy::set_outage`]); not part of [`Self::faults`].
    pub refused_in_outage: AtomicU64,
}

impl ProxyCounters {
    pub fn faults(&self) -> u64 {
        self.server_errors.load(Ordering::Relaxed)
            + self.throttles.load(Ordering::Relaxed)
            + self.lost_responses.load(Ordering::Relaxed)
            + self.dropped_connections.load(Ordering::Relaxed)
    }
}

/// A request as the proxy received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
}

struct Shared {
    upstream: String,
    service: Service,
    rates: FaultRates,
    enabled: AtomicBool,
    outage: AtomicBool,
    counters: Arc<ProxyCounters>,
    recorded: Arc<Mutex<Vec<RecordedRequest>>>,
    client: Client<HttpConnector, Body>,
    /// S3 only: one lock per object path (`/bucket/key`), held while that request is forwarded.
    objects: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A running proxy on 127.0.0.1 (stops when dropped).
pub struct FaultProxy {
    pub url: String,
    pub counters: Arc<ProxyCounters>,
    pub recorded: Arc<Mutex<Vec<RecordedRequest>>>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (e.g. `http://127.0.0.1:5055`), faults enabled.
    pub async fn start(upstream: &str, service: Service, rates: FaultRates) -> Self {
        let counters = Arc::new(ProxyCounters::default());
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            service,
            rates,
            enabled: AtomicBool::new(true),
            outage: AtomicBool::new(false),
            counters: counters.clone(),
            recorded: recorded.clone(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            objects: Mutex::new(std::collections::HashMap::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            counters,
            recorded,
            shared,
            task,
        }
    }

    /// Turns fault injection on or off (requests are always forwarded when off).
    pub fn set_faults(&self, on: bool) {
        self.shared.enabled.store(on, Ordering::Relaxed);
    }

    /// Starts (`true`) or ends an outage: meanwhile every request is refused as
    /// [`FaultRates::refuse_everything`] would (nothing reaches the stand-in), counted in
    /// [`ProxyCounters::refused_in_outage`] rather than with the random faults.
    pub fn set_outage(&self, on: bool) {
        self.shared.outage.store(on, Ordering::Relaxed);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Fault {
    ServerError,
    Throttle,
    LostResponse,
    DroppedConnection,
}

fn pick(shared: &Shared) -> Option<Fault> {
    if !shared.enabled.load(Ordering::Relaxed) {
        return None;
    }
    let r = shared.rates;
    let x: f64 = rand::rng().random();
    let mut edge = r.server_error;
    if x < edge {
        return Some(Fault::ServerError);
    }
    edge += r.throttle;
    if x < edge {
        return Some(Fault::Throttle);
    }
    edge += r.lost_response;
    if x < edge {
        return Some(Fault::LostResponse);
    }
    edge += r.dropped_connection;
    if x < edge {
        return Some(Fault::DroppedConnection);
    }
    None
}

fn error_response(service: Service, throttle: bool) -> Response {
    let (status, content_type, body) = match (service, throttle) {
        (Service::S3, false) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>injected fault</Message></Error>".to_owned(),
        ),
        (Service::S3, true) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>injected throttling</Message></Error>".to_owned(),
        ),
        (Service::DynamoDb, false) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected fault"}"#.to_owned(),
        ),
        (Service::DynamoDb, true) => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"injected throttling"}"#.to_owned(),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap()
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), ToString::to_string);
    shared.recorded.lock().unwrap().push(RecordedRequest {
        method: request.method().to_string(),
        path_and_query: path_and_query.clone(),
        headers: request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
    });
    if shared.outage.load(Ordering::Relaxed) {
        shared
            .counters
            .refused_in_outage
            .fetch_add(1, Ordering::Relaxed);
        let refusal = FaultRates::refuse_everything();
        let throttle = rand::rng().random::<f64>() >= refusal.server_error;
        let _ = drain(request.into_body()).await;
        return error_response(shared.service, throttle);
    }
    let applies = shared
        .rates
        .applies_to
        .is_none_or(|f| f(request.method().as_str(), &path_and_query));
    let fault = if applies { pick(&shared) } else { None };
    match fault {
        // The request body is read first, as a server would: answering before it is sent makes
        // the client see a broken pipe instead of the error.
        Some(Fault::ServerError) => {
            shared
                .counters
                .server_errors
                .fetch_add(1, Ordering::Relaxed);
            let _ = drain(request.into_body()).await;
            return error_response(shared.service, false);
        }
        Some(Fault::Throttle) => {
            shared.counters.throttles.fetch_add(1, Ordering::Relaxed);
            let _ = drain(request.into_body()).await;
            return error_response(shared.service, true);
        }
        _ => {}
    }
    // S3 object requests (`/bucket/key...`) run one at a time per key (see the module doc).
    let object_lock = match shared.service {
        Service::S3 => {
            let path = path_and_query.split('?').next().unwrap_or("");
            let is_object = path.trim_start_matches('/').contains('/');
            is_object.then(|| {
                shared
                    .objects
                    .lock()
                    .unwrap()
                    .entry(path.to_owned())
                    .or_default()
                    .clone()
            })
        }
        Service::DynamoDb => None,
    };
    let _object_guard = match &object_lock {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    let is_head = request.method() == axum::http::Method::HEAD;
    let (mut parts, body) = request.into_parts();
    parts.uri = format!("{}{path_and_query}", shared.upstream)
        .parse::<Uri>()
        .unwrap();
    let upstream = match shared
        .client
        .request(axum::http::Request::from_parts(parts, body))
        .await
    {
        Ok(response) => response,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::from(format!("proxy: upstream failed: {e}")))
                .unwrap();
        }
    };
    match fault {
        Some(Fault::LostResponse) => {
            shared
                .counters
                .lost_responses
                .fetch_add(1, Ordering::Relaxed);
            // Let the stand-in finish the request, then hide its answer.
            let _ = drain(Body::new(upstream.into_body())).await;
            error_response(shared.service, false)
        }
        Some(Fault::DroppedConnection) => {
            shared
                .counters
                .dropped_connections
                .fetch_add(1, Ordering::Relaxed);
            let (mut parts, body) = upstream.into_parts();
            let _ = drain(Body::new(body)).await;
            // A HEAD answer has no body to break: the connection drops before its headers
            // arrive, which the client sees as a failed request (never as a 200 without the
            // object's headers, which a real S3 cannot send).
            if is_head {
                return error_response(shared.service, false);
            }
            // The stand-in's status and headers, then a body that never comes: the client sees
            // the connection break mid-answer.
            let broken = futures::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other(
                    "injected connection drop",
                ))
            });
            parts.headers.remove("transfer-encoding");
            parts
                .headers
                .insert("content-length", HeaderValue::from_static("64"));
            Response::from_parts(parts, Body::from_stream(broken))
        }
        _ => {
            let (parts, body) = upstream.into_parts();
            Response::from_parts(parts, Body::new(body))
        }
    }
}

async fn drain(body: Body) -> Result<(), String> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        chunk.map_err(|e| e.to_string())?;
    }
    Ok(())
}
