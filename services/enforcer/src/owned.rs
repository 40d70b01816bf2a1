//! Partition-owned state (issue 18 item 1, decision 0081): each replica acts on the reports of the partitions of
//! `reports.normalized` it owns, and restores a partition's reports when it takes the partition over.
//!
//! The store is local to a replica and holds the reports of the partitions it consumed. `reports.normalized` is
//! compacted by report id (decision 0077): read from the start, a partition gives every live report of it (the
//! latest version, retractions kept), so it is the store's changelog. The contract:
//!
//! - **Ownership** is the stage subscription's ([`accord_bus::Subscription::ownership`]). On the embedded log (and
//!   any fixed ownership) every partition is owned for good and nothing here runs: `accord up` is unchanged.
//! - **Restore before processing.** The stage's subscription is wrapped ([`OwnedBus`]): when its ownership shows a
//!   partition with a generation (`since`) this process has not restored yet — assigned for the first time, after
//!   a restart, or back after another member may have had it — the batch just read is held back and the partition
//!   is first restored, store only, exactly like the refill (`crate::refill`: amendments replace, controls apply,
//!   nothing published), from the store's applied offset of that partition up to the partition's end when the
//!   restore began ([`accord_bus::Bus::read_partition`]); then its reports are evaluated again under the current
//!   policy and their release sets published (the previous owner may have died before applying a policy change or
//!   a retention end: the gateway's receipts follow from the release sets, whoever publishes them) — only the
//!   reports the restore read, when the policy has not moved since this replica last evaluated the partition; only
//!   then are its records processed. The records from the group's committed offset on are then processed as usual, some of
//!   them a second time: at least once, as everywhere. `/readyz` says `restoring partition n` meanwhile.
//! - **Acting only on owned partitions.** Re-evaluations after policy changes, the retention sweep, the
//!   re-derivation and the stage's own batches act on the reports of partitions owned now, holding the ownership
//!   guard ([`accord_bus::Ownership::hold`]) from reading the ownership to the end of the publication: a revocation
//!   waits for them, so nothing this replica publishes for a partition follows what its next owner published (a
//!   stale copy of a report the next owner saw retracted is never released again). A revoked partition's reports
//!   stay in the store, not acted on; a report past every retention is removed from the store whoever owns it (its
//!   owner publishes the withdrawal). A report stored before placements existed belongs to no owned partition until
//!   a restore places it: fail closed.
//! - **Applied offsets.** Per partition the store keeps the offset below which every record was applied: raised to
//!   the end a restore read to, and by the stage's own contiguous progress (what it committed, tracked here, written
//!   at most every [`PROGRESS_EVERY`] and at each change of ownership). A partition taken back later is restored from
//!   there, so a restore reads what this replica has not applied, not the whole partition.
//!
//! Lock order, everywhere: the ownership guard, then the evaluation lock. A task never holds the guard twice.

mod progress;
mod restore;

use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};

use accord_bus::{
    Bus, BusClient, BusError, Delivery, Owned, Ownership, OwnershipGuard, PartitionReader,
    Position, Record, SubscribeOptions, Subscription,
};
use accord_domain::{NormalizedReport, topics};
use async_trait::async_trait;

use crate::AppState;

pub(crate) use self::progress::PROGRESS_EVERY;

/// The ownership of the stage's subscription, shared with every task that acts on stored reports, and the
/// partitions restored for their current generation; unknown until the stage has subscribed.
#[derive(Default)]
pub(crate) struct Partitions {
    ownership: std::sync::OnceLock<Ownership>,
    known: tokio::sync::Notify,
    /// Per partition, the generation (`since`) it was restored for.
    restored: std::sync::Mutex<Restored>,
}

/// What [`Partitions::hold`] answers: the guard, and what is owned under it.
pub(crate) struct Held {
    _guard: OwnershipGuard,
    /// The partitions owned now.
    pub(crate) owned: Owned,
    /// Those of them restored for their generation: the ones whose stored reports this replica acts on.
    pub(crate) acting: Owned,
}

impl Partitions {
    fn set(&self, ownership: Ownership) {
        if self.ownership.set(ownership).is_ok() {
            self.known.notify_waiters();
        }
    }

    fn restored(&self) -> std::sync::MutexGuard<'_, Restored> {
        self.restored
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// For `partitions` whose stored reports a task holding the ownership guard changed without acting on them:
    /// returns those owned and restored for their generation now (assigned back since the guard was taken, so the
    /// task publishes them), and forgets the others as restored, so that their next assignment, even one that keeps
    /// the generation, restores and evaluates them again.
    pub(crate) fn forget_or_acting(&self, partitions: &BTreeSet<u32>) -> BTreeSet<u32> {
        let owned = self.ownership.get().map(Ownership::owned);
        forget_or_acting(&mut self.restored(), owned.as_ref(), partitions)
    }

