//! Subscriptions on Kafka: a librdkafka consumer polled by a dedicated thread, and the commit and rebalance story.
//!
//! # Why a poll thread, not `StreamConsumer`
//! librdkafka runs rebalance callbacks synchronously inside `poll`. With `StreamConsumer` they run inside an async
//! `recv()` and block a runtime worker, and a future dropped mid-`recv` (every `select!` with a shutdown signal and
//! every `timeout` around `next_batch` does that) can lose a fetched message from the subscription's view while the
//! consumer's position has moved past it. So, like quickwit's `kafka_source.rs` (`spawn_consumer_poll_loop`), a
//! thread owns the polling: it pushes every fetched record into a buffer shared with the subscription and serves
//! the rebalance callbacks. [`Subscription::next_batch`] only takes from that buffer (no await between taking records
//! and recording them as delivered), so cancelling it loses nothing. The buffer is bounded: past
//! `MAX_BUFFERED` records the thread pauses the assigned partitions and keeps polling, so group heartbeats and
//! rebalances are still served while the application is slow; it resumes them when the buffer has drained to half.
//!
//! # Commits
//! librdkafka never commits or stores an offset on its own (`enable.auto.commit=false`,
//! `enable.auto.offset.store=false`). Each partition has a tracker (the `tracker` module) of what was delivered and
//! what [`Subscription::commit`] marked as processed; a commit marks, then commits synchronously, for each partition
//! whose contiguous watermark moved, the offset of the first delivered record not processed yet. It returns once the
//! group coordinator acknowledged, so after it returns a restarted consumer resumes there. Positions of partitions
//! this consumer does not own (any more) and positions never delivered are ignored.
//!
//! # Rebalances
//! Partitions move between the members of a group when one joins or leaves. The callbacks run on the poll thread:
//! - **revoke**: under the tracking lock, the revoked partitions' trackers are removed, and their progress that is
//!   marked but not committed yet (a commit that failed) is committed synchronously *before* the callback returns,
//!   while this member still owns them in the current generation (unless the assignment was lost, when the
//!   generation is gone); their records still buffered are dropped. A [`Subscription::commit`] in flight holds the
//!   same lock, so it completes before the partitions are given up, and a commit that comes later finds no tracker
//!   and commits nothing for them: no watermark of a revoked partition is ever committed by this member after the
//!   new owner took over. Records of those partitions already handed to the application are delivered again to
//!   their new owner (at least once; every sink is idempotent);
//! - **assign**: the partitions are recorded as owned; trackers start at the first record delivered after it.
//!
//! Both change the subscription's ownership ([`Subscription::ownership`]) under the tracking lock, with a new
//! generation: an assigned partition shows there before any of its records can be taken (taking checks the same set
//! under the same lock), and a revoked one has left it before the callback returns to the broker, so before its new
//! owner is given it. A revocation first takes the write side of the ownership gate, so it waits for every
//! [`crate::Ownership::hold`] guard (the enforcer publishing for its partitions) and blocks new ones while it runs.
//! Each owned partition carries the generation since which it has been owned: a partition revoked and assigned
//! back in the same rebalance (eager rebalancing revokes everything first) keeps its generation, because no other
//! member can have been given it in between; one revoked with a lost assignment (the session expired: the group
//! went on without this member) or not assigned back gets a new one when it comes back. A stage that restores a
//! partition's state before processing it (the enforcer) restores the partitions whose generation it has not
//! restored yet.
//!
//! # Partitions left to nobody
//! A grouped subscription's poll thread watches the partitions it is not assigned (the `orphans` module): when one
//! has records past the group's committed offset and that offset has not moved over three checks (a coordinator
//! that dropped a dead member without a rebalance, as tansu 0.6 does, leaves its partitions to nobody), the member
//! leaves the group and joins again (the revocation served first, as in any rebalance), so that the group forms
//! anew. On a keyed topic, a partition it is not assigned with nothing left to read gets a beacon, a record that
//! only a live owner moves the group's offset past. A grouped subscription never delivers a beacon: taking one
//! marks it processed, and the poll thread commits that at once. A groupless one delivers them ([`crate::is_beacon`]).
//!
//! # Joining after a crash
//! Under dynamic membership, a consumer of a process whose predecessor died without leaving its groups joins only
//! once that predecessor's session is over (the `membership` module tells why and when): it is created at once, and
//! its poll thread waits, then subscribes. Until then it delivers nothing and commits nothing; dropping it meanwhile
//! ends the wait.
//!
//! # Groupless subscriptions
//! They `assign()` every partition of the topic at the beginning (no group membership, no rebalance, no commits;
//! librdkafka still wants a `group.id`, so they carry a throwaway one). Partitions added to the topic later are not
//! read: Accord's topics keep the partition count they were created with.

