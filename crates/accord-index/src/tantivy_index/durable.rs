//! Searchable at commit, durable at [`Durability::persist`]: the index directory the writer uses.
//!
//! Tantivy syncs every file it writes when the file is complete, and `meta.json` and the directory at every commit.
//! On a disk shared with other writers, an `fsync` waits for everything the file system has to write before it (on
//! ext4, the journal's whole transaction), so a two-document commit that makes another partner's report searchable
//! waited behind a flooding partner's segments and merges: tens to hundreds of milliseconds (decision 0065).
//!
//! This directory separates the two, as Elasticsearch's refresh and flush do: writes go to the operating system's
//! page cache without a sync and are recorded as pending, so a commit (and the reader reloaded after it) makes a
//! write searchable at once; [`Durability::persist`] then syncs what is pending — the data files first, then the
//! files written whole (`meta.json`, `.managed.json`) and the directory — in one pass shared by every caller that
//! waits for it. The indexer persists before it commits its bus offsets (its stage's `durable` step, off its lanes),
//! so nothing is acknowledged upstream that a
//! power loss could take from the index: after one, the index is at least at the state of the last persist, and
//! the bus replays what came after it (writes are versioned: a replay changes nothing twice). A crash of the process
//! alone loses nothing that was written to the page cache.
//!
//! While the final step runs (syncing the whole-written files and the directory), a commit's `meta.json` write waits
//! for it: a persisted `meta.json` never names segment files that are still only in the page cache. A power loss in
//! the middle of a pass leaves at worst a `meta.json` naming files that did not reach the disk; the checksums read
//! when the writer opens ([`super::TantivyIndex`]) find that, and the index is set aside and rebuilt from the bus.
//!
//! Reads, locks and watching `meta.json` are the [`MmapDirectory`]'s.

use std::{
    collections::BTreeSet,
    fs::{File, OpenOptions},
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, TerminatingWrite,
    WatchCallback, WatchHandle, WritePtr,
    error::{DeleteError, LockError, OpenReadError, OpenWriteError},
};

/// What has been written since the last persist, and the lock that orders persisting against whole-file writes.
#[derive(Debug, Default)]
struct Pending {
    /// Files written with `open_write` (segment data), relative to the directory.
    data: Mutex<BTreeSet<PathBuf>>,
    /// Files written whole with `atomic_write` (`meta.json`, `.managed.json`).
    whole: Mutex<BTreeSet<PathBuf>>,
    /// Held by the final step of a persist and by every whole-file write.
    finishing: Mutex<()>,
    /// Names of temporary files.
    temporary: AtomicU64,
}

/// An index directory whose writes are synced only by [`Durability::persist`]; see the module documentation.
#[derive(Debug, Clone)]
pub(super) struct DeferredSyncDirectory {
    root: PathBuf,
    inner: MmapDirectory,
    pending: Arc<Pending>,
}

/// The handle that makes a [`DeferredSyncDirectory`]'s writes durable; shared with the index that writes through it.
#[derive(Debug, Clone)]
pub(super) struct Durability {
    root: PathBuf,
    pending: Arc<Pending>,
}

