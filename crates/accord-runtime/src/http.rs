//! Serving HTTP: a router on a bound listener with graceful shutdown, and the operational endpoints.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{timeout::TimeoutLayer, trace::TraceLayer};

use crate::{ApiError, Deps};

/// How the HTTP server of a process treats requests (configuration section `[http]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The largest request body accepted, in bytes (a report or a 10 000-value lookup).
    pub max_body_bytes: usize,
    /// How long a request may take before it is answered 503, in milliseconds.
    pub request_timeout_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout_ms: 30_000,
        }
    }
}

impl HttpConfig {
    /// Checks the values, naming the key of the first bad one.
    ///
    /// # Errors
    /// A message naming the key (`http.max_body_bytes`).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_body_bytes < 1024 {
            return Err("http.max_body_bytes must be at least 1024".to_owned());
        }
        if self.request_timeout_ms == 0 {
            return Err("http.request_timeout_ms must be at least 1".to_owned());
        }
        Ok(())
    }
}

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
pub fn with_common_layers(router: Router, config: &HttpConfig) -> Router {
    router
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(config.request_timeout_ms),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn(record_duration))
}

/// Records every request's duration in [`crate::metrics::HTTP_REQUEST_DURATION`], by route template (never the
/// raw path, which carries indicator values), method and status.
async fn record_duration(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics::histogram!(
        crate::metrics::HTTP_REQUEST_DURATION,
        "route" => route,
        "method" => method,
        "status" => response.status().as_str().to_owned()
    )
    .record(started.elapsed().as_secs_f64());
    response
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
