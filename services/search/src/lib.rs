//! Search: the investigators' API and the auditors' view of the trail.
//!
//! Every investigator request states a purpose and a case. A request is answered from the index under the release
//! filter of the caller's agency, purpose and the current time (the first wall); every hit is then re-checked against
//! the MoUs in force now with `accord_policy::allows` (the second wall), so suspend, revoke and expiry take effect on
//! the next query even before the index is updated. Totals, counts and cursors cover re-checked hits only, one view
//! per report (module `visible`). Before any response leaves, allowed or refused, its record is
//! durably appended to the hash-chained [`audit`] trail; if that fails, the answer is 503 and nothing is released.
//! A request without a valid token is refused (401) and counted, not recorded. The stated purpose and case are
//! normalized once ([`accord_domain::Purpose::normalize`], [`accord_domain::Case`]) before they are checked, stored
//! or matched.
//!
//! Auditors (module `auditor`) read the records of their own organization (the operator's auditors read all),
//! verify the chain, and fetch signed checkpoints of its head to keep ([`audit::checkpoint`]).

mod alerts;
pub mod audit;
mod auditor;
mod export;
pub mod feedback;
#[cfg(test)]
mod fuzz;
mod indicators;
mod limits;
mod metrics;
pub mod released;
mod request;
mod search;
pub mod sightings;
mod taxii;
mod visible;

use std::sync::Arc;

use accord_runtime::http::routes::Route;
use accord_runtime::{Authenticator, Deps, ServiceHost, secret::ConfigSecret, service::at_least};
use anyhow::Context as _;
use axum::{Router, extract::FromRef};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditLog, checkpoint::CheckpointSigner};

// The endpoints' work without authentication and audit, for in-process drivers (the differential policy test): their
// answers are `Unaudited`, which only `released::audit_then_release` turns into something that can be answered.
pub use crate::{
    alerts::{AlertMatch, AlertMatcher},
    indicators::run_indicator,
    request::Context,
    search::run_search,
    sightings::Sightings,
};

// The endpoints as functions of the caller, audit record included: what the HTTP handlers call, and the only way
// the web console reads released data (decision 0025). Each returns a `released::Outcome`.
pub use crate::{
    alerts::alert_page,
    auditor::{
        AuditQuery, EXPORT_MEDIA_TYPE, SummaryQuery, audit_checkpoint, audit_export, audit_records,
        audit_summary, recent_requests, verify_chain,
    },
    export::{Export, ExportFormat, export_lookup, export_search},
    indicators::{Stated, indicator, lookup},
    search::search,
};

