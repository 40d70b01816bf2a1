//! The embedded [`SearchIndex`]: a tantivy index in a local directory.
//!
//! One document per view (fields in the `schema` submodule) plus one marker document per report that records the
//! version the report was last written at, so that stale writes are recognized across restarts. A write batch is
//! indexed into segments of its own at the batch's priority with no lock held (the `prepared` submodule), then
//! added under the writer lock and committed once; the reader is reloaded before the lock is released, so a
//! `Written` item is searchable as soon as `write` returns. Commits do not sync: the files they write are synced by
//! [`SearchIndex::persist`] (the `durable` submodule), so that a small write never waits for the disk to take a heavy
//! one's. All tantivy work runs on the blocking thread pool.
//!
//! Every search runs one boolean query (the release filter's grant term plus the indicator, text and
//! filter clauses: the `query` submodule) through the page collector (the `collector` submodule), which applies
//! the validity window, counts and keeps the page. A batch lookup reads every key in one pass over each segment
//! (the `batch` submodule), with the same window, counts and order.
//!
//! A failed batch (a full disk) is rolled back to the last commit, which leaves the writer usable: the indexer
//! retries the batch with backoff and it commits once space is back. Until then [`SearchIndex::health`] names the
//! index directory and the cause, so `/readyz` says why the index is not ready.

mod batch;
mod collector;
mod damaged;
mod durable;
mod merges;
mod prepared;
mod query;
mod ranges;
mod ranked;
mod released;
mod schema;
mod versions;

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
};

use async_trait::async_trait;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument,
    TantivyError,
    directory::MmapDirectory,
    query::{BooleanQuery, Query as TantivyQuery, QueryParser},
    schema::Value,
};

use self::{
    collector::{PageCollector, order},
    query::{all_of, filter_clauses, grant_clause, indicator_clause, text_clause},
    schema::{Fields, micros},
};
use crate::{
    IndexError, IndicatorMatch, Page, Query, ReleaseFilter, ReplaceViews, SearchIndex, WriteOutcome,
};
use accord_domain::{Timestamp, View};

/// The memory budget of the index writer.
/// Moves an index directory aside (`<dir>.<why>-<unix seconds>`: `damaged`, `old-schema`), for the operator to
/// inspect or delete.
fn set_aside(dir: &Path, why: &str) -> Result<std::path::PathBuf, IndexError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".{why}-{stamp}"));
    let aside = std::path::PathBuf::from(name);
    std::fs::rename(dir, &aside).map_err(|source| {
        IndexError::unavailable(
            format!("failed to set the index `{}` aside", dir.display()),
            source,
        )
    })?;
    Ok(aside)
}

/// Stored views that could not be read back and were skipped (a damaged store file).
pub(crate) const UNLOADABLE_VIEWS: &str = "accord_index_unloadable_views_total";

/// The writer's budget when none is given ([`TantivyIndex::open`]): the default of `[memory] index_writer_mib`.
pub const DEFAULT_WRITER_BYTES: usize = 32 * 1024 * 1024;

/// The number of indexing threads. Batches are committed one at a time and every thread writes its own segment per
/// commit, so a second thread doubles the segments (and their fsyncs and merges) for little gain: one thread
/// ingested about three times faster in `examples/index_bench.rs`.
const WRITER_THREADS: usize = 1;

/// The smallest writer budget tantivy accepts, in MiB: 15 MB per indexing thread, rounded up.
pub const MIN_WRITER_MIB: u64 = (15_000_000 * WRITER_THREADS as u64).div_ceil(1024 * 1024);

/// The largest writer budget tantivy accepts, in MiB: just under 4 GiB per indexing thread.
pub const MAX_WRITER_MIB: u64 = 4_000 * WRITER_THREADS as u64;

/// Whether an opened index may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// With the writer, of this budget in bytes.
    ReadWrite {
        writer_bytes: usize,
    },
    ReadOnly,
}

/// The embedded tantivy index. Cheap to clone; clones share one writer and one reader.
#[derive(Clone)]
pub struct TantivyIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TantivyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TantivyIndex")
    }
}

