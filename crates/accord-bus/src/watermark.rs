//! The contiguous commit watermark of one partition.
//!
//! Consumers mark records as processed in any order (a batch may be handled concurrently), but a group may only
//! commit the offset below which *every* record has been processed, or a restart would skip the holes. [`Watermark`]
//! keeps the processed offsets above the contiguous prefix and advances the prefix as the holes fill.

use std::collections::BTreeSet;

/// Tracks processed offsets of one partition and yields the next offset to commit.
#[derive(Debug, Clone)]
pub(crate) struct Watermark {
    /// Every offset below this one has been processed (or precedes the subscription's start).
    next: u64,
    /// Processed offsets above `next`, waiting for the holes below them to fill.
    ahead: BTreeSet<u64>,
}

impl Watermark {
    /// Returns a watermark whose contiguous prefix ends at `start`, the first offset the subscription reads.
    pub(crate) fn new(start: u64) -> Self {
        Self {
            next: start,
            ahead: BTreeSet::new(),
        }
    }

    /// Returns the offset after the contiguous processed prefix: the position to commit.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Marks `offset` as processed; offsets already below the watermark are ignored.
    pub(crate) fn mark(&mut self, offset: u64) {
        if offset < self.next {
            return;
        }
        self.ahead.insert(offset);
        while self.ahead.remove(&self.next) {
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_over_the_contiguous_prefix_only() {
        let mut watermark = Watermark::new(0);
        for offset in [0, 1, 3] {
            watermark.mark(offset);
        }
        assert_eq!(watermark.next(), 2);
        watermark.mark(2);
        assert_eq!(watermark.next(), 4);
    }

    #[test]
    fn starts_at_the_subscription_start_and_ignores_old_offsets() {
        let mut watermark = Watermark::new(10);
        watermark.mark(3);
        assert_eq!(watermark.next(), 10);
        watermark.mark(11);
        assert_eq!(watermark.next(), 10);
        watermark.mark(10);
        watermark.mark(10);
        assert_eq!(watermark.next(), 12);
    }

    #[test]
    fn handles_reverse_order() {
        let mut watermark = Watermark::new(0);
        for offset in (0..100).rev() {
            watermark.mark(offset);
        }
        assert_eq!(watermark.next(), 100);
        assert!(watermark.ahead.is_empty());
    }
}
