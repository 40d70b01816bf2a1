//! Records a stage can never pass on, and the dead letters that say why.
//!
//! A stage's output record that the bus refuses for good — larger than [`accord_bus::Bus::max_record_bytes`], or
//! [`BusError::Refused`] by the broker (too large for the topic, malformed) — would fail the same way on every retry:
//! retrying it would stall the stage, and every partner behind it, forever. [`publish_or_refuse`] publishes what the
//! bus takes and returns what it refused, so that the stage publishes a dead letter for each instead — a
//! [`accord_domain::Rejection`] on [`accord_domain::topics::REPORTS_REJECTED`] ([`rejection_record`]), which the
//! partner sees in the report's status and `accord check` counts — and, where the stage must fail closed (the
//! enforcer), a replacement. Only transient failures fail the batch, which is then retried.

use accord_bus::{BusClient, BusError, Record};
use accord_domain::{OrgId, Rejection, ReportId, topics};

use crate::{metrics as names, telemetry::ErrorChain};

/// A record the bus did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRecord {
    /// Its index in the records given.
    pub index: usize,
    /// The stable reason (`too-large`, `refused-by-bus`).
    pub reason: &'static str,
    /// What the bus said, or the sizes.
    pub detail: String,
}

/// What [`publish_or_refuse`] did.
#[derive(Debug, Default)]
pub struct PublishOutcome {
    /// The records not published, by index, in order.
    pub refused: Vec<RefusedRecord>,
}

/// Publishes `records` to `topic`, except those the bus refuses for good (see the module documentation), which are
/// returned. A record larger than the bus's limit is not even offered. When the bus refuses the batch, the records
/// are published one at a time to find which it refuses (records of the batch may then be published twice, which
/// at-least-once allows).
///
/// # Errors
/// A transient failure ([`BusError::Unavailable`], [`BusError::Closed`], …): the caller's batch is retried.
pub async fn publish_or_refuse(
    bus: &BusClient,
    topic: &str,
    records: Vec<Record>,
) -> Result<PublishOutcome, BusError> {
    let limit = bus.max_record_bytes();
    let mut outcome = PublishOutcome::default();
    let mut fitting = Vec::with_capacity(records.len());
    for (index, record) in records.into_iter().enumerate() {
        let size = record.size();
        if size > limit {
            outcome.refused.push(RefusedRecord {
                index,
                reason: "too-large",
                detail: format!(
                    "a record of {size} bytes for topic `{topic}` exceeds the bus's record limit of {limit} bytes"
                ),
            });
        } else {
            fitting.push((index, record));
        }
    }
    if fitting.is_empty() {
        return Ok(outcome);
    }
    let batch: Vec<Record> = fitting.iter().map(|(_, record)| record.clone()).collect();
    match bus.publish(topic, batch).await {
        Ok(_) => return Ok(outcome),
        Err(BusError::Refused(reason)) => {
            tracing::warn!(
                topic,
                reason,
                "the bus refused a batch; publishing its records one by one"
            );
        }
        Err(error) => return Err(error),
    }
    for (index, record) in fitting {
        match bus.publish(topic, vec![record]).await {
            Ok(_) => {}
            Err(BusError::Refused(reason)) => outcome.refused.push(RefusedRecord {
                index,
                reason: "refused-by-bus",
                detail: reason,
            }),
            Err(error) => return Err(error),
        }
    }
    outcome.refused.sort_by_key(|refused| refused.index);
    Ok(outcome)
}

/// Returns the dead letter of a report: a [`Rejection`] by `stage` for `reason`, as a record for
/// [`topics::REPORTS_REJECTED`], counted in `accord_stage_refused_total` and logged at ERROR (a report did not get
/// through: an operator should know).
///
/// # Errors
/// Fails when the rejection cannot be serialized.
pub fn rejection_record(
    report_id: &ReportId,
    partner: Option<&OrgId>,
    stage: &'static str,
    reason: &str,
    detail: String,
) -> Result<Record, serde_json::Error> {
    metrics::counter!(names::STAGE_REFUSED, names::STAGE => stage).increment(1);
    tracing::error!(%report_id, stage, reason, detail, "a record could not be passed on: dead-lettered");
    let rejection = Rejection {
        report_id: report_id.clone(),
        partner: partner.cloned(),
        stage: stage.to_owned(),
        reason: reason.to_owned(),
        detail,
        at: chrono::Utc::now(),
    };
    super::json_record(report_id.as_str(), &rejection)
}

/// Publishes dead letters to [`topics::REPORTS_REJECTED`] (nothing when there are none).
///
/// # Errors
/// When the bus does not take them (a dead letter is small: that is a transient failure, and the batch is retried).
pub async fn publish_dead_letters(
    bus: &BusClient,
    dead_letters: Vec<Record>,
) -> anyhow::Result<()> {
    if dead_letters.is_empty() {
        return Ok(());
    }
    if let Err(error) = bus.publish(topics::REPORTS_REJECTED, dead_letters).await {
        tracing::warn!(error = %ErrorChain(&error), "failed to publish dead letters");
        return Err(error.into());
    }
    Ok(())
}
