//! Reading one partition of a topic up to the end it had when the read began ([`crate::Bus::read_partition`]).
//!
//! A consumer outside any group (a throwaway `group.id`, nothing committed) is `assign()`ed the one partition at the
//! requested offset (`auto.offset.reset=earliest` when that offset is gone: below the log start) with
//! `enable.partition.eof`, and polled on a blocking thread. The end is the partition's high watermark fetched at
//! open: records at or past it are not returned, and the reader is done once it has returned the record just below
//! it, or the consumer reports the partition's end (compaction may have removed the records just below it). Beacons
//! (`crate::BEACON_HEADER`) are left out. A poll
//! that makes no progress for the request timeout is an [`BusError::Unavailable`] (the broker is down): the caller
//! retries with a new reader.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
};

use super::config::KafkaConfig;
use crate::{BusError, Delivery, PartitionReader};

/// How long one `poll` blocks.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long a batch keeps gathering once it holds a record.
const GATHER: Duration = Duration::from_millis(50);

/// A reader of one partition; see the module documentation.
pub(super) struct KafkaPartitionReader {
    consumer: Option<Arc<BaseConsumer>>,
    topic: String,
    end: u64,
    timeout: Duration,
}

impl KafkaPartitionReader {
    /// Opens the reader of `partition` from `from` to `end` (the high watermark the caller fetched).
    pub(super) fn open(
        config: &KafkaConfig,
        topic: &str,
        partition: i32,
        from: u64,
        end: u64,
    ) -> Result<Self, BusError> {
        let consumer = if from < end {
            let mut client_config = config.consumer_config(None);
            client_config.set("enable.partition.eof", "true");
            let consumer: BaseConsumer = client_config.create().map_err(|error| {
                BusError::unavailable("failed to create a kafka partition reader", error)
            })?;
            let mut assignment = TopicPartitionList::new();
            let offset = i64::try_from(from).unwrap_or(i64::MAX);
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(offset))
                .and_then(|()| consumer.assign(&assignment))
                .map_err(|error| {
                    BusError::unavailable(
                        format!("failed to assign partition {partition} of `{topic}`"),
                        error,
                    )
                })?;
            Some(Arc::new(consumer))
        } else {
            None
        };
        Ok(Self {
            consumer,
            topic: topic.to_owned(),
            end,
            timeout: config.request_timeout,
        })
    }
}

/// What one blocking poll run gave: records, and whether the end was reached.
fn poll_batch(
    consumer: &BaseConsumer,
    topic: &str,
    end: u64,
    max: usize,
    timeout: Duration,
) -> Result<(Vec<Delivery>, bool), BusError> {
    let mut batch = Vec::new();
    let mut progress = Instant::now();
    let mut gather_until: Option<Instant> = None;
    loop {
        if gather_until.is_some_and(|until| Instant::now() >= until) {
            return Ok((batch, false));
        }
        match consumer.poll(POLL_INTERVAL) {
            None => {}
            Some(Ok(message)) => {
                progress = Instant::now();
                let Some(delivery) = super::consumer::to_delivery(topic, &message) else {
                    continue;
                };
                let offset = delivery.position.offset;
                if offset >= end {
                    return Ok((batch, true));
                }
                // A beacon (`orphans`) is the bus's own: never returned.
                if !crate::is_beacon(&delivery.record.headers) {
                    batch.push(delivery);
                }
                if offset + 1 >= end {
                    return Ok((batch, true));
                }
                if batch.len() >= max {
                    return Ok((batch, false));
                }
                if !batch.is_empty() {
                    gather_until.get_or_insert_with(|| Instant::now() + GATHER);
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok((batch, true)),
            // Transient (a broker down, a leader moving): librdkafka retries on its own, within the timeout.
            Some(Err(error)) => tracing::debug!(%error, topic, "partition read error"),
        }
        if progress.elapsed() >= timeout {
            return Err(BusError::Unavailable {
                context: format!(
                    "reading a partition of `{topic}` made no progress for {} ms",
                    timeout.as_millis()
                ),
                source: None,
            });
        }
    }
}

#[async_trait]
impl PartitionReader for KafkaPartitionReader {
    fn end(&self) -> u64 {
        self.end
    }

    async fn next_batch(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let Some(consumer) = self.consumer.clone() else {
            return Ok(Vec::new());
        };
        let (topic, end, max, timeout) = (self.topic.clone(), self.end, max.max(1), self.timeout);
        let (batch, done) =
            tokio::task::spawn_blocking(move || poll_batch(&consumer, &topic, end, max, timeout))
                .await
                .map_err(|error| {
                    BusError::unavailable("failed to run a partition read", error)
                })??;
        if done {
            // Closing the consumer blocks (briefly): off the runtime.
            if let Some(consumer) = self.consumer.take() {
                tokio::task::spawn_blocking(move || drop(consumer));
            }
        }
        Ok(batch)
    }
}
