//! The versions reports were last written at, for the stale-write check of a write batch.
//!
//! A report's version is the largest `version` of its live documents (its marker and views). A search for it with
//! tantivy's top-docs collector opens the `version` column of every segment for every report, and opening a column
//! reads the header of each of its blocks: a cost that grows with the whole index, paid once per report written. At
//! ten million indicators that was a fifth of the server's time during a re-evaluation. Here a report's term is looked
//! up in each segment's dictionary first, and a segment's column is opened only when the segment holds the report,
//! once per write batch.

use std::collections::HashMap;

use tantivy::{
    DocSet, Searcher, SegmentOrdinal, TERMINATED, Term, columnar::Column, schema::IndexRecordOption,
};

use super::{schema::VERSION, unavailable};
use crate::IndexError;

/// The versions of one write batch, read from one searcher.
pub(super) struct Versions<'a> {
    searcher: &'a Searcher,
    /// The `version` column of each segment opened so far (`None`: the segment has no such column).
    columns: HashMap<SegmentOrdinal, Option<Column<u64>>>,
}

impl<'a> Versions<'a> {
    pub(super) fn new(searcher: &'a Searcher) -> Self {
        Self {
            searcher,
            columns: HashMap::new(),
        }
    }

    /// Returns the largest version of the live documents holding `report` (its `report_id` term), or `None` when
    /// none has one: the index never saw the report.
    pub(super) fn of(&mut self, report: &Term) -> Result<Option<u64>, IndexError> {
        let mut latest = None;
        for (ordinal, segment) in self.searcher.segment_readers().iter().enumerate() {
            let inverted = segment
                .inverted_index(report.field())
                .map_err(unavailable("failed to open the report ids"))?;
            let Some(mut postings) = inverted
                .read_postings(report, IndexRecordOption::Basic)
                .map_err(|error| unavailable("failed to read a report id")(error.into()))?
            else {
                continue;
            };
            let column = match self.columns.entry(ordinal as SegmentOrdinal) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => entry.insert(
                    segment
                        .fast_fields()
                        .column_opt::<u64>(VERSION)
                        .map_err(unavailable("failed to open the version column"))?,
                ),
            };
            let Some(column) = column else {
                continue;
            };
            let alive = segment.alive_bitset();
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if alive.is_none_or(|alive| alive.is_alive(doc))
                    && let Some(version) = column.first(doc)
                {
                    latest = latest.max(Some(version));
                }
                doc = postings.advance();
            }
        }
        Ok(latest)
    }
}
