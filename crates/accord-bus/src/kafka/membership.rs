//! Group membership of an `accord` process on Kafka: one identity per process and data directory, and the two ways a
//! process restarted at once after a crash gets its partitions back (issue 18 item 4).
//!
//! A member killed with SIGKILL stays in its groups until its session times out (`session_timeout_ms`). A consumer
//! that joins meanwhile (the same process, restarted at once by its supervisor) waits for a rebalance — and tansu 0.6,
//! which expires a dead member only when another request reaches its group, never finishes that rebalance: the
//! restarted consumer gets no partition, for good. A consumer that joins *after* the dead member's session has run
//! out is fine: tansu drops the expired members on that join, and the new member leads.
//!
//! - **Dynamic membership (the default): the process waits out its dead predecessor** (decision 0078). While it
//!   runs, the process keeps a liveness mark, `<data>/kafka-member.<slot>.alive`, whose modification time it
//!   refreshes every [`REFRESH`]; a clean shutdown removes it ([`MemberIdentity::release`]). A process that finds,
//!   when it starts, a mark of a slot no live process holds (its own, or another: processes on one host may share a
//!   data directory, and a restarted process need not get its predecessor's slot) knows a predecessor died without
//!   leaving its groups, at most [`REFRESH`] after the mark's last refresh. So it delays the first join of every one
//!   of its group consumers until the newest such mark + the session timeout + [`MARGIN`]
//!   ([`MemberIdentity::first_join`]); a mark older than that costs nothing, and neither does a clean restart (no
//!   mark). The consumer is created at once and joins on its poll thread when the time comes: the process starts,
//!   answers HTTP and publishes meanwhile; groupless readers and producers never wait. The price: one session (plus
//!   the margin) per crash, on any broker, sometimes for a process whose own predecessor stopped cleanly (the rule
//!   cannot tell which dead process was whose predecessor).
//! - **Static membership (KIP-345, `?static_membership=true`; decisions 0073 and 0076)**: every consumer of a group
//!   carries a `group.instance.id` that is stable across restarts, so the broker recognizes the restarted consumer as
//!   the member it replaces and hands it the same assignment without a rebalance, and without waiting. Opt-in, with a
//!   session timeout of at least [`MIN_STATIC_SESSION_TIMEOUT`]: tansu 0.6 holds every JoinGroup and SyncGroup of a
//!   static member for 3 s (it re-runs the request until 3 s have passed, waiting for the group's other static
//!   members), refreshes no member's last contact on either, and checks every member's session before the caller's
//!   own on a heartbeat. So a static member's first heartbeat comes 6 s after its last contact, and with a shorter
//!   session it expires itself: the group rebalances, the member joins again, and again, every 6 s, for good. Not the
//!   default, because on tansu 0.6 a broker outage longer than the session can leave a group of static members
//!   without a leader for good (decision 0076).
//!
//! The contract:
//! - **One identity per process and data directory** ([`MemberIdentity::claim`]): a random base kept in
//!   `<data>/kafka-member-id`, plus a slot: the lowest `n` whose lock file `<data>/kafka-member.<n>.lock` this process
//!   can lock. A restarted process gets the slot its dead predecessor held (the kernel released the lock with it)
//!   unless another process took it first; two processes on one data directory (replicas that keep no local store)
//!   get different slots, never the same id. The lock is held for the identity's life; claims are serialized by
//!   `<data>/kafka-member.lock`, so that a claim never mistakes a slot another claim is testing for a live one.
//! - **One liveness mark per slot**, refreshed by a thread of the identity from the claim on (before any consumer
//!   exists) until [`MemberIdentity::release`] or the identity's drop. Release removes the mark only when no group
//!   consumer of the process is open any more (every one has closed, leaving its group); otherwise it leaves the mark
//!   as it is, and the next start waits. A process that found a dead predecessor's mark sets its own back to that
//!   predecessor's last refresh instead of removing it: stopped before its wait was over (a start that failed), it
//!   passes the wait on to the next start rather than erase it.
//! - **One id per consumer**: `<base>-<slot>-<group>-<topic>-<k>`, `k` the lowest number no other open subscription
//!   of this process uses for that group and topic (0 in the services, which subscribe once to each). So every
//!   consumer of a restarted process finds its predecessor's id. It is the `group.instance.id` under static
//!   membership, and unused otherwise.
//! - **Only for members of a group**: a groupless reader, and a consumer that only reads a group's committed offsets,
//!   never join, get no id and never wait. A bus opened without an identity (tests, tools) uses dynamic membership
//!   and never waits.
//! - **A session of at least [`MIN_STATIC_SESSION_TIMEOUT`] for static membership**: `KafkaConfig::from_url` refuses
//!   static membership with a shorter one.
//! - The price of static membership: a member that stops for good (scaled down, not restarted) keeps its partitions
//!   until its session times out, also after a clean shutdown — a static member does not leave its group.

