//! Replicas of the HTTP services keep their stores whole (issue 18): a second gateway and a second search process,
//! each with its own data directory, on a broker with three partitions per topic. A store that every replica keeps
//! whole — the partners' report status, the sightings of indicator lookups — follows its topics in a consumer group
//! of its own data directory (`accord_runtime::Deps::store_group`); in one group shared by the replicas, each would
//! hold the records of its share of the partitions only. The second gateway also counts what the partner sent
//! through the first against its daily quota.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    cluster::{Cluster, PATIENCE, enabled},
    owned::{report, submit},
};

/// Reports posted: enough that each of the three partitions gets some.
const REPORTS: usize = 12;

/// The second gateway's daily quota per partner, in bytes: less than the reports sent through the first take (each
/// body takes more than 300 bytes, its normalized form more).
const QUOTA: usize = 2_048;

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
    // The second gateway has a daily quota per partner that the reports sent through the first use up.
    cluster.env = [
        ("ACCORD_GATEWAY__MAX_PARTNER_BYTES_PER_DAY", QUOTA),
        // A quota may not be below one report's limits.
        ("ACCORD_GATEWAY__MAX_REPORT_BYTES", 1_024),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_string()))
    .to_vec();
    cluster.spawn_replica("gateway-2", "gateway").await;
    cluster.env.clear();
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
    // It counted them against the partner's quota: its next submission there is refused.
    let (status, refused) = cluster
        .call(
            "gateway-2",
            Method::POST,
            "/v1/reports",
            &partner,
            Some(report("One too many", &["replica-over.example"])),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "{refused}; its log:\n{}",
        cluster.log("gateway-2")
    );

    // Sightings sent to the first search process, once it finds the reports, are counted by the second.
    let lookup = |n: usize| {
        format!(
            "/v1/indicators/{}?purpose=investigation&case=OWNED",
            value(n)
        )
    };
    for n in 0..REPORTS {
        wait_for(&cluster, "search", &lookup(n), &agency, |found| {
            found["reports_total"] == 1
        })
        .await;
    }
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
        wait_for(&cluster, "search-2", &lookup(n), &agency, |found| {
            found["sightings"] == 2
        })
        .await;
    }
    cluster.stop_all().await;
}