    /// Waits until the stage has subscribed, then for the ownership guard at a moment no rebalance is half-way
    /// ([`Owned::settling`]: a partition revoked then may come back with its generation, and a task that left it
    /// alone as not owned would leave it to nobody); returns the guard with what is owned under it.
    pub(crate) async fn hold(&self) -> Held {
        let ownership = loop {
            let known = self.known.notified();
            if let Some(ownership) = self.ownership.get() {
                break ownership;
            }
            known.await;
        };
        let (guard, owned) = loop {
            let guard = ownership.hold().await;
            let owned = ownership.owned();
            if !owned.settling {
                break (guard, owned);
            }
            drop(guard);
            ownership.changed_from(owned.generation).await;
        };
        let acting = if owned.fixed {
            owned.clone()
        } else {
            let restored = self.restored();
            Owned {
                partitions: owned
                    .partitions
                    .iter()
                    .filter(|(partition, since)| restored.get(partition) == Some(since))
                    .map(|(partition, since)| (*partition, *since))
                    .collect(),
                ..owned.clone()
            }
        };
        Held {
            _guard: guard,
            owned,
            acting,
        }
    }
}

/// Each report with its partition (`None`: not placed).
///
/// # Errors
/// A store failure.
pub(crate) fn placed(
    store: &crate::store::ReportStore,
    reports: Vec<NormalizedReport>,
) -> anyhow::Result<Vec<(NormalizedReport, Option<u32>)>> {
    let ids: Vec<&accord_domain::ReportId> = reports.iter().map(|report| &report.id).collect();
    let partitions = store.partitions_of(&ids)?;
    Ok(reports.into_iter().zip(partitions).collect())
}

/// Whether a report placed in `partition` belongs to `owned`: every report under a fixed ownership, none that is
/// not placed otherwise.
pub(crate) fn belongs(owned: &Owned, partition: Option<u32>) -> bool {
    owned.fixed || partition.is_some_and(|partition| owned.owns(partition))
}

/// Keeps the ids of the stored reports of `owned`'s partitions ([`belongs`]), in order.
///
/// # Errors
/// A store failure.
pub(crate) fn owned_ids(
    store: &crate::store::ReportStore,
    owned: &Owned,
    ids: Vec<accord_domain::ReportId>,
) -> anyhow::Result<Vec<accord_domain::ReportId>> {
    if owned.fixed || ids.is_empty() {
        return Ok(ids);
    }
    let partitions = store.partitions_of(&ids.iter().collect::<Vec<_>>())?;
    Ok(ids
        .into_iter()
        .zip(partitions)
        .filter(|(_, partition)| belongs(owned, *partition))
        .map(|(id, _)| id)
        .collect())
}

/// Keeps the reports of `owned`'s partitions ([`belongs`]).
///
/// # Errors
/// A store failure.
pub(crate) fn owned_only(
    store: &crate::store::ReportStore,
    owned: &Owned,
    reports: Vec<NormalizedReport>,
) -> anyhow::Result<Vec<NormalizedReport>> {
    if owned.fixed || reports.is_empty() {
        return Ok(reports);
    }
    Ok(placed(store, reports)?
        .into_iter()
        .filter(|(_, partition)| belongs(owned, *partition))
        .map(|(report, _)| report)
        .collect())
}

/// Of `reports` (with their partitions) changed in the store by a task holding the ownership guard, keeps those this
/// replica publishes: the ones of the partitions it acted on when it took the guard (`acting`), and of partitions
/// assigned back and acting since ([`Partitions::forget_or_acting`]). The partitions of the others are forgotten as
/// restored and marked not evaluated ([`crate::store::ReportStore::unset_evaluated`]), so that whichever process
/// takes one over, or is assigned it back, evaluates its reports again rather than trust an evaluation made before
/// the change. (A rebalance in progress leaves a partition without an owner for a moment: a change made then would
/// otherwise be published by nobody.)
///
/// # Errors
/// A store failure.
pub(crate) async fn acting_or_forgotten(
    state: &AppState,
    acting: &Owned,
    reports: Vec<(NormalizedReport, Option<u32>)>,
) -> anyhow::Result<Vec<NormalizedReport>> {
    if acting.fixed {
        return Ok(reports.into_iter().map(|(report, _)| report).collect());
    }
    let (mut mine, others): (Vec<_>, Vec<_>) = reports
        .into_iter()
        .partition(|(_, partition)| belongs(acting, *partition));
    let changed: BTreeSet<u32> = others
        .iter()
        .filter_map(|(_, partition)| *partition)
        .collect();
    let now = state.partitions.forget_or_acting(&changed);
    let forgotten: Vec<u32> = changed.difference(&now).copied().collect();
    mine.extend(
        others
            .into_iter()
            .filter(|(_, partition)| partition.is_some_and(|partition| now.contains(&partition))),
    );
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.unset_evaluated(&forgotten)).await??;
    Ok(mine.into_iter().map(|(report, _)| report).collect())
}

