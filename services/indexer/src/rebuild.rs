//! The index is derived state: when the indexer starts on an empty index (its directory deleted or lost) although
//! its consumer group had already indexed releases, it rebuilds the index from the bus by itself; when the index
//! lost part of what it held (tantivy dropped segments that failed their checksums: [`SearchIndex::lost_documents`]),
//! it catches it up the same way.
//!
//! At start, before the stage subscribes: if the index says it is certainly empty ([`SearchIndex::is_empty`]:
//! tantivy, no document at all; OpenSearch, neither the alias nor a concrete views index was there, so the start
//! created the first generation), or that it lost documents, the indexer's group is rewound to the start of
//! `reports.releasable` ([`accord_bus::Bus::rewind_group`]). When the group had a committed offset (something was indexed before), the
//! stage then replays every release set ever published — idempotently: each write is versioned by its bus offset,
//! so the latest release set of each report wins, withdrawals included — and `/readyz` answers
//! `index rebuilding (n of m)` (records replayed of those on the topic at start) until it is done.
//!
//! A bus that cannot rewind a group (Kafka) is asked for the group's committed offsets instead
//! ([`accord_bus::Bus::committed_offsets`]); when they show that releases were indexed, the index is asked for an
//! online rebuild ([`SearchIndex::request_rebuild`]: OpenSearch, a new generation), which the `online` module runs
//! with a consumer group of its own, `/readyz` saying `index rebuilding (n of m)` as well. An index that can do
//! neither logs what to do instead (docs/runbook.md).
//!
//! [`SearchIndex::is_empty`]: accord_index::SearchIndex::is_empty
//! [`SearchIndex::lost_documents`]: accord_index::SearchIndex::lost_documents
//! [`SearchIndex::request_rebuild`]: accord_index::SearchIndex::request_rebuild

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use accord_domain::topics;
use accord_index::IndexClient;
use accord_runtime::{Deps, health::Health};

/// The name of the rebuild in the health registry (`/readyz`: `index rebuilding (n of m)`).
const WHAT: &str = "index";

/// A rebuild in progress.
pub(crate) struct Rebuild {
    /// Records on the topic when it started.
    target: u64,
    processed: AtomicU64,
    done: AtomicBool,
    health: Health,
    /// Whether `/readyz` says `index rebuilding (n of m)` until it is done (the index searches read is empty); an
    /// online rebuild of an index that searches still read logs its progress instead.
    blocks_readiness: bool,
    /// The index whose reads are held until it is done, when the replay writes into the index searches read
    /// ([`accord_index::SearchIndex::hold_reads`]: older versions are replayed before the latest).
    held: Option<IndexClient>,
}

impl Rebuild {
    /// Starts counting towards `target` records; holds `held`'s reads until they are all replayed.
    pub(crate) fn new(
        target: u64,
        health: Health,
        blocks_readiness: bool,
        held: Option<IndexClient>,
    ) -> Self {
        let rebuild = Self {
            target,
            processed: AtomicU64::new(0),
            done: AtomicBool::new(false),
            health,
            blocks_readiness,
            held,
        };
        rebuild.processed(0);
        rebuild
    }

    /// Counts `records` more replayed records; reports the progress, and the end once all are.
    pub(crate) fn processed(&self, records: usize) {
        if self.done.load(Ordering::Relaxed) {
            return;
        }
        let before = self.processed.fetch_add(records as u64, Ordering::Relaxed);
        let processed = before + records as u64;
        if processed >= self.target {
            if !self.done.swap(true, Ordering::Relaxed) {
                self.release();
                tracing::info!(records = self.target, "index rebuilt from the bus");
            }
            return;
        }
        let progress = format!("rebuilding ({processed} of {})", self.target);
        if let Some(index) = &self.held {
            index.hold_reads(Some(progress.clone()));
        }
        if self.blocks_readiness {
            self.health.progress(WHAT, progress);
        } else if before * 10 / self.target != processed * 10 / self.target {
            tracing::info!(processed, target = self.target, "index rebuild progress");
        }
    }

    /// Marks the rebuild ended (done, or given up): `/readyz` no longer mentions it, reads are no longer held.
    pub(crate) fn end(&self) {
        self.done.store(true, Ordering::Relaxed);
        self.release();
    }

    fn release(&self) {
        if let Some(index) = &self.held {
            index.hold_reads(None);
        }
        self.health.done(WHAT);
    }
}

/// Counts `records` replayed by a rebuild, if one runs.
pub(crate) fn progress(rebuild: Option<&Rebuild>, records: usize) {
    if let Some(rebuild) = rebuild {
        rebuild.processed(records);
    }
}

/// What the start check found.
pub(crate) struct Start {
    /// The rebuild the live stage runs (its group rewound), if any.
    pub(crate) rebuild: Option<Arc<Rebuild>>,
    /// Whether an online rebuild was asked for because the index was lost: it holds `/readyz` until it is done.
    pub(crate) lost: bool,
}

