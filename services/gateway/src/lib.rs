//! The gateway: the partners' door.
//!
//! `POST /v1/reports` authenticates the partner, checks its backlog (429 beyond it: `admission`), validates the
//! body (JSON Schema, then typed, then every indicator), refuses classified material with 422, normalizes the report
//! on trial within the report limits (422 naming the limit: what its patterns and free text expand to is counted
//! before anything reaches the bus), writes the raw report to [`topics::REPORTS_RAW`] and answers 202 only once the
//! bus acknowledged it. The CPU work runs in a blocking task. `GET /v1/reports/{id}` shows the
//! submitting partner where its report is; the [`status`] store is derived from the bus by a follower, so it is
//! rebuilt after a crash.
//!
//! A report sent with an `Idempotency-Key` gets an id keyed with the deployment's secret
//! ([`accord_domain::ReportId::for_idempotency_key`]): `[gateway] report_id_key`, else the key file
//! `gateway/report-id.key` in the data directory, generated on first start. Every gateway of a deployment must use
//! the same key (set `report_id_key` in each, or share the data directory), or a retry through another gateway
//! becomes another report; each logs the key's fingerprint at start so that operators can compare them.
//!
//! Each partner's submissions may take at most `gateway.max_partner_bytes_per_day` bytes a day (`quota`): a partner
//! that keeps sending cannot fill the disk every partner's reports are stored on.
//!
//! TAXII 2.1 partners add objects to their inbox here too (`taxii`): the envelope becomes a STIX bundle and
//! takes the same path as `POST /v1/reports`; the status resource follows the report.

mod admission;
mod convert;
mod counts;
pub mod feedback;
#[cfg(test)]
mod fuzz;
mod lenient;
mod metrics;
mod pipeline;
mod quota;
mod reports;
pub mod status;
mod taxii;

// A partner's operations as functions of the caller: what the HTTP handlers call, and what the web console calls
// (decision 0025).
pub use crate::counts::{CountsQuery, MAX_DAYS, report_counts};
pub use crate::pipeline::pipeline_counts;
pub use crate::reports::{
    ListQuery, list_reports,
    owned::{amend_report, retract_indicators, retract_report},
    report_status, submit_report, submit_report_with,
};
pub use accord_stix::Handling;

use std::sync::Arc;

use accord_domain::{ReportIdKey, topics};
use accord_runtime::http::routes::Route;
use accord_runtime::{
    Authenticator, Deps, ServiceHost,
    json::SchemaValidator,
    secret::{ConfigSecret, decode_key, load_or_generate_key},
    service::at_least,
    stage::{self, StageOptions},
};
use anyhow::Context as _;
use axum::{Router, extract::FromRef};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use accord_normalizer::Limits;

use crate::{admission::Admission, status::StatusStore};

/// The report-id key file, in the gateway's data directory.
const REPORT_ID_KEY_FILE: &str = "report-id.key";

