//! Issue 12, part 1 at the HTTP level: coordinators register and change organizations and issue, list and revoke
//! tokens in the console, through admin's own operations; every form refuses a post without its CSRF token; names
//! and labels carrying script payloads render as text; partners and investigators find none of these pages.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    client::{Browser, Page},
    console_world,
    helpers::{ADMIN_TOKEN, TestApp, spawn_app},
};

/// Returns the value of the readonly field that shows a new token's secret.
fn secret(page: &Page) -> String {
    let marker = "id=\"new-token\" readonly value=\"";
    let start = page.body.find(marker).expect("the secret is shown") + marker.len();
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].to_owned()
}

/// Creates an organization through the console's form and returns the answer.
async fn create(browser: &mut Browser, csrf: &str, fields: &[(&str, &str)]) -> Page {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    browser.post("/organizations", &form).await
}

/// The tokens `GET /v1/tokens` lists for `org`.
async fn listed(app: &TestApp, org: &str) -> Vec<Value> {
    let answer = app
        .get(&format!("/v1/tokens?organization={org}"), ADMIN_TOKEN)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["tokens"].as_array().unwrap().clone()
}

#[tokio::test]
async fn coordinators_manage_organizations_in_the_console() {
    let app = spawn_app().await;
    console_world(&app).await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(ADMIN_TOKEN).await;
    let csrf = browser.csrf().await;
    let list = browser.get("/organizations").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("bank-a") && list.body.contains("Create organization"));

    let fields = [
        ("id", "bank-c"),
        ("name", "Bank C"),
        ("kind", "partner"),
        ("country", "Atlantis"),
        ("sector", "Finance"),
        ("default_tlp", "amber"),
    ];
    let refused = create(&mut browser, &csrf, &fields).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("id=\"country-error\""),
        "the API's /country lands on the field: {}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"Bank C\""),
        "nothing typed is lost"
    );
    let mut fields = fields;
    fields[3] = ("country", "fr");
    let created = create(&mut browser, &csrf, &fields).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert_eq!(created.location(), "/organizations/bank-c?created=1");
    let stored = app.get("/v1/organizations/bank-c", ADMIN_TOKEN).await;
    assert_eq!(stored.body["country"], "FR");
    assert_eq!(stored.body["sector"], "finance");
    assert_eq!(stored.body["default_tlp"], "amber");
    let again = create(&mut browser, &csrf, &fields).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("id=\"id-error\""), "{}", again.body);

    let edit = [
        ("csrf", csrf.as_str()),
        ("name", "Bank C (Paris)"),
        ("country", "FR"),
        ("sector", ""),
        ("default_tlp", ""),
    ];
    let saved = browser.post("/organizations/bank-c", &edit).await;
    assert_eq!(
        saved.location(),
        "/organizations/bank-c?saved=1",
        "{}",
        saved.body
    );
    let stored = app.get("/v1/organizations/bank-c", ADMIN_TOKEN).await;
    assert_eq!(stored.body["name"], "Bank C (Paris)");
    assert!(
        stored.body.get("sector").is_none_or(Value::is_null),
        "{}",
        stored.body
    );
    assert!(stored.body.get("default_tlp").is_none_or(Value::is_null));
    let agency_tlp = [
        ("csrf", csrf.as_str()),
        ("name", "NCU"),
        ("country", "DE"),
        ("default_tlp", "red"),
    ];
    let refused = browser.post("/organizations/ncu-de", &agency_tlp).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("only partners have a default TLP"));
    assert_eq!(
        browser.get("/organizations/nobody").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn tokens_are_shown_once_listed_by_label_and_last_use_and_revoked_after_confirmation() {
    let app = spawn_app().await;
    console_world(&app).await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(ADMIN_TOKEN).await;
    let csrf = browser.csrf().await;
    let form = [
        ("csrf", csrf.as_str()),
        ("role", "partner"),
        ("label", "soc-uploader"),
        ("expires_at", "2099-01-01"),
    ];
    let refused = browser.post("/organizations/bank-a/tokens", &form).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("id=\"expires_at-error\""),
        "{}",
        refused.body
    );
    let form = [
        ("csrf", csrf.as_str()),
        ("role", "partner"),
        ("label", "soc-uploader"),
        ("expires_at", ""),
    ];
    let issued = browser.post("/organizations/bank-a/tokens", &form).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    assert!(issued.body.contains("Copy token") && issued.body.contains("shown only this once"));
    let token = secret(&issued);
    assert_eq!(issued.headers["cache-control"], "no-store");
    let page = browser.get("/organizations/bank-a").await;
    assert!(
        page.body.contains("soc-uploader") && !page.body.contains(&token),
        "shown once"
    );

    let tokens = listed(&app, "bank-a").await;
    let entry = tokens
        .iter()
        .find(|t| t["label"] == "soc-uploader")
        .unwrap();
    assert!(entry["last_used_at"].is_null(), "{entry}");
    assert!(entry.get("hash").is_none() && entry.get("token").is_none());
    assert_eq!(app.get("/v1/me", &token).await.status, StatusCode::OK);
    let tokens = listed(&app, "bank-a").await;
    let entry = tokens
        .iter()
        .find(|t| t["label"] == "soc-uploader")
        .unwrap();
    assert!(entry["last_used_at"].is_string(), "{entry}");
    let id = entry["id"].as_str().unwrap().to_owned();
    let all = browser.get("/tokens").await;
    assert!(all.body.contains("soc-uploader") && all.body.contains("ncu-de"));

    let confirm = browser
        .get(&format!("/tokens/{id}/revoke?organization=bank-a"))
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("soc-uploader") && confirm.body.contains("cannot be undone"));
    assert_eq!(
        app.get("/v1/me", &token).await.status,
        StatusCode::OK,
        "not before the confirmation"
    );
    let revoked = browser
        .post(
            &format!("/tokens/{id}/revoke"),
            &[("csrf", &csrf), ("organization", "bank-a")],
        )
        .await;
    assert_eq!(revoked.location(), "/organizations/bank-a?revoked=1");
    assert_eq!(
        app.get("/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let tokens = listed(&app, "bank-a").await;
    let entry = tokens.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(entry["status"], "revoked");
    assert_eq!(
        app.get("/v1/tokens", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn coordinator_forms_refuse_posts_without_csrf_and_render_payloads_inert() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(ADMIN_TOKEN).await;
    let csrf = browser.csrf().await;
    let forms: [(&str, Vec<(&str, &str)>); 4] = [
        (
            "/organizations",
            vec![
                ("id", "csrf-probe"),
                ("name", "X"),
                ("kind", "partner"),
                ("country", "DE"),
            ],
        ),
        (
            "/organizations/bank-a",
            vec![("name", "Renamed"), ("country", "DE")],
        ),
        (
            "/organizations/bank-a/tokens",
            vec![("role", "partner"), ("label", "probe")],
        ),
        ("/tokens/bootstrap/revoke", vec![]),
    ];
    for (path, fields) in &forms {
        for csrf in ["", "0000"] {
            let mut form = vec![("csrf", csrf)];
            form.extend_from_slice(fields);
            let answer = browser.post(path, &form).await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{path} with csrf {csrf:?}"
            );
        }
    }
    assert_eq!(
        app.get("/v1/organizations/csrf-probe", ADMIN_TOKEN)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/v1/organizations/bank-a", ADMIN_TOKEN).await.body["name"],
        "BANK-A"
    );
    assert!(
        listed(&app, "bank-a")
            .await
            .iter()
            .all(|t| t["label"] != "probe")
    );
    assert_eq!(
        app.get("/v1/me", ADMIN_TOKEN).await.status,
        StatusCode::OK,
        "bootstrap kept"
    );

    let payload = "<script>alert('org')</script><img src=x onerror=alert(1)>";
    let fields = [
        ("id", "evil-org"),
        ("name", payload),
        ("kind", "agency"),
        ("country", "DE"),
    ];
    let created = create(&mut browser, &csrf, &fields).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let label = "\"><script>alert('label')</script>";
    let form = [
        ("csrf", csrf.as_str()),
        ("role", "investigator"),
        ("label", label),
    ];
    let issued = browser.post("/organizations/evil-org/tokens", &form).await;
    assert_eq!(issued.status, StatusCode::CREATED);
    for path in ["/organizations", "/organizations/evil-org", "/tokens"] {
        let page = browser.get(path).await;
        assert!(
            page.body.contains("&lt;script&gt;alert("),
            "{path}: escaped"
        );
        assert!(
            !page.body.contains("<script>alert(") && !page.body.contains("<img src=x"),
            "{path}"
        );
    }
    for token in [&people.partner, &people.investigator, &people.auditor] {
        let mut other = Browser::new(&app.url);
        other.sign_in(token).await;
        for path in [
            "/organizations",
            "/organizations/bank-a",
            "/tokens",
            "/tokens/x/revoke",
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
                "/organizations/bank-a/tokens",
                &[("csrf", &csrf), ("role", "partner"), ("label", "x")],
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_remote_console_manages_organizations_and_tokens_over_the_api() {
    let app = spawn_app().await;
    console_world(&app).await;
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
    let fields = [
        ("id", "agency-x"),
        ("name", "Agency X"),
        ("kind", "agency"),
        ("country", "XX"),
    ];
    let refused = create(&mut browser, &csrf, &fields).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("id=\"country-error\""),
        "{}",
        refused.body
    );
    let fields = [
        ("id", "agency-x"),
        ("name", "Agency X"),
        ("kind", "agency"),
        ("country", "NL"),
    ];
    let created = create(&mut browser, &csrf, &fields).await;
    assert_eq!(
        created.location(),
        "/organizations/agency-x?created=1",
        "{}",
        created.body
    );
    let edit = [
        ("csrf", csrf.as_str()),
        ("name", "Agency X (NL)"),
        ("country", "NL"),
        ("sector", "police"),
    ];
    let saved = browser.post("/organizations/agency-x", &edit).await;
    assert_eq!(
        saved.location(),
        "/organizations/agency-x?saved=1",
        "{}",
        saved.body
    );
    let form = [
        ("csrf", csrf.as_str()),
        ("role", "auditor"),
        ("label", "oversight"),
    ];
    let issued = browser.post("/organizations/agency-x/tokens", &form).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let token = secret(&issued);
    assert_eq!(app.get("/v1/me", &token).await.body["role"], "auditor");
    let id = listed(&app, "agency-x").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = browser.get("/tokens").await;
    assert!(page.body.contains("oversight") && page.body.contains(&format!("/tokens/{id}/revoke")));
    let revoked = browser
        .post(
            &format!("/tokens/{id}/revoke"),
            &[("csrf", &csrf), ("organization", "agency-x")],
        )
        .await;
    assert_eq!(
        revoked.location(),
        "/organizations/agency-x?revoked=1",
        "{}",
        revoked.body
    );
    assert_eq!(
        app.get("/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/v1/organizations/agency-x", ADMIN_TOKEN)
            .await
            .body["name"],
        "Agency X (NL)"
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
