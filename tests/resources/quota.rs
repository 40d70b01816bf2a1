//! A partner's daily quota (`gateway.max_partner_bytes_per_day`): past it, its submissions and amendments are
//! answered 429 naming the setting, with `Retry-After` until midnight UTC, before any work; another partner is not
//! affected, what was accepted is released, and the count survives a restart.

use accord::config::ServicesConfig;
use accord_domain::topics;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{TestApp, mou, report, spawn_app_with, world};

/// A small quota: a few dozen reports of about a kilobyte.
fn config() -> ServicesConfig {
    let mut config = ServicesConfig::default();
    config.gateway.max_report_bytes = 16 * 1024;
    config.gateway.max_normalized_bytes = 64 * 1024;
    config.gateway.max_backlog_bytes = 1024 * 1024;
    config.gateway.max_partner_bytes_per_day = 32 * 1024;
    config
}

/// Sends `body` as `token`; returns the status, the problem document and the `Retry-After` header.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: &Value,
) -> (StatusCode, Value, Option<u64>) {
    let response = app
        .client
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, retry_after)
}

fn assert_quota_refusal(status: StatusCode, body: &Value, retry_after: Option<u64>) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["type"], "/problems/rate-limited", "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("gateway.max_partner_bytes_per_day") && detail.contains("32768"),
        "the refusal names the setting and its value: {detail}"
    );
    let retry_after = retry_after.expect("a 429 carries Retry-After");
    assert!(
        (1..=86_400).contains(&retry_after),
        "Retry-After runs until midnight UTC: {retry_after}"
    );
}

#[tokio::test]
async fn a_partner_past_its_daily_quota_is_refused_until_midnight_and_no_one_else_is() {
    let app = spawn_app_with(TempDir::new().unwrap(), config()).await;
    let w = world(&app).await;
    app.create_org("bank-b", "partner", "DE").await;
    let other = app.token("bank-b", "partner").await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;

    // Each report takes about 2 KB (as sent plus normalized): the quota is used up within a few dozen.
    let mut accepted = Vec::new();
    let refusal = loop {
        let n = accepted.len();
        assert!(n < 200, "no refusal after {n} reports under a 32 KiB quota");
        let value = format!("198.51.100.{}", n + 1);
        let body = report(&format!("Report {n}"), "green", &[value.as_str()]);
        let (status, body, retry_after) =
            send(&app, Method::POST, "/v1/reports", &w.partner, &body).await;
        if status == StatusCode::ACCEPTED {
            accepted.push((body["id"].as_str().unwrap().to_owned(), value));
            continue;
        }
        break (status, body, retry_after);
    };
    assert!(accepted.len() >= 5, "the quota admitted {}", accepted.len());
    assert_quota_refusal(refusal.0, &refusal.1, refusal.2);

    // Refused before any work: nothing more reaches the bus, an amendment included.
    let before = app.bus.end_offsets(topics::REPORTS_RAW).await.unwrap();
    let again = report("One more", "green", &["203.0.113.9"]);
    let (status, body, retry_after) =
        send(&app, Method::POST, "/v1/reports", &w.partner, &again).await;
    assert_quota_refusal(status, &body, retry_after);
    let path = format!("/v1/reports/{}", accepted[0].0);
    let (status, body, retry_after) = send(&app, Method::PUT, &path, &w.partner, &again).await;
    assert_quota_refusal(status, &body, retry_after);
    assert_eq!(
        app.bus.end_offsets(topics::REPORTS_RAW).await.unwrap(),
        before,
        "nothing refused reached the bus"
    );

    // Another partner is not affected, and everything accepted is released.
    let theirs = app
        .submit(&other, report("Another partner", "green", &["192.0.2.77"]))
        .await;
    app.wait_status(&other, &theirs, &["normalized", "released"])
        .await;
    for (_, value) in [accepted.first().unwrap(), accepted.last().unwrap()] {
        app.wait_found(&w.ncu_de, value, "investigation").await;
    }

    // The count survives a restart.
    let dir = app.shutdown().await;
    let app = spawn_app_with(dir, config()).await;
    let (status, body, retry_after) =
        send(&app, Method::POST, "/v1/reports", &w.partner, &again).await;
    assert_quota_refusal(status, &body, retry_after);
    app.shutdown().await;
}

#[tokio::test]
async fn no_quota_when_it_is_zero() {
    let mut config = config();
    config.gateway.max_partner_bytes_per_day = 0;
    let app = spawn_app_with(TempDir::new().unwrap(), config).await;
    let w = world(&app).await;
    for n in 0..40 {
        let value = format!("198.51.100.{}", n + 1);
        let body = report(&format!("Report {n}"), "green", &[value.as_str()]);
        let (status, body, _) = send(&app, Method::POST, "/v1/reports", &w.partner, &body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "report {n}: {body}");
    }
    app.shutdown().await;
}
