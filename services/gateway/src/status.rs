//! The partner-facing status of each report, derived from the bus.
//!
//! A follower consumes the raw, normalized, rejected and releasable topics (consumer group `gateway-status`; on Kafka
//! one group per topic and data directory, `gateway-status.<topic>@<id>`, so that every gateway replica reads every
//! partition: [`accord_runtime::Deps::store_group_of`]) and merges what it sees into one record per report. The submit handler also writes `accepted` at once (without
//! fsync) so that a GET right after the 202 finds the report; after a crash the follower re-derives it from the bus.
//!
//! Beside the records, the store keeps each partner's reports in the order they were received (module `listing`),
//! in the same transaction, so that a partner can list its own reports newest first (`GET /v1/reports`), and counts
//! them per day of reception and stage (module `daily`), so that its dashboard reads a month in constant time
//! (`GET /v1/reports/counts`). It also aggregates agencies' feedback on each report (module `feedback`), and counts
//! what each partner's submissions took per day, for its daily quota (module `quota`).

mod daily;
pub mod feedback;
mod listing;
pub mod owned;
mod pipeline;
mod quota;
mod reassert;

pub use daily::{DayCounts, STAGES, stage};
pub use listing::{Listed, ListingCursor};
pub use owned::RetractionView;
pub use pipeline::PipelineDay;
pub use quota::Charge;

use std::{collections::BTreeSet, path::Path, sync::Arc};

use accord_bus::Delivery;
use accord_domain::{OrgId, Rejection, SubmittedObject, Warning, topics};
use accord_runtime::stage::Stage;

use crate::admission::Admission;
use accord_runtime::{health::Health, memory::MemoryConfig, store::HealingDatabase};
use async_trait::async_trait;
use redb::{Durability, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

const REPORTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("reports");

/// One rejection as shown to the partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionView {
    /// Stable reason.
    pub reason: String,
    /// Human detail.
    pub detail: String,
}

/// A withdrawal receipt: the report stopped being released to `agency` at `at` because of `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// The agency that no longer receives the report.
    pub agency: String,
    /// When the evaluation that withdrew it was made.
    pub at: String,
    /// What caused it (`mou mou-x v3 (suspended)`).
    pub reason: String,
}

/// Where a report is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportStatus {
    /// Report id.
    pub id: String,
    /// Its title as the partner sent it (shown to that partner only; empty when not known yet).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Submitting partner (never shown to others).
    pub partner: String,
    /// `accepted`, `normalized`, `released`, `rejected` or `retracted` (a tombstone: its partner retracted it).
    pub status: String,
    /// The current version: 1 as first submitted, n + 1 after each amendment.
    #[serde(default = "owned::first_version")]
    pub version: u32,
    /// Who amended it last (the token's public id) and when (RFC 3339); `None` for version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amended: Option<owned::AmendedView>,
    /// The retraction, once its partner retracted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retraction: Option<RetractionView>,
    /// Canonical indicators found.
    pub indicators: usize,
    /// Agencies it is released to.
    pub released_to: Vec<String>,
    /// Why it was rejected.
    pub rejections: Vec<RejectionView>,
    /// Every time the report left an agency: when and why (withdrawal receipts).
    #[serde(default)]
    pub withdrawals: Vec<Withdrawal>,
    /// SHA-256 of the submitted body (idempotency).
    #[serde(default)]
    pub body_sha256: String,
    /// When the gateway accepted it (RFC 3339).
    #[serde(default)]
    pub received_at: String,
    /// When the enforcer last evaluated it (RFC 3339): a report evaluated and released to nobody is withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<String>,
    /// The STIX objects of a TAXII submission (its status resource); empty for other submissions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<SubmittedObject>,
    /// What lenient handling left out of the submission.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

