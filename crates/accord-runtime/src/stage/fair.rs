//! The fair variant of the stage loop ([`super::run_fair`]): no partner's backlog delays another partner's records
//! by more than one batch, and no partner's heavy records hold another's light ones.
//!
//! The loop reads ahead of processing, up to [`Fairness::window`] records and [`Fairness::window_bytes`] bytes,
//! into one queue per owner (the value of the header [`Fairness::header`]: the partner). It processes up to
//! [`Fairness::lanes`] batches at once, each in a lane of its own (a clone of the stage). A batch holds the records
//! of **one owner**, in that owner's order, up to [`super::StageOptions::batch_size`] records or
//! [`Fairness::batch_bytes`] bytes (at least one record); an owner has at most one batch in progress, so its records
//! keep their order. Owners take turns round-robin: an owner whose batch finished goes behind every owner waiting.
//!
//! So a record waits, at most, for a lane to become free (while fewer owners than lanes are busy, none: a partner
//! flooding the stage holds one lane, never all of them) and then for its own batch, which holds only its own
//! owner's records: another partner's heavy records never share its batch. Reading goes on while batches are
//! processed, so a record enters the window as soon as the window has room. The gateway bounds each partner's
//! backlog below the window (per-partner admission), so one partner cannot fill it alone.
//!
//! Records are processed out of log order across owners; the subscription commits the contiguous watermark of what
//! was processed ([`accord_bus::Subscription::commit`]), so a crash re-delivers everything after the oldest record
//! not yet processed (at least once, as everywhere). Lanes run concurrently: a stage that shares state between them
//! must order what it needs ordered itself (the enforcer's evaluations share a read lock that policy changes take
//! for writing).
//!
//! A batch whose owner has more records queued behind it runs its CPU work in the background ([`crate::cpu`]): a
//! partner that keeps the stage busy shares the cores with lower priority than one whose record arrived alone. So
//! does a batch holding a record marked background upstream ([`accord_domain::topics::HEADER_PRIORITY`], set by the
//! gateway for a partner with reports in its backlog and carried by [`super::mark_priority`]): a partner whose heavy
//! reports reach a stage one at a time, never queueing there, still keeps the pipeline busy, and its work there
//! goes behind the others' as it does where it queues.
//!
//! Each lane processes one batch at a time, with the retry rule of the plain loop (a failed batch is offered again
//! after a backoff, never skipped). A processed batch frees its lane and its owner at once and is made durable off
//! the lane ([`Stage::durable`]; the indexer's sync), its offsets committed once that returns: the owner's next
//! batch does not wait for the sync. On shutdown the batches in progress are finished and committed.

use std::collections::{HashMap, HashSet, VecDeque};

use accord_bus::{BusClient, Delivery, Position, Subscription};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Lag, Retry, Stage, StageOptions, commit, durable_until_done, process_until_done};
use crate::{cpu, metrics as names};

/// How a stage shares its work between owners; see the module documentation.
#[derive(Debug, Clone)]
pub struct Fairness {
    /// The header naming a record's owner (records without it share one queue).
    pub header: &'static str,
    /// The most records read ahead of processing (the batches in progress included).
    pub window: usize,
    /// The most payload bytes read ahead of processing: reading pauses above it.
    pub window_bytes: usize,
    /// A batch closes once it holds this many payload bytes (it always holds at least one record).
    pub batch_bytes: usize,
    /// Batches processed at once, each of one owner (at least 1).
    pub lanes: usize,
}

/// The value of `header` on a delivery's record (its owner).
pub(crate) fn header_value<'a>(delivery: &'a Delivery, header: &str) -> Option<&'a str> {
    delivery
        .record
        .headers
        .iter()
        .find(|(name, _)| name == header)
        .map(|(_, value)| value.as_str())
}

/// Whether an earlier stage (or the gateway) marked the delivery's record as a backlogged partner's
/// ([`accord_domain::topics::HEADER_PRIORITY`]).
fn marked_background(delivery: &Delivery) -> bool {
    header_value(delivery, accord_domain::topics::HEADER_PRIORITY)
        == Some(accord_domain::topics::PRIORITY_BACKGROUND)
}

