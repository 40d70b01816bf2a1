//! `PATCH /v1/organizations/{id}`: an agency's country decides `recipient_countries`, so moving it extends or
//! withdraws what it sees, at query time at once and in the index after the enforcer's re-evaluation.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, PATIENCE, TestApp, mou, report, spawn_app, world};

/// The bound policy-model.md sets for a change to reach every indexed copy.
const BOUND: Duration = Duration::from_secs(2);

async fn patch(app: &TestApp, id: &str, token: &str, body: Value) -> crate::helpers::Response {
    app.request(
        Method::PATCH,
        &format!("/v1/organizations/{id}"),
        Some(token),
        Some(body),
    )
    .await
}

/// Polls a lookup until it answers `wanted`; returns how long after `since` that was.
async fn until_status(
    app: &TestApp,
    token: &str,
    value: &str,
    wanted: StatusCode,
    since: Instant,
) -> Duration {
    loop {
        let status = app
            .lookup(token, value, "investigation", "C-ORG")
            .await
            .status;
        if status == wanted {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < PATIENCE,
            "{value} never answered {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_an_agency_extends_and_withdraws_what_it_sees_within_the_bound() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou(
        "m-de-only",
        "bank-a",
        &["ncu-de", "ncu-fr"],
        json!({ "recipient_countries": ["DE"] }),
    ))
    .await;
    let id = app
        .submit(&w.partner, report("Sovereign", "amber", &["203.0.113.77"]))
        .await;
    app.wait_found(&w.ncu_de, "203.0.113.77", "investigation")
        .await;
    assert_eq!(
        app.lookup(&w.ncu_fr, "203.0.113.77", "investigation", "C")
            .await
            .status,
        StatusCode::NOT_FOUND,
        "an FR agency sees a DE-only report"
    );

    // Widening: ncu-fr moves to DE; its view appears once the enforcer re-released the report to it.
    let acked = Instant::now();
    let moved = patch(&app, "ncu-fr", ADMIN_TOKEN, json!({ "country": "de" })).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["country"], "DE");
    assert_eq!(moved.body["kind"], "agency");
    let widened = until_status(&app, &w.ncu_fr, "203.0.113.77", StatusCode::OK, acked).await;
    println!("agency moved in: visible {widened:?} after the acknowledgement");
    assert!(widened <= BOUND, "visible only {widened:?} after the move");

    // Narrowing: ncu-de moves to FR; its next query already sees nothing, and its view leaves the index.
    let acked = Instant::now();
    let moved = patch(
        &app,
        "ncu-de",
        ADMIN_TOKEN,
        json!({ "country": "FR", "name": "NCU (moved)" }),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let first = app
        .lookup(&w.ncu_de, "203.0.113.77", "investigation", "C")
        .await;
    assert_eq!(
        first.status,
        StatusCode::NOT_FOUND,
        "served after the move: {}",
        first.body
    );
    let receipt = loop {
        let status = app.get(&format!("/v1/reports/{id}"), &w.partner).await.body;
        if status["released_to"] == json!(["ncu-fr"]) {
            break status;
        }
        assert!(
            acked.elapsed() < PATIENCE,
            "never withdrawn from ncu-de: {status}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let withdrawn = acked.elapsed();
    println!("agency moved out: withdrawn from the index {withdrawn:?} after the acknowledgement");
    assert!(
        withdrawn <= BOUND,
        "withdrawn only {withdrawn:?} after the move"
    );
    let withdrawal = &receipt["withdrawals"][0];
    assert_eq!(withdrawal["agency"], "ncu-de", "{receipt}");
    assert!(
        withdrawal["reason"]
            .as_str()
            .unwrap()
            .contains("organization ncu-de changed"),
        "{withdrawal}"
    );
    let org = app.get("/v1/organizations/ncu-de", ADMIN_TOKEN).await;
    assert_eq!(org.body["country"], "FR");
    assert_eq!(org.body["name"], "NCU (moved)");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_updates_are_validated_field_by_field() {
    let app = spawn_app().await;
    let w = world(&app).await;
    for (body, pointer) in [
        (json!({ "country": "Germany" }), "/country"),
        (json!({ "name": "  " }), "/name"),
        (json!({ "kind": "partner" }), "/kind"),
        (json!({ "id": "other" }), "/id"),
        (json!({ "default_tlp": "amber" }), "/default_tlp"),
        (json!({ "sector": 7 }), "/sector"),
    ] {
        let response = patch(&app, "ncu-de", ADMIN_TOKEN, body.clone()).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            response.body
        );
        assert_eq!(response.content_type, "application/problem+json");
        assert_eq!(
            response.body["errors"][0]["pointer"], pointer,
            "{body}: {}",
            response.body
        );
    }
    let unknown = patch(&app, "ncu-de", ADMIN_TOKEN, json!({ "colour": "blue" })).await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    let partner = patch(
        &app,
        "bank-a",
        ADMIN_TOKEN,
        json!({ "default_tlp": "green", "sector": null }),
    )
    .await;
    assert_eq!(partner.status, StatusCode::OK, "{}", partner.body);
    assert_eq!(partner.body["default_tlp"], "green");
    assert!(partner.body.get("sector").is_none(), "{}", partner.body);
    assert_eq!(
        patch(&app, "nobody", ADMIN_TOKEN, json!({ "country": "DE" }))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        patch(&app, "ncu-de", &w.ncu_de, json!({ "country": "FR" }))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        patch(
            &app,
            "accord-admin",
            ADMIN_TOKEN,
            json!({ "country": "FR" })
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    app.shutdown().await;
}
