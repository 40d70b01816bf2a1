//! Restoring one partition the stage takes over (module `owned`): store only, from the store's applied offset of
//! the partition to its end when the restore begins, then a re-evaluation of the partition's reports under the
//! current policy, publishing their release sets. Each step is retried until it succeeds or the partition is no
//! longer owned.

use std::{
    collections::{BTreeMap, HashSet},
    future::Future,
};

use accord_bus::Ownership;
use accord_domain::{ReportId, topics};
use accord_runtime::telemetry::ErrorChain;

use super::{RETRY, RestoredPartition};
use crate::AppState;

/// The trigger of the release sets of a partition's re-evaluation after its restore, shown in withdrawal receipts.
pub(crate) const TAKEN_OVER_TRIGGER: &str = "re-evaluated by the partition's new owner";

/// What `/readyz` names while a restore runs.
const PROGRESS: &str = "enforcer partitions";

/// Records read per batch of a restore.
const BATCH: usize = 512;

/// Restores the `wanted` partitions (each with the generation it is restored for), one after the other; returns
/// those restored (a partition revoked meanwhile is left out).
pub(super) async fn run(
    state: AppState,
    ownership: Ownership,
    wanted: Vec<(u32, u64)>,
) -> Vec<RestoredPartition> {
    let mut done = Vec::with_capacity(wanted.len());
    for (partition, since) in wanted {
        state
            .deps
            .health
            .progress(PROGRESS, format!("restoring partition {partition}"));
        let started = std::time::Instant::now();
        let Some((end, read)) = retried(&ownership, partition, "restore", || {
            restore(&state, partition)
        })
        .await
        else {
            continue;
        };
        let records = read.len();
        let Some(reports) = retried(&ownership, partition, "re-evaluation", || {
            reevaluate(&state, partition, since, &read)
        })
        .await
        else {
            continue;
        };
        tracing::info!(
            partition,
            records,
            reports,
            end,
            elapsed_ms = started.elapsed().as_millis(),
            "partition taken over: restored and re-evaluated"
        );
        done.push(RestoredPartition { partition, end });
    }
    state.deps.health.done(PROGRESS);
    // Their retention may have ended while their previous owner could not act on it.
    state.stored.notify_one();
    done
}

/// Runs `step` until it succeeds (`Some`) or `partition` is no longer owned (`None`).
async fn retried<T, F, Fut>(
    ownership: &Ownership,
    partition: u32,
    what: &str,
    mut step: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    loop {
        if !ownership.owned().owns(partition) {
            tracing::info!(
                partition,
                what,
                "partition revoked before its restore was done"
            );
            return None;
        }
        match step().await {
            Ok(value) => return Some(value),
            Err(error) => {
                tracing::warn!(partition, what, error = %ErrorChain(error.as_ref()), "partition restore failed, retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Applies the partition's records from the store's applied offset to the partition's end now, store only, and
/// raises the applied offset to that end. Returns the end and the ids of the reports read, each once.
async fn restore(state: &AppState, partition: u32) -> anyhow::Result<(u64, Vec<ReportId>)> {
    let store = state.store.clone();
    let applied = tokio::task::spawn_blocking(move || store.applied()).await??;
    let from = applied.get(&partition).copied().unwrap_or(0);
    let mut reader = state
        .deps
        .bus
        .read_partition(topics::REPORTS_NORMALIZED, partition, from)
        .await?;
    let end = reader.end();
    let (mut read, mut seen) = (Vec::new(), HashSet::new());
    loop {
        let batch = reader.next_batch(BATCH).await?;
        if batch.is_empty() {
            break;
        }
        let store = state.store.clone();
        let ids =
            tokio::task::spawn_blocking(move || crate::refill::apply(&store, &batch)).await??;
        read.extend(ids.into_iter().filter(|id| seen.insert(id.clone())));
    }
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.raise_applied(&BTreeMap::from([(partition, end)])))
        .await??;
    tracing::debug!(
        partition,
        from,
        end,
        reports = read.len(),
        "partition restored"
    );
    Ok((end, read))
}

/// Evaluates the partition's stored reports again and publishes their release sets, then marks the partition
/// restored for generation `since` (from then on every task acts on its reports), if it is still owned with that
/// generation, holding the ownership guard and the evaluation lock. Returns how many.
///
/// When this replica last evaluated the partition under the policy positions of now, with no MoU taking effect or
/// expiring since (`current`), only the reports the restore `read` are evaluated: what the partition held before
/// was evaluated under this same policy, and whoever added the rest evaluated it under that policy too, unless it
/// lagged. A restart after a crash thus publishes the records it read again, not its whole partition. A retention
/// that ended meanwhile is the sweep's, woken after the restore.
async fn reevaluate(
    state: &AppState,
    partition: u32,
    since: u64,
    read: &[ReportId],
) -> anyhow::Result<usize> {
    let held = state.partitions.hold().await;
    if held.owned.partitions.get(&partition) != Some(&since) {
        return Ok(0);
    }
    let _evaluation = state.evaluation.write().await;
    let (applied, now) = (state.deps.directory.applied(), chrono::Utc::now());
    let store = state.store.clone();
    let evaluated = tokio::task::spawn_blocking(move || store.evaluated(partition)).await??;
    let count = if current(state, evaluated, applied, now) {
        crate::stored::evaluate_ids_and_publish(state, read.to_vec(), TAKEN_OVER_TRIGGER).await?
    } else {
        let which = crate::store::Stored::Partition(partition);
        let locking = crate::stored::Locking::Caller;
        crate::stored::reevaluate_stored(state, which, None, locking, TAKEN_OVER_TRIGGER).await?
    };
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.set_evaluated(&[partition], applied, now)).await??;
    state.partitions.restored().insert(partition, since);
    Ok(count)
}

/// Whether a partition last evaluated as `evaluated` says is current: the same policy positions as now, and no MoU
/// boundary between then and now.
fn current(
    state: &AppState,
    evaluated: Option<(accord_runtime::directory::Applied, accord_domain::Timestamp)>,
    applied: accord_runtime::directory::Applied,
    now: accord_domain::Timestamp,
) -> bool {
    let Some((positions, at)) = evaluated else {
        return false;
    };
    positions == applied
        && crate::reevaluate::boundaries(&state.deps.directory.snapshot().mous, at, now)
            .0
            .is_empty()
}
