//! Refilling the enforcer's store after its damaged file was set aside (decision 0071, [`accord_runtime::refill`]).
//!
//! The store is a copy of `reports.normalized` plus what the partners' controls did to it (retractions, retracted
//! indicators), so a new store is refilled by replaying that topic from its start, store only: reports are stored
//! (an amendment replacing its earlier version), controls applied to the store, and nothing is published — a replay
//! through the live stage would release every old version of every amended report again on its way.
//!
//! Until the refill is done the stage, the re-evaluation watcher and the re-derivation follower wait, and `/readyz`
//! answers `enforcer store rebuilding (n of m)`. The watcher then finds no stored policy positions (they were in
//! the damaged file) and re-evaluates every stored report under the current policy, so that what each agency sees
//! is brought to the policy of now, whatever changed while the enforcer could not act on it.

use accord_bus::Delivery;
use accord_domain::{NormalizedReport, ReportId, control::is_control, topics};
use accord_runtime::{refill::Follower, stage::Stage};
use async_trait::async_trait;

use crate::{control, store::ReportStore};

/// The refill's one follower: `reports.normalized`, applied to `store` only.
pub(crate) fn followers(store: &ReportStore) -> Vec<Follower> {
    vec![Follower {
        name: "enforcer-refill",
        topic: topics::REPORTS_NORMALIZED,
        stage: Box::new(Refiller {
            store: store.clone(),
        }),
    }]
}

/// Applies a batch of `reports.normalized` to the store, in order, publishing nothing.
struct Refiller {
    store: ReportStore,
}

#[async_trait]
impl Stage for Refiller {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let (store, batch) = (self.store.clone(), batch.to_vec());
        tokio::task::spawn_blocking(move || apply(&store, &batch).map(drop)).await?
    }
}

/// Stores the reports of `batch`, each placed in its partition, and applies its controls in the batch's order (a
/// record that is not a report was dead-lettered by the live stage when it first read it, and is skipped). Also the
/// restore of a partition taken over (`crate::owned`). Returns the ids of the reports the batch holds, in order.
///
/// # Errors
/// A store failure.
pub(crate) fn apply(store: &ReportStore, batch: &[Delivery]) -> anyhow::Result<Vec<ReportId>> {
    let mut ids = Vec::new();
    let mut reports: Vec<NormalizedReport> = Vec::new();
    let mut partitions: Vec<u32> = Vec::new();
    for delivery in batch {
        if is_control(&delivery.record.headers) {
            if !reports.is_empty() {
                store.put_placed(
                    &mut std::mem::take(&mut reports),
                    &std::mem::take(&mut partitions),
                )?;
            }
            control::apply_to_store(store, delivery)?;
        } else if let Ok(report) =
            serde_json::from_slice::<NormalizedReport>(&delivery.record.payload)
        {
            ids.push(report.id.clone());
            reports.push(report);
            partitions.push(delivery.position.partition);
        }
    }
    if !reports.is_empty() {
        store.put_placed(&mut reports, &partitions)?;
    }
    Ok(ids)
}
