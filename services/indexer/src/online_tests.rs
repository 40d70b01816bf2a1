//! The online rebuild end to end on real components: the embedded bus, the real stages, and two tantivy indices as
//! the two generations, behind [`Generations`], which routes like the OpenSearch aliases do (searches read the
//! current generation; writes go to every generation of the write set; the switch moves searches and writes).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use accord_bus::{BusClient, Record};
use accord_domain::{OrgId, ReleaseSet, ReportId, topics};
use accord_index::{
    IndexClient, IndexError, IndicatorMatch, Page, Query, Rebuilding, ReleaseFilter, ReplaceViews,
    SearchIndex, WriteOutcome, conformance as c,
};
use accord_runtime::{
    health::Health,
    stage::{self, Fairness, StageOptions},
};
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::Online;
use crate::Indexer;

/// Which generation searches read, which ones writes go to, and the rebuild asked for.
struct Routing {
    current: usize,
    writes: Vec<usize>,
    requested: Option<usize>,
    /// What `is_empty` answers (the start found no index and created it).
    created: bool,
}

/// Two tantivy indices as generations 1 and 2.
#[derive(Clone)]
struct Generations {
    indices: Arc<[IndexClient; 3]>,
    routing: Arc<Mutex<Routing>>,
}

impl Generations {
    fn current(&self) -> IndexClient {
        self.indices[self.routing.lock().unwrap().current].clone()
    }
}

struct Switch {
    generations: Generations,
    generation: usize,
}

#[async_trait]
impl Rebuilding for Switch {
    fn generation(&self) -> u64 {
        self.generation as u64
    }
    fn target(&self) -> IndexClient {
        self.generations.indices[self.generation].clone()
    }
    async fn switch(&self) -> Result<(), IndexError> {
        let mut routing = self.generations.routing.lock().unwrap();
        routing.current = self.generation;
        routing.writes = vec![self.generation];
        routing.requested = None;
        Ok(())
    }
}

#[async_trait]
impl SearchIndex for Generations {
    async fn write(&self, batch: Vec<ReplaceViews>) -> Result<Vec<WriteOutcome>, IndexError> {
        let targets = self.routing.lock().unwrap().writes.clone();
        let mut outcomes = Vec::new();
        for target in targets {
            outcomes = self.indices[target].write(batch.clone()).await?;
            assert!(
                outcomes
                    .iter()
                    .all(|outcome| matches!(outcome, WriteOutcome::Written | WriteOutcome::Stale))
            );
        }
        Ok(outcomes)
    }
    async fn is_empty(&self) -> Result<bool, IndexError> {
        Ok(self.routing.lock().unwrap().created)
    }
    async fn request_rebuild(&self) -> Result<u64, IndexError> {
        let mut routing = self.routing.lock().unwrap();
        let next = routing.current + 1;
        routing.requested = Some(next);
        Ok(next as u64)
    }
    async fn pending_rebuild(&self) -> Result<Option<Box<dyn Rebuilding>>, IndexError> {
        let mut routing = self.routing.lock().unwrap();
        let Some(generation) = routing.requested else {
            return Ok(None);
        };
        if !routing.writes.contains(&generation) {
            routing.writes.push(generation);
        }
        Ok(Some(Box::new(Switch {
            generations: self.clone(),
            generation,
        })))
    }
    async fn search(&self, query: Query) -> Result<Page, IndexError> {
        self.current().search(query).await
    }
    async fn lookup(
        &self,
        release: ReleaseFilter,
        keys: Vec<IndicatorMatch>,
        per_key: usize,
    ) -> Result<Vec<Page>, IndexError> {
        self.current().lookup(release, keys, per_key).await
    }
    async fn refresh(&self) -> Result<(), IndexError> {
        self.current().refresh().await
    }
    async fn health(&self) -> Result<(), IndexError> {
        self.current().health().await
    }
}

/// A release set of `report` with one view named `name`, or none (a withdrawal).
fn release(report: &ReportId, name: Option<&str>) -> Record {
    let release = ReleaseSet {
        report_id: report.clone(),
        partner: OrgId::parse("bank-a").unwrap(),
        evaluated_at: chrono::Utc::now(),
        indicators: 0,
        views: name.map(|name| c::view(report, name)).into_iter().collect(),
        trigger: None,
        revoked: Vec::new(),
    };
    Record::new(report.to_string(), serde_json::to_vec(&release).unwrap())
}

