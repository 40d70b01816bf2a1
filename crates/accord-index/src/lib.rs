//! Accord's search index: the [`SearchIndex`] trait behind the cloneable [`IndexClient`] handle.
//!
//! The index stores [`View`]s, one document per view, and answers queries that ALWAYS carry a [`ReleaseFilter`]:
//! the caller's agency and purpose, the query time and the MoUs in force. Only views released to `(agency, purpose)`
//! (as the shown view, or also as an alternate when the filter asks for [`Views::WithAlternates`]), rendered under
//! an MoU in force and whose validity window contains the time can match; everything else behaves as if it did not
//! exist (totals, paging). The search service re-checks every hit against the MoUs in force (the second wall); the
//! filter can also select only the views written before an MoU in force changed ([`ReleaseFilter::stale_only`]),
//! the only ones whose re-check can fail, so that search knows when index totals are exact.
//!
//! Implementations: [`tantivy_index`] (embedded, in the data directory) and [`opensearch_index`] (production).

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
#[path = "opensearch/mod.rs"]
pub mod opensearch_index;
pub mod ordered;
mod release;
pub mod tantivy_index;

use std::{collections::BTreeSet, fmt, net::IpAddr, sync::Arc};

use accord_domain::{ObservableType, ReportId, Timestamp, Tlp, View};
use async_trait::async_trait;

pub use crate::ordered::{MouChanges, Released, ReleasedQuery, release_base, released_at};
pub use crate::release::{ReleaseFilter, Views, document_terms};

/// Replaces every view of a report with `views` (an empty list removes the report from the index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceViews {
    /// The report.
    pub report_id: ReportId,
    /// A version that increases with every evaluation of the report (the bus offset of the release set). A write
    /// whose version is not newer than the stored one changes nothing (replays are idempotent).
    pub version: u64,
    /// The report's views as of this version.
    pub views: Vec<View>,
}

/// The outcome of one write of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Written and durable (committed).
    Written,
    /// Already at this version or newer: nothing to do.
    Stale,
    /// Failed; the indexer retries it and does not commit its bus offset past it.
    Failed(String),
    /// Refused for good: a view of the report can never be indexed (its content does not fit the index: a value the
    /// mapping cannot parse, a term too long), so retrying cannot help. Nothing of this version was written; the
    /// indexer withdraws the report's views and dead-letters it.
    Refused(String),
}

/// An indicator to look up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndicatorKey {
    /// Its type.
    pub kind: ObservableType,
    /// Its canonical value.
    pub value: String,
}

/// How an indicator lookup matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorMatch {
    /// Exact canonical values (type and value both match).
    pub key: IndicatorKey,
    /// For an IP address: the address itself, so that stored CIDR indicators containing it also match.
    pub ip: Option<IpAddr>,
}

/// Filters of a free search, all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Views containing an indicator of one of these types.
    pub types: BTreeSet<ObservableType>,
    /// Views with one of these TLPs.
    pub tlp: BTreeSet<Tlp>,
    /// Views with this sector.
    pub sector: Option<String>,
    /// Views attributed to this partner (`anonymous` views never match a named partner).
    pub partner: Option<String>,
    /// Occurred at or after.
    pub from: Option<Timestamp>,
    /// Occurred strictly before.
    pub to: Option<Timestamp>,
    /// Views of this report only (an investigator opening one released report).
    pub report: Option<ReportId>,
    /// Views whose STIX export holds one of these objects ([`accord_stix::export::object_ids`]): a TAXII read of
    /// given objects. Empty: no restriction. At most [`MAX_OBJECT_IDS`].
    pub stix_ids: BTreeSet<String>,
}

/// The most STIX ids one search may ask for ([`Filters::stix_ids`]); more is an [`IndexError::InvalidQuery`] on
/// every backend.
pub const MAX_OBJECT_IDS: usize = 1_000;

/// Checks the STIX ids of a search against [`MAX_OBJECT_IDS`].
///
/// # Errors
/// Returns [`IndexError::InvalidQuery`] naming the bound when there are more.
pub fn check_stix_ids(filters: &Filters) -> Result<(), IndexError> {
    if filters.stix_ids.len() > MAX_OBJECT_IDS {
        return Err(IndexError::InvalidQuery(format!(
            "{} object ids asked for; at most {MAX_OBJECT_IDS} are searched",
            filters.stix_ids.len()
        )));
    }
    Ok(())
}

