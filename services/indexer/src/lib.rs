//! The indexer: [`topics::REPORTS_RELEASABLE`] → the search index.
//!
//! Each release set replaces every view of its report, versioned by its bus offset, so replays and duplicates change
//! nothing. The bus offsets are committed only after the index confirmed every item of the batch: an item that
//! failed makes the whole batch retry (items already written come back `Stale`, which is success). An item the index
//! refuses for good (a view it can never take) is not retried: the report's views are withdrawn and a dead letter
//! says why.
//!
//! The index is derived state: one found empty at start although releases were indexed before is rebuilt from the
//! bus by replaying the topic ([`rebuild`]), with `/readyz` saying `index rebuilding (n of m)` until it is done.

mod metrics;
mod rebuild;

use accord_bus::{BusClient, Delivery};
use accord_domain::{ReleaseSet, ReportId, topics};
use accord_index::{IndexClient, ReplaceViews, WriteOutcome};
use accord_runtime::{
    ServiceHost,
    service::at_least,
    stage::{self, Fairness, Stage, StageOptions},
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Indexer configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Consumer group.
    pub group: String,
    /// Largest batch, in records (one index commit per batch).
    pub batch_size: usize,
    /// Largest batch, in bytes of release sets: a batch closes once it holds this much (it always holds one record).
    pub batch_bytes: usize,
    /// The most release sets read ahead of indexing, among which batches are made by partner.
    pub window: usize,
    /// The most bytes of release sets read ahead.
    pub window_bytes: usize,
    /// Batches written at once, each of one partner: a partner whose reports are heavy holds one lane. The index
    /// takes one write at a time; a lane waits for the write in progress, never behind another partner's backlog.
    pub lanes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            group: "indexer".to_owned(),
            batch_size: 4096,
            batch_bytes: 1024 * 1024,
            window: 8192,
            window_bytes: 64 * 1024 * 1024,
            lanes: 2,
        }
    }
}

impl Config {
    /// Checks the values at start, naming the key of the first bad one.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        at_least("indexer.batch_size", self.batch_size as u64, 1)?;
        at_least("indexer.batch_bytes", self.batch_bytes as u64, 1024)?;
        at_least("indexer.lanes", self.lanes as u64, 1)?;
        at_least("indexer.window", self.window as u64, self.batch_size as u64)?;
        at_least(
            "indexer.window_bytes",
            self.window_bytes as u64,
            self.batch_bytes as u64,
        )
    }
}

#[derive(Clone)]
struct Indexer {
    bus: BusClient,
    index: IndexClient,
    /// A rebuild of an empty index from the bus, while one runs ([`rebuild`]).
    rebuild: Option<std::sync::Arc<rebuild::Rebuild>>,
}

