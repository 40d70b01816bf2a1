//! A write's segment, built before the writer lock is taken.
//!
//! Tantivy's `IndexWriter` indexes added documents on its own thread, and a commit waits for that thread to index
//! and serialize everything added. Next to a partner that floods the pipeline with its heaviest reports (a view of
//! thousands of indicators and a few hundred KB of text), every write of another partner waited under the writer
//! lock for the heavy commit in progress: 30–80 ms of indexing and serialization (decision 0069).
//!
//! Here a write is done in two steps:
//!
//! - [`Inner::prepare`], with no lock held: builds the batch's documents, decides per item from the index as it
//!   is now whether the item is written, stale or refused, and indexes the documents of the items to write into
//!   segments of their own ([`SegmentWriter`], the code tantivy's indexing thread runs), whose files are written
//!   to the directory without a sync (`durable`). It is pure CPU work over the batch and runs at the batch's
//!   priority ([`accord_cpu::run`]): a backlogged partner's segments are built on the background threads.
//! - [`Inner::write`], under the writer lock: checks that no item's stored version changed since the plan was
//!   made, deletes the reports' earlier documents, adds the segments, commits and reloads the reader: a few
//!   milliseconds whatever the size of the views.
//!
//! Tantivy applies a delete to every segment its commit holds, the added ones too: a write deletes its reports'
//! documents of *earlier versions* (report and `version <` the written one), never the ones it adds. When the plan no longer holds (another write of one of the reports committed in between) or the
//! batch names a report twice, the prepared segments are dropped — tantivy deletes their files at its next
//! garbage collection — and the batch is written through the writer under the lock, as before.
//!
//! A segment is finalized when its indexing memory reaches the writer's budget (`[memory] index_writer_mib`), as
//! tantivy's indexing thread does, so one write's memory stays bounded by the budget and the batch.

use std::collections::{HashMap, HashSet};

use std::ops::Bound;

use tantivy::{
    SegmentMeta, TantivyDocument, Term,
    indexer::{AddOperation, SegmentWriter},
    query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery},
    schema::{IndexRecordOption, Value},
};

use super::{Inner, unavailable, versions::Versions};
use crate::{IndexError, ReplaceViews, WriteOutcome};

/// The documents of one replacement, or why its view could not be serialized.
pub(super) type Documents = Result<Vec<TantivyDocument>, serde_json::Error>;

/// What a segment writer may use before its segment is finalized, below the budget: tantivy's own margin.
const MARGIN_BYTES: usize = 1_000_000;

/// The smallest budget a segment writer is created with: its term table starts with 16 Ki entries and grows.
const MIN_TABLE_BUDGET: usize = 1 << 20;

/// A batch made ready for [`Inner::write`].
pub(super) enum Prepared {
    /// The documents, to be added through the index writer under its lock.
    Documents(Vec<Documents>),
    /// The segments holding the documents of the items planned [`Planned::Write`].
    Segments {
        plan: Vec<Planned>,
        segments: Vec<SegmentMeta>,
    },
}

/// What the plan of a prepared batch does with one item.
pub(super) enum Planned {
    /// Written: the item's documents are in the prepared segments, given that the report's stored version is
    /// still `seen`.
    Write { seen: Option<u64> },
    /// Not newer than the stored version.
    Stale,
    /// Its view could not be serialized.
    Refused(String),
}

impl Inner {
    /// Builds the batch's documents and, when the batch names each report once, the segments that hold those of
    /// the items to write; see the module documentation.
    ///
    /// # Errors
    /// When the index cannot be read or a segment cannot be written (a full disk).
    pub(super) fn prepare(&self, batch: &[ReplaceViews]) -> Result<Prepared, IndexError> {
        let documents: Vec<Documents> = batch.iter().map(|item| self.documents(item)).collect();
        let mut reports = HashSet::with_capacity(batch.len());
        let distinct = batch
            .iter()
            .all(|item| reports.insert(item.report_id.as_str()));
        if self.writer.is_none() || !distinct {
            return Ok(Prepared::Documents(documents));
        }
        let searcher = self.reader.searcher();
        let mut versions = Versions::new(&searcher);
        let mut plan = Vec::with_capacity(batch.len());
        let (mut to_index, mut stored_bytes) = (Vec::new(), 0);
        for (item, documents) in batch.iter().zip(documents) {
            let seen = versions.of(&self.fields.report_term(item.report_id.as_str()))?;
            plan.push(match documents {
                _ if seen.is_some_and(|seen| seen >= item.version) => Planned::Stale,
                Err(error) => Planned::Refused(format!("failed to serialize view: {error}")),
                Ok(documents) => {
                    stored_bytes += documents.iter().map(text_bytes).sum::<usize>();
                    to_index.extend(documents);
                    Planned::Write { seen }
                }
            });
        }
        let segments = self
            .index_segments(searcher.index(), to_index, self.table_budget(stored_bytes))
            .map_err(unavailable("failed to write an index segment"))?;
        Ok(Prepared::Segments { plan, segments })
    }

