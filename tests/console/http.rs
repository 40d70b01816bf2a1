//! The console's promises at the HTTP level: headers, cookies, CSRF, sessions that end, roles, and the audit record
//! of every page that shows released data.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    client::Browser,
    console_world,
    helpers::{ADMIN_TOKEN, report, spawn_app},
};

#[tokio::test]
async fn pages_carry_the_security_headers_and_cookies_their_flags() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let mut browser = Browser::new(&app.url);
    let form = browser.get("/sign-in").await;
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(form.headers["x-content-type-options"], "nosniff");
    assert_eq!(form.headers["x-frame-options"], "DENY");
    assert_eq!(form.headers["referrer-policy"], "same-origin");
    assert_eq!(form.headers["cache-control"], "no-store");
    assert!(
        !form.body.contains("<script>") && !form.body.contains("style="),
        "no inline script or style"
    );

    let signed = browser.sign_in(&people.partner).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location(), "/dashboard");
    let cookie = signed.set_cookie("accord_session");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    let mut behind_tls = Browser::new(&app.url);
    behind_tls
        .headers
        .push(("x-forwarded-proto", "https".to_owned()));
    let signed = behind_tls.sign_in(&people.partner).await;
    assert!(
        signed.set_cookie("accord_session").contains("; Secure"),
        "TLS at the proxy"
    );
    let asset = browser.get("/assets/htmx-2.0.11.min.js").await;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(
        asset.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let app = spawn_app().await;
    let people = console_world(&app).await;

    let mut stranger = Browser::new(&app.url);
    let forged = stranger
        .post("/sign-in", &[("csrf", "guess"), ("token", &people.partner)])
        .await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "sign-in without the form's cookie"
    );
    assert!(stranger.cookie("accord_session").is_none());

    let mut browser = Browser::new(&app.url);
    browser.sign_in(&people.partner).await;
    let csrf = browser.csrf().await;
    let form = |csrf: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("title".to_owned(), "CSRF probe".to_owned()),
            ("classification".to_owned(), "unclassified".to_owned()),
            ("tlp".to_owned(), "amber".to_owned()),
            ("occurred_at".to_owned(), "2026-11-20T08:00".to_owned()),
            ("indicators".to_owned(), "192.0.2.1".to_owned()),
        ]
    };
    fn post(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
    let without = form("");
    assert_eq!(
        browser
            .post("/reports/new", &post(&without)[1..])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        browser
            .post("/reports/new", &post(&form("0000")))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    browser
        .headers
        .push(("origin", "https://evil.example".to_owned()));
    assert_eq!(
        browser
            .post("/reports/new", &post(&form(&csrf)))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    browser.headers.clear();
    assert_eq!(
        browser.post("/sign-out", &[("csrf", "0000")]).await.status,
        StatusCode::FORBIDDEN
    );
    let listed = app.get("/v1/reports", &people.partner).await;
    assert_eq!(
        listed.body["reports"],
        serde_json::json!([]),
        "nothing was stored"
    );

    let accepted = browser.post("/reports/new", &post(&form(&csrf))).await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    assert!(accepted.location().starts_with("/reports/report--"));
}

#[tokio::test]
async fn sessions_end_at_sign_out_and_at_the_next_request_after_revocation() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(&people.partner).await;
    let copied = browser.cookie("accord_session").unwrap();
    let csrf = browser.csrf().await;
    let out = browser.post("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/sign-in?reason=signed-out");
    assert!(
        browser.cookie("accord_session").is_none(),
        "the cookie is cleared"
    );
    let mut thief = Browser::new(&app.url);
    thief.put_cookie("accord_session", &copied);
    let replayed = thief.get("/reports").await;
    assert_eq!(
        replayed.status,
        StatusCode::SEE_OTHER,
        "the session ended on the server"
    );
    assert!(replayed.location().starts_with("/sign-in"));

    browser.sign_in(&people.partner).await;
    assert_eq!(browser.get("/reports").await.status, StatusCode::OK);
    let me = app.get("/v1/me", &people.partner).await;
    let token_id = me.body["token_id"].as_str().unwrap().to_owned();
    let revoked = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/tokens/{token_id}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert!(revoked.status.is_success(), "{}", revoked.body);
    let next = browser.get("/reports").await;
    assert_eq!(next.status, StatusCode::SEE_OTHER);
    assert_eq!(next.location(), "/sign-in?reason=revoked");
    assert_eq!(
        browser.get("/dashboard").await.location(),
        "/sign-in?reason=expired",
        "the session is gone"
    );
    let again = browser.sign_in(&people.partner).await;
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "a revoked token cannot sign in"
    );
}

