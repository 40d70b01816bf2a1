//! The enforcer: evaluates every MoU in force against each normalized report and writes one [`ReleaseSet`] per
//! report to [`topics::REPORTS_RELEASABLE`]: one redacted view per distinct release (see `accord_policy::release`).
//!
//! - [`store`]: a durable copy of every normalized report, by id and by partner.
//! - The stage: store the batch, evaluate it (off the async runtime), publish the release sets, then commit the
//!   offsets. Batches are made round-robin by partner (`accord_runtime::stage::Fairness`); a release set too large
//!   for the bus becomes a withdrawal and a dead letter (`publish_releases`), never an endless retry.
//! - [`reevaluate`]: when an MoU changes (new version, suspend, reactivate, revoke), reaches `effective_from` or
//!   `expires_at`, or an organization changes (an agency's country), the reports of the affected partners are
//!   evaluated again and their release sets replace the indexed ones: widening releases earlier reports, narrowing
//!   and withdrawal reach every indexed copy.
//! - `control`: a partner's retractions (issue 19): a retracted report's stored copy is removed and a tombstone
//!   kept, and an empty release set withdraws every view of it; retracted indicator values are removed from every
//!   report of the partner sent before the retraction, stored or still to come, on every replica (decision 0083).
//! - [`retention`]: reports past every retention that could apply are withdrawn from the index and removed from
//!   the store.
//! - `rederive`: a release set the indexer could not read (damaged on the bus) is evaluated again from the store
//!   and published anew, so the report is served again without an operator.
//! - `GET /v1/explain`: why a report is or is not visible to an agency, and what is redacted.
//! - `POST /v1/mous/preview`: what a draft MoU would change, per agency, without changing anything.
//!
//! Evaluations are ordered by one read-write lock and always use the directory snapshot taken inside it: the stage's
//! lanes evaluate new reports under the read side at once (each lane holds another partner's reports, so no report
//! is in two lanes), re-evaluations and retention under the write side, after every lane's batch is published. So a
//! report's release sets are published in the order of the snapshots they were computed from: a later release set
//! is never based on older policy than an earlier one. A re-evaluation after a policy change takes the write side a
//! page of reports at a time (`stored`), each page read and evaluated inside it, so that new reports are evaluated
//! between two pages rather than after a walk over millions.

mod catalog;
mod control;
mod explain;
mod metrics;
mod owned;
mod partners;
mod preview;
mod rederive;
pub mod reevaluate;
mod refill;
pub mod retention;
pub mod store;
mod stored;

pub use crate::{explain::explain_release, preview::preview_mou};

use std::sync::Arc;

use accord_bus::{BusClient, Delivery, Record};
use accord_domain::{NormalizedReport, ReleaseSet, Timestamp, topics};
use accord_runtime::http::routes::Route;
use accord_runtime::{
    Authenticator, Deps, Directory, ServiceHost,
    directory::Snapshot,
    service::at_least,
    stage::{self, Fairness, Stage, StageOptions},
};
use async_trait::async_trait;
use axum::{Router, extract::FromRef};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::store::ReportStore;

/// Enforcer configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Consumer group.
    pub group: String,
    /// Largest batch.
    pub batch_size: usize,
    /// Release sets published per bus write during a re-evaluation.
    pub reevaluation_chunk: usize,
    /// Largest batch, in bytes of normalized records: a batch closes once it holds this much.
    pub batch_bytes: usize,
    /// The most normalized records read ahead of evaluation, among which batches are made round-robin by partner.
    pub window: usize,
    /// The most bytes of normalized records read ahead.
    pub window_bytes: usize,
    /// Batches evaluated at once, each of one partner: a partner with a backlog or heavy reports holds one lane.
    pub lanes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            group: "enforcer".to_owned(),
            batch_size: 256,
            reevaluation_chunk: 512,
            batch_bytes: 1024 * 1024,
            window: 4096,
            window_bytes: 64 * 1024 * 1024,
            lanes: 4,
        }
    }
}

impl Config {
    /// Checks the values at start, naming the key of the first bad one.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        at_least("enforcer.batch_size", self.batch_size as u64, 1)?;
        at_least("enforcer.lanes", self.lanes as u64, 1)?;
        at_least(
            "enforcer.reevaluation_chunk",
            self.reevaluation_chunk as u64,
            1,
        )?;
        at_least("enforcer.batch_bytes", self.batch_bytes as u64, 1024)?;
        at_least(
            "enforcer.window",
            self.window as u64,
            self.batch_size as u64,
        )?;
        at_least(
            "enforcer.window_bytes",
            self.window_bytes as u64,
            self.batch_bytes as u64,
        )
    }
}