#[async_trait]
impl Stage for Indexer {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let decoded = stage::decode_batch::<ReleaseSet>("indexer", batch);
        if !decoded.dead_letters.is_empty() {
            self.bus
                .publish(topics::REPORTS_REJECTED, decoded.dead_letters)
                .await?;
        }
        // Acceptance to searchability, for the reports released here for the first time (pipeline health).
        let first_releases: Vec<accord_domain::Timestamp> = decoded
            .items
            .iter()
            .filter(|(_, release)| {
                release.trigger.as_deref() == Some(accord_domain::view::TRIGGER_RECEIVED)
            })
            .filter_map(|(_, release)| release.views.first().map(|view| view.facts.received_at))
            .collect();
        let mut writes: Vec<ReplaceViews> = decoded
            .items
            .into_iter()
            .map(|(index, release)| ReplaceViews {
                report_id: release.report_id,
                version: batch[index].position.offset,
                views: release.views,
            })
            .collect();
        // Fail closed: a release set that cannot be read may have been a withdrawal, so the report's views go.
        writes.extend(
            decoded
                .undecodable
                .into_iter()
                .map(|(index, report_id)| ReplaceViews {
                    report_id,
                    version: batch[index].position.offset,
                    views: Vec::new(),
                }),
        );
        writes.sort_by_key(|write| write.version);
        if writes.is_empty() {
            return Ok(());
        }
        let keys: Vec<(ReportId, u64)> = writes
            .iter()
            .map(|write| (write.report_id.clone(), write.version))
            .collect();
        let outcomes = self.index.write(writes).await?;
        let failed: Vec<&String> = outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                WriteOutcome::Failed(reason) => Some(reason),
                _ => None,
            })
            .collect();
        if let Some(first) = failed.first() {
            anyhow::bail!(
                "{} of {} index writes failed, first: {first}",
                failed.len(),
                outcomes.len()
            );
        }
        let refused: Vec<(ReportId, u64, String)> = keys
            .into_iter()
            .zip(&outcomes)
            .filter_map(|((report_id, version), outcome)| match outcome {
                WriteOutcome::Refused(reason) => Some((report_id, version, reason.clone())),
                _ => None,
            })
            .collect();
        self.withdraw_refused(refused).await?;
        ::metrics::counter!(crate::metrics::WRITTEN).increment(outcomes.len() as u64);
        let now = accord_domain::Timestamp::from(std::time::SystemTime::now());
        for received_at in first_releases {
            let lag = (now - received_at).num_milliseconds().max(0) as f64 / 1000.0;
            ::metrics::histogram!(accord_runtime::metrics::SEARCHABLE_LAG).record(lag);
        }
        if let Some(rebuild) = &self.rebuild {
            rebuild.processed(batch.len());
        }
        Ok(())
    }
}

impl Indexer {
    /// Fails closed on the reports whose views the index refused for good: their views are withdrawn at the refused
    /// version (views an earlier release set indexed must not outlive one that may have narrowed them), and a dead
    /// letter (reason `index-refused`, stage `indexer`) tells the partner why. Never an endless retry.
    ///
    /// # Errors
    /// When the withdrawal or the dead letters cannot be written now (the batch is retried).
    async fn withdraw_refused(&self, refused: Vec<(ReportId, u64, String)>) -> anyhow::Result<()> {
        if refused.is_empty() {
            return Ok(());
        }
        let withdrawals = refused
            .iter()
            .map(|(report_id, version, _)| ReplaceViews {
                report_id: report_id.clone(),
                version: *version,
                views: Vec::new(),
            })
            .collect();
        for outcome in self.index.write(withdrawals).await? {
            if let WriteOutcome::Failed(reason) | WriteOutcome::Refused(reason) = outcome {
                anyhow::bail!("failed to withdraw a report the index refused: {reason}");
            }
        }
        let mut dead_letters = Vec::with_capacity(refused.len());
        for (report_id, _, reason) in refused {
            dead_letters.push(stage::rejection_record(
                &report_id,
                None,
                "indexer",
                "index-refused",
                reason,
            )?);
        }
        stage::publish_dead_letters(&self.bus, dead_letters).await
    }
}

/// Starts the indexer's stage in `host`, after rebuilding the index from the bus if it was lost ([`rebuild`]).
///
/// # Errors
/// When the index or the bus cannot be read for that check.
pub async fn start(config: Config, host: &mut ServiceHost) -> anyhow::Result<()> {
    let options = StageOptions {
        name: "indexer",
        topic: topics::REPORTS_RELEASABLE,
        group: config.group.clone(),
        batch_size: config.batch_size,
        linger: std::time::Duration::ZERO,
    };
    let fairness = Fairness {
        header: topics::HEADER_PARTNER,
        window: config.window,
        window_bytes: config.window_bytes,
        batch_bytes: config.batch_bytes,
        lanes: config.lanes,
    };
    let deps = host.deps();
    let indexer = Indexer {
        bus: deps.bus.clone(),
        index: deps.index.clone(),
        rebuild: rebuild::check(deps, &config.group).await?,
    };
    let bus = deps.bus.clone();
    host.spawn_critical(
        "indexer",
        stage::run_fair(bus, options, fairness, indexer, host.shutdown()),
    );
    Ok(())
}