/// The most words a free-text search may have. Both backends split text into words the same way (runs of letters
/// and digits, see [`text_words`]); OpenSearch turns each word into one clause per text field and answers 500
/// `too_many_clauses` above `indices.query.bool.max_clause_count` (1024 by default), so the bound is checked before
/// any backend sees the text, and a longer text is an [`IndexError::InvalidQuery`] on every backend.
pub const MAX_TEXT_WORDS: usize = 256;

/// Returns the words of free text as both backends' text analyzers split it: runs of alphanumeric characters,
/// lower-cased (`evil.example` is `evil` and `example`).
pub fn text_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
}

/// Checks a free-text search against [`MAX_TEXT_WORDS`].
///
/// # Errors
/// Returns [`IndexError::InvalidQuery`] naming the bound when the text has more words.
pub fn check_text(text: &str) -> Result<(), IndexError> {
    let words = text_words(text).count();
    if words > MAX_TEXT_WORDS {
        return Err(IndexError::InvalidQuery(format!(
            "the text has {words} words; at most {MAX_TEXT_WORDS} are searched"
        )));
    }
    Ok(())
}

/// A search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The release filter (mandatory).
    pub release: ReleaseFilter,
    /// Views containing this indicator (exact, or CIDR containment for IPs).
    pub indicator: Option<IndicatorMatch>,
    /// Full text over title and description (views without narrative have neither).
    pub text: Option<String>,
    /// Field filters.
    pub filters: Filters,
    /// Page size (the caller caps it).
    pub size: usize,
    /// Number of hits to skip (decoded from the caller's opaque cursor).
    pub offset: usize,
}

/// One page of results, newest `occurred_at` first, ties by view id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Total matches under the filter.
    pub total: u64,
    /// The hits of this page.
    pub hits: Vec<View>,
}

/// An index failure. Display does not print the cause chain.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The backend failed or cannot be reached; retrying may help.
    #[error("index unavailable: {context}")]
    Unavailable {
        /// What was attempted.
        context: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The query cannot be run (a syntax error in free text).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The index URL is not understood.
    #[error("invalid index url `{0}`")]
    InvalidUrl(String),
    /// Reads are held while the index replays its topic after losing what it held ([`SearchIndex::hold_reads`]);
    /// the progress (`rebuilding (120 of 5000)`).
    #[error("index {0}: reads are held until it is done")]
    Rebuilding(String),
}

/// The reads an index holds ([`SearchIndex::hold_reads`]): the progress while held.
#[derive(Debug, Default)]
pub(crate) struct ReadHold(std::sync::Mutex<Option<String>>);

impl ReadHold {
    /// Holds reads with `progress`, or releases them (`None`).
    pub(crate) fn set(&self, progress: Option<String>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = progress;
    }

    /// `Ok` unless reads are held.
    pub(crate) fn check(&self) -> Result<(), IndexError> {
        match &*self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some(progress) => Err(IndexError::Rebuilding(progress.clone())),
            None => Ok(()),
        }
    }
}