/// Search configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Most reports listed per indicator.
    pub max_reports_per_indicator: usize,
    /// Most values in one batch lookup (more: 400 naming `/values`).
    pub max_lookup_values: usize,
    /// The longest value looked up, in bytes (`GET /v1/indicators/{value}` and each batch value; longer: 400).
    pub max_lookup_value_bytes: usize,
    /// The longest `q` of `POST /v1/search`, in bytes (longer: 400 naming `/q`).
    pub max_query_bytes: usize,
    /// The most terms (words and `field:value` terms) in a `q` (more: 400 naming `/q`).
    pub max_query_terms: usize,
    /// Default page size of `POST /v1/search`.
    pub default_page_size: usize,
    /// Largest page size of `POST /v1/search`.
    pub max_page_size: usize,
    /// The most views one request re-checks when the index's counts cannot be used as they are (an indicator lookup,
    /// or a search in the moments after an MoU in force changed): a request matching more answers 503 rather than
    /// count hits nobody re-checked. At most 10 000 on OpenSearch (its result window).
    pub max_rechecked_views: usize,
    /// The most reports one export (`POST /v1/search/export`, `POST /v1/indicators/lookup/export`) holds; a larger
    /// result set is refused rather than exported in part. At most `max_rechecked_views`.
    pub max_export_reports: usize,
    /// How often, in seconds, the audit chain's head is signed while the chain grows (it is also signed at shutdown
    /// and whenever an auditor fetches `GET /v1/audit/checkpoint`).
    pub audit_checkpoint_interval_secs: u64,
    /// The ed25519 key audit checkpoints are signed with: its 32-byte seed in base64 (a secret, never printed).
    /// Without it, the key file `search/audit-signing.key` in the data directory, generated on first start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_signing_key: Option<ConfigSecret>,
    /// The public base URL clients reach Accord at (`https://accord.example.org`, no path): TAXII discovery lists
    /// the API root under it. Without it, the process's listen address when that is a specific one, else relative
    /// URLs; never the request's `Host` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// The key agencies' feedback pseudonyms are derived with (decision 0057): 32 bytes in base64 (a secret, never
    /// printed). Without it, the key file `search/feedback-pseudonym.key` in the data directory, generated on first
    /// start. Every search process of a deployment must use the same key, or one agency counts as several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_pseudonym_key: Option<ConfigSecret>,
    /// The most values all watchlists of the deployment hold together (more: 422 naming `/entries`).
    pub max_watched_values: usize,
    /// The most watchlists one agency keeps (more: 409).
    pub max_watchlists_per_agency: usize,
    /// The most entries one watchlist request adds or removes (more: 400 naming `/entries` or `/values`).
    pub max_watch_entries_per_request: usize,
    /// The most alerts one release of one report raises (a partner's `0.0.0.0/0` must not raise one per watched
    /// address); what is cut is counted in `accord_alerts_capped_total`.
    pub max_alerts_per_report: usize,
    /// How long alerts are kept for `GET /v1/alerts` and for a stream resuming with `Last-Event-ID`, in days.
    pub alert_retention_days: u32,
    /// The most alert streams (`GET /v1/alerts/stream`) open at once (more: 429).
    pub max_alert_streams: usize,
    /// How long a webhook batch is retried after its first failure before it is dead-lettered, in seconds.
    pub webhook_retry_secs: u64,
    /// How long a webhook receiver has to answer, in milliseconds.
    pub webhook_timeout_ms: u64,
    /// Allow webhook URLs over plain `http` and to loopback or private addresses (labs and tests only).
    pub webhook_allow_insecure: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_reports_per_indicator: 100,
            max_lookup_values: 10_000,
            max_lookup_value_bytes: 8192,
            max_query_bytes: 4096,
            max_query_terms: 64,
            default_page_size: 20,
            max_page_size: 100,
            max_rechecked_views: 10_000,
            max_export_reports: 1_000,
            audit_checkpoint_interval_secs: 300,
            audit_signing_key: None,
            public_url: None,
            feedback_pseudonym_key: None,
            max_watched_values: 1_000_000,
            max_watchlists_per_agency: 1_000,
            max_watch_entries_per_request: 10_000,
            max_alerts_per_report: 1_000,
            alert_retention_days: 30,
            max_alert_streams: 256,
            webhook_retry_secs: 24 * 3600,
            webhook_timeout_ms: 10_000,
            webhook_allow_insecure: false,
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
            "search.max_reports_per_indicator",
            self.max_reports_per_indicator as u64,
            1,
        )?;
        at_least("search.max_lookup_values", self.max_lookup_values as u64, 1)?;
        at_least(
            "search.max_lookup_value_bytes",
            self.max_lookup_value_bytes as u64,
            256,
        )?;
        at_least("search.max_query_bytes", self.max_query_bytes as u64, 256)?;
        at_least("search.max_query_terms", self.max_query_terms as u64, 1)?;
        at_least("search.default_page_size", self.default_page_size as u64, 1)?;
        at_least(
            "search.max_page_size",
            self.max_page_size as u64,
            self.default_page_size as u64,
        )?;
        at_least(
            "search.max_rechecked_views",
            self.max_rechecked_views as u64,
            self.max_page_size as u64,
        )?;
        at_least(
            "search.max_export_reports",
            self.max_export_reports as u64,
            1,
        )?;
        at_least(
            "search.max_rechecked_views",
            self.max_rechecked_views as u64,
            self.max_export_reports as u64,
        )?;
        at_least(
            "search.audit_checkpoint_interval_secs",
            self.audit_checkpoint_interval_secs,
            1,
        )?;
        at_least(
            "search.max_watched_values",
            self.max_watched_values as u64,
            1,
        )?;
        at_least(
            "search.max_watchlists_per_agency",
            self.max_watchlists_per_agency as u64,
            1,
        )?;
        at_least(
            "search.max_watch_entries_per_request",
            self.max_watch_entries_per_request as u64,
            1,
        )?;
        at_least(
            "search.max_alerts_per_report",
            self.max_alerts_per_report as u64,
            1,
        )?;
        at_least(
            "search.alert_retention_days",
            u64::from(self.alert_retention_days),
            1,
        )?;
        at_least("search.max_alert_streams", self.max_alert_streams as u64, 1)?;
        at_least("search.webhook_retry_secs", self.webhook_retry_secs, 1)?;
        at_least("search.webhook_timeout_ms", self.webhook_timeout_ms, 100)?;
        if let Some(key) = &self.audit_signing_key {
            accord_runtime::secret::decode_key(key.expose(), "search.audit_signing_key")
                .map_err(|error| error.to_string())?;
        }
        if let Some(key) = &self.feedback_pseudonym_key {
            accord_runtime::secret::decode_key(key.expose(), "search.feedback_pseudonym_key")
                .map_err(|error| error.to_string())?;
        }
        if let Some(url) = &self.public_url {
            taxii::check_public_url(url)
                .map_err(|message| format!("search.public_url {message}"))?;
        }
        Ok(())
    }
}

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    pub(crate) deps: Deps,
    pub(crate) config: Arc<Config>,
    pub(crate) audit: AuditLog,
    /// The objects of retracted reports, per (agency, purpose), for TAXII pollers.
    pub(crate) revocations: taxii::revoked::Revocations,
    /// The absolute (or relative) URL of the TAXII API root, fixed at start.
    pub(crate) taxii_api_root: Arc<str>,
    /// The key of agencies' feedback pseudonyms.
    pub(crate) feedback_key: Arc<[u8; 32]>,
    /// Feedback sightings per (report, indicator), for the counts of indicator lookups.
    pub(crate) sightings: sightings::Sightings,
    /// Watchlists and alerts.
    pub(crate) alerts: alerts::AlertStore,
    /// The alert streams that may still be opened.
    pub(crate) alert_streams: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the process shuts down: ends alert streams.
    pub(crate) shutdown: tokio_util::sync::CancellationToken,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Authenticator {
        state.deps.auth.clone()
    }
}

