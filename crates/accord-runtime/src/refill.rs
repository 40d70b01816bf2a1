//! Refilling a derived store from the bus (decision 0071): the one way a service rebuilds a store whose content it
//! derives from bus topics (the enforcer's reports, the gateway's statuses, search's sightings and revocations) after
//! [`crate::store::HealingDatabase::open_derived`] set its damaged file aside.
//!
//! The contract:
//! - **Asked for durably.** The store's open leaves a `<file>.refill` marker with an id
//!   ([`accord_bus::redb_file::open_or_set_aside`]); it is removed only once the refill is done. A refill interrupted
//!   by a crash or a shutdown resumes at the next start, with the same consumer group.
//! - **Its own consumer group**, `<group>-refill-<id>` (one per topic, `<group>-refill-<id>.<topic>`, when it reads
//!   several), which starts at the beginning of each topic on every bus (a new group; Kafka's
//!   `auto.offset.reset=earliest`). The service's live group is not touched, so this works on
//!   Kafka as on the embedded bus, and the live consumer resumes where it was once the refill is done.
//! - **Store only.** The refill's followers write what each record means for the store and publish nothing: a
//!   replay must not release an old version of a report again, or count anything twice downstream.
//! - **Up to the end offsets read when it starts**, on every topic ([`caught_up`]); the records the live group then
//!   reads again are applied a second time, which every derived store makes idempotent (a report replaced by itself,
//!   a record id marked applied).
//! - **Before the live tasks.** Every task that reads or writes the store waits behind the [`Gate`] until the refill
//!   is done; `/readyz` answers `<store> rebuilding (n of m)` (records replayed of those to replay) meanwhile.