struct Inner {
    /// The index directory, for messages.
    dir: std::path::PathBuf,
    /// Why the last write batch failed; cleared by the next that succeeds.
    trouble: Mutex<Option<String>>,
    reader: IndexReader,
    /// `None` when opened read-only (a search process beside the indexer's process).
    writer: Option<Mutex<IndexWriter>>,
    /// The writer's memory budget (`[memory] index_writer_mib`; 0 when read-only): a prepared segment is finalized
    /// when its indexing memory reaches it (`prepared`).
    writer_bytes: usize,
    /// Syncs what the writer wrote (`None` when opened read-only): commits make writes searchable, this durable.
    durability: Option<durable::Durability>,
    fields: Fields,
    parser: QueryParser,
    /// Reads held while the index replays its topic ([`SearchIndex::hold_reads`]).
    hold: crate::ReadHold,
}

/// Returns a closure that wraps a tantivy error into [`IndexError::Unavailable`] with `context`.
fn unavailable(context: &'static str) -> impl FnOnce(TantivyError) -> IndexError {
    move |source| IndexError::unavailable(context, source)
}

/// Returns an [`IndexError::Unavailable`] without a source.
fn unavailable_msg(context: impl Into<String>) -> IndexError {
    IndexError::Unavailable {
        context: context.into(),
        source: None,
    }
}

