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
mod metrics;
mod reports;
pub mod status;
mod taxii;

// A partner's operations as functions of the caller: what the HTTP handlers call, and what the web console calls
// (decision 0025).
pub use crate::reports::{ListQuery, list_reports, report_status, submit_report};

use std::sync::Arc;

use accord_domain::topics;
use accord_runtime::{
    Authenticator, Deps, ServiceHost,
    json::SchemaValidator,
    service::at_least,
    stage::{self, StageOptions},
};
use axum::{
    Router,
    extract::FromRef,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};

use crate::status::StatusStore;

/// Gateway configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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

impl Config {
    /// Checks the values at start, naming the key of the first bad one.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        at_least(
            "gateway.max_report_bytes",
            self.max_report_bytes as u64,
            1024,
        )?;
        at_least("gateway.max_indicators", self.max_indicators as u64, 1)
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
        let schema =
            SchemaValidator::compile("incident-report", accord_domain::schema::INCIDENT_REPORT)?;
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
        .route("/v1/reports", post(reports::submit).get(reports::list))
        .route("/v1/reports/{id}", get(reports::status))
        // TAXII 2.1 writes (search serves the rest of /taxii2/; `accord up` merges the two on the same paths).
        .route(
            "/taxii2/accord/collections/{collection}/objects/",
            post(taxii::add_objects),
        )
        .route("/taxii2/accord/status/{status}/", get(taxii::status))
        .with_state(state)
}

/// Starts the gateway in `host`: its status followers (one per topic the status is derived from) and its routes; it
/// provides its state to the web console of the same process.
///
/// # Errors
/// Fails when the report schema does not compile or the status store cannot be opened.
pub async fn start(config: Config, host: &mut ServiceHost) -> anyhow::Result<()> {
    let state = AppState::new(config, host.deps().clone())?;
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
        host.spawn_critical(
            "gateway-status",
            stage::run(bus, options, follower, host.shutdown()),
        );
    }
    host.provide(state.clone());
    host.mount(router(state));
    Ok(())
}
