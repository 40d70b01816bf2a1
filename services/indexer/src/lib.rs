//! The indexer: [`topics::REPORTS_RELEASABLE`] → the search index.
//!
//! Each release set replaces every view of its report, versioned by its bus offset, so replays and duplicates change
//! nothing. The bus offsets are committed only after the index confirmed every item of the batch: an item that
//! failed makes the whole batch retry (items already written come back `Stale`, which is success).

mod metrics;

use accord_bus::{BusClient, Delivery};
use accord_domain::{ReleaseSet, topics};
use accord_index::{IndexClient, ReplaceViews, WriteOutcome};
use accord_runtime::{
    ServiceHost,
    service::at_least,
    stage::{self, Stage, StageOptions},
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Indexer configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Consumer group.
    pub group: String,
    /// Largest batch (one index commit per batch).
    pub batch_size: usize,
    /// How long to gather a batch after its first record (fewer, larger commits; bounds visibility latency).
    pub linger_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            group: "indexer".to_owned(),
            batch_size: 4096,
            linger_ms: 50,
        }
    }
}

impl Config {
    /// Checks the values at start, naming the key of the first bad one.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        at_least("indexer.batch_size", self.batch_size as u64, 1)
    }
}

struct Indexer {
    bus: BusClient,
    index: IndexClient,
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
        ::metrics::counter!(crate::metrics::WRITTEN).increment(outcomes.len() as u64);
        Ok(())
    }
}

/// Starts the indexer's stage in `host`.
///
/// # Errors
/// Never today; a `Result` like every service's `start`.
pub async fn start(config: Config, host: &mut ServiceHost) -> anyhow::Result<()> {
    let options = StageOptions {
        name: "indexer",
        topic: topics::REPORTS_RELEASABLE,
        group: config.group.clone(),
        batch_size: config.batch_size,
        linger: std::time::Duration::from_millis(config.linger_ms),
    };
    let deps = host.deps();
    let indexer = Indexer {
        bus: deps.bus.clone(),
        index: deps.index.clone(),
    };
    let bus = deps.bus.clone();
    host.spawn_critical(
        "indexer",
        stage::run(bus, options, indexer, host.shutdown()),
    );
    Ok(())
}