/// Gateway configuration: what one report may be, and how much of a partner's work may wait in the pipeline. The
/// report limits are also what the normalizer checks every raw record against (`accord_normalizer::Limits`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The largest report accepted, in bytes of the body as sent (413).
    pub max_report_bytes: usize,
    /// The most indicators one report may carry: declared, from its STIX patterns and found in its title and
    /// description, without repeats (422).
    pub max_indicators: usize,
    /// The most STIX patterns one report may carry (422).
    pub max_patterns: usize,
    /// The largest normalized record one report may become, in bytes of its JSON (422). It must fit the bus's record
    /// limit: checked at start.
    pub max_normalized_bytes: usize,
    /// The most reports of one partner accepted and not yet evaluated by the enforcer (429 with `Retry-After`
    /// beyond it).
    pub max_backlog_reports: usize,
    /// The most bytes of reports of one partner accepted and not yet evaluated (429 beyond it).
    pub max_backlog_bytes: usize,
    /// The most bytes one partner's submissions and amendments may take in a UTC day, counted as the body as sent
    /// plus the report once normalized (429 with `Retry-After` until midnight UTC beyond it; `quota`). 0: no quota.
    pub max_partner_bytes_per_day: u64,
    /// The most submissions of one partner validated at once (the others wait their turn). Default: half the
    /// machine's cores, at least one, so that one partner's large submissions leave cores to the others.
    pub max_concurrent_validations: usize,
    /// The secret report ids derived from idempotency keys are keyed with: 32 bytes in base64 (never printed). The
    /// same in every gateway of a deployment. Without it, the key file `gateway/report-id.key` in the data
    /// directory, generated on first start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_id_key: Option<ConfigSecret>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_report_bytes: 2 * 1024 * 1024,
            max_indicators: 10_000,
            max_patterns: 10_000,
            max_normalized_bytes: 8 * 1024 * 1024,
            max_backlog_reports: 1000,
            max_backlog_bytes: 16 * 1024 * 1024,
            max_partner_bytes_per_day: 4 * 1024 * 1024 * 1024,
            max_concurrent_validations: std::thread::available_parallelism()
                .map_or(1, |cores| (cores.get() / 2).max(1)),
            report_id_key: None,
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
        at_least("gateway.max_indicators", self.max_indicators as u64, 1)?;
        at_least("gateway.max_patterns", self.max_patterns as u64, 1)?;
        at_least(
            "gateway.max_normalized_bytes",
            self.max_normalized_bytes as u64,
            self.max_report_bytes as u64,
        )?;
        at_least(
            "gateway.max_backlog_reports",
            self.max_backlog_reports as u64,
            1,
        )?;
        at_least(
            "gateway.max_backlog_bytes",
            self.max_backlog_bytes as u64,
            self.max_report_bytes as u64,
        )?;
        if self.max_partner_bytes_per_day != 0 {
            at_least(
                "gateway.max_partner_bytes_per_day",
                self.max_partner_bytes_per_day,
                self.max_report_bytes as u64,
            )?;
        }
        at_least(
            "gateway.max_concurrent_validations",
            self.max_concurrent_validations as u64,
            1,
        )?;
        if let Some(key) = &self.report_id_key {
            decode_key(key.expose(), "gateway.report_id_key").map_err(|error| error.to_string())?;
        }
        Ok(())
    }

    /// Returns the limits every report is normalized within, at the gateway (on trial) and in the normalizer.
    pub fn limits(&self) -> Limits {
        Limits {
            max_indicators: self.max_indicators,
            max_patterns: self.max_patterns,
            max_normalized_bytes: self.max_normalized_bytes,
        }
    }

    /// Checks that the records these limits allow fit a bus that takes records of at most `max_record_bytes`: a
    /// normalized record (with its key and headers) and a raw record (the body, converted, in its envelope).
    ///
    /// # Errors
    /// A message naming the keys that disagree.
    pub fn check_bus(&self, max_record_bytes: usize) -> Result<(), String> {
        let largest = self
            .max_normalized_bytes
            .max(self.max_report_bytes)
            .saturating_add(RECORD_OVERHEAD_BYTES);
        if largest <= max_record_bytes {
            return Ok(());
        }
        Err(format!(
            "gateway.max_normalized_bytes ({}) and gateway.max_report_bytes ({}) allow records of up to {largest} \
             bytes, but the bus takes records of at most {max_record_bytes} bytes (the embedded log: 16 MiB; \
             kafka: `max_record_bytes` in the bus url); lower the gateway's limits or raise the bus's",
            self.max_normalized_bytes, self.max_report_bytes
        ))
    }
}

/// What a record adds to what the gateway's limits measure: key, headers and envelope fields.
pub const RECORD_OVERHEAD_BYTES: usize = 64 * 1024;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    pub(crate) deps: Deps,
    pub(crate) config: Arc<Config>,
    pub(crate) schema: Arc<SchemaValidator>,
    pub(crate) status: StatusStore,
    pub(crate) admission: Arc<Admission>,
    pub(crate) report_id_key: Arc<ReportIdKey>,
    /// Serializes amendments and retractions, so that `If-Match` is checked against the version replaced.
    pub(crate) amendments: Arc<tokio::sync::Mutex<()>>,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Authenticator {
        state.deps.auth.clone()
    }
}

impl AppState {
    /// Builds the state: compiles the report schema, opens the status store in the data directory and loads the
    /// report-id key.
    ///
    /// # Errors
    /// Fails when the schema does not compile, the store cannot be opened or the key cannot be had.
    pub fn new(config: Config, deps: Deps) -> anyhow::Result<Self> {
        let admission = Admission::new(
            config.max_backlog_reports,
            config.max_backlog_bytes,
            config.max_concurrent_validations,
        );
        let schema = reports::report_schema()?;
        let dir = deps.data_dir.join("gateway");
        let status = StatusStore::open_with(
            &dir,
            deps.memory.gateway_cache_bytes(),
            Some(deps.health.clone()),
        )?;
        let key = load_or_generate_key(
            config.report_id_key.as_ref(),
            "gateway.report_id_key",
            &dir.join(REPORT_ID_KEY_FILE),
        )
        .context("failed to load the report-id key")?;
        let fingerprint = hex::encode(&Sha256::digest(key)[..8]);
        tracing::info!(%fingerprint, "report ids keyed (every gateway of a deployment must show the same fingerprint)");
        Ok(Self {
            deps,
            config: Arc::new(config),
            schema: Arc::new(schema),
            status,
            admission,
            report_id_key: Arc::new(ReportIdKey::new(key)),
            amendments: Arc::new(tokio::sync::Mutex::new(())),
        })
    }
}

/// Returns the gateway's routes: [`route_table`].
pub fn router(state: AppState) -> Router {
    routes().with_state(state)
}

