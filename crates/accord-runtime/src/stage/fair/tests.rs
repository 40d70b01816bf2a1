use std::{sync::Arc, time::Duration};

use accord_bus::Record;

use super::*;

fn delivery(owner: &str, offset: u64, bytes: usize) -> Delivery {
    let mut record = Record::new(format!("r{offset}"), vec![b'x'; bytes]);
    record.headers.push(("owner".to_owned(), owner.to_owned()));
    Delivery {
        topic: "t".to_owned(),
        position: Position {
            partition: 0,
            offset,
        },
        record,
    }
}

fn offsets(batch: &[Delivery]) -> Vec<u64> {
    batch
        .iter()
        .map(|delivery| delivery.position.offset)
        .collect()
}

fn take(scheduler: &mut Scheduler, max_records: usize, max_bytes: usize) -> (String, Vec<u64>) {
    let batch = scheduler
        .take(max_records, max_bytes)
        .expect("an owner waits");
    (batch.owner, offsets(&batch.deliveries))
}

#[test]
fn a_batch_holds_one_owner_and_owners_take_turns_once_their_batch_is_released() {
    let mut scheduler = Scheduler::default();
    // `a` has a backlog of 6 records; `b` and `c` one each, read after it.
    let backlog: Vec<Delivery> = (0..6).map(|n| delivery("a", n, 10)).collect();
    scheduler.add("owner", backlog);
    scheduler.add("owner", vec![delivery("b", 6, 10), delivery("c", 7, 10)]);
    assert_eq!(
        take(&mut scheduler, 4, usize::MAX),
        ("a".into(), vec![0, 1, 2, 3])
    );
    // `a` is busy: the other lanes serve `b` and `c`, never `a`'s next records.
    assert_eq!(take(&mut scheduler, 4, usize::MAX), ("b".into(), vec![6]));
    assert_eq!(take(&mut scheduler, 4, usize::MAX), ("c".into(), vec![7]));
    assert!(scheduler.take(4, usize::MAX).is_none());
    // Released, `a` takes its turn behind anyone waiting, and keeps its order.
    scheduler.add("owner", vec![delivery("b", 8, 10)]);
    scheduler.release("a");
    scheduler.release("b");
    assert_eq!(
        take(&mut scheduler, 4, usize::MAX),
        ("a".into(), vec![4, 5])
    );
    assert_eq!(take(&mut scheduler, 4, usize::MAX), ("b".into(), vec![8]));
    scheduler.release("a");
    scheduler.release("b");
    scheduler.release("c");
    assert!(scheduler.take(4, usize::MAX).is_none());
    assert_eq!((scheduler.records, scheduler.bytes), (0, 0));
}

#[test]
fn a_batch_with_records_of_its_owner_queued_behind_it_is_backlogged() {
    let mut scheduler = Scheduler::default();
    let backlog: Vec<Delivery> = (0..3).map(|n| delivery("a", n, 10)).collect();
    scheduler.add("owner", backlog);
    scheduler.add("owner", vec![delivery("b", 3, 10)]);
    let first = scheduler.take(2, usize::MAX).unwrap();
    assert_eq!((first.owner.as_str(), first.backlogged), ("a", true));
    let alone = scheduler.take(2, usize::MAX).unwrap();
    assert_eq!((alone.owner.as_str(), alone.backlogged), ("b", false));
    scheduler.release("a");
    let last = scheduler.take(2, usize::MAX).unwrap();
    assert_eq!(
        (offsets(&last.deliveries), last.backlogged),
        (vec![2], false)
    );
    assert_eq!(
        cpu::Priority::of_backlog(first.backlogged),
        cpu::Priority::Background
    );
}

#[tokio::test]
async fn a_record_marked_background_upstream_makes_its_batch_background_and_stays_marked_downstream()
 {
    let mut scheduler = Scheduler::default();
    // `a`'s heavy reports arrive one at a time: nothing of its own is ever queued behind them here.
    let mut marked = delivery("a", 0, 10);
    let mut derived = Record::new("r0", b"derived".to_vec());
    cpu::scope(cpu::Priority::Background, async {
        super::super::mark_priority(&mut marked.record);
        super::super::mark_priority(&mut derived);
    })
    .await;
    scheduler.add("owner", vec![marked, delivery("b", 1, 10)]);
    let first = scheduler.take(4, usize::MAX).unwrap();
    assert_eq!((first.owner.as_str(), first.backlogged), ("a", true));
    let second = scheduler.take(4, usize::MAX).unwrap();
    assert_eq!((second.owner.as_str(), second.backlogged), ("b", false));
    // The record a background batch publishes carries the mark (once); a foreground batch's does not.
    let marks = |record: &Record| {
        record
            .headers
            .iter()
            .filter(|(name, value)| {
                name == accord_domain::topics::HEADER_PRIORITY
                    && value == accord_domain::topics::PRIORITY_BACKGROUND
            })
            .count()
    };
    assert_eq!(marks(&derived), 1);
    cpu::scope(cpu::Priority::Background, async {
        super::super::mark_priority(&mut derived);
    })
    .await;
    assert_eq!(marks(&derived), 1, "marked once");
    let mut foreground = Record::new("r1", b"x".to_vec());
    super::super::mark_priority(&mut foreground);
    assert_eq!(marks(&foreground), 0);
}

