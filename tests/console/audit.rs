//! Issue 12, the auditor's console at the HTTP level: the trail filtered and paged, a record's detail, the chain
//! verified, a checkpoint downloaded; an agency's auditor confined to its own records; other roles find nothing.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    client::Browser,
    console_world,
    helpers::{ADMIN_TOKEN, TestApp, spawn_app},
};

/// Makes `count` audited lookups as `token` under `case`.
async fn lookups(app: &TestApp, token: &str, case: &str, count: usize) {
    for index in 0..count {
        let answer = app
            .lookup(
                token,
                &format!("203.0.113.{}", index % 250),
                "investigation",
                case,
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    }
}

/// Asserts that an export verifies (as `accord audit verify-export` checks it) and carries `records` records.
fn assert_verifies(export: &str, records: u64) {
    let verdict = accord_search::audit::export::verify_export(export.as_bytes(), None).unwrap();
    assert!(verdict.ok, "{verdict:?}");
    assert_eq!(verdict.records, records, "{export}");
}

#[tokio::test]
async fn auditors_filter_page_read_and_verify_the_trail() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    lookups(&app, &people.investigator, "CASE-AUD-1", 105).await;
    lookups(&app, &people.outsider, "CASE-OTHER", 2).await;
    let mut auditor = Browser::new(&app.url);
    auditor.sign_in(&people.auditor).await;
    let page = auditor.get("/audit?case=CASE-AUD-1").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        page.body.matches("<summary>Record #").count(),
        100,
        "a page of 100"
    );
    assert!(!page.body.contains("CASE-OTHER") && page.body.contains("203.0.113.0"));
    let next = page
        .body
        .split("href=\"/audit?case=CASE-AUD-1&amp;cursor=")
        .nth(1)
        .expect("a next page");
    let cursor = &next[..next.find('"').unwrap()];
    let second = auditor
        .get(&format!("/audit?case=CASE-AUD-1&cursor={cursor}"))
        .await;
    assert_eq!(
        second.body.matches("<summary>Record #").count(),
        5,
        "{}",
        second.body
    );
    let outsider = auditor.get("/audit?organization=outsider").await;
    assert_eq!(outsider.body.matches("<summary>Record #").count(), 2);
    let bad = auditor
        .get(&format!("/audit?case={}", "x".repeat(300)))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("id=\"case-error\""),
        "the API's /case on its field: {}",
        bad.body
    );

    let verified = auditor.get("/audit/verify").await;
    assert!(
        verified.body.contains("The chain holds."),
        "{}",
        verified.body
    );
    let checkpoint = auditor.get("/audit/checkpoint").await;
    assert_eq!(checkpoint.status, StatusCode::OK);
    assert!(
        checkpoint.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let kept: Value = serde_json::from_str(&checkpoint.body).unwrap();
    assert!(
        kept["seq"].as_u64().unwrap() >= 107 && kept["signature"].is_string(),
        "{kept}"
    );
    let check = app.post("/v1/audit/verify", &people.auditor, kept).await;
    assert_eq!(
        check.body["checkpoint"]["result"], "holds",
        "{}",
        check.body
    );
}

#[tokio::test]
async fn an_agencys_auditor_reads_its_own_records_and_other_roles_nothing() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    lookups(&app, &people.investigator, "CASE-MINE", 1).await;
    lookups(&app, &people.outsider, "CASE-THEIRS", 1).await;
    let agency_auditor = app.token("ncu-de", "auditor").await;
    let mut auditor = Browser::new(&app.url);
    auditor.sign_in(&agency_auditor).await;
    let page = auditor.get("/audit").await;
    assert!(
        page.body.contains("CASE-MINE") && !page.body.contains("CASE-THEIRS"),
        "{}",
        page.body
    );
    // The export: its own record only, the outsider's as a link without content, and it verifies.
    let export = auditor.get("/audit/export").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.body.contains("CASE-MINE") && !export.body.contains("CASE-THEIRS"));
    assert_verifies(&export.body, 1);
    let refused = auditor.get("/audit/export?organization=outsider").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = auditor.get("/audit?organization=outsider").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("id=\"organization-error\""),
        "{}",
        refused.body
    );
    for token in [
        &people.partner,
        &people.investigator,
        &ADMIN_TOKEN.to_owned(),
    ] {
        let mut other = Browser::new(&app.url);
        other.sign_in(token).await;
        for path in [
            "/audit",
            "/audit/verify",
            "/audit/checkpoint",
            "/audit/export",
        ] {
            assert_eq!(
                other.get(path).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn the_remote_console_reads_and_verifies_the_trail_over_the_api() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    lookups(&app, &people.investigator, "CASE-REMOTE", 3).await;
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
    let mut auditor = Browser::new(&console_url);
    auditor.sign_in(&people.auditor).await;
    let page = auditor
        .get("/audit?case=CASE-REMOTE&from=2020-01-01T00:00")
        .await;
    assert_eq!(
        page.body.matches("<summary>Record #").count(),
        3,
        "{}",
        page.body
    );
    let none = auditor
        .get("/audit?case=CASE-REMOTE&to=2020-01-01T00:00")
        .await;
    assert_eq!(none.body.matches("<summary>Record #").count(), 0);
    assert!(
        auditor
            .get("/audit/verify")
            .await
            .body
            .contains("The chain holds.")
    );
    let checkpoint = auditor.get("/audit/checkpoint").await;
    assert!(checkpoint.body.contains("\"signature\""));
    let export = auditor.get("/audit/export?case=CASE-REMOTE").await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    assert_verifies(&export.body, 3);
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_trail_filters_by_token_label_purpose_route_and_outcome() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let issued = app
        .post(
            "/v1/tokens",
            ADMIN_TOKEN,
            serde_json::json!({ "organization": "ncu-de", "role": "investigator", "label": "case-team-7" }),
        )
        .await;
    let team = issued.body["token"].as_str().unwrap().to_owned();
    lookups(&app, &team, "CASE-F", 2).await;
    lookups(&app, &people.investigator, "CASE-F", 3).await;
    let search = serde_json::json!({ "q": "", "purpose": "prosecution", "case": "CASE-F" });
    assert_eq!(app.search(&team, search).await.status, StatusCode::OK);
    let mut auditor = Browser::new(&app.url);
    auditor.sign_in(&people.auditor).await;
    let count = |page: &crate::client::Page| page.body.matches("<summary>Record #").count();
    assert_eq!(count(&auditor.get("/audit?case=CASE-F").await), 6);
    assert_eq!(
        count(&auditor.get("/audit?case=CASE-F&token=case-team-7").await),
        3
    );
    assert_eq!(
        count(&auditor.get("/audit?case=CASE-F&purpose=prosecution").await),
        1
    );
    assert_eq!(
        count(
            &auditor
                .get("/audit?case=CASE-F&route=POST+%2Fv1%2Fsearch")
                .await
        ),
        1
    );
    assert_eq!(
        count(&auditor.get("/audit?case=CASE-F&outcome=refused").await),
        5,
        "lookups of nothing: 404"
    );
    assert_eq!(
        count(
            &auditor
                .get("/audit?case=CASE-F&outcome=allowed&token=case-team-7")
                .await
        ),
        1
    );
    let bad = auditor.get("/audit?outcome=maybe").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("id=\"outcome-error\""), "{}", bad.body);
    let api = app
        .get(
            "/v1/audit?case=CASE-F&token=case-team-7&outcome=refused",
            &people.auditor,
        )
        .await;
    assert_eq!(
        api.body["records"].as_array().unwrap().len(),
        2,
        "{}",
        api.body
    );
}
