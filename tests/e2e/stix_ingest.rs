//! STIX 2.1 bundles and MISP events posted to `POST /v1/reports`: converted into one report, searchable by the
//! agencies an MoU releases them to, refused with a problem that names the object and field when they cannot be.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Response, TestApp, mou, spawn_app, world};

const STIX: &str = "application/stix+json;version=2.1";

fn fixture(path: &str) -> Value {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap()
}

/// Posts a body with a chosen media type (and optional Idempotency-Key).
async fn post_as(
    app: &TestApp,
    token: &str,
    media: &str,
    body: &[u8],
    key: Option<&str>,
) -> Response {
    let mut request = app
        .client
        .post(format!("{}/v1/reports", app.url))
        .bearer_auth(token)
        .header("content-type", media)
        .body(body.to_vec());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.bytes().await.unwrap();
    Response {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        content_type,
    }
}

async fn raw_end(app: &TestApp) -> u64 {
    app.bus
        .end_offsets(accord_domain::topics::REPORTS_RAW)
        .await
        .unwrap()[0]
        .offset
}

async fn release_to_ncu_de(app: &TestApp) {
    app.create_mou(mou("mou-stix", "bank-a", &["ncu-de"], json!({})))
        .await;
}

#[tokio::test]
async fn a_bundle_becomes_one_report_whose_indicators_an_agency_finds() {
    let app = spawn_app().await;
    let w = world(&app).await;
    release_to_ncu_de(&app).await;
    let bundle = serde_json::to_vec(&fixture("stix/full-bundle.json")).unwrap();

    let accepted = post_as(&app, &w.partner, STIX, &bundle, Some("bundle-1")).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    let id = accepted.body["id"].as_str().unwrap().to_owned();
    let again = post_as(&app, &w.partner, STIX, &bundle, Some("bundle-1")).await;
    assert_eq!(
        again.body["id"],
        id.as_str(),
        "the same key and body: the same report"
    );

    let status = app.wait_status(&w.partner, &id, &["released"]).await;
    assert!(status["indicators"].as_u64().unwrap() >= 21, "{status}");
    assert_eq!(status["released_to"], json!(["ncu-de"]));

    // A pattern's equality, a CIDR block from a pattern, an observable, an IN list member and a CVE.
    let found = app
        .wait_found(&w.ncu_de, "203.0.113.10", "investigation")
        .await;
    assert_eq!(found["reports"][0]["id"], id.as_str());
    assert_eq!(
        found["reports"][0]["tlp"], "amber",
        "the report's AMBER marking wins"
    );
    assert_eq!(
        found["reports"][0]["title"],
        "Invoice-themed credential phishing against Bank A customers"
    );
    for value in [
        "198.51.100.7",
        "cdn.bank-a-login.example",
        "192.0.2.2",
        "CVE-2021-44228",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "billing@invoices-bank-a.example",
    ] {
        let response = app
            .lookup(&w.ncu_de, value, "investigation", "CASE-STIX")
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{value}: {}",
            response.body
        );
    }
    // `file:name` and `x509-certificate:serial_number` equalities are indicators too. They are never detected in a
    // looked-up value, so the search names their type.
    for (kind, value) in [
        ("file", "invoice.pdf.exe"),
        ("file", "kit.zip"),
        ("x509-certificate", "4C0EA51F9327017A"),
    ] {
        let response = app
            .search(
                &w.ncu_de,
                json!({ "q": format!("type:{kind} indicator:{value}"), "purpose": "investigation", "case": "CASE-STIX" }),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{value}: {}",
            response.body
        );
        assert_eq!(response.body["total"], 1, "{value}: {}", response.body);
        assert_eq!(response.body["hits"][0]["id"], id.as_str());
    }
    let hit = app
        .search(
            &w.ncu_de,
            json!({ "q": "type:x509-certificate indicator:4c:0e:a5:1f:93:27:01:7a", "purpose": "investigation", "case": "CASE-STIX" }),
        )
        .await;
    let released: Vec<(&str, &str)> = hit.body["hits"][0]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|indicator| {
            (
                indicator["type"].as_str().unwrap(),
                indicator["value"].as_str().unwrap(),
            )
        })
        .collect();
    for wanted in [
        ("file", "invoice.pdf.exe"),
        ("file", "kit.zip"),
        ("x509-certificate", "4c:0e:a5:1f:93:27:01:7a"),
    ] {
        assert!(released.contains(&wanted), "{wanted:?} in {released:?}");
    }
    assert!(
        !released.contains(&("file", "ok.exe")),
        "NOT = is not exact: {released:?}"
    );
    // LIKE and MATCHES name no exact value; an agency outside the MoU sees nothing.
    let like = app
        .lookup(
            &w.ncu_de,
            "www.bank-a-secure.example",
            "investigation",
            "CASE-STIX",
        )
        .await;
    assert_eq!(like.status, StatusCode::NOT_FOUND);
    let outsider = app
        .lookup(&w.outsider, "203.0.113.10", "investigation", "CASE-STIX")
        .await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND);
    app.shutdown().await;
}

