//! The page collector: applies the validity window of the release filter, counts what passes, and keeps the
//! first hits by `occurred_at` descending, then view id ascending.
//!
//! The window (`valid_from <= at < valid_until`) is checked here, on the fast columns of the documents the query
//! matched, rather than as range clauses: a range clause opens its columns on every segment for every query, while
//! the collector opens them only in segments where the query matched something, which for an indicator lookup is
//! a handful. Every search goes through this collector, so the window always applies, to totals as to pages.
//!
//! Each segment keeps its best `keep` documents by `(occurred_at desc, view id ordinal asc, doc asc)`; [`order`]
//! puts the segments' candidates in one order ([`super::ranked`]).

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
};

use tantivy::{
    DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader, TantivyError,
    collector::{Collector, SegmentCollector},
    columnar::Column,
    fastfield::FastFieldReaders,
};

use super::{
    ranked::{self, Ids, Ranked},
    schema::{OCCURRED_AT, VALID_FROM, VALID_UNTIL, VIEW_ID},
};

/// A kept document, ranked by `occurred_at` descending.
pub(crate) type Candidate = Ranked;

/// What a search collected: the number of matches inside the window and the best candidates of each segment.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// The number of matching documents inside the window.
    pub(crate) total: u64,
    /// The best candidates of each segment, in no particular order across segments.
    pub(crate) candidates: Vec<Candidate>,
}

/// Collects [`Collected`] for the documents visible at `at`, keeping `keep` candidates per segment.
pub(crate) struct PageCollector {
    at: i64,
    keep: usize,
}

impl PageCollector {
    /// Returns a collector of the documents visible at `at` (microseconds) that keeps the first `keep` hits; with
    /// `keep == 0` it only counts.
    pub(crate) fn new(at: i64, keep: usize) -> Self {
        Self { at, keep }
    }
}

/// The per-segment sort key; a max-heap of keys pops the worst kept candidate.
type Key = (Reverse<i64>, u64, DocId);

/// The columns a segment collector reads, opened at its first matching document.
struct Columns {
    valid_from: Option<Column<i64>>,
    valid_until: Option<Column<i64>>,
    occurred: Option<Column<i64>>,
    id_ords: Option<Column<u64>>,
}

impl Columns {
    fn open(fast: &FastFieldReaders) -> tantivy::Result<Self> {
        Ok(Columns {
            valid_from: fast.column_opt::<i64>(VALID_FROM)?,
            valid_until: fast.column_opt::<i64>(VALID_UNTIL)?,
            occurred: fast.column_opt::<i64>(OCCURRED_AT)?,
            id_ords: fast.str(VIEW_ID)?.map(|column| column.ords().clone()),
        })
    }

    /// Returns whether `doc` is visible at `at`; a document without a window is not.
    fn visible(&self, doc: DocId, at: i64) -> bool {
        let from = self
            .valid_from
            .as_ref()
            .and_then(|column| column.first(doc));
        let until = self
            .valid_until
            .as_ref()
            .and_then(|column| column.first(doc));
        matches!((from, until), (Some(from), Some(until)) if from <= at && at < until)
    }

    /// Returns the sort key of `doc`. Views always have both columns; documents without them sort last.
    fn key(&self, doc: DocId) -> Key {
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
        (Reverse(occurred), id_ord, doc)
    }
}

/// Keeps `key` in `heap` when it is among the best `keep` seen.
fn keep_best(heap: &mut BinaryHeap<Key>, keep: usize, key: Key) {
    if keep == 0 {
        return;
    }
    if heap.len() < keep {
        heap.push(key);
    } else if heap.peek().is_some_and(|worst| key < *worst) {
        heap.pop();
        heap.push(key);
    }
}

/// Returns the candidates of a segment's heap, best first.
fn candidates(segment: SegmentOrdinal, heap: BinaryHeap<Key>) -> Vec<Candidate> {
    heap.into_sorted_vec()
        .into_iter()
        .map(|(Reverse(occurred), id_ord, doc)| Candidate {
            key: -i128::from(occurred),
            id_ord,
            address: DocAddress::new(segment, doc),
        })
        .collect()
}

