//! A redb store that heals itself after an I/O error: the services' own stores (the enforcer's reports, the
//! gateway's status, search's revocations) hold a [`HealingDatabase`] instead of a bare `redb::Database`.
//!
//! After a failed commit (a full disk) redb refuses every further transaction with "Previous I/O error occurred"
//! until the file is closed and reopened. [`HealingDatabase::begin_write`] and [`HealingDatabase::begin_read`] see
//! that refusal (or any other I/O error) and then:
//! - report the store as failing in the process's [`Health`] (`/readyz` names it and why; `/healthz` fails after
//!   `health.unrecoverable_after_ms`) and log it once ([`crate::retry::Trouble`]);
//! - close and reopen the file, with backoff ([`crate::retry::Backoff`]: 100 ms doubling to 5 s, with jitter),
//!   answering at once with the cause in between (the caller's own retry, the stage loop, comes back);
//! - once a commit succeeds again, report and log the recovery. An idle store (nothing writes to it) heals too:
//!   the process calls [`Heal::heal`] every few seconds, which reopens it and commits a small probe.
//!
//! Nothing acknowledged is lost: a transaction is acknowledged only once its commit returned `Ok`, and a failed
//! commit leaves the file as it was before it (redb's commits are atomic). The transactions do not borrow the
//! store: one begun before a reopen finishes on the old handle, which the reopen waits for (up to a second).

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use accord_bus::redb_file::{self, OpenError};
use redb::{
    Database, ReadTransaction, ReadableDatabase, StorageError, TransactionError, WriteTransaction,
};

use crate::{
    health::{Heal, Health},
    retry::{Backoff, MAX_DELAY, Trouble},
};

/// A self-healing redb store; see the module documentation.
pub struct HealingDatabase {
    /// The store's name in `/readyz` and the logs (`enforcer store`).
    name: &'static str,
    path: PathBuf,
    cache_bytes: usize,
    health: Option<Health>,
    state: Mutex<State>,
}

impl std::fmt::Debug for HealingDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealingDatabase")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

struct State {
    /// The open file; `None` once an I/O error broke it, until it is reopened.
    db: Option<Arc<Database>>,
    /// While failing (from the first error until a commit succeeds): the cause, when to reopen next, the backoff.
    broken: Option<(String, Instant, Backoff)>,
    trouble: Trouble,
}

/// A write transaction of a [`HealingDatabase`]: a `redb::WriteTransaction` (through `Deref`) whose
/// [`HealingWrite::commit`] tells the store whether writes succeed again.
pub struct HealingWrite<'a> {
    txn: WriteTransaction,
    store: &'a HealingDatabase,
}

impl std::ops::Deref for HealingWrite<'_> {
    type Target = WriteTransaction;

    fn deref(&self) -> &WriteTransaction {
        &self.txn
    }
}

impl std::ops::DerefMut for HealingWrite<'_> {
    fn deref_mut(&mut self) -> &mut WriteTransaction {
        &mut self.txn
    }
}

impl HealingWrite<'_> {
    /// Commits, as `redb::WriteTransaction::commit`: a success after trouble is the store's recovery, an I/O error
    /// breaks it (it is reopened with backoff).
    ///
    /// # Errors
    /// As `redb::WriteTransaction::commit`.
    pub fn commit(self) -> Result<(), redb::CommitError> {
        let result = self.txn.commit();
        match &result {
            Ok(()) => self.store.committed(),
            Err(redb::CommitError::Storage(error)) if is_io(error) => self.store.broke(error),
            Err(_) => {}
        }
        result
    }

    /// Aborts, as `redb::WriteTransaction::abort`.
    ///
    /// # Errors
    /// As `redb::WriteTransaction::abort`.
    pub fn abort(self) -> Result<(), redb::StorageError> {
        self.txn.abort()
    }
}

impl HealingDatabase {
    /// Opens (creating when missing) the redb file at `path` as the store `name`, reporting to `health` if given.
    ///
    /// # Errors
    /// As [`redb_file::open`]: another process holds the file, or it cannot be opened.
    pub fn open(
        name: &'static str,
        path: &Path,
        cache_bytes: usize,
        health: Option<Health>,
    ) -> Result<Arc<Self>, OpenError> {
        let db = redb_file::open(path, cache_bytes)?;
        Ok(Self::with(name, path, cache_bytes, health, db))
    }

