//! The HTTP side: every request Accord sends to OpenSearch, one attempt at a time or retried.
//!
//! Requests are built with the `opensearch` crate's typed APIs from the [`Request`] enum, so that the list of
//! what Accord can ask a cluster is in one place. [`Http::call`] retries transport errors and retryable statuses
//! (see the `retry` module) and returns any other answer for the caller to interpret; bulk writes use
//! [`Http::send`] and retry per item themselves.

use secrecy::ExposeSecret;
use std::time::Duration;

use opensearch::{
    BulkParts, CreatePitParts, MgetParts, MsearchParts, OpenSearch, SearchParts,
    auth::Credentials,
    cluster::ClusterHealthParts,
    http::{
        headers::{CONTENT_TYPE, HeaderValue},
        response::Response,
        transport::{SingleNodeConnectionPool, TransportBuilder},
    },
    indices::{
        IndicesCreateParts, IndicesDeleteIndexTemplateParts, IndicesDeleteParts,
        IndicesGetAliasParts, IndicesPutIndexTemplateParts, IndicesRefreshParts,
    },
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    config::OpenSearchConfig,
    retry::{RetryPolicy, is_retryable_status},
};
use crate::IndexError;

/// One request to the cluster.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    /// `PUT _index_template/<name>`.
    PutTemplate { name: String, body: Value },
    /// `DELETE _index_template/<name>`.
    DeleteTemplate { name: String },
    /// `PUT <index>` (settings and mappings come from the template), with a body naming its aliases or none.
    CreateIndex { index: String, body: Option<Value> },
    /// `GET <pattern>/_alias`: the indices matching `pattern` with their aliases.
    GetAliases { pattern: String },
    /// `POST _aliases`: alias actions applied atomically.
    UpdateAliases { body: Value },
    /// `DELETE <index>`.
    DeleteIndex { index: String },
    /// `POST _bulk` with NDJSON lines.
    Bulk { lines: Vec<String> },
    /// `POST <index>/_mget` (real time).
    Mget { index: String, body: Value },
    /// `POST <index>/_search`.
    Search { index: String, body: Value },
    /// `POST _msearch` with NDJSON header and body lines.
    Msearch { lines: Vec<String> },
    /// `POST <index>/_search/point_in_time?keep_alive=…`.
    CreatePit { index: String, keep_alive: String },
    /// `POST _search` with a point in time in the body (no index).
    PitSearch { body: Value },
    /// `DELETE _search/point_in_time`.
    DeletePit { pit_id: String },
    /// `POST <indices>/_refresh`.
    Refresh { indices: Vec<String> },
    /// `GET _cluster/health/<indices>`.
    Health { indices: Vec<String> },
}

impl Request {
    /// Returns what the request does, for logs and errors.
    pub(crate) fn what(&self) -> &'static str {
        match self {
            Request::PutTemplate { .. } => "install index template",
            Request::DeleteTemplate { .. } => "delete index template",
            Request::CreateIndex { .. } => "create index",
            Request::DeleteIndex { .. } => "delete index",
            Request::GetAliases { .. } => "read index aliases",
            Request::UpdateAliases { .. } => "switch index aliases",
            Request::Bulk { .. } => "bulk write",
            Request::Mget { .. } => "read report markers",
            Request::Search { .. } => "search",
            Request::Msearch { .. } => "multi-search",
            Request::CreatePit { .. } => "open a point in time",
            Request::PitSearch { .. } => "search a point in time",
            Request::DeletePit { .. } => "close a point in time",
            Request::Refresh { .. } => "refresh",
            Request::Health { .. } => "read cluster health",
        }
    }
}

/// An answer: its status and body.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The body.
    pub(crate) body: Vec<u8>,
}

/// The error object of an OpenSearch answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorCause {
    /// `type`, e.g. `version_conflict_engine_exception`.
    #[serde(rename = "type", default)]
    pub(crate) kind: String,
    /// `reason`.
    #[serde(default)]
    pub(crate) reason: Option<String>,
}