impl ReportStatus {
    /// A report just accepted, with nothing known downstream yet.
    pub fn accepted(id: impl Into<String>, partner: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            title: String::new(),
            partner: partner.into(),
            status: "accepted".to_owned(),
            version: 1,
            amended: None,
            retraction: None,
            indicators: 0,
            released_to: Vec::new(),
            rejections: Vec::new(),
            withdrawals: Vec::new(),
            body_sha256: String::new(),
            received_at: String::new(),
            evaluated_at: None,
            objects: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

fn rank(status: &str) -> u8 {
    match status {
        "accepted" => 0,
        "normalized" => 1,
        "released" => 2,
        _ => 3,
    }
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[error("status store failed: {context}")]
pub struct StatusError {
    context: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn failed(context: &'static str) -> impl FnOnce(redb::Error) -> StatusError {
    move |error| StatusError {
        context,
        source: Box::new(error),
    }
}

/// The status store (redb, in `<data>/gateway/status.redb`).
#[derive(Clone)]
pub struct StatusStore {
    db: Arc<HealingDatabase>,
    /// Set when the file was damaged and replaced by a new one at open (or such a refill was interrupted): the
    /// gateway refills it from the bus before its followers start ([`crate::start`]).
    pending: Option<accord_runtime::refill::Pending>,
}

/// A change to one report's status.
#[derive(Debug, Clone)]
pub enum Change {
    /// Accepted by the gateway.
    Accepted {
        id: String,
        partner: String,
        /// The report's title (empty when not known).
        title: String,
        body_sha256: String,
        /// When it was accepted (RFC 3339).
        received_at: String,
        /// The STIX objects of a TAXII submission.
        objects: Vec<SubmittedObject>,
        /// What lenient handling left out.
        warnings: Vec<Warning>,
    },
    /// Normalized with this many indicators.
    Normalized {
        id: String,
        partner: String,
        indicators: usize,
    },
    /// Rejected.
    Rejected {
        id: String,
        partner: Option<String>,
        rejection: RejectionView,
        /// Whether the report is now rejected: not for a release set the indexer could not read, which the
        /// enforcer re-derives ([`Rejection::is_rederived`]); the rejection is listed either way.
        rejects: bool,
    },
    /// A new version accepted by the gateway (`PUT /v1/reports/{id}`).
    Amended(owned::Amendment),
    /// Retracted by its partner (`DELETE /v1/reports/{id}`).
    Retracted {
        id: String,
        partner: String,
        retraction: RetractionView,
    },
    /// Evaluated by the enforcer.
    Released {
        id: String,
        partner: String,
        indicators: usize,
        released_to: Vec<String>,
        /// When the evaluation was made.
        at: String,
        /// What caused it.
        trigger: String,
        /// The agencies a retraction or an amendment revoked objects from (the release set's `revoked`): they had
        /// the report just before, also when the release set that showed it to them is no longer on the bus
        /// (compacted, `accord_bus::KEYED_TOPICS`).
        revoked_from: Vec<String>,
    },
}

impl StatusStore {
    /// Opens or creates the store in `dir`.
    ///
    /// # Errors
    /// Fails when the file cannot be opened.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        Self::open_with(dir, MemoryConfig::default().gateway_cache_bytes(), None)
    }

    /// Opens or creates the store in `dir`, reporting its failures and recoveries to `health`: after an I/O error
    /// (a full disk) it reopens itself with backoff ([`accord_runtime::store`]). The store is derived from the bus:
    /// a file damaged beyond repair is set aside and a new one created, which [`StatusStore::pending`] then asks to
    /// refill.
    ///
    /// # Errors
    /// Fails when the file cannot be opened.
    pub fn open_with(
        dir: &Path,
        cache_bytes: usize,
        health: Option<Health>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        // A bounded page cache: the store grows with every report ever accepted, the working set does not.
        let (db, pending) = HealingDatabase::open_derived(
            "gateway status store",
            &dir.join("status.redb"),
            cache_bytes,
            health,
        )?;
        let txn = db.begin_write()?;
        txn.open_table(REPORTS)?;
        listing::ensure(&txn)?;
        daily::ensure(&txn)?;
        pipeline::ensure(&txn)?;
        feedback::ensure(&txn)?;
        quota::ensure(&txn)?;
        txn.commit()?;
        Ok(Self { db, pending })
    }

    /// What must be refilled before the followers start, if anything (see [`StatusStore::open_with`]).
    pub fn pending(&self) -> Option<accord_runtime::refill::Pending> {
        self.pending.clone()
    }

    /// Returns a report's status.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn get(&self, id: &str) -> Result<Option<ReportStatus>, StatusError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| failed("failed to begin read")(e.into()))?;
        let table = txn
            .open_table(REPORTS)
            .map_err(|e| failed("failed to open table")(e.into()))?;
        let Some(value) = table
            .get(id)
            .map_err(|e| failed("failed to read status")(e.into()))?
        else {
            return Ok(None);
        };
        Ok(accord_runtime::packed::from_slice(value.value()).ok())
    }

    /// Applies changes in one transaction; `durable` syncs to disk.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn apply(&self, changes: Vec<Change>, durable: bool) -> Result<(), StatusError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| failed("failed to begin write")(e.into()))?;
        let durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        txn.set_durability(durability)
            .map_err(|e| failed("failed to set durability")(e.into()))?;
        {
            let mut table = txn
                .open_table(REPORTS)
                .map_err(|e| failed("failed to open table")(e.into()))?;
            let mut listing = listing::open(&txn)?;
            let mut counters = daily::open(&txn)?;
            let mut pipeline = pipeline::open(&txn)?;
            for change in changes {
                let id = change_id(&change).to_owned();
                let current = table
                    .get(id.as_str())
                    .map_err(|e| failed("failed to read status")(e.into()))?
                    .and_then(|value| {
                        accord_runtime::packed::from_slice::<ReportStatus>(value.value()).ok()
                    });
                let previous_key = current.as_ref().and_then(listing::key);
                let previous_counter = current.as_ref().and_then(daily::key);
                let previous = pipeline::before(current.as_ref());
                let next = merge(current, change);
                listing::update(&mut listing, previous_key, &next)?;
                daily::update(&mut counters, previous_counter, &next)?;
                pipeline::update(&mut pipeline, previous, &next)?;
                let bytes = accord_runtime::packed::to_vec(&next).unwrap_or_default();
                table
                    .insert(id.as_str(), bytes.as_slice())
                    .map_err(|e| failed("failed to write status")(e.into()))?;
            }
        }
        txn.commit()
            .map_err(|e| failed("failed to commit status")(e.into()))?;
        Ok(())
    }
}

fn change_id(change: &Change) -> &str {
    match change {
        Change::Accepted { id, .. }
        | Change::Normalized { id, .. }
        | Change::Rejected { id, .. }
        | Change::Retracted { id, .. }
        | Change::Released { id, .. } => id,
        Change::Amended(amendment) => &amendment.id,
    }
}

/// Sets `field` to `value` unless `value` is empty (not known by this change).
fn keep_known(field: &mut String, value: String) {
    if !value.is_empty() {
        *field = value;
    }
}

fn merge(current: Option<ReportStatus>, change: Change) -> ReportStatus {
    let mut status =
        current.unwrap_or_else(|| ReportStatus::accepted(change_id(&change), String::new()));
    let raise = |status: &mut ReportStatus, to: &str| {
        if rank(to) > rank(&status.status) {
            status.status = to.to_owned();
        }
    };
    match change {
        Change::Accepted {
            partner,
            title,
            body_sha256,
            received_at,
            objects,
            warnings,
            ..
        } => {
            status.partner = partner;
            keep_known(&mut status.title, title);
            keep_known(&mut status.body_sha256, body_sha256);
            keep_known(&mut status.received_at, received_at);
            if !objects.is_empty() {
                status.objects = objects;
            }
            if !warnings.is_empty() {
                status.warnings = warnings;
            }
        }
        Change::Normalized {
            partner,
            indicators,
            ..
        } => {
            status.partner = partner;
            status.indicators = indicators;
            raise(&mut status, "normalized");
        }
        Change::Rejected {
            partner,
            rejection,
            rejects,
            ..
        } => {
            if let Some(partner) = partner {
                status.partner = partner;
            }
            if !status.rejections.contains(&rejection) {
                status.rejections.push(rejection);
            }
            if rejects {
                raise(&mut status, "rejected");
            }
        }
        Change::Amended(amendment) => owned::amend(&mut status, amendment),
        Change::Retracted {
            partner,
            retraction,
            ..
        } => owned::retract(&mut status, partner, retraction),
        Change::Released {
            partner,
            indicators,
            released_to,
            at,
            trigger,
            revoked_from,
            ..
        } => {
            let evaluation = Evaluation {
                released_to,
                revoked_from,
                at,
                trigger,
            };
            evaluated(&mut status, partner, indicators, evaluation);
        }
    }
    status
}

/// What one release set says of the report, for [`evaluated`].
struct Evaluation {
    released_to: Vec<String>,
    revoked_from: Vec<String>,
    at: String,
    trigger: String,
}

/// Applies an evaluation: an agency that had the report (it was released to it, or the release set revokes its
/// objects from it) and no longer has it gets one withdrawal receipt; a release set read again adds none.
fn evaluated(
    status: &mut ReportStatus,
    partner: String,
    indicators: usize,
    evaluation: Evaluation,
) {
    let Evaluation {
        released_to,
        revoked_from,
        at,
        trigger,
    } = evaluation;
    status.partner = partner;
    status.indicators = indicators;
    status.evaluated_at = Some(at.clone());
    let had: BTreeSet<String> = status.released_to.drain(..).chain(revoked_from).collect();
    for agency in had {
        let receipted = status
            .withdrawals
            .iter()
            .any(|withdrawal| withdrawal.agency == agency && withdrawal.at == at);
        if !released_to.contains(&agency) && !receipted {
            status.withdrawals.push(Withdrawal {
                agency,
                at: at.clone(),
                reason: trigger.clone(),
            });
        }
    }
    let released = !released_to.is_empty();
    status.released_to = released_to;
    // A rejected or retracted report stays so; otherwise the status follows the latest evaluation.
    if status.status != "rejected" && status.status != "retracted" {
        status.status = if released { "released" } else { "normalized" }.to_owned();
    }
}

/// Follows one topic into the store; on `reports.releasable` and `reports.rejected`, also settles the reports in
/// their partner's backlog ([`Admission`]): a report counts until the enforcer has evaluated it (or a stage rejected
/// it), so that a partner's backlog is bounded through the normalizer and the enforcer alike.
pub(crate) struct Follower {
    store: StatusStore,
    admission: Arc<Admission>,
    topic: &'static str,
    /// Where a retraction is published again when an amendment follows it on `reports.raw` (the `reassert`
    /// module); `None`: never.
    bus: Option<accord_bus::BusClient>,
}

impl Follower {
    pub(crate) fn new(
        store: StatusStore,
        admission: Arc<Admission>,
        topic: &'static str,
        bus: Option<accord_bus::BusClient>,
    ) -> Self {
        Self {
            store,
            admission,
            topic,
            bus,
        }
    }

