//! A shard that holds its lease but makes no progress is reported, never silently: here every
//! object write hangs (an S3 endpoint that never answers PUTs), and within
//! `processing.stall_timeout_s` the worker logs an ERROR naming the shard, `/readyz` answers
//! 503 and `kinesink_stalled_shards` counts it, while heartbeats go on.
#![cfg(feature = "stand-ins")]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use common::*;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const BUCKET: &str = "kinesink-it";

/// (status code, body) of `GET path`.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (code, body)
}

type Upstream = (String, Client<HttpConnector, Body>);

/// Forwards reads (HeadBucket, listing uploads) to the S3 stand-in; never answers writes.
async fn writes_hang(State((upstream, client)): State<Upstream>, request: Request) -> Response {
    if matches!(request.method().as_str(), "PUT" | "POST") {
        std::future::pending::<()>().await;
    }
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/".to_owned(), ToString::to_string);
    parts.uri = format!("{upstream}{path}").parse::<Uri>().unwrap();
    match client
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

#[tokio::test(flavor = "multi_thread")]
async fn a_shard_whose_writes_hang_is_reported_stalled_and_the_worker_unready() {
    let stream = unique("it-stall");
    create_stream(&stream, 1).await;
    create_bucket(BUCKET).await;
    produce(&stream, 20, &stream, false);
    let s3 = std::env::var("AWS_ENDPOINT_URL_S3")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .expect("the stand-ins' environment (scripts/local-aws env)");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(writes_hang).with_state((
        s3.trim_end_matches('/').to_owned(),
        Client::builder(TokioExecutor::new()).build_http(),
    ));
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        &format!(
            "endpoint_url = \"{proxy}\"\nbuffer_interval_s = 1\n[processing]\nstall_timeout_s = 10\n[metrics]\nlisten = \"127.0.0.1:{port}\""
        ),
    );
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("serving /metrics", 1, Duration::from_secs(30));
    worker.wait_for("lease taken", 1, Duration::from_secs(30));
    worker.wait_for("shard stalled", 1, Duration::from_secs(60));
    assert!(
        worker
            .seen
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("shard stalled") && l.contains("shardId-")),
        "{:#?}",
        worker.seen
    );
    // The watchdog turns /readyz 503 as it reports; a lease cycle that computed readiness just
    // before may store 200 once more, until its next cycle (failover/3).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while get(port, "/readyz").0 != 503 {
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz answers 503 within a lease cycle of the stall report"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, metrics) = get(port, "/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.lines().any(|l| l == "kinesink_stalled_shards 1"),
        "{metrics}"
    );
    drop(worker);
    server.abort();
    delete_stream(&stream).await;
}
