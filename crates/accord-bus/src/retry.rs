//! The one retry rule of every loop that waits for a fault to pass (the stage loop, the embedded log's reopen,
//! the stores' reopen): exponential backoff with jitter, capped at a few seconds, and a log line per **state
//! change**, never per attempt.
//!
//! - [`Backoff`]: 50 ms doubling to a cap of 5 s by default, each delay drawn uniformly from its upper half ("equal
//!   jitter"), so that loops failing together do not come back together; [`Backoff::reset`] after a success.
//! - [`Trouble`]: the state of one retried thing. The first failure logs one WARN with its cause; further failures
//!   are only counted (and logged at DEBUG); the first success after a failure logs one INFO with how many attempts
//!   failed and for how long. A loop without traffic therefore writes two lines per incident, not one per attempt.
//!
//! Both live in the bus crate because the embedded log, the lowest layer that retries, uses them; every other crate
//! reaches them through the bus (`accord_runtime` re-exports them as `accord_runtime::retry`).

use std::time::{Duration, Instant};

/// The first delay of a [`Backoff::default`].
pub const INITIAL_DELAY: Duration = Duration::from_millis(50);

/// The longest delay of a [`Backoff::default`].
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// Exponential backoff with equal jitter; see the module documentation.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    /// The un-jittered delay the next [`Backoff::next_delay`] draws from.
    current: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(INITIAL_DELAY, MAX_DELAY)
    }
}

impl Backoff {
    /// Returns a backoff starting at `initial` and doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            current: initial,
        }
    }

    /// Returns the delay before the next attempt (uniformly drawn from the upper half of the current step) and
    /// doubles the step, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.current;
        self.current = (self.current.saturating_mul(2)).min(self.max);
        let half = step / 2;
        let jitter = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::random_range(0..=jitter))
    }

    /// Starts over from the initial delay (after a success).
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

/// The state of one retried thing, logged on changes only; see the module documentation.
#[derive(Debug)]
pub struct Trouble {
    /// What is retried, for the logs (`stage enforcer: process batch`, `bus log /data/bus/bus.redb`).
    what: String,
    /// Since when, and how many attempts failed, while in trouble.
    since: Option<(Instant, u64)>,
}

impl Trouble {
    /// Returns the state of `what`, not in trouble.
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            since: None,
        }
    }

    /// Notes a failed attempt: the first one after a success logs a WARN with the cause, the others only DEBUG.
    pub fn failed(&mut self, cause: &(dyn std::error::Error + 'static)) {
        match &mut self.since {
            Some((_, attempts)) => {
                *attempts += 1;
                tracing::debug!(what = %self.what, error = %Chain(cause), attempts, "still failing, retrying");
            }
            None => {
                self.since = Some((Instant::now(), 1));
                tracing::warn!(
                    what = %self.what,
                    error = %Chain(cause),
                    "failing: retrying with backoff (logged again once recovered)"
                );
            }
        }
    }

    /// Notes a success: after failures, logs one INFO saying it recovered.
    pub fn succeeded(&mut self) {
        if let Some((since, attempts)) = self.since.take() {
            tracing::info!(
                what = %self.what,
                failed_attempts = attempts,
                after_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                "recovered"
            );
        }
    }

    /// Returns whether the last attempt failed.
    pub fn in_trouble(&self) -> bool {
        self.since.is_some()
    }

    /// Returns since when it has been failing, if it is.
    pub fn since(&self) -> Option<Instant> {
        self.since.map(|(since, _)| since)
    }
}

/// An error with its causes, `: `-separated, for one log field.
struct Chain<'e>(&'e (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_with_jitter_up_to_the_cap_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let first = backoff.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let second = backoff.next_delay();
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
        // 400 ms, 800 ms, then the cap.
        backoff.next_delay();
        backoff.next_delay();
        for _ in 0..20 {
            let late = backoff.next_delay();
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
        // Jitter: many draws of one step are not all equal.
        let draws: std::collections::BTreeSet<Duration> = (0..32)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay())
            .collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn trouble_tracks_the_state_not_the_attempts() {
        let mut trouble = Trouble::new("test");
        assert!(!trouble.in_trouble());
        let error = std::io::Error::other("disk full");
        trouble.failed(&error);
        let since = trouble.since().unwrap();
        trouble.failed(&error);
        assert_eq!(
            trouble.since(),
            Some(since),
            "a further failure keeps the start"
        );
        assert_eq!(trouble.since.unwrap().1, 2);
        trouble.succeeded();
        assert!(!trouble.in_trouble());
    }
}
