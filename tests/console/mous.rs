//! Issue 12, part 2 at the HTTP level: the MoU editor (every field a form control, the JSON view, field errors from
//! the one MoU validation), the impact preview before saving, versions with their diffs, and suspend, resume and
//! revoke behind a confirmation with a reason — through both backends; CSRF on every form; payloads inert; other
//! roles find nothing.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    client::{Browser, Page},
    console_world,
    helpers::{ADMIN_TOKEN, TestApp, report, spawn_app},
};

/// The editor's fields for an MoU from `bank-a` to `outsider`.
fn form<'a>(csrf: &'a str, id: &'a str, title: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("target", ""),
        ("id", id),
        ("title", title),
        ("status", "active"),
        ("providers", "bank-a"),
        ("recipients", "outsider"),
        ("effective_from", "2026-01-01T00:00"),
        ("expires_at", "2030-12-31T00:00"),
        ("retention_days", "3650"),
        ("max_tlp", "amber"),
        ("pii", "redact"),
        ("attribution", "anonymous"),
        ("content", "indicators"),
        ("content", "narrative"),
        ("purposes", "investigation"),
        ("categories", "*"),
        ("sectors", "*"),
        ("indicator_types", "*"),
        ("recipient_countries", "de"),
        ("mode", "form"),
    ]
}

/// Returns the value of the hidden `json` field of the preview's "Save MoU" form, unescaped.
fn saved_json(page: &Page) -> String {
    let start = page
        .body
        .find("action=\"/mous/save\"")
        .expect("a save form");
    let rest = &page.body[start..];
    let marker = "name=\"json\" value=\"";
    let from = rest.find(marker).unwrap() + marker.len();
    let to = rest[from..].find('"').unwrap() + from;
    rest[from..to]
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// Submits a report of `bank-a` and waits until the enforcer has evaluated it (the preview reads its store).
pub async fn one_report(app: &TestApp, partner: &str) -> String {
    let id = app
        .submit(partner, report("Preview me", "amber", &["198.51.100.77"]))
        .await;
    app.wait_status(partner, &id, &["released"]).await;
    id
}

#[tokio::test]
async fn coordinators_write_an_mou_in_the_form_preview_its_impact_and_save_versions() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    one_report(&app, &people.partner).await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(ADMIN_TOKEN).await;
    let csrf = browser.csrf().await;
    let editor = browser.get("/mous/new").await;
    assert_eq!(editor.status, StatusCode::OK);
    assert!(editor.body.contains("JSON view") && editor.body.contains("Preview changes"));

    let mut bad = form(&csrf, "mou-a-out", "Bank A to outsider");
    bad.retain(|(name, _)| *name != "providers");
    bad.iter_mut()
        .filter(|(name, _)| *name == "expires_at")
        .for_each(|field| field.1 = "2025-01-01T00:00");
    let refused = browser.post("/mous/preview", &bad).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("id=\"providers-error\""),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"Bank A to outsider\""),
        "nothing typed is lost"
    );

    let preview = browser
        .post(
            "/mous/preview",
            &form(&csrf, "mou-a-out", "Bank A to outsider"),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(
        preview.body.contains("Impact preview") && preview.body.contains("OUTSIDER (outsider)"),
        "{}",
        preview.body
    );
    assert!(
        preview.body.contains("<td class=\"gain\">1</td>"),
        "outsider gains the report: {}",
        preview.body
    );
    assert_eq!(
        app.get("/v1/mous/mou-a-out", ADMIN_TOKEN).await.status,
        StatusCode::NOT_FOUND,
        "nothing saved yet"
    );
    let draft = saved_json(&preview);
    let saved = browser
        .post(
            "/mous/save",
            &[("csrf", &csrf), ("target", ""), ("json", &draft)],
        )
        .await;
    assert_eq!(
        saved.location(),
        "/mous/mou-a-out?saved=1",
        "{}",
        saved.body
    );
    let stored = app.get("/v1/mous/mou-a-out", ADMIN_TOKEN).await.body;
    assert_eq!(stored["recipient_countries"], serde_json::json!(["DE"]));
    assert_eq!(stored["pii"], "redact");

    let mut edit: Vec<(&str, &str)> = form(&csrf, "mou-a-out", "Bank A to outsider");
    edit.iter_mut().for_each(|field| match field.0 {
        "target" => field.1 = "mou-a-out",
        "pii" => field.1 = "share",
        "max_tlp" => field.1 = "green",
        _ => {}
    });
    let preview = browser.post("/mous/preview", &edit).await;
    assert!(
        preview.body.contains("Personal data is no longer redacted"),
        "{}",
        preview.body
    );
    let draft = saved_json(&preview);
    let saved = browser
        .post(
            "/mous/save",
            &[("csrf", &csrf), ("target", "mou-a-out"), ("json", &draft)],
        )
        .await;
    assert_eq!(saved.location(), "/mous/mou-a-out?saved=2");
    let page = browser.get("/mous/mou-a-out").await;
    assert!(
        page.body.contains("Version 2") && page.body.contains("the bootstrap token"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<del>amber</del>") && page.body.contains("<ins>green</ins>"),
        "{}",
        page.body
    );
    let list = browser.get("/mous").await;
    assert!(list.body.contains("Bank A to outsider") && list.body.contains("mou-bank-a-ncu"));
}

#[tokio::test]
async fn the_json_view_is_the_same_mou_and_its_errors_are_named() {
    let app = spawn_app().await;
    console_world(&app).await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(ADMIN_TOKEN).await;
    let csrf = browser.csrf().await;
    let edit = browser.get("/mous/mou-bank-a-ncu/edit").await;
    assert!(
        edit.body.contains("&quot;mou-bank-a-ncu&quot;")
            || edit.body.contains("\"id\": \"mou-bank-a-ncu\""),
        "{}",
        edit.body
    );
    let bad = [
        ("csrf", csrf.as_str()),
        ("target", ""),
        ("mode", "json"),
        ("json", "{ not json"),
    ];
    let refused = browser.post("/mous/preview", &bad).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("id=\"json-error\"") && refused.body.contains("{ not json"),
        "{}",
        refused.body
    );
    let mut draft: Value = app.get("/v1/mous/mou-bank-a-ncu", ADMIN_TOKEN).await.body;
    for meta in ["version", "changed_by", "changed_at"] {
        draft.as_object_mut().unwrap().remove(meta);
    }
    draft["max_tlp"] = "purple".into();
    let text = draft.to_string();
    let json_mode = [
        ("csrf", csrf.as_str()),
        ("target", "mou-bank-a-ncu"),
        ("mode", "json"),
        ("json", text.as_str()),
    ];
    let refused = browser.post("/mous/preview", &json_mode).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("id=\"max_tlp-error\""),
        "the pointer lands on the form's field: {}",
        refused.body
    );
    draft["max_tlp"] = "green".into();
    let text = draft.to_string();
    let json_mode = [
        ("csrf", csrf.as_str()),
        ("target", "mou-bank-a-ncu"),
        ("mode", "json"),
        ("json", text.as_str()),
    ];
    let preview = browser.post("/mous/preview", &json_mode).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(
        preview.body.contains("<del>amber</del>"),
        "{}",
        preview.body
    );
}

