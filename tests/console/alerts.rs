//! The alerts page (issue 16): an investigator sees its watchlists' alerts, audited, and the last row asks for
//! newer ones; in process and through `accord console --api`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    client::Browser,
    console_world,
    helpers::{PATIENCE, TestApp, report, spawn_app},
};

async fn watch_and_submit(app: &TestApp, investigator: &str, partner: &str, value: &str) {
    let body = json!({ "name": "Console", "purpose": "investigation", "case": "CASE-CONSOLE-ALERTS",
        "entries": [{ "value": value }] });
    let created = app.post("/v1/watchlists", investigator, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    app.submit(partner, report("Console alert", "green", &[value]))
        .await;
}

/// Reads `/alerts` until the value shows.
async fn wait_page(browser: &mut Browser, path: &str, value: &str) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        if page.body.contains(value) {
            return page.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{value} never shown: {}",
            page.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_alerts_page_shows_alerts_and_polls_for_newer_ones() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    watch_and_submit(
        &app,
        &people.investigator,
        &people.partner,
        "console-alert.example",
    )
    .await;

    let mut investigator = Browser::new(&app.url);
    investigator.sign_in(&people.investigator).await;
    let body = wait_page(&mut investigator, "/alerts", "console-alert.example").await;
    assert!(body.contains("Console alert"), "the report's title: {body}");
    assert!(
        body.contains("hx-get=\"/alerts?after="),
        "the last row polls for newer alerts: {body}"
    );
    // The poller's answer after the last alert: nothing new yet, the poller again.
    let rows = investigator.get("/alerts?after=1&fragment=rows").await;
    assert!(
        !rows.body.contains("console-alert.example"),
        "{}",
        rows.body
    );
    assert!(
        rows.body
            .contains("hx-get=\"/alerts?after=1&amp;fragment=rows\""),
        "{}",
        rows.body
    );
    // The delivery was audited with the watchlist's case.
    let mine = app
        .get("/v1/audit/mine?limit=20", &people.investigator)
        .await
        .body;
    assert!(
        mine["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|record| record["endpoint"] == "GET /v1/alerts"
                && record["case"] == "CASE-CONSOLE-ALERTS"),
        "{mine}"
    );
    // Another role does not have the page.
    let mut partner = Browser::new(&app.url);
    partner.sign_in(&people.partner).await;
    assert_eq!(partner.get("/alerts").await.status, StatusCode::NOT_FOUND);
    app.shutdown().await;
}

#[tokio::test]
async fn the_remote_console_shows_alerts_too() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    watch_and_submit(
        &app,
        &people.investigator,
        &people.partner,
        "remote-alert.example",
    )
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console_url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(accord_console::run_remote(
        accord_console::Config::default(),
        accord_runtime::http::HttpConfig::default(),
        reqwest::Url::parse(&app.url).unwrap(),
        listener,
        shutdown.clone(),
    ));
    let mut investigator = Browser::new(&console_url);
    investigator.sign_in(&people.investigator).await;
    wait_page(&mut investigator, "/alerts", "remote-alert.example").await;
    shutdown.cancel();
    server.await.unwrap().unwrap();
    app.shutdown().await;
}