#[tokio::test]
async fn signed_out_browsers_and_other_roles_reach_no_page() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let mut nobody = Browser::new(&app.url);
    for path in [
        "/",
        "/dashboard",
        "/reports",
        "/reports/new",
        "/lookup?value=1.2.3.4",
        "/search?q=x",
        "/indicators/1.2.3.4",
        "/released/report--x",
        "/export/search?format=csv",
    ] {
        let page = nobody.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            page.location().starts_with("/sign-in"),
            "{path}: {}",
            page.location()
        );
    }
    let mut partner = Browser::new(&app.url);
    partner.sign_in(&people.partner).await;
    for path in [
        "/search?q=x",
        "/lookup",
        "/indicators/1.2.3.4",
        "/released/report--x",
        "/export/search?format=csv",
    ] {
        assert_eq!(
            partner.get(path).await.status,
            StatusCode::NOT_FOUND,
            "partner {path}"
        );
    }
    let mut investigator = Browser::new(&app.url);
    investigator.sign_in(&people.investigator).await;
    for path in ["/reports", "/reports/new", "/reports/report--x"] {
        assert_eq!(
            investigator.get(path).await.status,
            StatusCode::NOT_FOUND,
            "investigator {path}"
        );
    }
    let mut htmx = Browser::new(&app.url);
    htmx.headers.push(("hx-request", "true".to_owned()));
    let fragment = htmx.get("/reports?fragment=table").await;
    assert_eq!(fragment.headers["hx-redirect"], "/sign-in");
}