use std::{
    collections::{HashMap, HashSet, VecDeque, hash_map::Entry},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::{
    ClientContext, Message, Offset, TopicPartitionList,
    config::RDKafkaLogLevel,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance},
    error::KafkaError,
    message::{BorrowedMessage, Headers},
};
use tokio::sync::Notify;
use tracing::{debug, info, instrument, warn};

use super::{config::KafkaConfig, error::AuthFailures, orphans, tracker::PartitionTracker};
use crate::{
    BusError, Delivery, Owned, Ownership, Position, Record, SubscribeOptions, Subscription,
};

/// Records buffered between the poll thread and the application before the partitions are paused.
const MAX_BUFFERED: usize = 4096;
/// How long one `poll` may block: bounds how late the thread notices the subscription was dropped.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long dropping a subscription waits for its consumer to leave the group.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// State shared by the subscription, its poll thread and the rebalance callbacks. Lock order: `tracking`, then
/// `buffer`.
struct Shared {
    topic: String,
    group: Option<String>,
    /// How many partitions the topic has (for the `orphans` watch).
    partitions: usize,
    /// How often the poll thread checks its group for partitions left to nobody (`orphans`).
    watch_interval: Duration,
    /// Writes beacons into the partitions not assigned here (`orphans`): grouped subscriptions of keyed topics.
    beacons: Option<orphans::Beacons>,
    /// Set when a beacon was taken: the poll thread commits the progress it made.
    flush: AtomicBool,
    tracking: Mutex<Tracking>,
    buffer: Mutex<Buffer>,
    /// Woken when the buffer receives records or the consumer fails.
    notify: Notify,
    /// Set when the subscription is dropped: the poll thread closes the consumer and ends.
    closed: AtomicBool,
    /// The ownership gate ([`crate::Ownership`]): a revocation takes its write side.
    gate: Arc<tokio::sync::RwLock<()>>,
    /// The ownership generation, sent at every assignment and revocation ([`crate::Ownership::changed_from`]).
    generations: tokio::sync::watch::Sender<u64>,
    /// What [`Subscription::ownership`] shows, copied from `tracking` at every change: read without the tracking
    /// lock, which a synchronous commit holds while it waits for the coordinator (a guard holder reading the
    /// ownership must never wait for a commit that waits for the rebalance that waits for the guard).
    snapshot: Mutex<Owned>,
}

/// What a grouped subscription owns and has delivered.
#[derive(Default)]
struct Tracking {
    assigned: HashSet<i32>,
    /// Incremented at every assignment and revocation ([`Subscription::ownership`]).
    generation: u64,
    /// The generation since which each assigned partition has been owned without a break.
    since: HashMap<i32, u64>,
    /// The partitions revoked (assignment not lost) since the last assignment, with their `since`: assigned back in
    /// the next assignment, they keep it.
    between: HashMap<i32, u64>,
    partitions: HashMap<i32, PartitionTracker>,
}

#[derive(Default)]
struct Buffer {
    deliveries: VecDeque<Delivery>,
    /// Set when the consumer hit a fatal error; it will not recover.
    fatal: Option<KafkaError>,
    /// Whether the poll thread paused the assigned partitions.
    paused: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The consumer's context: routes rebalances to [`Shared`] and librdkafka's errors to `tracing` (authentication
/// failures to the bus's record of them, which logs them at ERROR).
struct SubscriptionContext {
    shared: Arc<Shared>,
    failures: Arc<AuthFailures>,
}

impl ClientContext for SubscriptionContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.failures.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if !self.failures.record(&error, reason) {
            warn!(%error, reason, topic = %self.shared.topic, "kafka consumer error");
        }
    }
}

