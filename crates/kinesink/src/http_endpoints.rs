//! The HTTP endpoints of a running worker: `/metrics` (Prometheus text, with the readiness of
//! `/readyz` as the gauge `kinesink_worker_ready` as of the scrape), `/healthz` (the process is
//! alive) and `/readyz` (the lease table answers and the worker holds a shard or none is
//! available to it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

/// Binds `listen` (so a taken port is a start-up error) and returns the server future.
///
/// # Errors
/// The address cannot be bound.
pub async fn bind(
    listen: SocketAddr,
    metrics: PrometheusHandle,
    ready: Arc<AtomicBool>,
) -> std::io::Result<impl std::future::Future<Output = std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let scraped_ready = Arc::clone(&ready);
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let is_ready = scraped_ready.load(Ordering::Relaxed);
                metrics::gauge!(kinesink_metric_names::WORKER_READY).set(if is_ready {
                    1.0
                } else {
                    0.0
                });
                std::future::ready(metrics.render())
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let is_ready = ready.load(Ordering::Relaxed);
                async move {
                    if is_ready {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
                    }
                }
            }),
        );
    Ok(async move { axum::serve(listener, app).await })
}
