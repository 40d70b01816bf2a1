//! Helpers of the conformance suite: unique names, records, and bus calls that panic with context and fail on hangs.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use tokio::time::timeout;

use super::HANG_GUARD;
use crate::{BusClient, Delivery, Position, Record, SubscribeOptions, Subscription};

/// The key of every record the suite publishes (one key keeps one partition).
pub(super) const KEY: &str = "conformance";

/// Returns `name` with a suffix unique to this process and call.
pub(super) fn unique(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "conformance.{name}.{}.{nanos:x}.{count}",
        std::process::id()
    )
}

pub(super) fn record(i: usize) -> Record {
    Record::new(KEY, format!(r#"{{"n":{i}}}"#))
}

pub(super) fn records(range: std::ops::Range<usize>) -> Vec<Record> {
    range.map(record).collect()
}

/// Fails the test if `future` takes longer than [`HANG_GUARD`].
pub(super) async fn guard<F: Future>(future: F) -> F::Output {
    timeout(HANG_GUARD, future).await.expect("a bus call hung")
}

pub(super) async fn new_topic(bus: &BusClient, name: &str) -> String {
    let topic = unique(name);
    guard(bus.ensure_topics(&[&topic]))
        .await
        .unwrap_or_else(|error| panic!("failed to create `{topic}`: {error:?}"));
    topic
}

pub(super) async fn publish(bus: &BusClient, topic: &str, records: Vec<Record>) -> Vec<Position> {
    let num_records = records.len();
    let positions = guard(bus.publish(topic, records))
        .await
        .unwrap_or_else(|error| panic!("failed to publish to `{topic}`: {error:?}"));
    assert_eq!(
        positions.len(),
        num_records,
        "publish must return one position per record"
    );
    positions
}

pub(super) async fn subscribe(
    bus: &BusClient,
    topic: &str,
    group: Option<&str>,
) -> Box<dyn Subscription> {
    let options = SubscribeOptions {
        topic: topic.to_owned(),
        group: group.map(str::to_owned),
    };
    guard(bus.subscribe(options))
        .await
        .unwrap_or_else(|error| panic!("failed to subscribe to `{topic}`: {error:?}"))
}

pub(super) async fn next_batch(
    subscription: &mut Box<dyn Subscription>,
    max: usize,
) -> Vec<Delivery> {
    let batch = guard(subscription.next_batch(max))
        .await
        .unwrap_or_else(|error| panic!("next_batch failed: {error:?}"));
    assert!(
        !batch.is_empty() && batch.len() <= max,
        "next_batch({max}) returned {} records",
        batch.len()
    );
    batch
}

/// Reads exactly `num_records` records.
pub(super) async fn collect(
    subscription: &mut Box<dyn Subscription>,
    num_records: usize,
) -> Vec<Delivery> {
    let mut deliveries = Vec::with_capacity(num_records);
    while deliveries.len() < num_records {
        deliveries.extend(next_batch(subscription, num_records - deliveries.len()).await);
    }
    deliveries
}

pub(super) async fn commit(subscription: &mut Box<dyn Subscription>, positions: &[Position]) {
    guard(subscription.commit(positions))
        .await
        .unwrap_or_else(|error| panic!("commit failed: {error:?}"));
}

pub(super) fn delivered_positions(deliveries: &[Delivery]) -> Vec<Position> {
    deliveries
        .iter()
        .map(|delivery| delivery.position)
        .collect()
}

/// Asserts that offsets strictly increase within each partition.
pub(super) fn assert_increasing(positions: &[Position], what: &str) {
    let mut last = HashMap::new();
    for position in positions {
        if let Some(previous) = last.insert(position.partition, position.offset) {
            assert!(
                previous < position.offset,
                "{what} must increase: {previous} then {}",
                position.offset
            );
        }
    }
    let distinct: HashSet<&Position> = positions.iter().collect();
    assert_eq!(distinct.len(), positions.len(), "{what} must be distinct");
}