/// An error and its causes, `: `-separated.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl TantivyIndex {
    /// Creates or opens the index in `dir`, creating the directory when missing.
    ///
    /// # Errors
    /// Returns [`IndexError::Unavailable`] when the directory cannot be created or opened, when it holds an index
    /// with another schema, or when another writer holds its lock.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, IndexError> {
        Self::open_sized(dir, DEFAULT_WRITER_BYTES)
    }

    /// As [`TantivyIndex::open`], with a writer of `writer_bytes` (`[memory] index_writer_mib`; tantivy refuses less
    /// than 15 MB per thread: see [`MIN_WRITER_MIB`]).
    ///
    /// # Errors
    /// As [`TantivyIndex::open`], and when tantivy refuses the budget.
    pub fn open_sized(dir: impl AsRef<Path>, writer_bytes: usize) -> Result<Self, IndexError> {
        Self::open_with(dir.as_ref(), Access::ReadWrite { writer_bytes })
    }

    /// Opens the index in `dir` for reading only, creating it when missing: the search service of a deployment whose
    /// indexer runs in another process on the same host. The reader follows the writer's commits (tantivy watches
    /// `meta.json`: a commit is visible here within about half a second). Writes fail.
    ///
    /// # Errors
    /// As [`TantivyIndex::open`], except that another process's writer lock is no obstacle.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self, IndexError> {
        Self::open_with(dir.as_ref(), Access::ReadOnly)
    }

    fn open_with(dir: &Path, access: Access) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir).map_err(|source| {
            IndexError::unavailable(
                format!("failed to create index directory `{}`", dir.display()),
                source,
            )
        })?;
        let opening = |source| {
            IndexError::unavailable(
                format!("failed to open index directory `{}`", dir.display()),
                source,
            )
        };
        let (schema, fields) = Fields::build();
        let (index, durability) = match access {
            Access::ReadWrite { .. } => {
                let (directory, durability) =
                    durable::DeferredSyncDirectory::open(dir).map_err(opening)?;
                match Index::open_or_create(directory, schema) {
                    Ok(index) => (index, Some(durability)),
                    // An index written by an older version, before a field was added: derived state, rebuilt from
                    // the bus.
                    Err(tantivy::TantivyError::SchemaError(_)) => {
                        drop(durability);
                        let aside = set_aside(dir, "old-schema")?;
                        tracing::warn!(
                            moved_to = %aside.display(),
                            "the index has an older schema: set aside, and a new one is rebuilt from the bus"
                        );
                        return Self::open_with(dir, access);
                    }
                    Err(error) => return Err(unavailable("failed to open index")(error)),
                }
            }
            Access::ReadOnly => {
                let directory = MmapDirectory::open(dir).map_err(opening)?;
                let index = Index::open_or_create(directory, schema)
                    .map_err(unavailable("failed to open index"))?;
                (index, None)
            }
        };
        let opened = Self::from_index(index, fields, access, dir, durability)?;
        if matches!(access, Access::ReadWrite { .. }) {
            let damaged = opened.damaged_files()?;
            if !damaged.is_empty() {
                drop(opened);
                if let Some(dropped) = damaged::drop_segments(dir, &damaged)? {
                    tracing::error!(
                        files = ?damaged,
                        segments = dropped,
                        "index segments failed their checksums: dropped (copied aside), and their reports are \
                         indexed again from the bus"
                    );
                    return Self::open_with(dir, access);
                }
                let aside = set_aside(dir, "damaged")?;
                tracing::error!(
                    files = ?damaged,
                    moved_to = %aside.display(),
                    "the index failed its checksums: set aside, and a new one is rebuilt from the bus"
                );
                return Self::open_with(dir, access);
            }
        }
        Ok(opened)
    }

    /// Returns the index files whose checksum fails (tantivy's own footers): empty for an intact index. Reads every
    /// file of the index.
    ///
    /// # Errors
    /// When the index's metadata cannot be read.
    pub fn damaged_files(&self) -> Result<Vec<std::path::PathBuf>, IndexError> {
        let index = self.inner.reader.searcher().index().clone();
        let mut damaged: Vec<_> = index
            .validate_checksum()
            .map_err(unavailable("failed to validate the index's checksums"))?
            .into_iter()
            .collect();
        damaged.sort();
        Ok(damaged)
    }

    fn from_index(
        index: Index,
        fields: Fields,
        access: Access,
        dir: &Path,
        durability: Option<durable::Durability>,
    ) -> Result<Self, IndexError> {
        let (writer, policy) = match access {
            Access::ReadWrite { writer_bytes } => (
                Some(Mutex::new(
                    index
                        .writer_with_num_threads(WRITER_THREADS, writer_bytes)
                        .map_err(|source| match source {
                            TantivyError::LockFailure(..) => unavailable_msg(format!(
                                "the index directory `{}` is in use: another Accord process holds its writer lock \
                                 (stop that process, or give this one another --data-dir)",
                                dir.display()
                            )),
                            source => IndexError::unavailable("failed to create index writer", source),
                        })?,
                )),
                // This process commits and reloads itself, before a write is acknowledged.
                ReloadPolicy::Manual,
            ),
            Access::ReadOnly => (None, ReloadPolicy::OnCommitWithDelay),
        };
        if let Some(writer) = &writer {
            writer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .set_merge_policy(merges::policy());
            merges::lower_merge_priority();
        }
        let reader = index
            .reader_builder()
            .reload_policy(policy)
            .try_into()
            .map_err(unavailable("failed to open index reader"))?;
        let mut parser = QueryParser::for_index(&index, vec![fields.title, fields.description]);
        parser.set_conjunction_by_default();
        let writer_bytes = match access {
            Access::ReadWrite { writer_bytes } => writer_bytes,
            Access::ReadOnly => 0,
        };
        let inner = Inner {
            dir: dir.to_owned(),
            trouble: Mutex::new(None),
            reader,
            writer,
            writer_bytes,
            durability,
            fields,
            parser,
            hold: crate::ReadHold::default(),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Runs `work` on the blocking thread pool with the shared state.
    async fn blocking<T, F>(&self, work: F) -> Result<T, IndexError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, IndexError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|source| IndexError::unavailable("index task failed", source))?
    }
}

