//! The fair variant of the stage loop ([`super::run`] with [`Fairness`]): no partner's backlog delays another
//! partner's records by more than one batch.
//!
//! The loop reads ahead of processing, up to [`Fairness::window`] records and [`Fairness::window_bytes`] bytes,
//! into one queue per owner (the value of the header [`Fairness::header`]: the partner). Each batch is made
//! round-robin, one record per owner in turn — the turn goes on from batch to batch — until it holds
//! [`super::StageOptions::batch_size`] records or [`Fairness::batch_bytes`] bytes; each owner's records keep their
//! order. So a record waits behind at most the batch in progress and, in its own batch, one record of each other
//! owner with records in the window; reading goes on while a batch is processed, so it enters the window as soon
//! as the window has room. The gateway bounds each partner's backlog below the window (per-partner admission), so
//! one partner cannot fill it alone.
//!
//! Records are processed out of log order across owners; the subscription commits the contiguous watermark of what
//! was processed ([`accord_bus::Subscription::commit`]), so a crash re-delivers everything after the oldest record
//! not yet processed (at least once, as everywhere).
//!
//! Processing runs in a task of its own, one batch at a time, with the retry rule of the plain loop (a failed batch
//! is offered again after a backoff, never skipped). On shutdown the batch in progress is finished and committed.

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use accord_bus::{BusClient, Delivery, Position, Subscription};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Lag, Stage, StageOptions, commit, process_until_done, sleep_or_stop};
use crate::{metrics as names, telemetry::ErrorChain};

/// How a stage shares its work between owners; see the module documentation.
#[derive(Debug, Clone)]
pub struct Fairness {
    /// The header naming a record's owner (records without it share one queue).
    pub header: &'static str,
    /// The most records read ahead of processing (the batch in progress included).
    pub window: usize,
    /// The most payload bytes read ahead of processing: reading pauses above it.
    pub window_bytes: usize,
    /// A batch closes once it holds this many payload bytes (it always holds at least one record).
    pub batch_bytes: usize,
}

/// The records read and not yet handed to processing, one queue per owner, served round-robin.
#[derive(Debug, Default)]
pub(crate) struct Scheduler {
    queues: HashMap<String, VecDeque<Delivery>>,
    /// Owners with queued records, in turn order.
    turns: VecDeque<String>,
    records: usize,
    bytes: usize,
}

impl Scheduler {
    /// Queues deliveries behind their owner's earlier ones.
    pub(crate) fn add(&mut self, header: &str, deliveries: Vec<Delivery>) {
        for delivery in deliveries {
            let owner = delivery
                .record
                .headers
                .iter()
                .find(|(name, _)| name == header)
                .map(|(_, value)| value.clone())
                .unwrap_or_default();
            self.records += 1;
            self.bytes += delivery.record.payload.len();
            let queue = self.queues.entry(owner.clone()).or_default();
            if queue.is_empty() {
                self.turns.push_back(owner);
            }
            queue.push_back(delivery);
        }
    }

    /// Takes the next batch: one record per owner in turn, until `max_records` or `max_bytes` (at least one record).
    pub(crate) fn take(&mut self, max_records: usize, max_bytes: usize) -> Vec<Delivery> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < max_records.max(1) && (batch.is_empty() || bytes < max_bytes) {
            let Some(owner) = self.turns.pop_front() else {
                break;
            };
            let Some(queue) = self.queues.get_mut(&owner) else {
                continue;
            };
            let Some(delivery) = queue.pop_front() else {
                continue;
            };
            if queue.is_empty() {
                self.queues.remove(&owner);
            } else {
                self.turns.push_back(owner);
            }
            bytes += delivery.record.payload.len();
            self.records -= 1;
            self.bytes -= delivery.record.payload.len();
            batch.push(delivery);
        }
        batch
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records == 0
    }
}

/// What the loop knows of the batch the processing task has.
struct InProgress {
    records: usize,
    bytes: usize,
}

