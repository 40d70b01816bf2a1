//! Opening a redb file of the data directory: the one place that turns redb's lock refusal and a damaged file into
//! a message an operator can act on (decision 0069).
//!
//! A redb file is held by one process at a time (redb takes an exclusive lock on it). A second Accord process
//! started on the same data directory (and running a service that owns the same file) is refused with
//! [`OpenError::HeldByAnotherProcess`], whose message names the data directory and the file and says that another
//! Accord process holds it; every other failure keeps redb's error as its cause.
//!
//! **A damaged file is found at open, not by the request that meets it.** redb checks its page checksums only
//! when it repairs a file (after a crash), not on every read: a byte flipped in a cleanly closed file would be read
//! back as data. So [`open`] runs redb's `check_integrity` on every existing file (every page of the live tree read
//! and checked, a few seconds per GiB) before handing it out:
//! - intact: opened;
//! - damaged, and redb repaired it (back to its last intact commit): opened, logged as an error naming the file
//!   (the last writes to it may be gone: `accord check`); a store derived from the bus ([`open_or_set_aside`]) is
//!   then refilled, which brings those writes back;
//! - damaged beyond repair (or a header redb cannot read): [`OpenError::Damaged`], which names the file and the
//!   runbook section. A store whose content is derived from the bus ([`open_or_set_aside`]) instead moves the file
//!   aside (`<file>.damaged-<unix seconds>`, kept for the operator) and starts a new one, which its owner refills
//!   (a `<file>.refill` marker asks for the refill until [`refill_done`]).

use std::path::{Path, PathBuf};

use redb::Database;

/// Why a redb file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (another `accord` on the same data directory) has the file open.
    #[error(
        "the data directory `{dir}` is in use: another Accord process holds `{file}` (stop that process, or give \
         this one another --data-dir)"
    )]
    HeldByAnotherProcess {
        /// The directory holding the file.
        dir: PathBuf,
        /// The file.
        file: PathBuf,
    },
    /// The file failed redb's integrity check and could not be repaired.
    #[error(
        "`{file}` is damaged: it failed its integrity check (redb's page checksums) and cannot be repaired, so \
         Accord will not start on it. Keep the file, and see \"A damaged store file\" in docs/runbook.md (restore it \
         from a backup; `accord check` and `accord audit verify` show what it held)"
    )]
    Damaged {
        /// The file.
        file: PathBuf,
        /// What redb said.
        #[source]
        source: redb::DatabaseError,
    },
    /// Any other failure to open or create the file.
    #[error("failed to open `{file}`")]
    Failed {
        /// The file.
        file: PathBuf,
        /// What redb said.
        #[source]
        source: redb::DatabaseError,
    },
}

/// Opens (creating when missing) the redb file at `path` with a page cache of `cache_bytes`, after checking an
/// existing file's integrity (see the module documentation).
///
/// Blocks while the file opens and is checked (and, after a crash or an I/O error, while redb repairs it).
///
/// # Errors
/// [`OpenError::HeldByAnotherProcess`] when another process holds the file, [`OpenError::Damaged`] when it fails
/// its integrity check beyond repair, else [`OpenError::Failed`].
pub fn open(path: &Path, cache_bytes: usize) -> Result<Database, OpenError> {
    open_checked(path, cache_bytes).map(|(db, _)| db)
}

/// Opens as [`open`] does; returns the file and whether redb repaired it (damaged, back to its last intact commit).
fn open_checked(path: &Path, cache_bytes: usize) -> Result<(Database, bool), OpenError> {
    let existed = std::fs::metadata(path).is_ok_and(|meta| meta.len() > 0);
    let mut db = open_unchecked(path, cache_bytes)?;
    if !existed {
        return Ok((db, false));
    }
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.check_integrity()))
        .unwrap_or_else(|panic| Err(panicked(&panic)));
    match checked {
        Ok(true) => Ok((db, false)),
        Ok(false) => {
            tracing::error!(
                file = %path.display(),
                "the store file was damaged and redb repaired it, back to its last intact commit: the last writes \
                 to it may be lost (run `accord check`; see \"A damaged store file\" in docs/runbook.md)"
            );
            Ok((db, true))
        }
        Err(source) if is_damage(&source) => Err(OpenError::Damaged {
            file: path.to_owned(),
            source,
        }),
        // Not the file's fault (a full disk, a failing device): the caller retries.
        Err(source) => Err(OpenError::Failed {
            file: path.to_owned(),
            source,
        }),
    }
}