#[tokio::test]
async fn a_misp_event_becomes_one_report_whose_indicators_an_agency_finds() {
    let app = spawn_app().await;
    let w = world(&app).await;
    release_to_ncu_de(&app).await;
    let event = fixture("misp/event.json");

    let accepted = post_as(
        &app,
        &w.partner,
        "application/json",
        &serde_json::to_vec(&event).unwrap(),
        None,
    )
    .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    let id = accepted.body["id"].as_str().unwrap().to_owned();
    app.wait_status(&w.partner, &id, &["released"]).await;
    let found = app
        .wait_found(&w.ncu_de, "203.0.113.99", "investigation")
        .await;
    assert_eq!(
        found["reports"][0]["title"],
        "Invoice phishing wave seen by Bank A"
    );
    assert_eq!(found["reports"][0]["occurred_at"], "2026-11-21T00:00:00Z");
    for value in ["misp-kit.example", "198.51.100.99", "CVE-2023-23397"] {
        let response = app
            .lookup(&w.ncu_de, value, "investigation", "CASE-MISP")
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{value}: {}",
            response.body
        );
    }

    let mut second = event.clone();
    second["Event"]["info"] = json!("Second wave");
    second["Event"]["Attribute"] = json!([{ "type": "ip-dst", "value": "203.0.113.111" }]);
    let vendor = post_as(
        &app,
        &w.partner,
        "application/vnd.misp+json",
        &serde_json::to_vec(&second).unwrap(),
        None,
    )
    .await;
    assert_eq!(vendor.status, StatusCode::ACCEPTED, "{}", vendor.body);
    app.wait_found(&w.ncu_de, "203.0.113.111", "investigation")
        .await;
    app.shutdown().await;
}

#[tokio::test]
async fn refused_bundles_name_the_object_and_never_reach_the_bus() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let before = raw_end(&app).await;

    // An invalid pattern: the object's id and the character position.
    let bad = fixture("stix/bad-pattern.json");
    let bad_id = bad["objects"][1]["id"].as_str().unwrap().to_owned();
    let response = post_as(
        &app,
        &w.partner,
        STIX,
        &serde_json::to_vec(&bad).unwrap(),
        None,
    )
    .await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.body
    );
    assert_eq!(response.content_type, "application/problem+json");
    assert_eq!(response.body["errors"][0]["pointer"], "/objects/1/pattern");
    let message = response.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&bad_id) && message.contains("at character 58"),
        "{message}"
    );

    // No TLP on an object and no default TLP for the partner: fail closed, naming the first unmarked object.
    let unmarked = fixture("stix/unmarked.json");
    let response = post_as(
        &app,
        &w.partner,
        STIX,
        &serde_json::to_vec(&unmarked).unwrap(),
        None,
    )
    .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.body["errors"][0]["pointer"], "/objects/1");
    assert!(
        response.body["detail"]
            .as_str()
            .unwrap()
            .contains(unmarked["objects"][1]["id"].as_str().unwrap())
    );

    // A statement marking that carries a classification.
    let classified = fixture("stix/classified-statement.json");
    let response = post_as(
        &app,
        &w.partner,
        STIX,
        &serde_json::to_vec(&classified).unwrap(),
        None,
    )
    .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.body["errors"][0]["pointer"],
        "/objects/0/definition/statement"
    );
    assert!(
        response.body["detail"]
            .as_str()
            .unwrap()
            .contains("NATO SECRET")
    );

    // A MISP event tagged with a classification.
    let mut event = fixture("misp/event.json");
    event["Event"]["Tag"] = json!([{ "name": "tlp:green" }, { "name": "classification:VS-NUR FÜR DEN DIENSTGEBRAUCH" }]);
    let response = post_as(
        &app,
        &w.partner,
        "application/json",
        &serde_json::to_vec(&event).unwrap(),
        None,
    )
    .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.body["errors"][0]["pointer"], "/Event/Tag/1/name");

    // Not JSON: 400; JSON but not a bundle: 422 with the pointer; another STIX version: 415.
    let response = post_as(&app, &w.partner, STIX, b"{\"type\": \"bundle\",", None).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.body["errors"][0]["pointer"], "/");
    let shapeless = json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [
        { "type": "indicator", "spec_version": "2.1", "id": "indicator--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a02" } ] });
    let response = post_as(
        &app,
        &w.partner,
        STIX,
        &serde_json::to_vec(&shapeless).unwrap(),
        None,
    )
    .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.body["errors"][0]["pointer"], "/objects/0/pattern");
    let response = post_as(
        &app,
        &w.partner,
        "application/stix+json;version=2.0",
        &serde_json::to_vec(&bad).unwrap(),
        None,
    )
    .await;
    assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(
        raw_end(&app).await,
        before,
        "nothing refused reached the bus"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn unmarked_objects_take_the_partners_default_tlp() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/organizations",
            ADMIN_TOKEN,
            json!({ "id": "bank-b", "name": "Bank B", "kind": "partner", "country": "DE", "default_tlp": "green" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    app.create_org("ncu-de", "agency", "DE").await;
    let partner = app.token("bank-b", "partner").await;
    let agency = app.token("ncu-de", "investigator").await;
    app.create_mou(mou(
        "mou-bank-b",
        "bank-b",
        &["ncu-de"],
        json!({ "max_tlp": "green" }),
    ))
    .await;

    let bundle = serde_json::to_vec(&fixture("stix/no-markings.json")).unwrap();
    let response = post_as(&app, &partner, STIX, &bundle, None).await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    let found = app
        .wait_found(&agency, "defaulted.example", "investigation")
        .await;
    assert_eq!(found["reports"][0]["tlp"], "green");
    app.shutdown().await;
}
