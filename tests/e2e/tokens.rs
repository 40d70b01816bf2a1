//! Tokens that end (issue 15, item 7): expiry set at issue and enforced everywhere, TAXII Basic included; the
//! bootstrap token revocable, and revoked for good (after a restart too).

use accord_bus::Record;
use accord_domain::{DirectoryEvent, OrgId, Role, TokenId, TokenRecord, topics};
use accord_runtime::{auth::hash_secret, directory::signing::DirectorySigner};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, PATIENCE, TestApp, data_dir, spawn_app, spawn_app_in, world};

#[tokio::test]
async fn tokens_are_issued_with_an_expiry_within_the_configured_bounds() {
    let app = spawn_app().await;
    world(&app).await;
    let issue = |expires_at: Option<String>| {
        let mut body = json!({ "organization": "ncu-de", "role": "investigator" });
        if let Some(at) = expires_at {
            body["expires_at"] = json!(at);
        }
        app.post("/v1/tokens", ADMIN_TOKEN, body)
    };
    let now = chrono::Utc::now();
    let default = issue(None).await;
    assert_eq!(default.status, StatusCode::CREATED);
    let expires_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(default.body["expires_at"].clone()).unwrap();
    let days = (expires_at - now).num_days();
    assert!(
        (89..=90).contains(&days),
        "the default lifetime is 90 days: {days}"
    );
    let asked = (now + chrono::Duration::days(7)).to_rfc3339();
    let chosen = issue(Some(asked)).await;
    assert_eq!(chosen.status, StatusCode::CREATED, "{}", chosen.body);
    for refused in [
        (now - chrono::Duration::minutes(1)).to_rfc3339(),
        (now + chrono::Duration::days(400)).to_rfc3339(),
    ] {
        let response = issue(Some(refused)).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.body["errors"][0]["pointer"], "/expires_at");
    }
    app.shutdown().await;
}

/// Publishes token records straight onto the directory topic (as admin would: signed with its key, read from the
/// data directory), with the expiry chosen.
async fn publish_tokens(app: &TestApp, tokens: &[(&str, chrono::DateTime<chrono::Utc>)]) {
    let signer = DirectorySigner::load(None, &data_dir(&app.dir)).unwrap();
    let now = chrono::Utc::now();
    let records = tokens
        .iter()
        .map(|(secret, expires_at)| {
            let event = DirectoryEvent::Token(TokenRecord {
                id: TokenId::parse(&format!("tok-{secret}")).unwrap(),
                organization: OrgId::parse("ncu-de").unwrap(),
                role: Role::Investigator,
                label: "expiry".to_owned(),
                hash: hash_secret(secret),
                created_at: now - chrono::Duration::days(1),
                revoked_at: None,
                expires_at: Some(*expires_at),
                binding: None,
            });
            let record = Record::new(event.key(), serde_json::to_vec(&event).unwrap());
            signer.sign(topics::ADMIN_DIRECTORY, record)
        })
        .collect();
    app.bus
        .publish(topics::ADMIN_DIRECTORY, records)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_expired_token_is_refused_everywhere_taxii_basic_included() {
    let app = spawn_app().await;
    world(&app).await;
    let now = chrono::Utc::now();
    // In one batch, in this order: the expired one is applied before the live one.
    publish_tokens(
        &app,
        &[
            ("expired", now - chrono::Duration::seconds(1)),
            ("live", now + chrono::Duration::days(1)),
        ],
    )
    .await;
    let lookup = |token: &'static str| app.lookup(token, "192.0.2.1", "investigation", "C");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while lookup("live").await.status == StatusCode::UNAUTHORIZED {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the live token never applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(lookup("expired").await.status, StatusCode::UNAUTHORIZED);
    let basic = |token: &str| {
        app.client
            .get(format!("{}/taxii2/", app.url))
            .basic_auth("analyst", Some(token))
            .send()
    };
    assert_eq!(basic("live").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        basic("expired").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_revoked_bootstrap_token_stays_revoked_after_a_restart() {
    let app = spawn_app().await;
    let issued = app
        .post(
            "/v1/tokens",
            ADMIN_TOKEN,
            json!({ "organization": "accord-admin", "role": "coordinator", "label": "ops" }),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let coordinator = issued.body["token"].as_str().unwrap().to_owned();
    let revoked = app
        .request(
            reqwest::Method::DELETE,
            "/v1/tokens/bootstrap",
            Some(&coordinator),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/mous", ADMIN_TOKEN).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/v1/mous", &coordinator).await.status,
        StatusCode::OK
    );

    // Restarted with the same ACCORD_ADMIN_TOKEN, the bootstrap token is still refused.
    let app = spawn_app_in(app.shutdown().await).await;
    assert_eq!(
        app.get("/v1/mous", ADMIN_TOKEN).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/v1/mous", &coordinator).await.status,
        StatusCode::OK
    );
    // Revoking it again changes nothing.
    let again = app
        .request(
            reqwest::Method::DELETE,
            "/v1/tokens/bootstrap",
            Some(&coordinator),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    app.shutdown().await;
}