/// The enforcer's shared state.
#[derive(Clone)]
pub struct AppState {
    pub(crate) config: Arc<Config>,
    pub(crate) deps: Deps,
    pub(crate) store: ReportStore,
    /// Every report of the deployment, for explanations and previews (`catalog`): the store itself on the embedded
    /// log.
    pub(crate) catalog: ReportStore,
    /// Orders evaluations (see the crate docs): the stage's lanes evaluate new reports under the read side, at once;
    /// re-evaluations (a page at a time) and retention take the write side.
    pub(crate) evaluation: Arc<RwLock<()>>,
    /// The one MoU validation (shared with admin), for previews of drafts.
    pub(crate) mou_validator: Arc<accord_domain::MouValidator>,
    /// Wakes the watcher when reports were stored: their retention may end before its next wake-up.
    pub(crate) stored: Arc<tokio::sync::Notify>,
    /// The partitions of `reports.normalized` this replica owns, once its stage has subscribed (`owned`).
    pub(crate) partitions: Arc<owned::Partitions>,
    /// Orders a partner's lane and its indicator retractions (`partners`).
    pub(crate) partners: partners::PartnerLocks,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Authenticator {
        state.deps.auth.clone()
    }
}

impl AppState {
    /// Builds the state and opens the report store in `<data>/enforcer`.
    ///
    /// # Errors
    /// Fails when the store cannot be opened.
    pub fn new(config: Config, deps: Deps) -> anyhow::Result<Self> {
        let store = ReportStore::open_with(
            &deps.data_dir.join("enforcer"),
            deps.memory.enforcer_cache_bytes(),
            Some(deps.health.clone()),
        )?;
        let catalog = catalog::open(&deps, &store)?;
        Ok(Self {
            config: Arc::new(config),
            deps,
            store,
            catalog,
            evaluation: Arc::new(RwLock::new(())),
            mou_validator: Arc::new(accord_domain::MouValidator::new()?),
            stored: Arc::new(tokio::sync::Notify::new()),
            partitions: Arc::default(),
            partners: partners::PartnerLocks::default(),
        })
    }
}

/// Evaluates one report against the directory's current MoUs, now.
pub fn evaluate(report: &NormalizedReport, directory: &Directory, trigger: &str) -> ReleaseSet {
    evaluate_at(report, &directory.snapshot(), chrono::Utc::now(), trigger)
}

/// Evaluates one report against the MoUs and organizations of `snapshot` at `at`: the release set the enforcer
/// publishes (and the indexer indexes) for it.
pub fn evaluate_at(
    report: &NormalizedReport,
    snapshot: &Snapshot,
    at: Timestamp,
    trigger: &str,
) -> ReleaseSet {
    let views = accord_policy::release(report, at, &snapshot.mous, &snapshot.orgs);
    ReleaseSet {
        report_id: report.id.clone(),
        partner: report.partner.clone(),
        evaluated_at: at,
        indicators: report.indicators.len(),
        views,
        trigger: Some(trigger.to_owned()),
        revoked: Vec::new(),
    }
}

/// Returns the bus record of a release set, marked background when it was evaluated in the background
/// ([`stage::mark_priority`]).
pub(crate) fn release_record(release: &ReleaseSet) -> anyhow::Result<Record> {
    let mut record = stage::json_record(release.report_id.as_str(), release)?;
    record.headers.push((
        topics::HEADER_PARTNER.to_owned(),
        release.partner.to_string(),
    ));
    stage::mark_priority(&mut record);
    Ok(record)
}

/// Encodes release sets as [`release_record`] does. A release set of a heavy report is megabytes of JSON: the
/// encoding runs off the async runtime, at the calling task's priority ([`accord_runtime::cpu`]), which also marks
/// the records (on the runtime: the priority is the task's).
async fn encode_releases(
    releases: Vec<ReleaseSet>,
) -> anyhow::Result<(Vec<ReleaseSet>, Vec<Record>)> {
    let (releases, records) = accord_runtime::cpu::run(move || {
        let records = releases
            .iter()
            .map(release_record)
            .collect::<anyhow::Result<Vec<_>>>();
        (releases, records)
    })
    .await?;
    let mut records = records?;
    for record in &mut records {
        stage::mark_priority(record);
    }
    Ok((releases, records))
}

/// Publishes release sets to [`topics::REPORTS_RELEASABLE`]. A release set the bus can never take (larger than its
/// record limit: a large report released under many MoUs) is replaced by a withdrawal of every view of its report —
/// fail closed: views an earlier release set put in the index must not outlive a change that narrowed them — and a
/// dead letter on `reports.rejected` tells the partner why (reason `too-large`, stage `enforcer`).
///
/// # Errors
/// A transient bus failure: the caller retries.
pub(crate) async fn publish_releases(
    bus: &BusClient,
    releases: Vec<ReleaseSet>,
) -> anyhow::Result<()> {
    let (releases, records) = encode_releases(releases).await?;
    publish_encoded(bus, &releases, records).await
}

