//! The indexer: [`topics::REPORTS_RELEASABLE`] → the search index.
//!
//! Each release set replaces every view of its report, versioned by its bus offset, so replays and duplicates change
//! nothing. The bus offsets are committed only after the index confirmed every item of the batch and made it durable
//! ([`accord_index::SearchIndex::persist`], in [`Stage::durable`]: a write is searchable when it returns and durable
//! after the persist that follows, off the stage's lanes, so no report waits for a sync to become searchable): an
//! item that
//! failed makes the whole batch retry (items already written come back `Stale`, which is success). An item the index
//! refuses for good (a view it can never take) is not retried: the report's views are withdrawn and a dead letter
//! says why.
//!
//! The index is derived state: one found empty at start although releases were indexed before is rebuilt from the
//! bus by replaying the topic (`rebuild`), with `/readyz` saying `index rebuilding (n of m)` until it is done. An
//! index that can be rebuilt online (OpenSearch) is rebuilt into a new generation by a second stage with a group of
//! its own, asked for on demand or when the index was lost, and searches switch to it once it has caught up
//! (`online`).

mod metrics;
mod online;
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

/// The most bytes of release sets one index write holds for a partner with a backlog
/// ([`Indexer::write_in_turns`]).
const BACKGROUND_WRITE_BYTES: usize = 256 * 1024;

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
        let decoded = stage::decode_batch::<ReleaseSet>("indexer", batch).await;
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
        let bytes = |index: usize| batch[index].record.payload.len();
        let mut writes: Vec<(ReplaceViews, usize)> = decoded
            .items
            .into_iter()
            .map(|(index, release)| {
                let write = ReplaceViews {
                    report_id: release.report_id,
                    version: batch[index].position.offset,
                    views: release.views,
                };
                (write, bytes(index))
            })
            .collect();
        // Fail closed: a release set that cannot be read may have been a withdrawal, so the report's views go.
        writes.extend(decoded.undecodable.into_iter().map(|(index, report_id)| {
            let write = ReplaceViews {
                report_id,
                version: batch[index].position.offset,
                views: Vec::new(),
            };
            (write, bytes(index))
        }));
        writes.sort_by_key(|(write, _)| write.version);
        if writes.is_empty() {
            return Ok(());
        }
        let keys: Vec<(ReportId, u64)> = writes
            .iter()
            .map(|(write, _)| (write.report_id.clone(), write.version))
            .collect();
        let outcomes = self.write_in_turns(writes).await?;
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
        rebuild::progress(self.rebuild.as_deref(), batch.len());
        Ok(())
    }

    /// Syncs what the batches wrote (searchable already) before their offsets are committed: a power loss replays
    /// from the last persist.
    async fn durable(&mut self) -> anyhow::Result<()> {
        Ok(self.index.persist().await?)
    }
}

