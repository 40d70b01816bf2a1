//! Partial acceptance, per object (issue 13 item 2; docs/decisions/0037-lenient-handling.md): a STIX 2.1 bundle of
//! dozens of objects, one of whose patterns compares `domain-name:value` with a value that is not a domain, is refused
//! whole by default, accepted without that object with `Prefer: handling=lenient` (and always over TAXII, where the
//! object is a failure of the status resource); every other indicator is searchable by the MoU's agency, nothing of
//! the bad object is. What is never lenient (a classified marking, a malformed document, nothing valid left) still
//! refuses the whole submission, and nothing of it reaches the bus.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, mou, report, spawn_app, world};

const STIX: &str = "application/stix+json;version=2.1";
const TAXII: &str = "application/taxii+json;version=2.1";
const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const GOOD_DOMAINS: u32 = 24;
/// The index of the bad indicator in the bundle's objects.
const BAD: usize = 14;
const BAD_ID: &str = "indicator--00000000-0000-4000-8000-00000000bad0";
/// An IP compared in the bad pattern beside the bad domain: left out with its object.
const BAD_IP: &str = "203.0.113.99";

fn id(kind: &str, n: u32) -> String {
    format!("{kind}--00000000-0000-4000-8000-{n:012}")
}

fn indicator(id: &str, pattern: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1", "id": id,
        "created": "2026-11-20T09:00:00.000Z", "modified": "2026-11-20T09:00:00.000Z",
        "name": "Phishing kit host", "pattern": pattern, "pattern_type": "stix",
        "valid_from": "2026-11-19T00:00:00Z", "indicator_types": ["malicious-activity"],
        "object_marking_refs": [AMBER],
    })
}

fn good_domain(n: u32) -> String {
    format!("kit-{n}.lenient.example")
}

/// The bundle's objects: a report, an identity, malware, an attack pattern, relationships, ipv4 observables, 24
/// domain indicators and, at [`BAD`], one whose pattern compares `domain-name:value` with a URL.
fn objects() -> Vec<Value> {
    let marked = |mut object: Value| {
        object["spec_version"] = json!("2.1");
        object["created"] = json!("2026-11-20T09:00:00.000Z");
        object["modified"] = json!("2026-11-20T09:00:00.000Z");
        object["object_marking_refs"] = json!([AMBER]);
        object
    };
    let mut objects = vec![
        marked(
            json!({ "type": "report", "id": id("report", 1), "name": "Kit wave against Bank A",
            "published": "2026-11-20T10:00:00Z", "report_types": ["campaign"], "object_refs": [id("malware", 3)] }),
        ),
        marked(
            json!({ "type": "identity", "id": id("identity", 2), "name": "Bank A CERT", "identity_class": "organization" }),
        ),
        marked(
            json!({ "type": "malware", "id": id("malware", 3), "name": "KitLoader", "is_family": true }),
        ),
        marked(
            json!({ "type": "attack-pattern", "id": id("attack-pattern", 4), "name": "Spearphishing Link",
            "external_references": [{ "source_name": "mitre-attack", "external_id": "T1566.002" }] }),
        ),
    ];
    for n in 0..4 {
        objects.push(marked(
            json!({ "type": "ipv4-addr", "id": id("ipv4-addr", 10 + n),
            "value": format!("198.51.100.{}", 40 + n) }),
        ));
    }
    for n in 0..GOOD_DOMAINS {
        objects.push(indicator(
            &id("indicator", 100 + n),
            &format!("[domain-name:value = '{}']", good_domain(n)),
        ));
    }
    objects.insert(
        BAD,
        indicator(
            BAD_ID,
            &format!("[domain-name:value = 'login.bank-a.example/verify'] OR [ipv4-addr:value = '{BAD_IP}']"),
        ),
    );
    for n in 0..4 {
        objects.push(marked(json!({ "type": "relationship", "id": id("relationship", 200 + n),
            "relationship_type": "indicates", "source_ref": id("indicator", 100 + n), "target_ref": id("malware", 3) })));
    }
    objects
}