/// One owner's batch, taken from the [`Scheduler`].
#[derive(Debug)]
pub(crate) struct OwnedBatch {
    pub(crate) owner: String,
    pub(crate) deliveries: Vec<Delivery>,
    /// Whether the owner had more records queued behind this batch when it was taken, or an earlier stage marked one
    /// of its records as a backlogged partner's ([`accord_domain::topics::HEADER_PRIORITY`]): its CPU work then runs
    /// in the background ([`crate::cpu`]).
    pub(crate) backlogged: bool,
}

impl OwnedBatch {
    fn bytes(&self) -> usize {
        self.deliveries
            .iter()
            .map(|delivery| delivery.record.payload.len())
            .sum()
    }
}

/// The records read and not yet handed to processing, one queue per owner; owners without a batch in progress take
/// turns.
#[derive(Debug, Default)]
pub(crate) struct Scheduler {
    queues: HashMap<String, VecDeque<Delivery>>,
    /// Owners with queued records and no batch in progress, in turn order.
    turns: VecDeque<String>,
    /// Owners with a batch in progress.
    busy: HashSet<String>,
    records: usize,
    bytes: usize,
}

impl Scheduler {
    /// Queues deliveries behind their owner's earlier ones.
    pub(crate) fn add(&mut self, header: &str, deliveries: Vec<Delivery>) {
        for delivery in deliveries {
            let owner = header_value(&delivery, header)
                .unwrap_or_default()
                .to_owned();
            self.records += 1;
            self.bytes += delivery.record.payload.len();
            let queue = self.queues.entry(owner.clone()).or_default();
            if queue.is_empty() && !self.busy.contains(&owner) {
                self.turns.push_back(owner);
            }
            queue.push_back(delivery);
        }
    }

    /// Takes the next owner's batch — its records in order, until `max_records` or `max_bytes` (at least one) — and
    /// marks the owner busy until [`Scheduler::release`]. `None` when no owner is waiting.
    pub(crate) fn take(&mut self, max_records: usize, max_bytes: usize) -> Option<OwnedBatch> {
        let (owner, queue) = loop {
            let owner = self.turns.pop_front()?;
            if let Some(queue) = self.queues.get_mut(&owner) {
                break (owner, queue);
            }
        };
        let mut deliveries = Vec::new();
        let mut bytes = 0;
        while deliveries.len() < max_records.max(1) && (deliveries.is_empty() || bytes < max_bytes)
        {
            let Some(delivery) = queue.pop_front() else {
                break;
            };
            bytes += delivery.record.payload.len();
            deliveries.push(delivery);
        }
        let queued = !queue.is_empty();
        if !queued {
            self.queues.remove(&owner);
        }
        let backlogged = queued || deliveries.iter().any(marked_background);
        self.records -= deliveries.len();
        self.bytes -= bytes;
        self.busy.insert(owner.clone());
        Some(OwnedBatch {
            owner,
            deliveries,
            backlogged,
        })
    }

    /// Ends `owner`'s batch in progress: with records still queued, it takes its turn behind the owners waiting.
    pub(crate) fn release(&mut self, owner: &str) {
        self.busy.remove(owner);
        if self.queues.contains_key(owner) {
            self.turns.push_back(owner.to_owned());
        }
    }
}

/// What a lane answers for a batch: the owner, the batch's size, and the positions processed (`None` when shutdown
/// interrupted the retries: nothing of it is committed).
struct Finished {
    lane: usize,
    owner: String,
    records: usize,
    bytes: usize,
    processed: Option<Vec<Position>>,
}

/// A processed batch once [`Stage::durable`] returned for it: its offsets may be committed.
struct Durable {
    records: usize,
    bytes: usize,
    /// `None` when shutdown interrupted the retries.
    positions: Option<Vec<Position>>,
}

