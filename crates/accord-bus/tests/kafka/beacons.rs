//! Beacons (`accord_bus::BEACON_HEADER`): on a keyed topic, a member writes one into each partition it does not own
//! whose records its group has all committed, so that a partition nobody reads shows records waiting. A live owner
//! takes it without delivering it and commits past it; a groupless reader sees it, marked.

use std::{collections::BTreeSet, time::Duration};

use accord_bus::{BusClient, Delivery, Position, Record, Subscription, kafka::KafkaConfig};
use tokio::task::JoinHandle;

use crate::{PARTITIONS, WAIT, bootstrap, collect, config, connect, positions, subscribe, unique};

/// Reads `subscription` until aborted, returning nothing: every delivery fails the test (nothing new is published
/// while it runs, so anything delivered is a beacon or a record delivered twice).
fn read_nothing(mut subscription: Box<dyn Subscription>, name: &'static str) -> JoinHandle<()> {
    tokio::spawn(async move {
        let batch = subscription
            .next_batch(100)
            .await
            .expect("next_batch failed");
        let seen: Vec<&Delivery> = batch.iter().collect();
        panic!("{name} delivered records while nothing was published: {seen:?}");
    })
}

/// The beacons of every partition of `topic`, read from the beginning by a groupless reader, until each partition
/// has one; fails after [`WAIT`].
async fn beacon_partitions(bus: &BusClient, topic: &str) -> BTreeSet<u32> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut reader = subscribe(bus, topic, None).await;
    let mut found = BTreeSet::new();
    while found.len() < usize::from(PARTITIONS) {
        let batch = tokio::time::timeout_at(deadline, reader.next_batch(1000))
            .await
            .unwrap_or_else(|_| panic!("beacons in partitions {found:?} only, within {WAIT:?}"))
            .expect("next_batch failed");
        for delivery in batch {
            if accord_bus::is_beacon(&delivery.record.headers) {
                assert_eq!(delivery.record.key.as_deref(), Some(accord_bus::BEACON_KEY));
                found.insert(delivery.position.partition);
            }
        }
    }
    found
}

/// Waits until the group's committed offsets reach the end of every partition; fails after [`WAIT`].
async fn wait_committed_to_end(bus: &BusClient, topic: &str, group: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ends: Vec<Position> = bus.end_offsets(topic).await.expect("end offsets");
        let committed = bus
            .committed_offsets(group, topic)
            .await
            .expect("committed offsets");
        if committed == ends {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the group did not commit past the beacons: committed {committed:?}, ends {ends:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Two live members of a group on a keyed topic whose records are all committed: each writes beacons into the
/// partitions the other owns, the owner never delivers them, and the group commits past them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_owner_commits_past_beacons_it_never_delivers() {
    let Some(bootstrap) = bootstrap() else { return };
    let topic = unique("beacons");
    // A short session timeout makes the checks come every 12 s.
    let config = KafkaConfig {
        keyed_topics: vec![topic.clone()],
        session_timeout: Duration::from_secs(4),
        ..config(&bootstrap)
    };
    let bus = connect(&config);
    bus.ensure_topics(&[&topic])
        .await
        .expect("failed to create the topic");
    let records: Vec<Record> = (0..30)
        .map(|i| Record::new(format!("key-{i}"), format!(r#"{{"n":{i}}}"#)))
        .collect();
    let published = bus.publish(&topic, records).await.expect("publish");
    let group = unique("beacons");

    let mut first = subscribe(&bus, &topic, Some(&group)).await;
    let read = collect(&mut first, published.len()).await;
    first.commit(&positions(&read)).await.expect("commit");
    let first = read_nothing(first, "the first member");
    let second = read_nothing(
        subscribe(&bus, &topic, Some(&group)).await,
        "the second member",
    );

    let partitions = beacon_partitions(&bus, &topic).await;
    assert_eq!(partitions.len(), usize::from(PARTITIONS));
    wait_committed_to_end(&bus, &topic, &group).await;
    assert!(!first.is_finished(), "the first member failed");
    assert!(!second.is_finished(), "the second member failed");
    first.abort();
    second.abort();
}
