//! The directory: organizations, tokens and MoU versions, materialized in memory from the compacted topics
//! [`topics::ADMIN_DIRECTORY`] and [`topics::POLICY_MOUS`].
//!
//! Every service that authenticates or evaluates policy holds one [`Directory`] and follows both topics from the
//! beginning (a groupless subscription). Admin publishes a change and then waits until its own directory has applied
//! it ([`Directory::wait_applied`]) before it answers, so in `accord up` (one shared directory) a change acknowledged
//! to a coordinator is in force for the very next request.
//!
//! Only what admin signed is applied: [`signing`] (the signature, the keys) and [`follower`] (what happens to an
//! unsigned, forged or replayed record, and to records written before signing began). MoU versions are keyed one
//! per version ([`MouVersion::key`]), so compaction keeps every version; the latest version of each MoU is the
//! current one.

pub mod follower;
pub mod signing;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::telemetry::ErrorChain;
use accord_bus::{BusClient, BusError, Record, SubscribeOptions, Subscription};
use accord_domain::{DirectoryEvent, MouId, MouVersion, OrgId, Organization, TokenRecord, topics};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use self::{
    follower::{Gate, Rejection},
    signing::DirectoryKeys,
};

/// How many refused records [`Directory::refused`] keeps.
pub const MAX_REFUSED_KEPT: usize = 10_000;

/// An immutable snapshot of the directory: cheap to clone, consistent for one request.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Organizations by id.
    pub orgs: HashMap<OrgId, Organization>,
    /// Tokens by the hex SHA-256 of their secret.
    pub tokens_by_hash: HashMap<String, TokenRecord>,
    /// Every version of every MoU, oldest first.
    pub mou_history: BTreeMap<MouId, Vec<MouVersion>>,
    /// The latest version of every MoU (what is in force, subject to its status and dates).
    pub mous: Vec<MouVersion>,
    /// Versions read only from records keyed by MoU id (written before versions had keys of their own), which
    /// compaction could drop: admin publishes them again under their own keys.
    unversioned: BTreeSet<(MouId, u32)>,
}

impl Snapshot {
    /// Returns the latest version of an MoU.
    pub fn mou(&self, id: &MouId) -> Option<&MouVersion> {
        self.mou_history
            .get(id)
            .and_then(|versions| versions.last())
    }

    /// Returns a token record by id.
    pub fn token(&self, id: &str) -> Option<&TokenRecord> {
        self.tokens_by_hash
            .values()
            .find(|token| token.id.as_str() == id)
    }

    fn apply_directory(&mut self, event: DirectoryEvent) {
        match event {
            DirectoryEvent::Organization(org) => {
                self.orgs.insert(org.id.clone(), org);
            }
            DirectoryEvent::Token(token) => {
                self.tokens_by_hash.insert(token.hash.clone(), token);
            }
        }
    }

    /// Returns the MoU versions read only from records keyed by MoU id, oldest first per MoU.
    pub fn mou_versions_without_own_key(&self) -> Vec<&MouVersion> {
        self.unversioned
            .iter()
            .filter_map(|(id, number)| {
                self.mou_history
                    .get(id)?
                    .iter()
                    .find(|version| version.version == *number)
            })
            .collect()
    }

    /// Applies a version read from a record with `key`.
    fn apply_mou_record(&mut self, version: MouVersion, key: Option<&str>) {
        let id = (version.mou.id.clone(), version.version);
        if key == Some(version.key().as_str()) {
            self.unversioned.remove(&id);
        } else if !self
            .mou_history
            .get(&id.0)
            .is_some_and(|known| known.iter().any(|v| v.version == id.1))
        {
            self.unversioned.insert(id);
        }
        self.apply_mou(version);
    }

