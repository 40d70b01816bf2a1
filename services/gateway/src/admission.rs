//! Per-partner admission: a partner's backlog — reports it sent that the normalizer has not yet normalized or
//! rejected — is bounded, in reports (`gateway.max_backlog_reports`) and in bytes (`gateway.max_backlog_bytes`). A
//! submission that would go over is answered 429 with `Retry-After` before any work is done for it, and the partner
//! can send again as soon as its backlog drains.
//!
//! With the normalizer's fair batches (`accord_runtime::stage::Fairness`), this is what keeps one partner from
//! delaying the others: its backlog is bounded below the normalizer's read-ahead window, so another partner's report
//! is read as soon as it arrives and goes into the next batch (decision 0022).
//!
//! A report leaves the backlog when the gateway's status follower sees it evaluated by the enforcer or rejected
//! ([`Admission::settled`]): the backlog is bounded through the normalizer and the enforcer alike.
//!
//! A partner with reports already in its backlog has its next submissions validated in the background
//! ([`accord_runtime::cpu`]): at a lower scheduling priority than those of partners that wait for nothing.
//!
//! Each partner also validates at most `gateway.max_concurrent_validations` submissions at once
//! ([`Admission::validation`]; the others wait their turn), so that its large submissions cannot take every core
//! from the other partners' small ones. The count is this process's (each gateway process admits against its own), kept in
//! memory: after a restart the reports in flight before it are not counted, which errs on the side of admitting. A
//! report still unsettled after [`EXPIRY`] is dropped from the count, so that a record lost downstream cannot lock a
//! partner out.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long an unsettled report counts against its partner's backlog.
pub(crate) const EXPIRY: Duration = Duration::from_secs(600);

/// How long a partner over its backlog is told to wait, in seconds.
const RETRY_AFTER_SECONDS: u64 = 1;

/// The backlogs of every partner that has one, and the validations each may run at once.
#[derive(Debug)]
pub(crate) struct Admission {
    max_reports: usize,
    max_bytes: usize,
    state: Mutex<State>,
    max_validations: usize,
    validations: Mutex<HashMap<String, Arc<Semaphore>>>,
}

#[derive(Debug, Default)]
struct State {
    /// Per partner: reports and bytes in its backlog.
    partners: HashMap<String, (usize, usize)>,
    /// Per report in a backlog: its partner, bytes and when it was admitted.
    reports: HashMap<String, (String, usize, Instant)>,
}

impl State {
    fn remove(&mut self, report_id: &str) {
        let Some((partner, bytes, _)) = self.reports.remove(report_id) else {
            return;
        };
        if let Some((reports, total)) = self.partners.get_mut(&partner) {
            *reports -= 1;
            *total -= bytes;
            if *reports == 0 {
                self.partners.remove(&partner);
            }
        }
    }

    /// Drops the reports of `partner` admitted more than [`EXPIRY`] ago.
    fn expire(&mut self, partner: &str, now: Instant) {
        let expired: Vec<String> = self
            .reports
            .iter()
            .filter(|(_, (owner, _, at))| owner == partner && now.duration_since(*at) > EXPIRY)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            tracing::warn!(
                report_id = id,
                partner,
                "a report never settled; no longer counted in its partner's backlog"
            );
            self.remove(&id);
        }
    }
}

impl Admission {
    pub(crate) fn new(max_reports: usize, max_bytes: usize, max_validations: usize) -> Arc<Self> {
        Arc::new(Self {
            max_reports,
            max_bytes,
            state: Mutex::default(),
            max_validations: max_validations.max(1),
            validations: Mutex::default(),
        })
    }

    /// Waits for one of `partner`'s validation slots (`gateway.max_concurrent_validations`): parsing, validating
    /// and normalizing a submission on trial is CPU work, and a partner sending many large submissions at once must
    /// not take every core from the others. Held until the submission is judged; the request timeout bounds the wait.
    pub(crate) async fn validation(&self, partner: &str) -> OwnedSemaphorePermit {
        let semaphore = {
            let mut validations = self
                .validations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                validations
                    .entry(partner.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.max_validations))),
            )
        };
        match semaphore.acquire_owned().await {
            Ok(permit) => permit,
            // The semaphore is never closed.
            Err(_) => unreachable!("validation semaphores are never closed"),
        }
    }

    /// Adds a report of `bytes` to `partner`'s backlog, or returns the seconds to wait when that would go over a
    /// bound. A backlog that is empty always takes one report, however large (the report's own limits apply).
    ///
    /// # Errors
    /// The `Retry-After` seconds.
    pub(crate) fn reserve(
        self: &Arc<Self>,
        partner: &str,
        report_id: &str,
        bytes: usize,
    ) -> Result<Reservation, u64> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let over = |state: &State| {
            state.partners.get(partner).is_some_and(|(reports, total)| {
                *reports >= self.max_reports || *total + bytes > self.max_bytes
            })
        };
        if over(&state) {
            state.expire(partner, now);
            if over(&state) {
                return Err(RETRY_AFTER_SECONDS);
            }
        }
        // A retried submission (same report id) replaces its earlier count.
        state.remove(report_id);
        let entry = state.partners.entry(partner.to_owned()).or_default();
        let backlogged = entry.0 > 0;
        entry.0 += 1;
        entry.1 += bytes;
        state
            .reports
            .insert(report_id.to_owned(), (partner.to_owned(), bytes, now));
        Ok(Reservation {
            admission: Arc::clone(self),
            report_id: Some(report_id.to_owned()),
            backlogged,
        })
    }

    /// Takes a report out of its partner's backlog: the normalizer normalized or rejected it.
    pub(crate) fn settled(&self, report_id: &str) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(report_id);
    }
}

/// A report counted in its partner's backlog: released when dropped, unless [`Reservation::keep`] (the bus has the
/// report; the status follower settles it).
#[derive(Debug)]
pub(crate) struct Reservation {
    admission: Arc<Admission>,
    report_id: Option<String>,
    backlogged: bool,
}

impl Reservation {
    /// Whether the partner already had reports in its backlog when this one was added: its validation then runs in
    /// the background ([`accord_runtime::cpu`]), behind the partners who wait for nothing of their own.
    pub(crate) fn backlogged(&self) -> bool {
        self.backlogged
    }

    /// Keeps the report counted until it is settled.
    pub(crate) fn keep(mut self) {
        self.report_id = None;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(report_id) = self.report_id.take() {
            self.admission.settled(&report_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_is_bounded_in_reports_and_bytes_and_drains_when_settled() {
        let admission = Admission::new(2, 100, 1);
        let first = admission.reserve("a", "r1", 10).unwrap();
        assert!(!first.backlogged(), "nothing before it");
        first.keep();
        let second = admission.reserve("a", "r2", 10).unwrap();
        assert!(second.backlogged(), "r1 is still in the backlog");
        second.keep();
        assert_eq!(admission.reserve("a", "r3", 10).unwrap_err(), 1);
        // Another partner is not affected.
        admission.reserve("b", "s1", 90).unwrap().keep();
        assert!(admission.reserve("b", "s2", 20).is_err(), "over the bytes");
        // A settled report frees its place.
        admission.settled("r1");
        admission.reserve("a", "r3", 10).unwrap().keep();
        // A reservation dropped before the bus took the report frees its place too.
        admission.settled("r2");
        drop(admission.reserve("a", "r4", 10).unwrap());
        admission.reserve("a", "r5", 10).unwrap().keep();
        assert!(admission.reserve("a", "r6", 10).is_err());
        // An empty backlog takes one report of any size.
        admission.reserve("c", "t1", 1_000).unwrap().keep();
    }
}