#[tokio::test]
async fn suspend_resume_and_revoke_ask_for_a_reason_and_name_what_is_withdrawn() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    one_report(&app, &people.partner).await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(ADMIN_TOKEN).await;
    let csrf = browser.csrf().await;
    let confirm = browser.get("/mous/mou-bank-a-ncu/suspend").await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(
        confirm.body.contains("ncu-de</strong> loses 1 reports"),
        "{}",
        confirm.body
    );
    let refused = browser
        .post(
            "/mous/mou-bank-a-ncu/suspend",
            &[("csrf", &csrf), ("reason", " ")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get("/v1/mous/mou-bank-a-ncu", ADMIN_TOKEN).await.body["status"],
        "active"
    );
    let done = browser
        .post(
            "/mous/mou-bank-a-ncu/suspend",
            &[("csrf", &csrf), ("reason", "Breach under review")],
        )
        .await;
    assert_eq!(
        done.location(),
        "/mous/mou-bank-a-ncu?done=suspended",
        "{}",
        done.body
    );
    assert_eq!(
        app.get("/v1/mous/mou-bank-a-ncu", ADMIN_TOKEN).await.body["status"],
        "suspended"
    );
    let page = browser.get("/mous/mou-bank-a-ncu").await;
    assert!(page.body.contains("Resume MoU") && !page.body.contains("Suspend MoU"));
    assert!(
        page.body.contains("Reason: “Breach under review”"),
        "{}",
        page.body
    );
    let stored = app.get("/v1/mous/mou-bank-a-ncu", ADMIN_TOKEN).await.body;
    assert_eq!(stored["reason"], "Breach under review");
    let long = "x".repeat(501);
    let refused = browser
        .post(
            "/mous/mou-bank-a-ncu/resume",
            &[("csrf", &csrf), ("reason", &long)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("id=\"reason-error\""),
        "the API's /reason on the field: {}",
        refused.body
    );
    let edit = browser.get("/mous/mou-bank-a-ncu/edit").await;
    assert!(
        !edit.body.contains("Breach under review"),
        "a version's reason is not part of the MoU"
    );
    let resumed = browser
        .post(
            "/mous/mou-bank-a-ncu/resume",
            &[("csrf", &csrf), ("reason", "Review closed")],
        )
        .await;
    assert_eq!(resumed.location(), "/mous/mou-bank-a-ncu?done=resumed");
    assert_eq!(
        app.get("/v1/mous/mou-bank-a-ncu", ADMIN_TOKEN).await.body["status"],
        "active"
    );
    let confirm = browser.get("/mous/mou-bank-a-ncu/revoke").await;
    assert!(confirm.body.contains("Revoking is final"));
    let revoked = browser
        .post(
            "/mous/mou-bank-a-ncu/revoke",
            &[("csrf", &csrf), ("reason", "Ended")],
        )
        .await;
    assert_eq!(revoked.location(), "/mous/mou-bank-a-ncu?done=revoked");
    let page = browser.get("/mous/mou-bank-a-ncu").await;
    assert!(
        !page.body.contains("Edit MoU") && page.body.contains("Version 4"),
        "{}",
        page.body
    );
    assert_eq!(
        browser.get("/mous/mou-bank-a-ncu/explode").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn mou_forms_refuse_posts_without_csrf_render_titles_inert_and_exist_for_coordinators_only() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(ADMIN_TOKEN).await;
    let csrf = browser.csrf().await;
    for path in [
        "/mous/preview",
        "/mous/save",
        "/mous/editor",
        "/mous/mou-bank-a-ncu/suspend",
        "/mous/mou-bank-a-ncu/revoke",
    ] {
        for forged in ["", "0000"] {
            let answer = browser
                .post(path, &[("csrf", forged), ("reason", "x"), ("json", "{}")])
                .await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        }
    }
    assert_eq!(
        app.get("/v1/mous/mou-bank-a-ncu", ADMIN_TOKEN).await.body["version"],
        1
    );
    let payload = "<script>alert('mou')</script><img src=x onerror=alert(1)>";
    let preview = browser
        .post("/mous/preview", &form(&csrf, "mou-evil", payload))
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let saved = browser
        .post(
            "/mous/save",
            &[
                ("csrf", &csrf),
                ("target", ""),
                ("json", &saved_json(&preview)),
            ],
        )
        .await;
    assert_eq!(saved.location(), "/mous/mou-evil?saved=1");
    for path in [
        "/mous",
        "/mous/mou-evil",
        "/mous/mou-evil/edit",
        "/mous/mou-evil/suspend",
    ] {
        let page = browser.get(path).await;
        assert!(page.body.contains("&lt;script&gt;alert("), "{path}");
        assert!(
            !page.body.contains("<script>alert(") && !page.body.contains("<img src=x"),
            "{path}"
        );
    }
    for token in [&people.partner, &people.investigator, &people.auditor] {
        let mut other = Browser::new(&app.url);
        other.sign_in(token).await;
        for path in [
            "/mous",
            "/mous/new",
            "/mous/mou-bank-a-ncu",
            "/mous/mou-bank-a-ncu/edit",
            "/mous/mou-bank-a-ncu/suspend",
        ] {
            assert_eq!(
                other.get(path).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let csrf = other.csrf().await;
        let answer = other
            .post(
                "/mous/mou-bank-a-ncu/revoke",
                &[("csrf", &csrf), ("reason", "x")],
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        app.get("/v1/mous/mou-bank-a-ncu", ADMIN_TOKEN).await.body["status"],
        "active"
    );
}

#[tokio::test]
async fn the_remote_console_previews_saves_and_suspends_over_the_api() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let report = one_report(&app, &people.partner).await;
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
    let mut browser = Browser::new(&console_url);
    browser.sign_in(ADMIN_TOKEN).await;
    let csrf = browser.csrf().await;
    let mut bad = form(&csrf, "mou-remote", "Remote");
    bad.iter_mut()
        .filter(|(name, _)| *name == "retention_days")
        .for_each(|field| field.1 = "0");
    let refused = browser.post("/mous/preview", &bad).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("id=\"retention_days-error\""),
        "{}",
        refused.body
    );
    let preview = browser
        .post("/mous/preview", &form(&csrf, "mou-remote", "Remote"))
        .await;
    assert!(
        preview.body.contains("<td class=\"gain\">1</td>"),
        "{}",
        preview.body
    );
    let saved = browser
        .post(
            "/mous/save",
            &[
                ("csrf", &csrf),
                ("target", ""),
                ("json", &saved_json(&preview)),
            ],
        )
        .await;
    assert_eq!(
        saved.location(),
        "/mous/mou-remote?saved=1",
        "{}",
        saved.body
    );
    let confirm = browser.get("/mous/mou-remote/suspend").await;
    assert!(
        confirm.body.contains("outsider</strong> loses 1 reports"),
        "{}",
        confirm.body
    );
    let done = browser
        .post(
            "/mous/mou-remote/suspend",
            &[("csrf", &csrf), ("reason", "Remote check")],
        )
        .await;
    assert_eq!(done.location(), "/mous/mou-remote?done=suspended");
    let page = browser.get("/mous/mou-remote").await;
    assert!(page.body.contains("Version 2"), "{}", page.body);
    let seen = browser
        .get(&format!("/explain?report={report}&agency=ncu-de"))
        .await;
    assert!(
        seen.body.contains("<h2 id=\"decision\">Visible</h2>"),
        "{}",
        seen.body
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
