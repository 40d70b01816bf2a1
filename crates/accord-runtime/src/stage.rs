//! The at-least-once consumer loop shared by the pipeline stages (normalizer, enforcer, indexer).
//!
//! Order of work for every batch: read → process (which writes downstream and waits for the sink to confirm) →
//! commit the bus offsets. A failed batch is retried with backoff and never skipped: a record is committed only after
//! it was processed. Every retry follows [`crate::retry`]: exponential backoff with jitter up to 5 s, one WARN when
//! a read, a batch or a commit starts failing and one INFO when it recovers, not a line per attempt. A record that can never be processed is the stage's to turn into a rejection (dead letter);
//! the loop itself never drops anything.
//!
//! Every stage reports the same metrics ([`crate::metrics`]): records received, sent (committed), dropped
//! (undecodable), processing errors, the records in flight and the lag behind the bus head.

use std::time::Duration;

use accord_bus::{BusClient, Delivery, Position, SubscribeOptions};
use anyhow::Context as _;
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::{
    metrics as names,
    retry::{Backoff, Trouble},
    telemetry::ErrorChain,
};

mod dead_letter;
mod fair;

pub use dead_letter::{
    PublishOutcome, RefusedRecord, publish_dead_letters, publish_or_refuse, rejection_record,
};
pub use fair::Fairness;

/// One pipeline stage's processing step.
#[async_trait]
pub trait Stage: Send {
    /// Processes a batch in order. Returning `Ok` means every record's effects are visible downstream, and durable
    /// once [`Stage::durable`] returns `Ok`.
    ///
    /// # Errors
    /// A transient failure: the same batch is offered again after a backoff.
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()>;

