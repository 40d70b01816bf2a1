//! The broker stops and comes back mid-run: publishes after the restart succeed, a publish waiting through the
//! outage completes once the broker is back, nothing acknowledged is lost, and the group resumes from its commit.
//!
//! The test runs a broker of its own (`scripts/tansu.sh start` in a temporary directory, on its own port), so that
//! stopping it does not disturb the tests sharing `ACCORD_KAFKA_BOOTSTRAP`. It needs tansu installed
//! (`scripts/tansu.sh install`).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::Command,
    time::Duration,
};

use accord_bus::{BusClient, Position, Record};

use crate::{
    WAIT, bootstrap, collect, config, connect, drain, positions, run_script, script, subscribe,
    unique,
};

/// A private tansu broker, stopped when dropped.
struct Broker {
    dir: tempfile::TempDir,
    bootstrap: String,
}

impl Broker {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("failed to create a temporary directory");
        let bootstrap = Self::start_in(dir.path());
        Self { dir, bootstrap }
    }

    fn start_in(dir: &Path) -> String {
        let stdout = run_script("start", dir);
        stdout
            .lines()
            .find_map(|line| line.strip_prefix("KAFKA_BOOTSTRAP="))
            .unwrap_or_else(|| panic!("scripts/tansu.sh start printed no address: {stdout}"))
            .to_owned()
    }

    /// Stops it: `stop` (SIGTERM) or `kill` (SIGKILL, a crash).
    fn stop(&self, how: &str) {
        run_script(how, self.dir.path());
    }

    /// Starts it again on the same port and storage.
    fn restart(&self) {
        assert_eq!(
            Self::start_in(self.dir.path()),
            self.bootstrap,
            "the broker must come back on its port"
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn record(i: usize) -> Record {
    // Two keys: two partitions, each in order.
    Record::new(format!("key-{}", i % 2), format!(r#"{{"n":{i}}}"#))
}

async fn publish(
    bus: &BusClient,
    topic: &str,
    range: std::ops::Range<usize>,
) -> BTreeMap<Position, Record> {
    let records: Vec<Record> = range.map(record).collect();
    let positions =
        tokio::time::timeout(Duration::from_secs(60), bus.publish(topic, records.clone()))
            .await
            .expect("publish hung")
            .unwrap_or_else(|error| panic!("failed to publish: {error:?}"));
    positions.into_iter().zip(records).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_across_a_broker_restart() {
    if bootstrap().is_some() {
        restart_mid_run("stop").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_across_a_broker_crash() {
    if bootstrap().is_some() {
        restart_mid_run("kill").await;
    }
}

/// Publishes and commits, stops the broker (`how`: `stop` or `kill`), publishes through the outage and after the
/// restart, then checks every acknowledged record and the group's resume point.
async fn restart_mid_run(how: &str) {
    let broker = Broker::start();
    let config = config(&broker.bootstrap);
    let bus = connect(&config);
    let topic = unique("broker-restart");
    let group = unique("broker-restart");
    bus.ensure_topics(&[&topic])
        .await
        .expect("failed to create the topic");

    let mut acknowledged = publish(&bus, &topic, 0..20).await;
    let mut subscription = subscribe(&bus, &topic, Some(&group)).await;
    let delivered = collect(&mut subscription, 20).await;
    // Commits the first half of what each partition delivered.
    let mut committed = Vec::new();
    for partition in [0, 1, 2] {
        let offsets: Vec<Position> = positions(&delivered)
            .into_iter()
            .filter(|position| position.partition == partition)
            .collect();
        committed.extend_from_slice(&offsets[..offsets.len() / 2]);
    }
    subscription
        .commit(&committed)
        .await
        .expect("failed to commit");

    broker.stop(how);
    // A publish while the broker is down waits for it (within the delivery timeout) rather than failing.
    let waiting = {
        let (bus, topic) = (bus.clone(), topic.clone());
        tokio::spawn(async move { publish(&bus, &topic, 20..30).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.restart();
    acknowledged.extend(waiting.await.expect("the waiting publish panicked"));
    acknowledged.extend(publish(&bus, &topic, 30..40).await);
    // The subscription opened before the outage goes on with the new records. The restart may make it rejoin its
    // group and read again from the group's commit: records not committed may come again, committed ones never.
    let fresh: BTreeSet<Position> = acknowledged
        .keys()
        .copied()
        .filter(|position| !positions(&delivered).contains(position))
        .collect();
    let mut seen = BTreeSet::new();
    while !fresh.is_subset(&seen) {
        let batch = tokio::time::timeout(WAIT, subscription.next_batch(1000))
            .await
            .unwrap_or_else(|_| {
                let missing: Vec<_> = fresh.difference(&seen).collect();
                panic!("the open subscription did not deliver {missing:?}")
            })
            .expect("next_batch failed");
        for delivery in batch {
            assert!(
                !committed.contains(&delivery.position),
                "committed record {:?} came again",
                delivery.position
            );
            assert_eq!(acknowledged.get(&delivery.position), Some(&delivery.record));
            seen.insert(delivery.position);
        }
    }
    drop(subscription);

    // Everything acknowledged is there, as acknowledged.
    let mut reader = subscribe(&bus, &topic, None).await;
    let all = collect(&mut reader, acknowledged.len()).await;
    for delivery in &all {
        assert_eq!(
            acknowledged.get(&delivery.position),
            Some(&delivery.record),
            "record at {:?}",
            delivery.position
        );
    }
    assert!(
        drain(&mut reader, Duration::from_secs(1)).await.is_empty(),
        "records nobody acknowledged appeared"
    );

    // The group resumes from its commit of before the restart.
    let mut resumed = subscribe(&bus, &topic, Some(&group)).await;
    let expected: Vec<Position> = acknowledged
        .keys()
        .copied()
        .filter(|position| !committed.contains(position))
        .collect();
    let mut redelivered = positions(&collect(&mut resumed, expected.len()).await);
    redelivered.sort();
    assert_eq!(
        redelivered, expected,
        "the group must resume after its commit"
    );
}