fn bundle(objects: Vec<Value>) -> Vec<u8> {
    let bundle = json!({ "type": "bundle", "id": "bundle--6b8f0a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "objects": objects });
    serde_json::to_vec(&bundle).unwrap()
}

/// Posts a body to `POST /v1/reports` with a media type, an optional `Prefer` and an optional `Idempotency-Key`;
/// returns the response and its `Preference-Applied` header.
async fn post(
    app: &TestApp,
    token: &str,
    media: &str,
    body: &[u8],
    prefer: Option<&str>,
    key: Option<&str>,
) -> (Response, Option<String>) {
    let mut request = app
        .client
        .post(format!("{}/v1/reports", app.url))
        .bearer_auth(token)
        .header("content-type", media)
        .body(body.to_vec());
    if let Some(prefer) = prefer {
        request = request.header("prefer", prefer);
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, applied) = (
        header("content-type").unwrap_or_default(),
        header("preference-applied"),
    );
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (
        Response {
            status,
            body,
            content_type,
        },
        applied,
    )
}

async fn raw_end(app: &TestApp) -> u64 {
    app.bus
        .end_offsets(accord_domain::topics::REPORTS_RAW)
        .await
        .unwrap()[0]
        .offset
}

/// Every good indicator of [`objects`] is found by the agency; nothing of the bad object is.
async fn only_the_valid_part_is_searchable(app: &TestApp, agency: &str) {
    app.wait_found(agency, &good_domain(GOOD_DOMAINS - 1), "investigation")
        .await;
    let mut values: Vec<String> = (0..GOOD_DOMAINS).map(good_domain).collect();
    values.extend((0..4).map(|n| format!("198.51.100.{}", 40 + n)));
    for value in values {
        let found = app
            .lookup(agency, &value, "investigation", "CASE-LENIENT")
            .await;
        assert_eq!(found.status, StatusCode::OK, "{value}: {}", found.body);
    }
    let bad = app
        .lookup(agency, BAD_IP, "investigation", "CASE-LENIENT")
        .await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND, "{}", bad.body);
    let bad_domain = app
        .lookup(
            agency,
            "login.bank-a.example",
            "investigation",
            "CASE-LENIENT",
        )
        .await;
    assert_eq!(
        bad_domain.status,
        StatusCode::NOT_FOUND,
        "{}",
        bad_domain.body
    );
}

#[tokio::test]
async fn a_bundle_with_one_bad_pattern_is_refused_by_default_and_accepted_leniently_without_it() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("mou-lenient", "bank-a", &["ncu-de"], json!({})))
        .await;
    let body = bundle(objects());
    let pointer = format!("/objects/{BAD}/pattern");

    let before = raw_end(&app).await;
    let (strict, applied) = post(&app, &w.partner, STIX, &body, None, None).await;
    assert_eq!(
        strict.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        strict.body
    );
    assert_eq!(applied, None);
    assert_eq!(strict.body["errors"][0]["pointer"], pointer.as_str());
    assert!(
        strict.body["detail"].as_str().unwrap().contains(BAD_ID),
        "{}",
        strict.body
    );
    let (explicit, _) = post(&app, &w.partner, STIX, &body, Some("handling=strict"), None).await;
    assert_eq!(explicit.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        raw_end(&app).await,
        before,
        "nothing refused reaches the bus"
    );

    let prefer = Some("respond-async, handling=lenient");
    let (lenient, applied) = post(&app, &w.partner, STIX, &body, prefer, Some("wave-1")).await;
    assert_eq!(lenient.status, StatusCode::ACCEPTED, "{}", lenient.body);
    assert_eq!(applied.as_deref(), Some("handling=lenient"));
    let warnings = lenient.body["warnings"].as_array().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{}", lenient.body);
    assert_eq!(warnings[0]["pointer"], pointer.as_str());
    let message = warnings[0]["message"].as_str().unwrap();
    assert!(
        message.contains(BAD_ID) && message.contains("login.bank-a.example/verify"),
        "{message}"
    );
    let id = lenient.body["id"].as_str().unwrap().to_owned();

    // The same body with the same preference answers the same; with another preference the key is refused.
    let (again, applied) = post(&app, &w.partner, STIX, &body, prefer, Some("wave-1")).await;
    assert_eq!(
        (again.status, applied.as_deref()),
        (StatusCode::ACCEPTED, Some("handling=lenient"))
    );
    assert_eq!(again.body["id"], id.as_str());
    assert_eq!(again.body["warnings"], json!(warnings));
    let (other, _) = post(&app, &w.partner, STIX, &body, None, Some("wave-1")).await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.body
    );
    assert_eq!(raw_end(&app).await, before + 1, "one report on the bus");

    let status = app.wait_status(&w.partner, &id, &["released"]).await;
    assert_eq!(status["warnings"], json!(warnings), "{status}");
    assert_eq!(status["released_to"], json!(["ncu-de"]));
    only_the_valid_part_is_searchable(&app, &w.ncu_de).await;
    let outsider = app
        .lookup(
            &w.outsider,
            &good_domain(0),
            "investigation",
            "CASE-LENIENT",
        )
        .await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND);
}