impl ConsumerContext for SubscriptionContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                let partitions = partition_ids(partitions, &self.shared.topic);
                self.shared.revoke(consumer, &partitions);
            }
            Rebalance::Assign(partitions) => {
                let partitions = partition_ids(partitions, &self.shared.topic);
                info!(topic = %self.shared.topic, group = ?self.shared.group, ?partitions, "partitions assigned");
                let mut tracking = lock(&self.shared.tracking);
                tracking.generation += 1;
                let generation = tracking.generation;
                for partition in partitions {
                    // Assigned again while still owned (no revocation in between), it keeps its generation too.
                    let kept = tracking.since.get(&partition).copied();
                    let since = kept
                        .or_else(|| tracking.between.remove(&partition))
                        .unwrap_or(generation);
                    tracking.since.insert(partition, since);
                    tracking.assigned.insert(partition);
                }
                tracking.between.clear();
                *lock(&self.shared.snapshot) = owned_of(&tracking);
                self.shared.generations.send_replace(generation);
                drop(tracking);
                // A new assignment starts unpaused.
                lock(&self.shared.buffer).paused = false;
            }
            Rebalance::Error(error) => {
                // librdkafka unassigns everything after a failed rebalance.
                warn!(%error, topic = %self.shared.topic, group = ?self.shared.group, "rebalance failed");
                let partitions: Vec<i32> = lock(&self.shared.tracking)
                    .assigned
                    .iter()
                    .copied()
                    .collect();
                self.shared.revoke(consumer, &partitions);
            }
        }
    }
}

/// What `tracking` owns, as [`Subscription::ownership`] shows it.
fn owned_of(tracking: &Tracking) -> Owned {
    Owned {
        generation: tracking.generation,
        partitions: tracking
            .since
            .iter()
            .filter_map(|(partition, since)| Some((u32::try_from(*partition).ok()?, *since)))
            .collect(),
        fixed: false,
        settling: !tracking.between.is_empty(),
    }
}

fn partition_ids(partitions: &TopicPartitionList, topic: &str) -> Vec<i32> {
    partitions
        .elements()
        .iter()
        .filter(|element| element.topic() == topic)
        .map(|element| element.partition())
        .collect()
}

impl Shared {
    /// Gives up `partitions`: commits their pending progress, forgets them and drops their buffered records.
    fn revoke(&self, consumer: &BaseConsumer<SubscriptionContext>, partitions: &[i32]) {
        // Waits for the application's guards (`Ownership::hold`); on the poll thread, never on the async runtime.
        let _revoking = self.gate.blocking_write();
        let mut tracking = lock(&self.tracking);
        let lost = consumer.assignment_lost();
        let mut pending = TopicPartitionList::new();
        tracking.generation += 1;
        for partition in partitions {
            tracking.assigned.remove(partition);
            if let Some(since) = tracking.since.remove(partition)
                && !lost
            {
                tracking.between.insert(*partition, since);
            }
            let Some(tracker) = tracking.partitions.remove(partition) else {
                continue;
            };
            if let (false, Some(offset)) = (lost, tracker.pending())
                && let Err(error) =
                    pending.add_partition_offset(&self.topic, *partition, Offset::Offset(offset))
            {
                warn!(%error, partition, offset, "failed to prepare a commit on revocation");
            }
        }
        *lock(&self.snapshot) = owned_of(&tracking);
        self.generations.send_replace(tracking.generation);
        if pending.count() > 0
            && let Err(error) = consumer.commit(&pending, CommitMode::Sync)
        {
            // At least once still holds: the new owner reads these records again.
            warn!(%error, topic = %self.topic, group = ?self.group, "failed to commit progress of revoked partitions");
        }
        let mut buffer = lock(&self.buffer);
        let before = buffer.deliveries.len();
        buffer.deliveries.retain(|delivery| {
            i32::try_from(delivery.position.partition)
                .map(|partition| !partitions.contains(&partition))
                .unwrap_or(true)
        });
        info!(
            topic = %self.topic,
            group = ?self.group,
            ?partitions,
            lost,
            num_dropped = before - buffer.deliveries.len(),
            "partitions revoked"
        );
    }