    /// Opens the redb file at `path` as [`HealingDatabase::open`] does, for a store whose content its owner
    /// re-derives from the bus: a file damaged beyond repair is moved aside and a new one created
    /// ([`redb_file::open_or_set_aside`]). Returns the store and, when its owner must refill it (a new file in place
    /// of a damaged one, or a refill not finished before), what to refill ([`crate::refill`]).
    ///
    /// # Errors
    /// As [`redb_file::open_or_set_aside`].
    pub fn open_derived(
        name: &'static str,
        path: &Path,
        cache_bytes: usize,
        health: Option<Health>,
    ) -> Result<(Arc<Self>, Option<crate::refill::Pending>), OpenError> {
        let (db, refill) = redb_file::open_or_set_aside(path, cache_bytes)?;
        let pending = refill.map(|id| crate::refill::Pending {
            store: name,
            path: path.to_owned(),
            id,
        });
        Ok((Self::with(name, path, cache_bytes, health, db), pending))
    }

    fn with(
        name: &'static str,
        path: &Path,
        cache_bytes: usize,
        health: Option<Health>,
        db: Database,
    ) -> Arc<Self> {
        let store = Arc::new(Self {
            name,
            path: path.to_owned(),
            cache_bytes,
            health: health.clone(),
            state: Mutex::new(State {
                db: Some(Arc::new(db)),
                broken: None,
                trouble: Trouble::new(format!("{name} {}", path.display())),
            }),
        });
        if let Some(health) = health {
            let weak: std::sync::Weak<Self> = Arc::downgrade(&store);
            health.register(weak);
        }
        store
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Begins a write transaction, reopening the file first when an I/O error broke it (see the module docs).
    ///
    /// # Errors
    /// As `redb::Database::begin_write`, or the cause while the file is broken and not reopened yet.
    pub fn begin_write(&self) -> Result<HealingWrite<'_>, TransactionError> {
        let txn = self.begin(|db| db.begin_write())?;
        Ok(HealingWrite { txn, store: self })
    }

    /// Begins a read transaction, reopening the file first when an I/O error broke it.
    ///
    /// # Errors
    /// As `redb::ReadableDatabase::begin_read`, or the cause while the file is broken and not reopened yet.
    pub fn begin_read(&self) -> Result<ReadTransaction, TransactionError> {
        self.begin(|db| db.begin_read())
    }

    /// Takes the handle under the lock (reopening first when due), then begins outside it: `begin_write` waits for
    /// the write in progress, and that writer may itself need the lock to begin a read.
    fn begin<T>(
        &self,
        begin: impl Fn(&Database) -> Result<T, TransactionError>,
    ) -> Result<T, TransactionError> {
        let db = self.handle()?;
        let result = begin(&db);
        drop(db);
        if let Err(TransactionError::Storage(error)) = &result
            && is_io(error)
        {
            self.broke(error);
        }
        result
    }

    /// Returns the open file for work that needs a `redb::Database` itself (a whole-file verification), reopening it
    /// first when it is broken and the backoff says so. Keep it no longer than that work.
    ///
    /// # Errors
    /// The cause while the file is broken and not reopened yet.
    pub fn database(&self) -> Result<Arc<Database>, TransactionError> {
        self.handle()
    }

    /// Returns the open file, reopening it first when it is broken and the backoff says so.
    fn handle(&self) -> Result<Arc<Database>, TransactionError> {
        let mut state = self.state();
        if let Some(db) = &state.db {
            return Ok(Arc::clone(db));
        }
        let (cause, next_attempt) = match &state.broken {
            Some((cause, next_attempt, _)) => (cause.clone(), *next_attempt),
            None => (String::from("closed"), Instant::now()),
        };
        if Instant::now() < next_attempt {
            return Err(unavailable(format!("{} is failing: {cause}", self.name)));
        }
        match self.reopen() {
            Ok(db) => {
                state.db = Some(Arc::clone(&db));
                Ok(db)
            }
            Err(error) => {
                self.note_failure(&mut state, &error);
                Err(unavailable(format!("{} is failing: {error}", self.name)))
            }
        }
    }

