//! The normalizer's consumer: [`topics::REPORTS_RAW`] → [`topics::REPORTS_NORMALIZED`] or
//! [`topics::REPORTS_REJECTED`].
//!
//! Fair between partners (batches are made round-robin by partner from a read-ahead window:
//! `accord_runtime::stage::Fairness`), bounded (every report is normalized within the gateway's [`Limits`]: one over
//! a limit is rejected with the reason `too-large`), off the async runtime (normalization runs in a blocking task),
//! and never stuck on a record (one the bus cannot take is dead-lettered, not retried).

use std::sync::Arc;

use accord_bus::{BusClient, Delivery, Record};
use accord_domain::{NormalizedReport, OrgId, RawReport, Rejection, ReportId, control, topics};
use accord_runtime::{
    ServiceHost,
    json::SchemaValidator,
    service::at_least,
    stage::{self, Fairness, Stage, StageOptions},
};

use crate::{
    limits::{Limits, Refusal},
    normalize::too_large,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Normalizer configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Consumer group.
    pub group: String,
    /// Largest batch, in records.
    pub batch_size: usize,
    /// Largest batch, in bytes of raw records: a batch closes once it holds this much (it always holds one record).
    pub batch_bytes: usize,
    /// The most raw records read ahead of normalization, among which batches are made round-robin by partner.
    pub window: usize,
    /// The most bytes of raw records read ahead.
    pub window_bytes: usize,
    /// Batches normalized at once, each of one partner: a partner with a backlog or heavy reports holds one lane.
    pub lanes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            group: "normalizer".to_owned(),
            batch_size: 256,
            batch_bytes: 256 * 1024,
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
        at_least("normalizer.batch_size", self.batch_size as u64, 1)?;
        at_least("normalizer.lanes", self.lanes as u64, 1)?;
        at_least("normalizer.batch_bytes", self.batch_bytes as u64, 1024)?;
        at_least(
            "normalizer.window",
            self.window as u64,
            self.batch_size as u64,
        )?;
        at_least(
            "normalizer.window_bytes",
            self.window_bytes as u64,
            self.batch_bytes as u64,
        )
    }
}

#[derive(Clone)]
struct Normalizer {
    bus: BusClient,
    /// The contract of `reports.normalized`: a record that breaks it is a bug and is rejected, never published.
    schema: Arc<SchemaValidator>,
    /// What one report may become (the gateway's limits).
    limits: Limits,
}

/// A raw report's fate, decided off the async runtime.
enum Outcome {
    /// The normalized record, for `reports.normalized`, with the report it belongs to.
    Normalized {
        record: Record,
        report_id: ReportId,
        partner: OrgId,
    },
    /// The rejection's record, for `reports.rejected`.
    Rejected(Record),
}

/// Normalizes one raw report within `limits` and checks the record against its schema; returns what to publish.
fn outcome(raw: &RawReport, limits: &Limits, schema: &SchemaValidator) -> anyhow::Result<Outcome> {
    let normalized = match crate::normalize_within(raw, limits) {
        Ok(report) => violation(schema, &report).map_or(Ok(report), Err),
        Err(Refusal::Invalid(rejection)) => Err(*rejection),
        Err(Refusal::TooLarge(exceeded)) => Err(too_large(raw, &exceeded)),
    };
    match normalized {
        Ok(report) => {
            let mut record = stage::json_record(report.id.as_str(), &report)?;
            record.headers.push((
                topics::HEADER_PARTNER.to_owned(),
                report.partner.to_string(),
            ));
            Ok(Outcome::Normalized {
                record,
                report_id: report.id,
                partner: report.partner,
            })
        }
        Err(rejection) => {
            tracing::debug!(report_id = %raw.id, reason = rejection.reason, "report rejected");
            Ok(Outcome::Rejected(stage::json_record(
                rejection.report_id.as_str(),
                &rejection,
            )?))
        }
    }
}

/// Checks a record against the normalized-report schema before it is published.
fn violation(schema: &SchemaValidator, report: &NormalizedReport) -> Option<Rejection> {
    let value = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    match schema.validate(&value) {
        Ok(()) => None,
        Err(error) => {
            // The fields only: a schema message quotes the value, which may be personal data.
            let fields: Vec<String> = match &error {
                accord_runtime::ApiError::Unprocessable { errors, .. } => {
                    errors.iter().map(|field| field.pointer.clone()).collect()
                }
                _ => Vec::new(),
            };
            tracing::error!(report_id = %report.id, ?fields, "normalized record breaks its schema");
            Some(Rejection {
                report_id: report.id.clone(),
                partner: Some(report.partner.clone()),
                stage: "normalizer".to_owned(),
                reason: "schema-violation".to_owned(),
                detail: "the normalized record does not conform to its schema".to_owned(),
                at: chrono::Utc::now(),
            })
        }
    }
}

