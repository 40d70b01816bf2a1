//! Subscriptions on the embedded log.
//!
//! A subscription remembers the next offset it reads and watches its topic's committed log end (a
//! [`watch`] channel the writer updates after every commit). [`Subscription::next_batch`] reads when the end is past
//! its offset and otherwise waits for the end to move: the watch keeps the last value and a version, so a commit that
//! lands between the check and the wait still wakes it (no lost wakeups, no polling).
//!
//! A subscription holds the bus's shared state (and through it the open file) and the writer channel weakly: once the [`EmbeddedBus`](super::EmbeddedBus) is
//! dropped it answers [`BusError::Closed`] and keeps nothing open, so the directory can be reopened.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use redb::{Database, ReadableDatabase};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{instrument, warn};

use super::{
    Shared, codec,
    writer::{Command, GROUP_OFFSETS, log_table, log_table_name},
};
use crate::{
    BusError, Delivery, Ownership, PartitionReader, Position, Record, Subscription,
    watermark::Watermark,
};

/// A subscription on one topic of the embedded log; see the module documentation.
pub(super) struct EmbeddedSubscription {
    shared: Weak<Shared>,
    commands: mpsc::WeakUnboundedSender<Command>,
    topic: String,
    group: Option<String>,
    /// The next offset to deliver.
    next_read: u64,
    /// The topic's committed log end.
    end: watch::Receiver<u64>,
    /// Processed offsets; only used with a group.
    watermark: Watermark,
    /// The group's offset as last stored by this subscription.
    committed: u64,
}

impl EmbeddedSubscription {
    pub(super) fn new(
        shared: Weak<Shared>,
        commands: mpsc::WeakUnboundedSender<Command>,
        topic: String,
        group: Option<String>,
        start: u64,
        end: watch::Receiver<u64>,
    ) -> Self {
        Self {
            shared,
            commands,
            topic,
            group,
            next_read: start,
            end,
            watermark: Watermark::new(start),
            committed: start,
        }
    }

    /// Reads `[from, to)` in a blocking task.
    async fn read(&self, from: u64, to: u64) -> Result<Vec<Delivery>, BusError> {
        let db = self.shared.upgrade().ok_or(BusError::Closed)?.database()?;
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || read_range(&db, &topic, from, to))
            .await
            .map_err(|error| {
                BusError::unavailable(format!("failed to read topic `{}`", self.topic), error)
            })?
    }

    /// Marks the offsets of `from..to` that are not among `deliveries` (removed by the cleaner) as processed.
    fn skip_gaps(&mut self, from: u64, to: u64, deliveries: &[Delivery]) {
        let mut expected = from;
        let delivered = deliveries.iter().map(|delivery| delivery.position.offset);
        for offset in delivered.chain(std::iter::once(to)) {
            for gap in expected..offset {
                self.watermark.mark(gap);
            }
            expected = offset + 1;
        }
    }
}

#[async_trait]
impl Subscription for EmbeddedSubscription {
    /// Partition 0, for good: one partition, one process.
    fn ownership(&self) -> Ownership {
        Ownership::fixed([0])
    }

    /// Waits until the log end passes the next offset, then returns up to `max` records (at least one, even when
    /// `max` is 0).
    #[instrument(level = "debug", skip_all, fields(topic = %self.topic))]
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let max = u64::try_from(max.max(1)).unwrap_or(u64::MAX);
        loop {
            // Marks the current end as seen: a commit after this line makes `changed` return at once.
            let end = *self.end.borrow_and_update();
            if self.next_read < end {
                let to = end.min(self.next_read.saturating_add(max));
                let from = self.next_read;
                let deliveries = self.read(from, to).await?;
                if crate::KEYED_TOPICS.contains(&self.topic.as_str()) {
                    // The cleaner removes records and leaves gaps (the `cleaner` module): a gap is never delivered,
                    // so it counts as processed, or the group could never commit past it.
                    self.skip_gaps(from, to, &deliveries);
                    if deliveries.is_empty() {
                        self.next_read = to;
                        continue;
                    }
                }
                let Some(last) = deliveries.last() else {
                    return Err(BusError::Unavailable {
                        context: format!(
                            "failed to read topic `{}`: offsets {}..{to} are missing",
                            self.topic, self.next_read
                        ),
                        source: None,
                    });
                };
                self.next_read = last.position.offset + 1;
                return Ok(deliveries);
            }
            if self.end.changed().await.is_err() {
                return Err(BusError::Closed);
            }
        }
    }

    /// Marks `processed` and stores the contiguous watermark as the group's offset, durably. Positions outside
    /// partition 0 or not delivered yet are ignored (with a warning): marking them would skip records.
    #[instrument(level = "debug", skip_all, fields(topic = %self.topic, group = ?self.group))]
    async fn commit(&mut self, processed: &[Position]) -> Result<(), BusError> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        for position in processed {
            if position.partition != 0 || position.offset >= self.next_read {
                warn!(
                    partition = position.partition,
                    offset = position.offset,
                    "ignoring a commit of a position this subscription has not delivered"
                );
                continue;
            }
            self.watermark.mark(position.offset);
        }
        let next = self.watermark.next();
        if next == self.committed {
            return Ok(());
        }
        let (reply, outcome) = oneshot::channel();
        let command = Command::CommitOffset {
            group: group.clone(),
            topic: self.topic.clone(),
            next,
            reply,
        };
        let commands = self.commands.upgrade().ok_or(BusError::Closed)?;
        commands.send(command).map_err(|_| BusError::Closed)?;
        // Not kept across the wait: the writer stops once the bus and every in-flight send are gone.
        drop(commands);
        outcome.await.map_err(|_| BusError::Closed)??;
        self.committed = next;
        Ok(())
    }
}

