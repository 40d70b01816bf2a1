//! The TAXII order on tantivy ([`crate::ordered`]): one pass over the documents the release filter matches, reading
//! only fast columns, keeping the first `size` keys after the start bound; then only those views are decoded.
//!
//! Per document: the validity window (as every search), the release time — the `release_base` column, raised to the
//! change time of each of its `mou` terms that names a listed MoU version (the change times are looked up once per
//! segment, by the term ordinals of its `mou` dictionary) — and the view id's ordinal, whose order within a segment
//! is the string order. The start bound's view id is placed among each segment's ordinals once, so no document's id
//! is read while collecting; the kept candidates of all segments are put in one order by [`super::ranked`], which
//! reads view ids only to break ties across segments.

use std::{
    collections::{BinaryHeap, HashMap},
    ops::Bound,
};

use tantivy::{
    DocAddress, DocId, Score, SegmentOrdinal, SegmentReader,
    collector::{Collector, SegmentCollector},
    columnar::{Column, StrColumn, TermOrdHit},
    query::Weight,
};

use super::{
    ranked::{self, Ids, Ranked},
    schema::{MOU, RELEASE_BASE, VALID_FROM, VALID_UNTIL, VIEW_ID, micros},
};
use crate::{ReleasedQuery, ordered::MouChanges};

/// A document's place in the walk: `(release time µs, view id ordinal, doc)`, negated when descending, so that the
/// smallest keys are always the first ones.
type Key = (i128, u64, DocId);

/// The walk's parameters as the collector needs them.
pub(crate) struct ReleasedCollector {
    at: i64,
    changes: HashMap<String, i64>,
    start: Bound<(i64, String)>,
    descending: bool,
    size: usize,
}

impl ReleasedCollector {
    /// Returns the collector of a walk over the documents visible at `query.release.at`.
    pub(crate) fn new(query: &ReleasedQuery) -> Self {
        let start = match &query.start {
            Bound::Included((at, id)) => Bound::Included((micros(*at), id.clone())),
            Bound::Excluded((at, id)) => Bound::Excluded((micros(*at), id.clone())),
            Bound::Unbounded => Bound::Unbounded,
        };
        Self {
            at: micros(query.release.at),
            changes: change_terms(&query.changes),
            start,
            descending: query.descending,
            size: query.size,
        }
    }
}

/// Returns the change times by `mou` term (`<id>@<version>`, as `crate::document_terms` writes it).
fn change_terms(changes: &MouChanges) -> HashMap<String, i64> {
    changes
        .iter()
        .map(|((mou, version), at)| (format!("{mou}@{version}"), micros(*at)))
        .collect()
}

/// The columns of one segment.
struct Columns {
    valid_from: Column<i64>,
    valid_until: Column<i64>,
    base: Column<i64>,
    mous: Option<StrColumn>,
    ids: StrColumn,
    /// Change time by `mou` term ordinal (`i64::MIN` for a version not listed): a segment's `mou` dictionary holds
    /// the MoU versions its views were rendered under, a few.
    changes: Vec<i64>,
}

impl Columns {
    /// Opens the columns of a segment; `None` when it has no views.
    fn open(
        reader: &SegmentReader,
        changes: &HashMap<String, i64>,
    ) -> tantivy::Result<Option<Self>> {
        let fast = reader.fast_fields();
        let (Some(valid_from), Some(valid_until), Some(base), Some(ids)) = (
            fast.column_opt::<i64>(VALID_FROM)?,
            fast.column_opt::<i64>(VALID_UNTIL)?,
            fast.column_opt::<i64>(RELEASE_BASE)?,
            fast.str(VIEW_ID)?,
        ) else {
            return Ok(None);
        };
        let mous = fast.str(MOU)?;
        let mut by_ord = Vec::new();
        if let Some(column) = &mous
            && !changes.is_empty()
        {
            let mut terms = column.dictionary().stream()?;
            while terms.advance() {
                let changed = std::str::from_utf8(terms.key())
                    .ok()
                    .and_then(|term| changes.get(term));
                by_ord.push(changed.copied().unwrap_or(i64::MIN));
            }
        }
        Ok(Some(Self {
            valid_from,
            valid_until,
            base,
            mous,
            ids,
            changes: by_ord,
        }))
    }