/// Sends a TAXII request as a TAXII client does: HTTP Basic, the token as password.
async fn taxii(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.url))
        .basic_auth("taxii-client", Some(token))
        .header("accept", TAXII);
    if let Some(body) = body {
        request = request.header("content-type", TAXII).body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn taxii_add_objects_lists_the_bad_object_in_failures_and_the_rest_in_successes() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("mou-lenient", "bank-a", &["ncu-de"], json!({})))
        .await;
    let (_, collections) = taxii(
        &app,
        &w.partner,
        reqwest::Method::GET,
        "/taxii2/accord/collections/",
        None,
    )
    .await;
    let inbox = collections["collections"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/taxii2/accord/collections/{inbox}/objects/");
    let objects = objects();
    let total = objects.len();

    let before = raw_end(&app).await;
    let (status, added) = taxii(
        &app,
        &w.partner,
        reqwest::Method::POST,
        &path,
        Some(json!({ "objects": objects })),
    )
    .await;
    assert_eq!(status, 202, "{added}");
    assert_eq!(
        (
            added["total_count"].as_u64(),
            added["failure_count"].as_u64()
        ),
        (Some(total as u64), Some(1))
    );
    assert_eq!(added["failures"][0]["id"], BAD_ID);
    let failure = added["failures"][0]["message"].as_str().unwrap();
    assert!(
        failure.contains(&format!("/objects/{BAD}/pattern")),
        "the field is named: {failure}"
    );

    let status_path = format!("/taxii2/accord/status/{}/", added["id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    let complete = loop {
        let (_, resource) = taxii(&app, &w.partner, reqwest::Method::GET, &status_path, None).await;
        if resource["status"] == "complete" {
            break resource;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never complete: {resource}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        complete["success_count"].as_u64(),
        Some(total as u64 - 1),
        "{complete}"
    );
    assert_eq!(complete["failure_count"], 1);
    assert_eq!(complete["failures"][0]["id"], BAD_ID);
    let successes: Vec<&str> = complete["successes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(!successes.contains(&BAD_ID) && successes.contains(&id("report", 1).as_str()));
    only_the_valid_part_is_searchable(&app, &w.ncu_de).await;

    // A classified marking refuses the whole envelope, lenient or not; so does an envelope with no valid object.
    let mut classified = self::objects();
    classified.push(json!({ "type": "marking-definition", "spec_version": "2.1", "id": id("marking-definition", 9),
        "created": "2026-11-20T09:00:00.000Z", "definition_type": "statement",
        "definition": { "statement": "NATO SECRET - releasable to partners" } }));
    let (status, refused) = taxii(
        &app,
        &w.partner,
        reqwest::Method::POST,
        &path,
        Some(json!({ "objects": classified })),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["description"]
            .as_str()
            .unwrap()
            .contains("classified"),
        "{refused}"
    );
    let bad_only = vec![self::objects().swap_remove(BAD)];
    let (status, refused) = taxii(
        &app,
        &w.partner,
        reqwest::Method::POST,
        &path,
        Some(json!({ "objects": bad_only })),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        raw_end(&app).await,
        before + 1,
        "only the first envelope reached the bus"
    );
}

#[tokio::test]
async fn native_reports_and_misp_events_leave_out_what_is_invalid_and_never_what_is_classified() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("mou-lenient", "bank-a", &["ncu-de"], json!({})))
        .await;
    let lenient = Some("handling=lenient");
    let mut native = report(
        "Native slip",
        "amber",
        &["native-good.lenient.example", "198.51.100.77"],
    );
    native["indicators"]
        .as_array_mut()
        .unwrap()
        .insert(1, json!({ "type": "domain-name", "value": "not a domain" }));
    let body = serde_json::to_vec(&native).unwrap();
    let (strict, _) = post(&app, &w.partner, "application/json", &body, None, None).await;
    assert_eq!(strict.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(strict.body["errors"][0]["pointer"], "/indicators/1/value");
    let (accepted, applied) =
        post(&app, &w.partner, "application/json", &body, lenient, None).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    assert_eq!(applied.as_deref(), Some("handling=lenient"));
    assert_eq!(
        accepted.body["warnings"][0]["pointer"],
        "/indicators/1/value"
    );
    let id = accepted.body["id"].as_str().unwrap();
    let status = app.wait_status(&w.partner, id, &["released"]).await;
    assert_eq!(
        status["indicators"].as_u64().map(|n| n >= 2),
        Some(true),
        "{status}"
    );
    assert_eq!(status["warnings"][0]["pointer"], "/indicators/1/value");
    app.wait_found(&w.ncu_de, "native-good.lenient.example", "investigation")
        .await;
    app.wait_found(&w.ncu_de, "198.51.100.77", "investigation")
        .await;

    let event = json!({ "Event": { "info": "MISP slip", "date": "2026-11-20", "Tag": [{ "name": "tlp:amber" }],
        "Attribute": [
            { "type": "domain", "value": "misp-good.lenient.example" },
            { "type": "ip-dst", "value": "misp-not-an-ip.example" },
        ] } });
    let body = serde_json::to_vec(&event).unwrap();
    let (accepted, _) = post(
        &app,
        &w.partner,
        "application/vnd.misp+json",
        &body,
        lenient,
        None,
    )
    .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    assert_eq!(
        accepted.body["warnings"][0]["pointer"],
        "/Event/Attribute/1/value"
    );
    app.wait_found(&w.ncu_de, "misp-good.lenient.example", "investigation")
        .await;

    // Never lenient: a classified report, nothing valid left, a malformed document.
    let before = raw_end(&app).await;
    let mut classified = native.clone();
    classified["classification"] = json!("secret");
    let body = serde_json::to_vec(&classified).unwrap();
    let (refused, applied) = post(&app, &w.partner, "application/json", &body, lenient, None).await;
    assert_eq!(
        (refused.status, applied),
        (StatusCode::UNPROCESSABLE_ENTITY, None)
    );
    assert_eq!(refused.body["errors"][0]["pointer"], "/classification");
    let nothing_left = report("Nothing left", "amber", &[]);
    let mut nothing_left = nothing_left;
    nothing_left["indicators"] = json!([{ "type": "domain-name", "value": "not a domain" }]);
    let body = serde_json::to_vec(&nothing_left).unwrap();
    let (refused, _) = post(&app, &w.partner, "application/json", &body, lenient, None).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(refused.body["errors"][0]["pointer"], "/indicators/0/value");
    let (malformed, _) = post(
        &app,
        &w.partner,
        STIX,
        b"{\"type\": \"bundle\",",
        lenient,
        None,
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        raw_end(&app).await,
        before,
        "nothing refused reaches the bus"
    );
}