/// The bus of the enforcer's stage: the bus itself, except that the stage's subscription restores the partitions
/// it takes over before delivering their records (see the module documentation).
pub(crate) struct OwnedBus {
    inner: BusClient,
    state: AppState,
}

impl OwnedBus {
    pub(crate) fn client(state: &AppState) -> BusClient {
        BusClient::new(Self {
            inner: state.deps.bus.clone(),
            state: state.clone(),
        })
    }
}

#[async_trait]
impl Bus for OwnedBus {
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        self.inner.ensure_topics(topics).await
    }

    async fn publish(&self, topic: &str, records: Vec<Record>) -> Result<Vec<Position>, BusError> {
        self.inner.publish(topic, records).await
    }

    /// The stage's subscription (`reports.normalized` in the enforcer's group) is wrapped; any other is the bus's.
    async fn subscribe(
        &self,
        options: SubscribeOptions,
    ) -> Result<Box<dyn Subscription>, BusError> {
        let stage = options.topic == topics::REPORTS_NORMALIZED
            && options.group.as_deref() == Some(self.state.config.group.as_str());
        let inner = self.inner.subscribe(options).await?;
        if !stage {
            return Ok(inner);
        }
        let ownership = inner.ownership();
        self.state.partitions.set(ownership.clone());
        Ok(Box::new(Restoring::new(
            inner,
            ownership,
            self.state.clone(),
        )))
    }

    async fn end_offsets(&self, topic: &str) -> Result<Vec<Position>, BusError> {
        self.inner.end_offsets(topic).await
    }

    async fn health(&self) -> Result<(), BusError> {
        self.inner.health().await
    }

    async fn rewind_group(&self, group: &str, topic: &str) -> Result<u64, BusError> {
        self.inner.rewind_group(group, topic).await
    }

    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<Position>, BusError> {
        self.inner.committed_offsets(group, topic).await
    }

    async fn read_partition(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
    ) -> Result<Box<dyn PartitionReader>, BusError> {
        self.inner.read_partition(topic, partition, from).await
    }

    fn max_record_bytes(&self) -> usize {
        self.inner.max_record_bytes()
    }
}

/// Per partition, the generation (`since`) it was restored for.
type Restored = HashMap<u32, u64>;

/// [`Partitions::forget_or_acting`] on the partitions `restored` and what is `owned` now.
fn forget_or_acting(
    restored: &mut Restored,
    owned: Option<&Owned>,
    partitions: &BTreeSet<u32>,
) -> BTreeSet<u32> {
    let mut acting = BTreeSet::new();
    for partition in partitions {
        let since = owned.and_then(|owned| owned.partitions.get(partition));
        if since.is_some() && restored.get(partition) == since {
            acting.insert(*partition);
        } else {
            restored.remove(partition);
        }
    }
    acting
}

/// One partition a restore task restored.
struct RestoredPartition {
    partition: u32,
    /// The offset the restore read up to (the partition's end when it began).
    end: u64,
}

/// The stage's subscription: restores the partitions it takes over before delivering (module documentation).
struct Restoring {
    inner: Box<dyn Subscription>,
    ownership: Ownership,
    state: AppState,
    /// The ownership generation last looked at.
    seen: Option<u64>,
    /// A batch read and not delivered yet: its partitions are being restored.
    held: Option<Vec<Delivery>>,
    /// The restore in progress (a task of its own: a cancelled `next_batch` leaves it running).
    restoring: Option<tokio::task::JoinHandle<Vec<RestoredPartition>>>,
    progress: progress::Progress,
}

impl Restoring {
    fn new(inner: Box<dyn Subscription>, ownership: Ownership, state: AppState) -> Self {
        Self {
            inner,
            ownership,
            progress: progress::Progress::new(state.store.clone()),
            state,
            seen: None,
            held: None,
            restoring: None,
        }
    }