#[async_trait]
impl SearchIndex for TantivyIndex {
    async fn write(&self, batch: Vec<ReplaceViews>) -> Result<Vec<WriteOutcome>, IndexError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // The segments are built at the batch's priority, off any lock; only adding them holds the writer.
        let inner = Arc::clone(&self.inner);
        let (batch, prepared) = accord_cpu::run(move || {
            let prepared = inner.prepare(&batch);
            (batch, prepared)
        })
        .await
        .map_err(|source| IndexError::unavailable("index task failed", source))?;
        let prepared = prepared.inspect_err(|error| self.inner.note_trouble(Some(error)))?;
        self.blocking(move |inner| inner.write(&batch, prepared))
            .await
    }

    async fn persist(&self) -> Result<(), IndexError> {
        self.blocking(Inner::persist).await
    }

    /// No document at all, not even a report's version marker: nothing was ever indexed here.
    async fn is_empty(&self) -> Result<bool, IndexError> {
        Ok(self.inner.reader.searcher().num_docs() == 0)
    }

    /// Segments that failed their checksums were dropped at open, and no replay was asked for since (the marker
    /// `<index dir>.replay`, the `damaged` submodule).
    async fn lost_documents(&self) -> Result<bool, IndexError> {
        Ok(damaged::replay_marker(&self.inner.dir).exists())
    }

    async fn replay_started(&self) -> Result<(), IndexError> {
        match std::fs::remove_file(damaged::replay_marker(&self.inner.dir)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(
                IndexError::unavailable("failed to remove the index's replay marker", error),
            ),
            _ => Ok(()),
        }
    }

    fn hold_reads(&self, progress: Option<String>) {
        self.inner.hold.set(progress);
    }

    async fn search(&self, query: Query) -> Result<Page, IndexError> {
        self.inner.hold.check()?;
        self.blocking(move |inner| inner.search(&query)).await
    }

    async fn released(
        &self,
        query: crate::ReleasedQuery,
    ) -> Result<Vec<crate::Released>, IndexError> {
        self.inner.hold.check()?;
        self.blocking(move |inner| inner.released(&query)).await
    }

    async fn lookup(
        &self,
        release: ReleaseFilter,
        keys: Vec<IndicatorMatch>,
        per_key: usize,
    ) -> Result<Vec<Page>, IndexError> {
        self.inner.hold.check()?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.blocking(move |inner| inner.lookup(&release, &keys, per_key))
            .await
    }

    async fn count_ranges(
        &self,
        query: Query,
        ranges: Vec<(Timestamp, Timestamp)>,
    ) -> Result<Vec<u64>, IndexError> {
        self.inner.hold.check()?;
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        self.blocking(move |inner| inner.count_ranges(&query, &ranges))
            .await
    }

    async fn refresh(&self) -> Result<(), IndexError> {
        self.blocking(|inner| {
            inner
                .reader
                .reload()
                .map_err(unavailable("failed to reload index reader"))
        })
        .await
    }

    /// `Ok` unless the last write batch failed: then the error names the directory and the cause.
    async fn health(&self) -> Result<(), IndexError> {
        let trouble = self
            .inner
            .trouble
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match trouble {
            None => Ok(()),
            Some(trouble) => Err(unavailable_msg(format!(
                "index `{}`: writes fail: {trouble}",
                self.inner.dir.display()
            ))),
        }
    }
}

impl Inner {
    /// Syncs every write committed so far (`durable`); a failure is the index's trouble until a persist succeeds.
    fn persist(&self) -> Result<(), IndexError> {
        let Some(durability) = &self.durability else {
            return Ok(());
        };
        let result = durability.persist().map_err(|source| {
            IndexError::unavailable(
                format!(
                    "failed to sync the index directory `{}`",
                    self.dir.display()
                ),
                source,
            )
        });
        self.note_trouble(result.as_ref().err());
        result
    }

