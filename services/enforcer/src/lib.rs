//! The enforcer: evaluates every MoU in force against each normalized report and writes one [`ReleaseSet`] per
//! report to [`topics::REPORTS_RELEASABLE`]: one redacted view per distinct release (see `accord_policy::release`).
//!
//! The evaluation itself is the pure `accord_policy` crate; this crate only moves records. Re-evaluation of stored
//! reports when an MoU changes is a later step; meanwhile search re-checks every hit at query time.

use std::sync::Arc;

use accord_bus::{BusClient, Delivery};
use accord_domain::{NormalizedReport, ReleaseSet, topics};
use accord_runtime::{
    Directory,
    stage::{self, Stage, StageOptions},
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// Enforcer configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Consumer group.
    pub group: String,
    /// Largest batch.
    pub batch_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            group: "enforcer".to_owned(),
            batch_size: 256,
        }
    }
}

/// Evaluates one report against the directory's current MoUs.
pub fn evaluate(report: &NormalizedReport, directory: &Directory) -> ReleaseSet {
    let snapshot = directory.snapshot();
    let now = chrono::Utc::now();
    let views = accord_policy::release(report, now, &snapshot.mous, &snapshot.orgs);
    ReleaseSet {
        report_id: report.id.clone(),
        partner: report.partner.clone(),
        evaluated_at: now,
        indicators: report.indicators.len(),
        views,
    }
}

struct Enforcer {
    bus: BusClient,
    directory: Arc<Directory>,
}

#[async_trait]
impl Stage for Enforcer {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let mut records = Vec::with_capacity(batch.len());
        for delivery in batch {
            let Some(report) = stage::decode::<NormalizedReport>("enforcer", delivery) else {
                continue;
            };
            let release = evaluate(&report, &self.directory);
            metrics::counter!("accord_enforcer_views_total").increment(release.views.len() as u64);
            let record = stage::json_record(report.id.as_str(), &release)?;
            records.push(record);
        }
        if !records.is_empty() {
            self.bus
                .publish(topics::REPORTS_RELEASABLE, records)
                .await?;
        }
        Ok(())
    }
}

/// Runs the enforcer until `shutdown`.
///
/// # Errors
/// Fails when it cannot subscribe.
pub async fn run(
    config: Config,
    bus: BusClient,
    directory: Arc<Directory>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let options = StageOptions {
        name: "enforcer",
        topic: topics::REPORTS_NORMALIZED,
        group: config.group.clone(),
        batch_size: config.batch_size,
        linger: std::time::Duration::ZERO,
    };
    stage::run(bus.clone(), options, Enforcer { bus, directory }, shutdown).await
}
