//! An HTTP proxy in front of the S3 stand-in that forwards everything until it is frozen; from
//! then on every write (PUT, POST) hangs without an answer, as an endpoint that stopped
//! responding, while reads still pass.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Clone)]
struct Upstream {
    url: String,
    client: Client<HttpConnector, Body>,
    frozen: Arc<AtomicBool>,
}

/// The running proxy; stopped on drop.
pub struct FreezableProxy {
    /// `http://127.0.0.1:<port>`, to give the worker as its S3 endpoint.
    pub url: String,
    frozen: Arc<AtomicBool>,
    server: tokio::task::JoinHandle<()>,
}

impl FreezableProxy {
    /// A proxy forwarding to `upstream` (e.g. the S3 stand-in's URL).
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let frozen = Arc::new(AtomicBool::new(false));
        let app = axum::Router::new().fallback(forward).with_state(Upstream {
            url: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            frozen: frozen.clone(),
        });
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            frozen,
            server,
        }
    }

    /// From now on, writes hang.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

impl Drop for FreezableProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    if upstream.frozen.load(Ordering::SeqCst) && matches!(request.method().as_str(), "PUT" | "POST")
    {
        std::future::pending::<()>().await;
    }
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/".to_owned(), ToString::to_string);
    parts.uri = format!("{}{path}", upstream.url).parse::<Uri>().unwrap();
    match upstream
        .client
        .request(axum::http::Request::from_parts(parts, body))
        .await
    {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(e.to_string()))
            .unwrap(),
    }
}
