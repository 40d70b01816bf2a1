//! The refill on the embedded bus: it replays each topic from its start with its own group, up to the ends read when
//! it starts, reports its progress in `/readyz`, opens the gate only once done, removes the marker, and resumes after
//! an interruption.

use std::sync::Mutex;

use accord_bus::Record;

use super::*;

const FIRST: &str = "refill.first";
const SECOND: &str = "refill.second";

/// Collects the keys of the records it is given, per topic.
struct Collect {
    topic: &'static str,
    seen: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Stage for Collect {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let mut seen = self.seen.lock().unwrap();
        for delivery in batch {
            let key = delivery.record.key.clone().unwrap_or_default();
            seen.push(format!("{}:{key}", self.topic));
        }
        Ok(())
    }
}

fn followers(seen: &Arc<Mutex<Vec<String>>>) -> Vec<Follower> {
    [FIRST, SECOND]
        .into_iter()
        .map(|topic| Follower {
            name: "test-refill",
            topic,
            stage: Box::new(Collect {
                topic,
                seen: Arc::clone(seen),
            }),
        })
        .collect()
}

async fn bus(dir: &std::path::Path) -> BusClient {
    let bus = BusClient::from_url(&dir.join("bus").to_string_lossy())
        .await
        .unwrap();
    bus.ensure_topics(&[FIRST, SECOND]).await.unwrap();
    bus
}

async fn publish(bus: &BusClient, topic: &str, keys: std::ops::Range<u32>) {
    let records = keys
        .map(|key| Record::new(format!("{key}"), b"{}".to_vec()))
        .collect();
    bus.publish(topic, records).await.unwrap();
}

/// Reads the first `count` records of `topic` with `group` and commits them.
async fn commit(bus: &BusClient, group: &str, topic: &str, count: usize) {
    let mut subscription = bus
        .subscribe(accord_bus::SubscribeOptions {
            topic: topic.to_owned(),
            group: Some(group.to_owned()),
        })
        .await
        .unwrap();
    let mut read = Vec::new();
    while read.len() < count {
        let batch = subscription.next_batch(count - read.len()).await.unwrap();
        read.extend(batch.into_iter().map(|delivery| delivery.position));
    }
    subscription.commit(&read).await.unwrap();
}

/// A store file whose open left a marker, as `open_or_set_aside` does for a damaged one.
fn pending(dir: &std::path::Path) -> Pending {
    let path = dir.join("store.redb");
    std::fs::write(dir.join("store.redb.refill"), "42").unwrap();
    Pending {
        store: "test store",
        path,
        id: "42".to_owned(),
    }
}

#[tokio::test]
async fn a_refill_replays_every_topic_from_its_start_then_opens_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let bus = bus(dir.path()).await;
    publish(&bus, FIRST, 0..5).await;
    publish(&bus, SECOND, 0..3).await;
    // The live group had read part of the topic: the refill does not touch it.
    commit(&bus, "live", FIRST, 4).await;
    let health = Health::default();
    let (gate, refill) = prepare(Some(pending(dir.path())), "live", &health);
    assert_eq!(
        health.readiness().unwrap_err(),
        "test store rebuilding (starting)",
        "unready from the moment the refill is known"
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (live_ran, mut live) = tokio::sync::oneshot::channel();
    let gated = tokio::spawn(gate.clone().then(async move {
        let _ = live_ran.send(());
        Ok(())
    }));
    assert!(
        live.try_recv().is_err(),
        "the live task waits for the refill"
    );
    let shutdown = CancellationToken::new();
    let done = refill
        .unwrap()
        .run(&bus, followers(&seen), &shutdown)
        .await
        .unwrap();
    assert!(done);
    gated.await.unwrap().unwrap();
    live.await
        .expect("the live task ran once the refill was done");
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let mut expected: Vec<String> = (0..5).map(|key| format!("{FIRST}:{key}")).collect();
    expected.extend((0..3).map(|key| format!("{SECOND}:{key}")));
    expected.sort();
    assert_eq!(
        seen, expected,
        "every record once, whatever the live group read"
    );
    assert_eq!(health.readiness(), Ok(()));
    assert!(
        !dir.path().join("store.redb.refill").exists(),
        "the marker is removed"
    );
    let live_offsets = bus.committed_offsets("live", FIRST).await.unwrap();
    assert_eq!(sum(&live_offsets), 4, "the live group is where it was");
}

#[tokio::test]
async fn a_refill_stopped_by_shutdown_keeps_its_marker_and_its_group_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let bus = bus(dir.path()).await;
    publish(&bus, FIRST, 0..3).await;
    let health = Health::default();
    let (gate, refill) = prepare(Some(pending(dir.path())), "live", &health);
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let done = refill
        .unwrap()
        .run(&bus, followers(&seen), &shutdown)
        .await
        .unwrap();
    assert!(!done);
    let (ran, mut live) = tokio::sync::oneshot::channel::<()>();
    gate.then(async move {
        let _ = ran.send(());
        Ok(())
    })
    .await
    .unwrap();
    assert!(live.try_recv().is_err(), "the live task does not run");
    assert!(
        dir.path().join("store.redb.refill").exists(),
        "still asked for"
    );
    // The next start resumes with the same groups (one per topic): the records they had committed are not replayed.
    commit(&bus, &format!("live-refill-42.{FIRST}"), FIRST, 2).await;
    let health = Health::default();
    let (_, refill) = prepare(Some(pending(dir.path())), "live", &health);
    let done = refill
        .unwrap()
        .run(&bus, followers(&seen), &CancellationToken::new())
        .await
        .unwrap();
    assert!(done);
    assert_eq!(*seen.lock().unwrap(), [format!("{FIRST}:2")]);
}

#[test]
fn nothing_pending_is_an_open_gate_and_no_refill() {
    let health = Health::default();
    let (_, refill) = prepare(None, "live", &health);
    assert!(refill.is_none());
    assert_eq!(health.readiness(), Ok(()));
}

#[test]
fn a_replay_has_caught_up_when_every_partition_reaches_its_end() {
    let at = |partition, offset| Position { partition, offset };
    let ends = [at(0, 10), at(1, 0), at(2, 5)];
    assert!(caught_up(&[at(0, 10), at(2, 7)], &ends));
    assert!(!caught_up(&[at(0, 9), at(2, 7)], &ends));
    assert!(
        !caught_up(&[at(0, 10)], &ends),
        "a partition never committed"
    );
    assert!(caught_up(&[], &[at(0, 0)]), "an empty topic");
}