/// The lanes and what the loop knows of the batches they hold.
struct Lanes {
    senders: Vec<mpsc::Sender<OwnedBatch>>,
    /// The lanes' tasks: one that ends while the stage runs (a panic in the stage) stops the stage, so that no
    /// owner stays marked busy for ever.
    tasks: tokio::task::JoinSet<()>,
    idle: Vec<usize>,
    done: mpsc::Receiver<Finished>,
    /// Processed batches being made durable ([`Stage::durable`]), off the lanes: a lane takes the next batch meanwhile.
    durables: tokio::task::JoinSet<Durable>,
    /// Records and bytes in the lanes and in `durables`.
    records: usize,
    bytes: usize,
}

impl Lanes {
    fn busy(&self) -> usize {
        self.senders.len() - self.idle.len()
    }
}

/// Runs a stage fairly; see the module documentation. Returns when shutdown is asked (after the batches in
/// progress).
pub(super) async fn run<S: Stage + Clone + 'static>(
    bus: BusClient,
    options: StageOptions,
    fairness: Fairness,
    stage: S,
    mut subscription: Box<dyn Subscription>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut lanes = spawn_lanes(&stage, fairness.lanes.max(1), &options, &shutdown);
    let mut scheduler = Scheduler::default();
    let mut lag = Lag::new(options.name, options.topic);
    let mut reads = Retry::new(options.name, "read batch");
    loop {
        dispatch(&mut scheduler, &mut lanes, &options, &fairness).await?;
        let room = fairness
            .window
            .saturating_sub(scheduler.records + lanes.records);
        let can_read = room > 0 && scheduler.bytes + lanes.bytes < fairness.window_bytes;
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(ended) = lanes.tasks.join_next() => {
                anyhow::bail!("a processing lane of stage `{}` ended: {ended:?}", options.name);
            }
            Some(finished) = lanes.done.recv() => {
                free_lane(finished, &mut scheduler, &mut lanes, &stage, &options, &shutdown);
            }
            Some(durable) = lanes.durables.join_next() => {
                let durable = durable.map_err(|ended| {
                    anyhow::anyhow!("making a batch of stage `{}` durable failed: {ended:?}", options.name)
                })?;
                match settle(durable, &mut lanes, subscription.as_mut(), &options, &shutdown).await {
                    Some(processed) => lag.processed_positions(&bus, &processed).await,
                    None => break,
                }
            }
            read = subscription.next_batch(room), if can_read => match read {
                Ok(deliveries) => {
                    reads.succeeded();
                    scheduler.add(fairness.header, deliveries);
                }
                Err(error) => reads.failed(&error, &shutdown).await,
            },
        }
    }
    finish(
        subscription.as_mut(),
        &mut scheduler,
        &mut lanes,
        &stage,
        &options,
        &shutdown,
    )
    .await;
    tracing::info!(stage = options.name, "stage stopped");
    Ok(())
}

/// Hands a batch to every idle lane while owners are waiting.
async fn dispatch(
    scheduler: &mut Scheduler,
    lanes: &mut Lanes,
    options: &StageOptions,
    fairness: &Fairness,
) -> anyhow::Result<()> {
    while let Some(&lane) = lanes.idle.last() {
        let Some(batch) = scheduler.take(options.batch_size, fairness.batch_bytes) else {
            break;
        };
        lanes.idle.pop();
        lanes.records += batch.deliveries.len();
        lanes.bytes += batch.bytes();
        metrics::counter!(names::STAGE_RECEIVED, names::STAGE => options.name)
            .increment(batch.deliveries.len() as u64);
        metrics::gauge!(names::STAGE_IN_FLIGHT, names::STAGE => options.name)
            .set(lanes.records as f64);
        if lanes.senders[lane].send(batch).await.is_err() {
            anyhow::bail!("a processing lane of stage `{}` stopped", options.name);
        }
    }
    Ok(())
}

