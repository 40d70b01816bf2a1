//! Feedback sightings per (report, indicator), for the `sightings` of indicator lookups (issue 16 item 4,
//! decision 0057).
//!
//! A follower of `reports.feedback` (consumer group `search-sightings`) adds the `count` of every `sighted` feedback
//! on an indicator to a counter per (report, indicator) in `<data>/search/sightings.redb`, and marks the record's id
//! as applied in the same transaction: a record delivered again (the bus is at-least-once) counts once. A lookup
//! sums the counters of the reports it shows the caller (re-checked, visible now), one read per visible report:
//! its cost grows with the views it answers, not with the feedback received, and feedback on a report hidden from the
//! caller is never read for it.
//! The store is derived state: a file damaged beyond repair is set aside at open and a new one refilled from the
//! start of `reports.feedback` (decision 0069).
//! Every search replica keeps the whole store: on Kafka the group is scoped to the data directory
//! (`search-sightings@<id>`, [`accord_runtime::Deps::store_group`]), so each replica reads every partition.

use std::{path::Path, sync::Arc};

use accord_bus::Delivery;
use accord_domain::{
    ReportId,
    feedback::{FeedbackKind, FeedbackRecord},
    topics,
};
use accord_index::IndicatorKey;
use accord_runtime::stage::{Stage, StageOptions};
use accord_runtime::{health::Health, store::HealingDatabase};
use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition};

/// `<report id>\x1f<type>\x1f<canonical value>` → sightings.
const COUNTS: TableDefinition<'_, &str, u64> = TableDefinition::new("sightings");
/// Feedback record id → 1, once applied.
const APPLIED: TableDefinition<'_, &str, u8> = TableDefinition::new("applied");
const SEPARATOR: char = '\u{1f}';

fn key(report: &str, indicator: &IndicatorKey) -> String {
    format!(
        "{report}{SEPARATOR}{}{SEPARATOR}{}",
        indicator.kind.as_str(),
        indicator.value
    )
}

/// The store of sighting counts.
#[derive(Clone)]
pub struct Sightings {
    db: Arc<HealingDatabase>,
    /// Set when the file was damaged and replaced by a new one at open (or such a refill was interrupted): its
    /// follower then refills it first ([`accord_runtime::refill`]).
    pending: Option<accord_runtime::refill::Pending>,
}

impl Sightings {
    /// Opens or creates the store in `dir`.
    ///
    /// # Errors
    /// Fails when the file cannot be opened.
    pub fn open(dir: &Path, cache_bytes: usize, health: Option<Health>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (db, pending) = HealingDatabase::open_derived(
            "search sightings store",
            &dir.join("sightings.redb"),
            cache_bytes,
            health,
        )?;
        let txn = db.begin_write()?;
        txn.open_table(COUNTS)?;
        txn.open_table(APPLIED)?;
        txn.commit()?;
        Ok(Self { db, pending })
    }

    /// Applies feedback records: each sighting of an indicator once, however often it is delivered.
    ///
    /// # Errors
    /// Fails on a storage error (nothing of the batch is applied).
    pub fn apply(&self, records: &[FeedbackRecord]) -> anyhow::Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut counts = txn.open_table(COUNTS)?;
            let mut applied = txn.open_table(APPLIED)?;
            for record in records {
                let Some(indicator) = &record.indicator else {
                    continue;
                };
                if record.kind != FeedbackKind::Sighted
                    || applied.get(record.id.as_str())?.is_some()
                {
                    continue;
                }
                applied.insert(record.id.as_str(), 1)?;
                let indicator = IndicatorKey {
                    kind: indicator.kind,
                    value: indicator.value.clone(),
                };
                let key = key(record.report_id.as_str(), &indicator);
                let current = counts.get(key.as_str())?.map_or(0, |count| count.value());
                counts.insert(key.as_str(), current.saturating_add(record.count))?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Returns the sightings of `indicator` summed over `reports` (the reports a caller sees now).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn sum<'r>(
        &self,
        reports: impl IntoIterator<Item = &'r ReportId>,
        indicator: &IndicatorKey,
    ) -> anyhow::Result<u64> {
        let txn = self.db.begin_read()?;
        let counts = txn.open_table(COUNTS)?;
        let mut total = 0_u64;
        for report in reports {
            if let Some(count) = counts.get(key(report.as_str(), indicator).as_str())? {
                total = total.saturating_add(count.value());
            }
        }
        Ok(total)
    }
}

/// The follower that fills the store.
struct Follower {
    store: Sightings,
}

#[async_trait]
impl Stage for Follower {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let records: Vec<FeedbackRecord> = batch
            .iter()
            .filter_map(|delivery| serde_json::from_slice(&delivery.record.payload).ok())
            .collect();
        if records.is_empty() {
            return Ok(());
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.apply(&records)).await?
    }
}

/// Returns the follower, to run until `shutdown`: when the store must be refilled, it refills it from the start of
/// its topic first (`/readyz` says so from now on).
///
/// # Errors
/// When the bus cannot be subscribed to.
pub(crate) fn run(
    deps: &accord_runtime::Deps,
    store: Sightings,
    shutdown: tokio_util::sync::CancellationToken,
) -> impl std::future::Future<Output = anyhow::Result<()>> + use<> {
    let options = StageOptions {
        name: "search-sightings",
        topic: topics::REPORTS_FEEDBACK,
        group: deps.store_group("search-sightings"),
        batch_size: 1024,
        linger: std::time::Duration::ZERO,
    };
    let pending = store.pending.clone();
    let make = move || Follower {
        store: store.clone(),
    };
    accord_runtime::refill::follow(
        deps.bus.clone(),
        options,
        "search-sightings-refill",
        pending,
        &deps.health,
        make,
        shutdown,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_domain::{ObservableType, OrgId, feedback::FeedbackIndicator};

    fn record(id: &str, report: &ReportId, kind: FeedbackKind, count: u64) -> FeedbackRecord {
        FeedbackRecord {
            id: id.to_owned(),
            report_id: report.clone(),
            partner: OrgId::parse("bank-a").unwrap(),
            indicator: Some(FeedbackIndicator {
                kind: ObservableType::DomainName,
                value: "evil.example".to_owned(),
            }),
            kind,
            count,
            seen_at: None,
            at: chrono::Utc::now(),
            agency: None,
            pseudonym: Some("agency-0011223344556677".to_owned()),
        }
    }

    #[test]
    fn a_replayed_record_counts_once_and_only_the_given_reports_are_summed() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Sightings::open(dir.path(), 1024 * 1024, None).unwrap();
        let seen = ReportId::parse("report--0b7f3f0e-6d7c-4e59-9d5e-8d7d2c1f0a11").unwrap();
        let hidden = ReportId::parse("report--1b7f3f0e-6d7c-4e59-9d5e-8d7d2c1f0a11").unwrap();
        let batch = vec![
            record("r1", &seen, FeedbackKind::Sighted, 3),
            record("r2", &hidden, FeedbackKind::Sighted, 5),
            record("r3", &seen, FeedbackKind::FalsePositive, 1),
        ];
        store.apply(&batch).unwrap();
        store.apply(&batch[..1]).unwrap();
        let key = IndicatorKey {
            kind: ObservableType::DomainName,
            value: "evil.example".to_owned(),
        };
        assert_eq!(store.sum([&seen], &key).unwrap(), 3);
        assert_eq!(store.sum([&seen, &hidden], &key).unwrap(), 8);
        let other = IndicatorKey {
            kind: ObservableType::DomainName,
            value: "other.example".to_owned(),
        };
        assert_eq!(store.sum([&seen], &other).unwrap(), 0);
    }
}
