//! Pages at any depth.
//!
//! OpenSearch serves `from + size` hits of one search up to the index's `max_result_window` (10 000 by default,
//! [`OpenSearchConfig::max_result_window`](super::OpenSearchConfig::max_result_window)). A page within the window is
//! one search with `from`/`size`. A deeper page opens a *point in time* (a consistent snapshot of the views index,
//! kept alive [`PIT_KEEP_ALIVE`] between requests), skips `offset` hits a window at a time with `search_after`,
//! reading only their sort values (`_source: false`), reads the page with its views, and closes the point in time.
//! Accord's order is total (see the `query` module), so `search_after` neither skips nor repeats a hit, and the
//! total is exact and taken from the same snapshot as the page. A page starting at or beyond the total answers no
//! hits after one request, whatever the offset. The cost of a page grows with its depth (one request per window
//! skipped); the search service's cursor stays an offset, so every backend pages the same way.

use serde::Deserialize;
use serde_json::Value;

use super::{
    OpenSearchIndex,
    client::{Reply, Request},
    query::{Hit, SearchResponse, page_body, too_many_clauses},
};
use crate::{IndexError, Page};

/// How long a point in time stays open between two requests of one walk.
pub(crate) const PIT_KEEP_ALIVE: &str = "1m";

/// Decodes a search answer; a query refused for too many clauses is an [`IndexError::InvalidQuery`].
pub(crate) fn decode_search(reply: &Reply, what: &str) -> Result<SearchResponse, IndexError> {
    if reply.is_too_many_clauses() {
        return Err(too_many_clauses());
    }
    reply.decode(what)
}

/// The answer to opening a point in time.
#[derive(Debug, Deserialize)]
struct PitCreated {
    pit_id: String,
}

/// An open point in time and the search that walks it.
struct Walk<'a> {
    index: &'a OpenSearchIndex,
    query: &'a Value,
    pit_id: String,
    after: Option<Vec<Value>>,
    total: Option<u64>,
}

impl Walk<'_> {
    /// Reads the next `size` hits after the last one read (with their views, or sort values only).
    async fn next(&mut self, size: usize, views: bool) -> Result<Vec<Hit>, IndexError> {
        let mut body = page_body(self.query, 0, size, views);
        body["pit"] = serde_json::json!({ "id": self.pit_id, "keep_alive": PIT_KEEP_ALIVE });
        if let Some(after) = &self.after {
            body["search_after"] = Value::Array(after.clone());
        }
        let request = Request::PitSearch { body };
        let reply = self.index.http.call(&request).await?;
        let answer = decode_search(&reply, request.what())?;
        if let Some(pit_id) = answer.pit_id() {
            self.pit_id = pit_id.to_owned();
        }
        let (total, hits) = answer.into_hits()?;
        self.total.get_or_insert(total);
        if let Some(last) = hits.last() {
            self.after = Some(last.sort.clone());
        }
        Ok(hits)
    }

    /// Returns the total, the hits `offset .. offset + size` (see the module docs).
    async fn page(
        &mut self,
        offset: usize,
        size: usize,
        views: bool,
    ) -> Result<Vec<Hit>, IndexError> {
        let window = self.index.config.max_result_window.max(1);
        let mut skip = offset;
        while skip > 0 {
            let batch = skip.min(window);
            let skipped = self.next(batch, false).await?.len();
            if skipped < batch {
                return Ok(Vec::new());
            }
            skip -= skipped;
        }
        let mut hits = Vec::new();
        loop {
            let want = (size - hits.len()).min(window);
            let page = self.next(want, views).await?;
            let got = page.len();
            hits.extend(page);
            if want == 0 || got < want || hits.len() >= size {
                return Ok(hits);
            }
        }
    }
}

impl OpenSearchIndex {
    /// Returns the total of `query` and its hits `offset .. offset + size`, in Accord's order, at any depth: with
    /// their views, or (without `views`) their document ids and sort values only.
    pub(crate) async fn hits(
        &self,
        query: &Value,
        offset: usize,
        size: usize,
        views: bool,
    ) -> Result<(u64, Vec<Hit>), IndexError> {
        if offset.saturating_add(size) <= self.config.max_result_window {
            let request = Request::Search {
                index: self.names.views.clone(),
                body: page_body(query, offset, size, views),
            };
            let reply = self.http.call(&request).await?;
            return decode_search(&reply, request.what())?.into_hits();
        }
        let request = Request::CreatePit {
            index: self.names.views.clone(),
            keep_alive: PIT_KEEP_ALIVE.to_owned(),
        };
        let created: PitCreated = self.http.call(&request).await?.decode(request.what())?;
        let mut walk = Walk {
            index: self,
            query,
            pit_id: created.pit_id,
            after: None,
            total: None,
        };
        let hits = walk.page(offset, size, views).await;
        let close = Request::DeletePit {
            pit_id: walk.pit_id.clone(),
        };
        match self.http.call(&close).await {
            Ok(reply) if reply.is_success() || reply.status == 404 => {}
            Ok(reply) => {
                let error = reply.failure(close.what());
                tracing::warn!(%error, "failed to close a point in time; it expires by itself");
            }
            Err(error) => {
                tracing::warn!(%error, "failed to close a point in time; it expires by itself");
            }
        }
        Ok((walk.total.unwrap_or(0), hits?))
    }

    /// Returns the page `offset .. offset + size` of `query` and the exact total.
    pub(crate) async fn page(
        &self,
        query: &Value,
        offset: usize,
        size: usize,
    ) -> Result<Page, IndexError> {
        let (total, hits) = self.hits(query, offset, size, true).await?;
        Ok(Page {
            total,
            hits: hits.into_iter().map(Hit::view).collect::<Result<_, _>>()?,
        })
    }
}