    /// Publishes again the retractions that amendments in `changes` came after (the `reassert` module).
    async fn reassert(&self, changes: &[Change]) -> anyhow::Result<()> {
        let Some(bus) = self
            .bus
            .as_ref()
            .filter(|_| self.topic == topics::REPORTS_RAW)
        else {
            return Ok(());
        };
        if !changes
            .iter()
            .any(|change| matches!(change, Change::Amended(_)))
        {
            return Ok(());
        }
        let store = self.store.clone();
        let changes = changes.to_vec();
        let again =
            tokio::task::spawn_blocking(move || reassert::reassertions(&store, &changes)).await??;
        for retraction in again {
            tracing::warn!(
                report_id = %retraction.report_id,
                "an amendment came after the report's retraction on the bus: publishing the retraction again"
            );
            let control = accord_domain::Control::RetractReport(retraction);
            let record = crate::reports::owned::control_record(&control)?;
            bus.publish(topics::REPORTS_RAW, vec![record]).await?;
        }
        Ok(())
    }

    /// The change a delivery makes to the status; a report's version on `reports.raw` also adds its quota charge to
    /// `charges` (one sent before yesterday counts nothing any more).
    fn change(&self, delivery: &Delivery, charges: &mut Vec<Charge>) -> Option<Change> {
        let payload = &delivery.record.payload;
        match self.topic {
            topics::REPORTS_RAW if accord_domain::control::is_control(&delivery.record.headers) => {
                owned::control_change(payload)
            }
            topics::REPORTS_RAW => {
                let raw: heads::Raw = serde_json::from_slice(payload).ok()?;
                charges.extend(quota_charge(&raw, &delivery.record.headers));
                if let Some(revision) = raw.revision {
                    return Some(Change::Amended(owned::Amendment {
                        id: raw.id,
                        partner: raw.partner,
                        title: raw.payload.title,
                        body_sha256: String::new(),
                        revision,
                        warnings: raw.warnings,
                        received_at: raw.received_at,
                        objects: raw.objects,
                    }));
                }
                let body_sha256 = delivery
                    .record
                    .headers
                    .iter()
                    .find(|(name, _)| name == topics::HEADER_BODY_SHA256)
                    .map(|(_, digest)| digest.clone())
                    .unwrap_or_default();
                Some(Change::Accepted {
                    id: raw.id,
                    partner: raw.partner,
                    title: raw.payload.title,
                    body_sha256,
                    received_at: raw.received_at,
                    objects: raw.objects,
                    warnings: raw.warnings,
                })
            }
            topics::REPORTS_NORMALIZED => {
                let report: heads::Normalized = serde_json::from_slice(payload).ok()?;
                Some(Change::Normalized {
                    id: report.id,
                    partner: report.partner,
                    indicators: report.indicators.len(),
                })
            }
            topics::REPORTS_REJECTED => {
                let rejection: Rejection = serde_json::from_slice(payload).ok()?;
                Some(Change::Rejected {
                    id: rejection.report_id.to_string(),
                    partner: rejection.partner.as_ref().map(OrgId::to_string),
                    rejects: !rejection.is_rederived(),
                    rejection: RejectionView {
                        reason: rejection.reason,
                        detail: rejection.detail,
                    },
                })
            }
            _ => released(payload),
        }
    }
}

/// Returns the status change a release set makes.
fn released(payload: &[u8]) -> Option<Change> {
    let release: heads::Release = serde_json::from_slice(payload).ok()?;
    let released_to: BTreeSet<String> = release
        .views
        .into_iter()
        .flat_map(|view| view.grants.into_iter().map(|grant| grant.agency))
        .collect();
    Some(Change::Released {
        id: release.report_id,
        partner: release.partner,
        indicators: release.indicators,
        released_to: released_to.into_iter().collect(),
        at: release.evaluated_at,
        trigger: release
            .trigger
            .unwrap_or_else(|| "re-evaluation".to_owned()),
        revoked_from: release
            .revoked
            .into_iter()
            .map(|revoked| revoked.agency)
            .collect(),
    })
}

/// The few fields the status needs from each record: decoding only these skips the payloads, views and content.
mod heads {
    use accord_domain::{SubmittedObject, Warning};
    use serde::Deserialize;
    use serde::de::IgnoredAny;

