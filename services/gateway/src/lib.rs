//! The gateway: the partners' door.
//!
//! `POST /v1/reports` authenticates the partner, validates the body (JSON Schema, then typed, then every indicator),
//! refuses classified material with 422 before anything reaches the bus, writes the raw report to
//! [`topics::REPORTS_RAW`] and answers 202 only once the bus acknowledged it. `GET /v1/reports/{id}` shows the
//! submitting partner where its report is; the [`status`] store is derived from the bus by a follower, so it is
//! rebuilt after a crash.
//!
//! TAXII 2.1 partners add objects to their inbox here too ([`taxii`]): the envelope becomes a STIX bundle and
//! takes the same path as `POST /v1/reports`; the status resource follows the report.

mod convert;
#[cfg(test)]
mod fuzz;
mod reports;
pub mod status;
mod taxii;

use std::sync::Arc;

use accord_domain::topics;
use accord_runtime::{
    Authenticator, Deps,
    json::SchemaValidator,
    stage::{self, StageOptions},
};
use axum::{
    Router,
    extract::FromRef,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::status::StatusStore;

/// Gateway configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The largest report accepted, in bytes.
    pub max_report_bytes: usize,
    /// The most indicators one report may declare.
    pub max_indicators: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_report_bytes: 2 * 1024 * 1024,
            max_indicators: 10_000,
        }
    }
}

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    pub(crate) deps: Deps,
    pub(crate) config: Arc<Config>,
    pub(crate) schema: Arc<SchemaValidator>,
    pub(crate) status: StatusStore,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Authenticator {
        state.deps.auth.clone()
    }
}

impl AppState {
    /// Builds the state: compiles the report schema and opens the status store in the data directory.
    ///
    /// # Errors
    /// Fails when the schema does not compile or the store cannot be opened.
    pub fn new(config: Config, deps: Deps) -> anyhow::Result<Self> {
        let schema = reports::report_schema()?;
        let status = StatusStore::open(&deps.data_dir.join("gateway"))?;
        Ok(Self {
            deps,
            config: Arc::new(config),
            schema: Arc::new(schema),
            status,
        })
    }
}

/// Returns the gateway's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/reports", post(reports::submit))
        .route("/v1/reports/{id}", get(reports::status))
        // TAXII 2.1 writes (search serves the rest of /taxii2/; `accord up` merges the two on the same paths).
        .route(
            "/taxii2/accord/collections/{collection}/objects/",
            post(taxii::add_objects),
        )
        .route("/taxii2/accord/status/{status}/", get(taxii::status))
        .with_state(state)
}

/// Runs the gateway's background work (the status follower) until `shutdown`; the caller serves [`router`].
///
/// # Errors
/// Returns an error when a follower cannot subscribe.
pub async fn run_workers(
    state: AppState,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    for topic in [
        topics::REPORTS_RAW,
        topics::REPORTS_NORMALIZED,
        topics::REPORTS_REJECTED,
        topics::REPORTS_RELEASABLE,
    ] {
        let options = StageOptions {
            name: "gateway-status",
            topic,
            group: "gateway-status".to_owned(),
            batch_size: 1024,
            linger: std::time::Duration::ZERO,
        };
        let follower = status::Follower::new(state.status.clone(), topic);
        let bus = state.deps.bus.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            if let Err(error) = stage::run(bus, options, follower, shutdown).await {
                tracing::error!(error = %format!("{error:#}"), topic, "gateway status follower stopped");
            }
        });
    }
    Ok(())
}

/// Runs the gateway (and its status followers) as its own HTTP service on `listener` (with `/healthz`, `/readyz`, `/metrics`) until `shutdown`.
///
/// # Errors
/// Fails when the state cannot be built or the server stops with an I/O error.
pub async fn run(
    config: Config,
    deps: Deps,
    listener: tokio::net::TcpListener,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let state = AppState::new(config, deps.clone())?;
    let tracker = TaskTracker::new();
    run_workers(state.clone(), &tracker, shutdown.clone()).await?;
    let router = router(state).merge(accord_runtime::http::ops_router(
        accord_runtime::http::backends_ready(&deps),
    ));
    accord_runtime::http::serve(
        listener,
        accord_runtime::http::with_common_layers(router),
        shutdown.clone(),
    )
    .await?;
    tracker.close();
    tracker.wait().await;
    Ok(())
}
