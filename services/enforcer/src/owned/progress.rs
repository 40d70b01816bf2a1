//! The stage's contiguous progress per partition, so that the store's applied offsets follow what the stage
//! applied and not only what restores read (module `owned`).
//!
//! A partition is tracked from its restore on: every record below the restore's end is in the store. The stage's
//! records of it are then delivered from the group's committed offset, which is at or below that end (the previous
//! owner committed before giving the partition up), in offset order; a record delivered and not processed yet is
//! outstanding. Every record below the first outstanding one (or below the offset after the last delivered one,
//! when none is outstanding), and every record below the restore's end, is in the store: the larger of the two is
//! the partition's progress, written to the store's
//! applied offsets (raised only) at most every [`PROGRESS_EVERY`] and at each change of ownership. A partition
//! whose first delivery after its restore is past the restore's end (records nobody applied here) is not written.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::{Duration, Instant},
};

use accord_bus::{Delivery, Owned, Position};
use accord_runtime::telemetry::ErrorChain;

use crate::store::ReportStore;

/// How often at most the progress is written to the store.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// One partition's progress.
#[derive(Debug)]
struct Track {
    /// Delivered, not processed yet.
    outstanding: BTreeSet<u64>,
    /// The offset after the last delivered record (at first, the restore's end).
    next: u64,
    /// The restore's end: every record below it is in the store, whatever is outstanding.
    floor: u64,
    /// Whether a record was delivered since the restore.
    started: bool,
    /// `false` once the first delivery after the restore was past its end.
    valid: bool,
}

impl Track {
    fn watermark(&self) -> u64 {
        self.outstanding
            .first()
            .copied()
            .unwrap_or(self.next)
            .max(self.floor)
    }
}

/// The progress of every partition restored and owned.
pub(super) struct Progress {
    store: ReportStore,
    partitions: HashMap<u32, Track>,
    saved: Instant,
}

impl Progress {
    pub(super) fn new(store: ReportStore) -> Self {
        Self {
            store,
            partitions: HashMap::new(),
            saved: Instant::now(),
        }
    }

    /// Starts tracking `partition`, restored up to `end`.
    pub(super) fn restored(&mut self, partition: u32, end: u64) {
        self.partitions.insert(
            partition,
            Track {
                outstanding: BTreeSet::new(),
                next: end,
                floor: end,
                started: false,
                valid: true,
            },
        );
    }

    /// Forgets the partitions no longer owned.
    pub(super) fn keep(&mut self, owned: &Owned) {
        self.partitions
            .retain(|partition, _| owned.owns(*partition));
    }

    /// Notes a batch as delivered.
    pub(super) fn delivered(&mut self, batch: &[Delivery]) {
        for delivery in batch {
            let Position { partition, offset } = delivery.position;
            let Some(track) = self.partitions.get_mut(&partition) else {
                continue;
            };
            if !track.started {
                track.started = true;
                if offset > track.next {
                    tracing::warn!(
                        partition,
                        offset,
                        restored_to = track.next,
                        "the first record after a restore is past its end: its progress is not recorded"
                    );
                    track.valid = false;
                }
            }
            track.outstanding.insert(offset);
            track.next = track.next.max(offset + 1);
        }
    }

    /// Notes positions as processed (their effects are in the store).
    pub(super) fn processed(&mut self, positions: &[Position]) {
        for position in positions {
            if let Some(track) = self.partitions.get_mut(&position.partition) {
                track.outstanding.remove(&position.offset);
            }
        }
    }

    /// Writes the progress when it was last written `every` ago or longer.
    pub(super) fn save_every(&mut self, every: Duration) {
        if self.saved.elapsed() >= every {
            self.save();
        }
    }

    /// Writes the progress of every tracked partition to the store's applied offsets, in a blocking task of its own
    /// (nothing to await: a cancelled caller loses nothing). A failure is logged: the offsets stay lower, and a later
    /// restore reads more. Returns the task, which only tests wait for.
    pub(super) fn save(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        self.saved = Instant::now();
        let offsets: BTreeMap<u32, u64> = self
            .partitions
            .iter()
            .filter(|(_, track)| track.valid)
            .map(|(partition, track)| (*partition, track.watermark()))
            .collect();
        if offsets.is_empty() {
            return None;
        }
        let store = self.store.clone();
        Some(tokio::task::spawn_blocking(move || {
            if let Err(error) = store.raise_applied(&offsets) {
                tracing::warn!(error = %ErrorChain(&error), "failed to write the applied offsets");
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(partition: u32, offset: u64) -> Delivery {
        Delivery {
            topic: "reports.normalized".to_owned(),
            position: Position { partition, offset },
            record: accord_bus::Record::new("k", "{}"),
        }
    }

    fn at(partition: u32, offset: u64) -> Position {
        Position { partition, offset }
    }

    #[tokio::test]
    async fn progress_is_the_first_record_not_processed_and_only_raises() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(dir.path()).unwrap();
        let mut progress = Progress::new(store.clone());
        progress.restored(1, 10);
        progress.restored(2, 5);
        // Redelivered from the group's committed offset (below the restore's end), then new records.
        progress.delivered(&[
            delivery(1, 7),
            delivery(1, 9),
            delivery(1, 12),
            delivery(1, 13),
        ]);
        progress.delivered(&[delivery(2, 9)]);
        progress.processed(&[at(1, 7), at(1, 12), at(2, 9)]);
        progress.save().unwrap().await.unwrap();
        let applied = store.applied().unwrap();
        assert_eq!(
            applied.get(&1),
            Some(&10),
            "9 is outstanding, and the restore covers below 10"
        );
        assert_eq!(
            applied.get(&2),
            None,
            "records 5..9 were never applied here"
        );
        progress.processed(&[at(1, 9), at(1, 13)]);
        progress.save().unwrap().await.unwrap();
        assert_eq!(store.applied().unwrap().get(&1), Some(&14));
        // A partition given up is no longer written; what was written stays.
        progress.keep(&Owned::default());
        progress.restored(3, 2);
        progress.save().unwrap().await.unwrap();
        assert_eq!(store.applied().unwrap(), BTreeMap::from([(1, 14), (3, 2)]));
    }
}