    #[derive(Deserialize)]
    pub(super) struct Raw {
        pub(super) id: String,
        pub(super) partner: String,
        #[serde(default)]
        pub(super) received_at: String,
        #[serde(default)]
        pub(super) objects: Vec<SubmittedObject>,
        #[serde(default)]
        pub(super) warnings: Vec<Warning>,
        #[serde(default)]
        pub(super) payload: Payload,
        #[serde(default)]
        pub(super) revision: Option<accord_domain::Revision>,
    }

    /// The native report carried by a raw record: only its title.
    #[derive(Default, Deserialize)]
    pub(super) struct Payload {
        #[serde(default)]
        pub(super) title: String,
    }

    #[derive(Deserialize)]
    pub(super) struct Normalized {
        pub(super) id: String,
        pub(super) partner: String,
        pub(super) indicators: Vec<IgnoredAny>,
    }

    #[derive(Deserialize)]
    pub(super) struct Release {
        pub(super) report_id: String,
        pub(super) partner: String,
        pub(super) indicators: usize,
        pub(super) views: Vec<View>,
        pub(super) evaluated_at: String,
        #[serde(default)]
        pub(super) trigger: Option<String>,
        #[serde(default)]
        pub(super) revoked: Vec<Revoked>,
    }

    #[derive(Deserialize)]
    pub(super) struct Revoked {
        pub(super) agency: String,
    }

