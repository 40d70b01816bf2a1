//! The stores derived from the bus, refilled from Kafka (decision 0071): the enforcer's and the gateway's store
//! files are overwritten while their processes are down; restarted, each sets its file aside and refills a new one
//! with a consumer group of its own (Kafka cannot rewind the live group from Accord). Then a new MoU releases every
//! stored report to a second agency (the enforcer's store holds them all again), the retracted report stays gone,
//! and every partner status is back.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::cluster::{ADMIN_TOKEN, Cluster, PATIENCE, enabled};
use crate::owned::{report, submit, wait_lookup};

/// Creates agency `ncu-fr` and a MoU releasing bank-a's reports to it; returns its investigator token.
async fn second_agency(cluster: &Cluster) -> String {
    let (status, body) = cluster
        .call(
            "admin",
            Method::POST,
            "/v1/organizations",
            ADMIN_TOKEN,
            Some(json!({ "id": "ncu-fr", "name": "NCU FR", "kind": "agency", "country": "FR", "sector": "government" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = cluster.token("ncu-fr", "investigator", "refill test").await;
    let (status, body) = cluster
        .call(
            "admin",
            Method::POST,
            "/v1/mous",
            ADMIN_TOKEN,
            Some(json!({
                "id": "m-widened", "title": "Widened after the refill",
                "providers": ["bank-a"], "recipients": ["ncu-fr"],
                "effective_from": "2026-01-01T00:00:00Z", "expires_at": "2030-12-31T23:59:59Z",
                "max_tlp": "amber", "content": ["indicators", "narrative"], "categories": ["*"],
                "indicator_types": ["*"], "purposes": ["investigation"], "pii": "redact",
                "attribution": "named", "recipient_countries": ["*"], "retention_days": 3650
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    token
}

/// Waits until the partner's status of `id` is `expected`.
async fn wait_status(cluster: &Cluster, partner: &str, id: &str, expected: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, status) = cluster
            .call(
                "gateway",
                Method::GET,
                &format!("/v1/reports/{id}"),
                partner,
                None,
            )
            .await;
        if status["status"] == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never became {expected}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn damaged_enforcer_and_gateway_stores_are_refilled_from_kafka() {
    if !enabled() {
        return;
    }
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start().await;
    let (partner, agency) = cluster.world().await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let value = format!("kept-{n}.refill.example");
        ids.push(
            submit(
                &cluster,
                &partner,
                report(&format!("Refill {n}"), &[&value]),
            )
            .await,
        );
        wait_lookup(&cluster, &agency, &value, true).await;
    }
    let (status, body) = cluster
        .call(
            "gateway",
            Method::DELETE,
            &format!("/v1/reports/{}", ids[0]),
            &partner,
            Some(json!({ "reason": "sent-in-error" })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_lookup(&cluster, &agency, "kept-0.refill.example", false).await;
    wait_status(&cluster, &partner, &ids[0], "retracted").await;

    let data = cluster.data.path().join("data");
    for (service, file) in [
        ("enforcer", "enforcer/reports.redb"),
        ("gateway", "gateway/status.redb"),
    ] {
        cluster.kill(service).await;
        let path = data.join(file);
        let length = std::fs::metadata(&path).unwrap().len() as usize;
        std::fs::write(&path, vec![0x5a_u8; length]).unwrap();
        cluster.spawn(service).await;
        let log = cluster.log(service);
        assert!(
            log.contains("moved aside") && log.contains("store refilled from the bus"),
            "{service}: {log}"
        );
        assert!(!data.join(format!("{file}.refill")).exists());
    }

    for (n, id) in ids.iter().enumerate().skip(1) {
        wait_status(&cluster, &partner, id, "released").await;
        wait_lookup(&cluster, &agency, &format!("kept-{n}.refill.example"), true).await;
    }
    wait_status(&cluster, &partner, &ids[0], "retracted").await;
    let widened = second_agency(&cluster).await;
    for n in 1..6 {
        wait_lookup(
            &cluster,
            &widened,
            &format!("kept-{n}.refill.example"),
            true,
        )
        .await;
    }
    let (status, body) = cluster
        .call(
            "search",
            Method::GET,
            "/v1/indicators/kept-0.refill.example?purpose=investigation&case=OWNED",
            &widened,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the retracted report came back: {body}"
    );
    cluster.stop_all().await;
}