impl Indexer {
    /// Writes a batch to the index: at once, or — for a partner with a backlog, whose batch runs in the background
    /// ([`accord_runtime::cpu`]) — in writes of at most [`BACKGROUND_WRITE_BYTES`] of release sets (at least one
    /// each), so that another partner's write waits for one of them at most, not for the whole batch (decision
    /// 0052). Returns the outcomes in the order of `writes`. A failure after some writes leaves those written: the
    /// batch's retry finds them `Stale`.
    async fn write_in_turns(
        &self,
        writes: Vec<(ReplaceViews, usize)>,
    ) -> anyhow::Result<Vec<WriteOutcome>> {
        if accord_runtime::cpu::current() != accord_runtime::cpu::Priority::Background {
            let writes = writes.into_iter().map(|(write, _)| write).collect();
            return Ok(self.index.write(writes).await?);
        }
        let mut outcomes = Vec::with_capacity(writes.len());
        let (mut turn, mut turn_bytes) = (Vec::new(), 0);
        for (write, bytes) in writes {
            if !turn.is_empty() && turn_bytes + bytes > BACKGROUND_WRITE_BYTES {
                outcomes.extend(self.index.write(std::mem::take(&mut turn)).await?);
                turn_bytes = 0;
            }
            turn_bytes += bytes;
            turn.push(write);
        }
        if !turn.is_empty() {
            outcomes.extend(self.index.write(turn).await?);
        }
        Ok(outcomes)
    }

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

/// Starts the indexer's stage in `host`, after rebuilding the index from the bus if it was lost (`rebuild`), and
/// the task that runs online rebuilds (`online`).
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
    let start = rebuild::check(deps, &config.group).await?;
    let indexer = Indexer {
        bus: deps.bus.clone(),
        index: deps.index.clone(),
        rebuild: start.rebuild,
    };
    let online = online::Online {
        bus: deps.bus.clone(),
        index: deps.index.clone(),
        health: deps.health.clone(),
        options: options.clone(),
        fairness: fairness.clone(),
        lost: start.lost,
    };
    let bus = deps.bus.clone();
    host.spawn_critical(
        "indexer",
        stage::run_fair(bus, options, fairness, indexer, host.shutdown()),
    );
    host.spawn_critical("index-rebuild", online.watch(host.shutdown()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use accord_bus::{Position, Record};
    use accord_domain::{OrgId, ReleaseSet, ReportId};
    use accord_index::{IndexError, IndicatorMatch, Page, Query, ReleaseFilter, SearchIndex};
    use accord_runtime::cpu::{self, Priority};

    use super::*;

    /// The tantivy index, recording how many items each write held.
    struct Recording {
        index: IndexClient,
        writes: Arc<Mutex<Vec<usize>>>,
    }

    #[async_trait]
    impl SearchIndex for Recording {
        async fn write(&self, batch: Vec<ReplaceViews>) -> Result<Vec<WriteOutcome>, IndexError> {
            self.writes.lock().unwrap().push(batch.len());
            self.index.write(batch).await
        }
        async fn search(&self, query: Query) -> Result<Page, IndexError> {
            self.index.search(query).await
        }
        async fn lookup(
            &self,
            release: ReleaseFilter,
            keys: Vec<IndicatorMatch>,
            per_key: usize,
        ) -> Result<Vec<Page>, IndexError> {
            self.index.lookup(release, keys, per_key).await
        }
        async fn refresh(&self) -> Result<(), IndexError> {
            self.index.refresh().await
        }
        async fn health(&self) -> Result<(), IndexError> {
            self.index.health().await
        }
    }

    /// A release set of `bytes` bytes (padded with whitespace), withdrawing every view of a new report.
    fn delivery(offset: u64, bytes: usize) -> Delivery {
        let release = ReleaseSet {
            report_id: ReportId::random(),
            partner: OrgId::parse("bank-a").unwrap(),
            evaluated_at: chrono::Utc::now(),
            indicators: 0,
            views: Vec::new(),
            trigger: None,
            revoked: Vec::new(),
        };
        let mut payload = serde_json::to_vec(&release).unwrap();
        payload.resize(bytes.max(payload.len()), b' ');
        Delivery {
            topic: topics::REPORTS_RELEASABLE.to_owned(),
            position: Position {
                partition: 0,
                offset,
            },
            record: Record::new(release.report_id.to_string(), payload),
        }
    }

    #[tokio::test]
    async fn a_backlogged_partner_writes_in_turns_of_bounded_bytes_and_the_others_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let bus = BusClient::from_url(&dir.path().join("bus").to_string_lossy())
            .await
            .unwrap();
        let writes = Arc::new(Mutex::new(Vec::new()));
        let index = IndexClient::new(Recording {
            index: IndexClient::from_url(&dir.path().join("index").to_string_lossy()).unwrap(),
            writes: Arc::clone(&writes),
        });
        let mut indexer = Indexer {
            bus,
            index,
            rebuild: None,
        };
        let heavy: Vec<Delivery> = (0..4)
            .map(|offset| delivery(offset, BACKGROUND_WRITE_BYTES / 2 + 1))
            .collect();
        indexer.process(&heavy).await.unwrap();
        assert_eq!(*writes.lock().unwrap(), [4], "in the foreground: one write");
        writes.lock().unwrap().clear();
        let heavy: Vec<Delivery> = (4..8)
            .map(|offset| delivery(offset, BACKGROUND_WRITE_BYTES / 2 + 1))
            .collect();
        cpu::scope(Priority::Background, indexer.process(&heavy))
            .await
            .unwrap();
        assert_eq!(
            *writes.lock().unwrap(),
            [1, 1, 1, 1],
            "in the background: no write holds more than the bound (but at least one record)"
        );
        writes.lock().unwrap().clear();
        let light: Vec<Delivery> = (8..12).map(|offset| delivery(offset, 1000)).collect();
        cpu::scope(Priority::Background, indexer.process(&light))
            .await
            .unwrap();
        assert_eq!(*writes.lock().unwrap(), [4], "small records share a write");
    }
}
