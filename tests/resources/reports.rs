//! Every per-report quantity is bounded before the bus; what cannot be passed on is dead-lettered, never retried.

use accord::config::ServicesConfig;
use accord_bus::Position;
use accord_domain::{OrgId, RawReport, ReportFormat, ReportId, topics};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::{
    helpers::{TestApp, mou, report, spawn_app, spawn_app_with, world},
    hostile,
};

async fn raw_end(app: &TestApp) -> Vec<Position> {
    app.bus.end_offsets(topics::REPORTS_RAW).await.unwrap()
}

fn only_error(body: &Value) -> (&str, &str) {
    let errors = body["errors"].as_array().expect("errors listed");
    assert_eq!(errors.len(), 1, "{body}");
    (
        errors[0]["pointer"].as_str().unwrap(),
        errors[0]["message"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn a_submission_that_expands_past_the_limits_is_refused_before_the_bus_naming_the_limit() {
    let mut config = ServicesConfig::default();
    config.gateway.max_patterns = 5;
    let app = spawn_app_with(TempDir::new().unwrap(), config).await;
    let w = world(&app).await;
    let before = raw_end(&app).await;

    // Declares no indicator, yet its patterns and text expand to 135 000.
    let expanding = app
        .post("/v1/reports", &w.partner, hostile::expanding())
        .await;
    assert_eq!(
        expanding.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        expanding.body
    );
    assert_eq!(expanding.body["type"], "/problems/invalid-request");
    let (pointer, message) = only_error(&expanding.body);
    assert_eq!(
        pointer, "/patterns",
        "30 patterns, the limit is 5: {message}"
    );
    assert!(message.contains("max_patterns"), "{message}");

    // Within the pattern limit, the indicators they expand to are counted.
    let mut few_patterns = hostile::expanding();
    few_patterns["patterns"].as_array_mut().unwrap().truncate(5);
    let refused = app.post("/v1/reports", &w.partner, few_patterns).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let (pointer, message) = only_error(&refused.body);
    assert_eq!(pointer, "/");
    assert!(
        message.contains("more than 10000 indicators") && message.contains("max_indicators"),
        "{message}"
    );

    // And so are those found in free text alone.
    let mut text_only = hostile::expanding();
    text_only["patterns"] = json!([]);
    let refused = app.post("/v1/reports", &w.partner, text_only).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(only_error(&refused.body).1.contains("max_indicators"));

    assert_eq!(
        raw_end(&app).await,
        before,
        "nothing refused reached the bus"
    );
    app.submit(
        &w.partner,
        report("Still welcome", "green", &["198.51.100.77"]),
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_report_whose_normalized_record_is_too_large_is_refused_naming_the_limit() {
    let mut config = ServicesConfig::default();
    config.gateway.max_report_bytes = 256 * 1024;
    config.gateway.max_normalized_bytes = 512 * 1024;
    config.gateway.max_backlog_bytes = 512 * 1024;
    let app = spawn_app_with(TempDir::new().unwrap(), config).await;
    let w = world(&app).await;
    let before = raw_end(&app).await;
    // 190 KB of text that locates thousands of indicators and e-mail addresses: about 1.5 MB normalized.
    let refused = app.post("/v1/reports", &w.partner, hostile::heavy(1)).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let (pointer, message) = only_error(&refused.body);
    assert_eq!(pointer, "/");
    assert!(
        message.contains("max_normalized_bytes") && message.contains("524288"),
        "{message}"
    );
    assert_eq!(raw_end(&app).await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn a_record_past_the_limits_already_on_the_bus_is_rejected_and_stalls_no_one() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    // Accepted before the limits existed (or by a gateway configured otherwise): straight onto the bus.
    let raw = RawReport {
        revision: None,
        id: ReportId::random(),
        partner: OrgId::parse("bank-a").unwrap(),
        received_at: chrono::Utc::now(),
        default_tlp: None,
        format: ReportFormat::Native,
        payload: hostile::expanding(),
        objects: Vec::new(),
        warnings: Vec::new(),
    };
    let mut record = accord_runtime::stage::json_record(raw.id.as_str(), &raw).unwrap();
    record
        .headers
        .push((topics::HEADER_PARTNER.to_owned(), "bank-a".to_owned()));
    app.bus
        .publish(topics::REPORTS_RAW, vec![record])
        .await
        .unwrap();
    let after = app
        .submit(
            &w.partner,
            report("Right behind it", "green", &["198.51.100.78"]),
        )
        .await;

    app.wait_found(&w.ncu_de, "198.51.100.78", "investigation")
        .await;
    app.wait_status(&w.partner, &after, &["released"]).await;
    let status = app
        .wait_status(&w.partner, raw.id.as_str(), &["rejected"])
        .await;
    let rejection = &status["rejections"][0];
    assert_eq!(rejection["reason"], "too-large", "{status}");
    assert!(
        rejection["detail"]
            .as_str()
            .unwrap()
            .contains("max_indicators"),
        "{status}"
    );
    app.shutdown().await;
}

/// 1 100 URL indicators of 8 000 characters: about 9 MB normalized, within limits raised for the test; released under
/// three MoUs with distinct views, its release set is about 27 MB, more than the embedded bus's 16 MiB.
fn large_report() -> Value {
    let indicators: Vec<Value> = (0..1100)
        .map(|n| {
            json!({
                "type": "url",
                "value": format!("https://large.example.com/{}/{n}", "a".repeat(7_950))
            })
        })
        .collect();
    json!({
        "title": "Large release set",
        "description": "Many long URLs.",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "categories": ["phishing"],
        "indicators": indicators,
    })
}

#[tokio::test]
async fn a_release_set_too_large_for_the_bus_is_withdrawn_and_dead_lettered_not_retried() {
    let mut config = ServicesConfig::default();
    config.http.max_body_bytes = 16 * 1024 * 1024;
    config.gateway.max_report_bytes = 12 * 1024 * 1024;
    config.gateway.max_normalized_bytes = 15 * 1024 * 1024;
    config.gateway.max_backlog_bytes = 16 * 1024 * 1024;
    let app = spawn_app_with(TempDir::new().unwrap(), config).await;
    let w = world(&app).await;
    // Three MoUs whose views of the report differ (attribution, PII): three views in one release set.
    app.create_mou(mou("m-named", "bank-a", &["ncu-de"], json!({})))
        .await;
    app.create_mou(mou(
        "m-anonymous",
        "bank-a",
        &["ncu-fr"],
        json!({ "attribution": "anonymous" }),
    ))
    .await;
    app.create_mou(mou(
        "m-redact",
        "bank-a",
        &["outsider"],
        json!({ "pii": "redact", "attribution": "anonymous", "content": ["indicators"] }),
    ))
    .await;
    let large = app.submit(&w.partner, large_report()).await;
    let status = app.wait_status(&w.partner, &large, &["rejected"]).await;
    let rejection = &status["rejections"][0];
    assert_eq!(rejection["reason"], "too-large", "{status}");
    assert!(
        rejection["detail"]
            .as_str()
            .unwrap()
            .contains("record limit"),
        "{status}"
    );
    // The enforcer went on: a report after it is released, and nothing of the large one is found.
    let after = app
        .submit(
            &w.partner,
            report("After the large one", "green", &["198.51.100.79"]),
        )
        .await;
    app.wait_found(&w.ncu_de, "198.51.100.79", "investigation")
        .await;
    app.wait_status(&w.partner, &after, &["released"]).await;
    let url = format!("https://large.example.com/{}/7", "a".repeat(7_950));
    for token in [&w.ncu_de, &w.ncu_fr] {
        let found = app
            .post(
                "/v1/indicators/lookup",
                token,
                json!({ "values": [url], "purpose": "investigation", "case": "C-LARGE" }),
            )
            .await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.body);
        assert_eq!(
            found.body["results"][0]["match"],
            Value::Null,
            "{}",
            found.body
        );
    }
    app.shutdown().await;
}
