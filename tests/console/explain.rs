//! Issue 12 beside the editor: "Explain a release" (can agency X see report R, why, with which redactions), and the
//! API's MoU lifecycle with reasons (resume only what is suspended, reasons bounded).

use reqwest::StatusCode;

use crate::{
    client::Browser,
    console_world,
    helpers::{ADMIN_TOKEN, spawn_app},
    mous::one_report,
};

#[tokio::test]
async fn the_api_resumes_only_suspended_mous_and_bounds_reasons() {
    let app = spawn_app().await;
    console_world(&app).await;
    let path = "/v1/mous/mou-bank-a-ncu";
    let resume = app
        .post(
            &format!("{path}/resume"),
            ADMIN_TOKEN,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(resume.status, StatusCode::CONFLICT, "{}", resume.body);
    let bad = app
        .post(
            &format!("{path}/suspend"),
            ADMIN_TOKEN,
            serde_json::json!({ "reason": "a\nb" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"][0]["pointer"], "/reason");
    let odd = app
        .post(
            &format!("{path}/suspend"),
            ADMIN_TOKEN,
            serde_json::json!({ "why": "x" }),
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", odd.body);
    assert_eq!(odd.body["errors"][0]["pointer"], "/why");
    let bare = app
        .request(
            reqwest::Method::POST,
            &format!("{path}/suspend"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(
        bare.status,
        StatusCode::OK,
        "no body, no reason: {}",
        bare.body
    );
    assert!(bare.body.get("reason").is_none());
    let resumed = app
        .post(
            &format!("{path}/resume"),
            ADMIN_TOKEN,
            serde_json::json!({ "reason": "back" }),
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK);
    assert_eq!(resumed.body["status"], "active");
    assert_eq!(resumed.body["reason"], "back");
    assert_eq!(resumed.body["version"], 3);
}

#[tokio::test]
async fn coordinators_ask_whether_an_agency_sees_a_report() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let report = one_report(&app, &people.partner).await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(ADMIN_TOKEN).await;
    let agency = browser.get("/organizations/ncu-de").await;
    assert!(
        agency.body.contains("Can this agency see a report?"),
        "{}",
        agency.body
    );
    let seen = browser
        .get(&format!("/explain?report={report}&agency=ncu-de"))
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert!(
        seen.body.contains("<h2 id=\"decision\">Visible</h2>"),
        "{}",
        seen.body
    );
    assert!(
        seen.body.contains("href=\"/mous/mou-bank-a-ncu\""),
        "{}",
        seen.body
    );
    assert!(seen.body.contains("Redactions"));
    let api = app
        .get(
            &format!("/v1/explain?report={report}&agency=ncu-de"),
            ADMIN_TOKEN,
        )
        .await
        .body;
    for redaction in api["redactions"].as_array().unwrap() {
        assert!(
            seen.body.contains(redaction.as_str().unwrap()),
            "{redaction}"
        );
    }
    let unseen = browser
        .get(&format!("/explain?report={report}&agency=outsider"))
        .await;
    assert!(unseen.body.contains("Not visible"), "{}", unseen.body);
    let missing = browser.get("/explain?report=nope&agency=ncu-de").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.contains("id=\"report-error\""),
        "{}",
        missing.body
    );
    for token in [&people.partner, &people.investigator, &people.auditor] {
        let mut other = Browser::new(&app.url);
        other.sign_in(token).await;
        let path = format!("/explain?report={report}&agency=ncu-de");
        assert_eq!(other.get(&path).await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_reports_page_shows_every_agencys_decision_and_why() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let report = one_report(&app, &people.partner).await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(ADMIN_TOKEN).await;
    let explained = browser
        .get(&format!("/explain?report={report}&agency=ncu-de"))
        .await;
    let link = format!("href=\"/explain/reports/{report}\"");
    assert!(explained.body.contains(&link), "{}", explained.body);

    let page = browser.get(&format!("/explain/reports/{report}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<strong>1</strong> of 2 agencies"),
        "{}",
        page.body
    );
    assert!(page.body.contains("href=\"/mous/mou-bank-a-ncu\""));
    assert!(page.body.contains("aria-label=\"Why for outsider\""));

    // One agency asked: the same decision, reasons and redactions as the API's explanation, the one path.
    for (agency, decision) in [("ncu-de", "Visible"), ("outsider", "Not visible")] {
        let asked = browser
            .get(&format!("/explain/reports/{report}?agency={agency}"))
            .await;
        assert!(
            asked
                .body
                .contains(&format!("<h2 id=\"decision\">{decision}</h2>")),
            "{}",
            asked.body
        );
        let api = app
            .get(
                &format!("/v1/explain?report={report}&agency={agency}"),
                ADMIN_TOKEN,
            )
            .await
            .body;
        for line in api["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .chain(api["redactions"].as_array().unwrap())
        {
            let line = line.as_str().unwrap();
            let escaped = line
                .replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            assert!(asked.body.contains(&escaped), "{agency}: {line}");
        }
    }
    let bad = browser
        .get(&format!("/explain/reports/{report}?agency=Not%20An%20Id"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("id=\"agency-error\""), "{}", bad.body);
    let missing = browser.get("/explain/reports/report--nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    for token in [&people.partner, &people.investigator, &people.auditor] {
        let mut other = Browser::new(&app.url);
        other.sign_in(token).await;
        let path = format!("/explain/reports/{report}?agency=ncu-de");
        assert_eq!(other.get(&path).await.status, StatusCode::NOT_FOUND);
    }
}