    #[derive(Deserialize)]
    pub(super) struct View {
        pub(super) grants: Vec<Grant>,
    }

    #[derive(Deserialize)]
    pub(super) struct Grant {
        pub(super) agency: String,
    }
}

#[async_trait]
impl Stage for Follower {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let mut charges = Vec::new();
        let changes: Vec<Change> = batch
            .iter()
            .filter_map(|delivery| self.change(delivery, &mut charges))
            .collect();
        let settled: Vec<String> = changes
            .iter()
            .filter(|change| matches!(change, Change::Released { .. } | Change::Rejected { .. }))
            .map(|change| change_id(change).to_owned())
            .collect();
        self.reassert(&changes).await?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            store.charge(&charges)?;
            store.apply(changes, true)
        })
        .await??;
        for report_id in settled {
            self.admission.settled(&report_id);
        }
        Ok(())
    }
}

/// The quota charge of a report's version read on `reports.raw`: what the gateway that took it wrote in
/// [`topics::HEADER_QUOTA_BYTES`], on the day it was sent; none for a record without the header (written before it)
/// or sent before yesterday (its day's counter is gone).
fn quota_charge(raw: &heads::Raw, headers: &[(String, String)]) -> Option<Charge> {
    let bytes = Charge::bytes_of(headers)?;
    let received = chrono::DateTime::parse_from_rfc3339(&raw.received_at).ok()?;
    let charge = Charge::new(
        &raw.partner,
        &raw.id,
        received.with_timezone(&chrono::Utc),
        raw.revision.as_ref(),
        bytes,
    );
    let yesterday = chrono::Utc::now().date_naive().pred_opt()?;
    (charge.day >= yesterday).then_some(charge)
}

#[cfg(test)]
mod tests;