impl IndexError {
    /// Returns an [`IndexError::Unavailable`] wrapping `source`.
    pub fn unavailable(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        IndexError::Unavailable {
            context: context.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// A search index of views.
#[async_trait]
pub trait SearchIndex: Send + Sync + 'static {
    /// Applies a batch of replacements and returns one outcome per item, in order. Items that report `Written` are
    /// searchable within about a second (tantivy: at once), and durable once [`SearchIndex::persist`] returns.
    async fn write(&self, batch: Vec<ReplaceViews>) -> Result<Vec<WriteOutcome>, IndexError>;

    /// Makes every write that returned before this call durable: a writer calls it before it acknowledges what it
    /// wrote (the indexer, before it commits its bus offsets). Tantivy syncs the files its commits wrote, in one pass
    /// for every caller waiting (decision 0065); the default does nothing (OpenSearch acknowledges a bulk write once
    /// its translog holds it).
    ///
    /// # Errors
    /// When the writes cannot be made durable now; they stay searchable, and the next call tries again.
    async fn persist(&self) -> Result<(), IndexError> {
        Ok(())
    }

    /// Returns `true` when the index certainly holds nothing (its directory was deleted or lost): the indexer then
    /// rebuilds it from the bus. The default, `false`, means "not known to be empty".
    ///
    /// # Errors
    /// When the index cannot be read.
    async fn is_empty(&self) -> Result<bool, IndexError> {
        Ok(false)
    }

    /// Returns `true` when the index lost reports it held — tantivy dropped segments that failed their checksums at
    /// open — and must be caught up by a replay of its topic; the indexer then replays it and calls
    /// [`SearchIndex::replay_started`]. The default: `false`.
    ///
    /// # Errors
    /// When the index cannot be read.
    async fn lost_documents(&self) -> Result<bool, IndexError> {
        Ok(false)
    }

    /// Notes that the replay [`SearchIndex::lost_documents`] asked for is under way (durably: the indexer's group was
    /// rewound), so that the next start does not ask again.
    ///
    /// # Errors
    /// When that cannot be noted.
    async fn replay_started(&self) -> Result<(), IndexError> {
        Ok(())
    }

    /// Holds every read (search, lookup, counts, released views), or releases them with `None`, while the index
    /// replays its topic after losing what it held (a rebuild of an empty index, a catch-up after dropped segments):
    /// a replay writes each report's release sets in bus order, so an older version — before an amendment, a
    /// retraction, a withdrawal — is in the index until the later one is replayed, and must not be served
    /// meanwhile (fail closed). A held read fails with [`IndexError::Rebuilding`] naming `progress`. The indexer
    /// holds reads for the replays `/readyz` reports; an index that rebuilds into a generation searches do not read
    /// is not held. The default holds nothing.
    fn hold_reads(&self, progress: Option<String>) {
        let _ = progress;
    }

    /// Returns the rebuild asked for and not finished yet, if there is one (OpenSearch: a generation above the
    /// current one, see `opensearch_index`'s `generation` module), with this index already writing into it as well,
    /// so that every write that returns from now on is in both. The default: `None` (tantivy rebuilds at start).
    ///
    /// # Errors
    /// When the index cannot be read.
    async fn pending_rebuild(&self) -> Result<Option<Box<dyn Rebuilding>>, IndexError> {
        Ok(None)
    }

    /// Asks for an online rebuild (OpenSearch: creates the next generation) and returns its generation; the indexer
    /// runs it ([`SearchIndex::pending_rebuild`]). A rebuild already asked for is returned again.
    ///
    /// # Errors
    /// [`IndexError::Unavailable`] when the index cannot be rebuilt online (the default: tantivy is rebuilt at start,
    /// `accord index rebuild --data-dir`), or cannot be reached.
    async fn request_rebuild(&self) -> Result<u64, IndexError> {
        Err(IndexError::Unavailable {
            context: "this index is not rebuilt online".to_owned(),
            source: None,
        })
    }

    /// Runs a search.
    async fn search(&self, query: Query) -> Result<Page, IndexError>;

    /// Looks up many indicators at once under one release filter and returns, per input (same order), the total
    /// number of matching views and up to `per_key` of them, newest first: per key, what [`SearchIndex::search`]
    /// answers for that indicator (conformance: `batch_lookup_answers_as_searches_do`), in a few requests for the
    /// whole batch (tantivy: one pass over each segment; OpenSearch: `_msearch`), not one per key.
    async fn lookup(
        &self,
        release: ReleaseFilter,
        keys: Vec<IndicatorMatch>,
        per_key: usize,
    ) -> Result<Vec<Page>, IndexError>;

    /// Counts, per range `[from, to)` of `occurred_at` (same order), the views `query` matches (its `size` and
    /// `offset` ignored): per range, the `total` [`SearchIndex::search`] answers for `query` with its time filters
    /// narrowed to that range (conformance: `range_counts_answer_as_searches_do`). The default runs one counting
    /// search per range; tantivy counts every range in one pass over the query's matches.
    async fn count_ranges(
        &self,
        query: Query,
        ranges: Vec<(Timestamp, Timestamp)>,
    ) -> Result<Vec<u64>, IndexError> {
        let mut counts = Vec::with_capacity(ranges.len());
        for (from, to) in ranges {
            let mut narrowed = query.clone();
            narrowed.size = 0;
            narrowed.offset = 0;
            narrowed.filters.from = Some(query.filters.from.map_or(from, |at| at.max(from)));
            narrowed.filters.to = Some(query.filters.to.map_or(to, |at| at.min(to)));
            counts.push(if narrowed.filters.from < narrowed.filters.to {
                self.search(narrowed).await?.total
            } else {
                0
            });
        }
        Ok(counts)
    }

    /// Returns at most `query.size` views of the release filter in the TAXII order after the query's start bound
    /// (module [`ordered`]): what [`SearchIndex::search`] matches for the same filter, each with its release time
    /// (conformance: `released_views_walk_in_release_order`). The default reads every match ([`ordered::scan`]);
    /// tantivy walks its columns and decodes only the views it returns.
    async fn released(&self, query: ReleasedQuery) -> Result<Vec<Released>, IndexError> {
        ordered::scan(self, query).await
    }

    /// Makes every `Written` item visible to searches now (tests and shutdown).
    async fn refresh(&self) -> Result<(), IndexError>;

    /// Returns `Ok` when the index is reachable (for `/readyz`).
    async fn health(&self) -> Result<(), IndexError>;
}

/// An online rebuild in progress ([`SearchIndex::pending_rebuild`]): a new generation of the index that searches
/// do not read yet.
#[async_trait]
pub trait Rebuilding: Send + Sync {
    /// The generation being rebuilt (it names the rebuild's consumer group).
    fn generation(&self) -> u64;

    /// The index the rebuild replays the bus into: this generation alone.
    fn target(&self) -> IndexClient;

    /// Makes searches read this generation (atomically) and drops the old one. Call it once the replay has caught
    /// up with what was published before [`SearchIndex::pending_rebuild`] returned.
    ///
    /// # Errors
    /// When the switch is refused or the index cannot be reached; nothing switched, or the switch is already done
    /// (calling it again finds it done).
    async fn switch(&self) -> Result<(), IndexError>;
}

/// The cloneable handle every service holds.
#[derive(Clone)]
pub struct IndexClient(Arc<dyn SearchIndex>);

impl fmt::Debug for IndexClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IndexClient")
    }
}

