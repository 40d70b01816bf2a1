//! The production [`SearchIndex`]: OpenSearch, through the `opensearch` crate.
//!
//! Open it with [`IndexClient::from_url`](crate::IndexClient::from_url)
//! (`opensearch://host:9200`, `opensearch+https://user:password@host:9200?prefix=accord`, see [`config`]) or
//! [`OpenSearchIndex::new`]. Construction sends nothing; the first operation (usually `/readyz` calling
//! [`SearchIndex::health`]) installs the index templates and creates the indices, and is repeated until it succeeds,
//! so services may start before the cluster is up. Only a process that manages the indices does so
//! ([`OpenSearchConfig::manage_indices`]); one opened with
//! [`IndexClient::from_url_read_only`](crate::IndexClient::from_url_read_only) installs nothing and needs read rights
//! only.
//!
//! - `mapping`: the templates (keyword indicators, `ip` and one `ip_range` per IP family for CIDR containment,
//!   narrative analyzed like tantivy, release fields), the view documents and the report markers.
//! - `plan` and `write`: replacing all views of a report: views with external versions, the report marker claimed
//!   and committed conditionally on what was read; a replay or an out-of-order write is `Stale` and never
//!   overwrites newer data, and a writer overtaken by a newer one is fenced off. The `write` module docs give the
//!   protocol and its failure modes.
//! - `bulk`: per-item outcomes of `_bulk`, retries of 429/5xx items with backoff and jitter.
//! - `query`: the query DSL; every search and lookup carries the release filter added here, by Accord.
//!   OpenSearch's security plugin, if a deployment enables it, is a second wall only.
//! - `paging`: pages at any depth (`from`/`size` within the result window, `search_after` over a point in time
//!   beyond it); `lookup`: batch lookups in bounded `_msearch` and `_mget` requests.
//! - `retry` and `client`: which failures are retried, and the HTTP requests themselves.
//! - `generation`: the indices are generations behind the aliases `<prefix>-views` and `<prefix>-reports`; a rebuild
//!   fills generation n+1 while searches read n, then switches both aliases in one `_aliases` call (decision 0066).
//!
//! Visibility: the views index refreshes every second (`refresh_interval: 1s` in its template), and writes never ask
//! for a refresh, so a `Written` view is searchable within about a second, as with the embedded index, without a
//! segment per batch. [`SearchIndex::refresh`] calls `_refresh` for tests and shutdown. `Written` means the bulk
//! answer confirmed every action, i.e. the primary and its in-sync replicas wrote it to their translogs (fsynced per
//! request by default), so the indexer may then commit its bus offsets.

pub mod config;

mod bulk;
mod client;
mod generation;
mod lookup;
mod mapping;
mod paging;
mod plan;
mod query;
mod retry;
mod write;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::OnceCell;

use self::{
    client::{Http, Request},
    mapping::Names,
    query::search_query,
};
pub use self::{config::OpenSearchConfig, generation::Generations, retry::RetryPolicy};
use crate::{
    IndexError, IndicatorMatch, Page, Query, ReleaseFilter, ReplaceViews, SearchIndex, WriteOutcome,
};

/// The OpenSearch index. Cheap to clone; clones share one HTTP client.
#[derive(Clone)]
pub struct OpenSearchIndex {
    http: Http,
    config: Arc<OpenSearchConfig>,
    /// What searches read: the aliases, or one generation's indices ([`OpenSearchIndex::generation`]).
    names: Arc<Names>,
    ready: Arc<OnceCell<()>>,
    /// The generations writes go to (`generation` module); empty in a process that does not manage the indices,
    /// which then writes through the aliases. Writes hold the read lock while they run.
    targets: Arc<tokio::sync::RwLock<Vec<u64>>>,
    /// Whether the start created the first generation because there was no index at all.
    created: Arc<AtomicBool>,
    /// Reads held while a lost index is rebuilt into the generation searches read ([`SearchIndex::hold_reads`]).
    hold: Arc<crate::ReadHold>,
}