/// Opens `path` as [`open`] does; when it is damaged beyond repair, moves it aside to
/// `<file>.damaged-<unix seconds>` (kept for the operator) and creates a new, empty file in its place. For a store
/// whose content its owner re-derives from the bus: returns the file and, when the owner must refill it (a new file,
/// or one redb repaired back to its last intact commit, whose later writes may be gone), the refill's id.
///
/// The need to refill outlives the process: a marker `<file>.refill` holding the id is written (and synced) before
/// the damaged file is moved, and stays until the owner calls [`refill_done`], so that a refill interrupted by a
/// crash or a shutdown is resumed at the next start (with the same id, hence the same consumer group).
///
/// # Errors
/// As [`open`], except [`OpenError::Damaged`]; [`OpenError::Failed`] when the file cannot be moved aside or the
/// marker cannot be written.
pub fn open_or_set_aside(
    path: &Path,
    cache_bytes: usize,
) -> Result<(Database, Option<String>), OpenError> {
    let marker = refill_marker(path);
    let io_failed = |error: std::io::Error| OpenError::Failed {
        file: path.to_owned(),
        source: redb::DatabaseError::Storage(redb::StorageError::Io(error)),
    };
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let id = pending_refill(&marker).unwrap_or_else(|| seconds.to_string());
    let cause = match open_checked(path, cache_bytes) {
        Ok((db, false)) => return Ok((db, pending_refill(&marker))),
        // Repaired back to its last intact commit: what came after is refilled from the bus (idempotently).
        Ok((db, true)) => {
            write_synced(&marker, id.as_bytes()).map_err(io_failed)?;
            tracing::warn!(file = %path.display(), "the repaired store is refilled from the bus");
            return Ok((db, Some(id)));
        }
        Err(OpenError::Damaged { source, .. }) => source,
        Err(error) => return Err(error),
    };
    write_synced(&marker, id.as_bytes()).map_err(io_failed)?;
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".damaged-{seconds}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(path, &aside).map_err(io_failed)?;
    tracing::error!(
        file = %path.display(),
        aside = %aside.display(),
        cause = %cause,
        "the store file is damaged beyond repair: moved aside, and a new one is rebuilt from the bus"
    );
    Ok((open(path, cache_bytes)?, Some(id)))
}

