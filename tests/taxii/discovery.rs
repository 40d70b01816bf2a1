//! Discovery's URLs come from configuration, never from the request (issue 15, item 7), and the case stated in
//! `X-Accord-Case` is normalized like any other (item 3).

use accord::config::ServicesConfig;
use serde_json::json;

use crate::{
    TAXII, collection_id,
    helpers::{mou, spawn_app, spawn_app_with, world},
    taxii_get,
};

async fn discovery_with_host(
    app: &crate::helpers::TestApp,
    token: &str,
    host: &str,
) -> serde_json::Value {
    let response = app
        .client
        .get(format!("{}/taxii2/", app.url))
        .header("Accept", TAXII)
        .header("Host", host)
        .header("X-Forwarded-Proto", "https")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn discovery_ignores_the_host_header() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let body = discovery_with_host(&app, &w.ncu_de, "evil.example").await;
    let root = format!("{}/taxii2/accord/", app.url);
    assert_eq!(body["default"], root.as_str(), "{body}");
    assert_eq!(body["api_roots"], json!([root]));
    assert!(!body.to_string().contains("evil.example"));
    app.shutdown().await;
}

#[tokio::test]
async fn discovery_lists_the_configured_public_url() {
    let mut config = ServicesConfig::default();
    config.search.public_url = Some("https://accord.example.org".to_owned());
    let app = spawn_app_with(tempfile::TempDir::new().unwrap(), config).await;
    let w = world(&app).await;
    let body = discovery_with_host(&app, &w.ncu_de, "evil.example").await;
    assert_eq!(body["default"], "https://accord.example.org/taxii2/accord/");
    assert_eq!(
        body["api_roots"],
        json!(["https://accord.example.org/taxii2/accord/"])
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_case_in_the_header_is_stored_trimmed_and_found_by_its_trimmed_form() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    let collection = collection_id(&app, &w.ncu_de, "investigation")
        .await
        .unwrap();
    let path = format!("/taxii2/accord/collections/{collection}/objects/");
    let read = taxii_get(&app, &path, Some(&w.ncu_de), Some("  CASE-TAXII-7 ")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    let tab = taxii_get(&app, &path, Some(&w.ncu_de), Some("CASE\tTAB")).await;
    assert_eq!(tab.status, 400, "{}", tab.body);
    let auditor = app.token("ncu-de", "auditor").await;
    let audit = app.get("/v1/audit?case=CASE-TAXII-7", &auditor).await;
    let records = audit.body["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{}", audit.body);
    assert_eq!(records[0]["case"], "CASE-TAXII-7");
    app.shutdown().await;
}