#[test]
fn a_batch_closes_at_its_byte_bound_and_holds_at_least_one_record() {
    let mut scheduler = Scheduler::default();
    scheduler.add(
        "owner",
        vec![
            delivery("a", 0, 1000),
            delivery("a", 1, 10),
            delivery("a", 2, 10),
        ],
    );
    // The first record alone goes over the bound: the batch is that record.
    assert_eq!(take(&mut scheduler, 100, 100), ("a".into(), vec![0]));
    scheduler.release("a");
    assert_eq!(take(&mut scheduler, 100, 100), ("a".into(), vec![1, 2]));
    // Records without the header share one queue.
    let mut plain = Record::new("k", vec![1]);
    plain.headers.clear();
    scheduler.add(
        "owner",
        vec![Delivery {
            topic: "t".to_owned(),
            position: Position {
                partition: 0,
                offset: 3,
            },
            record: plain,
        }],
    );
    assert_eq!(take(&mut scheduler, 100, 100), (String::new(), vec![3]));
}

/// A stage that holds every batch of owner `h` until told to go on, and reports every record it processed.
#[derive(Clone)]
struct Gate {
    go_on: Arc<tokio::sync::Semaphore>,
    processed: mpsc::UnboundedSender<String>,
}

#[async_trait::async_trait]
impl Stage for Gate {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        for delivery in batch {
            let key = delivery.record.key.clone().unwrap_or_default();
            if key.starts_with('h') {
                self.go_on.acquire().await?.forget();
            }
            self.processed.send(key)?;
        }
        Ok(())
    }
}

/// The options of the stage-loop tests: batches of two records, two lanes.
fn two_lanes() -> (StageOptions, Fairness) {
    let options = StageOptions {
        name: "fair-test",
        topic: TOPIC,
        group: "fair-test".to_owned(),
        batch_size: 2,
        linger: Duration::ZERO,
    };
    let fairness = Fairness {
        header: "owner",
        window: 100,
        window_bytes: 1 << 20,
        batch_bytes: 1 << 20,
        lanes: 2,
    };
    (options, fairness)
}

const TOPIC: &str = accord_domain::topics::REPORTS_RAW;

fn owned(owner: &str, key: &str) -> Record {
    let mut record = Record::new(key, b"{}".to_vec());
    record.headers.push(("owner".to_owned(), owner.to_owned()));
    record
}

#[tokio::test]
async fn an_owner_whose_batch_is_stuck_holds_one_lane_and_the_others_go_on_in_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let bus = BusClient::from_url(&dir.path().to_string_lossy())
        .await
        .unwrap();
    bus.ensure_topics(&[TOPIC]).await.unwrap();
    let (processed, mut seen) = mpsc::unbounded_channel();
    let gate = Gate {
        go_on: Arc::new(tokio::sync::Semaphore::new(0)),
        processed,
    };
    // `h` first, with a backlog; then `a` and `b`, read after it.
    let mut records: Vec<Record> = (0..3).map(|n| owned("h", &format!("h{n}"))).collect();
    records
        .extend((0..3).flat_map(|n| [owned("a", &format!("a{n}")), owned("b", &format!("b{n}"))]));
    bus.publish(TOPIC, records).await.unwrap();
    let (stage, shutdown) = start(&bus, gate.clone(), 2);
    // `h` holds one lane; the other serves `a` and `b` in turns, each in its own order.
    let mut others = Vec::new();
    for _ in 0..6 {
        // A hang guard, not a timing: with one lane the others would wait for `h` for ever.
        let next = tokio::time::timeout(Duration::from_secs(30), seen.recv()).await;
        others.push(
            next.expect("the other owners waited for the stuck batch")
                .unwrap(),
        );
    }
    let of = |owner: char| -> Vec<&String> {
        others.iter().filter(|key| key.starts_with(owner)).collect()
    };
    assert_eq!(of('a'), ["a0", "a1", "a2"]);
    assert_eq!(of('b'), ["b0", "b1", "b2"]);
    // Let `h` go on: its records come in order, and everything is committed before the stage stops.
    gate.go_on.add_permits(3);
    let held: Vec<String> = [seen.recv().await, seen.recv().await, seen.recv().await]
        .into_iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(held, ["h0", "h1", "h2"]);
    shutdown.cancel();
    stage.await.unwrap().unwrap();
    bus.publish(TOPIC, vec![owned("z", "z0")]).await.unwrap();
    assert_eq!(
        next_uncommitted(&bus).await,
        [9],
        "everything processed was committed"
    );
}