/// Publishes release sets already encoded as [`release_record`] (`records[i]` the record of `releases[i]`), as
/// [`publish_releases`] does.
///
/// # Errors
/// A transient bus failure: the caller retries.
pub(crate) async fn publish_encoded(
    bus: &BusClient,
    releases: &[ReleaseSet],
    records: Vec<Record>,
) -> anyhow::Result<()> {
    let outcome = stage::publish_or_refuse(bus, topics::REPORTS_RELEASABLE, records).await?;
    if outcome.refused.is_empty() {
        return Ok(());
    }
    let mut withdrawals = Vec::with_capacity(outcome.refused.len());
    let mut dead_letters = Vec::with_capacity(outcome.refused.len());
    for refused in outcome.refused {
        let release = &releases[refused.index];
        withdrawals.push(release_record(&ReleaseSet {
            report_id: release.report_id.clone(),
            partner: release.partner.clone(),
            evaluated_at: release.evaluated_at,
            indicators: release.indicators,
            views: Vec::new(),
            trigger: Some(format!(
                "{} (the release set could not be published: {})",
                release.trigger.as_deref().unwrap_or("evaluation"),
                refused.reason
            )),
            revoked: release.revoked.clone(),
        })?);
        dead_letters.push(stage::rejection_record(
            &release.report_id,
            Some(&release.partner),
            "enforcer",
            refused.reason,
            refused.detail,
        )?);
    }
    bus.publish(topics::REPORTS_RELEASABLE, withdrawals).await?;
    stage::publish_dead_letters(bus, dead_letters).await
}

#[derive(Clone)]
struct Enforcer {
    state: AppState,
}

#[async_trait]
impl Stage for Enforcer {
    /// Evaluates the batch's reports and acts on its controls (retractions) in the batch's order: the reports before
    /// a control are stored and published before it acts, so a retraction right behind its report removes it. Holds
    /// the ownership guard throughout and leaves out the records of partitions no longer owned (read before a
    /// revocation: their new owner processes them); a batch with records of a partition owned again but not restored
    /// yet fails, and is offered again once it is (`owned`).
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let held = self.state.partitions.hold().await;
        let owned = &held.acting;
        if let Some(delivery) = batch.iter().find(|delivery| {
            let partition = delivery.position.partition;
            held.owned.owns(partition) && !owned.owns(partition)
        }) {
            // Read before the partition was revoked and assigned back: offered again once it is restored.
            anyhow::bail!(
                "partition {} is being restored",
                delivery.position.partition
            );
        }
        let mut reports: Vec<Delivery> = Vec::new();
        for delivery in batch {
            if !owned.owns(delivery.position.partition) {
                continue;
            }
            if accord_domain::control::is_control(&delivery.record.headers) {
                self.reports(&std::mem::take(&mut reports)).await?;
                control::apply(&self.state, delivery).await?;
            } else {
                reports.push(delivery.clone());
            }
        }
        self.reports(&reports).await
    }
}

impl Enforcer {
    /// Stores and evaluates reports, and publishes their release sets. A report its partner retracted is not stored
    /// again and is released to no one.
    async fn reports(&self, batch: &[Delivery]) -> anyhow::Result<()> {
        let decoded = stage::decode_batch::<NormalizedReport>("enforcer", batch).await;
        if !decoded.dead_letters.is_empty() {
            self.state
                .deps
                .bus
                .publish(topics::REPORTS_REJECTED, decoded.dead_letters)
                .await?;
        }
        let reports: Vec<(NormalizedReport, u32)> = decoded
            .items
            .into_iter()
            .map(|(index, report)| (report, batch[index].position.partition))
            .collect();
        if reports.is_empty() {
            return Ok(());
        }
        let store = self.state.store.clone();
        // From storing to publishing, no indicator retraction of these partners runs (`partners`).
        let _partners = self
            .state
            .partners
            .lock(reports.iter().map(|(report, _)| &report.partner))
            .await;
        // Foreground threads whatever the batch's priority: the store's one write transaction must not wait for a
        // background thread to be scheduled while another partner's batch waits for it (priority inversion).
        let (retracted, previous, reports) = tokio::task::spawn_blocking(move || {
            // The versions amendments replace: what they no longer release is revoked for TAXII pollers.
            let only: Vec<NormalizedReport> =
                reports.iter().map(|(report, _)| report.clone()).collect();
            let previous = control::replaced(&store, &only)?;
            // Stripped of the values their partner retracted after sending them.
            let (mut reports, partitions): (Vec<_>, Vec<_>) =
                control::without_older_versions(reports, &previous, |(report, _)| report)
                    .into_iter()
                    .unzip();
            Ok::<_, anyhow::Error>((
                store.put_placed(&mut reports, &partitions)?,
                previous,
                reports,
            ))
        })
        .await??;
        self.state.stored.notify_one();
        let _evaluation = self.state.evaluation.read().await;
        // One snapshot for the batch, taken inside the lock; evaluation (rendering every view) is CPU work, off the
        // async runtime at the batch's priority (`accord_runtime::cpu`).
        let snapshot = self.state.deps.directory.snapshot();
        let at = chrono::Utc::now();
        let releases = accord_runtime::cpu::run(move || {
            reports
                .iter()
                .map(|report| {
                    if retracted.contains(&report.id) {
                        return control::withdrawal(report, at, control::RETRACTED_TRIGGER);
                    }
                    let Some(revision) = &report.revision else {
                        return evaluate_at(
                            report,
                            &snapshot,
                            at,
                            accord_domain::view::TRIGGER_RECEIVED,
                        );
                    };
                    let trigger = format!("amended by the partner (version {})", revision.version);
                    let mut release = evaluate_at(report, &snapshot, at, &trigger);
                    if let Some(before) = previous.get(&report.id) {
                        release.revoked = control::superseded(before, &release, &snapshot, at);
                    }
                    release
                })
                .collect::<Vec<_>>()
        })
        .await?;
        for release in &releases {
            ::metrics::counter!(crate::metrics::VIEWS).increment(release.views.len() as u64);
        }
        publish_releases(&self.state.deps.bus, releases).await
    }
}

