//! What a grouped subscription has delivered and processed in one partition, and so which offset it may commit.
//!
//! Kafka offsets of one partition are increasing but not dense (compaction and transaction markers leave gaps), so
//! the contiguous [`Watermark`] runs over *delivery sequence numbers* (0, 1, 2… in the order this subscription
//! delivered the partition's records) and the tracker maps them back to offsets. The offset to commit is the offset
//! of the first delivered record not yet processed, or, when every delivered record was processed, the offset after
//! the last one: the group then resumes exactly at the first record nobody processed.
//!
//! A tracker lives for one assignment of the partition: it is created at the first delivery after the partition was
//! assigned and dropped when it is revoked (see the `consumer` module).

use std::collections::VecDeque;

use tracing::warn;

use crate::watermark::Watermark;

/// Delivered and processed records of one partition; see the module documentation.
#[derive(Debug)]
pub(super) struct PartitionTracker {
    /// Offsets of the delivered records from the watermark on, in delivery order: `delivered[i]` has the sequence
    /// number `base_seq + i`.
    delivered: VecDeque<i64>,
    base_seq: u64,
    /// Processed sequence numbers.
    watermark: Watermark,
    /// The offset after the last delivered record.
    next_offset: i64,
    /// The offset last committed for this partition by this subscription, if any.
    committed: Option<i64>,
}

impl PartitionTracker {
    /// Returns a tracker whose first delivered record is at `offset`.
    pub(super) fn new(offset: i64) -> Self {
        Self {
            delivered: VecDeque::from([offset]),
            base_seq: 0,
            watermark: Watermark::new(0),
            next_offset: offset + 1,
            committed: None,
        }
    }

    /// Records the delivery of the record at `offset`. Returns `false` when `offset` does not follow the last
    /// delivery (the consumer went back, e.g. after an offset reset): the caller then starts a new tracker.
    pub(super) fn deliver(&mut self, offset: i64) -> bool {
        if offset < self.next_offset {
            return false;
        }
        self.delivered.push_back(offset);
        self.next_offset = offset + 1;
        true
    }

    /// Marks the record at `offset` as processed; offsets below the watermark are ignored, offsets never delivered
    /// are ignored with a warning (marking them would skip records).
    pub(super) fn mark(&mut self, partition: u32, offset: i64) {
        match self.delivered.binary_search(&offset) {
            Ok(index) => self.watermark.mark(self.base_seq + index as u64),
            Err(0) if offset < self.next_offset => {}
            Err(_) => warn!(
                partition,
                offset, "ignoring a commit of a position this subscription has not delivered"
            ),
        }
        while self.base_seq < self.watermark.next() {
            self.delivered.pop_front();
            self.base_seq += 1;
        }
    }

    /// Returns the offset the group may resume from: the first delivered record not processed yet, or the offset
    /// after the last delivery when everything delivered was processed.
    pub(super) fn resume_offset(&self) -> i64 {
        self.delivered.front().copied().unwrap_or(self.next_offset)
    }

    /// Returns the offset to commit when it differs from what was committed.
    pub(super) fn pending(&self) -> Option<i64> {
        let offset = self.resume_offset();
        (self.committed != Some(offset) && self.base_seq > 0).then_some(offset)
    }

    /// Records that `offset` was committed.
    pub(super) fn committed(&mut self, offset: i64) {
        self.committed = Some(offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(offsets: &[i64]) -> PartitionTracker {
        let mut tracker = PartitionTracker::new(offsets[0]);
        for &offset in &offsets[1..] {
            assert!(tracker.deliver(offset));
        }
        tracker
    }

    #[test]
    fn commits_the_first_unprocessed_delivery() {
        let mut tracker = tracker(&[10, 11, 12, 13, 14, 15]);
        assert_eq!(
            tracker.pending(),
            None,
            "nothing processed, nothing to commit"
        );
        for offset in [10, 11, 13] {
            tracker.mark(0, offset);
        }
        assert_eq!(tracker.pending(), Some(12));
        tracker.committed(12);
        assert_eq!(tracker.pending(), None);
        tracker.mark(0, 12);
        assert_eq!(tracker.pending(), Some(14));
        for offset in [15, 14] {
            tracker.mark(0, offset);
        }
        assert_eq!(tracker.pending(), Some(16));
    }

    #[test]
    fn skips_offset_gaps() {
        // A compacted partition: offsets 3, 4 and 6..9 are gone.
        let mut tracker = tracker(&[2, 5, 9]);
        tracker.mark(0, 2);
        assert_eq!(tracker.pending(), Some(5));
        tracker.mark(0, 9);
        assert_eq!(tracker.pending(), Some(5));
        tracker.mark(0, 5);
        assert_eq!(tracker.pending(), Some(10));
    }

    #[test]
    fn ignores_undelivered_and_old_offsets() {
        let mut tracker = tracker(&[0, 1]);
        tracker.mark(0, 7);
        assert_eq!(tracker.pending(), None);
        tracker.mark(0, 0);
        tracker.mark(0, 0);
        assert_eq!(tracker.pending(), Some(1));
        assert!(!tracker.deliver(1), "a delivery must not go back");
    }
}