use std::{
    collections::HashSet,
    fs::File,
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, mpsc},
    thread::JoinHandle,
    time::{Duration, SystemTime},
};

use tracing::{info, warn};

use super::config::KafkaConfig;

/// The most processes that may share one data directory's identity.
const SLOTS: usize = 64;

/// How often a live process refreshes its liveness mark.
const REFRESH: Duration = Duration::from_secs(1);

/// What a restarted process waits beyond its dead predecessor's last refresh plus the session timeout: [`REFRESH`]
/// (the predecessor may have lived, and heartbeated, that long after its last refresh) plus 1 s for the broker to
/// find the session over.
const MARGIN: Duration = Duration::from_secs(2);

/// The shortest consumer session a static member may have: the 6 s tansu 0.6 may take between a static member's
/// last contact and its first heartbeat (JoinGroup and SyncGroup held 3 s each; see the module documentation), plus
/// 2 s of margin. Measured on tansu 0.6 (`accord up`, killed and restarted at once): with 6 s every group rebalanced
/// every 6 s for good; with 8 s, some groups rebalanced once after the restart, then held; with 10 s (the default),
/// none did.
pub const MIN_STATIC_SESSION_TIMEOUT: Duration = Duration::from_secs(8);

/// A process's identity in its consumer groups; see the module documentation.
#[derive(Debug)]
pub struct MemberIdentity {
    base: String,
    /// The data directory's id (`kafka-member-id`), without the slot.
    data_dir_id: String,
    /// The slot's lock file, locked for the identity's life.
    _lock: File,
    /// The newest last refresh of a liveness mark left by a dead process, as found by the claim (never later than the
    /// claim).
    predecessor: Option<SystemTime>,
    /// This process's liveness mark and the thread refreshing it.
    mark: Mutex<Option<Mark>>,
    /// The consumers open now: (group, topic, k).
    open: Mutex<HashSet<(String, String, usize)>>,
}

/// A liveness mark being refreshed.
#[derive(Debug)]
struct Mark {
    path: PathBuf,
    /// Dropped to stop the thread.
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl MemberIdentity {
    /// Claims an identity in `data_dir`: its base (created on first use) and the lowest slot no live process holds;
    /// notes the newest mark a dead process left, then starts refreshing this slot's mark.
    ///
    /// # Errors
    /// When the files cannot be read, written or locked, or every slot is held.
    pub fn claim(data_dir: &Path) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(data_dir)?;
        let base = read_or_create_base(data_dir)?;
        // Held until the claim is done: a concurrent claim neither takes nor tests a slot this one is testing.
        let claiming = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(data_dir.join("kafka-member.lock"))?;
        claiming.lock()?;
        let (slot, lock) = take_slot(data_dir)?;
        let predecessor = newest_dead_mark(data_dir, slot)?;
        let path = mark_path(data_dir, slot);
        touch(&path)?;
        let mark = Mark::start(path)?;
        drop(claiming);
        if let Some(last) = predecessor {
            info!(
                slot,
                last_alive_ms_ago = SystemTime::now()
                    .duration_since(last)
                    .unwrap_or_default()
                    .as_millis(),
                "a process on this data directory stopped without leaving its consumer groups"
            );
        }
        Ok(Arc::new(Self {
            base: format!("{base}-{slot}"),
            data_dir_id: base,
            _lock: lock,
            predecessor,
            mark: Mutex::new(Some(mark)),
            open: Mutex::default(),
        }))
    }

    /// The id of the data directory (kept in `<data>/kafka-member-id`, without the slot): the same for every process
    /// on that directory and across restarts. Names the consumer groups of stores that every replica keeps whole
    /// (`accord_runtime::Deps::store_group`), so that each such store follows its topics in a group of its own.
    pub fn data_dir_id(&self) -> &str {
        &self.data_dir_id
    }

