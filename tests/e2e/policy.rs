//! What each MoU field does to what an agency sees, through the whole pipeline.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, mou, report, spawn_app, world};

#[tokio::test]
async fn country_purpose_and_tlp_ceiling_each_withhold() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou(
        "m-de-only",
        "bank-a",
        &["ncu-de", "ncu-fr"],
        json!({ "recipient_countries": ["DE"], "purposes": ["investigation"], "max_tlp": "amber" }),
    ))
    .await;
    app.submit(&w.partner, report("Amber report", "amber", &["192.0.2.10"]))
        .await;
    let red = app
        .submit(&w.partner, report("Red report", "red", &["192.0.2.20"]))
        .await;
    // A probe released to ncu-de, submitted last: once it is searchable, everything before it was evaluated.
    app.submit(&w.partner, report("Probe", "green", &["192.0.2.30"]))
        .await;
    app.wait_found(&w.ncu_de, "192.0.2.30", "investigation")
        .await;

    // Released to ncu-de for investigation.
    assert_eq!(
        app.lookup(&w.ncu_de, "192.0.2.10", "investigation", "C")
            .await
            .status,
        StatusCode::OK
    );
    // ncu-fr is a recipient but France is not in recipient_countries.
    assert_eq!(
        app.lookup(&w.ncu_fr, "192.0.2.10", "investigation", "C")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Prosecution is not a permitted purpose.
    assert_eq!(
        app.lookup(&w.ncu_de, "192.0.2.10", "prosecution", "C")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // TLP:RED is above the amber ceiling.
    assert_eq!(
        app.lookup(&w.ncu_de, "192.0.2.20", "investigation", "C")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let status = app
        .wait_status(&w.partner, &red, &["normalized", "released"])
        .await;
    assert_eq!(status["released_to"], json!([]));
    app.shutdown().await;
}

fn pii_report() -> serde_json::Value {
    json!({
        "title": "Account takeover",
        "description": "Victim contact jane.doe@bank-a.example, phone +49 30 1234 5678. Attacker used 198.51.100.42.",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "categories": ["fraud"],
        "indicators": [ { "value": "198.51.100.42" }, { "type": "email-addr", "value": "attacker@evil.example" } ],
        "victim": { "name": "Jane Doe", "email": "jane.doe@bank-a.example", "country": "DE" }
    })
}

#[tokio::test]
async fn pii_is_redacted_under_redact_and_kept_under_share_and_attribution_is_anonymous() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou(
        "m-redact",
        "bank-a",
        &["ncu-de"],
        json!({ "pii": "redact", "attribution": "anonymous", "purposes": ["investigation"] }),
    ))
    .await;
    app.create_mou(mou(
        "m-share",
        "bank-a",
        &["ncu-fr"],
        json!({ "pii": "share", "attribution": "named" }),
    ))
    .await;
    app.submit(&w.partner, pii_report()).await;
    app.wait_found(&w.ncu_de, "198.51.100.42", "investigation")
        .await;
    app.wait_found(&w.ncu_fr, "198.51.100.42", "investigation")
        .await;

    let query =
        json!({ "q": "indicator:198.51.100.42", "purpose": "investigation", "case": "C-PII" });
    let redacted = app.search(&w.ncu_de, query.clone()).await;
    let hit = &redacted.body["hits"][0];
    let description = hit["description"].as_str().unwrap();
    assert!(
        !description.contains("jane.doe@bank-a.example"),
        "{description}"
    );
    assert!(!description.contains("1234 5678"), "{description}");
    assert!(description.contains("[redacted:email]") && description.contains("[redacted:phone]"));
    assert!(hit.get("victim").is_none(), "{hit}");
    assert_eq!(hit["partner"], "anonymous");
    let values: Vec<&str> = hit["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert!(
        values.contains(&"attacker@evil.example"),
        "declared e-mail indicators stay: {values:?}"
    );
    assert!(
        !values.contains(&"jane.doe@bank-a.example"),
        "victim e-mail leaked as an indicator: {values:?}"
    );
    assert!(!redacted.body.to_string().contains("Jane Doe"));

    let shared = app.search(&w.ncu_fr, query).await;
    let hit = &shared.body["hits"][0];
    assert!(
        hit["description"]
            .as_str()
            .unwrap()
            .contains("jane.doe@bank-a.example")
    );
    assert_eq!(hit["victim"]["name"], "Jane Doe");
    assert_eq!(hit["partner"], "bank-a");

    // A named-partner filter never matches an anonymous view.
    let by_partner = app
        .search(
            &w.ncu_de,
            json!({ "filters": { "partner": "bank-a" }, "purpose": "investigation", "case": "C" }),
        )
        .await;
    assert_eq!(by_partner.body["total"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn content_parts_not_released_are_absent() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou(
        "m-ind",
        "bank-a",
        &["ncu-de"],
        json!({ "content": ["indicators"] }),
    ))
    .await;
    app.submit(&w.partner, pii_report()).await;
    app.wait_found(&w.ncu_de, "198.51.100.42", "investigation")
        .await;
    let found = app
        .lookup(&w.ncu_de, "198.51.100.42", "investigation", "C")
        .await;
    assert!(
        found.body["reports"][0]["title"].is_null(),
        "{}",
        found.body
    );
    // Free text cannot find a report whose narrative is not released.
    let text = app
        .search(
            &w.ncu_de,
            json!({ "q": "takeover", "purpose": "investigation", "case": "C" }),
        )
        .await;
    assert_eq!(text.body["total"], 0);
    let other = app
        .post(
            "/v1/mous",
            ADMIN_TOKEN,
            mou("m-ind", "bank-a", &["ncu-de"], json!({})),
        )
        .await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    app.shutdown().await;
}