impl AppState {
    /// Builds the state and opens the audit trail in `<data>/search`, with its signing key.
    ///
    /// # Errors
    /// Fails when the audit store cannot be opened or the signing key cannot be had.
    pub fn new(config: Config, deps: Deps) -> anyhow::Result<Self> {
        let dir = deps.data_dir.join("search");
        let signer = CheckpointSigner::load(config.audit_signing_key.as_ref(), &dir)
            .context("failed to load the audit signing key")?;
        tracing::info!(
            public_key = %audit::checkpoint::encode_public_key(&signer.public_key()),
            "audit checkpoints signed with this ed25519 key"
        );
        let interval = std::time::Duration::from_secs(config.audit_checkpoint_interval_secs);
        let memory = &deps.memory;
        let health = || Some(deps.health.clone());
        let audit =
            AuditLog::open_with(&dir, signer, interval, memory.audit_cache_bytes(), health())?;
        let revocations =
            taxii::revoked::Revocations::open(&dir, memory.revocations_cache_bytes(), health())?;
        let taxii_api_root =
            taxii::api_root_url(config.public_url.as_deref(), deps.listen_addr).into();
        let feedback_key = accord_runtime::secret::load_or_generate_key(
            config.feedback_pseudonym_key.as_ref(),
            "search.feedback_pseudonym_key",
            &dir.join("feedback-pseudonym.key"),
        )
        .context("failed to load the feedback pseudonym key")?;
        let sightings = sightings::Sightings::open(&dir, memory.sightings_cache_bytes(), health())?;
        let alerts = alerts::AlertStore::open(&dir, memory.alerts_cache_bytes(), health())?;
        let alert_streams = Arc::new(tokio::sync::Semaphore::new(config.max_alert_streams));
        Ok(Self {
            deps,
            config: Arc::new(config),
            audit,
            revocations,
            taxii_api_root,
            feedback_key: Arc::new(feedback_key),
            sightings,
            alerts,
            alert_streams,
            shutdown: tokio_util::sync::CancellationToken::new(),
        })
    }
}