/// Checks the index before the stage subscribes and starts a rebuild when it is empty but was not (see the module
/// documentation).
///
/// # Errors
/// When the index or the bus cannot be read.
pub(crate) async fn check(deps: &Deps, group: &str) -> anyhow::Result<Start> {
    let mut start = Start {
        rebuild: None,
        lost: false,
    };
    // Segments dropped at open (tantivy, checksums): the reports they held are written again by a replay.
    let lost_documents = deps.index.lost_documents().await?;
    if !lost_documents && !deps.index.is_empty().await? {
        return Ok(start);
    }
    let topic = topics::REPORTS_RELEASABLE;
    let indexed = match deps.bus.rewind_group(group, topic).await {
        Ok(indexed) => indexed,
        Err(refused) => {
            start.lost = rebuild_online(deps, group, &refused).await?;
            deps.index.replay_started().await?;
            return Ok(start);
        }
    };
    // The rewind is durable: the replay resumes from the group's offsets after a crash.
    deps.index.replay_started().await?;
    if indexed == 0 {
        return Ok(start);
    }
    let target: u64 = deps
        .bus
        .end_offsets(topic)
        .await?
        .iter()
        .map(|end| end.offset)
        .sum();
    tracing::warn!(
        indexed,
        target,
        lost_documents,
        "the index lost what it held (it is empty, or damaged segments were dropped): replaying the bus into it"
    );
    // The live stage replays into the index searches read: older versions before the latest, so reads are held.
    start.rebuild = Some(Arc::new(Rebuild::new(
        target,
        deps.health.clone(),
        true,
        Some(deps.index.clone()),
    )));
    Ok(start)
}

/// The index is empty and the bus cannot rewind `group`: when the group's committed offsets show that releases were
/// indexed, asks the index for an online rebuild. Returns whether one was asked for.
async fn rebuild_online(
    deps: &Deps,
    group: &str,
    refused: &accord_bus::BusError,
) -> anyhow::Result<bool> {
    let topic = topics::REPORTS_RELEASABLE;
    let indexed: Option<u64> = match deps.bus.committed_offsets(group, topic).await {
        Ok(committed) => Some(committed.iter().map(|position| position.offset).sum()),
        Err(accord_bus::BusError::Refused(_)) => None,
        Err(error) => return Err(error.into()),
    };
    if indexed == Some(0) {
        return Ok(false);
    }
    let requested = match indexed {
        Some(_) => deps.index.request_rebuild().await.map_err(Some),
        None => Err(None),
    };
    match requested {
        Ok(generation) => {
            tracing::warn!(
                indexed,
                generation,
                "the index is empty although releases were indexed before: rebuilding it from the bus"
            );
            deps.health
                .progress(WHAT, "rebuilding (0 of unknown)".to_owned());
            Ok(true)
        }
        Err(error) => {
            tracing::warn!(
                error = %accord_runtime::telemetry::ErrorChain(refused),
                rebuild_error = error.map(|error| error.to_string()),
                group,
                "the index is empty and this bus cannot replay it by itself: if releases were indexed before, reset \
                 the indexer's consumer group to the start of reports.releasable"
            );
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readyz_tells_the_progress_until_every_record_is_replayed() {
        let health = Health::default();
        let rebuild = Rebuild::new(10, health.clone(), true, None);
        assert_eq!(
            health.readiness().unwrap_err(),
            "index rebuilding (0 of 10)"
        );
        rebuild.processed(4);
        assert_eq!(
            health.readiness().unwrap_err(),
            "index rebuilding (4 of 10)"
        );
        assert!(
            health.liveness().is_ok(),
            "a rebuild is no reason for a restart"
        );
        rebuild.processed(6);
        assert!(health.readiness().is_ok());
        rebuild.processed(3);
        assert!(
            health.readiness().is_ok(),
            "records after the end change nothing"
        );
    }

    /// A replay writes older versions before the latest: until every record is replayed, nothing is read.
    #[tokio::test]
    async fn reads_are_held_until_every_record_is_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let index = accord_index::IndexClient::from_url(&dir.path().to_string_lossy()).unwrap();
        let rebuild = Rebuild::new(10, Health::default(), true, Some(index.clone()));
        let held = index.search(accord_index::conformance::query()).await;
        assert!(
            matches!(&held, Err(accord_index::IndexError::Rebuilding(progress)) if progress == "rebuilding (0 of 10)"),
            "{held:?}"
        );
        rebuild.processed(9);
        assert!(
            index
                .search(accord_index::conformance::query())
                .await
                .is_err()
        );
        rebuild.processed(1);
        index
            .search(accord_index::conformance::query())
            .await
            .expect("read once everything is replayed");
        let given_up = Rebuild::new(10, Health::default(), true, Some(index.clone()));
        given_up.end();
        index
            .search(accord_index::conformance::query())
            .await
            .expect("a rebuild given up holds nothing");
    }

    #[test]
    fn an_online_rebuild_of_an_index_searches_still_read_keeps_the_process_ready() {
        let health = Health::default();
        let rebuild = Rebuild::new(10, health.clone(), false, None);
        rebuild.processed(4);
        assert!(health.readiness().is_ok());
        health.progress(WHAT, "rebuilding (0 of unknown)");
        rebuild.processed(6);
        assert!(
            health.readiness().is_ok(),
            "the end clears what the start check set"
        );
    }
}