impl std::fmt::Debug for OpenSearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSearchIndex")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OpenSearchIndex {
    /// Creates the index client. No request is sent until the first operation.
    ///
    /// # Errors
    /// Returns [`IndexError::InvalidUrl`] for an invalid prefix, or [`IndexError::Unavailable`] when the HTTP client
    /// cannot be built.
    pub fn new(config: OpenSearchConfig) -> Result<Self, IndexError> {
        if !config::is_valid_prefix(&config.prefix) {
            return Err(IndexError::InvalidUrl(format!(
                "index prefix `{}`",
                config.prefix
            )));
        }
        let http = Http::new(&config)?;
        Ok(Self {
            http,
            names: Arc::new(Names::new(&config.prefix)),
            config: Arc::new(config),
            ready: Arc::new(OnceCell::new()),
            targets: Arc::default(),
            created: Arc::default(),
            hold: Arc::default(),
        })
    }

    /// Opens the index named by an `opensearch://` or `opensearch+https://` URL.
    ///
    /// # Errors
    /// As [`OpenSearchConfig::from_url`] and [`OpenSearchIndex::new`].
    pub fn from_url(url: &str) -> Result<Self, IndexError> {
        Self::new(OpenSearchConfig::from_url(url)?)
    }

    /// Returns the configuration.
    pub fn config(&self) -> &OpenSearchConfig {
        &self.config
    }

    /// Installs the index templates and creates the indices, once per process (again after a failure); a process
    /// that does not manage the indices ([`OpenSearchConfig::manage_indices`]) installs nothing.
    async fn ensure_ready(&self) -> Result<(), IndexError> {
        if !self.config.manage_indices {
            return Ok(());
        }
        self.ready
            .get_or_try_init(|| self.install())
            .await
            .map(|_| ())
    }

    /// Installs (or updates) both templates, then opens the current generation, creating the first one when there
    /// is none (`generation` module).
    #[tracing::instrument(skip_all, fields(prefix = %self.config.prefix))]
    async fn install(&self) -> Result<(), IndexError> {
        let names = &*self.names;
        let templates = [
            (
                names.views.clone(),
                mapping::views_template(names, &self.config),
            ),
            (
                names.reports.clone(),
                mapping::reports_template(names, self.config.replicas),
            ),
        ];
        for (name, body) in templates {
            let request = Request::PutTemplate { name, body };
            let reply = self.http.call(&request).await?;
            if !reply.is_success() {
                return Err(reply.failure(request.what()));
            }
        }
        let created = self.open_generation().await?;
        self.created.store(created, Ordering::Relaxed);
        tracing::info!(views = %names.views, reports = %names.reports, "opensearch index templates and indices ready");
        Ok(())
    }

    /// Returns the names of the indices writes go to: one per generation of the write set, or the aliases.
    fn write_names(targets: &[u64], prefix: &str) -> Vec<Names> {
        if targets.is_empty() {
            return vec![Names::new(prefix)];
        }
        targets
            .iter()
            .map(|generation| Names::generation(prefix, *generation))
            .collect()
    }

    /// Writes `batch` into every generation of the write set; per item, the outcomes combine as
    /// [`combine`] says.
    async fn write_generations(
        &self,
        batch: &[ReplaceViews],
    ) -> Result<Vec<WriteOutcome>, IndexError> {
        let targets = self.targets.read().await;
        let mut outcomes: Option<Vec<WriteOutcome>> = None;
        for names in Self::write_names(&targets, &self.config.prefix) {
            let target = OpenSearchIndex {
                names: Arc::new(names),
                ..self.clone()
            };
            let written = target.write_batch(batch).await?;
            outcomes = Some(match outcomes {
                None => written,
                Some(earlier) => earlier.into_iter().zip(written).map(combine).collect(),
            });
        }
        Ok(outcomes.unwrap_or_default())
    }

    /// Deletes this deployment's indices and templates: every view and marker is gone. For tests and decommissioning.
    ///
    /// # Errors
    /// Returns [`IndexError::Unavailable`] when the cluster refuses or cannot be reached.
    pub async fn delete_everything(&self) -> Result<(), IndexError> {
        let names = &*self.names;
        let found = self.generations().await?;
        for generation in [found.current, found.pending, found.highest]
            .into_iter()
            .flatten()
            .filter(|generation| *generation > 0)
        {
            self.delete_generation(generation).await?;
        }
        let requests = [
            Request::DeleteIndex {
                index: names.views.clone(),
            },
            Request::DeleteIndex {
                index: names.reports.clone(),
            },
            Request::DeleteTemplate {
                name: names.views.clone(),
            },
            Request::DeleteTemplate {
                name: names.reports.clone(),
            },
        ];
        for request in requests {
            let reply = self.http.call(&request).await?;
            if !reply.is_success() && reply.status != 404 {
                return Err(reply.failure(request.what()));
            }
        }
        Ok(())
    }
}

