//! Evaluating stored reports again and publishing their release sets: after a policy change
//! ([`crate::reevaluate`]), a partition taken over (`crate::owned`), a partner's control (`crate::control`).
//!
//! - A partner's or a partition's reports are walked a page of ids at a time ([`reevaluate_stored`]): each page is
//!   read, decoded, evaluated and published before the next is read, so what a re-evaluation holds in memory is one
//!   page, however many reports the partner has (ten million indicators are a million reports, gigabytes decoded).
//! - A page is decoded, evaluated and encoded in as many parallel parts as the machine has cores, all against one
//!   directory snapshot and one evaluation time, and published in one bus write ([`crate::publish_encoded`]).
//! - The evaluation lock is held by the caller for the whole walk, or by the walk for one page at a time
//!   ([`Locking`]): a re-evaluation after a policy change, which can take minutes for a partner of millions of
//!   indicators, lets the stage evaluate the reports that arrive meanwhile between two pages rather than stall
//!   every partner's new reports until it ends.

use accord_bus::{Owned, Record};
use accord_domain::{NormalizedReport, ReleaseSet, ReportId, Timestamp};
use accord_runtime::{directory::Snapshot, stage};

use crate::{
    AppState, evaluate_at, publish_encoded, release_record,
    store::{Resume, Stored},
};

/// The parallel parts a page is evaluated in: one per core.
fn parts() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Who holds the evaluation lock while stored reports are walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locking {
    /// The caller, for the whole walk.
    Caller,
    /// The walk, for one page at a time: the stage's lanes evaluate the reports that arrive meanwhile between two
    /// pages, each page's snapshot is taken inside the lock, so release sets are still published in the order of
    /// the snapshots they were computed from (see the crate docs).
    EachPage,
}

/// Evaluates every stored report of `which` again — of those, only the ones of `owned`'s partitions when given
/// (`crate::owned::belongs`) — a page of `reevaluation_chunk` at a time, and publishes their release sets. Returns
/// how many were evaluated.
///
/// # Errors
/// A store failure or a transient bus failure: the caller retries.
pub(crate) async fn reevaluate_stored(
    state: &AppState,
    which: Stored,
    owned: Option<Owned>,
    locking: Locking,
    trigger: &str,
) -> anyhow::Result<usize> {
    let limit = state.config.reevaluation_chunk.max(1);
    let mut after: Option<Resume> = None;
    let mut count = 0;
    loop {
        let (store, which, owned) = (state.store.clone(), which.clone(), owned.clone());
        let (ids, next) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let (ids, next) = store.page_ids(&which, after.as_ref(), limit)?;
            let ids = match owned {
                Some(owned) => crate::owned::owned_ids(&store, &owned, ids)?,
                None => ids,
            };
            Ok((ids, next))
        })
        .await??;
        let _evaluation = match locking {
            Locking::EachPage => Some(state.evaluation.write().await),
            Locking::Caller => None,
        };
        count += evaluate_ids_and_publish(state, ids, trigger).await?;
        match next {
            Some(next) => after = Some(next),
            None => return Ok(count),
        }
    }
}

/// Evaluates the stored reports `ids` again (those still stored), `reevaluation_chunk` at a time, and publishes
/// their release sets. Returns how many were evaluated. The caller holds the evaluation lock.
///
/// # Errors
/// A store failure or a transient bus failure: the caller retries.
pub(crate) async fn evaluate_ids_and_publish(
    state: &AppState,
    ids: Vec<ReportId>,
    trigger: &str,
) -> anyhow::Result<usize> {
    let mut count = 0;
    for chunk in ids.chunks(state.config.reevaluation_chunk.max(1)) {
        let (store, chunk, snapshot, at, trigger) = (
            state.store.clone(),
            chunk.to_vec(),
            state.deps.directory.snapshot(),
            chrono::Utc::now(),
            trigger.to_owned(),
        );
        let evaluated = tokio::task::spawn_blocking(move || {
            store.map_many(&chunk, parts(), |report| {
                evaluate_and_encode(&report, &snapshot, at, &trigger)
            })
        })
        .await??;
        count += evaluated.len();
        publish_evaluated(state, evaluated).await?;
    }
    Ok(count)
}

/// Evaluates `reports` again and publishes their release sets, `reevaluation_chunk` at a time: each chunk against
/// one directory snapshot, off the async runtime in parallel parts (rendering every view is CPU work). Returns how
/// many. The caller holds the evaluation lock.
///
/// # Errors
/// A transient bus failure: the caller retries.
pub(crate) async fn evaluate_and_publish(
    state: &AppState,
    reports: Vec<NormalizedReport>,
    trigger: &str,
) -> anyhow::Result<usize> {
    let count = reports.len();
    let chunk_size = state.config.reevaluation_chunk.max(1);
    let mut reports = reports.into_iter().peekable();
    while reports.peek().is_some() {
        let chunk: Vec<NormalizedReport> = reports.by_ref().take(chunk_size).collect();
        let (snapshot, at, trigger) = (
            state.deps.directory.snapshot(),
            chrono::Utc::now(),
            trigger.to_owned(),
        );
        let evaluated = tokio::task::spawn_blocking(move || {
            map_parts(&chunk, |report| {
                evaluate_and_encode(report, &snapshot, at, &trigger)
            })
        })
        .await?;
        publish_evaluated(state, evaluated).await?;
    }
    Ok(count)
}

/// A release set and its bus record ([`release_record`]).
type Evaluated = (ReleaseSet, anyhow::Result<Record>);

/// Evaluates `report` as [`evaluate_at`] does and encodes its release set.
fn evaluate_and_encode(
    report: &NormalizedReport,
    snapshot: &Snapshot,
    at: Timestamp,
    trigger: &str,
) -> Evaluated {
    let release = evaluate_at(report, snapshot, at, trigger);
    let record = release_record(&release);
    (release, record)
}

/// Publishes evaluated release sets in one bus write ([`publish_encoded`]), their records marked with the calling
/// task's priority.
async fn publish_evaluated(state: &AppState, evaluated: Vec<Evaluated>) -> anyhow::Result<()> {
    let (releases, records): (Vec<ReleaseSet>, Vec<anyhow::Result<Record>>) =
        evaluated.into_iter().unzip();
    let mut records = records.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    for record in &mut records {
        stage::mark_priority(record);
    }
    publish_encoded(&state.deps.bus, &releases, records).await
}

/// Maps `items` with `map` in [`parts`] parallel parts of consecutive items; the results in order.
fn map_parts<T: Sync, R: Send>(items: &[T], map: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let size = items.len().div_ceil(parts()).max(1);
    let map = &map;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(size)
            .map(|part| scope.spawn(move || part.iter().map(map).collect::<Vec<R>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}
