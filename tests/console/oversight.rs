//! Issue 12 item 6, the per-agency summary: an organization's requests per purpose and per case by day, refused ones
//! and exports, from the trail's daily counters; an agency's auditor summarizes its own organization only (decision
//! 0019), in process and through `accord console --api`.

use reqwest::StatusCode;
use serde_json::json;

use crate::{client::Browser, console_world, helpers::spawn_app};

#[tokio::test]
async fn auditors_summarize_an_agency_and_an_agencys_auditor_only_its_own() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    for case in ["CASE-SUM-1", "CASE-SUM-1", "CASE-SUM-2"] {
        app.lookup(&people.investigator, "198.51.100.1", "investigation", case)
            .await;
    }
    app.lookup(
        &people.investigator,
        "198.51.100.1",
        "prosecution",
        "CASE-SUM-2",
    )
    .await;
    let refused = app
        .lookup(
            &people.investigator,
            "198.51.100.1",
            "research",
            "CASE-SUM-3",
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::NOT_FOUND,
        "an answer, not a refusal"
    );
    let refused = app
        .lookup(
            &people.investigator,
            "198.51.100.1",
            "curiosity",
            "CASE-SUM-3",
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let export = app
        .post(
            "/v1/search/export",
            &people.investigator,
            json!({ "q": "", "purpose": "investigation", "case": "CASE-SUM-1", "format": "csv" }),
        )
        .await;
    assert_eq!(export.status, StatusCode::OK);
    app.lookup(
        &people.outsider,
        "198.51.100.1",
        "investigation",
        "CASE-ELSEWHERE",
    )
    .await;

    // The API: counts per day for ncu-de only.
    let summary = app
        .get(
            "/v1/audit/summary?organization=ncu-de&days=7",
            &people.auditor,
        )
        .await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.body);
    let body = &summary.body;
    let total = |field: &str| {
        body[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(body["days"].as_array().unwrap().len(), 7);
    assert_eq!(
        (total("requests"), total("refused"), total("exports")),
        (7, 1, 1),
        "{body}"
    );
    let purpose = |name: &str| {
        body["purposes"][name]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        (
            purpose("investigation"),
            purpose("prosecution"),
            purpose("research")
        ),
        (4, 1, 1)
    );
    assert_eq!(body["cases"][0]["case"], "CASE-SUM-1");
    assert_eq!(body["cases"][0]["requests"], 3);
    assert!(!body.to_string().contains("CASE-ELSEWHERE"));
    let missing = app.get("/v1/audit/summary", &people.auditor).await;
    assert_eq!(
        missing.status,
        StatusCode::BAD_REQUEST,
        "the operator names the organization"
    );

    // The console, the operator's auditor.
    let mut operator = Browser::new(&app.url);
    operator.sign_in(&people.auditor).await;
    let page = operator
        .get("/audit/summary?organization=ncu-de&days=30")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Requests per day, by purpose") && page.body.contains("CASE-SUM-2"));
    assert!(
        page.body.contains("<strong>7</strong> requests by"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("CASE-ELSEWHERE"));

    // An agency's auditor: its own organization without asking, never another one.
    let agency_auditor = app.token("ncu-de", "auditor").await;
    let other = app
        .get("/v1/audit/summary?organization=outsider", &agency_auditor)
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let mut auditor = Browser::new(&app.url);
    auditor.sign_in(&agency_auditor).await;
    let own = auditor.get("/audit/summary").await;
    assert!(
        own.body.contains("CASE-SUM-1") && !own.body.contains("CASE-ELSEWHERE"),
        "{}",
        own.body
    );
    let refused = auditor.get("/audit/summary?organization=outsider").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("id=\"organization-error\""),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("CASE-ELSEWHERE"));
    for token in [&people.partner, &people.investigator] {
        let mut someone = Browser::new(&app.url);
        someone.sign_in(token).await;
        assert_eq!(
            someone.get("/audit/summary").await.status,
            StatusCode::NOT_FOUND
        );
    }

    // The same through the remote console.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console_url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(accord_console::run_remote(
        accord_console::Config::default(),
        accord_runtime::http::HttpConfig::default(),
        reqwest::Url::parse(&app.url).unwrap(),
        listener,
        shutdown.clone(),
    ));
    let mut remote = Browser::new(&console_url);
    remote.sign_in(&agency_auditor).await;
    let page = remote.get("/audit/summary?days=7").await;
    assert!(
        page.body.contains("<strong>7</strong> requests by"),
        "{}",
        page.body
    );
    assert_eq!(
        remote
            .get("/audit/summary?organization=outsider")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
