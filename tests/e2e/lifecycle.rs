//! MoU lifecycle: changes reach already-indexed reports; receipts and explain say why.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, PATIENCE, mou, report, spawn_app, world};

#[tokio::test]
async fn an_mou_created_after_the_report_releases_it_and_narrowing_reaches_the_indexed_copy() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let id = app
        .submit(
            &w.partner,
            report("Early report", "green", &["198.51.100.10"]),
        )
        .await;
    // Evaluated with no MoU: released to nobody.
    let status = app.wait_status(&w.partner, &id, &["normalized"]).await;
    assert_eq!(status["released_to"], json!([]));
    assert_eq!(
        app.lookup(&w.ncu_de, "198.51.100.10", "investigation", "C")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Widening: the new MoU releases the earlier report without a new submission.
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    let found = app
        .wait_found(&w.ncu_de, "198.51.100.10", "investigation")
        .await;
    assert_eq!(found["reports"][0]["title"], "Early report");

    // Narrowing: narrative withdrawn. The indexed copy is re-rendered: the report is found again, without its title.
    let narrowed = mou(
        "m1",
        "bank-a",
        &["ncu-de"],
        json!({ "content": ["indicators"] }),
    );
    let put = app
        .request(
            reqwest::Method::PUT,
            "/v1/mous/m1",
            Some(ADMIN_TOKEN),
            Some(narrowed),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let query = json!({ "q": "indicator:198.51.100.10", "purpose": "investigation", "case": "C" });
    let hit = app
        .wait_search(&w.ncu_de, query, |body| {
            body["total"] == 1 && body["hits"][0]["title"].is_null()
        })
        .await;
    assert!(hit["hits"][0].get("description").is_none(), "{hit}");

    // Revocation: withdrawn from the agency, with a receipt saying when and why.
    assert_eq!(
        app.post("/v1/mous/m1/revoke", ADMIN_TOKEN, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let receipt = loop {
        let status = app.get(&format!("/v1/reports/{id}"), &w.partner).await.body;
        if status["released_to"] == json!([])
            && !status["withdrawals"].as_array().unwrap().is_empty()
        {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no withdrawal receipt: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let withdrawal = &receipt["withdrawals"][0];
    assert_eq!(withdrawal["agency"], "ncu-de");
    assert!(
        withdrawal["reason"].as_str().unwrap().contains("revoked"),
        "{withdrawal}"
    );
    assert_eq!(
        app.lookup(&w.ncu_de, "198.51.100.10", "investigation", "C")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    app.shutdown().await;
}

#[tokio::test]
async fn explain_names_the_granting_mou_and_every_reason_none_does() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou(
        "m-explain",
        "bank-a",
        &["ncu-de", "ncu-fr"],
        json!({ "recipient_countries": ["DE"], "pii": "redact", "attribution": "anonymous" }),
    ))
    .await;
    let id = app
        .submit(&w.partner, report("Explained", "green", &["198.51.100.20"]))
        .await;
    app.wait_status(&w.partner, &id, &["released"]).await;

    let granted = app
        .get(
            &format!("/v1/explain?report={id}&agency=ncu-de"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    assert_eq!(granted.body["visible"], true);
    assert_eq!(granted.body["mou"], "m-explain");
    let redactions = granted.body["redactions"].to_string();
    assert!(redactions.contains("partner anonymized"), "{redactions}");

    let refused = app
        .get(
            &format!("/v1/explain?report={id}&agency=ncu-fr"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(refused.body["visible"], false);
    assert!(
        refused.body["reasons"]
            .to_string()
            .contains("recipient_countries"),
        "{}",
        refused.body
    );
    let outsider = app
        .get(
            &format!("/v1/explain?report={id}&agency=outsider"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(outsider.body["visible"], false);
    assert!(
        outsider.body["reasons"]
            .to_string()
            .contains("no MoU covers"),
        "{}",
        outsider.body
    );

    // Coordinators only; unknown reports are 404.
    assert_eq!(
        app.get(&format!("/v1/explain?report={id}&agency=ncu-de"), &w.ncu_de)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let unknown = app
        .get(
            "/v1/explain?report=report--00000000-0000-4000-8000-000000000000&agency=ncu-de",
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    app.shutdown().await;
}

#[tokio::test]
async fn preview_tells_what_a_draft_would_change_and_changes_nothing() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m-prev", "bank-a", &["ncu-de"], json!({})))
        .await;
    let id = app
        .submit(
            &w.partner,
            report(
                "Previewed",
                "green",
                &["198.51.100.30", "preview-c2.example.com"],
            ),
        )
        .await;
    app.wait_found(&w.ncu_de, "198.51.100.30", "investigation")
        .await;

    // Draft: move the release from ncu-de to ncu-fr.
    let draft = mou("m-prev", "bank-a", &["ncu-fr"], json!({}));
    let preview = app.post("/v1/mous/preview", ADMIN_TOKEN, draft).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let changes = preview.body["changes"].as_array().unwrap();
    let of = |agency: &str| {
        changes
            .iter()
            .find(|change| change["agency"] == agency)
            .cloned()
            .unwrap()
    };
    assert_eq!(of("ncu-de")["reports_withdrawn"], 1);
    assert_eq!(of("ncu-de")["withdrawn"][0], id.as_str());
    assert_eq!(of("ncu-fr")["reports_becoming_visible"], 1);
    assert!(
        of("ncu-fr")["indicators_becoming_visible"]
            .as_u64()
            .unwrap()
            >= 2
    );

    // Nothing changed.
    assert_eq!(
        app.get("/v1/mous/m-prev", ADMIN_TOKEN).await.body["version"],
        1
    );
    assert_eq!(
        app.lookup(&w.ncu_de, "198.51.100.30", "investigation", "C")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.lookup(&w.ncu_fr, "198.51.100.30", "investigation", "C")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post("/v1/mous/preview", &w.partner, json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    app.shutdown().await;
}

#[tokio::test]
async fn reports_an_agency_may_not_see_change_no_byte_of_its_responses() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou(
        "m-de",
        "bank-a",
        &["ncu-de"],
        json!({ "max_tlp": "amber" }),
    ))
    .await;
    app.create_mou(mou(
        "m-fr",
        "bank-a",
        &["ncu-fr"],
        json!({ "max_tlp": "red" }),
    ))
    .await;
    app.submit(
        &w.partner,
        report(
            "Shared phishing wave",
            "green",
            &["198.51.100.40", "shared-c2.example.com"],
        ),
    )
    .await;
    app.wait_found(&w.ncu_de, "198.51.100.40", "investigation")
        .await;

    let observe = || async {
        let mut seen = Vec::new();
        for value in [
            "198.51.100.40",
            "198.51.100.41",
            "shared-c2.example.com",
            "hidden-c2.example.com",
        ] {
            let response = app.lookup(&w.ncu_de, value, "investigation", "C-NI").await;
            seen.push((response.status, response.body));
        }
        for body in [
            json!({ "purpose": "investigation", "case": "C-NI", "size": 1 }),
            json!({ "q": "phishing", "purpose": "investigation", "case": "C-NI" }),
            json!({ "filters": { "tlp": ["green", "red"] }, "purpose": "investigation", "case": "C-NI" }),
        ] {
            let response = app.search(&w.ncu_de, body).await;
            seen.push((response.status, response.body));
        }
        let lookup = app
            .post(
                "/v1/indicators/lookup",
                &w.ncu_de,
                json!({ "values": ["198.51.100.40", "198.51.100.41", "hidden-c2.example.com"], "purpose": "investigation", "case": "C-NI" }),
            )
            .await;
        seen.push((lookup.status, lookup.body));
        seen
    };
    let before = observe().await;

    // Hidden from ncu-de: released only to ncu-fr, or above ncu-de's TLP ceiling; sharing its indicators and words.
    app.submit(
        &w.partner,
        report(
            "Hidden phishing wave",
            "red",
            &["198.51.100.40", "198.51.100.41", "hidden-c2.example.com"],
        ),
    )
    .await;
    app.submit(
        &w.partner,
        report(
            "Another hidden phishing wave",
            "red",
            &["shared-c2.example.com"],
        ),
    )
    .await;
    app.wait_found(&w.ncu_fr, "hidden-c2.example.com", "investigation")
        .await;
    app.wait_found(&w.ncu_fr, "shared-c2.example.com", "investigation")
        .await;
    let found = app
        .lookup(&w.ncu_fr, "198.51.100.40", "investigation", "C")
        .await;
    assert_eq!(
        found.body["reports_total"], 2,
        "ncu-fr sees both reports: {}",
        found.body
    );

    let after = observe().await;
    assert_eq!(
        before, after,
        "ncu-de's answers changed because of reports it may not see"
    );
    app.shutdown().await;
}