    /// Makes the effects of the batches processed so far durable; the batch's offsets are committed only after it
    /// returns `Ok`. The default does nothing: most stages' effects are durable when `process` returns (a publish
    /// returns once the bus holds it). A sink whose writes are visible before they are durable (the indexer: searchable
    /// at commit, synced by a persist) syncs here, so that the fair loop ([`Fairness`]) can give the owner's next batch
    /// to a lane while this one syncs.
    ///
    /// # Errors
    /// A transient failure: retried after a backoff (the batch is not processed again).
    async fn durable(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A boxed stage is a stage: services that build their followers as a list (the gateway's status followers, the
/// refill of a derived store) run them alike.
#[async_trait]
impl Stage for Box<dyn Stage> {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        (**self).process(batch).await
    }

    async fn durable(&mut self) -> anyhow::Result<()> {
        (**self).durable().await
    }
}

/// How a stage consumes.
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// Stage name (logs, metrics).
    pub name: &'static str,
    /// Input topic.
    pub topic: &'static str,
    /// Consumer group.
    pub group: String,
    /// Largest batch.
    pub batch_size: usize,
    /// After the first record of a batch arrives, how long to keep gathering more before processing: a sink with a
    /// per-batch cost (an index commit) trades this much latency for fewer, larger batches. Zero processes at once.
    /// Not used by [`run_fair`].
    pub linger: Duration,
}

/// Runs `stage` until `shutdown` is cancelled. Stops between batches: an in-flight batch is finished and committed.
///
/// # Errors
/// Returns an error when the subscription cannot be opened.
pub async fn run(
    bus: BusClient,
    options: StageOptions,
    mut stage: impl Stage + 'static,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut subscription = subscribe(&bus, &options).await?;
    tracing::info!(stage = options.name, topic = options.topic, "stage started");
    let mut lag = Lag::new(options.name, options.topic);
    let mut reads = Retry::new(options.name, "read batch");
    loop {
        let batch = tokio::select! {
            () = shutdown.cancelled() => break,
            batch = subscription.next_batch(options.batch_size) => batch,
        };
        let mut batch = match batch {
            Ok(batch) => {
                reads.succeeded();
                batch
            }
            Err(error) => {
                reads.failed(&error, &shutdown).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        if !options.linger.is_zero() {
            gather(&mut subscription, &mut batch, &options, &shutdown).await;
        }
        let name = options.name;
        metrics::counter!(names::STAGE_RECEIVED, names::STAGE => name)
            .increment(batch.len() as u64);
        metrics::gauge!(names::STAGE_IN_FLIGHT, names::STAGE => name).set(batch.len() as f64);
        let done = process_and_commit(
            &mut stage,
            subscription.as_mut(),
            &batch,
            &options,
            &shutdown,
        )
        .await;
        metrics::gauge!(names::STAGE_IN_FLIGHT, names::STAGE => name).set(0.0);
        if !done {
            return Ok(());
        }
        metrics::counter!(names::STAGE_SENT, names::STAGE => name).increment(batch.len() as u64);
        metrics::counter!(names::STAGE_BATCHES, names::STAGE => name).increment(1);
        lag.processed(&bus, &batch).await;
    }
    tracing::info!(stage = options.name, "stage stopped");
    Ok(())
}

/// Runs `stage` fairly between the records' owners until `shutdown` is cancelled: batches of one owner each, up to
/// [`Fairness::lanes`] at once, owners taking turns (module `fair`), so that no owner's backlog or heavy records delay
/// another's by more than one batch. Stops after the batches in progress are finished and committed.
///
/// # Errors
/// Returns an error when the subscription cannot be opened or a processing lane stopped.
pub async fn run_fair(
    bus: BusClient,
    options: StageOptions,
    fairness: Fairness,
    stage: impl Stage + Clone + 'static,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let subscription = subscribe(&bus, &options).await?;
    tracing::info!(
        stage = options.name,
        topic = options.topic,
        lanes = fairness.lanes,
        "stage started"
    );
    fair::run(bus, options, fairness, stage, subscription, shutdown).await
}

/// Opens the stage's subscription: its topic, in its consumer group.
async fn subscribe(
    bus: &BusClient,
    options: &StageOptions,
) -> anyhow::Result<Box<dyn accord_bus::Subscription>> {
    bus.subscribe(SubscribeOptions {
        topic: options.topic.to_owned(),
        group: Some(options.group.clone()),
    })
    .await
    .with_context(|| format!("failed to subscribe to `{}`", options.topic))
}

/// Processes `batch` until it succeeds, then commits its offsets: never skips a record. Returns `false` when
/// shutdown interrupted the retries (nothing was committed; the batch is delivered again after a restart).
async fn process_and_commit(
    stage: &mut impl Stage,
    subscription: &mut dyn accord_bus::Subscription,
    batch: &[Delivery],
    options: &StageOptions,
    shutdown: &CancellationToken,
) -> bool {
    if !process_until_done(stage, batch, options, shutdown).await
        || !durable_until_done(stage, options, shutdown).await
    {
        return false;
    }
    let positions: Vec<Position> = batch.iter().map(|delivery| delivery.position).collect();
    commit(subscription, &positions, options, shutdown).await
}

/// Processes `batch` until it succeeds, with backoff between attempts; `false` when shutdown interrupted the retries.
async fn process_until_done(
    stage: &mut impl Stage,
    batch: &[Delivery],
    options: &StageOptions,
    shutdown: &CancellationToken,
) -> bool {
    let started = std::time::Instant::now();
    let mut retry = Retry::new(options.name, "process batch");
    while let Err(error) = stage.process(batch).await {
        metrics::counter!(names::STAGE_ERRORS, names::STAGE => options.name).increment(1);
        if shutdown.is_cancelled() {
            tracing::warn!(error = %ErrorChain(error.as_ref()), stage = options.name, "failed to process batch");
            return false;
        }
        retry.failed(error.as_ref(), shutdown).await;
    }
    retry.succeeded();
    metrics::histogram!(names::STAGE_BATCH_DURATION, names::STAGE => options.name)
        .record(started.elapsed().as_secs_f64());
    true
}

/// Makes what `stage` processed durable ([`Stage::durable`]), with backoff between attempts; `false` when shutdown
/// interrupted the retries.
async fn durable_until_done(
    stage: &mut impl Stage,
    options: &StageOptions,
    shutdown: &CancellationToken,
) -> bool {
    let mut retry = Retry::new(options.name, "make batch durable");
    while let Err(error) = stage.durable().await {
        metrics::counter!(names::STAGE_ERRORS, names::STAGE => options.name).increment(1);
        if shutdown.is_cancelled() {
            tracing::warn!(error = %ErrorChain(error.as_ref()), stage = options.name, "failed to make batch durable");
            return false;
        }
        retry.failed(error.as_ref(), shutdown).await;
    }
    retry.succeeded();
    true
}

/// Commits processed positions, retrying until it succeeds; `false` when shutdown interrupted the retries.
async fn commit(
    subscription: &mut dyn accord_bus::Subscription,
    positions: &[Position],
    options: &StageOptions,
    shutdown: &CancellationToken,
) -> bool {
    let mut retry = Retry::new(options.name, "commit offsets");
    while let Err(error) = subscription.commit(positions).await {
        if shutdown.is_cancelled() {
            tracing::warn!(error = %ErrorChain(&error), stage = options.name, "failed to commit offsets");
            return false;
        }
        retry.failed(&error, shutdown).await;
    }
    retry.succeeded();
    true
}

/// One retried step of a stage: its backoff and its trouble state ([`crate::retry`]).
pub(crate) struct Retry {
    backoff: Backoff,
    trouble: Trouble,
}

impl Retry {
    /// Returns the retry state of `step` (`read batch`, `process batch`) of stage `stage`.
    pub(crate) fn new(stage: &'static str, step: &'static str) -> Self {
        Self {
            backoff: Backoff::default(),
            trouble: Trouble::new(format!("stage {stage}: {step}")),
        }
    }

    /// Notes a failure (logged once per incident) and waits for the next backoff delay or shutdown.
    pub(crate) async fn failed(
        &mut self,
        error: &(dyn std::error::Error + Send + Sync + 'static),
        shutdown: &CancellationToken,
    ) {
        self.trouble.failed(error);
        sleep_or_stop(shutdown, self.backoff.next_delay()).await;
    }

    /// Notes a success: logs the recovery after failures and resets the backoff.
    pub(crate) fn succeeded(&mut self) {
        self.trouble.succeeded();
        self.backoff.reset();
    }
}

/// A stage's lag: records behind the bus head on the partitions it has consumed, published as
/// [`names::STAGE_LAG`] at most once a second (reading the head costs a round trip on Kafka).
struct Lag {
    stage: &'static str,
    topic: &'static str,
    /// Per partition, the offset after the last processed record.
    next: std::collections::BTreeMap<u32, u64>,
    last_update: Option<tokio::time::Instant>,
}

impl Lag {
    fn new(stage: &'static str, topic: &'static str) -> Self {
        Self {
            stage,
            topic,
            next: std::collections::BTreeMap::new(),
            last_update: None,
        }
    }

    /// Notes a processed batch and, at most once a second, publishes the lag.
    async fn processed(&mut self, bus: &BusClient, batch: &[Delivery]) {
        let positions: Vec<Position> = batch.iter().map(|delivery| delivery.position).collect();
        self.processed_positions(bus, &positions).await;
    }

    /// Notes processed positions and, at most once a second, publishes the lag.
    async fn processed_positions(&mut self, bus: &BusClient, positions: &[Position]) {
        for position in positions {
            let next = self.next.entry(position.partition).or_default();
            *next = (*next).max(position.offset + 1);
        }
        let now = tokio::time::Instant::now();
        if self
            .last_update
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            return;
        }
        self.last_update = Some(now);
        let Ok(ends) = bus.end_offsets(self.topic).await else {
            return;
        };
        let behind: u64 = ends
            .iter()
            .filter_map(|end| {
                let next = self.next.get(&end.partition)?;
                Some(end.offset.saturating_sub(*next))
            })
            .sum();
        metrics::gauge!(names::STAGE_LAG, names::STAGE => self.stage).set(behind as f64);
    }
}

/// Extends `batch` with whatever arrives within the linger, up to the batch size. A read error ends the gathering
/// early; the records already read are processed and the error shows up again on the next read.
async fn gather(
    subscription: &mut Box<dyn accord_bus::Subscription>,
    batch: &mut Vec<Delivery>,
    options: &StageOptions,
    shutdown: &CancellationToken,
) {
    let deadline = tokio::time::Instant::now() + options.linger;
    while batch.len() < options.batch_size && !shutdown.is_cancelled() {
        let wanted = options.batch_size - batch.len();
        match tokio::time::timeout_at(deadline, subscription.next_batch(wanted)).await {
            Ok(Ok(more)) => batch.extend(more),
            Ok(Err(_)) | Err(_) => break,
        }
    }
}

async fn sleep_or_stop(shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(duration) => {}
    }
}

/// A batch's payloads, decoded: what can be processed, and the dead letters for what never can.
#[derive(Debug)]
pub struct Decoded<T> {
    /// Each decoded payload with its delivery's index in the batch.
    pub items: Vec<(usize, T)>,
    /// A [`accord_domain::Rejection`] (reason `undecodable`) for each payload that cannot be decoded and whose key
    /// names a report, for the stage to publish to [`accord_domain::topics::REPORTS_REJECTED`] before it returns:
    /// a poison record then neither blocks its partition nor vanishes from the conservation count.
    pub dead_letters: Vec<accord_bus::Record>,
    /// The batch index and report of every dead letter.
    pub undecodable: Vec<(usize, accord_domain::ReportId)>,
}

/// Batches with more payload than this are decoded off the async runtime ([`decode_batch`]).
const DECODE_INLINE_BYTES: usize = 64 * 1024;

/// Decodes every delivery's JSON payload. A record that cannot be decoded can release nothing (fail closed): it is
/// counted in `accord_stage_dropped_total`, logged with its position, and turned into a dead letter when its key
/// is a report id (a record without one belongs to no accepted report and is only logged).
///
/// Decoding is CPU work: a batch of more than `DECODE_INLINE_BYTES` (64 KiB) of payload (a heavy report is megabytes of
/// JSON, tens of milliseconds to parse) is decoded off the async runtime at the calling task's priority
/// ([`crate::cpu::run`]), so that it holds up no other partner's task on the runtime's threads.
pub async fn decode_batch<T>(stage: &'static str, batch: &[Delivery]) -> Decoded<T>
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    let bytes: usize = batch
        .iter()
        .map(|delivery| delivery.record.payload.len())
        .sum();
    if bytes <= DECODE_INLINE_BYTES {
        return decode_now(stage, batch);
    }
    // Deliveries share their payloads' bytes: the copy is of the small parts.
    let owned = batch.to_vec();
    match crate::cpu::run(move || decode_now(stage, &owned)).await {
        Ok(decoded) => decoded,
        Err(error) => {
            tracing::warn!(%error, stage, "decoding off the async runtime failed: decoding in place");
            decode_now(stage, batch)
        }
    }
}

/// [`decode_batch`] on the calling thread.
fn decode_now<T: serde::de::DeserializeOwned>(
    stage: &'static str,
    batch: &[Delivery],
) -> Decoded<T> {
    let mut decoded = Decoded {
        items: Vec::with_capacity(batch.len()),
        dead_letters: Vec::new(),
        undecodable: Vec::new(),
    };
    for (index, delivery) in batch.iter().enumerate() {
        let error = match serde_json::from_slice(&delivery.record.payload) {
            Ok(value) => {
                decoded.items.push((index, value));
                continue;
            }
            // A record the embedded bus could not read back (damaged bytes) says why.
            Err(error) => match corrupt_reason(delivery) {
                Some(reason) => format!("corrupt on the bus: {reason}"),
                None => error.to_string(),
            },
        };
        metrics::counter!(names::STAGE_DROPPED, names::STAGE => stage).increment(1);
        tracing::error!(
            %error,
            stage,
            topic = delivery.topic,
            partition = delivery.position.partition,
            offset = delivery.position.offset,
            "undecodable record: dead-lettered"
        );
        let report_id = delivery
            .record
            .key
            .as_deref()
            .and_then(|key| accord_domain::ReportId::parse(key).ok());
        let Some(report_id) = report_id else {
            continue;
        };
        let rejection = accord_domain::Rejection {
            report_id: report_id.clone(),
            partner: None,
            stage: stage.to_owned(),
            reason: "undecodable".to_owned(),
            detail: format!(
                "{} partition {} offset {}: {error}",
                delivery.topic, delivery.position.partition, delivery.position.offset
            ),
            at: chrono::Utc::now(),
        };
        match json_record(report_id.as_str(), &rejection) {
            Ok(record) => {
                decoded.dead_letters.push(record);
                decoded.undecodable.push((index, report_id));
            }
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), stage, "failed to encode a dead letter")
            }
        }
    }
    decoded
}

