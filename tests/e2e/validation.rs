//! One MoU validation: every draft that `POST /v1/mous` refuses, `POST /v1/mous/preview` refuses with the same
//! problem document (they share `accord_domain::MouValidator`); vocabularies are stored canonical; organizations'
//! countries are ISO codes and required fields cannot be patched to null.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, mou, spawn_app, world};

/// The refusal cases: overrides of a valid draft, and the pointer each must name.
fn refusals() -> Vec<(Value, &'static str)> {
    vec![
        (
            json!({ "expires_at": "2025-01-01T00:00:00Z" }),
            "/expires_at",
        ),
        (json!({ "retention_days": 0 }), "/retention_days"),
        (
            json!({ "recipients": ["ncu-de", "ghost"] }),
            "/recipients/1",
        ),
        (json!({ "recipients": ["bank-a"] }), "/recipients/0"),
        (json!({ "providers": ["ncu-de"] }), "/providers/0"),
        (
            json!({ "indicator_types": ["ipv4", "bogus-type"] }),
            "/indicator_types/1",
        ),
        (
            json!({ "recipient_countries": ["Germany"] }),
            "/recipient_countries/0",
        ),
        (json!({ "purposes": ["curiosity"] }), "/purposes/0"),
        (
            json!({ "categories": ["phishing", "anything at all"] }),
            "/categories/1",
        ),
        (json!({ "sectors": ["my sector"] }), "/sectors/0"),
        (json!({ "max_tlp": "white" }), "/max_tlp"),
        (json!({ "content": ["everything"] }), "/content/0"),
        (json!({ "pii": "keep" }), "/pii"),
        (json!({ "attribution": "loud" }), "/attribution"),
        (json!({ "status": "pending" }), "/status"),
        (json!({ "title": "" }), "/title"),
        (json!({ "providers": [] }), "/providers"),
        (json!({ "surprise": true }), "/"),
    ]
}

#[tokio::test]
async fn preview_refuses_every_draft_that_create_refuses_with_the_same_problem() {
    let app = spawn_app().await;
    world(&app).await;
    for (overrides, pointer) in refusals() {
        let draft = mou("mou-draft", "bank-a", &["ncu-de"], overrides.clone());
        let created = app.post("/v1/mous", ADMIN_TOKEN, draft.clone()).await;
        let previewed = app.post("/v1/mous/preview", ADMIN_TOKEN, draft).await;
        assert_eq!(
            created.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{overrides}: {}",
            created.body
        );
        assert_eq!(created.body["errors"][0]["pointer"], pointer, "{overrides}");
        assert_eq!(previewed.status, created.status, "{overrides}");
        assert_eq!(previewed.body, created.body, "{overrides}");
    }
    // And what create accepts, preview accepts.
    let valid = mou("mou-draft", "bank-a", &["ncu-de"], json!({}));
    assert_eq!(
        app.post("/v1/mous/preview", ADMIN_TOKEN, valid.clone())
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.post("/v1/mous", ADMIN_TOKEN, valid).await.status,
        StatusCode::CREATED
    );
    app.shutdown().await;
}

#[tokio::test]
async fn vocabularies_are_stored_canonical() {
    let app = spawn_app().await;
    world(&app).await;
    let created = app
        .post(
            "/v1/mous",
            ADMIN_TOKEN,
            mou(
                "mou-aliases",
                "bank-a",
                &["ncu-de"],
                json!({
                    "indicator_types": ["ipv4", "hash", "domain"], "recipient_countries": ["de", "fr"],
                    "categories": ["Spear Phishing", "ransomware"], "sectors": ["banking"]
                }),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["indicator_types"],
        json!(["domain-name", "file", "ipv4-addr"])
    );
    assert_eq!(created.body["recipient_countries"], json!(["DE", "FR"]));
    assert_eq!(
        created.body["categories"],
        json!(["phishing", "ransomware"])
    );
    assert_eq!(created.body["sectors"], json!(["finance"]));
    app.shutdown().await;
}

#[tokio::test]
async fn organizations_take_iso_countries_and_required_fields_stay() {
    let app = spawn_app().await;
    world(&app).await;
    let bad_country = app
        .post(
            "/v1/organizations",
            ADMIN_TOKEN,
            json!({ "id": "bank-x", "name": "X", "kind": "partner", "country": "XX" }),
        )
        .await;
    assert_eq!(bad_country.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_country.body["errors"][0]["pointer"], "/country");
    for (body, pointer) in [
        (json!({ "country": null }), "/country"),
        (json!({ "name": null }), "/name"),
        (json!({ "country": "Germany" }), "/country"),
        (json!({ "country": 49 }), "/country"),
    ] {
        let patched = app
            .request(
                reqwest::Method::PATCH,
                "/v1/organizations/bank-a",
                Some(ADMIN_TOKEN),
                Some(body.clone()),
            )
            .await;
        assert_eq!(patched.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(patched.body["errors"][0]["pointer"], pointer, "{body}");
    }
    let org = app.get("/v1/organizations/bank-a", ADMIN_TOKEN).await;
    assert_eq!(org.body["country"], "DE");
    app.shutdown().await;
}
