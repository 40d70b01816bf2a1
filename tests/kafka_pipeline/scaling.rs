//! Three replicas of each consuming stage (issue 18 item 5): the normalizer and the enforcer run three processes
//! each, in one consumer group per stage, on a broker with six partitions per topic, while reports flow; one replica
//! of each is killed (SIGKILL) and restarted at once mid-run. Every 202'd report is searchable exactly once and
//! conservation holds on the bus.
//!
//! The indexer runs once: tantivy takes one writer per index (a second indexer on the same directory is refused at
//! start), so indexer replicas need OpenSearch, which cannot run on these machines. The throughput of three replicas
//! against one is measured by `scripts/bench-scaling.sh`, not here.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use crate::{
    ONE_AT_A_TIME, REPORTS, check_conservation, check_exactly_once,
    cluster::{Cluster, enabled},
    submit_all,
};

/// Partitions per topic: two per replica.
const PARTITIONS: usize = 6;

/// The further replicas of each scaled stage (the cluster starts the first of each).
const REPLICAS: [(&str, &str); 4] = [
    ("normalizer-2", "normalizer"),
    ("normalizer-3", "normalizer"),
    ("enforcer-2", "enforcer"),
    ("enforcer-3", "enforcer"),
];

/// Waits until at least `count` reports were 202'd.
async fn wait_progress(progress: &AtomicUsize, count: usize) {
    while progress.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_per_stage_with_one_killed_lose_and_duplicate_nothing() {
    if !enabled() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    // Three live members per group: a session tansu's join pause fits in (`STABLE_SESSION_TIMEOUT`).
    let mut cluster = Cluster::start_with(PARTITIONS, crate::cluster::STABLE_SESSION_TIMEOUT).await;
    for (name, service) in REPLICAS {
        cluster.spawn_replica(name, service).await;
    }
    let (partner, agency) = cluster.world().await;

    let progress = Arc::new(AtomicUsize::new(0));
    let submit = {
        let (client, gateway) = (cluster.client.clone(), cluster.url("gateway"));
        let progress = Arc::clone(&progress);
        tokio::spawn(async move { submit_all(client, gateway, partner, progress).await })
    };
    // A third of the way in, one replica of each stage crashes and is restarted at once (it waits out its dead
    // predecessor's session itself); the others take its partitions meanwhile.
    wait_progress(&progress, REPORTS / 3).await;
    cluster.kill("normalizer-2").await;
    cluster.kill("enforcer").await;
    cluster.spawn_replica("normalizer-2", "normalizer").await;
    cluster.spawn("enforcer").await;

    let submitted = submit.await.unwrap();
    let checked = check_exactly_once(&cluster, &agency, &submitted).await;
    let counts = check_conservation(&cluster.bus_url).await;
    eprintln!(
        "scaling test: {checked} reports 202'd ({} refused), each searchable exactly once with three normalizers \
         and three enforcers on {PARTITIONS} partitions, one of each killed and restarted; conservation {counts:?}",
        submitted.refused
    );
    assert_eq!(submitted.refused, 0, "failures: {:?}", submitted.failures);
    assert_eq!(counts.accepted, REPORTS);
    assert_eq!(counts.released, REPORTS);
    cluster.stop_all().await;
}
