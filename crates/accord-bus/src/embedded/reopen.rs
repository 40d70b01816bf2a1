//! Healing the bus log after an I/O error (a full disk, a failing device), without a restart.
//!
//! After a failed write transaction redb refuses every further one ("Previous I/O error occurred. Please close and
//! re-open the database"). The writer then:
//! 1. answers every command at once with the cause (nothing of a failed batch was acknowledged, so nothing
//!    acknowledged is lost) and reports the cause through [`crate::Bus::health`] (`/readyz` names the file and why);
//! 2. with backoff ([`crate::retry::Backoff`]: 100 ms doubling to 5 s, with jitter), closes the file (waiting up to
//!    a second for reads in progress to let go of it), reopens it (redb repairs it if needed), reloads the log ends
//!    from it (a commit answered with an error may still have reached the disk, and the file is the truth), and
//!    writes a small probe transaction;
//! 3. once a batch or the probe (256 KiB, replaced each time) commits, it is healthy again: one INFO line,
//!    `/readyz` ready again. A failure within a minute of that continues from the backoff it had reached, so a
//!    disk with just a little room does not make the writer flap at the initial delay.
//!
//! Subscriptions read through the shared handle, so they pick up the reopened file by themselves (their reads fail
//! while it is closed, and the stage loop retries them).

use std::{
    sync::{Arc, PoisonError, Weak},
    time::{Duration, Instant},
};

use redb::{Database, Durability, TableDefinition};
use tokio::sync::{mpsc::error::TryRecvError, watch};
use tracing::info;

use super::writer::{Command, TopicState, Writer, load_topics};
use crate::retry::Backoff;

/// A small table written by the probe transaction of an idle, reopened log.
const PROBE: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("health_probe");

/// The size of the probe's value: a write of some substance, not a page that happens to fit.
const PROBE_BYTES: usize = 256 * 1024;

/// How long after a recovery a new failure continues the old backoff.
const RELAPSE_WINDOW: Duration = Duration::from_secs(60);

/// How often a broken, idle writer looks for commands and for its next reopen attempt.
const IDLE_POLL: Duration = Duration::from_millis(20);

/// A shared error: every waiter of a failed batch gets it as its cause.
pub(super) type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// The writer's state after a failed write, until one succeeds.
pub(super) struct Broken {
    cause: Cause,
    next_attempt: Instant,
    backoff: Backoff,
}

impl Writer {
    /// Notes a failed write or reopen: logs it once per incident, reports it to `health`, schedules the next reopen.
    pub(super) fn broke(&mut self, error: &Cause) {
        self.trouble.failed(error.as_ref());
        self.shared
            .set_trouble(Some(format!("writes fail: {}", chain(error.as_ref()))));
        let relapse = self
            .relapse
            .take()
            .filter(|(recovered, _)| recovered.elapsed() < RELAPSE_WINDOW);
        let broken = self.broken.get_or_insert_with(|| Broken {
            cause: error.clone(),
            next_attempt: Instant::now(),
            backoff: relapse.map_or_else(
                || Backoff::new(Duration::from_millis(100), crate::retry::MAX_DELAY),
                |(_, backoff)| backoff,
            ),
        });
        broken.cause = error.clone();
        broken.next_attempt = Instant::now() + broken.backoff.next_delay();
    }

    /// Notes a successful write: after trouble, logs the recovery once and clears what `health` reports.
    pub(super) fn recovered(&mut self) {
        if let Some(broken) = self.broken.take() {
            self.relapse = Some((Instant::now(), broken.backoff));
            self.trouble.succeeded();
            self.shared.set_trouble(None);
        }
    }

    /// While broken: reopens the file when the backoff says so. Returns the cause while writes cannot be tried yet
    /// (or the reopen failed), `None` when the file is open and a write may be tried.
    pub(super) fn reopen_if_due(&mut self) -> Option<Cause> {
        let broken = self.broken.as_ref()?;
        if Instant::now() < broken.next_attempt {
            return Some(broken.cause.clone());
        }
        match self.reopen() {
            Ok(()) => None,
            Err(error) => {
                self.broke(&error);
                Some(error)
            }
        }
    }

    /// Waits for the next command while broken, reopening the file and probing it with backoff in between, so that
    /// an idle log heals too. Returns `None` once the channel is closed and empty.
    pub(super) fn wait_while_broken(&mut self) -> Option<Command> {
        while self.broken.is_some() {
            match self.commands.try_recv() {
                Ok(command) => return Some(command),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            let due = self
                .broken
                .as_ref()
                .is_some_and(|broken| Instant::now() >= broken.next_attempt);
            if due && self.reopen_if_due().is_none() {
                match self.probe() {
                    Ok(()) => self.recovered(),
                    Err(error) => self.broke(&(Arc::new(error) as Cause)),
                }
            }
            std::thread::sleep(IDLE_POLL);
        }
        self.commands.blocking_recv()
    }

    /// Closes the file and opens it again, taking the log ends it holds.
    fn reopen(&mut self) -> Result<(), Cause> {
        let Some(path) = self.path.clone() else {
            return Err(Arc::new(std::io::Error::other(
                "an in-memory bus log cannot be reopened",
            )));
        };
        *self
            .shared
            .db
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Weak::new();
        if let Some(db) = self.db.take() {
            close(db);
        }
        let db = crate::redb_file::open(&path, self.cache_bytes).map_err(|error| match error {
            // This process held the file a moment ago: a read begun before the error still has it.
            crate::redb_file::OpenError::HeldByAnotherProcess { .. } => Arc::new(std::io::Error::other(
                "the broken handle is still held by a read in progress; reopening after the backoff",
            )) as Cause,
            error => Arc::new(error) as Cause,
        })?;
        let loaded = load_topics(&db).map_err(|error| Arc::new(error) as Cause)?;
        let db = Arc::new(db);
        *self
            .shared
            .db
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(&db);
        self.db = Some(db);
        self.reload_ends(loaded);
        info!(path = %path.display(), "reopened the bus log");
        Ok(())
    }

    /// Takes the log ends stored in a reopened file: a commit whose outcome was an error may still have reached
    /// the disk, so the file, not memory, says where the next append goes.
    pub(super) fn reload_ends(&mut self, loaded: Vec<(String, u64)>) {
        for (name, next) in loaded {
            match self.topics.get_mut(&name) {
                Some(state) => {
                    if state.next != next {
                        state.next = next;
                        state.end_tx.send_replace(next);
                    }
                }
                None => {
                    let (end_tx, end_rx) = watch::channel(next);
                    self.shared
                        .ends
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(name.clone(), end_rx);
                    self.topics.insert(name, TopicState { next, end_tx });
                }
            }
        }
    }

    /// Writes one small durable transaction: whether writes succeed again.
    fn probe(&self) -> Result<(), redb::Error> {
        let Some(db) = &self.db else {
            return Err(redb::Error::DatabaseAlreadyOpen);
        };
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(PROBE)?;
            table.insert("probe", vec![0_u8; PROBE_BYTES].as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }
}

/// Drops the writer's handle once no read holds another (waiting up to a second), which closes the file. A read
/// that still holds it then makes the reopen fail ("already open"), and it is tried again after the next backoff.
fn close(mut db: Arc<Database>) {
    for _ in 0..100 {
        match Arc::try_unwrap(db) {
            Ok(db) => {
                drop(db);
                return;
            }
            Err(shared) => {
                db = shared;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// An error and its causes, `: `-separated.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
