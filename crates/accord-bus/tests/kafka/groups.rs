//! Consumer groups over several partitions: what a commit stores, what a restarted consumer gets, and what a
//! rebalance does to the commits of the member that lost partitions.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use accord_bus::{BusClient, Position, Record};

use crate::{
    PARTITIONS, WAIT, bootstrap, collect, config, connect, drain, positions, subscribe, unique,
};

/// Publishes `num_records` records with distinct keys (spread over the partitions) and returns their positions.
async fn publish_spread(bus: &BusClient, topic: &str, num_records: usize) -> Vec<Position> {
    let records: Vec<Record> = (0..num_records)
        .map(|i| Record::new(format!("key-{i}"), format!(r#"{{"n":{i}}}"#)))
        .collect();
    let positions = bus
        .publish(topic, records)
        .await
        .expect("failed to publish");
    let partitions: BTreeSet<u32> = positions
        .iter()
        .map(|position| position.partition)
        .collect();
    assert_eq!(
        partitions.len(),
        usize::from(PARTITIONS),
        "the records must cover every partition: {positions:?}"
    );
    positions
}

async fn new_topic(bus: &BusClient, name: &str) -> String {
    let topic = unique(name);
    bus.ensure_topics(&[&topic])
        .await
        .expect("failed to create the topic");
    topic
}

fn by_partition(positions: &[Position]) -> BTreeMap<u32, Vec<u64>> {
    let mut partitions: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for position in positions {
        partitions
            .entry(position.partition)
            .or_default()
            .push(position.offset);
    }
    partitions
}

fn sorted(mut positions: Vec<Position>) -> Vec<Position> {
    positions.sort();
    positions
}

/// A commit stores one watermark per partition; after a restart each partition resumes after its own watermark, so
/// exactly the records not committed come again, and records committed never do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_partition_resumes_after_its_own_watermark() {
    let Some(bootstrap) = bootstrap() else { return };
    let config = config(&bootstrap);
    let group = unique("per-partition");
    let bus = connect(&config);
    let topic = new_topic(&bus, "per-partition").await;
    let published = publish_spread(&bus, &topic, 30).await;
    let partitions = by_partition(&published);
    let (first, second) = (
        partitions.keys().next().copied(),
        partitions.keys().nth(1).copied(),
    );
    let (Some(first), Some(second)) = (first, second) else {
        unreachable!("publish_spread covers every partition")
    };
    // Processed: all of the first partition, the first two records of the second (and a later one, which must not
    // count past the hole), nothing of the others.
    let second_offsets = &partitions[&second];
    let mut processed: Vec<Position> = partitions[&first]
        .iter()
        .map(|&offset| Position {
            partition: first,
            offset,
        })
        .collect();
    for &offset in second_offsets.iter().take(2).chain(second_offsets.get(3)) {
        processed.push(Position {
            partition: second,
            offset,
        });
    }
    {
        let mut subscription = subscribe(&bus, &topic, Some(&group)).await;
        let delivered = collect(&mut subscription, published.len()).await;
        assert_eq!(sorted(positions(&delivered)), sorted(published.clone()));
        subscription
            .commit(&processed)
            .await
            .expect("failed to commit");
    }
    let mut subscription = subscribe(&bus, &topic, Some(&group)).await;
    let committed: BTreeSet<Position> = published
        .iter()
        .copied()
        .filter(|position| {
            position.partition == first
                || (position.partition == second && second_offsets[..2].contains(&position.offset))
        })
        .collect();
    let expected: Vec<Position> = published
        .iter()
        .copied()
        .filter(|position| !committed.contains(position))
        .collect();
    let redelivered = collect(&mut subscription, expected.len()).await;
    assert_eq!(
        sorted(positions(&redelivered)),
        sorted(expected),
        "exactly the records after each partition's watermark must come again"
    );
    let extra = drain(&mut subscription, Duration::from_secs(2)).await;
    assert!(
        extra.is_empty(),
        "committed records came again: {:?}",
        positions(&extra)
    );
}

/// A member that lost partitions in a rebalance does not commit them afterwards: the records it had read there but
/// not committed before the rebalance stay uncommitted for the group, whatever it commits later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_does_not_commit_partitions_it_lost() {
    let Some(bootstrap) = bootstrap() else { return };
    let config = config(&bootstrap);
    let group = unique("rebalance");
    let bus = connect(&config);
    let topic = new_topic(&bus, "rebalance").await;
    let published = publish_spread(&bus, &topic, 30).await;

    let mut first = subscribe(&bus, &topic, Some(&group)).await;
    let read_by_first = collect(&mut first, published.len()).await;
    assert_eq!(sorted(positions(&read_by_first)), sorted(published.clone()));

    // A second member joins: the group rebalances and the second member starts reading its share from the group's
    // committed offsets (nothing was committed: from the beginning).
    let mut second = subscribe(&bus, &topic, Some(&group)).await;
    let first_batch = tokio::time::timeout(WAIT, second.next_batch(1000))
        .await
        .expect("the second member got no partition within the wait")
        .expect("next_batch failed");
    let mut read_by_second = first_batch;
    read_by_second.extend(drain(&mut second, Duration::from_secs(2)).await);
    let lost: BTreeSet<u32> = read_by_second
        .iter()
        .map(|delivery| delivery.position.partition)
        .collect();
    assert!(
        lost.len() < usize::from(PARTITIONS),
        "the first member must keep some partitions"
    );

    // The first member now commits everything it read before the rebalance.
    first
        .commit(&positions(&read_by_first))
        .await
        .expect("a commit after a rebalance must succeed");
    // What the group holds now: no offset on the partitions the first member lost (the second member committed
    // nothing), whatever the first member committed afterwards. Read from the broker rather than by a third member:
    // tansu 0.6 can keep a member that left during a rebalance as the group's leader, which stalls later joins.
    let committed = committed_offsets(&bootstrap, &topic, &group);
    let committed_on_lost: Vec<_> = committed
        .iter()
        .filter(|(partition, offset)| {
            u32::try_from(*partition).is_ok_and(|partition| lost.contains(&partition))
                && *offset != rdkafka::Offset::Invalid
        })
        .collect();
    assert!(
        committed_on_lost.is_empty(),
        "the first member committed partitions it had lost: {committed_on_lost:?} (lost {lost:?})"
    );
    assert_eq!(
        committed.len(),
        usize::from(PARTITIONS),
        "one committed offset per partition"
    );
    drop(first);
    drop(second);
}

/// Returns the group's committed offset of every partition (for failure messages).
fn committed_offsets(bootstrap: &str, topic: &str, group: &str) -> Vec<(i32, rdkafka::Offset)> {
    use rdkafka::{
        ClientConfig, TopicPartitionList,
        consumer::{BaseConsumer, Consumer},
    };
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
    {
        Ok(consumer) => consumer,
        Err(error) => panic!("failed to create a consumer: {error}"),
    };
    let mut partitions = TopicPartitionList::new();
    for partition in 0..i32::from(PARTITIONS) {
        partitions.add_partition(topic, partition);
    }
    match consumer.committed_offsets(partitions, Duration::from_secs(10)) {
        Ok(offsets) => offsets
            .elements()
            .iter()
            .map(|element| (element.partition(), element.offset()))
            .collect(),
        Err(error) => panic!("failed to read the committed offsets: {error}"),
    }
}

/// Waits until `check` holds for the members' ownership, failing after [`WAIT`] with what they owned.
async fn wait_owned(
    members: &[&dyn accord_bus::Subscription],
    what: &str,
    check: impl Fn(&[accord_bus::Owned]) -> bool,
) -> Vec<accord_bus::Owned> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let owned: Vec<accord_bus::Owned> = members.iter().map(|member| member.owned()).collect();
        if check(&owned) {
            return owned;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never happened: {owned:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn keys(owned: &accord_bus::Owned) -> BTreeSet<u32> {
    owned.partitions.keys().copied().collect()
}

/// `Subscription::ownership` follows the group: a lone member owns every partition; a second member joining waits
/// while the first holds its ownership guard (the revocation waits for it, and `changed_from` with it); then the two own disjoint shares that
/// cover the topic, the partitions the first kept keep the generation since which it owned them, the second's are
/// new, and each delivers only records of what it owns; a single partition read outside the group sees every
/// record of one partition and changes nobody's ownership.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_follows_the_group_and_a_partition_read_is_outside_it() {
    let Some(bootstrap) = bootstrap() else { return };
    let config = config(&bootstrap);
    let group = unique("ownership");
    let bus = connect(&config);
    let topic = new_topic(&bus, "ownership").await;
    let published = publish_spread(&bus, &topic, 30).await;
    let all: BTreeSet<u32> = (0..u32::from(PARTITIONS)).collect();

    let mut first = subscribe(&bus, &topic, Some(&group)).await;
    collect(&mut first, published.len()).await;
    let alone = wait_owned(
        &[first.as_ref()],
        "the first member owning every partition",
        |owned| keys(&owned[0]) == all,
    )
    .await;
    assert!(!alone[0].fixed && alone[0].generation > 0, "{alone:?}");

    // The first member holds its guard: the rebalance the second one starts cannot take partitions from it.
    let ownership = first.ownership();
    let generation = alone[0].generation;
    let changed = tokio::spawn(async move { ownership.changed_from(generation).await });
    let guard = first.ownership().hold().await;
    let mut second = subscribe(&bus, &topic, Some(&group)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(first.owned(), alone[0], "a revocation waits for the guard");
    assert!(
        !changed.is_finished(),
        "nothing changed while the guard is held"
    );
    drop(guard);
    tokio::time::timeout(WAIT, changed)
        .await
        .expect("changed_from never returned after the rebalance")
        .unwrap();

    let shared = wait_owned(
        &[first.as_ref(), second.as_ref()],
        "a split of the partitions",
        |owned| {
            let (one, two) = (keys(&owned[0]), keys(&owned[1]));
            !two.is_empty()
                && one.is_disjoint(&two)
                && one.union(&two).copied().collect::<BTreeSet<u32>>() == all
        },
    )
    .await;
    assert_ne!(
        shared[0].generation, alone[0].generation,
        "the rebalance is a new generation"
    );
    for (partition, since) in &shared[0].partitions {
        assert_eq!(
            Some(since),
            alone[0].partitions.get(partition),
            "a partition revoked and assigned back in one rebalance keeps its generation: {shared:?}"
        );
    }
    for since in shared[1].partitions.values() {
        assert!(*since > 0, "{shared:?}");
    }
    let read_by_second = drain(&mut second, Duration::from_secs(2)).await;
    for delivery in &read_by_second {
        assert!(
            second.owned().owns(delivery.position.partition),
            "delivered a record of a partition it does not own: {:?}",
            delivery.position
        );
    }

    // Outside the group: the whole of one partition, and nobody's ownership moves.
    let partition = published[0].partition;
    let mut reader = bus
        .read_partition(&topic, partition, 0)
        .await
        .expect("read_partition failed");
    let mut read = Vec::new();
    loop {
        let batch = tokio::time::timeout(WAIT, reader.next_batch(7))
            .await
            .expect("the partition read hung")
            .expect("the partition read failed");
        if batch.is_empty() {
            break;
        }
        read.extend(positions(&batch));
    }
    let expected: Vec<Position> = sorted(
        published
            .iter()
            .filter(|position| position.partition == partition)
            .copied()
            .collect(),
    );
    assert_eq!(read, expected, "every record of the partition, in order");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = [first.owned(), second.owned()];
    assert_eq!(
        after.as_slice(),
        shared.as_slice(),
        "a partition read joins no group"
    );
    drop(first);
    drop(second);
}
