//! Amend and retract on the multi-process deployment (issue 19): every service its own process on a Kafka-protocol
//! broker with three partitions per topic. A retraction sent right after its report's 202 and an amendment reach
//! the index; a retraction of indicator values reaches every report of the partner.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cluster::{ADMIN_TOKEN, Cluster, PATIENCE, enabled};

pub(crate) fn report(title: &str, values: &[&str]) -> Value {
    let indicators: Vec<Value> = values.iter().map(|v| json!({ "value": v })).collect();
    json!({
        "title": title,
        "description": "Credential phishing wave against online banking customers.",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "categories": ["phishing"],
        "sector": "finance",
        "indicators": indicators,
    })
}

/// Waits until `value` is found (`true`) or not found (`false`) by the agency.
pub(crate) async fn wait_lookup(
    cluster: &Cluster,
    agency: &str,
    value: &str,
    found: bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = cluster
            .call(
                "search",
                Method::GET,
                &format!("/v1/indicators/{value}?purpose=investigation&case=OWNED"),
                agency,
                None,
            )
            .await;
        if (status == StatusCode::OK) == found && status != StatusCode::SERVICE_UNAVAILABLE {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{value} never became {}: {body}; logs:\n{}",
            if found { "found" } else { "gone" },
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn submit(cluster: &Cluster, partner: &str, body: Value) -> String {
    let (status, accepted) = cluster
        .call("gateway", Method::POST, "/v1/reports", partner, Some(body))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    accepted["id"].as_str().unwrap().to_owned()
}

/// Retracts `value` from every report of the partner (as a false positive).
async fn retract(cluster: &Cluster, partner: &str, value: &str) {
    let (status, body) = cluster
        .call(
            "gateway",
            Method::POST,
            "/v1/indicators/retract",
            partner,
            Some(json!({ "values": [value], "reason": "false-positive" })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn amend_and_retract_reach_every_copy_across_processes() {
    if !enabled() {
        return;
    }
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start().await;
    let (partner, agency) = cluster.world().await;

    // A retraction racing its report's processing.
    let raced = submit(
        &cluster,
        &partner,
        report("Raced", &["raced.owned.example"]),
    )
    .await;
    let (status, body) = cluster
        .call(
            "gateway",
            Method::DELETE,
            &format!("/v1/reports/{raced}"),
            &partner,
            Some(json!({ "reason": "sent-in-error" })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // An amendment.
    let amended = submit(
        &cluster,
        &partner,
        report("Version one", &["old.owned.example", "kept.owned.example"]),
    )
    .await;
    wait_lookup(&cluster, &agency, "old.owned.example", true).await;
    let (status, body) = cluster
        .call(
            "gateway",
            Method::PUT,
            &format!("/v1/reports/{amended}"),
            &partner,
            Some(report(
                "Version two",
                &["new.owned.example", "kept.owned.example"],
            )),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["version"], 2);
    wait_lookup(&cluster, &agency, "new.owned.example", true).await;
    wait_lookup(&cluster, &agency, "old.owned.example", false).await;
    let kept = wait_lookup(&cluster, &agency, "kept.owned.example", true).await;
    assert_eq!(kept["reports"][0]["title"], "Version two", "{kept}");

    // Indicator values retracted from every report of the partner.
    retract(&cluster, &partner, "kept.owned.example").await;
    wait_lookup(&cluster, &agency, "kept.owned.example", false).await;
    wait_lookup(&cluster, &agency, "new.owned.example", true).await;

    // The raced report: a tombstone, and nothing found.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, status) = cluster
            .call(
                "gateway",
                Method::GET,
                &format!("/v1/reports/{raced}"),
                &partner,
                None,
            )
            .await;
        if status["status"] == "retracted" && status["evaluated_at"].is_string() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_lookup(&cluster, &agency, "raced.owned.example", false).await;
    cluster.stop_all().await;
}

/// Two enforcer replicas share four partitions; an indicator retraction sits in one of them, read by one replica, yet
/// the value leaves the reports of both (decision 0083). With the retraction applied only where it was read, the
/// other replica's reports kept it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_indicator_retraction_reaches_every_enforcer_replica() {
    if !enabled() {
        return;
    }
    let _one = crate::ONE_AT_A_TIME.lock().await;
    // Two live enforcers in one group: a session tansu's join pause fits in.
    let mut cluster = Cluster::start_with(4, crate::cluster::STABLE_SESSION_TIMEOUT).await;
    cluster.spawn_replica("enforcer-2", "enforcer").await;
    let (partner, agency) = cluster.world().await;
    let own: Vec<String> = (0..16).map(|n| format!("own{n}.spread.example")).collect();
    let mut ids = Vec::new();
    for (n, value) in own.iter().enumerate() {
        let body = report(&format!("Spread {n}"), &["shared.spread.example", value]);
        ids.push(submit(&cluster, &partner, body).await);
    }
    for value in &own {
        wait_lookup(&cluster, &agency, value, true).await;
    }
    let (first, second) = (
        cluster.received("enforcer", "enforcer").await,
        cluster.received("enforcer-2", "enforcer").await,
    );
    assert!(
        first > 0.0 && second > 0.0,
        "both replicas enforce reports ({first} and {second}); logs:\n{}",
        cluster.logs()
    );
    // Each replica explains and previews every report, not only those of its partitions (decision 0086).
    for replica in ["enforcer", "enforcer-2"] {
        wait_catalogued(&cluster, replica, &ids).await;
    }

    retract(&cluster, &partner, "shared.spread.example").await;
    wait_lookup(&cluster, &agency, "shared.spread.example", false).await;
    for value in &own {
        wait_lookup(&cluster, &agency, value, true).await;
    }
    // A report sent afterwards keeps the value, on whichever replica it lands.
    submit(
        &cluster,
        &partner,
        report("Spread again", &["shared.spread.example"]),
    )
    .await;
    let again = wait_lookup(&cluster, &agency, "shared.spread.example", true).await;
    assert_eq!(again["reports_total"], 1, "{again}");
    cluster.stop_all().await;
}

/// Waits until `replica` previews an MoU of the partner over every one of `ids` and explains each of them: its
/// catalog holds every report, whichever replica's partition it is in.
async fn wait_catalogued(cluster: &Cluster, replica: &str, ids: &[String]) {
    wait_previewed(cluster, replica, ids.len()).await;
    for id in ids {
        let path = format!("/v1/explain?report={id}&agency=ncu-de");
        let (status, explanation) = cluster
            .call(replica, Method::GET, &path, ADMIN_TOKEN, None)
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{replica} explains {id}: {explanation}"
        );
    }
}

/// Waits until a preview on `replica` of an MoU from `bank-a` to `ncu-de` evaluates `count` reports.
pub(crate) async fn wait_previewed(cluster: &Cluster, replica: &str, count: usize) {
    let draft = json!({
        "id": "m-preview", "title": "Preview", "providers": ["bank-a"], "recipients": ["ncu-de"],
        "effective_from": "2026-01-01T00:00:00Z", "expires_at": "2030-12-31T23:59:59Z",
        "max_tlp": "amber", "content": ["indicators"], "categories": ["*"], "indicator_types": ["*"],
        "purposes": ["investigation"], "pii": "share", "attribution": "named",
        "recipient_countries": ["*"], "retention_days": 3650
    });
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, preview) = cluster
            .call(
                replica,
                Method::POST,
                "/v1/mous/preview",
                ADMIN_TOKEN,
                Some(draft.clone()),
            )
            .await;
        if status == StatusCode::OK && preview["reports_evaluated"] == count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{replica} previews {status} {preview}, not {count} reports"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