/// Notes that the store at `path` has been refilled: removes its `<file>.refill` marker ([`open_or_set_aside`]).
///
/// # Errors
/// When the marker exists and cannot be removed.
pub fn refill_done(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(refill_marker(path)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

fn refill_marker(path: &Path) -> PathBuf {
    let mut marker = path.as_os_str().to_owned();
    marker.push(".refill");
    PathBuf::from(marker)
}

/// The id in a refill marker, if there is one (an empty or unreadable marker still asks for a refill).
fn pending_refill(marker: &Path) -> Option<String> {
    match std::fs::read_to_string(marker) {
        Ok(id) if !id.trim().is_empty() => Some(id.trim().to_owned()),
        Ok(_) => Some("0".to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => Some("0".to_owned()),
    }
}

/// Writes `bytes` to `path` and syncs the file and its directory, so that the write survives a crash.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Opens (creating when missing) the redb file at `path` without checking its integrity: for a verification that
/// runs the check itself and reports what it found.
///
/// # Errors
/// As [`open`], except [`OpenError::Damaged`] only for a header redb cannot read.
pub fn open_unchecked(path: &Path, cache_bytes: usize) -> Result<Database, OpenError> {
    // redb 4.6 panics (`unreachable!`) on some damaged pages it reads while opening (its allocator state): that is
    // a damaged file too, not a crash of Accord. The file handle is dropped while unwinding.
    std::panic::catch_unwind(|| Database::builder().set_cache_size(cache_bytes).create(path))
        .unwrap_or_else(|panic| Err(panicked(&panic)))
        .map_err(|source| match source {
            redb::DatabaseError::DatabaseAlreadyOpen => OpenError::HeldByAnotherProcess {
                dir: data_dir_of(path),
                file: path.to_owned(),
            },
            // A header redb cannot read: `Corrupted`, or "not a redb database" (an I/O error of kind InvalidData).
            redb::DatabaseError::Storage(
                redb::StorageError::Corrupted(_) | redb::StorageError::Io(_),
            ) if is_damage(&source) => OpenError::Damaged {
                file: path.to_owned(),
                source,
            },
            source => OpenError::Failed {
                file: path.to_owned(),
                source,
            },
        })
}

/// A panic of redb's while it read a file, as the `Corrupted` error it stands for.
fn panicked(panic: &(dyn std::any::Any + Send)) -> redb::DatabaseError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    redb::DatabaseError::Storage(redb::StorageError::Corrupted(format!(
        "redb failed while reading the file: {message}"
    )))
}

/// Whether redb's refusal to open a file says that the file is damaged.
fn is_damage(error: &redb::DatabaseError) -> bool {
    match error {
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(_))
        | redb::DatabaseError::RepairAborted => true,
        // "Not a redb database", or a page the file's own tables point to past its end (a damaged pointer, a
        // truncated file): the file, not the device. A full disk or a failing device is another kind.
        redb::DatabaseError::Storage(redb::StorageError::Io(error)) => matches!(
            error.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

/// Returns the data directory a store file lives in: the parent of its own directory (`DATA/bus/bus.redb`,
/// `DATA/enforcer/reports.redb`), or its directory when that has no parent.
fn data_dir_of(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(path);
    dir.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(dir)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use redb::ReadableDatabase as _;

    use super::*;

    /// Writes a file with some data, closed cleanly, then flips every byte past its header region.
    fn damaged_file(path: &Path) {
        filled_file(path);
        let mut bytes = std::fs::read(path).unwrap();
        for byte in &mut bytes[4096..] {
            *byte ^= 0xff;
        }
        std::fs::write(path, bytes).unwrap();
    }

    fn filled_file(path: &Path) {
        const TABLE: redb::TableDefinition<'_, u64, &[u8]> = redb::TableDefinition::new("t");
        {
            let db = open(path, 1 << 20).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut table = txn.open_table(TABLE).unwrap();
                for key in 0..500_u64 {
                    table.insert(key, [7_u8; 100].as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        assert!(open(path, 1 << 20).is_ok(), "an intact file opens");
    }

    #[test]
    fn a_damaged_file_is_refused_naming_it_and_the_runbook() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        damaged_file(&path);
        let error = open(&path, 1 << 20).unwrap_err();
        assert!(matches!(error, OpenError::Damaged { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains("store.redb") && message.contains("docs/runbook.md"),
            "{message}"
        );
    }

    #[test]
    fn a_truncated_file_is_damaged_not_a_device_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        filled_file(&path);
        let bytes = std::fs::read(&path).unwrap();
        for keep in [bytes.len() / 2, 4096 + 100] {
            std::fs::write(&path, &bytes[..keep]).unwrap();
            let error = open(&path, 1 << 20).unwrap_err();
            assert!(
                matches!(error, OpenError::Damaged { .. }),
                "{keep}: {error:?}"
            );
        }
    }

    #[test]
    fn a_damaged_derived_file_is_set_aside_and_replaced_by_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        damaged_file(&path);
        let (db, refill) = open_or_set_aside(&path, 1 << 20).unwrap();
        let id = refill.expect("a refill is asked for");
        assert_eq!(db.begin_read().unwrap().list_tables().unwrap().count(), 0);
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("store.redb.damaged-")
            })
            .collect();
        assert_eq!(aside.len(), 1, "the damaged file is kept for the operator");
        drop(db);
        let (db, refill) = open_or_set_aside(&path, 1 << 20).unwrap();
        assert_eq!(
            refill.as_deref(),
            Some(id.as_str()),
            "a refill not done yet is asked for again, with the same id"
        );
        drop(db);
        refill_done(&path).unwrap();
        let (_, refill) = open_or_set_aside(&path, 1 << 20).unwrap();
        assert_eq!(refill, None, "the new file is intact and refilled");
    }

    #[test]
    fn a_second_open_names_the_data_directory_and_says_who_holds_it() {
        let data = tempfile::tempdir().unwrap();
        let path = data.path().join("bus").join("bus.redb");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _first = open(&path, 1 << 20).unwrap();
        let error = open(&path, 1 << 20).unwrap_err();
        assert!(matches!(error, OpenError::HeldByAnotherProcess { .. }));
        let message = error.to_string();
        assert!(
            message.contains(&data.path().display().to_string()),
            "{message}"
        );
        assert!(
            message.contains("another Accord process holds"),
            "{message}"
        );
        assert!(message.contains("bus.redb"), "{message}");
    }
}
