//! Search: the investigators' API and the auditors' view of the trail.
//!
//! Every investigator request states a purpose and a case. A request is answered from the index under the release
//! filter of the caller's agency, purpose and the current time (the first wall); every hit is then re-checked against
//! the MoUs in force now with `accord_policy::allows` (the second wall), so suspend, revoke and expiry take effect on
//! the next query even before the index is updated. Before any response leaves, allowed or refused, its record is
//! durably appended to the hash-chained [`audit`] trail; if that fails, the answer is 503 and nothing is released.

pub mod audit;
mod auditor;
#[cfg(test)]
mod fuzz;
mod indicators;
mod request;
mod search;
mod taxii;

use std::sync::Arc;

use accord_runtime::{Authenticator, Deps};
use axum::{
    Router,
    extract::FromRef,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};

use crate::audit::AuditLog;

// The endpoints' work without authentication and audit, for in-process drivers (the differential policy test).
pub use crate::{indicators::run_indicator, request::Context, search::run_search};

/// Search configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Most reports listed per indicator.
    pub max_reports_per_indicator: usize,
    /// Most values in one batch lookup.
    pub max_lookup_values: usize,
    /// Default page size of `POST /v1/search`.
    pub default_page_size: usize,
    /// Largest page size of `POST /v1/search`.
    pub max_page_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_reports_per_indicator: 100,
            max_lookup_values: 10_000,
            default_page_size: 20,
            max_page_size: 100,
        }
    }
}

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    pub(crate) deps: Deps,
    pub(crate) config: Arc<Config>,
    pub(crate) audit: AuditLog,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Authenticator {
        state.deps.auth.clone()
    }
}

impl AppState {
    /// Builds the state and opens the audit trail in `<data>/search`.
    ///
    /// # Errors
    /// Fails when the audit store cannot be opened.
    pub fn new(config: Config, deps: Deps) -> anyhow::Result<Self> {
        let audit = AuditLog::open(&deps.data_dir.join("search"))?;
        Ok(Self {
            deps,
            config: Arc::new(config),
            audit,
        })
    }
}

/// Returns search's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/indicators/lookup", post(indicators::lookup))
        .route("/v1/indicators/{value}", get(indicators::get))
        .route("/v1/search", post(search::search))
        .route("/v1/audit", get(auditor::list))
        .route("/v1/audit/verify", get(auditor::verify))
        .merge(taxii::routes())
        .with_state(state)
}

/// Runs search as its own HTTP service on `listener` (with `/healthz`, `/readyz`, `/metrics`) until `shutdown`.
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
    let router = router(state).merge(accord_runtime::http::ops_router(
        accord_runtime::http::backends_ready(&deps),
    ));
    accord_runtime::http::serve(
        listener,
        accord_runtime::http::with_common_layers(router),
        shutdown.clone(),
    )
    .await?;
    Ok(())
}