/// The pages of many keys in one segment (the batch lookup): per key, what [`PageCollector`] collects for one query
/// — the window, the count and the best `keep` documents — with the segment's columns opened once for all keys.
pub(crate) struct SegmentPages {
    segment: SegmentOrdinal,
    columns: Columns,
    at: i64,
    keep: usize,
    pages: HashMap<usize, (u64, BinaryHeap<Key>)>,
}

impl SegmentPages {
    /// Opens the columns of segment `segment` for the documents visible at `at` (microseconds), keeping `keep`
    /// hits per key.
    ///
    /// # Errors
    /// Returns the tantivy error when a column cannot be opened.
    pub(crate) fn open(
        segment: SegmentOrdinal,
        reader: &SegmentReader,
        at: i64,
        keep: usize,
    ) -> tantivy::Result<Self> {
        Ok(Self {
            segment,
            columns: Columns::open(reader.fast_fields())?,
            at,
            keep,
            pages: HashMap::new(),
        })
    }

    /// Collects `doc`, a match of key number `key` (each pair once).
    pub(crate) fn collect(&mut self, key: usize, doc: DocId) {
        if !self.columns.visible(doc, self.at) {
            return;
        }
        let (total, heap) = self.pages.entry(key).or_default();
        *total += 1;
        keep_best(heap, self.keep, self.columns.key(doc));
    }

    /// Adds the counts and candidates of this segment to `collected` (one entry per key).
    pub(crate) fn harvest(self, collected: &mut [Collected]) {
        for (key, (total, heap)) in self.pages {
            if let Some(page) = collected.get_mut(key) {
                page.total += total;
                page.candidates.extend(candidates(self.segment, heap));
            }
        }
    }
}

pub(crate) struct SegmentPageCollector {
    segment: SegmentOrdinal,
    fast: FastFieldReaders,
    columns: Option<Columns>,
    error: Option<TantivyError>,
    at: i64,
    keep: usize,
    total: u64,
    heap: BinaryHeap<Key>,
}

impl Collector for PageCollector {
    type Fruit = tantivy::Result<Collected>;
    type Child = SegmentPageCollector;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        Ok(SegmentPageCollector {
            segment,
            fast: reader.fast_fields().clone(),
            columns: None,
            error: None,
            at: self.at,
            keep: self.keep,
            total: 0,
            heap: BinaryHeap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<tantivy::Result<Collected>>,
    ) -> tantivy::Result<Self::Fruit> {
        let mut merged = Collected::default();
        for fruit in fruits {
            let fruit = match fruit {
                Ok(fruit) => fruit,
                Err(error) => return Ok(Err(error)),
            };
            merged.total += fruit.total;
            merged.candidates.extend(fruit.candidates);
        }
        Ok(Ok(merged))
    }
}

impl SegmentCollector for SegmentPageCollector {
    type Fruit = tantivy::Result<Collected>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.error.is_some() {
            return;
        }
        if self.columns.is_none() {
            match Columns::open(&self.fast) {
                Ok(columns) => self.columns = Some(columns),
                Err(error) => {
                    self.error = Some(error);
                    return;
                }
            }
        }
        let Some(columns) = &self.columns else { return };
        if !columns.visible(doc, self.at) {
            return;
        }
        self.total += 1;
        keep_best(&mut self.heap, self.keep, columns.key(doc));
    }

    fn harvest(self) -> tantivy::Result<Collected> {
        if let Some(error) = self.error {
            return Err(error);
        }
        Ok(Collected {
            total: self.total,
            candidates: candidates(self.segment, self.heap),
        })
    }
}

/// Returns the addresses of the first `end` candidates in page order: `occurred_at` descending, view id ascending,
/// then address.
///
/// # Errors
/// Returns the tantivy error when a view id column cannot be read to break a tie across segments.
pub(crate) fn order(
    searcher: &Searcher,
    candidates: Vec<Candidate>,
    end: usize,
) -> tantivy::Result<Vec<DocAddress>> {
    Ok(ranked::order(searcher, candidates, end, Ids::Ascending)?
        .into_iter()
        .map(|candidate| candidate.address)
        .collect())
}