/// Returns the audit trail's records of `case`, as an auditor of the operator reads them.
pub async fn trail(app: &crate::helpers::TestApp, auditor: &str, case: &str) -> Vec<Value> {
    let answer = app.get(&format!("/v1/audit?case={case}"), auditor).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn pages_with_released_data_are_audited_and_show_their_record() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    app.submit(&people.partner, report("Audited", "amber", &["192.0.2.44"]))
        .await;
    app.wait_found(&people.investigator, "192.0.2.44", "investigation")
        .await;

    let mut browser = Browser::new(&app.url);
    browser.sign_in(&people.investigator).await;
    let before = browser.get("/lookup?value=192.0.2.44").await;
    assert!(
        before.body.contains("Set your purpose and case reference"),
        "no search without a context"
    );
    let csrf = browser.csrf().await;
    let set = browser
        .post(
            "/context",
            &[
                ("csrf", &csrf),
                ("purpose", "investigation"),
                ("case", "CASE-PAGE"),
                ("next", "/lookup"),
            ],
        )
        .await;
    assert_eq!(set.location(), "/lookup");
    let refused = browser
        .post(
            "/context",
            &[
                ("csrf", &csrf),
                ("purpose", "research"),
                ("case", "X"),
                ("next", "/lookup"),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a purpose no MoU grants"
    );

    let found = browser.get("/lookup?value=192.0.2%5B.%5D44").await;
    assert_eq!(found.status, StatusCode::OK);
    let missing = browser.get("/lookup?value=203.0.113.77").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let search = browser.get("/search?q=Audited").await;
    let records = trail(&app, &people.auditor, "CASE-PAGE").await;
    for (page, endpoint) in [
        (&found, "GET /v1/indicators/{value}"),
        (&missing, "GET /v1/indicators/{value}"),
        (&search, "POST /v1/search"),
    ] {
        let seq = page.audit_record();
        let record = records
            .iter()
            .find(|record| record["seq"] == seq)
            .unwrap_or_else(|| panic!("record {seq} is not in the trail"));
        assert_eq!(record["endpoint"], endpoint);
        assert_eq!(record["organization"], "ncu-de");
        assert_eq!(record["purpose"], "investigation");
    }
}

#[tokio::test]
async fn a_case_bound_token_works_in_its_case_and_no_other() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    app.submit(&people.partner, report("Bound", "amber", &["192.0.2.45"]))
        .await;
    app.wait_found(&people.investigator, "192.0.2.45", "investigation")
        .await;
    let issued = app
        .post(
            "/v1/tokens/case",
            &people.investigator,
            serde_json::json!({ "purpose": "investigation", "case": "CASE-BOUND", "label": "console" }),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let bound = issued.body["token"].as_str().unwrap().to_owned();
    let me = app.get("/v1/me", &bound).await;
    assert_eq!(
        me.body["binding"],
        serde_json::json!({ "purpose": "investigation", "case": "CASE-BOUND" })
    );
    assert_eq!(me.body["purposes"], serde_json::json!(["investigation"]));

    let mut browser = Browser::new(&app.url);
    browser.sign_in(&bound).await;
    let found = browser.get("/lookup?value=192.0.2.45").await;
    assert_eq!(
        found.status,
        StatusCode::OK,
        "the context is the binding, from the start"
    );
    assert!(
        found.body.contains("CASE-BOUND") && !found.body.contains("Set context"),
        "shown, not editable"
    );
    let csrf = browser.csrf().await;
    let other = browser
        .post(
            "/context",
            &[
                ("csrf", &csrf),
                ("purpose", "investigation"),
                ("case", "CASE-OTHER"),
                ("next", "/lookup"),
            ],
        )
        .await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another case is refused"
    );
    let search = browser.get("/search?q=Bound").await;
    assert_eq!(search.status, StatusCode::OK);
    let records = trail(&app, &people.auditor, "CASE-BOUND").await;
    for page in [&found, &search] {
        let seq = page.audit_record();
        let record = records
            .iter()
            .find(|record| record["seq"] == seq)
            .expect("recorded under the bound case");
        assert_eq!(record["purpose"], "investigation");
    }
    assert!(trail(&app, &people.auditor, "CASE-OTHER").await.is_empty());
}

#[tokio::test]
async fn a_partners_report_page_shows_the_agencies_feedback() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let id = app
        .submit(
            &people.partner,
            crate::helpers::report("Console feedback", "amber", &["feedback-console.example"]),
        )
        .await;
    app.wait_status(&people.partner, &id, &["released"]).await;
    app.wait_found(
        &people.investigator,
        "feedback-console.example",
        "investigation",
    )
    .await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(&people.partner).await;
    let before = browser.get(&format!("/reports/{id}")).await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(
        !before.body.contains("Feedback from agencies"),
        "no feedback yet"
    );
    let sent = app
        .post(
            "/v1/feedback",
            &people.investigator,
            serde_json::json!({ "report": id, "kind": "sighted", "count": 7, "purpose": "investigation",
                                "case": "CASE-CONSOLE-9" }),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    let page = loop {
        let page = browser.get(&format!("/reports/{id}")).await;
        if page.body.contains("Feedback from agencies") {
            break page;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", page.body);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let start = page.body.find("Feedback from agencies").unwrap();
    let section = &page.body[start..];
    let section = &section[..section.find("</dl>").unwrap()];
    assert!(
        section.contains("<dt>Sightings</dt><dd>7</dd>"),
        "{section}"
    );
    assert!(
        !page.body.contains("CASE-CONSOLE-9"),
        "the case reached the partner"
    );
    assert!(
        !section.contains("ncu-de"),
        "an anonymous agency was named: {section}"
    );
}