    /// Adds a fetched record to the buffer and wakes the subscription.
    fn push(&self, message: &BorrowedMessage<'_>) {
        let Some(delivery) = to_delivery(&self.topic, message) else {
            warn!(
                topic = %self.topic,
                partition = message.partition(),
                offset = message.offset(),
                "ignoring a record at an invalid position"
            );
            return;
        };
        lock(&self.buffer).deliveries.push_back(delivery);
        self.notify.notify_one();
    }

    /// Pauses the assignment when the buffer is full and resumes it when it has drained to half.
    fn apply_backpressure(&self, consumer: &BaseConsumer<SubscriptionContext>) {
        let mut buffer = lock(&self.buffer);
        let len = buffer.deliveries.len();
        let pause = if !buffer.paused && len >= MAX_BUFFERED {
            true
        } else if buffer.paused && len <= MAX_BUFFERED / 2 {
            false
        } else {
            return;
        };
        let result = consumer.assignment().and_then(|assignment| {
            if pause {
                consumer.pause(&assignment)
            } else {
                consumer.resume(&assignment)
            }
        });
        match result {
            Ok(()) => {
                buffer.paused = pause;
                debug!(topic = %self.topic, paused = pause, num_buffered = len, "consumer backpressure");
            }
            Err(error) => {
                warn!(%error, topic = %self.topic, "failed to pause or resume the consumer")
            }
        }
    }

    /// Takes up to `max` buffered records and records them as delivered. A grouped subscription takes beacons
    /// (`orphans`) without delivering them: each is marked processed, and the poll thread told to commit.
    fn take(&self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let mut tracking = lock(&self.tracking);
        let mut buffer = lock(&self.buffer);
        if let Some(error) = &buffer.fatal {
            return Err(BusError::Unavailable {
                context: format!("the consumer of topic `{}` failed: {error}", self.topic),
                source: None,
            });
        }
        if self.group.is_none() {
            let num_records = buffer.deliveries.len().min(max);
            return Ok(buffer.deliveries.drain(..num_records).collect());
        }
        let mut delivered = Vec::with_capacity(max.min(buffer.deliveries.len()));
        while delivered.len() < max
            && let Some(delivery) = buffer.deliveries.pop_front()
        {
            let (Ok(partition), Ok(offset)) = (
                i32::try_from(delivery.position.partition),
                i64::try_from(delivery.position.offset),
            ) else {
                continue;
            };
            if !tracking.assigned.contains(&partition) {
                // Fetched just before a revocation: its new owner delivers it.
                debug!(
                    partition,
                    offset, "dropping a record of a partition no longer assigned"
                );
                continue;
            }
            let tracker = match tracking.partitions.entry(partition) {
                Entry::Vacant(entry) => entry.insert(PartitionTracker::new(offset)),
                Entry::Occupied(entry) => {
                    let tracker = entry.into_mut();
                    if !tracker.deliver(offset) {
                        warn!(
                            partition,
                            offset, "the consumer went back; tracking from this offset"
                        );
                        *tracker = PartitionTracker::new(offset);
                    }
                    tracker
                }
            };
            if crate::is_beacon(&delivery.record.headers) {
                tracker.mark(delivery.position.partition, offset);
                self.flush.store(true, Ordering::Release);
                continue;
            }
            delivered.push(delivery);
        }
        Ok(delivered)
    }

