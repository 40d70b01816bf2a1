//! Case-bound tokens: every read made with one is bound to its purpose and case, as if stated; stating another is a
//! 400; coordinators and investigators issue them, for investigators only, for at most 90 days.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, mou, report, spawn_app, urlencode, world};

#[tokio::test]
async fn a_case_bound_token_reads_under_its_purpose_and_case_and_refuses_others() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m-1", "bank-a", &["ncu-de"], json!({})))
        .await;
    app.submit(&w.partner, report("Bound", "amber", &["198.51.100.77"]))
        .await;
    app.wait_found(&w.ncu_de, "198.51.100.77", "investigation")
        .await;
    let issued = app
        .post(
            "/v1/tokens",
            ADMIN_TOKEN,
            json!({ "organization": "ncu-de", "role": "investigator", "label": "case team",
                    "purpose": "investigation", "case": " CASE-7 " }),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    assert_eq!(issued.body["case"], "CASE-7");
    let bound = issued.body["token"].as_str().unwrap().to_owned();

    let value = urlencode("198.51.100.77");
    let plain = app.get(&format!("/v1/indicators/{value}"), &bound).await;
    assert_eq!(
        plain.status,
        StatusCode::OK,
        "nothing stated: {}",
        plain.body
    );
    let same = app
        .get(
            &format!("/v1/indicators/{value}?purpose=investigation&case=CASE-7"),
            &bound,
        )
        .await;
    assert_eq!(same.status, StatusCode::OK);
    for (query, pointer) in [
        ("purpose=prosecution", "/purpose"),
        ("case=CASE-8", "/case"),
        ("purpose=investigation&case=CASE-8", "/case"),
    ] {
        let other = app
            .get(&format!("/v1/indicators/{value}?{query}"), &bound)
            .await;
        assert_eq!(other.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(other.body["errors"][0]["pointer"], pointer, "{query}");
    }
    let search = app
        .post("/v1/search", &bound, json!({ "q": "198.51.100.77" }))
        .await;
    assert_eq!(search.status, StatusCode::OK, "{}", search.body);
    assert_eq!(search.body["total"], 1);

    // Audited exactly as if stated, refusals included (with what they stated).
    let auditor = app.token("accord-admin", "auditor").await;
    let records = app.get("/v1/audit?case=CASE-7", &auditor).await;
    let records = records.body["records"].as_array().unwrap().clone();
    let answered: Vec<_> = records
        .iter()
        .filter(|record| record["status"] == 200)
        .collect();
    assert_eq!(answered.len(), 3, "{records:?}");
    assert!(
        answered
            .iter()
            .all(|record| record["purpose"] == "investigation")
    );
    assert_eq!(
        records.len(),
        4,
        "and the refused prosecution read: {records:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn case_bound_tokens_are_for_investigators_only_and_live_at_most_ninety_days() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let far = (chrono::Utc::now() + chrono::Duration::days(91)).to_rfc3339();
    for (body, pointer) in [
        (
            json!({ "organization": "bank-a", "role": "partner", "purpose": "investigation", "case": "C" }),
            "/role",
        ),
        (
            json!({ "organization": "ncu-de", "role": "investigator", "purpose": "investigation" }),
            "/case",
        ),
        (
            json!({ "organization": "ncu-de", "role": "investigator", "purpose": "curiosity", "case": "C" }),
            "/purpose",
        ),
        (
            json!({ "organization": "ncu-de", "role": "investigator", "purpose": "investigation",
                    "case": "C", "expires_at": far }),
            "/expires_at",
        ),
    ] {
        let refused = app.post("/v1/tokens", ADMIN_TOKEN, body.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(refused.body["errors"][0]["pointer"], pointer, "{body}");
    }

    // An investigator issues one for its own organization; a case-bound token issues none; a partner cannot.
    let own = app
        .post(
            "/v1/tokens/case",
            &w.ncu_de,
            json!({ "purpose": "prevention", "case": "CASE-9", "label": "siem" }),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    assert_eq!(own.body["organization"], "ncu-de");
    assert_eq!(own.body["role"], "investigator");
    let expires: chrono::DateTime<chrono::Utc> =
        own.body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires <= chrono::Utc::now() + chrono::Duration::days(90));
    let bound = own.body["token"].as_str().unwrap().to_owned();
    let body = json!({ "purpose": "investigation", "case": "CASE-10" });
    let from_bound = app.post("/v1/tokens/case", &bound, body.clone()).await;
    assert_eq!(from_bound.status, StatusCode::FORBIDDEN);
    let from_partner = app.post("/v1/tokens/case", &w.partner, body).await;
    assert_eq!(from_partner.status, StatusCode::FORBIDDEN);
    // It revokes like any other token.
    let id = own.body["id"].as_str().unwrap();
    let revoked = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/tokens/{id}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = app
        .post("/v1/search", &bound, json!({ "q": "anything" }))
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    app.shutdown().await;
}
