//! Retries: which failures are worth another attempt, and how long to wait before it.
//!
//! OpenSearch answers 429 when a node's write or search queue is full (`es_rejected_execution_exception`, also per
//! bulk item) and 502/503/504 while a node or shard is unavailable: all are retried with backoff. A version conflict
//! (409) is never retried: with external versions it means the stored document is already as new or newer, with a
//! conditional write that the document changed since it was read. Other 4xx answers are bugs or bad documents and
//! fail at once. One 5xx is not retried either: `too_many_clauses` (500 in OpenSearch 2.x) is the query's fault, and
//! the same query would fail again (`Reply::is_too_many_clauses`; it becomes an invalid query). A transport error (connection refused or reset, timeout) is
//! retried too: every Accord write is idempotent under external versioning, so a write that was applied before its
//! response was lost is recognized by the retry (a 409 on the same version) instead of being duplicated.

use std::time::Duration;

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request (or per bulk item), the first included. At least 1.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles with every further attempt.
    pub initial_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts, 200 ms doubling up to 5 s: about 6 s of patience before an item is reported `Failed` (the
    /// indexer then retries the whole batch, without committing its offsets).
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Returns the backoff before attempt `attempt + 1` (after `attempt` failed ones, counting from 1): the
    /// exponential delay with "equal jitter", uniformly drawn from its upper half, so that indexers rejected together
    /// do not come back together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let delay = self
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        let half = delay / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::random_range(0..=jitter_nanos))
    }
}

/// Returns whether an HTTP status (of a whole request or of one bulk item) is worth retrying.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_and_server_errors_are_retried_conflicts_and_bad_requests_are_not() {
        for status in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [200, 201, 400, 401, 403, 404, 409, 413] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.backoff(40);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }
}