/// Returns the enforcer's routes (`GET /v1/explain`, `POST /v1/mous/preview`): [`route_table`].
pub fn router(state: AppState) -> Router {
    routes().with_state(state)
}

/// The routes [`router`] serves (besides [`accord_runtime::http::routes::operational`], which every process serves).
pub fn route_table() -> Vec<Route> {
    ROUTES.to_vec()
}

accord_runtime::route_table! {
    /// The enforcer's routes, as data.
    const ROUTES;
    /// The enforcer's routes, state-less.
    fn routes() -> Router<AppState>;
    GET "/v1/explain" => explain::explain,
    // Beside admin's `/v1/mous/{id}`: in one process axum prefers the literal segment, a front door routes this path
    // here before admin's prefix (decision 0074).
    POST "/v1/mous/preview" => preview::preview,
}

/// Starts the enforcer in `host`: its stage, the watcher that re-evaluates stored reports on policy changes and
/// retention ends, its routes (explain, preview) and, on a shared bus, the follower of its catalog (`catalog`); a
/// store set aside as damaged is refilled before the first two start (`refill`).
///
/// # Errors
/// Fails when the report store cannot be opened.
pub async fn start(config: Config, host: &mut ServiceHost) -> anyhow::Result<()> {
    let state = AppState::new(config, host.deps().clone())?;
    let options = StageOptions {
        name: "enforcer",
        topic: topics::REPORTS_NORMALIZED,
        group: state.config.group.clone(),
        batch_size: state.config.batch_size,
        linger: std::time::Duration::ZERO,
    };
    let fairness = Fairness {
        header: topics::HEADER_PARTNER,
        window: state.config.window,
        window_bytes: state.config.window_bytes,
        batch_bytes: state.config.batch_bytes,
        lanes: state.config.lanes,
    };
    // A set-aside store is refilled first; everything that reads or writes it waits behind the gate.
    let (gate, refilling) = accord_runtime::refill::prepare(
        state.store.pending(),
        &state.config.group,
        &state.deps.health,
    );
    let watcher = reevaluate::run(state.clone(), host.shutdown());
    host.spawn_critical(
        "enforcer-watcher",
        gate.clone().then(async move {
            watcher.await;
            Ok(())
        }),
    );
    host.spawn_critical(
        "enforcer-rederive",
        gate.clone()
            .then(rederive::run(state.clone(), host.shutdown())),
    );
    host.spawn_critical(
        "enforcer-retractions",
        gate.then(control::follow(state.clone(), host.shutdown())),
    );
    if catalog::separate(&state.deps) {
        host.spawn_critical(
            "enforcer-catalog",
            catalog::follow(state.clone(), host.shutdown()),
        );
    }
    let bus: BusClient = state.deps.bus.clone();
    let live = stage::run_fair(
        owned::OwnedBus::client(&state),
        options,
        fairness,
        Enforcer {
            state: state.clone(),
        },
        host.shutdown(),
    );
    let store = state.store.clone();
    let shutdown = host.shutdown();
    host.spawn_critical("enforcer", async move {
        let followers = || refill::followers(&store);
        accord_runtime::refill::then(refilling, &bus, followers, &shutdown, live).await
    });
    // The web console's in-process backend previews drafts with this state.
    host.provide(state.clone());
    host.mount(router(state));
    Ok(())
}