/// Waits (bounded: a hang fails the test) until `done` holds.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..600 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened");
}

/// The ids `index` finds under the default release filter, sorted.
async fn found(index: &IndexClient) -> Vec<String> {
    index.refresh().await.unwrap();
    c::sorted(c::ids(index, c::query()).await.1)
}

/// An embedded bus with the indexer's topics, and generation 1 current (`created`: the start created it).
async fn setup(dir: &std::path::Path, created: bool) -> (BusClient, Generations) {
    let bus = BusClient::from_url(&dir.join("bus").to_string_lossy())
        .await
        .unwrap();
    bus.ensure_topics(&[topics::REPORTS_RELEASABLE, topics::REPORTS_REJECTED])
        .await
        .unwrap();
    let open = |name: &str| IndexClient::from_url(&dir.join(name).to_string_lossy()).unwrap();
    let generations = Generations {
        indices: Arc::new([open("unused"), open("gen-1"), open("gen-2")]),
        routing: Arc::new(Mutex::new(Routing {
            current: 1,
            writes: vec![1],
            requested: None,
            created,
        })),
    };
    (bus, generations)
}

/// The live stage's options: small batches, two lanes.
fn stage_options() -> (StageOptions, Fairness) {
    let options = StageOptions {
        name: "indexer",
        topic: topics::REPORTS_RELEASABLE,
        group: "indexer".to_owned(),
        batch_size: 4,
        linger: Duration::ZERO,
    };
    let fairness = Fairness {
        header: topics::HEADER_PARTNER,
        window: 16,
        window_bytes: 1 << 20,
        batch_bytes: 1 << 20,
        lanes: 2,
    };
    (options, fairness)
}