/// Returns search's routes: [`route_table`].
pub fn router(state: AppState) -> Router {
    routes()
        .merge(taxii::routes())
        .merge(alerts::routes())
        .with_state(state)
}

/// The routes [`router`] serves (besides [`accord_runtime::http::routes::operational`], which every process serves):
/// its own, the TAXII reads and the watchlists and alerts, the tables [`router`] merges.
pub fn route_table() -> Vec<Route> {
    [ROUTES, taxii::ROUTES, alerts::ROUTES].concat()
}

accord_runtime::route_table! {
    /// Search's own routes, as data (TAXII's and the alerts' are in their modules).
    const ROUTES;
    /// Search's own routes, state-less.
    fn routes() -> Router<AppState>;
    POST "/v1/indicators/lookup" => indicators::post_lookup,
    POST "/v1/indicators/lookup/export" => export::post_lookup_export,
    GET "/v1/indicators/{value}" => indicators::get,
    POST "/v1/search" => search::post_search,
    // `GET /v1/feedback` is the gateway's: a front door routes this path by method (decision 0074).
    POST "/v1/feedback" => feedback::post,
    POST "/v1/search/export" => export::post_search_export,
    GET "/v1/audit" => auditor::list,
    GET "/v1/audit/verify" => auditor::verify,
    POST "/v1/audit/verify" => auditor::verify_checkpoint,
    GET "/v1/audit/checkpoint" => auditor::checkpoint,
    GET "/v1/audit/export" => auditor::export,
    GET "/v1/audit/summary" => auditor::summary,
    GET "/v1/audit/public-key" => auditor::public_key,
    GET "/v1/audit/mine" => auditor::mine,
}

/// Starts search in `host`: opens the audit trail, mounts the investigators' and auditors' routes and provides its
/// state to the web console of the same process (its pages call the functions above on it).
///
/// # Errors
/// Fails when the audit trail cannot be opened.
pub async fn start(config: Config, host: &mut ServiceHost) -> anyhow::Result<()> {
    let mut state = AppState::new(config, host.deps().clone())?;
    state.shutdown = host.shutdown();
    // One trail for the deployment (decision 0080): appends go through `audit.records`, chained by every process.
    let (audit, trail) = state.audit.clone().on_bus(state.deps.bus.clone())?;
    state.audit = audit;
    host.spawn_critical("search-audit-chain", trail.run(host.shutdown()));
    host.spawn_critical("search-alerts", alerts::run_matcher(state.clone()));
    host.spawn_critical("search-webhooks", alerts::run_webhooks(state.clone()));
    host.spawn_critical(
        "search-alert-retention",
        alerts::run_retention(state.clone()),
    );
    let follower =
        audit::partners::run(state.deps.bus.clone(), state.audit.clone(), host.shutdown());
    host.spawn_critical("search-audit", follower);
    let revocations = taxii::revoked::run(&state.deps, state.revocations.clone(), host.shutdown());
    host.spawn_critical("search-revocations", revocations);
    let sightings = sightings::run(&state.deps, state.sightings.clone(), host.shutdown());
    host.spawn_critical("search-sightings", sightings);
    host.provide(state.clone());
    host.mount(router(state));
    Ok(())
}
