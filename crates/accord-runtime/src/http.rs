//! Serving HTTP: a router on a bound listener with graceful shutdown, and the operational endpoints.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{timeout::TimeoutLayer, trace::TraceLayer};

use crate::{ApiError, Deps};

/// The largest request body accepted (a report or a 10 000-value lookup).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A readiness probe: `Ok` when the service can do its work.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Returns a readiness check that pings the bus and the index.
pub fn backends_ready(deps: &Deps) -> ReadinessCheck {
    let deps = deps.clone();
    Arc::new(move || {
        let deps = deps.clone();
        Box::pin(async move {
            deps.bus
                .health()
                .await
                .map_err(|error| format!("bus: {error}"))?;
            deps.index
                .health()
                .await
                .map_err(|error| format!("index: {error}"))?;
            Ok(())
        })
    })
}

/// Returns the router of `/healthz`, `/readyz` and `/metrics`.
pub fn ops_router(ready: ReadinessCheck) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(ready)
}

async fn readyz(State(ready): State<ReadinessCheck>) -> Response {
    match ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(reason) => ApiError::Unavailable(format!("not ready: {reason}")).into_response(),
    }
}

async fn metrics() -> Response {
    let body = crate::telemetry::render_metrics();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Adds the layers every API gets: body limit, request timeout, request tracing, problem+json for unknown routes.
pub fn with_common_layers(router: Router) -> Router {
    router
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets in-flight requests finish.
///
/// # Errors
/// Returns the I/O error that stopped the server.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
