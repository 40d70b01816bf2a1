//! The backend-neutral contract of [`Bus`](crate::Bus), which every implementation runs against itself (style.md §3).
//!
//! Each test takes a [`BusFactory`] that opens a client on the *same* backing store on every call (the same data
//! directory, the same cluster). A test "restarts" by dropping its client and subscriptions and opening again, so
//! the factory must be able to open again once the previous client is gone. Topic and group names carry a unique
//! suffix, so the suite may run against a shared, long-lived cluster; records of one test share one key, so a
//! multi-partition topic keeps them in one partition.
//!
//! Assertions panic. Timeouts ([`HANG_GUARD`]) only turn a hang into a failure; nothing here measures speed.
//!
//! ```no_run
//! # async fn example() {
//! use accord_bus::{BusClient, embedded::EmbeddedBus};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().to_owned();
//! let factory = move || std::future::ready(BusClient::new(EmbeddedBus::open(&path).unwrap()));
//! accord_bus::conformance::run_all(&factory).await;
//! # }
//! ```

mod support;

use std::{collections::HashMap, future::Future, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;

use self::support::{
    KEY, assert_increasing, collect, commit, delivered_positions, guard, new_topic, next_batch,
    publish, record, records, subscribe, unique,
};
use crate::{BusClient, BusError, Position, Record};

/// How long any single bus call may take before the test fails as hung.
pub const HANG_GUARD: Duration = Duration::from_secs(10);

/// Opens clients on one backing store.
#[async_trait]
pub trait BusFactory: Send + Sync {
    /// Opens a client; called again after the previous client was dropped, it simulates a restart.
    async fn open(&self) -> BusClient;
}

#[async_trait]
impl<F, Fut> BusFactory for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = BusClient> + Send,
{
    async fn open(&self) -> BusClient {
        self().await
    }
}

/// The name of every case of the suite: a runner that runs them one test each checks that it misses none (see the
/// `every_conformance_case_runs` tests of `tests/embedded` and `tests/kafka`).
pub const CASES: &[&str] = &[
    "health_is_ok",
    "publish_to_unknown_topic_fails",
    "ensure_topics_is_idempotent",
    "publish_then_subscribe_in_order",
    "records_round_trip",
    "next_batch_respects_max",
    "next_batch_waits_for_new_records",
    "groupless_subscription_reads_from_the_beginning",
    "group_resumes_after_commit",
    "uncommitted_records_are_redelivered",
    "groups_are_independent",
    "committed_offsets_follow_commits",
    "commit_keeps_a_contiguous_watermark",
    "acknowledged_records_survive_restart",
    "concurrent_publishers_get_distinct_ordered_offsets",
    "a_partition_is_read_from_an_offset_up_to_its_end_at_open",
    "a_subscription_owns_the_partitions_it_delivers",
];

/// Runs every test of the suite, one after the other.
pub async fn run_all(factory: &impl BusFactory) {
    health_is_ok(factory).await;
    publish_to_unknown_topic_fails(factory).await;
    ensure_topics_is_idempotent(factory).await;
    publish_then_subscribe_in_order(factory).await;
    records_round_trip(factory).await;
    next_batch_respects_max(factory).await;
    next_batch_waits_for_new_records(factory).await;
    groupless_subscription_reads_from_the_beginning(factory).await;
    group_resumes_after_commit(factory).await;
    uncommitted_records_are_redelivered(factory).await;
    groups_are_independent(factory).await;
    committed_offsets_follow_commits(factory).await;
    commit_keeps_a_contiguous_watermark(factory).await;
    acknowledged_records_survive_restart(factory).await;
    concurrent_publishers_get_distinct_ordered_offsets(factory).await;
    a_partition_is_read_from_an_offset_up_to_its_end_at_open(factory).await;
    a_subscription_owns_the_partitions_it_delivers(factory).await;
}

/// A fresh bus answers its health check.
pub async fn health_is_ok(factory: &impl BusFactory) {
    let bus = factory.open().await;
    guard(bus.health())
        .await
        .expect("a fresh bus must be healthy");
}

/// Publishing to a topic that was never created fails with [`BusError::UnknownTopic`].
pub async fn publish_to_unknown_topic_fails(factory: &impl BusFactory) {
    let bus = factory.open().await;
    let topic = unique("unknown");
    let result = guard(bus.publish(&topic, vec![record(0)])).await;
    assert!(
        matches!(&result, Err(BusError::UnknownTopic(name)) if *name == topic),
        "publishing to an unknown topic must fail with UnknownTopic, got {result:?}"
    );
}

/// Ensuring existing topics changes nothing and keeps their records.
pub async fn ensure_topics_is_idempotent(factory: &impl BusFactory) {
    let bus = factory.open().await;
    let topic = new_topic(&bus, "idempotent").await;
    let other = unique("idempotent-other");
    guard(bus.ensure_topics(&[&topic, &other, &topic]))
        .await
        .expect("ensure_topics must accept existing topics");
    let positions = publish(&bus, &topic, records(0..3)).await;
    guard(bus.ensure_topics(&[&topic]))
        .await
        .expect("ensure_topics must accept existing topics");
    let mut subscription = subscribe(&bus, &topic, None).await;
    let deliveries = collect(&mut subscription, 3).await;
    assert_eq!(
        delivered_positions(&deliveries),
        positions,
        "ensure_topics must keep existing records"
    );
}

/// Records come back in publish order, at the positions publish returned, which increase.
pub async fn publish_then_subscribe_in_order(factory: &impl BusFactory) {
    let bus = factory.open().await;
    let topic = new_topic(&bus, "order").await;
    let mut positions = Vec::new();
    for range in [0..1, 1..6, 6..16] {
        let batch = records(range.clone());
        let batch_positions = publish(&bus, &topic, batch).await;
        assert_eq!(
            batch_positions.len(),
            range.len(),
            "publish must return one position per record"
        );
        positions.extend(batch_positions);
    }
    assert_increasing(&positions, "positions returned by publish");
    let mut subscription = subscribe(&bus, &topic, None).await;
    let deliveries = collect(&mut subscription, 16).await;
    assert_eq!(
        delivered_positions(&deliveries),
        positions,
        "deliveries must come at the published positions"
    );
    for (i, delivery) in deliveries.iter().enumerate() {
        assert_eq!(delivery.topic, topic);
        assert_eq!(
            delivery.record,
            record(i),
            "delivery {i} must be the record published {i}th"
        );
    }
}

/// Keys, headers and payloads (empty or binary) come back unchanged.
pub async fn records_round_trip(factory: &impl BusFactory) {
    let bus = factory.open().await;
    let topic = new_topic(&bus, "round-trip").await;
    let sent = vec![
        Record {
            key: Some(KEY.to_owned()),
            headers: vec![
                ("record-id".into(), "r-1".into()),
                ("trace".into(), "ünï".into()),
            ],
            payload: Bytes::from_static(br#"{"report":"r-1"}"#),
        },
        Record {
            key: None,
            headers: Vec::new(),
            payload: Bytes::from_static(&[0, 159, 146, 150, 255]),
        },
        Record {
            key: Some(KEY.to_owned()),
            headers: Vec::new(),
            payload: Bytes::new(),
        },
    ];
    publish(&bus, &topic, sent.clone()).await;
    let mut subscription = subscribe(&bus, &topic, None).await;
    let mut received: Vec<Record> = collect(&mut subscription, 3)
        .await
        .into_iter()
        .map(|d| d.record)
        .collect();
    // The keyless record may land on another partition of a multi-partition topic: compare as sets of records.
    received.sort_by(|a, b| a.payload.cmp(&b.payload));
    let mut expected = sent;
    expected.sort_by(|a, b| a.payload.cmp(&b.payload));
    assert_eq!(received, expected, "records must round-trip unchanged");
}

/// `next_batch(max)` returns between 1 and `max` records, and everything eventually.
pub async fn next_batch_respects_max(factory: &impl BusFactory) {
    let bus = factory.open().await;
    let topic = new_topic(&bus, "max").await;
    let positions = publish(&bus, &topic, records(0..10)).await;
    let mut subscription = subscribe(&bus, &topic, None).await;
    let mut deliveries = Vec::new();
    while deliveries.len() < 10 {
        deliveries.extend(next_batch(&mut subscription, 3).await);
    }
    assert_eq!(
        delivered_positions(&deliveries),
        positions,
        "batches of 3 must deliver everything once, in order"
    );
}

/// `next_batch` on a caught-up subscription waits, and wakes when a record is published (with and without a group).
pub async fn next_batch_waits_for_new_records(factory: &impl BusFactory) {
    let bus = factory.open().await;
    for group in [None, Some(unique("wait"))] {
        let topic = new_topic(&bus, "wait").await;
        let mut subscription = subscribe(&bus, &topic, group.as_deref()).await;
        for i in 0..2 {
            let waiter = tokio::spawn(async move {
                let batch = subscription.next_batch(10).await;
                (subscription, batch)
            });
            // Lets the waiter run until it waits; the assertion holds however long this takes.
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(
                !waiter.is_finished(),
                "next_batch must wait while there is nothing to deliver"
            );
            let positions = publish(&bus, &topic, vec![record(i)]).await;
            let (returned, batch) = guard(waiter).await.expect("the waiting task panicked");
            subscription = returned;
            let batch = batch.expect("next_batch must return the record published while it waited");
            assert_eq!(
                delivered_positions(&batch),
                positions,
                "the waiter must get the new record"
            );
            assert_eq!(batch[0].record, record(i));
        }
    }
}

/// A subscription without a group reads from the beginning, whatever groups committed, and commits nothing.
pub async fn groupless_subscription_reads_from_the_beginning(factory: &impl BusFactory) {
    let group = unique("groupless");
    let (topic, positions) = {
        let bus = factory.open().await;
        let topic = new_topic(&bus, "groupless").await;
        let positions = publish(&bus, &topic, records(0..5)).await;
        let mut grouped = subscribe(&bus, &topic, Some(&group)).await;
        let deliveries = collect(&mut grouped, 5).await;
        commit(&mut grouped, &delivered_positions(&deliveries)).await;
        let mut groupless = subscribe(&bus, &topic, None).await;
        let deliveries = collect(&mut groupless, 5).await;
        assert_eq!(
            delivered_positions(&deliveries),
            positions,
            "a groupless subscription must start at the beginning"
        );
        commit(&mut groupless, &positions).await;
        (topic, positions)
    };
    let bus = factory.open().await;
    let mut groupless = subscribe(&bus, &topic, None).await;
    let deliveries = collect(&mut groupless, 5).await;
    assert_eq!(
        delivered_positions(&deliveries),
        positions,
        "a groupless subscription must start at the beginning"
    );
}

/// After a restart, a group resumes right after what it committed.
pub async fn group_resumes_after_commit(factory: &impl BusFactory) {
    let group = unique("resume");
    let (topic, positions) = {
        let bus = factory.open().await;
        let topic = new_topic(&bus, "resume").await;
        let positions = publish(&bus, &topic, records(0..10)).await;
        let mut subscription = subscribe(&bus, &topic, Some(&group)).await;
        collect(&mut subscription, 10).await;
        commit(&mut subscription, &positions[..4]).await;
        (topic, positions)
    };
    let bus = factory.open().await;
    let mut subscription = subscribe(&bus, &topic, Some(&group)).await;
    let deliveries = collect(&mut subscription, 6).await;
    assert_eq!(
        delivered_positions(&deliveries),
        positions[4..],
        "the group must resume after its commit"
    );
    assert_eq!(deliveries[0].record, record(4));
}

/// Records delivered but not committed are delivered again after a restart; committed ones are not.
pub async fn uncommitted_records_are_redelivered(factory: &impl BusFactory) {
    let group = unique("redeliver");
    let (topic, positions) = {
        let bus = factory.open().await;
        let topic = new_topic(&bus, "redeliver").await;
        let positions = publish(&bus, &topic, records(0..5)).await;
        let mut subscription = subscribe(&bus, &topic, Some(&group)).await;
        collect(&mut subscription, 5).await;
        (topic, positions)
    };
    {
        let bus = factory.open().await;
        let mut subscription = subscribe(&bus, &topic, Some(&group)).await;
        let deliveries = collect(&mut subscription, 5).await;
        assert_eq!(
            delivered_positions(&deliveries),
            positions,
            "uncommitted records must be delivered again"
        );
        commit(&mut subscription, &positions).await;
    }
    let bus = factory.open().await;
    let fresh = publish(&bus, &topic, vec![record(5)]).await;
    let mut subscription = subscribe(&bus, &topic, Some(&group)).await;
    let deliveries = next_batch(&mut subscription, 10).await;
    assert_eq!(
        delivered_positions(&deliveries),
        fresh,
        "committed records must not be delivered again"
    );
}

/// [`Bus::committed_offsets`](crate::Bus::committed_offsets) answers 0 for a group that committed nothing, then the
/// watermark its commits reached (per partition; the records of one test share a partition), also after a restart.
pub async fn committed_offsets_follow_commits(factory: &impl BusFactory) {
    let group = unique("committed");
    let committed = |bus: BusClient, topic: String, group: String| async move {
        guard(bus.committed_offsets(&group, &topic))
            .await
            .expect("committed offsets")
    };
    let (topic, positions) = {
        let bus = factory.open().await;
        let topic = new_topic(&bus, "committed").await;
        let positions = publish(&bus, &topic, records(0..6)).await;
        let before = committed(bus.clone(), topic.clone(), group.clone()).await;
        assert!(!before.is_empty(), "one position per partition");
        assert!(
            before.iter().all(|position| position.offset == 0),
            "{before:?}"
        );
        let mut subscription = subscribe(&bus, &topic, Some(&group)).await;
        collect(&mut subscription, 6).await;
        commit(&mut subscription, &positions[..4]).await;
        (topic, positions)
    };
    let bus = factory.open().await;
    let after = committed(bus, topic, group).await;
    let partition = positions[3].partition;
    let next = after
        .iter()
        .find(|position| position.partition == partition)
        .map(|position| position.offset);
    assert_eq!(next, Some(positions[3].offset + 1), "{after:?}");
}

/// Two groups each see every record, and each resumes from its own commit.
pub async fn groups_are_independent(factory: &impl BusFactory) {
    let (done, behind) = (unique("independent-done"), unique("independent-behind"));
    let (topic, positions) = {
        let bus = factory.open().await;
        let topic = new_topic(&bus, "independent").await;
        let positions = publish(&bus, &topic, records(0..4)).await;
        let mut first = subscribe(&bus, &topic, Some(&done)).await;
        let mut second = subscribe(&bus, &topic, Some(&behind)).await;
        assert_eq!(
            delivered_positions(&collect(&mut first, 4).await),
            positions,
            "each group must see everything"
        );
        assert_eq!(
            delivered_positions(&collect(&mut second, 4).await),
            positions,
            "each group must see everything"
        );
        commit(&mut first, &positions).await;
        commit(&mut second, &positions[..1]).await;
        (topic, positions)
    };
    let bus = factory.open().await;
    let fresh = publish(&bus, &topic, vec![record(4)]).await;
    let mut first = subscribe(&bus, &topic, Some(&done)).await;
    assert_eq!(
        delivered_positions(&next_batch(&mut first, 10).await),
        fresh,
        "a group must resume after its commit"
    );
    let mut second = subscribe(&bus, &topic, Some(&behind)).await;
    let expected = [&positions[1..], &fresh[..]].concat();
    assert_eq!(
        delivered_positions(&collect(&mut second, 4).await),
        expected,
        "a group must resume after its commit"
    );
}

/// A commit stores the contiguous watermark: marking {0, 1, 3} commits up to 2; marking 2 then moves past 3.
pub async fn commit_keeps_a_contiguous_watermark(factory: &impl BusFactory) {
    let (gap, filled) = (unique("watermark-gap"), unique("watermark-filled"));
    let (topic, positions) = {
        let bus = factory.open().await;
        let topic = new_topic(&bus, "watermark").await;
        let positions = publish(&bus, &topic, records(0..6)).await;
        for group in [&gap, &filled] {
            let mut subscription = subscribe(&bus, &topic, Some(group)).await;
            collect(&mut subscription, 6).await;
            commit(
                &mut subscription,
                &[positions[0], positions[1], positions[3]],
            )
            .await;
            if group == &filled {
                commit(&mut subscription, &[positions[2]]).await;
            }
        }
        (topic, positions)
    };
    let bus = factory.open().await;
    let mut subscription = subscribe(&bus, &topic, Some(&gap)).await;
    let deliveries = collect(&mut subscription, 4).await;
    assert_eq!(
        delivered_positions(&deliveries),
        positions[2..],
        "committing {{0, 1, 3}} must commit up to 2 only"
    );
    let mut subscription = subscribe(&bus, &topic, Some(&filled)).await;
    let deliveries = collect(&mut subscription, 2).await;
    assert_eq!(
        delivered_positions(&deliveries),
        positions[4..],
        "marking 2 must move the watermark past 3"
    );
}

/// Every acknowledged record is there after a restart, and new offsets continue after the old ones.
pub async fn acknowledged_records_survive_restart(factory: &impl BusFactory) {
    let (topic, expected) = {
        let bus = factory.open().await;
        let topic = new_topic(&bus, "restart").await;
        let mut publishers = Vec::new();
        for task in 0..10 {
            let (bus, topic) = (bus.clone(), topic.clone());
            publishers.push(tokio::spawn(async move {
                let batch = records(task * 10..task * 10 + 10);
                let positions = publish(&bus, &topic, batch.clone()).await;
                positions.into_iter().zip(batch).collect::<Vec<_>>()
            }));
        }
        let mut expected = HashMap::new();
        for publisher in publishers {
            expected.extend(publisher.await.expect("a publisher panicked"));
        }
        (topic, expected)
    };
    let bus = factory.open().await;
    let mut subscription = subscribe(&bus, &topic, None).await;
    let deliveries = collect(&mut subscription, expected.len()).await;
    assert_increasing(&delivered_positions(&deliveries), "delivered positions");
    for delivery in &deliveries {
        assert_eq!(
            Some(&delivery.record),
            expected.get(&delivery.position),
            "record at {:?}",
            delivery.position
        );
    }
    let fresh = publish(&bus, &topic, vec![record(100)]).await;
    let mut all = delivered_positions(&deliveries);
    all.extend(fresh);
    assert_increasing(&all, "positions published after a restart");
}

/// Many tasks publishing at once get distinct positions, and a reader sees every record exactly once, in order.
pub async fn concurrent_publishers_get_distinct_ordered_offsets(factory: &impl BusFactory) {
    const NUM_TASKS: usize = 50;
    const NUM_RECORDS_PER_TASK: usize = 100;
    let bus = factory.open().await;
    let topic = new_topic(&bus, "concurrent").await;
    let mut publishers = Vec::new();
    for task in 0..NUM_TASKS {
        let (bus, topic) = (bus.clone(), topic.clone());
        publishers.push(tokio::spawn(async move {
            let mut published = Vec::with_capacity(NUM_RECORDS_PER_TASK);
            for seq in 0..NUM_RECORDS_PER_TASK {
                let record = Record::new(
                    format!("task-{task}"),
                    format!(r#"{{"task":{task},"seq":{seq}}}"#),
                );
                let positions = publish(&bus, &topic, vec![record.clone()]).await;
                published.push((positions[0], record));
            }
            published
        }));
    }
    let mut expected = HashMap::new();
    for publisher in publishers {
        let published = publisher.await.expect("a publisher panicked");
        let positions: Vec<Position> = published.iter().map(|(position, _)| *position).collect();
        assert_increasing(&positions, "positions returned to one publisher");
        for (position, record) in published {
            assert!(
                expected.insert(position, record).is_none(),
                "position {position:?} was returned twice"
            );
        }
    }
    assert_eq!(expected.len(), NUM_TASKS * NUM_RECORDS_PER_TASK);
    let mut subscription = subscribe(&bus, &topic, None).await;
    let deliveries = collect(&mut subscription, expected.len()).await;
    assert_increasing(&delivered_positions(&deliveries), "delivered positions");
    for delivery in deliveries {
        let record = expected.remove(&delivery.position);
        assert_eq!(
            record,
            Some(delivery.record),
            "record at {:?} must be delivered once, as published",
            delivery.position
        );
    }
    assert!(
        expected.is_empty(),
        "{} published records were not delivered",
        expected.len()
    );
}

/// Reads a partition reader to its end (an empty batch), each batch within `max`.
async fn read_to_end(
    reader: &mut Box<dyn crate::PartitionReader>,
    max: usize,
) -> Vec<crate::Delivery> {
    let mut deliveries = Vec::new();
    loop {
        let batch = guard(reader.next_batch(max))
            .await
            .unwrap_or_else(|error| panic!("a partition read failed: {error:?}"));
        assert!(
            batch.len() <= max,
            "next_batch({max}) returned {} records",
            batch.len()
        );
        if batch.is_empty() {
            return deliveries;
        }
        deliveries.extend(batch);
    }
}

/// [`Bus::read_partition`](crate::Bus::read_partition) returns the records of one partition from the offset asked
/// for up to the end the partition had when the reader opened (records published later are not returned), then
/// empty batches; from the end on it returns nothing; a partition the topic does not have is refused.
pub async fn a_partition_is_read_from_an_offset_up_to_its_end_at_open(factory: &impl BusFactory) {
    let bus = factory.open().await;
    let topic = new_topic(&bus, "partition-read").await;
    let positions = publish(&bus, &topic, records(0..8)).await;
    let partition = positions[0].partition;
    let open = |from: u64| {
        let (bus, topic) = (bus.clone(), topic.clone());
        async move {
            guard(bus.read_partition(&topic, partition, from))
                .await
                .unwrap_or_else(|error| panic!("read_partition failed: {error:?}"))
        }
    };
    let mut reader = open(positions[2].offset).await;
    assert_eq!(
        reader.end(),
        positions[7].offset + 1,
        "the end is the partition's end at open"
    );
    publish(&bus, &topic, records(8..10)).await;
    let deliveries = read_to_end(&mut reader, 3).await;
    assert_eq!(
        delivered_positions(&deliveries),
        positions[2..],
        "from the offset asked for to the end at open"
    );
    let expected: Vec<Record> = records(2..8);
    let read: Vec<Record> = deliveries
        .into_iter()
        .map(|delivery| delivery.record)
        .collect();
    assert_eq!(read, expected);
    let mut at_end = open(positions[7].offset + 3).await;
    assert!(
        read_to_end(&mut at_end, 10).await.is_empty(),
        "nothing past the end"
    );
    let missing = guard(bus.read_partition(&topic, 1000, 0)).await;
    assert!(
        matches!(missing, Err(BusError::Refused(_))),
        "a partition the topic does not have must be refused: {:?}",
        missing.map(|reader| reader.end())
    );
}

/// [`Subscription::owned`](crate::Subscription::owned): a groupless subscription owns every partition for good; a
/// lone group member owns the partition of every record it delivers, once it delivered it, and its generation
/// is not 0 unless its ownership is fixed.
pub async fn a_subscription_owns_the_partitions_it_delivers(factory: &impl BusFactory) {
    let bus = factory.open().await;
    let topic = new_topic(&bus, "owned").await;
    let positions = publish(&bus, &topic, records(0..3)).await;
    let partition = positions[0].partition;
    let groupless = subscribe(&bus, &topic, None).await;
    let owned = groupless.owned();
    assert!(
        owned.fixed && owned.owns(partition),
        "a groupless subscription owns every partition: {owned:?}"
    );
    assert_eq!(owned.generation, 0);
    let mut grouped = subscribe(&bus, &topic, Some(&unique("owned"))).await;
    let deliveries = collect(&mut grouped, 3).await;
    let owned = grouped.owned();
    for delivery in &deliveries {
        assert!(
            owned.owns(delivery.position.partition),
            "{owned:?} lacks a delivered partition"
        );
    }
    assert!(
        owned.fixed || owned.generation > 0,
        "an assignment changes the generation: {owned:?}"
    );
}