impl ErrorCause {
    /// Returns `type: reason`.
    pub(crate) fn describe(&self) -> String {
        match &self.reason {
            Some(reason) => format!("{}: {reason}", self.kind),
            None => self.kind.clone(),
        }
    }
}

impl Reply {
    /// Returns whether the status is 2xx.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Returns whether OpenSearch refused the query for having too many clauses (500 in 2.x, 400 in later
    /// versions): the query is at fault, retrying cannot help.
    pub(crate) fn is_too_many_clauses(&self) -> bool {
        let needle = super::query::TOO_MANY_CLAUSES.as_bytes();
        self.status >= 400
            && self
                .body
                .windows(needle.len())
                .any(|window| window == needle)
    }

    /// Returns the `error` object of the body, when there is one.
    pub(crate) fn error(&self) -> Option<ErrorCause> {
        #[derive(Deserialize)]
        struct Body {
            error: ErrorCause,
        }
        serde_json::from_slice::<Body>(&self.body)
            .ok()
            .map(|body| body.error)
    }

    /// Returns an [`IndexError::Unavailable`] describing this (unsuccessful) answer to `what`.
    pub(crate) fn failure(&self, what: &str) -> IndexError {
        let cause = self
            .error()
            .map(|cause| format!(" ({})", cause.describe()))
            .unwrap_or_default();
        IndexError::Unavailable {
            context: format!("failed to {what}: status {}{cause}", self.status),
            source: None,
        }
    }

    /// Decodes the body of a successful answer to `what`.
    ///
    /// # Errors
    /// Returns [`IndexError::Unavailable`] when the status is not 2xx or the body is not the expected JSON.
    pub(crate) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
    ) -> Result<T, IndexError> {
        if !self.is_success() {
            return Err(self.failure(what));
        }
        serde_json::from_slice(&self.body).map_err(|source| {
            IndexError::unavailable(format!("failed to decode the answer to {what}"), source)
        })
    }
}

/// The client with its timeout and retry policy.
#[derive(Clone)]
pub(crate) struct Http {
    client: OpenSearch,
    timeout: Duration,
    retry: RetryPolicy,
}