    /// Notes an I/O error: the file is reopened (with backoff) before the next transaction.
    fn broke(&self, error: &(dyn std::error::Error + 'static)) {
        let mut state = self.state();
        state.db = None;
        self.note_failure(&mut state, error);
    }

    /// Logs a failure once per incident, reports it to health and schedules the next reopen.
    fn note_failure(&self, state: &mut State, error: &(dyn std::error::Error + 'static)) {
        state.trouble.failed(error);
        let cause = error.to_string();
        if let Some(health) = &self.health {
            health.failing(self.name, format!("`{}`: {cause}", self.path.display()));
        }
        let (stored, next_attempt, backoff) = state.broken.get_or_insert_with(|| {
            (
                String::new(),
                Instant::now(),
                Backoff::new(Duration::from_millis(100), MAX_DELAY),
            )
        });
        *stored = cause;
        *next_attempt = Instant::now() + backoff.next_delay();
    }

    /// Notes a successful commit: after trouble, the store has recovered.
    fn committed(&self) {
        let mut state = self.state();
        if state.broken.take().is_some() {
            state.trouble.succeeded();
            if let Some(health) = &self.health {
                health.recovered(self.name);
            }
        }
    }

    /// Opens the file again. The broken handle was dropped when the error was noted; a transaction that still
    /// holds it keeps the file open, and the open then fails ("already open") until it is done.
    fn reopen(&self) -> Result<Arc<Database>, std::io::Error> {
        let db = redb_file::open(&self.path, self.cache_bytes).map_err(|error| match error {
            // This process held the file a moment ago: a transaction begun before the error still has it.
            OpenError::HeldByAnotherProcess { .. } => std::io::Error::other(
                "the broken handle is still held by a transaction in progress; reopening after the backoff",
            ),
            error => std::io::Error::other(error),
        })?;
        tracing::info!(store = self.name, path = %self.path.display(), "reopened the store");
        Ok(Arc::new(db))
    }
}

impl Heal for HealingDatabase {
    /// While broken and idle: reopens the file when the backoff says so and commits a small probe (256 KiB,
    /// replaced each time), whose success is the recovery.
    fn heal(&self) {
        if self.state().broken.is_none() {
            return;
        }
        let Ok(txn) = self.begin_write() else {
            return;
        };
        let probed = match txn.open_table(PROBE) {
            Ok(mut table) => table
                .insert("probe", vec![0_u8; PROBE_BYTES].as_slice())
                .map(drop),
            Err(redb::TableError::Storage(error)) => Err(error),
            Err(_) => return,
        };
        match probed {
            Ok(()) => {
                let _ = txn.commit();
            }
            Err(error) if is_io(&error) => self.broke(&error),
            Err(_) => {}
        }
    }
}

/// The table of the idle store's probe write.
const PROBE: redb::TableDefinition<'static, &str, &[u8]> =
    redb::TableDefinition::new("health_probe");

/// The size of the probe's value: a write of some substance, not a page that happens to fit.
const PROBE_BYTES: usize = 256 * 1024;

/// Whether a storage error means the file must be reopened: an I/O error, or a damaged page met by a read (the
/// reopen checks the file's integrity: a file damaged beyond repair stays failing, named in `/readyz`).
fn is_io(error: &StorageError) -> bool {
    matches!(
        error,
        StorageError::Io(_) | StorageError::PreviousIo | StorageError::Corrupted(_)
    )
}

/// A transaction error carrying `message` as an I/O error.
fn unavailable(message: String) -> TransactionError {
    TransactionError::Storage(StorageError::Io(std::io::Error::other(message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_reads_and_writes_like_the_database_and_names_another_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let health = Health::default();
        let store =
            HealingDatabase::open("test store", &path, 1 << 20, Some(health.clone())).unwrap();
        const TABLE: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("t");
        let txn = store.begin_write().unwrap();
        txn.open_table(TABLE).unwrap().insert("a", 1).unwrap();
        txn.commit().unwrap();
        let txn = store.begin_read().unwrap();
        assert_eq!(
            txn.open_table(TABLE)
                .unwrap()
                .get("a")
                .unwrap()
                .unwrap()
                .value(),
            1
        );
        assert!(health.readiness().is_ok());
        let error = HealingDatabase::open("test store", &path, 1 << 20, None).unwrap_err();
        assert!(matches!(error, OpenError::HeldByAnotherProcess { .. }));
    }
}