    /// Returns the release time of `doc` when it is visible at `at`.
    fn released(&self, doc: DocId, at: i64) -> Option<i64> {
        let from = self.valid_from.first(doc)?;
        let until = self.valid_until.first(doc)?;
        if !(from <= at && at < until) {
            return None;
        }
        let mut released = self.base.first(doc)?;
        if let Some(mous) = &self.mous
            && !self.changes.is_empty()
        {
            for ord in mous.term_ords(doc) {
                if let Some(changed) = usize::try_from(ord)
                    .ok()
                    .and_then(|ord| self.changes.get(ord))
                {
                    released = released.max(*changed);
                }
            }
        }
        Some(released)
    }

    /// Returns whether some view of this segment may be visible at `at` and released in the walk's direction from
    /// `start`, by the columns' bounds alone: a segment that may not is skipped before its query runs, so a walk
    /// from a recent cursor (a poll, the later pages of a full read) looks up no term in older segments.
    fn may_hold(&self, at: i64, start: Option<&Start>, descending: bool) -> bool {
        if self.valid_from.min_value() > at || self.valid_until.max_value() <= at {
            return false;
        }
        let Some(start) = start else {
            return true;
        };
        if descending {
            // A release time is at least the view's base.
            self.base.min_value() <= start.at
        } else {
            let changed = self.changes.iter().copied().max().unwrap_or(i64::MIN);
            self.base.max_value().max(changed) >= start.at
        }
    }

    /// Places the start bound's view id among this segment's view id ordinals.
    fn bound(&self, start: &Bound<(i64, String)>) -> tantivy::Result<Option<Start>> {
        let (at, id, inclusive) = match start {
            Bound::Unbounded => return Ok(None),
            Bound::Included((at, id)) => (*at, id, true),
            Bound::Excluded((at, id)) => (*at, id, false),
        };
        let ord = match self.ids.dictionary().term_ord_or_next(id)? {
            TermOrdHit::Exact(ord) => IdOrd::Exact(ord),
            TermOrdHit::Next(ord) => IdOrd::Before(ord),
        };
        Ok(Some(Start { at, ord, inclusive }))
    }
}

/// Where the start bound's view id lies among a segment's view id ordinals.
#[derive(Debug, Clone, Copy)]
enum IdOrd {
    /// It is the id of this ordinal.
    Exact(u64),
    /// It is not in the segment and sorts just before this ordinal (which may be one past the last).
    Before(u64),
}

/// The start bound, as one segment compares with it.
#[derive(Debug, Clone, Copy)]
struct Start {
    at: i64,
    ord: IdOrd,
    inclusive: bool,
}

impl Start {
    /// Returns how `(released, view id of ord)` compares with the bound, in ascending order.
    fn compare(&self, released: i64, ord: u64) -> std::cmp::Ordering {
        if released != self.at {
            return released.cmp(&self.at);
        }
        match self.ord {
            IdOrd::Exact(bound) => ord.cmp(&bound),
            IdOrd::Before(next) if ord >= next => std::cmp::Ordering::Greater,
            IdOrd::Before(_) => std::cmp::Ordering::Less,
        }
    }
}

pub(crate) struct SegmentReleased {
    segment: SegmentOrdinal,
    columns: Option<Columns>,
    start: Option<Start>,
    at: i64,
    descending: bool,
    size: usize,
    heap: BinaryHeap<Key>,
}

impl SegmentReleased {
    /// Returns whether `(released, id of ord)` lies inside the start bound.
    fn inside(&self, released: i64, ord: u64) -> bool {
        let Some(start) = &self.start else {
            return true;
        };
        let order = start.compare(released, ord);
        let order = if self.descending {
            order.reverse()
        } else {
            order
        };
        order.is_gt() || (start.inclusive && order.is_eq())
    }

