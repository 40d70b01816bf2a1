//! Watchlist alerts on the multi-process deployment (issue 16): the matcher runs in the search process as a
//! consumer of `reports.releasable` on the Kafka-protocol broker, so a report posted to the gateway process raises an
//! alert in the search process, and its retraction a `withdrawn` alert.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cluster::{Cluster, PATIENCE, enabled};

/// Polls `GET /v1/alerts` on the search process until `count` alerts are there.
async fn wait_alerts(cluster: &Cluster, agency: &str, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = cluster
            .call("search", Method::GET, "/v1/alerts", agency, None)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_raises_an_alert_and_a_retraction_withdraws_it_across_processes() {
    if !enabled() {
        return;
    }
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start().await;
    let (partner, agency) = cluster.world().await;
    let watchlist = json!({ "name": "Kafka path", "purpose": "investigation", "case": "CASE-KAFKA",
        "entries": [{ "value": "watched.kafka.example" }] });
    let (status, body) = cluster
        .call(
            "search",
            Method::POST,
            "/v1/watchlists",
            &agency,
            Some(watchlist),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let report = json!({
        "title": "Watched on Kafka",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "categories": ["phishing"],
        "sector": "finance",
        "indicators": [{ "value": "watched.kafka.example" }, { "value": "other.kafka.example" }],
    });
    let (status, accepted) = cluster
        .call(
            "gateway",
            Method::POST,
            "/v1/reports",
            &partner,
            Some(report),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
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