    /// When this process's group consumers may join their groups for the first time: `None` for at once. Under
    /// dynamic membership, a dead predecessor's last refresh (the newest mark of a slot no live process held at the
    /// claim) + `config.session_timeout` + `MARGIN` (2 s), when that is still to come; under static membership always
    /// `None` (the restarted member replaces its predecessor).
    pub fn first_join(&self, config: &KafkaConfig) -> Option<SystemTime> {
        if config.static_membership {
            return None;
        }
        let at = self.predecessor? + config.session_timeout + MARGIN;
        (at > SystemTime::now()).then_some(at)
    }

    /// Stops refreshing the liveness mark and removes it, unless a group consumer of this process is still open (it
    /// may still be a member: the next start then waits out the session from now). When the claim found a dead
    /// predecessor, the mark is set back to that predecessor's last refresh instead of removed, so that the next start
    /// waits for whatever this one would have waited for. For a clean shutdown, once every service has stopped; also
    /// done when the identity drops. Idempotent.
    pub fn release(&self) {
        let Some(mark) = self
            .mark
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let path = mark.stop();
        let open = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        if open > 0 {
            warn!(
                open,
                "group consumers still open at shutdown: the liveness mark stays, and the next start waits one session"
            );
            return;
        }
        // A process that found a dead predecessor hands its successor the same wait (it may have stopped before its
        // consumers joined, which is what makes the broker drop the dead members): the mark goes back to the
        // predecessor's last refresh, a wait over long ago once this process has run for a session.
        let released = match self.predecessor {
            Some(last) => File::options()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_modified(last)),
            None => std::fs::remove_file(&path),
        };
        if let Err(error) = released
            && error.kind() != std::io::ErrorKind::NotFound
        {
            warn!(%error, path = %path.display(), "failed to release the liveness mark: the next start may wait");
        }
    }

    /// Takes the id of a new consumer of `group` on `topic`; the id is free again when the [`Member`] drops.
    pub(super) fn member(self: &Arc<Self>, group: &str, topic: &str) -> Member {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let k = (0..)
            .find(|k| !open.contains(&(group.to_owned(), topic.to_owned(), *k)))
            .unwrap_or_default();
        let key = (group.to_owned(), topic.to_owned(), k);
        open.insert(key.clone());
        Member {
            id: format!("{}-{group}-{topic}-{k}", self.base),
            identity: Arc::clone(self),
            key,
        }
    }
}

impl Drop for MemberIdentity {
    fn drop(&mut self) {
        self.release();
    }
}

/// Reads the base of the ids, creating it on first use.
fn read_or_create_base(data_dir: &Path) -> std::io::Result<String> {
    let base_file = data_dir.join("kafka-member-id");
    let mut base = String::new();
    match File::open(&base_file) {
        Ok(mut file) => {
            file.read_to_string(&mut base)?;
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let mut base = base.trim().to_owned();
    if base.is_empty() {
        base = format!("{:016x}", rand::random::<u64>());
        let mut file = File::create(&base_file)?;
        file.write_all(base.as_bytes())?;
        file.sync_all()?;
    }
    Ok(base)
}

fn lock_path(data_dir: &Path, slot: usize) -> PathBuf {
    data_dir.join(format!("kafka-member.{slot}.lock"))
}

fn mark_path(data_dir: &Path, slot: usize) -> PathBuf {
    data_dir.join(format!("kafka-member.{slot}.alive"))
}

fn open_lock(data_dir: &Path, slot: usize) -> std::io::Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(data_dir, slot))
}

/// Locks the lowest slot no live process holds.
fn take_slot(data_dir: &Path) -> std::io::Result<(usize, File)> {
    for slot in 0..SLOTS {
        let lock = open_lock(data_dir, slot)?;
        if lock.try_lock().is_ok() {
            return Ok((slot, lock));
        }
    }
    Err(std::io::Error::other(format!(
        "{SLOTS} processes already hold a Kafka member identity in `{}`",
        data_dir.display()
    )))
}

/// The newest last refresh of a mark whose slot no live process holds (`own`, just locked by this claim, included),
/// never later than now.
fn newest_dead_mark(data_dir: &Path, own: usize) -> std::io::Result<Option<SystemTime>> {
    let mut newest: Option<SystemTime> = None;
    for slot in 0..SLOTS {
        let modified = match std::fs::metadata(mark_path(data_dir, slot)) {
            Ok(metadata) => metadata.modified()?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        // A live process holds its slot's lock; a dead one's lock went with it. Locked only to test, released at once.
        if slot != own && open_lock(data_dir, slot)?.try_lock().is_err() {
            continue;
        }
        newest = newest.max(Some(modified));
    }
    Ok(newest.map(|newest| newest.min(SystemTime::now())))
}

/// Creates the mark, or sets its modification time to now.
fn touch(path: &Path) -> std::io::Result<()> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?
        .set_modified(SystemTime::now())
}

