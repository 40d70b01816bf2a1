//! The normalizer's consumer: [`topics::REPORTS_RAW`] → [`topics::REPORTS_NORMALIZED`] or
//! [`topics::REPORTS_REJECTED`].

use accord_bus::{BusClient, Delivery};
use accord_domain::{NormalizedReport, RawReport, Rejection, topics};
use accord_runtime::{
    ServiceHost,
    json::SchemaValidator,
    service::at_least,
    stage::{self, Stage, StageOptions},
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Normalizer configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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

impl Config {
    /// Checks the values at start, naming the key of the first bad one.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        at_least("normalizer.batch_size", self.batch_size as u64, 1)
    }
}

struct Normalizer {
    bus: BusClient,
    /// The contract of `reports.normalized`: a record that breaks it is a bug and is rejected, never published.
    schema: SchemaValidator,
}

impl Normalizer {
    /// Checks a record against the normalized-report schema before it is published.
    fn violation(&self, report: &NormalizedReport) -> Option<Rejection> {
        let value = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
        match self.schema.validate(&value) {
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
}

#[async_trait]
impl Stage for Normalizer {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let decoded = stage::decode_batch::<RawReport>("normalizer", batch);
        let mut normalized = Vec::with_capacity(batch.len());
        // Undecodable raw records are rejected too, so the partner sees why.
        let mut rejected = decoded.dead_letters;
        for (_, raw) in decoded.items {
            let outcome = match crate::normalize(&raw) {
                Ok(report) => self.violation(&report).map_or(Ok(report), Err),
                Err(rejection) => Err(rejection),
            };
            match outcome {
                Ok(report) => normalized.push(stage::json_record(report.id.as_str(), &report)?),
                Err(rejection) => {
                    tracing::debug!(report_id = %raw.id, reason = rejection.reason, "report rejected");
                    rejected.push(stage::json_record(
                        rejection.report_id.as_str(),
                        &rejection,
                    )?);
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

/// Starts the normalizer's stage in `host`.
///
/// # Errors
/// Fails when the normalized-report schema does not compile.
pub async fn start(config: Config, host: &mut ServiceHost) -> anyhow::Result<()> {
    let options = StageOptions {
        name: "normalizer",
        topic: topics::REPORTS_RAW,
        group: config.group.clone(),
        batch_size: config.batch_size,
        linger: std::time::Duration::ZERO,
    };
    let schema = SchemaValidator::compile(
        "normalized-report",
        accord_domain::schema::NORMALIZED_REPORT,
    )?;
    let bus = host.deps().bus.clone();
    let normalizer = Normalizer {
        bus: bus.clone(),
        schema,
    };
    host.spawn_critical(
        "normalizer",
        stage::run(bus, options, normalizer, host.shutdown()),
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
            id: accord_domain::ReportId::random(),
            partner: accord_domain::OrgId::parse("bank-a").unwrap(),
            received_at: chrono::Utc::now(),
            default_tlp: None,
            format: accord_domain::ReportFormat::Native,
            objects: Vec::new(),
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
