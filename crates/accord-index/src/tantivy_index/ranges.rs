//! Counting one query's matches per `occurred_at` range in one pass ([`crate::SearchIndex::count_ranges`]): the
//! validity window of the release filter applies as in the page collector, then each visible document is counted in
//! every range that holds its `occurred_at`.

use tantivy::{
    DocId, Score, SegmentReader, TantivyError,
    collector::{Collector, SegmentCollector},
    columnar::Column,
};

use super::schema::{OCCURRED_AT, VALID_FROM, VALID_UNTIL};

/// Counts, per range `[from, to)` (microseconds), the matching documents visible at `at`.
pub(crate) struct RangeCounter {
    pub(crate) at: i64,
    pub(crate) ranges: Vec<(i64, i64)>,
}

/// A segment's counts.
pub(crate) struct SegmentRangeCounter {
    columns: Option<[Column<i64>; 3]>,
    at: i64,
    ranges: Vec<(i64, i64)>,
    counts: Vec<u64>,
}

impl Collector for RangeCounter {
    type Fruit = Vec<u64>;
    type Child = SegmentRangeCounter;

    fn for_segment(&self, _segment: u32, reader: &SegmentReader) -> tantivy::Result<Self::Child> {
        let fast = reader.fast_fields();
        let column =
            |name: &str| -> tantivy::Result<Option<Column<i64>>> { fast.column_opt::<i64>(name) };
        // A segment without the columns has no view: nothing in it is visible.
        let columns = match (
            column(VALID_FROM)?,
            column(VALID_UNTIL)?,
            column(OCCURRED_AT)?,
        ) {
            (Some(from), Some(until), Some(occurred)) => Some([from, until, occurred]),
            _ => None,
        };
        Ok(SegmentRangeCounter {
            columns,
            at: self.at,
            ranges: self.ranges.clone(),
            counts: vec![0; self.ranges.len()],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<u64>>) -> Result<Self::Fruit, TantivyError> {
        let mut merged = vec![0; self.ranges.len()];
        for fruit in fruits {
            for (total, count) in merged.iter_mut().zip(fruit) {
                *total += count;
            }
        }
        Ok(merged)
    }
}

impl SegmentCollector for SegmentRangeCounter {
    type Fruit = Vec<u64>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let Some([from, until, occurred]) = &self.columns else {
            return;
        };
        let visible = matches!(
            (from.first(doc), until.first(doc)),
            (Some(from), Some(until)) if from <= self.at && self.at < until
        );
        let Some(occurred) = occurred.first(doc).filter(|_| visible) else {
            return;
        };
        for ((start, end), count) in self.ranges.iter().zip(self.counts.iter_mut()) {
            if *start <= occurred && occurred < *end {
                *count += 1;
            }
        }
    }

    fn harvest(self) -> Vec<u64> {
        self.counts
    }
}
