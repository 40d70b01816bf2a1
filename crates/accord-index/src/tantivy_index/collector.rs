//! The page collector: counts matches and keeps the first hits by `occurred_at` descending, then view id
//! ascending.
//!
//! Each segment keeps its best `keep` documents by `(occurred_at desc, view id ordinal asc, doc asc)`: within a
//! segment, the ordinal order of the `view_id` column is the string order, so no string is read while collecting.
//! Across segments, ordinals are not comparable: [`order`] reads the view ids only for documents of different
//! segments that share an `occurred_at`, which real data rarely has.

use std::{cmp::Reverse, collections::BinaryHeap, collections::HashMap};

use tantivy::{
    DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader,
    collector::{Collector, SegmentCollector},
    columnar::{Column, StrColumn},
};

use super::schema::{OCCURRED_AT, VIEW_ID};

/// A kept document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    occurred: i64,
    id_ord: u64,
    address: DocAddress,
}

/// What a search collected: the number of matches and the best candidates of each segment.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// The number of matching documents.
    pub(crate) total: u64,
    pub(crate) candidates: Vec<Candidate>,
}

/// Collects [`Collected`], keeping `keep` candidates per segment.
pub(crate) struct PageCollector {
    keep: usize,
}

impl PageCollector {
    /// Returns a collector of the first `keep` hits (at least one is kept).
    pub(crate) fn new(keep: usize) -> Self {
        Self { keep: keep.max(1) }
    }
}

/// The per-segment sort key; a max-heap of keys pops the worst kept candidate.
type Key = (Reverse<i64>, u64, DocId);

pub(crate) struct SegmentPageCollector {
    segment: SegmentOrdinal,
    occurred: Option<Column<i64>>,
    id_ords: Option<Column<u64>>,
    keep: usize,
    total: u64,
    heap: BinaryHeap<Key>,
}

impl Collector for PageCollector {
    type Fruit = Collected;
    type Child = SegmentPageCollector;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let fast = reader.fast_fields();
        Ok(SegmentPageCollector {
            segment,
            occurred: fast.column_opt::<i64>(OCCURRED_AT)?,
            id_ords: fast.str(VIEW_ID)?.map(|column| column.ords().clone()),
            keep: self.keep,
            total: 0,
            heap: BinaryHeap::with_capacity(self.keep.min(1024) + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Collected>) -> tantivy::Result<Collected> {
        let mut merged = Collected::default();
        for fruit in fruits {
            merged.total += fruit.total;
            merged.candidates.extend(fruit.candidates);
        }
        Ok(merged)
    }
}

impl SegmentCollector for SegmentPageCollector {
    type Fruit = Collected;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.total += 1;
        // Views always have both; documents without them sort last.
        let occurred = self
            .occurred
            .as_ref()
            .and_then(|column| column.first(doc))
            .unwrap_or(i64::MIN);
        let id_ord = self
            .id_ords
            .as_ref()
            .and_then(|column| column.first(doc))
            .unwrap_or(u64::MAX);
        let key = (Reverse(occurred), id_ord, doc);
        if self.heap.len() < self.keep {
            self.heap.push(key);
        } else if self.heap.peek().is_some_and(|worst| key < *worst) {
            self.heap.pop();
            self.heap.push(key);
        }
    }

    fn harvest(self) -> Collected {
        let segment = self.segment;
        let candidates = self
            .heap
            .into_sorted_vec()
            .into_iter()
            .map(|(Reverse(occurred), id_ord, doc)| Candidate {
                occurred,
                id_ord,
                address: DocAddress::new(segment, doc),
            })
            .collect();
        Collected {
            total: self.total,
            candidates,
        }
    }
}

/// Returns the addresses of the first `end` candidates in page order: `occurred_at` descending, view id ascending,
/// then address.
///
/// # Errors
/// Returns the tantivy error when a view id column cannot be read to break a tie across segments.
pub(crate) fn order(
    searcher: &Searcher,
    mut candidates: Vec<Candidate>,
    end: usize,
) -> tantivy::Result<Vec<DocAddress>> {
    candidates.sort_unstable_by_key(|candidate| {
        (
            Reverse(candidate.occurred),
            candidate.address.segment_ord,
            candidate.id_ord,
            candidate.address.doc_id,
        )
    });
    let mut ordered = Vec::with_capacity(end.min(candidates.len()));
    let mut columns: HashMap<SegmentOrdinal, Option<StrColumn>> = HashMap::new();
    let mut start = 0;
    while start < candidates.len() && ordered.len() < end {
        let occurred = candidates[start].occurred;
        let len = candidates[start..]
            .iter()
            .take_while(|candidate| candidate.occurred == occurred)
            .count();
        let run = &candidates[start..start + len];
        let first_segment = run[0].address.segment_ord;
        if run
            .iter()
            .all(|candidate| candidate.address.segment_ord == first_segment)
        {
            ordered.extend(run.iter().map(|candidate| candidate.address));
        } else {
            let mut keyed = Vec::with_capacity(run.len());
            for candidate in run {
                keyed.push((
                    view_id(searcher, &mut columns, candidate)?,
                    candidate.address,
                ));
            }
            keyed.sort_unstable();
            ordered.extend(keyed.into_iter().map(|(_, address)| address));
        }
        start += len;
    }
    ordered.truncate(end);
    Ok(ordered)
}

/// Reads the view id of a candidate from its segment's `view_id` column.
fn view_id(
    searcher: &Searcher,
    columns: &mut HashMap<SegmentOrdinal, Option<StrColumn>>,
    candidate: &Candidate,
) -> tantivy::Result<String> {
    let segment = candidate.address.segment_ord;
    if !columns.contains_key(&segment) {
        let column = searcher
            .segment_reader(segment)
            .fast_fields()
            .str(VIEW_ID)?;
        columns.insert(segment, column);
    }
    let mut id = String::new();
    if let Some(Some(column)) = columns.get(&segment) {
        column.ord_to_str(candidate.id_ord, &mut id)?;
    }
    Ok(id)
}