    /// Looks at the ownership; when its generation moved, saves the progress of what was owned and starts the
    /// restore of the partitions not restored for their generation yet. Returns whether a restore started.
    fn look(&mut self) -> bool {
        let owned = self.ownership.owned();
        if owned.fixed || self.seen == Some(owned.generation) {
            return false;
        }
        self.seen = Some(owned.generation);
        // Nothing awaited from here to the spawn: a cancelled `next_batch` cannot skip the restore.
        self.progress.save();
        self.progress.keep(&owned);
        let wanted: Vec<(u32, u64)> = {
            let mut restored = self.state.partitions.restored();
            // A partition restored for another generation than the one it is owned with now is forgotten; one not
            // owned at this instant is kept: assigned back with the same generation (a revocation and assignment in
            // one rebalance, seen half-way), it needs no restore.
            restored.retain(|partition, since| {
                owned
                    .partitions
                    .get(partition)
                    .is_none_or(|owned_since| owned_since == since)
            });
            owned
                .partitions
                .iter()
                .filter(|(partition, since)| restored.get(partition) != Some(since))
                .map(|(partition, since)| (*partition, *since))
                .collect()
        };
        tracing::info!(generation = owned.generation, owned = ?owned.partitions.keys().collect::<Vec<_>>(),
            restoring = ?wanted.iter().map(|(partition, _)| partition).collect::<Vec<_>>(), "ownership changed");
        if wanted.is_empty() {
            return false;
        }
        let (state, ownership) = (self.state.clone(), self.ownership.clone());
        self.restoring = Some(tokio::spawn(restore::run(state, ownership, wanted)));
        true
    }
}

#[async_trait]
impl Subscription for Restoring {
    /// Delivers the inner subscription's batches, holding one back while partitions are restored. Cancel safe: the
    /// restore runs in a task of its own, and a batch read is kept until delivered.
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        loop {
            if let Some(task) = self.restoring.as_mut() {
                let outcome = task.await;
                self.restoring = None;
                match outcome {
                    Ok(restored) => {
                        for done in restored {
                            self.progress.restored(done.partition, done.end);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "a partition restore ended early; restoring again")
                    }
                }
                // Looks again: the ownership may have moved during the restore.
                self.seen = None;
                continue;
            }
            if self.look() {
                continue;
            }
            if let Some(batch) = self.held.take() {
                self.progress.delivered(&batch);
                return Ok(batch);
            }
            // An assignment or a revocation while no record arrives is noticed too.
            let seen = self.seen.unwrap_or_default();
            tokio::select! {
                batch = self.inner.next_batch(max) => self.held = Some(batch?),
                () = self.ownership.changed_from(seen) => {}
            }
        }
    }

    async fn commit(&mut self, processed: &[Position]) -> Result<(), BusError> {
        self.inner.commit(processed).await?;
        self.progress.processed(processed);
        self.progress.save_every(PROGRESS_EVERY);
        Ok(())
    }

    fn ownership(&self) -> Ownership {
        self.ownership.clone()
    }
}

/// How long a failed restore step waits before it is tried again.
const RETRY: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::store::ReportStore;

    #[test]
    fn a_partition_changed_unpublished_is_restored_again_unless_it_is_acting_now() {
        let mut restored = Restored::from([(0, 1), (1, 1), (2, 5)]);
        let owned = Owned {
            generation: 6,
            partitions: BTreeMap::from([(0, 1), (2, 6)]),
            ..Owned::default()
        };
        let acting = forget_or_acting(&mut restored, Some(&owned), &BTreeSet::from([0, 1, 2]));
        assert_eq!(
            acting,
            BTreeSet::from([0]),
            "assigned back with its generation: published now"
        );
        assert_eq!(
            restored,
            Restored::from([(0, 1)]),
            "1 (not owned) and 2 (owned anew) are restored and evaluated at their assignment"
        );
    }

    #[test]
    fn unset_evaluated_forgets_the_policy_positions_of_those_partitions_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(dir.path()).unwrap();
        let applied = accord_runtime::directory::Applied {
            directory: 3,
            mous: 4,
        };
        store
            .set_evaluated(&[0, 1], applied, chrono::Utc::now())
            .unwrap();
        store.unset_evaluated(&[1]).unwrap();
        assert!(store.evaluated(0).unwrap().is_some());
        assert!(store.evaluated(1).unwrap().is_none());
    }

    #[test]
    fn forget_applied_makes_the_next_restore_read_those_partitions_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(dir.path()).unwrap();
        store
            .raise_applied(&BTreeMap::from([(0, 10), (1, 20)]))
            .unwrap();
        store.forget_applied(&[1]).unwrap();
        assert_eq!(store.applied().unwrap(), BTreeMap::from([(0, 10)]));
    }
}