/// The routes [`router`] serves (besides [`accord_runtime::http::routes::operational`], which every process serves).
pub fn route_table() -> Vec<Route> {
    ROUTES.to_vec()
}

accord_runtime::route_table! {
    /// The gateway's routes, as data.
    const ROUTES;
    /// The gateway's routes, state-less.
    fn routes() -> Router<AppState>;
    POST "/v1/reports" => reports::submit,
    GET "/v1/reports" => reports::list,
    GET "/v1/reports/counts" => counts::counts,
    // `POST /v1/feedback` is search's: a front door routes this path by method (decision 0074).
    GET "/v1/feedback" => feedback::list,
    GET "/v1/pipeline/counts" => pipeline::counts,
    GET "/v1/reports/{id}" => reports::status,
    PUT "/v1/reports/{id}" => reports::owned::amend,
    DELETE "/v1/reports/{id}" => reports::owned::retract,
    POST "/v1/indicators/retract" => reports::owned::post_retract_indicators,
    // TAXII 2.1 writes (search serves the rest of /taxii2/, `GET` on the same objects path included; `accord up`
    // merges the two).
    POST "/taxii2/accord/collections/{collection}/objects/" => taxii::add_objects,
    GET "/taxii2/accord/status/{status}/" => taxii::status,
}

/// The topics the status store is derived from, one follower each (plus `reports.feedback`).
const STATUS_TOPICS: [&str; 4] = [
    topics::REPORTS_RAW,
    topics::REPORTS_NORMALIZED,
    topics::REPORTS_REJECTED,
    topics::REPORTS_RELEASABLE,
];

/// The status followers' consumer group: on Kafka one group per topic and data directory
/// (`gateway-status.<topic>@<id>`, [`accord_runtime::Deps::store_group_of`]), so every gateway replica keeps the status
/// of every report, whichever replica took it.
const STATUS_GROUP: &str = "gateway-status";

/// Starts the gateway in `host`: its status followers (one per topic the status is derived from) and its routes; it
/// provides its state to the web console of the same process. A status store set aside as damaged is refilled from
/// the same topics first, by the same followers under a group of their own ([`accord_runtime::refill`]); the live
/// followers wait for it.
///
/// # Errors
/// Fails when the report schema does not compile or the status store cannot be opened.
pub async fn start(config: Config, host: &mut ServiceHost) -> anyhow::Result<()> {
    let state = AppState::new(config, host.deps().clone())?;
    let (gate, mut refilling) = accord_runtime::refill::prepare(
        state.status.pending(),
        &state.deps.store_group(STATUS_GROUP),
        &state.deps.health,
    );
    for (index, (name, topic, follower)) in status_followers(&state).into_iter().enumerate() {
        let options = StageOptions {
            name,
            topic,
            group: state.deps.store_group_of(STATUS_GROUP, topic),
            batch_size: 1024,
            linger: std::time::Duration::ZERO,
        };
        let live = stage::run(state.deps.bus.clone(), options, follower, host.shutdown());
        if index > 0 {
            host.spawn_critical(name, gate.clone().then(live));
            continue;
        }
        // The first follower runs the refill, if any; the others wait behind the gate.
        let (refill, bus, shutdown) = (refilling.take(), state.deps.bus.clone(), host.shutdown());
        let refiller = state.clone();
        host.spawn_critical(name, async move {
            let followers = || refill_followers(&refiller);
            accord_runtime::refill::then(refill, &bus, followers, &shutdown, live).await
        });
    }
    host.provide(state.clone());
    host.mount(router(state));
    Ok(())
}

/// The followers that derive the status store: one per status topic, and the feedback follower.
fn status_followers(state: &AppState) -> Vec<(&'static str, &'static str, Box<dyn stage::Stage>)> {
    let mut followers: Vec<(&'static str, &'static str, Box<dyn stage::Stage>)> = STATUS_TOPICS
        .into_iter()
        .map(|topic| {
            let follower = status::Follower::new(
                state.status.clone(),
                Arc::clone(&state.admission),
                topic,
                Some(state.deps.bus.clone()),
            );
            (
                "gateway-status",
                topic,
                Box::new(follower) as Box<dyn stage::Stage>,
            )
        })
        .collect();
    followers.push((
        "gateway-feedback",
        topics::REPORTS_FEEDBACK,
        Box::new(status::feedback::FeedbackFollower::new(
            state.status.clone(),
        )),
    ));
    followers
}

/// The same followers, for the refill of a set-aside status store.
fn refill_followers(state: &AppState) -> Vec<accord_runtime::refill::Follower> {
    status_followers(state)
        .into_iter()
        .map(|(_, topic, stage)| accord_runtime::refill::Follower {
            name: "gateway-status-refill",
            topic,
            stage,
        })
        .collect()
}
