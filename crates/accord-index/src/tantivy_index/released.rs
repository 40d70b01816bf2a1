//! The TAXII order on tantivy ([`crate::ordered`]): one pass over the documents the release filter matches, reading
//! only fast columns, keeping the first `size` keys after the start bound; then only those views are decoded.
//!
//! Per document: the validity window (as every search), the release time — the `release_base` column, raised to the
//! change time of each of its `mou` terms that names a listed MoU version (the change times are looked up once per
//! segment, by the term ordinals of its `mou` dictionary) — and the view id's ordinal, whose order within a segment
//! is the string order. Across segments the kept candidates are compared by their view id strings. A document whose
//! release time equals the bound's reads its view id to compare with the bound's.

use std::{
    collections::{BinaryHeap, HashMap},
    ops::Bound,
};

use tantivy::{
    DocAddress, DocId, Score, SegmentOrdinal, SegmentReader, TantivyError,
    collector::{Collector, SegmentCollector},
    columnar::{Column, StrColumn},
};

use super::schema::{MOU, RELEASE_BASE, VALID_FROM, VALID_UNTIL, VIEW_ID, micros};
use crate::{ReleasedQuery, ordered::MouChanges};

/// A document's place in the walk: `(release time µs, view id ordinal, doc)`, negated when descending, so that the
/// smallest keys are always the first ones.
type Key = (i128, u64, DocId);

/// A kept document.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Release time, µs.
    pub(crate) at: i64,
    /// The view id.
    pub(crate) id: String,
    /// Where it is.
    pub(crate) address: DocAddress,
}

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
    /// Change time by `mou` term ordinal, for the listed versions present in this segment.
    changes: HashMap<u64, i64>,
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
        let mut by_ord = HashMap::new();
        if let Some(column) = &mous {
            for (term, at) in changes {
                if let Some(ord) = column.dictionary().term_ord(term)? {
                    by_ord.insert(ord, *at);
                }
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
                if let Some(changed) = self.changes.get(&ord) {
                    released = released.max(*changed);
                }
            }
        }
        Some(released)
    }

    fn id(&self, ord: u64) -> tantivy::Result<String> {
        let mut id = String::new();
        self.ids.ord_to_str(ord, &mut id)?;
        Ok(id)
    }
}

pub(crate) struct SegmentReleased {
    segment: SegmentOrdinal,
    columns: Option<Columns>,
    error: Option<TantivyError>,
    at: i64,
    start: Bound<(i64, String)>,
    descending: bool,
    size: usize,
    heap: BinaryHeap<Key>,
}

impl SegmentReleased {
    /// Returns whether `(released, id of ord)` lies inside the start bound.
    fn inside(&self, columns: &Columns, released: i64, ord: u64) -> tantivy::Result<bool> {
        let (bound, inclusive) = match &self.start {
            Bound::Unbounded => return Ok(true),
            Bound::Included(bound) => (bound, true),
            Bound::Excluded(bound) => (bound, false),
        };
        let order = if released == bound.0 {
            columns.id(ord)?.as_str().cmp(bound.1.as_str())
        } else {
            released.cmp(&bound.0)
        };
        let order = if self.descending {
            order.reverse()
        } else {
            order
        };
        Ok(order.is_gt() || (inclusive && order.is_eq()))
    }

    fn key(&self, released: i64, ord: u64, doc: DocId) -> Key {
        if self.descending {
            (-i128::from(released), u64::MAX - ord, doc)
        } else {
            (i128::from(released), ord, doc)
        }
    }

    fn try_collect(&mut self, doc: DocId) -> tantivy::Result<()> {
        let Some(columns) = &self.columns else {
            return Ok(());
        };
        let Some(released) = columns.released(doc, self.at) else {
            return Ok(());
        };
        let Some(ord) = columns.ids.ords().first(doc) else {
            return Ok(());
        };
        if !self.inside(columns, released, ord)? {
            return Ok(());
        }
        let key = self.key(released, ord, doc);
        if self.heap.len() < self.size {
            self.heap.push(key);
        } else if self.heap.peek().is_some_and(|worst| key < *worst) {
            self.heap.pop();
            self.heap.push(key);
        }
        Ok(())
    }
}

impl Collector for ReleasedCollector {
    type Fruit = tantivy::Result<Vec<Candidate>>;
    type Child = SegmentReleased;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        Ok(SegmentReleased {
            segment,
            columns: Columns::open(reader, &self.changes)?,
            error: None,
            at: self.at,
            start: self.start.clone(),
            descending: self.descending,
            size: self.size,
            heap: BinaryHeap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<tantivy::Result<Vec<Candidate>>>,
    ) -> tantivy::Result<Self::Fruit> {
        let mut merged = Vec::new();
        for fruit in fruits {
            match fruit {
                Ok(candidates) => merged.extend(candidates),
                Err(error) => return Ok(Err(error)),
            }
        }
        merged.sort_by(|a, b| {
            let order = (a.at, &a.id).cmp(&(b.at, &b.id));
            if self.descending {
                order.reverse()
            } else {
                order
            }
        });
        merged.truncate(self.size);
        Ok(Ok(merged))
    }
}

impl SegmentCollector for SegmentReleased {
    type Fruit = tantivy::Result<Vec<Candidate>>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.error.is_some() || self.size == 0 {
            return;
        }
        if let Err(error) = self.try_collect(doc) {
            self.error = Some(error);
        }
    }

    fn harvest(self) -> tantivy::Result<Vec<Candidate>> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let Some(columns) = &self.columns else {
            return Ok(Vec::new());
        };
        let mut candidates = Vec::with_capacity(self.heap.len());
        for (key, ord, doc) in self.heap.into_sorted_vec() {
            let (at, ord) = if self.descending {
                (-key, u64::MAX - ord)
            } else {
                (key, ord)
            };
            candidates.push(Candidate {
                at: i64::try_from(at).unwrap_or(i64::MIN),
                id: columns.id(ord)?,
                address: DocAddress::new(self.segment, doc),
            });
        }
        Ok(candidates)
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
        let candidates = searcher
            .search(&self.query_of(&search), &collector)
            .and_then(|candidates| candidates)
            .map_err(super::unavailable("failed to walk the released views"))?;
        Ok(candidates
            .into_iter()
            .filter_map(|candidate| {
                let view = self.load_or_skip(&searcher, candidate.address)?;
                let at = chrono::DateTime::from_timestamp_micros(candidate.at)?;
                Some(crate::Released { at, view })
            })
            .collect())
    }
}