    /// Locks the writer. A writer poisoned by a panic during an earlier batch is rolled back to the last commit.
    fn lock_writer(&self) -> Result<MutexGuard<'_, IndexWriter>, IndexError> {
        let writer = self
            .writer
            .as_ref()
            .ok_or_else(|| unavailable_msg("this index was opened read-only"))?;
        match writer.lock() {
            Ok(guard) => Ok(guard),
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                guard
                    .rollback()
                    .map_err(unavailable("failed to roll back index writer"))?;
                writer.clear_poison();
                Ok(guard)
            }
        }
    }

    /// Records why the last write failed (`None`: it succeeded), for [`SearchIndex::health`].
    fn note_trouble(&self, error: Option<&IndexError>) {
        *self
            .trouble
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            error.map(|error| error_chain(error));
    }

    /// Rolls a failed batch back to the last commit, and records the outcome.
    fn settle<T>(&self, writer: &mut IndexWriter, result: &Result<T, IndexError>) {
        if result.is_err()
            && let Err(rollback) = writer.rollback()
        {
            tracing::error!(error = %rollback, "failed to roll back index writer after a failed batch");
        }
        self.note_trouble(result.as_ref().err());
    }

    /// Commits what the writer holds and reloads the reader: searchable when this returns (durable at persist).
    fn commit(&self, writer: &mut IndexWriter) -> Result<(), IndexError> {
        writer
            .commit()
            .map_err(unavailable("failed to commit index"))?;
        self.reader
            .reload()
            .map_err(unavailable("failed to reload index reader"))
    }

    fn apply(
        &self,
        writer: &mut IndexWriter,
        batch: &[ReplaceViews],
        documents: Vec<prepared::Documents>,
    ) -> Result<Vec<WriteOutcome>, IndexError> {
        let searcher = self.reader.searcher();
        let mut versions = versions::Versions::new(&searcher);
        // Versions written earlier in this batch, not yet visible to the searcher.
        let mut pending: HashMap<&str, u64> = HashMap::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut changed = false;
        for (item, documents) in batch.iter().zip(documents) {
            let report = item.report_id.as_str();
            let stored = match pending.get(report) {
                Some(version) => Some(*version),
                None => versions.of(&self.fields.report_term(report))?,
            };
            if stored.is_some_and(|stored| stored >= item.version) {
                outcomes.push(WriteOutcome::Stale);
                continue;
            }
            let documents = match documents {
                Ok(documents) => documents,
                Err(error) => {
                    outcomes.push(WriteOutcome::Refused(format!(
                        "failed to serialize view: {error}"
                    )));
                    continue;
                }
            };
            if stored.is_some() {
                writer.delete_term(self.fields.report_term(report));
            }
            for document in documents {
                writer
                    .add_document(document)
                    .map_err(unavailable("failed to add view to index"))?;
            }
            pending.insert(report, item.version);
            outcomes.push(WriteOutcome::Written);
            changed = true;
        }
        if changed {
            self.commit(writer)?;
        }
        Ok(outcomes)
    }

    /// Returns the marker and view documents of one replacement.
    fn documents(&self, item: &ReplaceViews) -> Result<Vec<TantivyDocument>, serde_json::Error> {
        let report = item.report_id.as_str();
        let mut documents = Vec::with_capacity(item.views.len() + 1);
        documents.push(self.fields.marker(report, item.version));
        for view in &item.views {
            documents.push(self.fields.view_document(report, item.version, view)?);
        }
        Ok(documents)
    }

    /// Returns the query of a search: the release filter's grant clause, the indicator, the text and the filters.
    fn query_of(&self, query: &Query) -> BooleanQuery {
        let mut clauses = vec![grant_clause(&self.fields, &query.release)];
        if let Some(matcher) = &query.indicator {
            clauses.push(indicator_clause(&self.fields, matcher));
        }
        if let Some(clause) = query
            .text
            .as_deref()
            .and_then(|text| text_clause(&self.parser, text))
        {
            clauses.push(clause);
        }
        clauses.extend(filter_clauses(&self.fields, &query.filters));
        all_of(clauses)
    }

    fn search(&self, query: &Query) -> Result<Page, IndexError> {
        if let Some(text) = &query.text {
            crate::check_text(text)?;
        }
        crate::check_stix_ids(&query.filters)?;
        let searcher = self.reader.searcher();
        self.page(
            &searcher,
            &self.query_of(query),
            &query.release,
            query.offset,
            query.size,
        )
    }

    /// Counts the matches of `query` per `occurred_at` range in one pass (the query's own time filters narrowed to
    /// the span of the ranges first).
    fn count_ranges(
        &self,
        query: &Query,
        ranges: &[(Timestamp, Timestamp)],
    ) -> Result<Vec<u64>, IndexError> {
        if let Some(text) = &query.text {
            crate::check_text(text)?;
        }
        crate::check_stix_ids(&query.filters)?;
        let mut narrowed = query.clone();
        let earliest = ranges.iter().map(|(from, _)| *from).min();
        let latest = ranges.iter().map(|(_, to)| *to).max();
        narrowed.filters.from = narrowed.filters.from.max(earliest);
        narrowed.filters.to = match (narrowed.filters.to, latest) {
            (Some(to), Some(latest)) => Some(to.min(latest)),
            (to, latest) => to.or(latest),
        };
        let (from, to) = (
            narrowed.filters.from.map_or(i64::MIN, micros),
            narrowed.filters.to.map_or(i64::MAX, micros),
        );
        let collector = ranges::RangeCounter {
            at: micros(query.release.at),
            ranges: ranges
                .iter()
                .map(|(start, end)| (micros(*start).max(from), micros(*end).min(to)))
                .collect(),
        };
        self.reader
            .searcher()
            .search(&self.query_of(&narrowed), &collector)
            .map_err(unavailable("failed to count per range"))
    }

    /// Runs `query` within the validity window of `release` and returns its total and the hits
    /// `offset..offset + size`, newest `occurred_at` first, ties by ascending view id.
    fn page(
        &self,
        searcher: &Searcher,
        query: &dyn TantivyQuery,
        release: &ReleaseFilter,
        offset: usize,
        size: usize,
    ) -> Result<Page, IndexError> {
        // No query matches more documents than the index holds: bounding the range bounds the collector's memory
        // whatever offset the caller decoded.
        let end = offset
            .saturating_add(size)
            .min(usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX));
        let keep = if offset < end { end } else { 0 };
        let collected = searcher
            .search(query, &PageCollector::new(micros(release.at), keep))
            .and_then(|collected| collected)
            .map_err(unavailable("failed to run search"))?;
        if keep == 0 {
            return Ok(Page {
                total: collected.total,
                hits: Vec::new(),
            });
        }
        let ordered = order(searcher, collected.candidates, end)
            .map_err(unavailable("failed to order hits"))?;
        let hits = ordered
            .into_iter()
            .skip(offset)
            .filter_map(|address| self.load_or_skip(searcher, address))
            .collect();
        Ok(Page {
            total: collected.total,
            hits,
        })
    }

    /// Decodes the view stored in a document, or skips a document that cannot be read back (a damaged store file):
    /// it is logged and counted (`accord_index_unloadable_views_total`), and the rest of the answer is served —
    /// nothing it would have released is served, and one damaged document does not fail every search that meets it.
    /// `accord index rebuild` (or the rebuild on start) writes it again from the bus.
    fn load_or_skip(&self, searcher: &Searcher, address: DocAddress) -> Option<View> {
        match self.load_view(searcher, address) {
            Ok(view) => Some(view),
            Err(error) => {
                metrics::counter!(UNLOADABLE_VIEWS).increment(1);
                tracing::error!(
                    error = ?error,
                    segment = address.segment_ord,
                    doc = address.doc_id,
                    "a stored view cannot be read back (damaged index?): skipped; rebuild the index"
                );
                None
            }
        }
    }

    /// Decodes the view stored in a document. tantivy can panic on a damaged store block (an arithmetic overflow
    /// reading its skip index, in debug builds): that is a document that cannot be read back too.
    fn load_view(&self, searcher: &Searcher, address: DocAddress) -> Result<View, IndexError> {
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            searcher.doc::<TantivyDocument>(address)
        }))
        .map_err(|_| {
            unavailable_msg("tantivy failed while reading a stored view (damaged store?)")
        })?;
        let document: TantivyDocument = read.map_err(unavailable("failed to read stored view"))?;
        let json = document
            .get_first(self.fields.view_json)
            .and_then(|value| value.as_str())
            .ok_or_else(|| unavailable_msg("stored document has no view"))?;
        serde_json::from_str(json)
            .map_err(|source| IndexError::unavailable("failed to decode stored view", source))
    }
}