    /// Indexes `documents` into new segments (none for no documents), each created with `budget` and finalized at
    /// the writer's.
    fn index_segments(
        &self,
        index: &tantivy::Index,
        documents: Vec<TantivyDocument>,
        budget: usize,
    ) -> tantivy::Result<Vec<SegmentMeta>> {
        let mut segments = Vec::new();
        let mut documents = documents.into_iter().peekable();
        while documents.peek().is_some() {
            let segment = index.new_segment();
            let mut writer = SegmentWriter::for_segment(budget, segment.clone())?;
            for document in documents.by_ref() {
                writer.add_document(AddOperation {
                    opstamp: 0,
                    document,
                })?;
                if writer.mem_usage() >= self.writer_bytes.saturating_sub(MARGIN_BYTES) {
                    break;
                }
            }
            let max_doc = writer.max_doc();
            writer.finalize()?;
            let meta = segment.with_max_doc(max_doc).meta().clone();
            meta.untrack_temp_docstore();
            segments.push(meta);
        }
        Ok(segments)
    }

    /// The budget a segment writer for `stored_bytes` of text starts with: it sizes the term table (tantivy gives
    /// it a third of the budget, 8 bytes an entry; about one entry per 8 bytes of text), so that a small write does
    /// not allocate the table of the writer's whole budget.
    fn table_budget(&self, stored_bytes: usize) -> usize {
        stored_bytes
            .saturating_mul(3)
            .clamp(MIN_TABLE_BUDGET, self.writer_bytes.max(MIN_TABLE_BUDGET))
    }

    /// Writes a prepared batch under the writer lock; see the module documentation. A failed batch is rolled back
    /// and named in [`crate::SearchIndex::health`] until a batch succeeds.
    pub(super) fn write(
        &self,
        batch: &[ReplaceViews],
        prepared: Prepared,
    ) -> Result<Vec<WriteOutcome>, IndexError> {
        let mut writer = self.lock_writer()?;
        let result = match prepared {
            Prepared::Documents(documents) => self.apply(&mut writer, batch, documents),
            Prepared::Segments { plan, segments } => {
                match self.add_segments(&mut writer, batch, plan, segments) {
                    Ok(Some(outcomes)) => Ok(outcomes),
                    // The plan no longer holds: written as an unprepared batch.
                    Ok(None) => {
                        let documents = batch.iter().map(|item| self.documents(item)).collect();
                        self.apply(&mut writer, batch, documents)
                    }
                    Err(error) => Err(error),
                }
            }
        };
        self.settle(&mut writer, &result);
        result
    }

    /// Deletes the planned reports' earlier documents, adds the segments and commits: `None` (nothing done) when
    /// the stored version of a report planned for writing changed since the plan was made.
    fn add_segments(
        &self,
        writer: &mut tantivy::IndexWriter,
        batch: &[ReplaceViews],
        plan: Vec<Planned>,
        segments: Vec<SegmentMeta>,
    ) -> Result<Option<Vec<WriteOutcome>>, IndexError> {
        let searcher = self.reader.searcher();
        let mut versions = Versions::new(&searcher);
        let mut stored: HashMap<&str, Option<u64>> = HashMap::new();
        for (item, planned) in batch.iter().zip(&plan) {
            if let Planned::Write { seen } = planned {
                let report = item.report_id.as_str();
                let now = versions.of(&self.fields.report_term(report))?;
                if now != *seen {
                    return Ok(None);
                }
                stored.insert(report, now);
            }
        }
        // A report never written before has no documents to delete: a commit without deletes need not look into
        // every segment for them.
        for item in batch {
            if stored
                .get(item.report_id.as_str())
                .is_some_and(Option::is_some)
            {
                writer
                    .delete_query(Box::new(self.older_documents(item)))
                    .map_err(unavailable("failed to delete a report's older documents"))?;
            }
        }
        let changed = !stored.is_empty();
        for segment in segments {
            writer
                .add_segment(segment)
                .map_err(unavailable("failed to add an index segment"))?;
        }
        if changed {
            self.commit(writer)?;
        }
        Ok(Some(
            plan.into_iter()
                .map(|planned| match planned {
                    Planned::Write { .. } => WriteOutcome::Written,
                    Planned::Stale => WriteOutcome::Stale,
                    Planned::Refused(reason) => WriteOutcome::Refused(reason),
                })
                .collect(),
        ))
    }
}

