//! Batch lookups, bounded: `_msearch` for document ids, `_mget` for each distinct view once.
//!
//! A lookup of many keys asks, per key, for its total and the ids of its first `per_key` views (`_source: false`),
//! in `_msearch` requests of at most [`OpenSearchConfig::msearch_max_searches`] searches and
//! [`OpenSearchConfig::msearch_max_hits`] hits in all. A key whose `per_key` goes beyond the result window is read
//! further with `search_after` (the `paging` module). The views themselves are read with `_mget`, each distinct view
//! once however many keys found it (a report listing 10 000 indicators is not sent 10 000 times), in requests of at
//! most [`OpenSearchConfig::mget_max_docs`] views. Every request is bounded, so that no answer grows with the product
//! of keys and hits, and each gets its own timeout and retries. A view deleted between the two steps is left out of
//! its key's hits (the total still counts it; the search service re-reads keys whose hits fall short).
//!
//! A search of the batch that fails with 429/5xx is sent again, alone, with backoff; a search refused for too many
//! clauses is an [`IndexError::InvalidQuery`].
//!
//! [`OpenSearchConfig::msearch_max_searches`]: super::OpenSearchConfig::msearch_max_searches
//! [`OpenSearchConfig::msearch_max_hits`]: super::OpenSearchConfig::msearch_max_hits
//! [`OpenSearchConfig::mget_max_docs`]: super::OpenSearchConfig::mget_max_docs

use std::collections::{BTreeSet, HashMap};

use accord_domain::View;
use serde::Deserialize;
use serde_json::Value;

use super::{
    OpenSearchIndex,
    client::Request,
    query::{MsearchItem, MsearchResponse, lookup_query, msearch_item, page_body},
    retry::is_retryable_status,
};
use crate::{IndexError, IndicatorMatch, Page, ReleaseFilter};

/// The answer to `_mget` on the views index.
#[derive(Debug, Deserialize)]
struct MgetViews {
    docs: Vec<MgetView>,
}

#[derive(Debug, Deserialize)]
struct MgetView {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    found: bool,
    #[serde(rename = "_source", default)]
    source: Option<ViewSource>,
}

#[derive(Debug, Deserialize)]
struct ViewSource {
    view: View,
}

/// One key's total and the ids of its hits.
type Ids = (u64, Vec<String>);

impl OpenSearchIndex {
    /// Looks up `keys` (see the module docs).
    pub(crate) async fn lookup_keys(
        &self,
        release: &ReleaseFilter,
        keys: &[IndicatorMatch],
        per_key: usize,
    ) -> Result<Vec<Page>, IndexError> {
        let queries: Vec<Value> = keys.iter().map(|key| lookup_query(release, key)).collect();
        let size = per_key.min(self.config.max_result_window);
        let searches = (self.config.msearch_max_hits / size.max(1))
            .clamp(1, self.config.msearch_max_searches.max(1));
        let mut found: Vec<Ids> = Vec::with_capacity(keys.len());
        for chunk in queries.chunks(searches) {
            let bodies = chunk
                .iter()
                .map(|query| page_body(query, 0, size, false))
                .collect();
            found.extend(self.msearch_ids(bodies).await?);
        }
        for (query, (total, ids)) in queries.iter().zip(found.iter_mut()) {
            let wanted = usize::try_from(*total).unwrap_or(usize::MAX).min(per_key);
            if ids.len() < wanted {
                let (_, hits) = self
                    .hits(query, ids.len(), wanted - ids.len(), false)
                    .await?;
                ids.extend(hits.into_iter().map(|hit| hit.id));
            }
        }
        let distinct: BTreeSet<&str> = found
            .iter()
            .flat_map(|(_, ids)| ids.iter().map(String::as_str))
            .collect();
        let views = self.read_views(distinct.into_iter().collect()).await?;
        Ok(found
            .into_iter()
            .map(|(total, ids)| Page {
                total,
                hits: ids
                    .iter()
                    .filter_map(|id| views.get(id.as_str()).cloned())
                    .collect(),
            })
            .collect())
    }

    /// Reads views by document id with `_mget`, a bounded number per request.
    async fn read_views(&self, ids: Vec<&str>) -> Result<HashMap<String, View>, IndexError> {
        let mut views = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(self.config.mget_max_docs.max(1)) {
            let docs: Vec<Value> = chunk
                .iter()
                .map(|id| serde_json::json!({ "_id": id, "_source": ["view"] }))
                .collect();
            let request = Request::Mget {
                index: self.names.views.clone(),
                body: serde_json::json!({ "docs": docs }),
            };
            let answer: MgetViews = self.http.call(&request).await?.decode(request.what())?;
            for doc in answer.docs {
                if let (true, Some(source)) = (doc.found, doc.source) {
                    views.insert(doc.id, source.view);
                }
            }
        }
        Ok(views)
    }

    /// Runs the searches of one `_msearch` request for ids, retrying searches rejected with 429/5xx.
    async fn msearch_ids(&self, bodies: Vec<Value>) -> Result<Vec<Ids>, IndexError> {
        let header = serde_json::json!({ "index": self.names.views }).to_string();
        let mut found: Vec<Option<Ids>> = vec![None; bodies.len()];
        let mut pending: Vec<usize> = (0..bodies.len()).collect();
        let mut attempt = 1;
        loop {
            let mut lines = Vec::with_capacity(2 * pending.len());
            for position in &pending {
                lines.push(header.clone());
                lines.push(bodies[*position].to_string());
            }
            let request = Request::Msearch { lines };
            let response: MsearchResponse =
                self.http.call(&request).await?.decode(request.what())?;
            if response.responses.len() != pending.len() {
                return Err(IndexError::Unavailable {
                    context: format!(
                        "multi-search answer has {} items for {} searches",
                        response.responses.len(),
                        pending.len()
                    ),
                    source: None,
                });
            }
            let mut again = Vec::new();
            let mut last_reason = String::new();
            for (position, item) in pending.iter().zip(response.responses) {
                match msearch_item(item)? {
                    MsearchItem::Answer(answer) => {
                        let (total, hits) = answer.into_hits()?;
                        found[*position] =
                            Some((total, hits.into_iter().map(|hit| hit.id).collect()));
                    }
                    MsearchItem::Failed { status, reason } if is_retryable_status(status) => {
                        again.push(*position);
                        last_reason = reason;
                    }
                    MsearchItem::Failed { status, reason } => {
                        return Err(IndexError::Unavailable {
                            context: format!("lookup failed: status {status} ({reason})"),
                            source: None,
                        });
                    }
                }
            }
            if again.is_empty() {
                break;
            }
            if attempt >= self.http.retry().max_attempts {
                return Err(IndexError::Unavailable {
                    context: format!("lookup failed after {attempt} attempts: {last_reason}"),
                    source: None,
                });
            }
            tokio::time::sleep(self.http.retry().backoff(attempt)).await;
            pending = again;
            attempt += 1;
        }
        found
            .into_iter()
            .collect::<Option<Vec<Ids>>>()
            .ok_or_else(|| IndexError::Unavailable {
                context: "multi-search left a lookup unanswered".to_owned(),
                source: None,
            })
    }
}
