//! Bulk writes with per-item outcomes.
//!
//! An answer of 200 to `_bulk` says nothing about its items: each carries its own status. [`Bulk::execute`] sends
//! the actions (split into requests of at most `bulk_max_bytes`), and then:
//!
//! - items that succeeded, and deletes of documents that were not there (404 `not_found`), are [`ItemResult::Done`];
//! - a version conflict (409) is [`ItemResult::Conflict`]: with external versions the stored document is already as
//!   new or newer, and with `if_seq_no` or `create` it changed (or appeared) since it was read; the caller decides
//!   about it; it is never retried;
//! - items rejected with 429 or failed with 5xx are sent again, alone, after a backoff with jitter, up to
//!   `max_attempts` times, and then reported [`ItemResult::Failed`] with the last reason;
//! - a 400 about the document itself (`mapper_parsing_exception` and the others of [`DOCUMENT_ERRORS`]) is
//!   [`ItemResult::Refused`] at once: that document can never be indexed;
//! - other failures (a missing index, a strict mapping, a blocked index) are [`ItemResult::Failed`] at once.
//!
//! A whole request that is rejected (429, 5xx) or lost (connection error, timeout) is sent again with the same
//! backoff and counts as an attempt of every item in it. Resending is safe because every action carries an external
//! version or a condition (`if_seq_no`, `create`): an action that was applied before its answer was lost comes back
//! as a 409 and is `Conflict`, not a duplicate (a writer whose own conditional claim comes back so re-reads the
//! marker and finds it there). When the attempts run out on a whole request, [`Bulk::execute`] returns the error.

use serde::Deserialize;
use serde_json::Value;

use super::{
    client::{ErrorCause, Http, Request},
    retry::is_retryable_status,
};
use crate::IndexError;

/// One bulk action: its action line and, for `index`, its source line.
#[derive(Debug, Clone)]
pub(crate) struct Action {
    /// `{"index": {...}}` or `{"delete": {...}}`.
    pub(crate) action: String,
    /// The document, for `index`.
    pub(crate) source: Option<String>,
}

impl Action {
    /// Returns an `index` action with an external version.
    pub(crate) fn index(
        index: &str,
        id: &str,
        version: u64,
        version_type: &str,
        source: &Value,
    ) -> Self {
        let action = serde_json::json!({
            "index": { "_index": index, "_id": id, "version": version, "version_type": version_type }
        });
        Self {
            action: action.to_string(),
            source: Some(source.to_string()),
        }
    }

    /// Returns an `index` action conditional on the document being unchanged since it was read (internal versions:
    /// `if_seq_no`/`if_primary_term`), or a `create` action (fails if the document exists) when `read` is `None`.
    pub(crate) fn index_if(index: &str, id: &str, read: Option<SeqNo>, source: &Value) -> Self {
        let action = match read {
            Some(SeqNo {
                seq_no,
                primary_term,
            }) => serde_json::json!({
                "index": { "_index": index, "_id": id, "if_seq_no": seq_no, "if_primary_term": primary_term }
            }),
            None => serde_json::json!({ "create": { "_index": index, "_id": id } }),
        };
        Self {
            action: action.to_string(),
            source: Some(source.to_string()),
        }
    }

    /// Returns a `delete` action with an external version (`external`, or `external_gte` to delete a document at
    /// exactly `version` too).
    pub(crate) fn delete(index: &str, id: &str, version: u64, version_type: &str) -> Self {
        let action = serde_json::json!({
            "delete": { "_index": index, "_id": id, "version": version, "version_type": version_type }
        });
        Self {
            action: action.to_string(),
            source: None,
        }
    }

    /// Returns the bytes the action takes in a request body.
    fn len(&self) -> usize {
        self.action.len() + 1 + self.source.as_ref().map_or(0, |source| source.len() + 1)
    }
}

/// Where a write landed in its shard's history: what a later conditional write (`if_seq_no`/`if_primary_term`)
/// names to say "unchanged since".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct SeqNo {
    /// `_seq_no`.
    #[serde(rename = "_seq_no")]
    pub(crate) seq_no: u64,
    /// `_primary_term`.
    #[serde(rename = "_primary_term")]
    pub(crate) primary_term: u64,
}

/// The outcome of one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemResult {
    /// Applied (or a delete of a document that was not there), with where it landed when the answer says.
    Done(Option<SeqNo>),
    /// A version conflict: the stored document is as new or newer.
    Conflict,
    /// Failed for good, or retried until the attempts ran out (the cluster, the index or its mapping is at fault:
    /// retried by the indexer until an operator fixes it).
    Failed(String),
    /// The document itself can never be indexed ([`DOCUMENT_ERRORS`]): retrying cannot help.
    Refused(String),
}

