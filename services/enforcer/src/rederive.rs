//! Re-derives a release set the indexer could not read (issue 22 item 3), so that a report damaged on the bus after
//! its evaluation is served again without an operator.
//!
//! A follower of `reports.rejected` (consumer group `<enforcer group>-rederive`). When the indexer dead-letters a
//! release set it cannot decode (stage `indexer`, reason `undecodable`: damaged bytes on the bus), it has withdrawn
//! the report's views — fail closed, the record may have been a withdrawal — and the partner sees why in the
//! report's status. Here the enforcer evaluates that report again from its store, under the evaluation lock as a
//! re-evaluation after a policy change does, and publishes the new release set, which the indexer indexes.
//!
//! - A report no longer in the store (retracted, past its retention) is not re-derived: nothing of it may be
//!   released. Nor is one of a partition this replica does not own (`crate::owned`): its copy here may be stale,
//!   and the report stays withdrawn (fail closed) unless its owner's re-derivation follower reads the dead letter.
//! - Each report is re-derived at most [`MAX_ATTEMPTS`] times per process: a disk that damaged every new record
//!   would otherwise turn this into an endless loop. Past that, an ERROR names the report.
//! - Other dead letters (a report the normalizer refused, one the index refused for good) are not the enforcer's to
//!   re-derive: re-evaluating them would change nothing or loop.

use std::collections::HashMap;

use accord_bus::Delivery;
use accord_domain::{Rejection, ReportId, topics};
use accord_runtime::stage::{self, Stage, StageOptions};
use async_trait::async_trait;

use crate::{AppState, evaluate_at, publish_releases};

/// How often one report is re-derived per process at most.
pub(crate) const MAX_ATTEMPTS: u32 = 3;

/// The follower.
struct Rederive {
    state: AppState,
    attempts: HashMap<ReportId, u32>,
}

/// The reports of `batch` whose release set the indexer could not read.
fn damaged_releases(batch: &[Delivery]) -> Vec<ReportId> {
    let mut reports: Vec<ReportId> = batch
        .iter()
        .filter_map(|delivery| serde_json::from_slice::<Rejection>(&delivery.record.payload).ok())
        .filter(Rejection::is_rederived)
        .map(|rejection| rejection.report_id)
        .collect();
    reports.sort();
    reports.dedup();
    reports
}

#[async_trait]
impl Stage for Rederive {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let mut wanted = Vec::new();
        for report_id in damaged_releases(batch) {
            let attempts = self.attempts.entry(report_id.clone()).or_default();
            if *attempts >= MAX_ATTEMPTS {
                tracing::error!(%report_id, "its release set was damaged on the bus again: not re-derived any more");
                continue;
            }
            *attempts += 1;
            wanted.push(report_id);
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let held = self.state.partitions.hold().await;
        let owned = held.acting.clone();
        let _evaluation = self.state.evaluation.write().await;
        let store = self.state.store.clone();
        let snapshot = self.state.deps.directory.snapshot();
        let releases = tokio::task::spawn_blocking(move || {
            let at = chrono::Utc::now();
            let mut reports = Vec::with_capacity(wanted.len());
            for report_id in &wanted {
                reports.extend(store.get(report_id)?);
            }
            let releases: Vec<_> = crate::owned::owned_only(&store, &owned, reports)?
                .iter()
                .map(|report| {
                    evaluate_at(
                        report,
                        &snapshot,
                        at,
                        accord_domain::view::TRIGGER_REDERIVED,
                    )
                })
                .collect();
            Ok::<_, anyhow::Error>(releases)
        })
        .await??;
        for release in &releases {
            tracing::warn!(report_id = %release.report_id, "release set damaged on the bus: re-derived");
        }
        publish_releases(&self.state.deps.bus, releases).await
    }
}

/// Runs the follower until `shutdown`.
///
/// # Errors
/// When the bus cannot be subscribed to.
pub(crate) async fn run(
    state: AppState,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let options = StageOptions {
        name: "enforcer-rederive",
        topic: topics::REPORTS_REJECTED,
        group: format!("{}-rederive", state.config.group),
        batch_size: 256,
        linger: std::time::Duration::ZERO,
    };
    let bus = state.deps.bus.clone();
    stage::run(
        bus,
        options,
        Rederive {
            state,
            attempts: HashMap::new(),
        },
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(stage: &str, reason: &str, report_id: &ReportId) -> Delivery {
        let rejection = Rejection {
            report_id: report_id.clone(),
            partner: None,
            stage: stage.to_owned(),
            reason: reason.to_owned(),
            detail: "reports.releasable partition 0 offset 2: corrupt on the bus".to_owned(),
            at: chrono::Utc::now(),
        };
        Delivery {
            topic: topics::REPORTS_REJECTED.to_owned(),
            position: accord_bus::Position {
                partition: 0,
                offset: 0,
            },
            record: accord_bus::Record::new(
                report_id.as_str(),
                serde_json::to_vec(&rejection).unwrap(),
            ),
        }
    }

    #[test]
    fn only_release_sets_the_indexer_could_not_read_are_re_derived() {
        let (damaged, refused, invalid) =
            (ReportId::random(), ReportId::random(), ReportId::random());
        let batch = vec![
            rejection("indexer", "undecodable", &damaged),
            rejection("indexer", "index-refused", &refused),
            rejection("normalizer", "undecodable", &invalid),
            rejection("indexer", "undecodable", &damaged),
        ];
        assert_eq!(damaged_releases(&batch), vec![damaged]);
    }
}
