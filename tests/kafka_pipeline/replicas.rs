//! Replicas of the HTTP services keep their stores whole (issue 18): a second gateway and a second search process,
//! each with its own data directory, on a broker with three partitions per topic. A store that every replica keeps
//! whole — the partners' report status, the sightings of indicator lookups — follows its topics in a consumer group
//! of its own data directory (`accord_runtime::Deps::store_group`); in one group shared by the replicas, each would
//! hold the records of its share of the partitions only.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    cluster::{Cluster, PATIENCE, enabled},
    owned::{report, submit},
};

/// Reports posted: enough that each of the three partitions gets some.
const REPORTS: usize = 12;

fn value(n: usize) -> String {
    format!("replica-{n}.example")
}

/// Waits until `check` holds for what `service` answers to `GET path` with `token`.
async fn wait_for(
    cluster: &Cluster,
    service: &str,
    path: &str,
    token: &str,
    check: impl Fn(&Value) -> bool,
) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, body) = cluster.call(service, Method::GET, path, token, None).await;
        if check(&body) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{service} never answered as expected to {path}: {body}; logs:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_gateway_and_search_replica_keep_their_stores_whole() {
    if !enabled() {
        return;
    }
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start().await;
    let (partner, agency) = cluster.world().await;
    cluster.spawn_replica("gateway-2", "gateway").await;
    cluster.spawn_replica("search-2", "search").await;

    let mut ids = Vec::new();
    for n in 0..REPORTS {
        let body = report(&format!("Replica report {n}"), &[&value(n)]);
        ids.push(submit(&cluster, &partner, body).await);
    }
    // Every report was taken by the first gateway; the second knows each one's status all the same.
    for id in &ids {
        let path = format!("/v1/reports/{id}");
        wait_for(&cluster, "gateway-2", &path, &partner, |status| {
            status["status"] == "released"
        })
        .await;
    }
    wait_for(
        &cluster,
        "gateway-2",
        "/v1/reports?limit=100",
        &partner,
        |listed| listed["reports"].as_array().map(Vec::len) == Some(REPORTS),
    )
    .await;

    // Sightings sent to the first search process are counted by the second.
    for (n, id) in ids.iter().enumerate() {
        let feedback = json!({ "report": id, "indicator": value(n), "kind": "sighted", "count": 2,
                               "purpose": "investigation", "case": "OWNED" });
        let (status, body) = cluster
            .call(
                "search",
                Method::POST,
                "/v1/feedback",
                &agency,
                Some(feedback),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for n in 0..REPORTS {
        let path = format!(
            "/v1/indicators/{}?purpose=investigation&case=OWNED",
            value(n)
        );
        wait_for(&cluster, "search-2", &path, &agency, |found| {
            found["sightings"] == 2
        })
        .await;
    }
    cluster.stop_all().await;
}
