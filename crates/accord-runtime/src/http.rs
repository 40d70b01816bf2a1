//! Serving HTTP: a router on a bound listener with graceful shutdown, the operational endpoints, and the limits that
//! keep one client from starving the others.
//!
//! - [`server`]: the accept loop and each connection (connection limits, header-read and idle timeouts; every
//!   connection task is tracked, so shutdown completes only once every connection, and the state it holds, is gone).
//! - [`rate_limit`]: a token bucket per token id, and per client address for requests without a valid token.
//! - [`streamed`]: large answers written as the client reads them, never held whole.
//! - [`routes`]: route tables, each service's routes as data ([`crate::route_table!`]), and [`routes::operational`],
//!   what every process serves besides.
//! - [`with_common_layers`]: body limit, request timeout, rate limits, tracing and duration metrics on every route.

mod connections;
pub mod forwarded;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod streamed;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower_http::{timeout::TimeoutLayer, trace::TraceLayer};

use crate::{ApiError, Authenticator, Deps, service::at_least};

/// How the HTTP server of a process treats connections and requests (configuration section `[http]`). Every limit
/// here is what keeps one client from starving the others: see the module documentation of [`server`] (connections)
/// and [`rate_limit`] (requests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The largest request body accepted, in bytes (a report or a 10 000-value lookup).
    pub max_body_bytes: usize,
    /// How long a request may take before it is answered 503, in milliseconds.
    pub request_timeout_ms: u64,
    /// The most connections open at once. A new connection beyond it closes the one that has been open longest
    /// without a request in progress (else it is closed at once).
    pub max_connections: usize,
    /// The most connections open at once from one client address (an IPv6 client: its /64), with the same rule.
    pub max_connections_per_address: usize,
    /// How long a client may take to send a request's headers, including the wait for the first byte of a request
    /// on an idle keep-alive connection, in milliseconds; the connection is closed after it.
    pub header_read_timeout_ms: u64,
    /// How long a connection may go without a byte read or written while no request is in progress (a client that
    /// stops reading its answer, a stalled body), in milliseconds; it is closed after it.
    pub idle_timeout_ms: u64,
    /// Requests per second each token may make (a token bucket per token id; 0 turns the limit off).
    pub rate_limit_per_second: u32,
    /// How many requests a token may make at once after a quiet period (the bucket's size).
    pub rate_limit_burst: u32,
    /// Requests per second from one client address without a valid token (0 turns the limit off).
    pub anonymous_rate_limit_per_second: u32,
    /// The burst of requests from one client address without a valid token.
    pub anonymous_rate_limit_burst: u32,
    /// The reverse proxies (networks in CIDR notation, `172.28.0.10/32`) whose `X-Forwarded-For` names the client
    /// for the per-address limits ([`forwarded`]); their own connections are not held to
    /// `max_connections_per_address`. Empty (the default): every peer is a client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout_ms: 30_000,
            max_connections: 1024,
            max_connections_per_address: 512,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            rate_limit_per_second: 100,
            rate_limit_burst: 500,
            anonymous_rate_limit_per_second: 10,
            anonymous_rate_limit_burst: 50,
            trusted_proxies: Vec::new(),
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
        at_least("http.request_timeout_ms", self.request_timeout_ms, 1)?;
        at_least("http.max_connections", self.max_connections as u64, 1)?;
        at_least(
            "http.max_connections_per_address",
            self.max_connections_per_address as u64,
            1,
        )?;
        if self.max_connections_per_address > self.max_connections {
            return Err(format!(
                "http.max_connections_per_address ({}) must not exceed http.max_connections ({})",
                self.max_connections_per_address, self.max_connections
            ));
        }
        at_least(
            "http.header_read_timeout_ms",
            self.header_read_timeout_ms,
            1,
        )?;
        // A request in progress is never closed as idle, but its answer must have time to be written.
        at_least(
            "http.idle_timeout_ms",
            self.idle_timeout_ms,
            self.header_read_timeout_ms,
        )?;
        for (key, rate, burst) in [
            (
                "http.rate_limit_burst",
                self.rate_limit_per_second,
                self.rate_limit_burst,
            ),
            (
                "http.anonymous_rate_limit_burst",
                self.anonymous_rate_limit_per_second,
                self.anonymous_rate_limit_burst,
            ),
        ] {
            if rate > 0 {
                at_least(key, u64::from(burst), 1)?;
            }
        }
        Ok(())
    }
}