use std::{
    future::Future,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use accord_bus::{BusClient, Delivery, Position};
use async_trait::async_trait;
use tokio::{sync::watch, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    health::Health,
    stage::{self, Stage, StageOptions},
};

/// How often a running refill compares its group's committed offsets with the end offsets it started at.
const CHECK: Duration = Duration::from_millis(200);

/// Returns whether `committed` reaches `ends` on every partition (a partition missing from `committed` is at 0).
pub fn caught_up(committed: &[Position], ends: &[Position]) -> bool {
    ends.iter().all(|end| {
        end.offset == 0
            || committed.iter().any(|position| {
                position.partition == end.partition && position.offset >= end.offset
            })
    })
}

/// A store that must be refilled, as its open found it ([`crate::store::HealingDatabase::open_derived`]).
///
/// [`crate::store::HealingDatabase::open_derived`]: crate::store::HealingDatabase::open_derived
#[derive(Debug, Clone)]
pub struct Pending {
    /// The store's name (`enforcer store`), as `/readyz` names it.
    pub store: &'static str,
    /// The store's file.
    pub path: PathBuf,
    /// The refill's id, kept in the file's marker.
    pub id: String,
}

/// One topic a refill replays, and what applies its records to the store (publishing nothing).
pub struct Follower {
    /// The stage name in logs and metrics (`enforcer-refill`).
    pub name: &'static str,
    /// The topic.
    pub topic: &'static str,
    /// What applies a batch to the store.
    pub stage: Box<dyn Stage>,
}

/// What the store's live tasks wait behind: open at once when there is nothing to refill.
#[derive(Clone)]
pub struct Gate(Option<watch::Receiver<bool>>);

impl Gate {
    /// Runs `task` once the refill is done. When the refill stops without finishing (shutdown, or its failure,
    /// which stops the process), returns `Ok` without running it.
    ///
    /// # Errors
    /// As `task`.
    pub async fn then<F>(self, task: F) -> anyhow::Result<()>
    where
        F: Future<Output = anyhow::Result<()>>,
    {
        if let Some(mut done) = self.0
            && done.wait_for(|done| *done).await.is_err()
        {
            return Ok(());
        }
        task.await
    }
}

/// A refill to run (see the module documentation).
pub struct Refill {
    pending: Pending,
    group: String,
    health: Health,
    done: watch::Sender<bool>,
}

/// Prepares the refill of a store whose open found one `pending`: returns the gate its live tasks wait behind and
/// the refill, whose consumer group is `<group>-refill-<id>`. `/readyz` says the store is rebuilding from now on.
/// Nothing pending: an open gate and no refill.
pub fn prepare(pending: Option<Pending>, group: &str, health: &Health) -> (Gate, Option<Refill>) {
    let Some(pending) = pending else {
        return (Gate(None), None);
    };
    let (done, ready) = watch::channel(false);
    health.progress(pending.store, "rebuilding (starting)");
    let refill = Refill {
        group: format!("{group}-refill-{}", pending.id),
        pending,
        health: health.clone(),
        done,
    };
    (Gate(Some(ready)), Some(refill))
}

/// Runs `refill` if there is one, then `live` once it is done (see [`Refill::run`]); returns `Ok` at shutdown.
///
/// # Errors
/// As [`Refill::run`], then as `live`.
pub async fn then<F>(
    refill: Option<Refill>,
    bus: &BusClient,
    followers: impl FnOnce() -> Vec<Follower>,
    shutdown: &CancellationToken,
    live: F,
) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>>,
{
    if let Some(refill) = refill
        && !refill.run(bus, followers(), shutdown).await?
    {
        return Ok(());
    }
    live.await
}

/// Returns a follower of one topic that derives a store, to run until `shutdown`: when the store must be refilled
/// (`pending`), a refill with a stage made by `make` first (named `refill_name`), then the live stage with `options`.
/// `/readyz` says the store is rebuilding from this call on.
///
/// # Errors
/// As [`then`] and [`stage::run`].
pub fn follow<S, F>(
    bus: BusClient,
    options: StageOptions,
    refill_name: &'static str,
    pending: Option<Pending>,
    health: &Health,
    make: F,
    shutdown: CancellationToken,
) -> impl Future<Output = anyhow::Result<()>> + use<S, F>
where
    S: Stage + 'static,
    F: Fn() -> S + Send + 'static,
{
    let (_, refill) = prepare(pending, &options.group, health);
    async move {
        let followers = || {
            vec![Follower {
                name: refill_name,
                topic: options.topic,
                stage: Box::new(make()),
            }]
        };
        let live = stage::run(bus.clone(), options.clone(), make(), shutdown.clone());
        then(refill, &bus, followers, &shutdown, live).await
    }
}

impl Refill {
    /// Replays every follower's topic from its start up to its end offsets read now, then removes the store's
    /// marker and opens the gate. Returns `false` when `shutdown` came first (the refill resumes at the next start).
    ///
    /// # Errors
    /// When the bus cannot be read, a follower's stage stops, or the marker cannot be removed.
    pub async fn run(
        self,
        bus: &BusClient,
        followers: Vec<Follower>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<bool> {
        let store = self.pending.store;
        let topics: Vec<&'static str> = followers.iter().map(|follower| follower.topic).collect();
        let groups = Groups {
            group: self.group.clone(),
            per_topic: topics.len() > 1,
        };
        let mut ends = Vec::with_capacity(topics.len());
        let mut target = 0u64;
        for topic in topics {
            let end = bus.end_offsets(topic).await?;
            let committed = bus.committed_offsets(&groups.of(topic), topic).await?;
            target += sum(&end).saturating_sub(sum(&committed));
            ends.push((topic, end));
        }
        tracing::warn!(
            store,
            group = self.group,
            records = target,
            "refilling the store from the bus"
        );
        let progress = Arc::new(Progress {
            store,
            health: self.health.clone(),
            target,
            processed: AtomicU64::new(0),
        });
        progress.report(0);
        let stop = shutdown.child_token();
        let _stop_on_return = stop.clone().drop_guard();
        let mut stages = JoinSet::new();
        for follower in followers {
            let options = StageOptions {
                name: follower.name,
                topic: follower.topic,
                group: groups.of(follower.topic),
                batch_size: 1024,
                linger: Duration::ZERO,
            };
            let counted = Counted {
                inner: follower.stage,
                progress: Arc::clone(&progress),
            };
            stages.spawn(stage::run(bus.clone(), options, counted, stop.clone()));
        }
        if !self
            .wait(bus, &groups, &ends, &mut stages, shutdown)
            .await?
        {
            return Ok(false);
        }
        stop.cancel();
        while let Some(ended) = stages.join_next().await {
            ended??;
        }
        accord_bus::redb_file::refill_done(&self.pending.path)?;
        self.health.done(store);
        tracing::warn!(store, records = target, "store refilled from the bus");
        let _ = self.done.send(true);
        Ok(true)
    }

    /// Waits until the refill's group has caught up with `ends` on every topic (`true`) or shutdown (`false`).
    async fn wait(
        &self,
        bus: &BusClient,
        groups: &Groups,
        ends: &[(&'static str, Vec<Position>)],
        stages: &mut JoinSet<anyhow::Result<()>>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<bool> {
        loop {
            tokio::select! {
                Some(ended) = stages.join_next() => {
                    let cause = match ended {
                        Ok(Ok(())) => "it stopped".to_owned(),
                        Ok(Err(error)) => format!("{error:#}"),
                        Err(join) => join.to_string(),
                    };
                    anyhow::bail!("the refill of the {} stopped before it was done: {cause}", self.pending.store);
                }
                () = shutdown.cancelled() => return Ok(false),
                () = tokio::time::sleep(CHECK) => {}
            }
            let mut done = true;
            for (topic, end) in ends {
                if !caught_up(&bus.committed_offsets(&groups.of(topic), topic).await?, end) {
                    done = false;
                    break;
                }
            }
            if done {
                return Ok(true);
            }
        }
    }
}

/// The refill's consumer groups: `<group>-refill-<id>` for a refill of one topic, and one group per topic,
/// `<group>-refill-<id>.<topic>`, for a refill of several, so that no group has members on different topics (on
/// tansu 0.6 such a group was seen leaving some of its members without partitions; decision 0082).
struct Groups {
    group: String,
    per_topic: bool,
}

impl Groups {
    fn of(&self, topic: &str) -> String {
        match self.per_topic {
            true => format!("{}.{topic}", self.group),
            false => self.group.clone(),
        }
    }
}

fn sum(positions: &[Position]) -> u64 {
    positions.iter().map(|position| position.offset).sum()
}

/// Counts a refill's records for `/readyz`.
struct Progress {
    store: &'static str,
    health: Health,
    target: u64,
    processed: AtomicU64,
}

impl Progress {
    fn report(&self, records: usize) {
        let processed =
            self.processed.fetch_add(records as u64, Ordering::Relaxed) + records as u64;
        self.health.progress(
            self.store,
            format!(
                "rebuilding ({} of {})",
                processed.min(self.target),
                self.target
            ),
        );
    }
}

/// A follower's stage, counting what it applies.
struct Counted {
    inner: Box<dyn Stage>,
    progress: Arc<Progress>,
}

#[async_trait]
impl Stage for Counted {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        self.inner.process(batch).await?;
        self.progress.report(batch.len());
        Ok(())
    }

    async fn durable(&mut self) -> anyhow::Result<()> {
        self.inner.durable().await
    }
}

#[cfg(test)]
#[path = "refill_tests.rs"]
mod tests;