/// Starts the live stage (group `indexer`) writing `index`.
fn spawn_live(
    bus: &BusClient,
    index: &IndexClient,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let (options, fairness) = stage_options();
    let live = Indexer {
        bus: bus.clone(),
        index: index.clone(),
        rebuild: None,
    };
    tokio::spawn(stage::run_fair(
        bus.clone(),
        options,
        fairness,
        live,
        shutdown.clone(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_rebuild_replays_into_the_next_generation_and_switches_once_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let (bus, generations) = setup(dir.path(), false).await;
    let index = IndexClient::new(generations.clone());
    let reports: Vec<ReportId> = (0..12).map(|_| ReportId::random()).collect();
    let first: Vec<Record> = reports
        .iter()
        .enumerate()
        .map(|(n, report)| release(report, Some(&format!("r{n:02}"))))
        .collect();
    bus.publish(topics::REPORTS_RELEASABLE, first)
        .await
        .unwrap();

    let (options, fairness) = stage_options();
    let shutdown = CancellationToken::new();
    let live = spawn_live(&bus, &index, &shutdown);
    let all: Vec<String> = (0..12).map(|n| format!("view--r{n:02}")).collect();
    until("the live stage indexed generation 1", async || {
        found(&index).await == all
    })
    .await;

    generations.routing.lock().unwrap().requested = Some(2);
    let health = Health::default();
    let online = Online {
        bus: bus.clone(),
        index: index.clone(),
        health: health.clone(),
        options,
        fairness,
        lost: false,
    };
    let watcher = tokio::spawn(online.watch(shutdown.clone()));
    // While the rebuild runs: a new report, a withdrawal and a replacement, which the live stage writes.
    let more = vec![
        release(&ReportId::random(), Some("new")),
        release(&reports[0], None),
        release(&reports[1], Some("r01b")),
    ];
    bus.publish(topics::REPORTS_RELEASABLE, more).await.unwrap();
    until("the switch", async || {
        generations.routing.lock().unwrap().current == 2
    })
    .await;
    assert!(
        health.readiness().is_ok(),
        "searches kept reading generation 1"
    );

    let end = bus.end_offsets(topics::REPORTS_RELEASABLE).await.unwrap();
    until("the live stage caught up", async || {
        super::caught_up(
            &bus.committed_offsets("indexer", topics::REPORTS_RELEASABLE)
                .await
                .unwrap(),
            &end,
        )
    })
    .await;
    let mut expected: Vec<String> = all[2..].to_vec();
    expected.extend(["view--new".to_owned(), "view--r01b".to_owned()]);
    assert_eq!(
        found(&index).await,
        c::sorted(expected),
        "generation 2 holds the latest release of every report"
    );
    let rebuild_group = bus.committed_offsets("indexer-rebuild-2", topics::REPORTS_RELEASABLE);
    let rebuild_group = rebuild_group.await.unwrap();
    assert!(
        rebuild_group[0].offset >= 12,
        "the rebuild replayed from the start in a group of its own: {rebuild_group:?}"
    );
    assert_eq!(generations.routing.lock().unwrap().writes, [2]);

    shutdown.cancel();
    live.await.unwrap().unwrap();
    watcher.await.unwrap().unwrap();
}

/// The embedded bus without `rewind_group`, as Kafka: the start check must read the group's committed offsets.
struct NoRewind(BusClient);

#[async_trait]
impl accord_bus::Bus for NoRewind {
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), accord_bus::BusError> {
        self.0.ensure_topics(topics).await
    }
    async fn publish(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<accord_bus::Position>, accord_bus::BusError> {
        self.0.publish(topic, records).await
    }
    async fn subscribe(
        &self,
        options: accord_bus::SubscribeOptions,
    ) -> Result<Box<dyn accord_bus::Subscription>, accord_bus::BusError> {
        self.0.subscribe(options).await
    }
    async fn end_offsets(
        &self,
        topic: &str,
    ) -> Result<Vec<accord_bus::Position>, accord_bus::BusError> {
        self.0.end_offsets(topic).await
    }
    async fn health(&self) -> Result<(), accord_bus::BusError> {
        self.0.health().await
    }
    async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<accord_bus::Position>, accord_bus::BusError> {
        self.0.committed_offsets(group, topic).await
    }
    fn max_record_bytes(&self) -> usize {
        self.0.max_record_bytes()
    }
}

#[tokio::test]
async fn a_lost_index_on_a_bus_that_cannot_rewind_asks_for_an_online_rebuild_when_releases_were_indexed()
 {
    let dir = tempfile::tempdir().unwrap();
    let (embedded, generations) = setup(dir.path(), true).await;
    let directory = Arc::new(accord_runtime::Directory::new());
    let deps = accord_runtime::Deps {
        bus: BusClient::new(NoRewind(embedded.clone())),
        index: IndexClient::new(generations.clone()),
        auth: accord_runtime::Authenticator::new(Arc::clone(&directory), None),
        directory,
        data_dir: dir.path().to_owned(),
        listen_addr: None,
        health: Health::default(),
        memory: Default::default(),
        replica: None,
    };
    // Nothing was ever indexed: a new deployment, nothing to rebuild.
    let start = crate::rebuild::check(&deps, "indexer").await.unwrap();
    assert!(!start.lost && start.rebuild.is_none());
    assert_eq!(generations.routing.lock().unwrap().requested, None);
    assert!(deps.health.readiness().is_ok());

    // The group had indexed 3 release sets: the index was lost.
    let positions = embedded
        .publish(
            topics::REPORTS_RELEASABLE,
            (0..3)
                .map(|n| release(&ReportId::random(), Some(&format!("x{n}"))))
                .collect(),
        )
        .await
        .unwrap();
    let mut subscription = embedded
        .subscribe(accord_bus::SubscribeOptions {
            topic: topics::REPORTS_RELEASABLE.to_owned(),
            group: Some("indexer".to_owned()),
        })
        .await
        .unwrap();
    subscription.next_batch(10).await.unwrap();
    subscription.commit(&positions).await.unwrap();
    drop(subscription);
    let start = crate::rebuild::check(&deps, "indexer").await.unwrap();
    assert!(start.lost, "an online rebuild was asked for");
    assert_eq!(generations.routing.lock().unwrap().requested, Some(2));
    assert_eq!(
        deps.health.readiness().unwrap_err(),
        "index rebuilding (0 of unknown)"
    );
}
