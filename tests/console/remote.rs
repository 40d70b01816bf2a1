//! `accord console --api URL`: the console alone, calling `accord up`'s HTTP API with each user's own token — the
//! same pages, the same refusals, the same audit records.

use reqwest::StatusCode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{client::Browser, console_world, helpers::spawn_app, http::trail};

#[tokio::test]
async fn the_remote_console_calls_the_api_with_each_users_token() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console_url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let api = reqwest::Url::parse(&app.url).unwrap();
    let server = tokio::spawn(accord_console::run_remote(
        accord_console::Config::default(),
        accord_runtime::http::HttpConfig::default(),
        api,
        listener,
        shutdown.clone(),
    ));

    let mut partner = Browser::new(&console_url);
    let signed = partner.sign_in(&people.partner).await;
    assert_eq!(signed.location(), "/dashboard", "{}", signed.body);
    let bad = partner.sign_in("acc_unknown").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    partner.sign_in(&people.partner).await;
    let csrf = partner.csrf().await;
    let form = [
        ("csrf", csrf.as_str()),
        ("idempotency", "remote-form-1"),
        ("title", "Remote"),
        ("classification", "unclassified"),
        ("tlp", "amber"),
        ("occurred_at", "2026-11-20T08:00"),
        ("indicators", "192.0.2.55\nnot an indicator at all"),
    ];
    let refused = partner.post("/reports/new", &form).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("Line 2:"),
        "the API's pointer lands on the form's line: {}",
        refused.body
    );
    assert!(
        refused.body.contains("not an indicator at all"),
        "nothing typed is lost"
    );
    let accepted = partner
        .post(
            "/reports/new",
            &[&form[..6], &[("indicators", "192.0.2.55")]].concat(),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    let status = partner.get(accepted.location()).await;
    assert!(status.body.contains("Remote"), "{}", status.body);
    app.wait_found(&people.investigator, "192.0.2.55", "investigation")
        .await;

    let mut investigator = Browser::new(&console_url);
    investigator.sign_in(&people.investigator).await;
    let csrf = investigator.csrf().await;
    investigator
        .post(
            "/context",
            &[
                ("csrf", &csrf),
                ("purpose", "investigation"),
                ("case", "CASE-REMOTE"),
                ("next", "/lookup"),
            ],
        )
        .await;
    let found = investigator.get("/lookup?value=192.0.2.55").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let seq = found.audit_record();
    let records = trail(&app, &people.auditor, "CASE-REMOTE").await;
    let record = records
        .iter()
        .find(|record| record["seq"] == seq)
        .expect("the page's record");
    let me = app.get("/v1/me", &people.investigator).await;
    assert_eq!(
        record["token_id"], me.body["token_id"],
        "the API was called with the user's own token"
    );
    let export = investigator.get("/export/search?format=csv&q=Remote").await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.headers["content-type"], "text/csv; charset=utf-8");
    assert!(export.body.contains("192.0.2.55"));

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
