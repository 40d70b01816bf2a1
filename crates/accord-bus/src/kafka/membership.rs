//! Static group membership (KIP-345): a process restarted at once after a crash takes its partitions back at once.
//!
//! Without it, a member killed with SIGKILL keeps its partitions until its session times out; a consumer that joins
//! meanwhile (the same process, restarted by its supervisor) waits for a rebalance — and a broker that expires dead
//! members only when another request reaches the group (tansu 0.6) can leave it with no partition for good. With a
//! `group.instance.id`, the broker recognizes the restarted consumer as the member it replaces and hands it the same
//! assignment without a rebalance.
//!
//! Opt-in (`?static_membership=true` on the bus URL; decisions 0073 and 0076), with a session timeout of at least
//! [`MIN_STATIC_SESSION_TIMEOUT`]: tansu 0.6 holds every JoinGroup and SyncGroup of a static member for 3 s (it
//! re-runs the request until 3 s have passed, waiting for the group's other static members), refreshes no member's
//! last contact on either, and checks every member's session before the caller's own on a heartbeat. So a static
//! member's first heartbeat comes 6 s after its last contact, and with a shorter session it expires itself: the group
//! rebalances, the member joins again, and again, every 6 s, for good. Not the default, because on tansu 0.6 a broker
//! outage longer than the session can leave a group of static members without a leader for good (decision 0076).
//!
//! The contract:
//! - **One identity per process and data directory** ([`MemberIdentity::claim`]): a random base kept in
//!   `<data>/kafka-member-id`, plus a slot: the lowest `n` whose lock file `<data>/kafka-member.<n>.lock` this process
//!   can lock. A restarted process gets the slot its dead predecessor held (the kernel released the lock with it);
//!   two processes on one data directory (replicas that keep no local store) get different slots, never the same id.
//!   The lock is held for the identity's life.
//! - **One id per consumer**: `<base>-<slot>-<group>-<topic>-<k>`, `k` the lowest number no other open subscription
//!   of this process uses for that group and topic (0 in the services, which subscribe once to each). So every
//!   consumer of a restarted process finds its predecessor's id.
//! - **Only for members of a group**: a groupless reader, and a consumer that only reads a group's committed offsets,
//!   never join, and get no id. A bus opened without an identity (tests, tools) uses dynamic membership.
//! - **A session of at least [`MIN_STATIC_SESSION_TIMEOUT`]**: `KafkaConfig::from_url` refuses static membership
//!   with a shorter one.
//! - The price: a member that stops for good (scaled down, not restarted) keeps its partitions until its session
//!   times out (`session_timeout_ms`), also after a clean shutdown — a static member does not leave its group.

use std::{
    collections::HashSet,
    fs::File,
    io::{Read, Write},
    path::Path,
    sync::{Arc, Mutex, PoisonError},
};

/// The most processes that may share one data directory's identity.
const SLOTS: usize = 64;

/// The shortest consumer session a static member may have: the 6 s tansu 0.6 may take between a static member's
/// last contact and its first heartbeat (JoinGroup and SyncGroup held 3 s each; see the module documentation), plus
/// 2 s of margin. Measured on tansu 0.6 (`accord up`, killed and restarted at once): with 6 s every group rebalanced
/// every 6 s for good; with 8 s, some groups rebalanced once after the restart, then held; with 10 s (the default),
/// none did.
pub const MIN_STATIC_SESSION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);

/// A process's identity in its consumer groups; see the module documentation.
#[derive(Debug)]
pub struct MemberIdentity {
    base: String,
    /// The slot's lock file, locked for the identity's life.
    _lock: File,
    /// The consumers open now: (group, topic, k).
    open: Mutex<HashSet<(String, String, usize)>>,
}

impl MemberIdentity {
    /// Claims an identity in `data_dir`: its base (created on first use) and the lowest slot no live process holds.
    ///
    /// # Errors
    /// When the files cannot be read, written or locked, or every slot is held.
    pub fn claim(data_dir: &Path) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(data_dir)?;
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
        for slot in 0..SLOTS {
            let lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(data_dir.join(format!("kafka-member.{slot}.lock")))?;
            if lock.try_lock().is_ok() {
                return Ok(Arc::new(Self {
                    base: format!("{base}-{slot}"),
                    _lock: lock,
                    open: Mutex::default(),
                }));
            }
        }
        Err(std::io::Error::other(format!(
            "{SLOTS} processes already hold a Kafka member identity in `{}`",
            data_dir.display()
        )))
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

/// One consumer's `group.instance.id`, held while its subscription is open.
#[derive(Debug)]
pub(super) struct Member {
    id: String,
    identity: Arc<MemberIdentity>,
    key: (String, String, usize),
}

impl Member {
    /// The `group.instance.id`.
    pub(super) fn id(&self) -> &str {
        &self.id
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
}