impl Mark {
    /// Starts the thread refreshing the mark at `path` every [`REFRESH`].
    fn start(path: PathBuf) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let refreshed = path.clone();
        let thread = std::thread::Builder::new()
            .name("accord-kafka-alive".to_owned())
            .spawn(move || {
                let mut failing = false;
                while stopped.recv_timeout(REFRESH) == Err(mpsc::RecvTimeoutError::Timeout) {
                    match touch(&refreshed) {
                        Ok(()) => failing = false,
                        Err(error) if !failing => {
                            failing = true;
                            warn!(%error, path = %refreshed.display(), "failed to refresh the liveness mark");
                        }
                        Err(_) => {}
                    }
                }
            })?;
        Ok(Self { path, stop, thread })
    }

    /// Stops the thread (no refresh after this returns) and returns the mark's path.
    fn stop(self) -> PathBuf {
        drop(self.stop);
        if self.thread.join().is_err() {
            warn!("the liveness mark's thread panicked");
        }
        self.path
    }
}

/// One group consumer's place in its process's identity, held while its subscription is open: its static member
/// id, and what tells [`MemberIdentity::release`] that a consumer is still open.
#[derive(Debug)]
pub(super) struct Member {
    id: String,
    identity: Arc<MemberIdentity>,
    key: (String, String, usize),
}

impl Member {
    /// The `group.instance.id` (used under static membership only).
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// [`MemberIdentity::first_join`] of the process.
    pub(super) fn first_join(&self, config: &KafkaConfig) -> Option<SystemTime> {
        self.identity.first_join(config)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.identity
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leaves a mark as a process killed in `slot` would: last refreshed at `at`, its lock free. Returns the mark's
    /// modification time as the file system keeps it.
    fn dead_mark(dir: &Path, slot: usize, at: SystemTime) -> SystemTime {
        let path = mark_path(dir, slot);
        touch(&path).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(at)
            .unwrap();
        std::fs::metadata(&path).unwrap().modified().unwrap()
    }

    fn dynamic() -> KafkaConfig {
        KafkaConfig {
            session_timeout: Duration::from_secs(10),
            ..KafkaConfig::default()
        }
    }

    #[test]
    fn a_restarted_process_gets_its_predecessors_ids_and_a_second_one_others() {
        let dir = tempfile::tempdir().unwrap();
        let first = MemberIdentity::claim(dir.path()).unwrap();
        let one = first.member("enforcer", "reports.normalized");
        let second = MemberIdentity::claim(dir.path()).unwrap();
        let other = second.member("enforcer", "reports.normalized");
        assert_ne!(one.id(), other.id(), "two live processes never share an id");
        let again = first.member("enforcer", "reports.normalized");
        assert_ne!(
            one.id(),
            again.id(),
            "two open consumers of one process neither"
        );
        let id = one.id().to_owned();
        drop((one, again, first));
        // The process is gone (its lock with it): the next one takes its slot and its ids.
        let restarted = MemberIdentity::claim(dir.path()).unwrap();
        assert_eq!(restarted.member("enforcer", "reports.normalized").id(), id);
        assert!(id.ends_with("-0-enforcer-reports.normalized-0"), "{id}");
    }

    #[test]
    fn a_fresh_directory_waits_for_nothing_and_a_live_process_is_not_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let first = MemberIdentity::claim(dir.path()).unwrap();
        assert_eq!(first.first_join(&dynamic()), None);
        assert!(mark_path(dir.path(), 0).exists(), "marked alive at once");
        // `first` is alive (its mark is fresh, but its slot is locked): a second process does not wait for it.
        let second = MemberIdentity::claim(dir.path()).unwrap();
        assert_eq!(second.first_join(&dynamic()), None);
    }

    #[test]
    fn a_mark_refreshed_just_now_by_a_dead_process_delays_the_first_join_by_a_session_and_the_margin()
     {
        let dir = tempfile::tempdir().unwrap();
        let last = dead_mark(
            dir.path(),
            0,
            SystemTime::now() - Duration::from_millis(500),
        );
        let restarted = MemberIdentity::claim(dir.path()).unwrap();
        assert_eq!(
            restarted.first_join(&dynamic()),
            Some(last + Duration::from_secs(10) + MARGIN)
        );
        // Static members replace their predecessors: they never wait.
        let static_membership = KafkaConfig {
            static_membership: true,
            ..dynamic()
        };
        assert_eq!(restarted.first_join(&static_membership), None);
    }

