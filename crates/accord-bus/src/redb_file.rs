//! Opening a redb file of the data directory: the one place that turns redb's lock refusal into a message an
//! operator can act on.
//!
//! A redb file is held by one process at a time (redb takes an exclusive lock on it). A second Accord process
//! started on the same data directory (and running a service that owns the same file) is refused with
//! [`OpenError::HeldByAnotherProcess`], whose message names the data directory and the file and says that another
//! Accord process holds it; every other failure keeps redb's error as its cause.

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

/// Opens (creating when missing) the redb file at `path` with a page cache of `cache_bytes`.
///
/// Blocks while the file opens (and, after a crash or an I/O error, while redb repairs it).
///
/// # Errors
/// [`OpenError::HeldByAnotherProcess`] when another process holds the file, else [`OpenError::Failed`].
pub fn open(path: &Path, cache_bytes: usize) -> Result<Database, OpenError> {
    Database::builder()
        .set_cache_size(cache_bytes)
        .create(path)
        .map_err(|source| match source {
            redb::DatabaseError::DatabaseAlreadyOpen => OpenError::HeldByAnotherProcess {
                dir: data_dir_of(path),
                file: path.to_owned(),
            },
            source => OpenError::Failed {
                file: path.to_owned(),
                source,
            },
        })
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
    use super::*;

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
