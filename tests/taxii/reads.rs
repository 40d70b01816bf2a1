//! What agencies and partners get from the TAXII server, and the status codes the spec requires.

use reqwest::Method;
use serde_json::json;

use crate::{
    TAXII, collection_id,
    helpers::{ADMIN_TOKEN, mou, report, spawn_app, world},
    object_ids, taxii_get, taxii_request,
};

#[tokio::test]
async fn agencies_read_only_what_mous_release_and_withdrawals_disappear_at_once() {
    let app = spawn_app().await;
    let world = world(&app).await;
    app.create_org("telco-b", "partner", "DE").await;
    let telco = app.token("telco-b", "partner").await;
    let auditor = app.token("accord-admin", "auditor").await;
    app.create_mou(mou(
        "m-bank",
        "bank-a",
        &["ncu-de"],
        json!({ "attribution": "anonymous" }),
    ))
    .await;
    app.create_mou(mou("m-telco", "telco-b", &["ncu-de"], json!({})))
        .await;

    let bank_report = app
        .submit(
            &world.partner,
            report("Bank phishing", "amber", &["198.51.100.10"]),
        )
        .await;
    let telco_report = app
        .submit(
            &telco,
            report("Telco smishing", "green", &["198.51.100.20"]),
        )
        .await;
    app.wait_found(&world.ncu_de, "198.51.100.10", "investigation")
        .await;
    app.wait_found(&world.ncu_de, "198.51.100.20", "investigation")
        .await;

    // Discovery and the API root answer any valid token, with the TAXII media type.
    let discovery = taxii_get(&app, "/taxii2/", Some(&world.ncu_de), None).await;
    assert_eq!(discovery.status, 200, "{}", discovery.body);
    assert_eq!(discovery.content_type, TAXII);
    assert!(
        discovery.body["default"]
            .as_str()
            .unwrap()
            .ends_with("/taxii2/accord/")
    );
    let root = taxii_get(&app, "/taxii2/accord/", Some(&world.ncu_de), None).await;
    assert_eq!(root.body["versions"], json!([TAXII]));

    // One read-only collection per purpose granted; none for an agency without an MoU.
    let investigation = collection_id(&app, &world.ncu_de, "investigation")
        .await
        .unwrap();
    assert!(
        collection_id(&app, &world.ncu_de, "prosecution")
            .await
            .is_some()
    );
    assert!(
        collection_id(&app, &world.ncu_de, "research")
            .await
            .is_none()
    );
    let outsider = taxii_get(
        &app,
        "/taxii2/accord/collections/",
        Some(&world.outsider),
        None,
    )
    .await;
    assert_eq!(outsider.body, json!({}));
    let path = format!("/taxii2/accord/collections/{investigation}/objects/");
    let stolen = taxii_get(&app, &path, Some(&world.outsider), Some("CASE-X")).await;
    assert_eq!(
        stolen.status, 404,
        "another agency's collection does not exist for the outsider"
    );

    // The content: both reports, the bank anonymous, TLP markings, observables.
    let ids = object_ids(&app, &world.ncu_de, &investigation).await;
    assert!(
        ids.contains(&bank_report) && ids.contains(&telco_report),
        "{ids:?}"
    );
    let objects = taxii_get(&app, &path, Some(&world.ncu_de), Some("CASE-TAXII")).await;
    assert_eq!(objects.content_type, TAXII);
    assert!(objects.headers.contains_key("x-taxii-date-added-first"));
    assert!(objects.headers.contains_key("x-taxii-date-added-last"));
    let text = objects.body.to_string();
    assert!(
        text.contains("anonymous partner") && !text.contains("\"name\":\"bank-a\""),
        "{text}"
    );
    assert!(text.contains("\"name\":\"telco-b\""));
    assert!(text.contains("marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"));
    assert_eq!(objects.body["more"], false);

    // STIX media type for objects when asked; 406 for anything else.
    let stix = "application/stix+json;version=2.1";
    let as_stix = taxii_request(
        &app,
        Method::GET,
        &path,
        Some(&world.ncu_de),
        Some("C"),
        stix,
        None,
    )
    .await;
    assert_eq!((as_stix.status, as_stix.content_type.as_str()), (200, stix));
    let json = "application/json";
    let refused = taxii_request(
        &app,
        Method::GET,
        &path,
        Some(&world.ncu_de),
        Some("C"),
        json,
        None,
    )
    .await;
    assert_eq!(refused.status, 406);
    assert_eq!(refused.body["http_status"], "406");

    // No case reference: 400, audited. No token: 401 with a Basic challenge.
    let no_case = taxii_get(&app, &path, Some(&world.ncu_de), None).await;
    assert_eq!(no_case.status, 400, "{}", no_case.body);
    assert_eq!(no_case.content_type, TAXII);
    let anonymous = taxii_get(&app, &path, None, Some("C")).await;
    assert_eq!(anonymous.status, 401);
    assert!(
        anonymous.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("Basic")
    );

    // HTTP Basic with the token as password works like Bearer.
    let basic = app
        .client
        .get(format!("{}{path}", app.url))
        .basic_auth("anyone", Some(&world.ncu_de))
        .header("Accept", TAXII)
        .header("X-Accord-Case", "CASE-TAXII")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);

    // Partners: an inbox they cannot read; agencies cannot write.
    let inbox = taxii_get(
        &app,
        "/taxii2/accord/collections/",
        Some(&world.partner),
        None,
    )
    .await;
    let inbox = &inbox.body["collections"][0];
    assert_eq!(
        (inbox["can_read"].clone(), inbox["can_write"].clone()),
        (json!(false), json!(true))
    );
    let inbox_path = format!(
        "/taxii2/accord/collections/{}/objects/",
        inbox["id"].as_str().unwrap()
    );
    let read_inbox = taxii_get(&app, &inbox_path, Some(&world.partner), Some("C")).await;
    assert_eq!(read_inbox.status, 403);
    let envelope = Some((TAXII, json!({ "objects": [] }).to_string()));
    let write = taxii_request(
        &app,
        Method::POST,
        &path,
        Some(&world.ncu_de),
        None,
        TAXII,
        envelope,
    )
    .await;
    assert_eq!(write.status, 403);
    let wrong_type = Some(("application/json", "{}".to_owned()));
    let post = taxii_request(
        &app,
        Method::POST,
        &inbox_path,
        Some(&world.partner),
        None,
        TAXII,
        wrong_type,
    )
    .await;
    assert_eq!(post.status, 415);

    // A partner's add answers 202 with a status resource that only it can read; another partner's inbox is 404.
    app.create_org("bank-b", "partner", "DE").await;
    let other_partner = app.token("bank-b", "partner").await;
    let envelope = json!({ "objects": [{
        "type": "indicator", "spec_version": "2.1", "id": "indicator--5b0f0a7e-6c1d-4a57-9d7e-1b2c3d4e5f60",
        "created": "2026-11-20T08:00:00.000Z", "modified": "2026-11-20T08:00:00.000Z",
        "pattern": "[domain-name:value = 'status-check.example.com']", "pattern_type": "stix",
        "valid_from": "2026-11-20T08:00:00Z",
        "object_marking_refs": ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"]
    }]});
    let added = taxii_request(
        &app,
        Method::POST,
        &inbox_path,
        Some(&world.partner),
        None,
        TAXII,
        Some((TAXII, envelope.to_string())),
    )
    .await;
    assert_eq!(added.status, 202, "{}", added.body);
    assert_eq!(added.content_type, TAXII);
    assert_eq!(added.body["total_count"], 1);
    let status_path = format!(
        "/taxii2/accord/status/{}/",
        added.body["id"].as_str().unwrap()
    );
    let own = taxii_get(&app, &status_path, Some(&world.partner), None).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["id"], added.body["id"]);
    for stranger in [&other_partner, &world.ncu_de] {
        let seen = taxii_get(&app, &status_path, Some(stranger), None).await;
        assert_eq!(seen.status, 404, "{}", seen.body);
    }
    let into_other = taxii_request(
        &app,
        Method::POST,
        &inbox_path,
        Some(&other_partner),
        None,
        TAXII,
        Some((TAXII, envelope.to_string())),
    )
    .await;
    assert_eq!(into_other.status, 404);
    let not_an_envelope = taxii_request(
        &app,
        Method::POST,
        &inbox_path,
        Some(&world.partner),
        None,
        TAXII,
        Some((TAXII, "[1, 2]".to_owned())),
    )
    .await;
    assert_eq!(not_an_envelope.status, 400);
    assert_eq!(not_an_envelope.body["http_status"], "400");

    // Every read of content is audited like a search, refusals included.
    let audit = app.get("/v1/audit?case=CASE-TAXII", &auditor).await;
    let records = audit.body["records"].as_array().unwrap();
    assert!(records.iter().any(|record| {
        record["endpoint"]
            .as_str()
            .unwrap()
            .starts_with("GET /taxii2/accord/collections/")
            && record["purpose"] == "investigation"
            && record["status"] == 200
    }));
    let all = app.get("/v1/audit?organization=ncu-de", &auditor).await;
    assert!(
        all.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|record| record["status"] == 400
                && record["endpoint"].as_str().unwrap().contains("taxii2"))
    );

    // Revoking the bank's MoU removes its report from the collection on the next read; the telco's stays.
    let revoked = app
        .post("/v1/mous/m-bank/revoke", ADMIN_TOKEN, json!({}))
        .await;
    assert_eq!(revoked.status.as_u16(), 200, "{}", revoked.body);
    let ids = object_ids(&app, &world.ncu_de, &investigation).await;
    assert!(!ids.contains(&bank_report), "withdrawn at once: {ids:?}");
    assert!(ids.contains(&telco_report));
    let one = taxii_get(
        &app,
        &format!("/taxii2/accord/collections/{investigation}/objects/{bank_report}/"),
        Some(&world.ncu_de),
        Some("CASE-TAXII"),
    )
    .await;
    assert_eq!(one.status, 404);

    app.shutdown().await;
}
