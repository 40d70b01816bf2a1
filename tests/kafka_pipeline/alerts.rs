//! Watchlist alerts on the multi-process deployment (issue 16): the matcher runs in the search process as a
//! consumer of `reports.releasable` on the Kafka-protocol broker, so a report posted to the gateway process raises an
//! alert in the search process, and its retraction a `withdrawn` alert. With two search replicas, the one holding a
//! watchlist raises its alerts for the releases of every partition.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cluster::{Cluster, PATIENCE, enabled};

/// Polls `GET /v1/alerts` on the search process until `count` alerts are there.
async fn wait_alerts(cluster: &Cluster, agency: &str, count: usize) -> Vec<Value> {
    wait_alerts_on(cluster, "search", agency, count).await
}

/// Polls `GET /v1/alerts` on the search process `search` until `count` alerts are there.
async fn wait_alerts_on(cluster: &Cluster, search: &str, agency: &str, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = cluster
            .call(search, Method::GET, "/v1/alerts", agency, None)
            .await;
        if status == StatusCode::OK
            && body["alerts"]
                .as_array()
                .is_some_and(|alerts| alerts.len() >= count)
        {
            return body["alerts"].as_array().unwrap().clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} alerts never came: {body}; logs:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates a watchlist of `agency` on the first search process watching `value`.
async fn watch(cluster: &Cluster, agency: &str, name: &str, value: &str) {
    let watchlist = json!({ "name": name, "purpose": "investigation", "case": "CASE-KAFKA",
        "entries": [{ "value": value }] });
    let (status, body) = cluster
        .call(
            "search",
            Method::POST,
            "/v1/watchlists",
            agency,
            Some(watchlist),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Posts a phishing report of `partner` with the two indicator `values`; returns the gateway's 202 body.
async fn post_watched(cluster: &Cluster, partner: &str, title: &str, values: [&str; 2]) -> Value {
    let report = json!({
        "title": title,
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "categories": ["phishing"],
        "sector": "finance",
        "indicators": [{ "value": values[0] }, { "value": values[1] }],
    });
    let (status, accepted) = cluster
        .call(
            "gateway",
            Method::POST,
            "/v1/reports",
            partner,
            Some(report),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_raises_an_alert_and_a_retraction_withdraws_it_across_processes() {
    if !enabled() {
        return;
    }
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start().await;
    let (partner, agency) = cluster.world().await;
    watch(&cluster, &agency, "Kafka path", "watched.kafka.example").await;
    let accepted = post_watched(
        &cluster,
        &partner,
        "Watched on Kafka",
        ["watched.kafka.example", "other.kafka.example"],
    )
    .await;
    let id = accepted["id"].as_str().unwrap();
    let alerts = wait_alerts(&cluster, &agency, 1).await;
    assert_eq!(alerts[0]["kind"], "match", "{alerts:?}");
    assert_eq!(alerts[0]["report"]["id"], id);

    let (status, body) = cluster
        .call(
            "gateway",
            Method::DELETE,
            &format!("/v1/reports/{id}"),
            &partner,
            Some(json!({ "reason": "sent-in-error" })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let alerts = wait_alerts(&cluster, &agency, 2).await;
    assert_eq!(alerts[1]["kind"], "withdrawn", "{alerts:?}");
    cluster.stop_all().await;
}

/// With two search replicas, the one that holds a watchlist raises an alert for a release of every partition (its
/// matcher reads them all, in a group of its data directory), and the other raises none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_replica_holding_a_watchlist_raises_its_alerts_for_every_partition() {
    if !enabled() {
        return;
    }
    let _one = crate::ONE_AT_A_TIME.lock().await;
    // Two live members in search's shared groups: a session tansu's join pause fits in.
    let mut cluster = Cluster::start_with(3, crate::cluster::STABLE_SESSION_TIMEOUT).await;
    cluster.spawn_replica("search-2", "search").await;
    let (partner, agency) = cluster.world().await;
    watch(
        &cluster,
        &agency,
        "Every partition",
        "watched.everywhere.example",
    )
    .await;

    // Twelve reports, keyed by random ids: spread over the three partitions.
    const REPORTS: usize = 12;
    for n in 0..REPORTS {
        let other = format!("other{n}.example");
        let title = format!("Watched everywhere {n}");
        post_watched(
            &cluster,
            &partner,
            &title,
            ["watched.everywhere.example", other.as_str()],
        )
        .await;
    }
    let alerts = wait_alerts_on(&cluster, "search", &agency, REPORTS).await;
    assert_eq!(alerts.len(), REPORTS, "one alert per report: {alerts:?}");
    assert!(
        alerts.iter().all(|alert| alert["kind"] == "match"),
        "{alerts:?}"
    );
    let (status, body) = cluster
        .call("search-2", Method::GET, "/v1/alerts", &agency, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["alerts"].as_array().map(Vec::len),
        Some(0),
        "the replica without the watchlist raises nothing: {body}"
    );
    cluster.stop_all().await;
}
