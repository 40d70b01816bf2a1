//! The index is derived state: when the indexer starts on an empty index (its directory deleted or lost) although
//! its consumer group had already indexed releases, it rebuilds the index from the bus by itself.
//!
//! At start, before the stage subscribes: if the index says it is certainly empty ([`SearchIndex::is_empty`]:
//! tantivy, no document at all) the indexer's group is rewound to the start of `reports.releasable`
//! ([`accord_bus::Bus::rewind_group`]). When the group had a committed offset (something was indexed before), the
//! stage then replays every release set ever published — idempotently: each write is versioned by its bus offset,
//! so the latest release set of each report wins, withdrawals included — and `/readyz` answers
//! `index rebuilding (n of m)` (records replayed of those on the topic at start) until it is done. A bus that cannot
//! rewind a group (Kafka) or an index that cannot tell (OpenSearch) logs what to do instead (docs/runbook.md).
//!
//! [`SearchIndex::is_empty`]: accord_index::SearchIndex::is_empty

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use accord_domain::topics;
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
}

impl Rebuild {
    /// Counts `records` more replayed records; reports the progress, and the end once all are.
    pub(crate) fn processed(&self, records: usize) {
        if self.done.load(Ordering::Relaxed) {
            return;
        }
        let processed =
            self.processed.fetch_add(records as u64, Ordering::Relaxed) + records as u64;
        if processed >= self.target {
            if !self.done.swap(true, Ordering::Relaxed) {
                self.health.done(WHAT);
                tracing::info!(records = self.target, "index rebuilt from the bus");
            }
            return;
        }
        self.health
            .progress(WHAT, format!("rebuilding ({processed} of {})", self.target));
    }
}

/// Counts `records` replayed by a rebuild, if one runs.
pub(crate) fn progress(rebuild: Option<&Rebuild>, records: usize) {
    if let Some(rebuild) = rebuild {
        rebuild.processed(records);
    }
}

/// Checks the index before the stage subscribes and starts a rebuild when it is empty but was not (see the module
/// documentation).
///
/// # Errors
/// When the index or the bus cannot be read.
pub(crate) async fn check(deps: &Deps, group: &str) -> anyhow::Result<Option<Arc<Rebuild>>> {
    if !deps.index.is_empty().await? {
        return Ok(None);
    }
    let topic = topics::REPORTS_RELEASABLE;
    let indexed = match deps.bus.rewind_group(group, topic).await {
        Ok(indexed) => indexed,
        Err(error) => {
            tracing::warn!(
                error = %accord_runtime::telemetry::ErrorChain(&error),
                group,
                "the index is empty and this bus cannot replay it by itself: if releases were indexed before, reset \
                 the indexer's consumer group to the start of reports.releasable"
            );
            return Ok(None);
        }
    };
    if indexed == 0 {
        return Ok(None);
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
        "the index is empty although releases were indexed before: rebuilding it from the bus"
    );
    deps.health
        .progress(WHAT, format!("rebuilding (0 of {target})"));
    let rebuild = Rebuild {
        target,
        processed: AtomicU64::new(0),
        done: AtomicBool::new(false),
        health: deps.health.clone(),
    };
    rebuild.processed(0);
    Ok(Some(Arc::new(rebuild)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readyz_tells_the_progress_until_every_record_is_replayed() {
        let health = Health::default();
        let rebuild = Rebuild {
            target: 10,
            processed: AtomicU64::new(0),
            done: AtomicBool::new(false),
            health: health.clone(),
        };
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
}