/// Combines the outcomes of one item written into two generations: `Failed` if either failed (the indexer retries;
/// the writes are idempotent), else `Refused` if either refused, else `Written` if either wrote, else `Stale`.
fn combine((first, second): (WriteOutcome, WriteOutcome)) -> WriteOutcome {
    use WriteOutcome::{Failed, Refused, Stale, Written};
    match (first, second) {
        (Failed(reason), _) | (_, Failed(reason)) => Failed(reason),
        (Refused(reason), _) | (_, Refused(reason)) => Refused(reason),
        (Written, _) | (_, Written) => Written,
        (Stale, Stale) => Stale,
    }
}

/// The answer to `_cluster/health`.
#[derive(Debug, Deserialize)]
struct Health {
    status: String,
}

#[async_trait]
impl SearchIndex for OpenSearchIndex {
    #[tracing::instrument(skip_all, fields(items = batch.len()))]
    async fn write(&self, batch: Vec<ReplaceViews>) -> Result<Vec<WriteOutcome>, IndexError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.ensure_ready().await?;
        self.write_generations(&batch).await
    }

    async fn is_empty(&self) -> Result<bool, IndexError> {
        self.ensure_ready().await?;
        Ok(self.created.load(Ordering::Relaxed))
    }

    async fn pending_rebuild(&self) -> Result<Option<Box<dyn crate::Rebuilding>>, IndexError> {
        self.ensure_ready().await?;
        let Some(generation) = self.generations().await?.pending else {
            return Ok(None);
        };
        self.write_also_to(generation).await?;
        Ok(Some(Box::new(generation::GenerationRebuild {
            live: self.clone(),
            generation,
        })))
    }

    async fn request_rebuild(&self) -> Result<u64, IndexError> {
        OpenSearchIndex::request_rebuild(self).await
    }

    fn hold_reads(&self, progress: Option<String>) {
        self.hold.set(progress);
    }

    #[tracing::instrument(skip_all, fields(offset = query.offset, size = query.size))]
    async fn search(&self, query: Query) -> Result<Page, IndexError> {
        self.hold.check()?;
        let body = search_query(&query)?;
        self.ensure_ready().await?;
        self.page(&body, query.offset, query.size).await
    }

    #[tracing::instrument(skip_all, fields(keys = keys.len(), per_key))]
    async fn lookup(
        &self,
        release: ReleaseFilter,
        keys: Vec<IndicatorMatch>,
        per_key: usize,
    ) -> Result<Vec<Page>, IndexError> {
        self.hold.check()?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.ensure_ready().await?;
        self.lookup_keys(&release, &keys, per_key).await
    }

    async fn refresh(&self) -> Result<(), IndexError> {
        self.ensure_ready().await?;
        let mut indices = vec![self.names.views.clone(), self.names.reports.clone()];
        let targets = self.targets.read().await.clone();
        for names in Self::write_names(&targets, &self.config.prefix) {
            for index in [names.views, names.reports] {
                if !indices.contains(&index) {
                    indices.push(index);
                }
            }
        }
        let request = Request::Refresh { indices };
        let reply = self.http.call(&request).await?;
        if !reply.is_success() {
            return Err(reply.failure(request.what()));
        }
        Ok(())
    }

    async fn health(&self) -> Result<(), IndexError> {
        self.ensure_ready().await?;
        let request = Request::Health {
            indices: vec![self.names.views.clone(), self.names.reports.clone()],
        };
        let health: Health = self.http.call(&request).await?.decode(request.what())?;
        if health.status == "red" {
            return Err(IndexError::Unavailable {
                context: "opensearch cluster health is red".to_owned(),
                source: None,
            });
        }
        Ok(())
    }
}
