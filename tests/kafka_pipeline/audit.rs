//! One audit trail for the deployment (issue 18 item 2, decision 0080): three search processes on the broker, each
//! with its own data directory, searched round-robin. Each one's `/v1/audit` holds every search exactly once and
//! `/v1/audit/verify` holds with the same count on each; a replica killed with its data directory loses nothing (the
//! others hold its records), and restarted on an empty directory it rebuilds the same chain from `audit.records`.

use std::{collections::BTreeMap, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::cluster::{Cluster, PATIENCE, enabled};

/// Searches sent in all.
const SEARCHES: usize = 30;

/// The three search processes.
const REPLICAS: [&str; 3] = ["search", "search-2", "search-3"];

/// An auditor of the agency `ncu-de`: it reads the agency's records.
async fn auditor(cluster: &Cluster) -> String {
    cluster.token("ncu-de", "auditor", "audit trail test").await
}

/// Every audit record of the agency on `replica`, oldest first (every page).
async fn records(cluster: &Cluster, replica: &str, auditor: &str) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v1/audit?limit=1000{cursor}");
        let (status, body) = cluster
            .call(replica, Method::GET, &path, auditor, None)
            .await;
        if status != StatusCode::OK {
            return None;
        }
        out.extend(body["records"].as_array()?.iter().cloned());
        match body["next"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return Some(out),
        }
    }
}

/// The test's searches among `records`: case → how many records.
fn searches(records: &[Value]) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for record in records {
        if let Some(case) = record["case"]
            .as_str()
            .filter(|case| case.starts_with("AUDIT-"))
        {
            *found.entry(case.to_owned()).or_insert(0) += 1;
        }
    }
    found
}

/// Waits until `replica` holds every search of the test, and returns its records and its verification.
async fn wait_complete(cluster: &Cluster, replica: &str, auditor: &str) -> (Vec<Value>, Value) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let records = records(cluster, replica, auditor).await.unwrap_or_default();
        if searches(&records).len() >= SEARCHES {
            let (status, verification) = cluster
                .call(replica, Method::GET, "/v1/audit/verify", auditor, None)
                .await;
            assert_eq!(status, StatusCode::OK, "{verification}");
            return (records, verification);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{replica} never held the {SEARCHES} searches (it has {}); logs:\n{}",
            searches(&records).len(),
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks that every replica of `replicas` holds every search exactly once, the same records and the same verified
/// chain; returns the records.
async fn assert_one_trail(cluster: &Cluster, replicas: &[&str], auditor: &str) -> Vec<Value> {
    let mut seen: Option<(Vec<Value>, Value)> = None;
    for replica in replicas {
        let (records, verification) = wait_complete(cluster, replica, auditor).await;
        let found = searches(&records);
        assert_eq!(found.len(), SEARCHES, "{replica}: {found:?}");
        assert!(
            found.values().all(|count| *count == 1),
            "{replica}: a search recorded more than once: {found:?}"
        );
        assert_eq!(verification["ok"], true, "{replica}: {verification}");
        if let Some((first_records, first_verification)) = &seen {
            assert_eq!(&records, first_records, "{replica} holds other records");
            assert_eq!(
                verification["records"], first_verification["records"],
                "{replica} verified another count"
            );
        } else {
            seen = Some((records, verification));
        }
    }
    seen.unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_search_replicas_keep_one_trail_and_one_lost_with_its_volume_loses_nothing() {
    if !enabled() {
        return;
    }
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start().await;
    let (_partner, agency) = cluster.world().await;
    let auditor = auditor(&cluster).await;
    cluster.spawn_replica("search-2", "search").await;
    cluster.spawn_replica("search-3", "search").await;

    for n in 0..SEARCHES {
        let replica = REPLICAS[n % REPLICAS.len()];
        let path = format!("/v1/indicators/audit-{n}.example?purpose=investigation&case=AUDIT-{n}");
        let (status, body) = cluster
            .call(replica, Method::GET, &path, &agency, None)
            .await;
        assert!(
            status == StatusCode::OK || status == StatusCode::NOT_FOUND,
            "{replica}: {status} {body}"
        );
    }
    let before = assert_one_trail(&cluster, &REPLICAS, &auditor).await;
    let writers: std::collections::BTreeSet<&str> = before
        .iter()
        .filter_map(|record| record["writer"].as_str())
        .collect();
    assert_eq!(writers.len(), 3, "each replica wrote records: {writers:?}");

    // One replica lost with its volume: the others still hold every search, its own included.
    cluster.kill("search-2").await;
    std::fs::remove_dir_all(cluster.data.path().join("search-2")).unwrap();
    assert_eq!(
        assert_one_trail(&cluster, &["search", "search-3"], &auditor).await,
        before
    );
    // Restarted on an empty directory, it rebuilds the same chain from the topic.
    cluster.spawn_replica("search-2", "search").await;
    assert_eq!(
        assert_one_trail(&cluster, &REPLICAS, &auditor).await,
        before
    );
    cluster.stop_all().await;
}