impl DeferredSyncDirectory {
    /// Opens the directory `root` (which must exist) and returns it with its [`Durability`].
    pub(super) fn open(
        root: &Path,
    ) -> Result<(Self, Durability), tantivy::directory::error::OpenDirectoryError> {
        let pending = Arc::new(Pending::default());
        let directory = Self {
            root: root.to_owned(),
            inner: MmapDirectory::open(root)?,
            pending: Arc::clone(&pending),
        };
        let durability = Durability {
            root: root.to_owned(),
            pending,
        };
        Ok((directory, durability))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Durability {
    /// Syncs every file written through the directory before this call, then the directory. Files deleted since
    /// they were written are skipped.
    ///
    /// # Errors
    /// The first failing sync; what was pending stays pending, so the next call syncs it again.
    pub(super) fn persist(&self) -> io::Result<()> {
        // Most of the work — segment data — without holding up commits.
        self.sync_data()?;
        let _finishing = lock(&self.pending.finishing);
        // Data written while the first step ran, among it any that a `meta.json` written meanwhile names.
        self.sync_data()?;
        let whole = std::mem::take(&mut *lock(&self.pending.whole));
        if let Err(error) = whole.iter().try_for_each(|path| self.sync_file(path)) {
            lock(&self.pending.whole).extend(whole);
            return Err(error);
        }
        if let Err(error) = File::open(&self.root).and_then(|directory| directory.sync_all()) {
            lock(&self.pending.whole).extend(whole);
            return Err(error);
        }
        Ok(())
    }

    /// Syncs the data files pending now.
    fn sync_data(&self) -> io::Result<()> {
        let data = std::mem::take(&mut *lock(&self.pending.data));
        for (done, path) in data.iter().enumerate() {
            if let Err(error) = self.sync_file(path) {
                lock(&self.pending.data).extend(data.into_iter().skip(done));
                return Err(error);
            }
        }
        Ok(())
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        match File::open(self.root.join(path)) {
            Ok(file) => file.sync_data(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// A file being written: buffered by tantivy's [`WritePtr`], flushed (not synced) when terminated.
struct UnsyncedFile(File);

impl Write for UnsyncedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TerminatingWrite for UnsyncedFile {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        self.0.flush()
    }
}

impl Directory for DeferredSyncDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)?;
        lock(&self.pending.data).remove(path);
        Ok(())
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.root.join(path))
            .map_err(|error| {
                if error.kind() == io::ErrorKind::AlreadyExists {
                    OpenWriteError::FileAlreadyExists(path.to_owned())
                } else {
                    OpenWriteError::wrap_io_error(error, path.to_owned())
                }
            })?;
        lock(&self.pending.data).insert(path.to_owned());
        Ok(BufWriter::new(Box::new(UnsyncedFile(file))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    /// Writes a temporary file beside `path` and renames it over `path`: readers see the old content or the new,
    /// never a part. Not synced until the next persist, which it waits for if that is in its final step.
    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let _finishing = lock(&self.pending.finishing);
        let target = self.root.join(path);
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("file");
        let number = self.pending.temporary.fetch_add(1, Ordering::Relaxed);
        let temporary = self.root.join(format!(".{name}.{number}.tmp"));
        let written = File::create(&temporary)
            .and_then(|mut file| file.write_all(data))
            .and_then(|()| std::fs::rename(&temporary, &target));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written?;
        lock(&self.pending.whole).insert(path.to_owned());
        Ok(())
    }

    /// Deferred to the next persist, which syncs the directory last.
    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_readable_at_once_and_pending_until_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let (directory, durability) = DeferredSyncDirectory::open(dir.path()).unwrap();
        let mut writer = directory.open_write(Path::new("a.idx")).unwrap();
        writer.write_all(b"segment").unwrap();
        writer.terminate().unwrap();
        directory
            .atomic_write(Path::new("meta.json"), b"{}")
            .unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.idx")).unwrap(), b"segment");
        assert_eq!(
            directory.atomic_read(Path::new("meta.json")).unwrap(),
            b"{}"
        );
        assert!(lock(&durability.pending.data).contains(Path::new("a.idx")));
        assert!(lock(&durability.pending.whole).contains(Path::new("meta.json")));

        durability.persist().unwrap();
        assert!(lock(&durability.pending.data).is_empty());
        assert!(lock(&durability.pending.whole).is_empty());
        assert!(
            std::fs::read_dir(dir.path()).unwrap().all(|entry| !entry
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")),
            "no temporary file is left behind"
        );
    }

    #[test]
    fn a_file_deleted_before_the_persist_is_skipped_and_a_second_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (directory, durability) = DeferredSyncDirectory::open(dir.path()).unwrap();
        let writer = directory.open_write(Path::new("b.idx")).unwrap();
        writer.terminate().unwrap();
        assert!(matches!(
            directory.open_write(Path::new("b.idx")),
            Err(OpenWriteError::FileAlreadyExists(_))
        ));
        directory.delete(Path::new("b.idx")).unwrap();
        durability.persist().unwrap();
    }
}