#[async_trait]
impl Stage for Normalizer {
    /// Normalizes the batch's reports off the async runtime, at the batch's priority (`accord_runtime::cpu`;
    /// normalization is CPU work), then publishes the records, with the partner's controls (retractions) passed on
    /// unchanged in their place among them, and the rejections; a normalized record the bus can never take is
    /// dead-lettered.
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let (reports, controls) = split_controls(batch);
        let decoded = stage::decode_batch::<RawReport>("normalizer", &reports.deliveries).await;
        let items: Vec<(usize, RawReport)> = decoded
            .items
            .into_iter()
            .map(|(index, raw)| (reports.places[index], raw))
            .collect();
        let (schema, limits) = (Arc::clone(&self.schema), self.limits);
        let outcomes = accord_runtime::cpu::run(move || {
            items
                .iter()
                .map(|(place, raw)| Ok((*place, outcome(raw, &limits, &schema)?)))
                .collect::<anyhow::Result<Vec<(usize, Outcome)>>>()
        })
        .await??;
        // Undecodable raw records are rejected too, so the partner sees why.
        let mut rejected = decoded.dead_letters;
        let mut normalized: Vec<(usize, Record, Option<(ReportId, OrgId)>)> =
            Vec::with_capacity(outcomes.len() + controls.len());
        for (place, outcome) in outcomes {
            match outcome {
                Outcome::Normalized {
                    mut record,
                    report_id,
                    partner,
                } => {
                    stage::mark_priority(&mut record);
                    normalized.push((place, record, Some((report_id, partner))));
                }
                Outcome::Rejected(record) => rejected.push(record),
            }
        }
        normalized.extend(
            controls
                .into_iter()
                .map(|(place, record)| (place, record, None)),
        );
        // In the order of the batch: a partner's retraction stays behind its report.
        normalized.sort_by_key(|(place, _, _)| *place);
        let (records, owners): (Vec<Record>, Vec<Option<(ReportId, OrgId)>>) = normalized
            .into_iter()
            .map(|(_, record, owner)| (record, owner))
            .unzip();
        let published =
            stage::publish_or_refuse(&self.bus, topics::REPORTS_NORMALIZED, records).await?;
        for refused in published.refused {
            let Some((report_id, partner)) = &owners[refused.index] else {
                tracing::error!(reason = refused.reason, "the bus refused a control record");
                continue;
            };
            rejected.push(stage::rejection_record(
                report_id,
                Some(partner),
                crate::normalize::STAGE,
                refused.reason,
                refused.detail,
            )?);
        }
        stage::publish_dead_letters(&self.bus, rejected).await
    }
}

/// The reports of a batch, with each one's place in the batch.
struct Reports {
    deliveries: Vec<Delivery>,
    places: Vec<usize>,
}

/// Splits a batch into its reports and its control records (`accord_domain::control`), each with its place.
fn split_controls(batch: &[Delivery]) -> (Reports, Vec<(usize, Record)>) {
    let mut reports = Reports {
        deliveries: Vec::with_capacity(batch.len()),
        places: Vec::with_capacity(batch.len()),
    };
    let mut controls = Vec::new();
    for (place, delivery) in batch.iter().enumerate() {
        if control::is_control(&delivery.record.headers) {
            controls.push((place, delivery.record.clone()));
        } else {
            reports.deliveries.push(delivery.clone());
            reports.places.push(place);
        }
    }
    (reports, controls)
}

/// Starts the normalizer's stage in `host`: batches are made fairly between partners ([`Fairness`]) and every
/// report is normalized within `limits` (the gateway's, so that what the gateway accepted passes).
///
/// # Errors
/// Fails when the normalized-report schema does not compile.
pub async fn start(config: Config, limits: Limits, host: &mut ServiceHost) -> anyhow::Result<()> {
    let options = StageOptions {
        name: "normalizer",
        topic: topics::REPORTS_RAW,
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
    let schema = SchemaValidator::compile(
        "normalized-report",
        accord_domain::schema::NORMALIZED_REPORT,
    )?;
    let bus = host.deps().bus.clone();
    let normalizer = Normalizer {
        bus: bus.clone(),
        schema: Arc::new(schema),
        limits,
    };
    host.spawn_critical(
        "normalizer",
        stage::run_fair(bus, options, fairness, normalizer, host.shutdown()),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_records_conform_to_their_schema() {
        let schema = SchemaValidator::compile(
            "normalized-report",
            accord_domain::schema::NORMALIZED_REPORT,
        )
        .unwrap();
        let raw = RawReport {
            revision: None,
            id: accord_domain::ReportId::random(),
            partner: accord_domain::OrgId::parse("bank-a").unwrap(),
            received_at: chrono::Utc::now(),
            default_tlp: None,
            format: accord_domain::ReportFormat::Native,
            objects: Vec::new(),
            warnings: Vec::new(),
            payload: serde_json::json!({
                "title": "Phishing",
                "description": "C2 at 45.155.205[.]172, mail from ops@evil-domain.com, hash d41d8cd98f00b204e9800998ecf8427e",
                "occurred_at": "2026-11-20T08:00:00Z",
                "tlp": "amber",
                "classification": "unclassified",
                "indicators": [{ "value": "CVE-2024-3400" }, { "type": "url", "value": "hxxps://x[.]evil.com/a" }]
            }),
        };
        let report = crate::normalize(&raw).unwrap();
        assert!(report.indicators.len() >= 5, "{:?}", report.indicators);
        schema
            .validate(&serde_json::to_value(&report).unwrap())
            .unwrap();
        let mut broken = serde_json::to_value(&report).unwrap();
        broken["tlp"] = serde_json::json!("white");
        assert!(schema.validate(&broken).is_err());
    }
}
