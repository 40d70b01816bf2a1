//! The normalizer's consumer: [`topics::REPORTS_RAW`] → [`topics::REPORTS_NORMALIZED`] or
//! [`topics::REPORTS_REJECTED`].

use accord_bus::{BusClient, Delivery, Record};
use accord_domain::{RawReport, Rejection, ReportId, topics};
use accord_runtime::stage::{self, Stage, StageOptions};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// Normalizer configuration.
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
            group: "normalizer".to_owned(),
            batch_size: 256,
        }
    }
}

struct Normalizer {
    bus: BusClient,
}

fn record_for<T: Serialize>(key: &str, value: &T) -> anyhow::Result<Record> {
    let mut record = Record::new(key, serde_json::to_vec(value)?);
    record
        .headers
        .push((topics::HEADER_RECORD_ID.to_owned(), key.to_owned()));
    Ok(record)
}

/// Turns an undecodable raw record into a rejection when its key names a report, so the partner sees why.
fn undecodable(delivery: &Delivery, error: &serde_json::Error) -> Option<Rejection> {
    let report_id = delivery
        .record
        .key
        .as_deref()
        .and_then(|key| ReportId::parse(key).ok())?;
    Some(Rejection {
        report_id,
        partner: None,
        stage: "normalizer".to_owned(),
        reason: "undecodable".to_owned(),
        detail: format!("the raw record could not be decoded: {error}"),
        at: chrono::Utc::now(),
    })
}

#[async_trait]
impl Stage for Normalizer {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let mut normalized = Vec::with_capacity(batch.len());
        let mut rejected = Vec::new();
        for delivery in batch {
            let raw: RawReport = match serde_json::from_slice(&delivery.record.payload) {
                Ok(raw) => raw,
                Err(error) => {
                    metrics::counter!("accord_stage_dropped_total", "stage" => "normalizer")
                        .increment(1);
                    match undecodable(delivery, &error) {
                        Some(rejection) => {
                            rejected.push(record_for(rejection.report_id.as_str(), &rejection)?);
                        }
                        None => {
                            tracing::error!(%error, offset = delivery.position.offset, "dropped undecodable raw record without a report id")
                        }
                    }
                    continue;
                }
            };
            match crate::normalize(&raw) {
                Ok(report) => normalized.push(record_for(report.id.as_str(), &report)?),
                Err(rejection) => {
                    tracing::debug!(report_id = %raw.id, reason = rejection.reason, "report rejected");
                    rejected.push(record_for(rejection.report_id.as_str(), &rejection)?);
                }
            }
        }
        if !normalized.is_empty() {
            self.bus
                .publish(topics::REPORTS_NORMALIZED, normalized)
                .await?;
        }
        if !rejected.is_empty() {
            self.bus.publish(topics::REPORTS_REJECTED, rejected).await?;
        }
        Ok(())
    }
}

/// Runs the normalizer until `shutdown`.
///
/// # Errors
/// Fails when it cannot subscribe.
pub async fn run(
    config: Config,
    bus: BusClient,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let options = StageOptions {
        name: "normalizer",
        topic: topics::REPORTS_RAW,
        group: config.group.clone(),
        batch_size: config.batch_size,
    };
    stage::run(bus.clone(), options, Normalizer { bus }, shutdown).await
}