    fn apply_mou(&mut self, version: MouVersion) {
        let versions = self.mou_history.entry(version.mou.id.clone()).or_default();
        // Replays deliver versions again: keep each version number once.
        if versions
            .iter()
            .all(|known| known.version != version.version)
        {
            versions.push(version);
            versions.sort_by_key(|known| known.version);
        }
        self.mous = self
            .mou_history
            .values()
            .filter_map(|versions| versions.last().cloned())
            .collect();
    }
}

/// Applied positions of the two followed topics (next offset to apply).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Next offset of [`topics::ADMIN_DIRECTORY`].
    pub directory: u64,
    /// Next offset of [`topics::POLICY_MOUS`].
    pub mous: u64,
}

/// The shared, live directory.
#[derive(Debug)]
pub struct Directory {
    snapshot: RwLock<Arc<Snapshot>>,
    applied_tx: watch::Sender<Applied>,
    /// Records refused by the followers, for watchers (admin).
    rejected_tx: broadcast::Sender<Rejection>,
    /// The records refused since start (the first [`MAX_REFUSED_KEPT`]), for a watcher that starts after the
    /// followers caught up.
    refused: Mutex<Vec<Rejection>>,
    /// The latest signing time of any verified record read (milliseconds since the Unix epoch).
    latest_signed_at: AtomicU64,
    /// Per topic, where signing began, once the followers have read the cut-over record.
    cut_overs: Mutex<HashMap<&'static str, u64>>,
}

impl Default for Directory {
    fn default() -> Self {
        Self::new()
    }
}

impl Directory {
    /// Returns an empty directory.
    pub fn new() -> Self {
        let (applied_tx, _) = watch::channel(Applied::default());
        let (rejected_tx, _) = broadcast::channel(1024);
        Self {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            applied_tx,
            rejected_tx,
            refused: Mutex::default(),
            latest_signed_at: AtomicU64::new(0),
            cut_overs: Mutex::default(),
        }
    }