/// Settings of an index that do not belong in its URL: the memory it may use (`[memory]`).
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// The embedded tantivy writer's budget in bytes (`[memory] index_writer_mib`); no effect on OpenSearch.
    pub writer_bytes: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            writer_bytes: tantivy_index::DEFAULT_WRITER_BYTES,
        }
    }
}

impl IndexClient {
    /// Wraps an implementation.
    pub fn new(index: impl SearchIndex) -> Self {
        Self(Arc::new(index))
    }

    /// Opens the index named by `url`: `tantivy://DIR` (or a plain path), or `opensearch://HOST:PORT` and
    /// `opensearch+https://[USER:PASSWORD@]HOST:PORT`, optionally with `?prefix=NAME` (see
    /// [`opensearch_index::config`]). Opening OpenSearch sends no request.
    ///
    /// # Errors
    /// Returns [`IndexError::InvalidUrl`] for an unknown scheme, or the implementation's error when it cannot open.
    pub fn from_url(url: &str) -> Result<Self, IndexError> {
        Self::from_url_with(url, &IndexOptions::default())
    }

    /// As [`IndexClient::from_url`], with `options` (the tantivy writer's budget).
    ///
    /// # Errors
    /// As [`IndexClient::from_url`].
    pub fn from_url_with(url: &str, options: &IndexOptions) -> Result<Self, IndexError> {
        let tantivy =
            |dir: &str| tantivy_index::TantivyIndex::open_sized(dir, options.writer_bytes);
        if let Some(dir) = url.strip_prefix("tantivy://") {
            return Ok(Self::new(tantivy(dir)?));
        }
        if url.starts_with("opensearch://") || url.starts_with("opensearch+") {
            return Ok(Self::new(opensearch_index::OpenSearchIndex::from_url(url)?));
        }
        if !url.contains("://") {
            return Ok(Self::new(tantivy(url)?));
        }
        Err(IndexError::InvalidUrl(url.to_owned()))
    }

    /// Opens the index named by `url` as [`IndexClient::from_url`] does, but for a process that only reads it: a
    /// tantivy index is opened without its writer (see [`tantivy_index::TantivyIndex::open_read_only`]), so that the
    /// indexer in another process keeps the writer lock. OpenSearch is opened without managing its indices: the
    /// process never installs templates or creates indices (the indexer does), so its user needs read rights only.
    ///
    /// # Errors
    /// As [`IndexClient::from_url`].
    pub fn from_url_read_only(url: &str) -> Result<Self, IndexError> {
        let tantivy_dir = url
            .strip_prefix("tantivy://")
            .or_else(|| (!url.contains("://")).then_some(url));
        match tantivy_dir {
            Some(dir) => Ok(Self::new(tantivy_index::TantivyIndex::open_read_only(dir)?)),
            None if url.starts_with("opensearch://") || url.starts_with("opensearch+") => {
                let mut config = opensearch_index::OpenSearchConfig::from_url(url)?;
                config.manage_indices = false;
                Ok(Self::new(opensearch_index::OpenSearchIndex::new(config)?))
            }
            None => Self::from_url(url),
        }
    }
}

impl std::ops::Deref for IndexClient {
    type Target = dyn SearchIndex;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}