/// A readiness probe: `Ok` when the service can do its work.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Returns a readiness check that pings the bus and the index, notes their state in the health registry
/// ([`crate::health`]) and answers from it: every failing store and everything in progress.
pub fn backends_ready(deps: &Deps) -> ReadinessCheck {
    let deps = deps.clone();
    Arc::new(move || {
        let deps = deps.clone();
        Box::pin(async move {
            observe_backends(&deps).await;
            deps.health.readiness()
        })
    })
}

/// Pings the bus and the index and notes their state in the health registry.
pub async fn observe_backends(deps: &Deps) {
    match deps.bus.health().await {
        Ok(()) => deps.health.recovered("bus"),
        Err(error) => deps.health.failing("bus", error.to_string()),
    }
    match deps.index.health().await {
        Ok(()) => deps.health.recovered("index"),
        Err(error) => deps.health.failing("index", error.to_string()),
    }
}

/// What `/healthz` and `/readyz` ask: the backends' state noted, then the registry.
#[derive(Clone)]
struct Probes {
    ready: ReadinessCheck,
    live: ReadinessCheck,
}

/// Returns the router of `/healthz`, `/readyz` and `/metrics`: `ready` answers `/readyz`, `live` `/healthz`.
pub fn ops_router(ready: ReadinessCheck, live: ReadinessCheck) -> Router {
    ops_routes().with_state(Probes { ready, live })
}

crate::route_table! {
    /// The operational routes (with `GET /v1/me`, [`routes::operational`]).
    pub(crate) const OPS_ROUTES;
    fn ops_routes() -> Router<Probes>;
    GET "/healthz" => healthz,
    GET "/readyz" => readyz,
    GET "/metrics" => metrics,
}

/// Returns a liveness check: the bus and the index noted, then [`crate::health::Health::liveness`].
pub fn backends_live(deps: &Deps) -> ReadinessCheck {
    let deps = deps.clone();
    Arc::new(move || {
        let deps = deps.clone();
        Box::pin(async move {
            observe_backends(&deps).await;
            deps.health.liveness()
        })
    })
}

async fn readyz(State(probes): State<Probes>) -> Response {
    match (probes.ready)().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(reason) => ApiError::Unavailable(format!("not ready: {reason}")).into_response(),
    }
}

async fn healthz(State(probes): State<Probes>) -> Response {
    match (probes.live)().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(reason) => ApiError::Unavailable(format!("unhealthy: {reason}")).into_response(),
    }
}

async fn metrics() -> Response {
    let body = crate::telemetry::render_metrics();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Adds the layers every API gets: body limit, request timeout, rate limits ([`rate_limit`]), request tracing and
/// duration metrics, problem+json for unknown routes. Without an authenticator (`None`: the console run alone,
/// which holds no tokens and calls an API that applies them) there are no rate limits at this server.
pub fn with_common_layers(
    router: Router,
    config: &HttpConfig,
    auth: Option<Authenticator>,
) -> Router {
    let router = router
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(config.request_timeout_ms),
        ));
    let router = match auth {
        Some(auth) => {
            let limiter = Arc::new(rate_limit::RateLimiter::new(config, auth));
            router.layer(middleware::from_fn_with_state(limiter, rate_limit::limit))
        }
        None => router,
    };
    router
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

/// Serves `router` on `listener` until `shutdown` is cancelled, under the connection limits and timeouts of
/// `config` ([`server`]); every connection task is spawned into `tracker`, so that waiting on it waits for the last
/// connection to close.
///
/// # Errors
/// Returns the I/O error that stopped the server.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) -> std::io::Result<()> {
    server::serve(
        listener,
        router,
        server::Limits::from(config),
        shutdown,
        tracker,
    )
    .await
}