    /// Returns the current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        let mut guard = match self.snapshot.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next = (**guard).clone();
        change(&mut next);
        *guard = Arc::new(next);
    }

    /// Applies one directory event (used by the follower; also by tests).
    pub fn apply_directory_event(&self, event: DirectoryEvent) {
        self.update(|snapshot| snapshot.apply_directory(event));
    }

    /// Applies one MoU version (used by the follower; also by tests).
    pub fn apply_mou_version(&self, version: MouVersion) {
        self.update(|snapshot| snapshot.apply_mou(version));
    }

    /// Returns a receiver that changes whenever the follower applied new records (for services that react to policy
    /// changes, such as the enforcer's re-evaluation).
    pub fn changes(&self) -> watch::Receiver<Applied> {
        self.applied_tx.subscribe()
    }

    /// Returns a receiver of the records the followers refuse from now on (see [`follower`]).
    pub fn rejections(&self) -> broadcast::Receiver<Rejection> {
        self.rejected_tx.subscribe()
    }

    /// Returns the records refused since start (at most [`MAX_REFUSED_KEPT`]): those refused while catching up,
    /// before any watcher could subscribe to [`Self::rejections`].
    pub fn refused(&self) -> Vec<Rejection> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Returns the latest signing time of the verified records read so far: admin signs its next record later
    /// (whatever its clock says after a restart), so that no follower takes that record for a replay.
    pub fn latest_signed_at(&self) -> u64 {
        self.latest_signed_at.load(Ordering::Acquire)
    }

    /// Returns where signing began on `topic`, once the follower has read its cut-over record.
    pub fn cut_over(&self, topic: &str) -> Option<u64> {
        self.cut_overs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(topic)
            .copied()
    }

    /// Returns the positions applied so far.
    pub fn applied(&self) -> Applied {
        *self.applied_tx.borrow()
    }

    /// Waits until the follower has applied `topic` up to and including `offset`.
    pub async fn wait_applied(&self, topic: &str, offset: u64) {
        let mut rx = self.applied_tx.subscribe();
        let reached = |applied: &Applied| match topic {
            topics::POLICY_MOUS => applied.mous > offset,
            _ => applied.directory > offset,
        };
        // The sender lives as long as `self`, so `wait_for` only fails if the directory is dropped.
        let _ = rx.wait_for(reached).await;
    }

    /// Waits until everything published on both topics before this call has been applied: services call it after
    /// [`Directory::follow`] and before they serve, so a restart never answers 401 for a token that exists.
    ///
    /// # Errors
    /// Returns the bus error when the end of a topic cannot be read.
    pub async fn catch_up(&self, bus: &BusClient) -> Result<(), BusError> {
        for topic in [topics::ADMIN_DIRECTORY, topics::POLICY_MOUS] {
            let ends = bus.end_offsets(topic).await?;
            if let Some(end) = ends.iter().map(|position| position.offset).max()
                && end > 0
            {
                self.wait_applied(topic, end - 1).await;
            }
        }
        Ok(())
    }

    /// Spawns the two followers on the current runtime; they apply only what `keys` verify (see [`follower`]) and
    /// stop when `shutdown` is cancelled.
    ///
    /// # Errors
    /// Returns the bus error when a subscription cannot be opened.
    pub async fn follow(
        self: &Arc<Self>,
        bus: &BusClient,
        keys: DirectoryKeys,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        let keys = Arc::new(keys);
        for topic in [topics::ADMIN_DIRECTORY, topics::POLICY_MOUS] {
            let subscription = bus
                .subscribe(SubscribeOptions {
                    topic: topic.to_owned(),
                    group: None,
                })
                .await?;
            let directory = Arc::clone(self);
            let gate = Gate::new(topic, keys.clone());
            tokio::spawn(directory.run_follower(topic, subscription, gate, shutdown.clone()));
        }
        Ok(())
    }

    /// Reads `topic` until `shutdown`, applying what `gate` admits.
    async fn run_follower(
        self: Arc<Self>,
        topic: &'static str,
        mut subscription: Box<dyn Subscription>,
        mut gate: Gate,
        shutdown: CancellationToken,
    ) {
        loop {
            let batch = tokio::select! {
                () = shutdown.cancelled() => return,
                batch = subscription.next_batch(512) => batch,
            };
            let deliveries = match batch {
                Ok(deliveries) => deliveries,
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), topic, "failed to read directory topic, retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    continue;
                }
            };
            let Some(last) = deliveries.last().map(|delivery| delivery.position.offset) else {
                continue;
            };
            let admitted = gate.admit(&deliveries);
            self.latest_signed_at
                .fetch_max(admitted.latest_signed_at, Ordering::AcqRel);
            if let Some(before) = admitted.cut_over {
                self.cut_overs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(topic, before);
            }
            self.update(|snapshot| {
                for record in &admitted.apply {
                    apply_record(snapshot, topic, record);
                }
            });
            {
                let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
                let room = MAX_REFUSED_KEPT.saturating_sub(refused.len());
                refused.extend(admitted.rejected.iter().take(room).cloned());
            }
            for rejection in admitted.rejected {
                // Nobody listening is fine: the rejection is logged and counted already.
                let _ = self.rejected_tx.send(rejection);
            }
            self.applied_tx.send_modify(|applied| match topic {
                topics::POLICY_MOUS => applied.mous = last + 1,
                _ => applied.directory = last + 1,
            });
        }
    }
}

fn apply_record(snapshot: &mut Snapshot, topic: &str, record: &Record) {
    let payload = &record.payload[..];
    if topic == topics::POLICY_MOUS {
        match serde_json::from_slice::<MouVersion>(payload) {
            Ok(version) => snapshot.apply_mou_record(version, record.key.as_deref()),
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), topic, "skipped undecodable mou version")
            }
        }
        return;
    }
    match serde_json::from_slice::<DirectoryEvent>(payload) {
        Ok(event) => snapshot.apply_directory(event),
        Err(error) => {
            tracing::error!(error = %ErrorChain(&error), topic, "skipped undecodable directory event")
        }
    }
}
