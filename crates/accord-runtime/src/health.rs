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
//! A store that fails again within a minute of recovering continues its incident (its failing time keeps counting
//! from the first failure): a disk with a little room may let a probe through and refuse the next batch, and such
//! flapping must not keep `/healthz` green forever.
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

/// How long after a recovery a new failure still counts as the same incident.
const REFAIL_WINDOW: Duration = Duration::from_secs(60);

/// One failing (or lately recovered) store.
#[derive(Debug, Clone)]
struct Failing {
    reason: String,
    since: Instant,
    /// When it last recovered; `None` while it fails.
    recovered_at: Option<Instant>,
}

impl Failing {
    fn fails(&self) -> bool {
        self.recovered_at.is_none()
    }
}

#[derive(Default)]
struct Conditions {
    failing: BTreeMap<String, Failing>,
    progress: BTreeMap<String, String>,
    /// Stores that can heal themselves while idle ([`Heal`]), held weakly: a closed store drops out.
    healers: Vec<std::sync::Weak<dyn Heal>>,
}

impl std::fmt::Debug for Conditions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conditions")
            .field("failing", &self.failing)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

/// A store that can try to heal itself when nothing else touches it (an idle store after a full disk).
pub trait Heal: Send + Sync {
    /// Tries to heal, if broken and its backoff says so; blocking.
    fn heal(&self);
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
        let now = Instant::now();
        let failing = conditions
            .failing
            .entry(store.to_owned())
            .or_insert_with(|| Failing {
                reason: String::new(),
                since: now,
                recovered_at: None,
            });
        if failing
            .recovered_at
            .is_some_and(|recovered| now.duration_since(recovered) > REFAIL_WINDOW)
        {
            failing.since = now;
        }
        failing.reason = reason;
        failing.recovered_at = None;
    }

    /// Notes that `store` works (again).
    pub fn recovered(&self, store: &str) {
        let mut conditions = self.conditions();
        let now = Instant::now();
        conditions.failing.retain(|_, failing| {
            failing
                .recovered_at
                .is_none_or(|recovered| now.duration_since(recovered) <= REFAIL_WINDOW)
        });
        if let Some(failing) = conditions.failing.get_mut(store) {
            failing.recovered_at.get_or_insert(now);
        }
    }

    /// Registers a store that heals itself when [`Health::heal`] is called (every few seconds by the process).
    pub fn register(&self, healer: std::sync::Weak<dyn Heal>) {
        self.conditions().healers.push(healer);
    }

    /// Gives every registered store that is still open the chance to heal (blocking: call it off the runtime).
    pub fn heal(&self) {
        let healers: Vec<Arc<dyn Heal>> = {
            let mut conditions = self.conditions();
            conditions
                .healers
                .retain(|healer| healer.strong_count() > 0);
            conditions
                .healers
                .iter()
                .filter_map(std::sync::Weak::upgrade)
                .collect()
        };
        for healer in healers {
            healer.heal();
        }
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
            .filter(|(_, failing)| failing.fails())
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
            .filter(|(_, failing)| failing.fails() && failing.since.elapsed() >= self.unrecoverable_after)
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
        // Failing again right after a recovery continues the incident: still past the limit.
        health.failing("bus", "No space left on device");
        assert!(health.liveness().is_err());
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
