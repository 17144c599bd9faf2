//! A local stand-in for Lambda's Invoke API (moto's Lambda needs Docker): an HTTP server on
//! 127.0.0.1 answering `POST /2015-03-31/functions/{name}/invocations` the way Lambda does,
//! with a scripted behaviour per call: a payload (`200`, the function's answer), a function
//! error (`200` with `X-Amz-Function-Error`), an error status with Lambda's error type
//! (`X-Amzn-ErrorType`, as Lambda's REST-JSON protocol sends it), or a delay before any of them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// What one call answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `200` with this payload (the function's response).
    Payload(Vec<u8>),
    /// `200` with `X-Amz-Function-Error: Unhandled` and `{"errorMessage": …}`.
    FunctionError(String),
    /// This status with `X-Amzn-ErrorType` set to the type, and Lambda's error body.
    Status(u16, &'static str),
    /// Waits this long, then answers.
    After(Duration, Box<Answer>),
}

/// Decides each call's answer from `(function name, request body, call number from 1)`.
pub type Script = dyn Fn(&str, &[u8], usize) -> Answer + Send + Sync;

/// A call the stand-in received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The function name or ARN in the path.
    pub function: String,
    /// The request payload.
    pub body: Vec<u8>,
}

#[derive(Clone)]
struct Shared {
    script: Arc<Script>,
    calls: Arc<Mutex<Vec<Call>>>,
}

/// A running stand-in; stops when dropped.
pub struct LambdaStandIn {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    calls: Arc<Mutex<Vec<Call>>>,
    server: tokio::task::JoinHandle<()>,
}

impl LambdaStandIn {
    /// Starts a stand-in answering per `script`.
    pub async fn start(
        script: impl Fn(&str, &[u8], usize) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            script: Arc::new(script),
            calls: Arc::clone(&calls),
        };
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            endpoint,
            calls,
            server,
        }
    }

    /// Starts a stand-in on its own runtime thread (for tests that run the binary).
    pub fn start_in_background(
        script: impl Fn(&str, &[u8], usize) -> Answer + Send + Sync + 'static,
    ) -> (Self, tokio::runtime::Runtime) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let stand_in = runtime.block_on(Self::start(script));
        (stand_in, runtime)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

impl Drop for LambdaStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn invoke(State(shared): State<Shared>, Path(name): Path<String>, body: Bytes) -> Response {
    let number = {
        let mut calls = shared.calls.lock().unwrap();
        calls.push(Call {
            function: name.clone(),
            body: body.to_vec(),
        });
        calls.len()
    };
    let mut answer = (shared.script)(&name, &body, number);
    while let Answer::After(delay, then) = answer {
        tokio::time::sleep(delay).await;
        answer = *then;
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    headers.insert("x-amzn-requestid", HeaderValue::from_static("stand-in"));
    match answer {
        Answer::Payload(body) => (StatusCode::OK, headers, body).into_response(),
        Answer::FunctionError(message) => {
            headers.insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            let body = serde_json::json!({"errorMessage": message, "errorType": "Error"});
            (StatusCode::OK, headers, body.to_string()).into_response()
        }
        Answer::Status(status, error_type) => {
            headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            let body =
                serde_json::json!({"Type": "Service", "message": format!("stand-in {error_type}")});
            (
                StatusCode::from_u16(status).unwrap(),
                headers,
                body.to_string(),
            )
                .into_response()
        }
        Answer::After(..) => unreachable!("delays are waited above"),
    }
}
