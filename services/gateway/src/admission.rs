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
    collections::{BTreeSet, HashMap},
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
    /// Per partner: its backlog.
    partners: HashMap<String, Backlog>,
    /// Per report in a backlog: its partner, bytes and when it was admitted.
    reports: HashMap<String, (String, usize, Instant)>,
}

/// One partner's backlog.
#[derive(Debug, Default)]
struct Backlog {
    /// Its reports.
    reports: usize,
    /// Their bytes.
    bytes: usize,
    /// Its reports by when they were admitted, oldest first: what [`State::expire`] looks at.
    by_age: BTreeSet<(Instant, String)>,
}

impl State {
    fn remove(&mut self, report_id: &str) {
        let Some((partner, bytes, at)) = self.reports.remove(report_id) else {
            return;
        };
        if let Some(backlog) = self.partners.get_mut(&partner) {
            backlog.reports -= 1;
            backlog.bytes -= bytes;
            backlog.by_age.remove(&(at, report_id.to_owned()));
            if backlog.reports == 0 {
                self.partners.remove(&partner);
            }
        }
    }

    /// Drops the reports of `partner` admitted more than [`EXPIRY`] ago: its oldest first, as many as expired.
    fn expire(&mut self, partner: &str, now: Instant) {
        while let Some((at, id)) = self
            .partners
            .get(partner)
            .and_then(|backlog| backlog.by_age.first())
            .cloned()
            && now.duration_since(at) > EXPIRY
        {
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
            state.partners.get(partner).is_some_and(|backlog| {
                backlog.reports >= self.max_reports || backlog.bytes + bytes > self.max_bytes
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
        let backlog = state.partners.entry(partner.to_owned()).or_default();
        let backlogged = backlog.reports > 0;
        backlog.reports += 1;
        backlog.bytes += bytes;
        backlog.by_age.insert((now, report_id.to_owned()));
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

    #[test]
    fn reports_never_settled_expire_oldest_first_and_only_the_partners_own() {
        let admission = Admission::new(2, 100, 1);
        admission.reserve("a", "r1", 10).unwrap().keep();
        std::thread::sleep(Duration::from_millis(5));
        admission.reserve("a", "r2", 10).unwrap().keep();
        admission.reserve("b", "s1", 10).unwrap().keep();
        let r2_at = {
            let state = admission.state.lock().unwrap();
            state.reports["r2"].2
        };
        let mut state = admission.state.lock().unwrap();
        // Just past r1's expiry, not r2's.
        state.expire("a", r2_at + EXPIRY - Duration::from_millis(1));
        assert!(!state.reports.contains_key("r1"), "r1 expired");
        assert!(state.reports.contains_key("r2"), "r2 has not");
        assert_eq!(state.partners["a"].reports, 1);
        assert_eq!(state.partners["a"].bytes, 10);
        state.expire("a", r2_at + EXPIRY + Duration::from_secs(1));
        assert!(
            !state.partners.contains_key("a"),
            "an empty backlog is forgotten"
        );
        assert!(
            state.reports.contains_key("s1"),
            "another partner's reports stay"
        );
    }
}
