//! Partners' amendments and retractions in the audit trail (issue 19, oversight): a follower of `reports.raw`
//! (consumer group `search-audit`) appends one record per retraction of a report (`DELETE /v1/reports/{id}`), per
//! retraction of indicators (`POST /v1/indicators/retract`) and per amendment (`PUT /v1/reports/{id}`): who (the
//! token and its organization), when, and why (reason and detail) — never the report's content, nor the retracted
//! values (only how many). An auditor thus sees that a report existed, who retracted or amended it and why.
//!
//! The records carry no purpose or case (a partner states none) and `results: 0`. Delivery is at least once: a
//! crash between an append and the commit of its offset appends the record again on restart.

use accord_bus::Delivery;
use accord_domain::{Control, Revision, control, topics};
use accord_runtime::stage::{self, Stage, StageOptions};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{AuditEntry, AuditLog};

/// The few fields of a raw report the trail needs.
#[derive(Deserialize)]
struct RawHead {
    id: String,
    partner: String,
    #[serde(default)]
    revision: Option<Revision>,
}

/// Returns the audit entry a record of `reports.raw` makes, if any: controls and amendments do, first versions do
/// not (a submission is not an oversight event).
pub(crate) fn entry(delivery: &Delivery) -> Option<AuditEntry> {
    let payload = &delivery.record.payload;
    if control::is_control(&delivery.record.headers) {
        return Some(match serde_json::from_slice::<Control>(payload).ok()? {
            Control::RetractReport(retraction) => AuditEntry {
                at: retraction.at,
                token_id: Some(retraction.by),
                organization: Some(retraction.partner.to_string()),
                endpoint: "DELETE /v1/reports/{id}".to_owned(),
                purpose: None,
                case: None,
                query: json!({
                    "report": retraction.report_id,
                    "reason": retraction.reason.as_str(),
                    "detail": retraction.detail,
                }),
                status: 202,
                results: 0,
                writer: None,
            },
            Control::RetractIndicators(retraction) => AuditEntry {
                at: retraction.at,
                token_id: Some(retraction.by),
                organization: Some(retraction.partner.to_string()),
                endpoint: "POST /v1/indicators/retract".to_owned(),
                purpose: None,
                case: None,
                query: json!({
                    "retraction": retraction.id,
                    "reason": retraction.reason.as_str(),
                    "values": retraction.values.len(),
                }),
                status: 202,
                results: 0,
                writer: None,
            },
        });
    }
    let head: RawHead = serde_json::from_slice(payload).ok()?;
    let revision = head.revision?;
    Some(AuditEntry {
        at: revision.at,
        token_id: Some(revision.by),
        organization: Some(head.partner),
        endpoint: "PUT /v1/reports/{id}".to_owned(),
        purpose: None,
        case: None,
        query: json!({ "report": head.id, "version": revision.version }),
        status: 202,
        results: 0,
        writer: None,
    })
}

/// The follower.
pub(crate) struct Follower {
    pub(crate) audit: AuditLog,
}

#[async_trait]
impl Stage for Follower {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        for entry in batch.iter().filter_map(entry) {
            self.audit.append(entry).await?;
        }
        Ok(())
    }
}

/// The follower's stage options.
pub(crate) fn options() -> StageOptions {
    StageOptions {
        name: "search-audit",
        topic: topics::REPORTS_RAW,
        group: "search-audit".to_owned(),
        batch_size: 1024,
        linger: std::time::Duration::ZERO,
    }
}

/// Runs the follower until `shutdown`.
///
/// # Errors
/// When the bus cannot be subscribed to.
pub(crate) async fn run(
    bus: accord_bus::BusClient,
    audit: AuditLog,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    stage::run(bus, options(), Follower { audit }, shutdown).await
}