/// The error types of a 400 that concern the document itself, not the cluster or the index: OpenSearch refuses that
/// document for good, and accepts others.
pub(crate) const DOCUMENT_ERRORS: [&str; 3] = [
    "mapper_parsing_exception",
    "document_parsing_exception",
    "illegal_argument_exception",
];

/// The answer to `_bulk`.
#[derive(Debug, Deserialize)]
struct BulkResponse {
    items: Vec<std::collections::HashMap<String, BulkItem>>,
}

/// One item of the answer (under its action name).
#[derive(Debug, Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<ErrorCause>,
    #[serde(rename = "_seq_no", default)]
    seq_no: Option<u64>,
    #[serde(rename = "_primary_term", default)]
    primary_term: Option<u64>,
}

/// What one item's answer means.
enum Verdict {
    Final(ItemResult),
    Retry(String),
}

fn verdict(item: &BulkItem) -> Verdict {
    let reason = || {
        item.error.as_ref().map_or_else(
            || format!("status {}", item.status),
            |error| format!("status {}: {}", item.status, error.describe()),
        )
    };
    match item.status {
        200..=299 => Verdict::Final(ItemResult::Done(match (item.seq_no, item.primary_term) {
            (Some(seq_no), Some(primary_term)) => Some(SeqNo {
                seq_no,
                primary_term,
            }),
            _ => None,
        })),
        // A delete of a missing document answers 404 with `result: not_found` and no error.
        404 if item.error.is_none() => Verdict::Final(ItemResult::Done(None)),
        409 => Verdict::Final(ItemResult::Conflict),
        status if is_retryable_status(status) => Verdict::Retry(reason()),
        400 if item
            .error
            .as_ref()
            .is_some_and(|error| DOCUMENT_ERRORS.contains(&error.kind.as_str())) =>
        {
            Verdict::Final(ItemResult::Refused(reason()))
        }
        _ => Verdict::Final(ItemResult::Failed(reason())),
    }
}

/// Executes bulk actions.
pub(crate) struct Bulk<'a> {
    pub(crate) http: &'a Http,
    pub(crate) max_bytes: usize,
}

impl Bulk<'_> {
    /// Executes `actions` and returns one result per action, in order.
    ///
    /// # Errors
    /// Returns [`IndexError::Unavailable`] when a whole request kept failing, or was answered with a non-retryable
    /// error or an unreadable body.
    pub(crate) async fn execute(&self, actions: &[Action]) -> Result<Vec<ItemResult>, IndexError> {
        let mut results = Vec::with_capacity(actions.len());
        for chunk in chunks(actions, self.max_bytes) {
            results.extend(self.execute_chunk(chunk).await?);
        }
        Ok(results)
    }

    /// Executes one chunk (one request's worth), retrying the items that failed retryably with backoff.
    async fn execute_chunk(&self, actions: &[Action]) -> Result<Vec<ItemResult>, IndexError> {
        let retry = self.http.retry();
        let mut results: Vec<Option<ItemResult>> = vec![None; actions.len()];
        let mut pending: Vec<usize> = (0..actions.len()).collect();
        let mut attempt = 1;
        while !pending.is_empty() {
            let Attempt {
                retry_reasons,
                request_failed,
            } = self.attempt(actions, &pending, &mut results).await?;
            if retry_reasons.is_empty() {
                break;
            }
            if attempt >= retry.max_attempts {
                if request_failed && results.iter().all(Option::is_none) {
                    // Not a single item got an answer: the cluster is unavailable, not an item.
                    let (_, reason) = &retry_reasons[0];
                    return Err(IndexError::Unavailable {
                        context: format!("bulk write failed after {attempt} attempts: {reason}"),
                        source: None,
                    });
                }
                for (position, reason) in retry_reasons {
                    results[position] = Some(ItemResult::Failed(format!(
                        "failed after {attempt} attempts: {reason}"
                    )));
                }
                break;
            }
            let backoff = retry.backoff(attempt);
            tracing::debug!(
                items = retry_reasons.len(),
                attempt,
                ?backoff,
                reason = %retry_reasons[0].1,
                "retrying bulk items"
            );
            tokio::time::sleep(backoff).await;
            pending = retry_reasons
                .into_iter()
                .map(|(position, _)| position)
                .collect();
            attempt += 1;
        }
        Ok(results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| ItemResult::Failed("no answer for item".to_owned()))
            })
            .collect())
    }

    /// Sends the `pending` actions once: final item results go into `results`, the rest come back to be retried.
    async fn attempt(
        &self,
        actions: &[Action],
        pending: &[usize],
        results: &mut [Option<ItemResult>],
    ) -> Result<Attempt, IndexError> {
        let request = Request::Bulk {
            lines: lines(pending.iter().map(|position| &actions[*position])),
        };
        let retry_all = |reason: String| Attempt {
            retry_reasons: pending.iter().map(|p| (*p, reason.clone())).collect(),
            request_failed: true,
        };
        let reply = match self.http.send(&request).await {
            Ok(reply) if reply.is_success() => reply,
            Ok(reply) if is_retryable_status(reply.status) => {
                return Ok(retry_all(reply.failure("bulk write").to_string()));
            }
            Ok(reply) => return Err(reply.failure("bulk write")),
            Err(error) => return Ok(retry_all(format!("failed to send bulk request: {error}"))),
        };
        let response: BulkResponse = reply.decode("bulk write")?;
        if response.items.len() != pending.len() {
            return Err(IndexError::Unavailable {
                context: format!(
                    "bulk answer has {} items for {} actions",
                    response.items.len(),
                    pending.len()
                ),
                source: None,
            });
        }
        let mut retry_reasons = Vec::new();
        for (position, item) in pending.iter().zip(&response.items) {
            let Some(item) = item.values().next() else {
                return Err(IndexError::Unavailable {
                    context: "bulk answer has an empty item".to_owned(),
                    source: None,
                });
            };
            match verdict(item) {
                Verdict::Final(result) => results[*position] = Some(result),
                Verdict::Retry(reason) => retry_reasons.push((*position, reason)),
            }
        }
        Ok(Attempt {
            retry_reasons,
            request_failed: false,
        })
    }
}