impl Inner {
    /// The documents of `item`'s report written at an earlier version: what its write replaces. The documents of
    /// the item itself are not among them, so the delete may be applied to the segment that holds them.
    fn older_documents(&self, item: &ReplaceViews) -> BooleanQuery {
        let report = TermQuery::new(
            self.fields.report_term(item.report_id.as_str()),
            IndexRecordOption::Basic,
        );
        let older = RangeQuery::new(
            Bound::Unbounded,
            Bound::Excluded(Term::from_field_u64(self.fields.version, item.version)),
        );
        BooleanQuery::new(vec![
            (Occur::Must, Box::new(report) as Box<dyn Query>),
            (Occur::Must, Box::new(older)),
        ])
    }
}

/// The bytes of text in a document (its view's JSON, title, description, terms).
fn text_bytes(document: &TantivyDocument) -> usize {
    document
        .field_values()
        .filter_map(|(_, value)| value.as_str().map(str::len))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        IndexClient, SearchIndex,
        conformance::{ids, query, report, view},
        tantivy_index::TantivyIndex,
    };

    fn replace(report_id: &accord_domain::ReportId, version: u64, name: &str) -> ReplaceViews {
        ReplaceViews {
            report_id: report_id.clone(),
            version,
            views: vec![view(report_id, name)],
        }
    }

    /// A write committed between a batch's plan and its write (another version of one of its reports) makes the
    /// plan void: the batch is written under the lock as an unprepared one, and the newer version stays.
    #[tokio::test]
    async fn a_plan_overtaken_by_another_write_is_written_as_an_unprepared_batch() {
        let dir = tempfile::tempdir().unwrap();
        let index = TantivyIndex::open(dir.path()).unwrap();
        let (a, b) = (report(), report());
        let batch = vec![replace(&a, 2, "a2"), replace(&b, 1, "b1")];
        let prepared = index.inner.prepare(&batch).unwrap();
        assert!(
            matches!(&prepared, Prepared::Segments { segments, .. } if segments.len() == 1),
            "a batch naming each report once is prepared into a segment"
        );

        let newer = index.write(vec![replace(&a, 3, "a3")]).await.unwrap();
        assert_eq!(newer, vec![WriteOutcome::Written]);
        let outcomes = index.inner.write(&batch, prepared).unwrap();
        assert_eq!(outcomes, vec![WriteOutcome::Stale, WriteOutcome::Written]);

        let client = IndexClient::new(index);
        let (total, mut hits) = ids(&client, query()).await;
        hits.sort();
        assert_eq!(
            (total, hits),
            (2, vec!["view--a3".to_owned(), "view--b1".to_owned()])
        );
    }

    /// A prepared write replaces the report's documents of earlier versions and keeps its own, and a stale item
    /// of the same batch adds nothing.
    #[tokio::test]
    async fn a_prepared_write_replaces_earlier_versions_and_adds_nothing_stale() {
        let dir = tempfile::tempdir().unwrap();
        let index = TantivyIndex::open(dir.path()).unwrap();
        let (a, b) = (report(), report());
        index
            .write(vec![replace(&a, 1, "a1"), replace(&b, 5, "b5")])
            .await
            .unwrap();
        let batch = vec![replace(&a, 2, "a2"), replace(&b, 4, "b4")];
        let prepared = index.inner.prepare(&batch).unwrap();
        let outcomes = index.inner.write(&batch, prepared).unwrap();
        assert_eq!(outcomes, vec![WriteOutcome::Written, WriteOutcome::Stale]);

        let client = IndexClient::new(index);
        let (total, mut hits) = ids(&client, query()).await;
        hits.sort();
        assert_eq!(
            (total, hits),
            (2, vec!["view--a2".to_owned(), "view--b5".to_owned()])
        );
    }
}
