//! Unlinkable report ids (issue 15, item 4): an id derived from an `Idempotency-Key` is keyed with the deployment's
//! secret, so nobody outside can compute it from a guess of partner and key; a report accepted under the old,
//! public derivation is still found by its retry.

use accord_domain::{OrgId, RawReport, ReportFormat, ReportId, topics};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, data_dir, report, spawn_app, spawn_app_in, world};

async fn post_with_key(app: &TestApp, token: &str, key: &str, body: &Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/v1/reports", app.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn raw_end(app: &TestApp) -> u64 {
    app.bus.end_offsets(topics::REPORTS_RAW).await.unwrap()[0].offset
}

#[tokio::test]
async fn ids_from_idempotency_keys_cannot_be_computed_outside_and_survive_a_restart() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let body = report("keyed", "green", &["198.51.100.77"]);
    let (status, answer) = post_with_key(&app, &w.partner, "batch-7", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let bank = OrgId::parse("bank-a").unwrap();
    let public = ReportId::legacy_for_idempotency_key(&bank, "batch-7");
    assert_ne!(
        id,
        public.as_str(),
        "the id is not the public derivation of partner and key"
    );
    let key_file = data_dir(&app.dir).join("gateway").join("report-id.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is its owner's only");
    }

    // The key lives in the data directory: after a restart the retry gets the same id.
    let app = spawn_app_in(app.shutdown().await).await;
    let (status, again) = post_with_key(&app, &w.partner, "batch-7", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["id"], id.as_str());

    // Another deployment (another key) gives the same partner and key another id.
    let other = spawn_app().await;
    let other_world = world(&other).await;
    let (_, elsewhere) = post_with_key(&other, &other_world.partner, "batch-7", &body).await;
    assert_ne!(elsewhere["id"], id.as_str());
    other.shutdown().await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_report_accepted_under_an_old_style_id_is_found_by_its_retry() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let bank = OrgId::parse("bank-a").unwrap();
    let old_id = ReportId::legacy_for_idempotency_key(&bank, "old-key");
    let body = report(
        "accepted before ids were keyed",
        "green",
        &["198.51.100.78"],
    );
    // What the gateway wrote for it before this version: the raw report under the public derivation.
    let raw = RawReport {
        revision: None,
        id: old_id.clone(),
        partner: bank,
        received_at: chrono::Utc::now(),
        default_tlp: None,
        format: ReportFormat::Native,
        payload: body.clone(),
        objects: Vec::new(),
        warnings: Vec::new(),
    };
    let record = accord_runtime::stage::json_record(old_id.as_str(), &raw).unwrap();
    app.bus
        .publish(topics::REPORTS_RAW, vec![record])
        .await
        .unwrap();
    app.wait_status(
        &w.partner,
        old_id.as_str(),
        &["released", "normalized", "rejected"],
    )
    .await;
    let written = raw_end(&app).await;

    let (status, retry) = post_with_key(&app, &w.partner, "old-key", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retry}");
    assert_eq!(
        retry["id"],
        old_id.as_str(),
        "the retry names the report already accepted"
    );
    assert_eq!(raw_end(&app).await, written, "nothing new was written");
    app.shutdown().await;
}