/// What one bulk request left to retry.
struct Attempt {
    /// The positions to send again, with why.
    retry_reasons: Vec<(usize, String)>,
    /// Whether the whole request failed (no item answered).
    request_failed: bool,
}

/// Returns the NDJSON lines of `actions`.
fn lines<'a>(actions: impl Iterator<Item = &'a Action>) -> Vec<String> {
    let mut lines = Vec::new();
    for action in actions {
        lines.push(action.action.clone());
        if let Some(source) = &action.source {
            lines.push(source.clone());
        }
    }
    lines
}

/// Splits `actions` into runs of at most `max_bytes` (a single larger action is a run of its own).
fn chunks(actions: &[Action], max_bytes: usize) -> Vec<&[Action]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (position, action) in actions.iter().enumerate() {
        let len = action.len();
        if position > start && bytes + len > max_bytes {
            chunks.push(&actions[start..position]);
            start = position;
            bytes = 0;
        }
        bytes += len;
    }
    if start < actions.len() {
        chunks.push(&actions[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(json: &str) -> BulkItem {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn item_statuses_map_to_results() {
        let created = item(
            r#"{"_index":"v","_id":"a","_version":3,"result":"created","_seq_no":9,"_primary_term":2,"status":201}"#,
        );
        assert!(matches!(
            verdict(&created),
            Verdict::Final(ItemResult::Done(Some(SeqNo {
                seq_no: 9,
                primary_term: 2
            })))
        ));
        let missing =
            item(r#"{"_index":"v","_id":"a","_version":4,"result":"not_found","status":404}"#);
        assert!(matches!(
            verdict(&missing),
            Verdict::Final(ItemResult::Done(None))
        ));
        let no_index = item(
            r#"{"_index":"v","_id":"a","status":404,"error":{"type":"index_not_found_exception","reason":"no such index [v]"}}"#,
        );
        assert!(matches!(
            verdict(&no_index),
            Verdict::Final(ItemResult::Failed(_))
        ));
        let conflict = item(
            r#"{"_index":"v","_id":"a","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[a]: version conflict, current version [5] is higher or equal to the one provided [3]"}}"#,
        );
        assert!(matches!(
            verdict(&conflict),
            Verdict::Final(ItemResult::Conflict)
        ));
        let rejected = item(
            r#"{"_index":"v","_id":"a","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}"#,
        );
        assert!(
            matches!(verdict(&rejected), Verdict::Retry(reason) if reason.contains("es_rejected_execution_exception"))
        );
        let mapping = item(
            r#"{"_index":"v","_id":"a","status":400,"error":{"type":"strict_dynamic_mapping_exception","reason":"mapping set to strict"}}"#,
        );
        assert!(
            matches!(verdict(&mapping), Verdict::Final(ItemResult::Failed(reason)) if reason.contains("strict"))
        );
        let document = item(
            r#"{"_index":"v","_id":"a","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [cidr]"}}"#,
        );
        assert!(
            matches!(verdict(&document), Verdict::Final(ItemResult::Refused(reason)) if reason.contains("cidr"))
        );
    }

    #[test]
    fn chunks_respect_the_byte_budget() {
        let action = |n: usize| Action {
            action: "a".repeat(n - 1),
            source: None,
        };
        let actions = vec![action(40), action(40), action(40), action(100), action(10)];
        let sizes: Vec<usize> = chunks(&actions, 90)
            .iter()
            .map(|chunk| chunk.len())
            .collect();
        assert_eq!(sizes, vec![2, 1, 1, 1]);
        assert!(chunks(&[], 90).is_empty());
    }
}