/// Takes back a lane once its batch is processed: the lane and the owner are free for their next batches, and the
/// batch is made durable off the lane ([`Stage::durable`]), its offsets committed once that is done ([`settle`]).
fn free_lane<S: Stage + Clone + 'static>(
    finished: Finished,
    scheduler: &mut Scheduler,
    lanes: &mut Lanes,
    stage: &S,
    options: &StageOptions,
    shutdown: &CancellationToken,
) {
    lanes.idle.push(finished.lane);
    scheduler.release(&finished.owner);
    let (records, bytes) = (finished.records, finished.bytes);
    let Some(positions) = finished.processed else {
        lanes.records -= records;
        lanes.bytes -= bytes;
        return;
    };
    let (mut stage, options, shutdown) = (stage.clone(), options.clone(), shutdown.clone());
    lanes.durables.spawn(async move {
        let durable = durable_until_done(&mut stage, &options, &shutdown).await;
        Durable {
            records,
            bytes,
            positions: durable.then_some(positions),
        }
    });
}

/// Commits a durable batch's offsets; returns the positions committed, or `None` when shutdown interrupted making it
/// durable or the commit (nothing of the batch is committed).
async fn settle(
    durable: Durable,
    lanes: &mut Lanes,
    subscription: &mut dyn Subscription,
    options: &StageOptions,
    shutdown: &CancellationToken,
) -> Option<Vec<Position>> {
    lanes.records -= durable.records;
    lanes.bytes -= durable.bytes;
    metrics::gauge!(names::STAGE_IN_FLIGHT, names::STAGE => options.name).set(lanes.records as f64);
    let processed = durable.positions?;
    if !commit(subscription, &processed, options, shutdown).await {
        return None;
    }
    metrics::counter!(names::STAGE_SENT, names::STAGE => options.name)
        .increment(processed.len() as u64);
    metrics::counter!(names::STAGE_BATCHES, names::STAGE => options.name).increment(1);
    Some(processed)
}

/// On shutdown: waits for the batches in progress and commits those that were processed and made durable.
async fn finish<S: Stage + Clone + 'static>(
    subscription: &mut dyn Subscription,
    scheduler: &mut Scheduler,
    lanes: &mut Lanes,
    stage: &S,
    options: &StageOptions,
    shutdown: &CancellationToken,
) {
    while lanes.busy() > 0 || !lanes.durables.is_empty() {
        tokio::select! {
            finished = lanes.done.recv(), if lanes.busy() > 0 => {
                let Some(finished) = finished else { return };
                free_lane(finished, scheduler, lanes, stage, options, shutdown);
            }
            Some(durable) = lanes.durables.join_next() => {
                let Ok(durable) = durable else { return };
                settle(durable, lanes, subscription, options, shutdown).await;
            }
            // A lane that ended (a panic) never answers: its batch is not committed.
            Some(_) = lanes.tasks.join_next() => return,
        }
    }
}

/// Spawns `count` lanes, each a task with its own clone of the stage processing one batch at a time.
fn spawn_lanes<S: Stage + Clone + 'static>(
    stage: &S,
    count: usize,
    options: &StageOptions,
    shutdown: &CancellationToken,
) -> Lanes {
    let (results, done) = mpsc::channel(count);
    let mut senders = Vec::with_capacity(count);
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..count {
        let (sender, mut incoming) = mpsc::channel::<OwnedBatch>(1);
        senders.push(sender);
        let (mut stage, options, shutdown, results) = (
            stage.clone(),
            options.clone(),
            shutdown.clone(),
            results.clone(),
        );
        tasks.spawn(async move {
            while let Some(batch) = incoming.recv().await {
                let priority = cpu::Priority::of_backlog(batch.backlogged);
                let processing =
                    process_until_done(&mut stage, &batch.deliveries, &options, &shutdown);
                let processed = cpu::scope(priority, processing).await.then(|| {
                    batch
                        .deliveries
                        .iter()
                        .map(|delivery| delivery.position)
                        .collect()
                });
                let finished = Finished {
                    lane,
                    records: batch.deliveries.len(),
                    bytes: batch.bytes(),
                    owner: batch.owner,
                    processed,
                };
                if results.send(finished).await.is_err() {
                    return;
                }
            }
        });
    }
    Lanes {
        senders,
        tasks,
        idle: (0..count).rev().collect(),
        done,
        durables: tokio::task::JoinSet::new(),
        records: 0,
        bytes: 0,
    }
}

#[cfg(test)]
mod tests;