    /// Marks `processed` and commits the watermarks that moved, synchronously, holding the tracking lock (so that
    /// a revocation waits for it; see the module documentation).
    fn commit(
        &self,
        consumer: &BaseConsumer<SubscriptionContext>,
        processed: &[Position],
    ) -> Result<(), BusError> {
        let mut tracking = lock(&self.tracking);
        for position in processed {
            let (Ok(partition), Ok(offset)) = (
                i32::try_from(position.partition),
                i64::try_from(position.offset),
            ) else {
                continue;
            };
            match tracking.partitions.get_mut(&partition) {
                Some(tracker) => tracker.mark(position.partition, offset),
                None => debug!(
                    partition,
                    offset, "ignoring a commit of a partition this consumer does not own"
                ),
            }
        }
        let mut offsets = TopicPartitionList::new();
        let mut pending = Vec::new();
        for (&partition, tracker) in &tracking.partitions {
            let Some(offset) = tracker.pending() else {
                continue;
            };
            offsets
                .add_partition_offset(&self.topic, partition, Offset::Offset(offset))
                .map_err(|error| {
                    BusError::unavailable(
                        format!("failed to prepare a commit on topic `{}`", self.topic),
                        error,
                    )
                })?;
            pending.push((partition, offset));
        }
        if pending.is_empty() {
            return Ok(());
        }
        consumer
            .commit(&offsets, CommitMode::Sync)
            .map_err(|error| {
                BusError::unavailable(
                    format!(
                        "failed to commit offsets of topic `{}` for group `{}`",
                        self.topic,
                        self.group.as_deref().unwrap_or_default()
                    ),
                    error,
                )
            })?;
        for (partition, offset) in pending {
            if let Some(tracker) = tracking.partitions.get_mut(&partition) {
                tracker.committed(offset);
            }
        }
        debug!(topic = %self.topic, group = ?self.group, offsets = ?offsets, "committed offsets");
        Ok(())
    }
}