/// The reason a delivery stands in for a damaged record ([`accord_bus::HEADER_CORRUPT`]), if it does.
fn corrupt_reason(delivery: &Delivery) -> Option<&str> {
    delivery
        .record
        .headers
        .iter()
        .find(|(name, _)| name == accord_bus::HEADER_CORRUPT)
        .map(|(_, value)| value.as_str())
}

/// Marks `record` as background work ([`accord_domain::topics::HEADER_PRIORITY`]) when the calling task runs in the
/// background ([`crate::cpu::current`]): a record derived from a backlogged partner's record stays in the background
/// in the stages downstream, where the fair loop ([`Fairness`]) runs every batch holding one in the background.
pub fn mark_priority(record: &mut accord_bus::Record) {
    use accord_domain::topics::{HEADER_PRIORITY, PRIORITY_BACKGROUND};
    if crate::cpu::current() == crate::cpu::Priority::Background
        && !record
            .headers
            .iter()
            .any(|(name, _)| name == HEADER_PRIORITY)
    {
        record
            .headers
            .push((HEADER_PRIORITY.to_owned(), PRIORITY_BACKGROUND.to_owned()));
    }
}

/// Returns a record keyed by `key` carrying `value` as JSON and the record-id header used for tracing.
///
/// # Errors
/// Fails when `value` cannot be serialized.
pub fn json_record<T: serde::Serialize>(
    key: &str,
    value: &T,
) -> Result<accord_bus::Record, serde_json::Error> {
    let mut record = accord_bus::Record::new(key, serde_json::to_vec(value)?);
    record.headers.push((
        accord_domain::topics::HEADER_RECORD_ID.to_owned(),
        key.to_owned(),
    ));
    Ok(record)
}