    #[test]
    fn a_dead_process_in_another_slot_is_waited_for_too() {
        // Processes share a data directory: the restarted one may get a slot that a clean stop left free.
        let dir = tempfile::tempdir().unwrap();
        let last = dead_mark(dir.path(), 1, SystemTime::now());
        let restarted = MemberIdentity::claim(dir.path()).unwrap();
        assert!(restarted.base.ends_with("-0"), "{}", restarted.base);
        assert_eq!(
            restarted.first_join(&dynamic()),
            Some(last + Duration::from_secs(10) + MARGIN)
        );
    }

    #[test]
    fn a_mark_older_than_a_session_and_the_margin_waits_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        dead_mark(
            dir.path(),
            0,
            SystemTime::now() - Duration::from_secs(10) - MARGIN - Duration::from_millis(100),
        );
        let restarted = MemberIdentity::claim(dir.path()).unwrap();
        assert_eq!(restarted.first_join(&dynamic()), None);
    }

    #[test]
    fn a_mark_from_the_future_waits_one_session_from_now_at_most() {
        let dir = tempfile::tempdir().unwrap();
        dead_mark(
            dir.path(),
            0,
            SystemTime::now() + Duration::from_secs(3_600),
        );
        let restarted = MemberIdentity::claim(dir.path()).unwrap();
        let at = restarted.first_join(&dynamic()).expect("waits");
        assert!(at <= SystemTime::now() + Duration::from_secs(10) + MARGIN);
    }

    #[test]
    fn a_clean_shutdown_removes_the_mark_and_the_next_start_waits_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let identity = MemberIdentity::claim(dir.path()).unwrap();
        let consumer = identity.member("indexer", "reports.releasable");
        drop(consumer);
        identity.release();
        assert!(!mark_path(dir.path(), 0).exists());
        identity.release();
        drop(identity);
        let restarted = MemberIdentity::claim(dir.path()).unwrap();
        assert_eq!(restarted.first_join(&dynamic()), None);
        // Dropping the identity releases it as well.
        drop(restarted);
        assert!(!mark_path(dir.path(), 0).exists());
    }

    #[test]
    fn a_clean_stop_before_the_wait_is_over_passes_the_wait_on() {
        let dir = tempfile::tempdir().unwrap();
        let last = dead_mark(dir.path(), 0, SystemTime::now());
        let restarted = MemberIdentity::claim(dir.path()).unwrap();
        let at = restarted.first_join(&dynamic());
        // It stops cleanly at once (its start failed, say): its consumers never joined, the dead members may still be
        // there.
        drop(restarted);
        assert_eq!(
            std::fs::metadata(mark_path(dir.path(), 0))
                .unwrap()
                .modified()
                .unwrap(),
            last
        );
        let again = MemberIdentity::claim(dir.path()).unwrap();
        assert_eq!(again.first_join(&dynamic()), at);
    }

    #[test]
    fn a_release_with_a_consumer_still_open_leaves_the_mark() {
        let dir = tempfile::tempdir().unwrap();
        let identity = MemberIdentity::claim(dir.path()).unwrap();
        let consumer = identity.member("indexer", "reports.releasable");
        identity.release();
        assert!(mark_path(dir.path(), 0).exists());
        // The process exits right after (the consumer may still be a member): its successor waits.
        drop(consumer);
        drop(identity);
        assert!(mark_path(dir.path(), 0).exists());
        let restarted = MemberIdentity::claim(dir.path()).unwrap();
        assert!(restarted.first_join(&dynamic()).is_some());
    }

    #[test]
    fn a_live_process_refreshes_its_mark() {
        let dir = tempfile::tempdir().unwrap();
        let _identity = MemberIdentity::claim(dir.path()).unwrap();
        let old = dead_mark(dir.path(), 0, SystemTime::UNIX_EPOCH);
        let guard = std::time::Instant::now() + Duration::from_secs(30);
        while std::fs::metadata(mark_path(dir.path(), 0))
            .unwrap()
            .modified()
            .unwrap()
            == old
        {
            assert!(std::time::Instant::now() < guard, "never refreshed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
