//! Bad input, wrong roles and classified material: clear problem documents, nothing accepted, nothing leaked.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, mou, report, spawn_app, world};

#[tokio::test]
async fn classified_reports_are_refused_and_never_reach_the_bus() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let before = app
        .bus
        .end_offsets(accord_domain::topics::REPORTS_RAW)
        .await
        .unwrap()[0]
        .offset;
    for marking in ["secret", "CONFIDENTIAL", "restricted"] {
        let mut body = report("Classified", "amber", &["192.0.2.1"]);
        body["classification"] = json!(marking);
        let response = app.post("/v1/reports", &w.partner, body).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.content_type, "application/problem+json");
        assert_eq!(response.body["errors"][0]["pointer"], "/classification");
    }
    let after = app
        .bus
        .end_offsets(accord_domain::topics::REPORTS_RAW)
        .await
        .unwrap()[0]
        .offset;
    assert_eq!(before, after);
    app.shutdown().await;
}

#[tokio::test]
async fn malformed_and_invalid_reports_name_the_problem() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let malformed = app
        .client
        .post(format!("{}/v1/reports", app.url))
        .bearer_auth(&w.partner)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let problem: serde_json::Value = malformed.json().await.unwrap();
    assert_eq!(problem["status"], 400);
    assert!(problem["type"].as_str().unwrap().starts_with("/problems/"));

    let invalid = app
        .post(
            "/v1/reports",
            &w.partner,
            report("Bad", "amber", &["192.0.2.1", "999.1.1.1/99"]),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        invalid.body["errors"][0]["pointer"], "/indicators/1/value",
        "{}",
        invalid.body
    );

    let mut typed = report("Bad type", "amber", &[]);
    typed["indicators"] = json!([{ "type": "ipv4-addr", "value": "evil.example.com" }]);
    let mismatch = app.post("/v1/reports", &w.partner, typed).await;
    assert_eq!(mismatch.body["errors"][0]["pointer"], "/indicators/0/value");

    // A digest alias takes only a digest, a name only a name; an unknown type names the type; a hash-pattern that
    // compares a file name is refused before the bus.
    let mut aliases = report("Aliases", "amber", &[]);
    aliases["indicators"] = json!([
        { "type": "md5", "value": "evil.exe" },
        { "type": "filename", "value": "d41d8cd98f00b204e9800998ecf8427e" },
        { "type": "no-such-type", "value": "x" },
        { "type": "x509-certificate", "value": "zz:top" }
    ]);
    aliases["patterns"] =
        json!([{ "pattern": "[file:hashes.MD5 = 'evil.exe']", "pattern_type": "stix" }]);
    let refused = app.post("/v1/reports", &w.partner, aliases).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let pointers: Vec<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/indicators/0/value",
            "/indicators/1/value",
            "/indicators/2/type",
            "/indicators/3/value",
            "/patterns/0/pattern"
        ],
        "{}",
        refused.body
    );

    let mut no_title = report("x", "amber", &[]);
    no_title.as_object_mut().unwrap().remove("title");
    let schema = app.post("/v1/reports", &w.partner, no_title).await;
    assert_eq!(schema.status, StatusCode::UNPROCESSABLE_ENTITY);

    let mut no_tlp = report("x", "amber", &[]);
    no_tlp.as_object_mut().unwrap().remove("tlp");
    let untagged = app.post("/v1/reports", &w.partner, no_tlp).await;
    assert_eq!(untagged.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(untagged.body["errors"][0]["pointer"], "/tlp");

    let text = app
        .client
        .post(format!("{}/v1/reports", app.url))
        .bearer_auth(&w.partner)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let ends = app
        .bus
        .end_offsets(accord_domain::topics::REPORTS_RAW)
        .await
        .unwrap();
    assert_eq!(ends[0].offset, 0, "nothing invalid reached the bus");
    app.shutdown().await;
}

#[tokio::test]
async fn roles_tokens_purpose_and_case_are_enforced() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    // A partner cannot search; an investigator cannot submit or administer.
    let partner_search = app
        .lookup(&w.partner, "192.0.2.1", "investigation", "C")
        .await;
    assert_eq!(partner_search.status, StatusCode::FORBIDDEN);
    let investigator_post = app
        .post("/v1/reports", &w.ncu_de, report("x", "amber", &[]))
        .await;
    assert_eq!(investigator_post.status, StatusCode::FORBIDDEN);
    let investigator_admin = app.get("/v1/mous", &w.ncu_de).await;
    assert_eq!(investigator_admin.status, StatusCode::FORBIDDEN);
    let audit = app.get("/v1/audit/verify", &w.ncu_de).await;
    assert_eq!(audit.status, StatusCode::FORBIDDEN);
    // No token, a bad token.
    let anonymous = app
        .request(reqwest::Method::GET, "/v1/mous", None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/v1/mous", "acc_nope").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Purpose and case are required.
    let no_purpose = app.get("/v1/indicators/192.0.2.1?case=C", &w.ncu_de).await;
    assert_eq!(no_purpose.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_purpose.body["errors"][0]["pointer"], "/purpose");
    let no_case = app
        .get("/v1/indicators/192.0.2.1?purpose=investigation", &w.ncu_de)
        .await;
    assert_eq!(no_case.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_case.body["errors"][0]["pointer"], "/case");
    let bad_purpose = app
        .search(
            &w.ncu_de,
            json!({ "q": "x", "purpose": "curiosity", "case": "C" }),
        )
        .await;
    assert_eq!(bad_purpose.status, StatusCode::BAD_REQUEST);
    // Refused requests are audited too.
    let auditor = app.token("accord-admin", "auditor").await;
    let records = app.get("/v1/audit", &auditor).await;
    let statuses: Vec<u64> = records.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![403, 400, 400, 400]);
    // Partners see only their own reports.
    let id = app
        .submit(&w.partner, report("mine", "amber", &["192.0.2.55"]))
        .await;
    app.create_org("bank-b", "partner", "DE").await;
    let other_partner = app.token("bank-b", "partner").await;
    assert_eq!(
        app.get(&format!("/v1/reports/{id}"), &other_partner)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/v1/reports/{id}"), &w.partner)
            .await
            .status,
        StatusCode::OK
    );
    // Admin validation names fields.
    let bad_mou = app
        .post(
            "/v1/mous",
            ADMIN_TOKEN,
            mou("m2", "ghost", &["ncu-de"], json!({})),
        )
        .await;
    assert_eq!(bad_mou.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_mou.body["errors"][0]["pointer"], "/providers/0");
    let bad_org = app
        .post(
            "/v1/organizations",
            ADMIN_TOKEN,
            json!({ "id": "Bad Id", "name": "x", "kind": "partner", "country": "DE" }),
        )
        .await;
    assert_eq!(bad_org.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_org.body["errors"][0]["pointer"], "/id");
    app.shutdown().await;
}
