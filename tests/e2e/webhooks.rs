//! Webhooks (issue 16): a watchlist's alerts POSTed signed to a receiver that fails at first (retried until it
//! accepts), and to one that never accepts (dead-lettered after the retry window and shown as failed).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use accord::config::ServicesConfig;
use axum::{
    Router, extract::State, http::HeaderMap, http::StatusCode as AxumStatus, routing::post,
};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{PATIENCE, mou, report, spawn_app_with, world};

const SECRET: &str = "a-receiver-secret-0123456789";

/// What a receiver accepted: the signature header and the body of each POST.
type Accepted = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A receiver that answers 500 to its first `fail_first` requests (all of them with `usize::MAX`), then 204,
/// keeping what it accepted.
#[derive(Clone, Default)]
struct Receiver {
    fail_first: usize,
    seen: Arc<Mutex<usize>>,
    accepted: Accepted,
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AxumStatus {
    let attempt = {
        let mut seen = receiver.seen.lock().unwrap();
        *seen += 1;
        *seen
    };
    if attempt <= receiver.fail_first {
        return AxumStatus::INTERNAL_SERVER_ERROR;
    }
    let signature = headers["x-accord-signature"].to_str().unwrap().to_owned();
    receiver
        .accepted
        .lock()
        .unwrap()
        .push((signature, body.to_vec()));
    AxumStatus::NO_CONTENT
}

async fn start_receiver(receiver: Receiver) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Checks `t=<unix>,v1=<hex>` as a receiver would: HMAC-SHA256 with the secret over "<t>.<body>".
fn verify(signature: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let fresh = (chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap()).abs() < 300;
    fresh && mac.verify_slice(&hex::decode(v1).unwrap()).is_ok()
}

#[tokio::test]
async fn alerts_reach_a_webhook_signed_after_retries_and_a_dead_receiver_is_shown_failed() {
    let mut config = ServicesConfig::default();
    config.search.webhook_allow_insecure = true;
    config.search.webhook_retry_secs = 2;
    let app = spawn_app_with(TempDir::new().unwrap(), config).await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    let flaky = Receiver {
        fail_first: 2,
        ..Receiver::default()
    };
    let dead = Receiver {
        fail_first: usize::MAX,
        ..Receiver::default()
    };
    let mut lists = Vec::new();
    for (receiver, value) in [(&flaky, "hooked.example"), (&dead, "unheard.example")] {
        let url = start_receiver(receiver.clone()).await;
        let body = json!({ "name": "hooked", "purpose": "investigation", "case": "CASE-HOOK",
            "entries": [{ "value": value }], "webhook": { "url": url, "secret": SECRET } });
        let created = app.post("/v1/watchlists", &w.ncu_de, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert!(
            created.body.to_string().find(SECRET).is_none(),
            "the secret is never returned"
        );
        lists.push(created.body["id"].as_str().unwrap().to_owned());
    }
    let id = app
        .submit(
            &w.partner,
            report("Hooked", "green", &["hooked.example", "unheard.example"]),
        )
        .await;

    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (signature, body) = loop {
        if let Some(first) = flaky.accepted.lock().unwrap().first().cloned() {
            break first;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the webhook never delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(verify(&signature, &body), "bad signature {signature}");
    let delivered: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        delivered["alerts"][0]["value"], "hooked.example",
        "{delivered}"
    );
    assert_eq!(delivered["alerts"][0]["report"]["id"], id);
    assert!(
        *flaky.seen.lock().unwrap() >= 3,
        "delivered only after the two failures were retried"
    );

    // The dead receiver: retried for the window, then the alert is dead-lettered and shown as failed.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let shown = loop {
        let shown = app
            .get(&format!("/v1/watchlists/{}", lists[1]), &w.ncu_de)
            .await
            .body;
        if shown["webhook"]["failed"]
            .as_array()
            .is_some_and(|failed| !failed.is_empty())
        {
            break shown;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never dead-lettered: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shown["webhook"]["status"], "failed", "{shown}");
    assert!(
        shown["webhook"]["last_error"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{shown}"
    );
    assert!(*dead.seen.lock().unwrap() >= 2);
    // Still readable by the agency.
    let alerts = app.get("/v1/alerts", &w.ncu_de).await.body;
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 2, "{alerts}");
    let flaky_shown = app
        .get(&format!("/v1/watchlists/{}", lists[0]), &w.ncu_de)
        .await
        .body;
    assert_eq!(flaky_shown["webhook"]["status"], "ok", "{flaky_shown}");
    assert_eq!(flaky_shown["webhook"]["delivered"], 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_webhook_must_be_https_to_a_public_address_by_default() {
    let app = crate::helpers::spawn_app().await;
    let w = world(&app).await;
    let body = json!({ "name": "x", "purpose": "investigation", "case": "C", "entries": [],
        "webhook": { "url": "http://127.0.0.1:9/hook", "secret": SECRET } });
    let refused = app.post("/v1/watchlists", &w.ncu_de, body).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.to_string().contains("/webhook/url"),
        "{}",
        refused.body
    );
    app.shutdown().await;
}