/// Runs a stage fairly; see the module documentation. Returns when shutdown is asked (after the batch in progress).
pub(super) async fn run(
    bus: BusClient,
    options: StageOptions,
    fairness: Fairness,
    stage: impl Stage + 'static,
    mut subscription: Box<dyn Subscription>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (batches, mut done) = spawn_processing(stage, options.clone(), shutdown.clone());
    let mut scheduler = Scheduler::default();
    let mut in_progress: Option<InProgress> = None;
    let mut lag = Lag::new(options.name, options.topic);
    let mut backoff = Duration::from_millis(50);
    loop {
        if in_progress.is_none() && !scheduler.is_empty() {
            let batch = scheduler.take(options.batch_size, fairness.batch_bytes);
            in_progress = Some(InProgress {
                records: batch.len(),
                bytes: batch
                    .iter()
                    .map(|delivery| delivery.record.payload.len())
                    .sum(),
            });
            metrics::counter!(names::STAGE_RECEIVED, names::STAGE => options.name)
                .increment(batch.len() as u64);
            metrics::gauge!(names::STAGE_IN_FLIGHT, names::STAGE => options.name)
                .set(batch.len() as f64);
            if batches.send(batch).await.is_err() {
                anyhow::bail!("the processing task of stage `{}` stopped", options.name);
            }
        }
        let (held_records, held_bytes) = in_progress
            .as_ref()
            .map_or((0, 0), |batch| (batch.records, batch.bytes));
        let room = fairness
            .window
            .saturating_sub(scheduler.records + held_records);
        let can_read = room > 0 && scheduler.bytes + held_bytes < fairness.window_bytes;
        tokio::select! {
            () = shutdown.cancelled() => break,
            finished = done.recv() => {
                in_progress = None;
                metrics::gauge!(names::STAGE_IN_FLIGHT, names::STAGE => options.name).set(0.0);
                let Some(Some(processed)) = finished else {
                    // Interrupted by shutdown: nothing of that batch is committed.
                    return Ok(());
                };
                if !commit(subscription.as_mut(), &processed, &options, &shutdown).await {
                    return Ok(());
                }
                metrics::counter!(names::STAGE_SENT, names::STAGE => options.name)
                    .increment(processed.len() as u64);
                metrics::counter!(names::STAGE_BATCHES, names::STAGE => options.name).increment(1);
                lag.processed_positions(&bus, &processed).await;
            }
            read = subscription.next_batch(room), if can_read => match read {
                Ok(deliveries) => {
                    backoff = Duration::from_millis(50);
                    scheduler.add(fairness.header, deliveries);
                }
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), stage = options.name, "failed to read batch, retrying");
                    sleep_or_stop(&shutdown, backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            },
        }
    }
    finish(
        subscription.as_mut(),
        &mut done,
        in_progress.is_some(),
        &options,
        &shutdown,
    )
    .await;
    tracing::info!(stage = options.name, "stage stopped");
    Ok(())
}

/// On shutdown: waits for the batch in progress, if any, and commits it when it was processed.
async fn finish(
    subscription: &mut dyn Subscription,
    done: &mut mpsc::Receiver<Option<Vec<Position>>>,
    in_progress: bool,
    options: &StageOptions,
    shutdown: &CancellationToken,
) {
    if !in_progress {
        return;
    }
    if let Some(Some(processed)) = done.recv().await {
        commit(subscription, &processed, options, shutdown).await;
    }
}

/// Spawns the task that processes one batch at a time: it answers each with the positions processed, or `None` when
/// shutdown interrupted the retries.
fn spawn_processing(
    mut stage: impl Stage + 'static,
    options: StageOptions,
    shutdown: CancellationToken,
) -> (
    mpsc::Sender<Vec<Delivery>>,
    mpsc::Receiver<Option<Vec<Position>>>,
) {
    let (batches, mut incoming) = mpsc::channel::<Vec<Delivery>>(1);
    let (results, done) = mpsc::channel(1);
    tokio::spawn(async move {
        while let Some(batch) = incoming.recv().await {
            let processed = process_until_done(&mut stage, &batch, &options, &shutdown)
                .await
                .then(|| batch.iter().map(|delivery| delivery.position).collect());
            if results.send(processed).await.is_err() {
                return;
            }
        }
    });
    (batches, done)
}

#[cfg(test)]
mod tests {
    use accord_bus::Record;

    use super::*;

    fn delivery(owner: &str, offset: u64, bytes: usize) -> Delivery {
        let mut record = Record::new(format!("r{offset}"), vec![b'x'; bytes]);
        record.headers.push(("owner".to_owned(), owner.to_owned()));
        Delivery {
            topic: "t".to_owned(),
            position: Position {
                partition: 0,
                offset,
            },
            record,
        }
    }

    fn offsets(batch: &[Delivery]) -> Vec<u64> {
        batch
            .iter()
            .map(|delivery| delivery.position.offset)
            .collect()
    }

    #[test]
    fn a_backlog_gets_one_record_per_turn_and_the_turn_goes_on_between_batches() {
        let mut scheduler = Scheduler::default();
        // `a` has a backlog of 6 records; `b` and `c` one each, read after it.
        let backlog: Vec<Delivery> = (0..6).map(|n| delivery("a", n, 10)).collect();
        scheduler.add("owner", backlog);
        scheduler.add("owner", vec![delivery("b", 6, 10), delivery("c", 7, 10)]);
        assert_eq!(offsets(&scheduler.take(4, usize::MAX)), [0, 6, 7, 1]);
        // `a` keeps its order.
        assert_eq!(offsets(&scheduler.take(4, usize::MAX)), [2, 3, 4, 5]);
        assert!(scheduler.is_empty());
    }

    #[test]
    fn a_batch_closes_at_its_byte_bound_and_holds_at_least_one_record() {
        let mut scheduler = Scheduler::default();
        scheduler.add(
            "owner",
            vec![
                delivery("a", 0, 1000),
                delivery("b", 1, 10),
                delivery("a", 2, 10),
            ],
        );
        // The first record alone goes over the bound: the batch is that record.
        assert_eq!(offsets(&scheduler.take(100, 100)), [0]);
        assert_eq!(offsets(&scheduler.take(100, 100)), [1, 2]);
        // Records without the header share one queue.
        let mut plain = Record::new("k", vec![1]);
        plain.headers.clear();
        scheduler.add(
            "owner",
            vec![Delivery {
                topic: "t".to_owned(),
                position: Position {
                    partition: 0,
                    offset: 3,
                },
                record: plain,
            }],
        );
        assert_eq!(offsets(&scheduler.take(100, 100)), [3]);
    }
}