/// A stage that panics on every record.
#[derive(Clone)]
struct Panics;

#[async_trait::async_trait]
impl Stage for Panics {
    async fn process(&mut self, _batch: &[Delivery]) -> anyhow::Result<()> {
        panic!("a bug in the stage");
    }
}

#[tokio::test]
async fn a_lane_that_panics_stops_the_stage_instead_of_leaving_its_owner_busy_for_ever() {
    let dir = tempfile::tempdir().unwrap();
    let bus = BusClient::from_url(&dir.path().to_string_lossy())
        .await
        .unwrap();
    bus.ensure_topics(&[TOPIC]).await.unwrap();
    bus.publish(TOPIC, vec![owned("p", "p0")]).await.unwrap();
    let (options, fairness) = two_lanes();
    let stopped = tokio::time::timeout(
        Duration::from_secs(30),
        super::super::run_fair(bus, options, fairness, Panics, CancellationToken::new()),
    )
    .await
    .expect("the stage went on without its lane");
    assert!(stopped.is_err(), "the stage must fail, not carry on");
}

/// A stage whose batches become durable only with a permit: without one, [`Stage::durable`] fails after a moment.
#[derive(Clone)]
struct SlowSync {
    synced: Arc<tokio::sync::Semaphore>,
    processed: mpsc::UnboundedSender<String>,
}

#[async_trait::async_trait]
impl Stage for SlowSync {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        for delivery in batch {
            self.processed
                .send(delivery.record.key.clone().unwrap_or_default())?;
        }
        Ok(())
    }

    async fn durable(&mut self) -> anyhow::Result<()> {
        tokio::select! {
            permit = self.synced.acquire() => {
                permit?.forget();
                Ok(())
            }
            () = tokio::time::sleep(Duration::from_millis(20)) => anyhow::bail!("not synced yet"),
        }
    }
}

#[tokio::test]
async fn a_batch_frees_its_lane_before_it_is_durable_and_its_offsets_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let bus = BusClient::from_url(&dir.path().to_string_lossy())
        .await
        .unwrap();
    bus.ensure_topics(&[TOPIC]).await.unwrap();
    let (processed, mut seen) = mpsc::unbounded_channel();
    let sync = SlowSync {
        synced: Arc::new(tokio::sync::Semaphore::new(0)),
        processed,
    };
    let records: Vec<Record> = (0..4).map(|n| owned("a", &format!("a{n}"))).collect();
    bus.publish(TOPIC, records).await.unwrap();
    let (stage, shutdown) = start(&bus, sync.clone(), 1);
    // One lane, batches of two: the second batch is processed while the first is not durable yet.
    let mut keys = Vec::new();
    for _ in 0..4 {
        // A hang guard, not a timing: if the lane waited for the sync, the second batch would never come.
        let next = tokio::time::timeout(Duration::from_secs(30), seen.recv()).await;
        keys.push(next.expect("the lane waited for the sync").unwrap());
    }
    assert_eq!(keys, ["a0", "a1", "a2", "a3"]);
    // Stopped before any batch became durable: none of the offsets was committed.
    shutdown.cancel();
    stage.await.unwrap().unwrap();
    assert_eq!(
        next_uncommitted(&bus).await,
        [0, 1, 2, 3],
        "nothing was committed before it was durable"
    );
    // Durable, they are committed.
    sync.synced.add_permits(2);
    let (stage, shutdown) = start(&bus, sync.clone(), 2);
    for _ in 0..4 {
        let next = tokio::time::timeout(Duration::from_secs(30), seen.recv()).await;
        next.expect("the batches are processed again").unwrap();
    }
    while sync.synced.available_permits() > 0 {
        tokio::task::yield_now().await;
    }
    shutdown.cancel();
    stage.await.unwrap().unwrap();
    bus.publish(TOPIC, vec![owned("z", "z0")]).await.unwrap();
    assert_eq!(next_uncommitted(&bus).await, [4]);
}

/// Runs `stage` fairly over the test topic with `lanes` lanes (batches of two records) until the token is cancelled.
fn start<S: Stage + Clone + Sync + 'static>(
    bus: &BusClient,
    stage: S,
    lanes: usize,
) -> (
    tokio::task::JoinHandle<anyhow::Result<()>>,
    CancellationToken,
) {
    let (options, mut fairness) = two_lanes();
    fairness.lanes = lanes;
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(super::super::run_fair(
        bus.clone(),
        options,
        fairness,
        stage,
        shutdown.clone(),
    ));
    (running, shutdown)
}

/// The offsets the stage-loop tests' consumer group reads next (what it has not committed), from a new subscription.
async fn next_uncommitted(bus: &BusClient) -> Vec<u64> {
    let mut again = bus
        .subscribe(accord_bus::SubscribeOptions {
            topic: TOPIC.to_owned(),
            group: Some("fair-test".to_owned()),
        })
        .await
        .unwrap();
    offsets(&again.next_batch(10).await.unwrap())
}