/// Converts a fetched message; `None` for a position that does not fit ours (never for a real record).
pub(super) fn to_delivery(topic: &str, message: &BorrowedMessage<'_>) -> Option<Delivery> {
    let position = Position {
        partition: u32::try_from(message.partition()).ok()?,
        offset: u64::try_from(message.offset()).ok()?,
    };
    let key = message
        .key()
        .map(|key| String::from_utf8_lossy(key).into_owned());
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|header| {
                    let value = header
                        .value
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    (header.key.to_owned(), value.into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let payload = message
        .payload()
        .map(Bytes::copy_from_slice)
        .unwrap_or_default();
    Some(Delivery {
        topic: topic.to_owned(),
        position,
        record: Record {
            key,
            headers,
            payload,
        },
    })
}

/// A subscription on one topic; see the module documentation.
pub(super) struct KafkaSubscription {
    shared: Arc<Shared>,
    /// Shared with the poll thread; `None` once dropping.
    consumer: Option<Arc<BaseConsumer<SubscriptionContext>>>,
    /// Receives (or sees disconnected) when the poll thread has closed the consumer.
    stopped: mpsc::Receiver<()>,
    /// The consumer's place in the process's identity, if any (`membership` module): held until the subscription is
    /// dropped.
    _member: Option<super::membership::Member>,
    /// A groupless subscription's ownership: every partition, for good.
    fixed: Option<Ownership>,
}

impl KafkaSubscription {
    /// Creates the consumer and starts its poll thread. `partitions` are the topic's partitions (for a groupless
    /// subscription, which assigns them all); `member` its place in the process's identity (`membership` module), if
    /// any: its `group.instance.id` under static membership, and when it may first join its group. A consumer that
    /// must wait before joining is created now and joins on its poll thread when the time comes. `beacons` writes
    /// the beacons of a grouped subscription of a keyed topic (`orphans`).
    pub(super) fn start(
        config: &KafkaConfig,
        options: SubscribeOptions,
        partitions: &[i32],
        failures: Arc<AuthFailures>,
        member: Option<super::membership::Member>,
        beacons: Option<orphans::Beacons>,
    ) -> Result<Self, BusError> {
        let SubscribeOptions { topic, group } = options;
        let shared = Arc::new(Shared {
            topic,
            group,
            partitions: partitions.len(),
            watch_interval: orphans::interval(config.session_timeout),
            beacons,
            flush: AtomicBool::new(false),
            tracking: Mutex::default(),
            buffer: Mutex::default(),
            notify: Notify::new(),
            closed: AtomicBool::new(false),
            gate: Arc::default(),
            generations: tokio::sync::watch::Sender::new(0),
            snapshot: Mutex::default(),
        });
        let context = SubscriptionContext {
            shared: shared.clone(),
            failures,
        };
        let mut client_config = config.consumer_config(shared.group.as_deref());
        if let Some(member) = member.as_ref().filter(|_| config.static_membership) {
            client_config.set("group.instance.id", member.id());
        }
        let consumer: BaseConsumer<SubscriptionContext> = client_config
            .create_with_context(context)
            .map_err(|error| BusError::unavailable("failed to create a kafka consumer", error))?;
        let consumer = Arc::new(consumer);
        let join_at = match &shared.group {
            Some(_) => member.as_ref().and_then(|member| member.first_join(config)),
            None => None,
        };
        if join_at.is_none() {
            shared.subscribe(&consumer, partitions)?;
        }
        let (stopped_tx, stopped) = mpsc::channel();
        let poller = (consumer.clone(), shared.clone());
        std::thread::Builder::new()
            .name("accord-kafka-poll".to_owned())
            .spawn(move || {
                let (consumer, shared) = poller;
                if join_at.is_none_or(|at| shared.join_later(&consumer, at)) {
                    poll_loop(&consumer, &shared);
                }
                // The last reference closes the consumer (leaving the group) here, off the async runtime, unless a
                // commit still holds one.
                drop(consumer);
                drop(stopped_tx);
            })
            .map_err(|error| {
                BusError::unavailable("failed to spawn the kafka poll thread", error)
            })?;
        info!(topic = %shared.topic, group = ?shared.group, "subscribed");
        let fixed = shared.group.is_none().then(|| {
            Ownership::fixed(
                partitions
                    .iter()
                    .filter_map(|partition| u32::try_from(*partition).ok()),
            )
        });
        Ok(Self {
            shared,
            consumer: Some(consumer),
            stopped,
            _member: member,
            fixed,
        })
    }
}

impl Shared {
    /// The assigned partitions, each with the generation since which it has been owned (the snapshot: no tracking
    /// lock).
    fn owned(&self) -> Owned {
        lock(&self.snapshot).clone()
    }

    /// Joins the group (subscribes), or, without one, assigns every partition from the beginning.
    fn subscribe(
        &self,
        consumer: &BaseConsumer<SubscriptionContext>,
        partitions: &[i32],
    ) -> Result<(), BusError> {
        match &self.group {
            Some(_) => consumer.subscribe(&[&self.topic]),
            None => {
                let mut assignment = TopicPartitionList::new();
                for &partition in partitions {
                    assignment
                        .add_partition_offset(&self.topic, partition, Offset::Beginning)
                        .map_err(|error| {
                            BusError::unavailable("failed to assign partitions", error)
                        })?;
                }
                consumer.assign(&assignment)
            }
        }
        .map_err(|error| {
            BusError::unavailable(
                format!("failed to subscribe to topic `{}`", self.topic),
                error,
            )
        })
    }

    /// On the poll thread: leaves the group, serving the revocation of this member's partitions, and joins it again
    /// with a new member id (the `orphans` module tells why). A failure to join again is the subscription's fatal
    /// error.
    fn rejoin(&self, consumer: &BaseConsumer<SubscriptionContext>, stalled: &[i32]) {
        warn!(
            topic = %self.topic,
            group = ?self.group,
            ?stalled,
            "partitions of the topic are read by no member of the group: leaving it and joining again"
        );
        consumer.unsubscribe();
        let deadline = std::time::Instant::now() + CLOSE_GRACE;
        while !lock(&self.tracking).assigned.is_empty() && std::time::Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(POLL_INTERVAL) {
                self.push(&message);
            }
        }
        if let Err(error) = self.subscribe(consumer, &[]) {
            warn!(%error, topic = %self.topic, group = ?self.group, "failed to join the group again");
            lock(&self.buffer).fatal = Some(KafkaError::Subscription(error.to_string()));
            self.notify.notify_one();
        }
    }

    /// On the poll thread: one check of the partitions not assigned here (`orphans`): writes beacons into the idle
    /// ones of a keyed topic, and joins the group again when some are read by nobody.
    fn check_others(
        &self,
        consumer: &BaseConsumer<SubscriptionContext>,
        watch: &mut orphans::Watch,
    ) {
        let mine = lock(&self.tracking).assigned.clone();
        let others = orphans::others(consumer, &self.topic, self.partitions, &mine);
        if let (Some(beacons), Some(others)) = (&self.beacons, &others) {
            beacons.send(&others.idle);
        }
        let stalled = watch.observe(others.map(|others| others.behind));
        if !stalled.is_empty() {
            self.rejoin(consumer, &stalled);
        }
    }

    /// On the poll thread: waits until `at` (a dead predecessor's session is over; `membership` module) unless the
    /// subscription is dropped first, then joins the group. A failure to join is the subscription's fatal error.
    /// Returns whether the consumer joined.
    fn join_later(&self, consumer: &BaseConsumer<SubscriptionContext>, at: SystemTime) -> bool {
        info!(
            topic = %self.topic,
            group = ?self.group,
            wait_ms = at.duration_since(SystemTime::now()).unwrap_or_default().as_millis(),
            "joining the group once a dead predecessor's session is over"
        );
        while !self.closed.load(Ordering::Acquire) {
            let Ok(left) = at.duration_since(SystemTime::now()) else {
                break;
            };
            std::thread::sleep(left.min(POLL_INTERVAL));
        }
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        match self.subscribe(consumer, &[]) {
            Ok(()) => {
                info!(topic = %self.topic, group = ?self.group, "joining the group now");
                true
            }
            Err(error) => {
                warn!(%error, topic = %self.topic, group = ?self.group, "failed to join the group");
                lock(&self.buffer).fatal = Some(KafkaError::Subscription(error.to_string()));
                self.notify.notify_one();
                false
            }
        }
    }
}

fn poll_loop(consumer: &BaseConsumer<SubscriptionContext>, shared: &Shared) {
    let mut watch = shared
        .group
        .as_ref()
        .map(|_| orphans::Watch::new(shared.watch_interval));
    while !shared.closed.load(Ordering::Acquire) {
        if let Some(watch) = watch.as_mut().filter(|watch| watch.due()) {
            shared.check_others(consumer, watch);
        }
        if shared.flush.swap(false, Ordering::AcqRel)
            && let Err(error) = shared.commit(consumer, &[])
        {
            // The next commit, or the next beacon, tries again.
            debug!(%error, topic = %shared.topic, "failed to commit past a beacon");
        }
        shared.apply_backpressure(consumer);
        match consumer.poll(POLL_INTERVAL) {
            None => {}
            Some(Ok(message)) => shared.push(&message),
            Some(Err(error @ KafkaError::MessageConsumptionFatal(_))) => {
                warn!(%error, topic = %shared.topic, group = ?shared.group, "kafka consumer failed");
                lock(&shared.buffer).fatal = Some(error);
                shared.notify.notify_one();
                return;
            }
            // Transient (a broker down, a coordinator moving): librdkafka retries on its own.
            Some(Err(error)) => {
                warn!(%error, topic = %shared.topic, group = ?shared.group, "kafka consumer error")
            }
        }
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    /// Waits until the poll thread has buffered a record, then returns up to `max` (at least one).
    #[instrument(level = "debug", skip_all, fields(topic = %self.shared.topic))]
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let max = max.max(1);
        loop {
            let batch = self.shared.take(max)?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            // `notify_one` keeps a permit when nobody waits: a record pushed since `take` wakes this at once.
            self.shared.notify.notified().await;
        }
    }

    /// The assigned partitions and their generations; a groupless subscription's every partition, for good.
    fn ownership(&self) -> Ownership {
        if let Some(fixed) = &self.fixed {
            return fixed.clone();
        }
        let shared = self.shared.clone();
        Ownership::new(
            move || shared.owned(),
            self.shared.gate.clone(),
            self.shared.generations.subscribe(),
        )
    }

    /// Marks `processed` and commits the contiguous watermark of each partition, synchronously.
    #[instrument(level = "debug", skip_all, fields(topic = %self.shared.topic, group = ?self.shared.group))]
    async fn commit(&mut self, processed: &[Position]) -> Result<(), BusError> {
        if self.shared.group.is_none() || processed.is_empty() {
            return Ok(());
        }
        let consumer = self.consumer.clone().ok_or(BusError::Closed)?;
        let shared = self.shared.clone();
        let processed = processed.to_vec();
        tokio::task::spawn_blocking(move || shared.commit(&consumer, &processed))
            .await
            .map_err(|error| BusError::unavailable("failed to run a kafka commit", error))?
    }
}

impl Drop for KafkaSubscription {
    /// Stops the poll thread and waits (at most `CLOSE_GRACE`) until it has closed the consumer, so that a
    /// subscription opened right after in the same group finds this member gone rather than waiting out its session.
    fn drop(&mut self) {
        // The poll thread then holds the last reference and closes the consumer.
        drop(self.consumer.take());
        self.shared.closed.store(true, Ordering::Release);
        if self.stopped.recv_timeout(CLOSE_GRACE) == Err(mpsc::RecvTimeoutError::Timeout) {
            warn!(topic = %self.shared.topic, group = ?self.shared.group, "the kafka consumer is still closing");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(group: Option<&str>) -> Shared {
        Shared {
            topic: "reports.normalized".to_owned(),
            group: group.map(str::to_owned),
            partitions: 2,
            watch_interval: Duration::from_secs(10),
            beacons: None,
            flush: AtomicBool::new(false),
            tracking: Mutex::new(Tracking {
                assigned: HashSet::from([0, 1]),
                ..Tracking::default()
            }),
            gate: Arc::default(),
            generations: tokio::sync::watch::Sender::new(0),
            snapshot: Mutex::default(),
            buffer: Mutex::default(),
            notify: Notify::new(),
            closed: AtomicBool::new(false),
        }
    }

    fn delivery(partition: u32, offset: u64, beacon: bool) -> Delivery {
        let headers = if beacon {
            vec![(crate::BEACON_HEADER.to_owned(), "group".to_owned())]
        } else {
            Vec::new()
        };
        Delivery {
            topic: "reports.normalized".to_owned(),
            position: Position { partition, offset },
            record: Record {
                key: Some(if beacon { crate::BEACON_KEY } else { "r" }.to_owned()),
                headers,
                payload: Bytes::from_static(b"{}"),
            },
        }
    }

    fn offsets(batch: &[Delivery]) -> Vec<(u32, u64)> {
        batch
            .iter()
            .map(|delivery| (delivery.position.partition, delivery.position.offset))
            .collect()
    }

    #[test]
    fn ownership_is_settling_from_a_revocation_to_the_next_assignment() {
        let mut tracking = Tracking {
            assigned: HashSet::from([0]),
            since: HashMap::from([(0, 2)]),
            generation: 3,
            ..Tracking::default()
        };
        assert!(!owned_of(&tracking).settling);
        tracking.between.insert(1, 2);
        let owned = owned_of(&tracking);
        assert!(
            owned.settling,
            "partition 1 may come back with its generation"
        );
        assert_eq!(owned.partitions, std::collections::BTreeMap::from([(0, 2)]));
    }

    #[test]
    fn a_grouped_subscription_takes_beacons_without_delivering_them() {
        let shared = shared(Some("group"));
        lock(&shared.buffer).deliveries.extend([
            delivery(0, 5, true),
            delivery(0, 6, false),
            delivery(1, 3, true),
            delivery(1, 4, false),
            delivery(0, 7, true),
        ]);
        assert_eq!(offsets(&shared.take(1).expect("take")), [(0, 6)]);
        assert!(
            shared.flush.swap(false, Ordering::AcqRel),
            "a beacon taken asks for a commit"
        );
        assert_eq!(offsets(&shared.take(10).expect("take")), [(1, 4)]);
        assert!(
            lock(&shared.buffer).deliveries.is_empty(),
            "the trailing beacon is taken too"
        );
        let tracking = lock(&shared.tracking);
        assert_eq!(
            tracking.partitions[&0].pending(),
            Some(6),
            "partition 0 may commit past its first beacon, not past the record delivered and not processed"
        );
        assert_eq!(tracking.partitions[&1].pending(), Some(4));
    }

    #[test]
    fn only_beacons_leave_nothing_delivered_and_everything_committable() {
        let shared = shared(Some("group"));
        lock(&shared.buffer)
            .deliveries
            .extend([delivery(1, 9, true)]);
        assert!(shared.take(10).expect("take").is_empty());
        assert_eq!(lock(&shared.tracking).partitions[&1].pending(), Some(10));
    }

    #[test]
    fn a_groupless_subscription_delivers_beacons() {
        let shared = shared(None);
        lock(&shared.buffer)
            .deliveries
            .extend([delivery(0, 0, true), delivery(0, 1, false)]);
        assert_eq!(offsets(&shared.take(10).expect("take")), [(0, 0), (0, 1)]);
        assert!(!shared.flush.load(Ordering::Acquire));
    }
}
