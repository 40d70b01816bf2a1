//! The health of a process: which of its stores fail (and since when), what it is still catching up on, and what
//! `/readyz` and `/healthz` answer from that.
//!
//! - A store that cannot work (the bus log or a redb store after an I/O error, the index) is **failing**: `/readyz`
//!   answers 503 naming it and why, while it heals itself with backoff. After `[health] unrecoverable_after_ms`
//!   (default 5 minutes) of failing without recovery, `/healthz` answers 503 too, so that a supervisor (systemd,
//!   Kubernetes, docker) restarts the process: what a restart cannot fix is then at least visible as a restart loop.
//! - Work the process does before it can answer correctly (an index rebuild) is **in progress**: `/readyz` answers
//!   503 with its progress (`index rebuilding (120 of 5000)`); `/healthz` is not affected, however long it takes.
//!
//! The bus and the index report through their own `health()`, which [`crate::http::backends_ready`] feeds in here;
//! the services' own stores report through [`Health::failing`] and [`Health::recovered`]. The logs of an incident are
//! the stores' own ([`crate::retry::Trouble`]): this registry only answers the probes.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::service::at_least;

/// How the process judges and ends itself (configuration section `[health]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// How long a store may fail without recovering before `/healthz` fails, in milliseconds (default 300 000: five
    /// minutes, long enough for an operator to free disk space, short enough for a night without one).
    pub unrecoverable_after_ms: u64,
    /// How long a shutdown may take to finish requests and batches before the process exits anyway, with a non-zero
    /// status, in milliseconds (default 30 000).
    pub shutdown_grace_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            unrecoverable_after_ms: 300_000,
            shutdown_grace_ms: 30_000,
        }
    }
}

impl HealthConfig {
    /// Checks the values, naming the key of the first bad one.
    ///
    /// # Errors
    /// A message naming the key (`health.unrecoverable_after_ms`).
    pub fn validate(&self) -> Result<(), String> {
        at_least(
            "health.unrecoverable_after_ms",
            self.unrecoverable_after_ms,
            1000,
        )?;
        at_least("health.shutdown_grace_ms", self.shutdown_grace_ms, 1)
    }

    /// The shutdown grace period.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

/// One failing store.
#[derive(Debug, Clone)]
struct Failing {
    reason: String,
    since: Instant,
}

#[derive(Debug, Default)]
struct Conditions {
    failing: BTreeMap<String, Failing>,
    progress: BTreeMap<String, String>,
}

/// The process's health registry; cheap to clone (one shared state). See the module documentation.
#[derive(Debug, Clone)]
pub struct Health {
    conditions: Arc<Mutex<Conditions>>,
    unrecoverable_after: Duration,
}

impl Default for Health {
    fn default() -> Self {
        Self::new(&HealthConfig::default())
    }
}

impl Health {
    /// Returns an empty registry judging by `config`.
    pub fn new(config: &HealthConfig) -> Self {
        Self {
            conditions: Arc::default(),
            unrecoverable_after: Duration::from_millis(config.unrecoverable_after_ms),
        }
    }

    fn conditions(&self) -> std::sync::MutexGuard<'_, Conditions> {
        self.conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that `store` fails, for `reason`; it keeps the time of its first failure until it recovers.
    pub fn failing(&self, store: &str, reason: impl Into<String>) {
        let reason = reason.into();
        let mut conditions = self.conditions();
        match conditions.failing.get_mut(store) {
            Some(failing) => failing.reason = reason,
            None => {
                let since = Instant::now();
                conditions
                    .failing
                    .insert(store.to_owned(), Failing { reason, since });
            }
        }
    }

    /// Notes that `store` works (again).
    pub fn recovered(&self, store: &str) {
        self.conditions().failing.remove(store);
    }

    /// Notes work in progress that keeps the process from being ready (`index`, `rebuilding (120 of 5000)`).
    pub fn progress(&self, what: &str, message: impl Into<String>) {
        self.conditions()
            .progress
            .insert(what.to_owned(), message.into());
    }

    /// Notes that the work in progress `what` is done.
    pub fn done(&self, what: &str) {
        self.conditions().progress.remove(what);
    }

    /// `/readyz`: `Ok` when no store fails and nothing is in progress, else every reason, `; `-separated.
    ///
    /// # Errors
    /// The reasons the process is not ready.
    pub fn readiness(&self) -> Result<(), String> {
        let conditions = self.conditions();
        let mut reasons: Vec<String> = conditions
            .failing
            .iter()
            .map(|(store, failing)| {
                format!(
                    "{store} failing for {} s: {}",
                    failing.since.elapsed().as_secs(),
                    failing.reason
                )
            })
            .collect();
        reasons.extend(
            conditions
                .progress
                .iter()
                .map(|(what, message)| format!("{what} {message}")),
        );
        match reasons.is_empty() {
            true => Ok(()),
            false => Err(reasons.join("; ")),
        }
    }

    /// `/healthz`: `Ok` unless a store has failed for longer than `unrecoverable_after`.
    ///
    /// # Errors
    /// Names each such store, for how long and why.
    pub fn liveness(&self) -> Result<(), String> {
        let conditions = self.conditions();
        let stuck: Vec<String> = conditions
            .failing
            .iter()
            .filter(|(_, failing)| failing.since.elapsed() >= self.unrecoverable_after)
            .map(|(store, failing)| {
                format!(
                    "{store} failing for {} s without recovery (health.unrecoverable_after_ms = {}): {}",
                    failing.since.elapsed().as_secs(),
                    self.unrecoverable_after.as_millis(),
                    failing.reason
                )
            })
            .collect();
        match stuck.is_empty() {
            true => Ok(()),
            false => Err(stuck.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_store_is_not_ready_at_once_and_unhealthy_only_after_the_limit() {
        let health = Health::new(&HealthConfig {
            unrecoverable_after_ms: 1000,
            ..HealthConfig::default()
        });
        assert!(health.readiness().is_ok() && health.liveness().is_ok());
        health.failing("bus", "No space left on device");
        let reason = health.readiness().unwrap_err();
        assert!(
            reason.contains("bus failing for") && reason.contains("No space left"),
            "{reason}"
        );
        assert!(health.liveness().is_ok());
        // Past the limit (set back the start instead of sleeping).
        health.conditions().failing.get_mut("bus").unwrap().since -= Duration::from_secs(2);
        let reason = health.liveness().unwrap_err();
        assert!(
            reason.contains("bus failing for 2 s without recovery"),
            "{reason}"
        );
        health.recovered("bus");
        assert!(health.readiness().is_ok() && health.liveness().is_ok());
    }

    #[test]
    fn progress_keeps_the_process_unready_but_healthy() {
        let health = Health::default();
        health.progress("index", "rebuilding (3 of 10)");
        assert_eq!(
            health.readiness().unwrap_err(),
            "index rebuilding (3 of 10)"
        );
        assert!(health.liveness().is_ok());
        health.done("index");
        assert!(health.readiness().is_ok());
    }
}