impl Http {
    /// Builds the client. No request is sent.
    ///
    /// # Errors
    /// Returns [`IndexError::Unavailable`] when the HTTP client cannot be built.
    pub(crate) fn new(config: &OpenSearchConfig) -> Result<Self, IndexError> {
        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(config.url.clone()))
            .disable_proxy()
            .timeout(config.request_timeout);
        if let Some((user, password)) = &config.credentials {
            builder = builder.auth(Credentials::Basic(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let transport = builder.build().map_err(|source| {
            IndexError::unavailable("failed to build the opensearch client", source)
        })?;
        Ok(Self {
            client: OpenSearch::new(transport),
            timeout: config.request_timeout,
            retry: config.retry.clone(),
        })
    }

    /// Returns the retry policy.
    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Sends `request` once and reads the whole answer.
    ///
    /// # Errors
    /// Returns the transport error (connection, timeout, body read).
    pub(crate) async fn send(&self, request: &Request) -> Result<Reply, opensearch::Error> {
        let response = self.dispatch(request).await?;
        let status = response.status_code().as_u16();
        let body = response.bytes().await?.to_vec();
        Ok(Reply { status, body })
    }

    /// Sends `request`, retrying transport errors and retryable statuses with backoff, and returns the first other
    /// answer (successful or not).
    ///
    /// # Errors
    /// Returns [`IndexError::Unavailable`] when every attempt failed.
    pub(crate) async fn call(&self, request: &Request) -> Result<Reply, IndexError> {
        let what = request.what();
        let mut attempt = 1;
        loop {
            let failure = match self.send(request).await {
                Ok(reply) if !is_retryable_status(reply.status) || reply.is_too_many_clauses() => {
                    return Ok(reply);
                }
                Ok(reply) => reply.failure(what),
                Err(source) => {
                    IndexError::unavailable(format!("failed to send {what} request"), source)
                }
            };
            if attempt >= self.retry.max_attempts {
                return Err(failure);
            }
            let backoff = self.retry.backoff(attempt);
            tracing::debug!(error = %failure, attempt, ?backoff, request = what, "retrying opensearch request");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    /// Builds and sends one typed request.
    async fn dispatch(&self, request: &Request) -> Result<Response, opensearch::Error> {
        let client = &self.client;
        let timeout = self.timeout;
        let ndjson = HeaderValue::from_static("application/x-ndjson");
        match request {
            Request::Bulk { lines } => {
                client
                    .bulk(BulkParts::None)
                    .header(CONTENT_TYPE, ndjson)
                    .body(lines.iter().map(String::as_str).collect())
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::Mget { index, body } => {
                client
                    .mget(MgetParts::Index(index))
                    .body(body)
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::Search { index, body } => {
                client
                    .search(SearchParts::Index(&[index]))
                    .body(body)
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::Msearch { lines } => {
                client
                    .msearch(MsearchParts::None)
                    .header(CONTENT_TYPE, ndjson)
                    .body(lines.iter().map(String::as_str).collect())
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::PitSearch { body } => {
                client
                    .search(SearchParts::None)
                    .body(body)
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::CreatePit { index, keep_alive } => {
                client
                    .create_pit(CreatePitParts::Index(&[index]))
                    .keep_alive(keep_alive)
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::DeletePit { pit_id } => {
                client
                    .delete_pit()
                    .body(serde_json::json!({ "pit_id": [pit_id] }))
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            administration => self.dispatch_administration(administration).await,
        }
    }

    /// Builds and sends a request about aliases.
    async fn dispatch_aliases(&self, request: &Request) -> Result<Response, opensearch::Error> {
        let indices = self.client.indices();
        let timeout = self.timeout;
        match request {
            Request::GetAliases { pattern } => {
                indices
                    .get_alias(IndicesGetAliasParts::Index(&[pattern]))
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::UpdateAliases { body } => {
                indices
                    .update_aliases()
                    .body(body)
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            other => Box::pin(self.dispatch_administration(other)).await,
        }
    }

    /// Builds and sends a request about templates, indices or the cluster (not documents).
    async fn dispatch_administration(
        &self,
        request: &Request,
    ) -> Result<Response, opensearch::Error> {
        let indices = self.client.indices();
        let timeout = self.timeout;
        match request {
            Request::PutTemplate { name, body } => {
                indices
                    .put_index_template(IndicesPutIndexTemplateParts::Name(name))
                    .body(body)
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::DeleteTemplate { name } => {
                indices
                    .delete_index_template(IndicesDeleteIndexTemplateParts::Name(name))
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::CreateIndex { index, body: None } => {
                indices
                    .create(IndicesCreateParts::Index(index))
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::CreateIndex {
                index,
                body: Some(body),
            } => {
                indices
                    .create(IndicesCreateParts::Index(index))
                    .body(body)
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::GetAliases { .. } | Request::UpdateAliases { .. } => {
                self.dispatch_aliases(request).await
            }
            Request::DeleteIndex { index } => {
                indices
                    .delete(IndicesDeleteParts::Index(&[index]))
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::Refresh { indices: names } => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                indices
                    .refresh(IndicesRefreshParts::Index(&names))
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::Health { indices: names } => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                self.client
                    .cluster()
                    .health(ClusterHealthParts::Index(&names))
                    .request_timeout(timeout)
                    .send()
                    .await
            }
            Request::Bulk { .. }
            | Request::Mget { .. }
            | Request::Search { .. }
            | Request::Msearch { .. }
            | Request::CreatePit { .. }
            | Request::PitSearch { .. }
            | Request::DeletePit { .. } => Box::pin(self.dispatch(request)).await,
        }
    }
}