/// Returns the records of `topic` at offsets `[from, to)`.
/// A reader of the embedded log's one partition ([`crate::Bus::read_partition`]): `[next, end)` a chunk at a time.
pub(super) struct EmbeddedPartitionReader {
    pub(super) shared: Weak<Shared>,
    pub(super) topic: String,
    pub(super) next: u64,
    pub(super) end: u64,
}

#[async_trait]
impl PartitionReader for EmbeddedPartitionReader {
    fn end(&self) -> u64 {
        self.end
    }

    async fn next_batch(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let max = u64::try_from(max.max(1)).unwrap_or(u64::MAX);
        while self.next < self.end {
            let (from, to) = (self.next, self.end.min(self.next.saturating_add(max)));
            let db = self.shared.upgrade().ok_or(BusError::Closed)?.database()?;
            let topic = self.topic.clone();
            let deliveries = tokio::task::spawn_blocking(move || read_range(&db, &topic, from, to))
                .await
                .map_err(|error| {
                    BusError::unavailable(format!("failed to read topic `{}`", self.topic), error)
                })??;
            // A range the cleaner emptied is skipped; the next read starts after what was returned.
            self.next = deliveries
                .last()
                .map_or(to, |last| last.position.offset + 1);
            if !deliveries.is_empty() {
                return Ok(deliveries);
            }
        }
        Ok(Vec::new())
    }
}

fn read_range(db: &Database, topic: &str, from: u64, to: u64) -> Result<Vec<Delivery>, BusError> {
    let unavailable = |error: redb::Error| {
        BusError::unavailable(format!("failed to read topic `{topic}`"), error)
    };
    let txn = db.begin_read().map_err(|error| unavailable(error.into()))?;
    let name = log_table_name(topic);
    let table = txn
        .open_table(log_table(&name))
        .map_err(|error| unavailable(error.into()))?;
    let capacity = usize::try_from(to.saturating_sub(from))
        .unwrap_or(0)
        .min(4096);
    let mut deliveries = Vec::with_capacity(capacity);
    for entry in table
        .range(from..to)
        .map_err(|error| unavailable(error.into()))?
    {
        let (offset, bytes) = entry.map_err(|error| unavailable(error.into()))?;
        let offset = offset.value();
        let record = codec::decode(bytes.value())
            .unwrap_or_else(|error| corrupt(topic, offset, bytes.value(), &error));
        deliveries.push(Delivery {
            topic: topic.to_owned(),
            position: Position {
                partition: 0,
                offset,
            },
            record,
        });
    }
    Ok(deliveries)
}

/// Stands in for a stored record that cannot be decoded (damaged bytes): delivered in its place, never skipped and
/// never stopping the topic, with an empty payload (which no stage can decode, so each dead-letters it as it does
/// any undecodable record, under the key salvaged from the damaged bytes when there is one) and the
/// [`crate::HEADER_CORRUPT`] header saying what was wrong and where.
fn corrupt(topic: &str, offset: u64, bytes: &[u8], error: &codec::DecodeError) -> Record {
    tracing::error!(topic, offset, %error, "corrupt record on the embedded bus: delivered as a dead letter");
    Record {
        key: codec::salvage_key(bytes),
        headers: vec![(
            crate::HEADER_CORRUPT.to_owned(),
            format!("{topic} offset {offset}: {error}"),
        )],
        payload: bytes::Bytes::new(),
    }
}

/// Returns the next offset `group` reads on `topic`: its stored offset, or 0.
pub(super) fn read_group_offset(
    db: &Arc<Database>,
    group: &str,
    topic: &str,
) -> Result<u64, BusError> {
    let unavailable = |error: redb::Error| {
        BusError::unavailable(
            format!("failed to read offset of group `{group}` on topic `{topic}`"),
            error,
        )
    };
    let txn = db.begin_read().map_err(|error| unavailable(error.into()))?;
    let table = txn
        .open_table(GROUP_OFFSETS)
        .map_err(|error| unavailable(error.into()))?;
    let offset = table
        .get((group, topic))
        .map_err(|error| unavailable(error.into()))?;
    Ok(offset.map(|offset| offset.value()).unwrap_or(0))
}
