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
    // The partner's dashboard draws its counts per day (GET /v1/reports/counts) over the API.
    let board = partner.get("/dashboard").await;
    assert_eq!(board.status, StatusCode::OK, "{}", board.body);
    assert!(board.body.contains("reports-by-day"), "{}", board.body);
    let counts = app.get("/v1/reports/counts?days=7", &people.partner).await;
    let days = counts.body["days"].as_array().expect("days").clone();
    assert_eq!(days.len(), 7, "{}", counts.body);
    let counted: u64 = ["accepted", "normalized", "released", "withheld", "rejected"]
        .iter()
        .map(|stage| days[6][stage].as_u64().unwrap_or(0))
        .sum();
    assert!(counted >= 1, "today's report is counted: {}", counts.body);
    let refused = app.get("/v1/reports/counts?days=0", &people.partner).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let other = app.get("/v1/reports/counts", &people.investigator).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);

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
    // The investigator's dashboard: its own searches read brief, the released reports counted per day.
    let board = investigator.get("/dashboard").await;
    assert_eq!(board.status, StatusCode::OK, "{}", board.body);
    assert!(
        board.body.contains("Indicator 192.0.2.55"),
        "{}",
        board.body
    );
    assert!(board.body.contains("released-by-day"), "{}", board.body);
    let brief = app
        .get("/v1/audit/mine?limit=5&brief=true", &people.investigator)
        .await;
    assert_eq!(brief.status, StatusCode::OK, "{}", brief.body);
    assert!(
        brief.body["records"]
            .as_array()
            .is_some_and(|records| !records.is_empty())
    );
    let export = investigator.get("/export/search?format=csv&q=Remote").await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.headers["content-type"], "text/csv; charset=utf-8");
    assert!(export.body.contains("192.0.2.55"));

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