    fn key(&self, released: i64, ord: u64, doc: DocId) -> Key {
        if self.descending {
            (-i128::from(released), u64::MAX - ord, doc)
        } else {
            (i128::from(released), ord, doc)
        }
    }

    fn collect_doc(&mut self, doc: DocId) {
        let Some(columns) = &self.columns else {
            return;
        };
        let Some(released) = columns.released(doc, self.at) else {
            return;
        };
        let Some(ord) = columns.ids.ords().first(doc) else {
            return;
        };
        if !self.inside(released, ord) {
            return;
        }
        let key = self.key(released, ord, doc);
        if self.heap.len() < self.size {
            self.heap.push(key);
        } else if self.heap.peek().is_some_and(|worst| key < *worst) {
            self.heap.pop();
            self.heap.push(key);
        }
    }
}

impl Collector for ReleasedCollector {
    type Fruit = Vec<Ranked>;
    type Child = SegmentReleased;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let columns = Columns::open(reader, &self.changes)?;
        let start = match &columns {
            Some(columns) => columns.bound(&self.start)?,
            None => None,
        };
        Ok(SegmentReleased {
            segment,
            columns,
            start,
            at: self.at,
            descending: self.descending,
            size: self.size,
            heap: BinaryHeap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    /// Collects one segment, unless its columns' bounds rule every view out ([`Columns::may_hold`]): then the query
    /// is not even run there.
    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Vec<Ranked>> {
        let mut child = self.for_segment(segment, reader)?;
        let may_hold = child.columns.as_ref().is_some_and(|columns| {
            columns.may_hold(child.at, child.start.as_ref(), child.descending)
        });
        if child.size == 0 || !may_hold {
            return Ok(Vec::new());
        }
        let alive = reader.alive_bitset();
        weight.for_each_no_score(reader, &mut |docs| {
            for doc in docs {
                if alive.is_none_or(|alive| alive.is_alive(*doc)) {
                    child.collect_doc(*doc);
                }
            }
        })?;
        Ok(child.harvest())
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Ranked>>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for SegmentReleased {
    type Fruit = Vec<Ranked>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.size > 0 {
            self.collect_doc(doc);
        }
    }

    /// The kept documents, keyed by release time (negated when descending) with their true view id ordinals.
    fn harvest(self) -> Vec<Ranked> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|(key, ord, doc)| Ranked {
                key,
                id_ord: if self.descending { u64::MAX - ord } else { ord },
                address: DocAddress::new(self.segment, doc),
            })
            .collect()
    }
}

impl super::Inner {
    /// Walks the release filter's views in the TAXII order ([`crate::SearchIndex::released`]).
    pub(super) fn released(
        &self,
        query: &ReleasedQuery,
    ) -> Result<Vec<crate::Released>, crate::IndexError> {
        crate::check_stix_ids(&crate::Filters {
            stix_ids: query.stix_ids.clone(),
            ..crate::Filters::default()
        })?;
        let searcher = self.reader.searcher();
        let size = query
            .size
            .min(usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX));
        let search = crate::Query {
            release: query.release.clone(),
            indicator: None,
            text: None,
            filters: crate::Filters {
                stix_ids: query.stix_ids.clone(),
                ..crate::Filters::default()
            },
            size,
            offset: 0,
        };
        let collector = ReleasedCollector::new(&ReleasedQuery {
            size,
            ..query.clone()
        });
        let ids = if query.descending {
            Ids::Descending
        } else {
            Ids::Ascending
        };
        let candidates = searcher
            .search(&self.query_of(&search), &collector)
            .and_then(|candidates| ranked::order(&searcher, candidates, size, ids))
            .map_err(super::unavailable("failed to walk the released views"))?;
        Ok(candidates
            .into_iter()
            .filter_map(|candidate| {
                let view = self.load_or_skip(&searcher, candidate.address)?;
                let at = if query.descending {
                    -candidate.key
                } else {
                    candidate.key
                };
                let at = chrono::DateTime::from_timestamp_micros(i64::try_from(at).ok()?)?;
                Some(crate::Released { at, view })
            })
            .collect())
    }
}
