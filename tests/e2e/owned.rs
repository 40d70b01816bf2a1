//! Partners own their reports (issue 19): retract, retract indicators, amend; only the submitting partner, and
//! every copy follows (lookup, search, TAXII).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, World, mou, report, spawn_app, world};

const TAXII: &str = "application/taxii+json;version=2.1";

/// Sends a request with extra headers; returns the status, the body and the `ETag`.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (status, response.json().await.unwrap_or(Value::Null), etag)
}

/// The objects of the agency's `investigation` collection, over TAXII as a client reads them.
pub(crate) async fn taxii_objects(app: &TestApp, token: &str) -> Vec<Value> {
    let get = |path: String| {
        app.client
            .get(format!("{}{path}", app.url))
            .basic_auth("taxii-client", Some(token))
            .header("accept", TAXII)
            .header("x-accord-case", "CASE-TAXII")
            .send()
    };
    let collections: Value = get("/taxii2/accord/collections/".to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // An agency no MoU grants anything has no collection, hence no object.
    let Some(collection) = collections["collections"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["title"]
                .as_str()
                .unwrap_or_default()
                .contains("investigation")
        })
    else {
        return Vec::new();
    };
    let path = format!(
        "/taxii2/accord/collections/{}/objects/",
        collection["id"].as_str().unwrap()
    );
    let envelope: Value = get(path).await.unwrap().json().await.unwrap();
    envelope["objects"].as_array().cloned().unwrap_or_default()
}

/// Waits until `check` holds for the agency's TAXII objects, and returns them.
pub(crate) async fn wait_taxii(
    app: &TestApp,
    token: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let objects = taxii_objects(app, token).await;
        if check(&objects) {
            return objects;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "TAXII never satisfied the check: {objects:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until a lookup of `value` finds it in `reports` reports.
async fn wait_reports(app: &TestApp, token: &str, value: &str, reports: u64) {
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let found = app.lookup(token, value, "investigation", "CASE-WAIT").await;
        if found.body["reports_total"] == reports {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{value} never in {reports} reports: {}",
            found.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until `value` is no longer found by the agency.
async fn wait_gone(app: &TestApp, token: &str, value: &str) {
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let response = app.lookup(token, value, "investigation", "CASE-GONE").await;
        if response.status == StatusCode::NOT_FOUND {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{value} is still found: {}",
            response.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Returns the payloads of every record on the topics that carry a report's content (`accord_bus::KEYED_TOPICS`).
async fn bus_payloads(app: &TestApp) -> Vec<String> {
    let mut payloads = Vec::new();
    for topic in accord_bus::KEYED_TOPICS {
        for record in crate::helpers::read_topic(&app.bus, topic).await {
            payloads.push(String::from_utf8_lossy(&record.payload).into_owned());
        }
    }
    payloads
}

/// Waits until no record on the bus holds any of `needles` (the cleaner removes a report's earlier records once
/// every stage has read past its retraction or amendment).
async fn wait_off_the_bus(app: &TestApp, needles: &[&str]) {
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let payloads = bus_payloads(app).await;
        let left: Vec<&String> = payloads
            .iter()
            .filter(|payload| needles.iter().any(|needle| payload.contains(needle)))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still on the bus: {left:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn search_body(q: &str) -> Value {
    json!({ "q": q, "purpose": "investigation", "case": "CASE-S" })
}

/// A world with an MoU releasing bank-a's reports to ncu-de, and a second partner bank-b.
async fn setup(app: &TestApp) -> (World, String) {
    let w = world(app).await;
    app.create_org("bank-b", "partner", "DE").await;
    let other = app.token("bank-b", "partner").await;
    app.create_mou(mou("m-owned", "bank-a", &["ncu-de"], json!({})))
        .await;
    (w, other)
}

#[tokio::test]
async fn a_retracted_report_disappears_everywhere_and_leaves_a_tombstone_with_receipts() {
    let app = spawn_app().await;
    let (w, other) = setup(&app).await;
    let id = app
        .submit(
            &w.partner,
            report("Sinkholed C2", "green", &["203.0.113.77"]),
        )
        .await;
    app.wait_found(&w.ncu_de, "203.0.113.77", "investigation")
        .await;
    app.wait_search(&w.ncu_de, search_body("Sinkholed"), |b| b["total"] == 1)
        .await;
    let report_object = |objects: &[Value]| {
        objects
            .iter()
            .any(|o| o["type"] == "report" && o["name"] == "Sinkholed C2")
    };
    wait_taxii(&app, &w.ncu_de, report_object).await;

    // Non-interference: another partner, and an unknown id, get the same 404.
    let path = format!("/v1/reports/{id}");
    let body = json!({ "reason": "false-positive", "detail": "a sinkhole" });
    let (theirs, theirs_body, _) =
        send(&app, Method::DELETE, &path, &other, &[], Some(body.clone())).await;
    let unknown = "/v1/reports/report--00000000-0000-4000-8000-000000000000";
    let (none, none_body, _) = send(
        &app,
        Method::DELETE,
        unknown,
        &other,
        &[],
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        (theirs, none),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(theirs_body, none_body);
    let (put, _, _) = send(
        &app,
        Method::PUT,
        &path,
        &other,
        &[],
        Some(report("x", "green", &[])),
    )
    .await;
    assert_eq!(put, StatusCode::NOT_FOUND);
    // A bad reason names the field.
    let (bad, bad_body, _) = send(
        &app,
        Method::DELETE,
        &path,
        &w.partner,
        &[],
        Some(json!({ "reason": "oops" })),
    )
    .await;
    assert_eq!(bad, StatusCode::UNPROCESSABLE_ENTITY, "{bad_body}");
    assert_eq!(bad_body["errors"][0]["pointer"], "/reason");

    let (status, accepted, _) = send(
        &app,
        Method::DELETE,
        &path,
        &w.partner,
        &[],
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["status"], "retracted");

    let wait_receipts = async {
        let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
        loop {
            let status = app.get(&path, &w.partner).await.body;
            if status["withdrawals"]
                .as_array()
                .is_some_and(|w| !w.is_empty())
            {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no receipt: {status}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let tombstone = wait_receipts.await;
    assert_eq!(tombstone["status"], "retracted", "{tombstone}");
    assert_eq!(tombstone["retraction"]["reason"], "false-positive");
    assert_eq!(tombstone["retraction"]["detail"], "a sinkhole");
    assert_eq!(tombstone["released_to"], json!([]));
    assert_eq!(tombstone["withdrawals"][0]["agency"], "ncu-de");
    assert_eq!(
        tombstone["withdrawals"][0]["reason"],
        "retracted by the partner (false-positive)"
    );
    wait_gone(&app, &w.ncu_de, "203.0.113.77").await;
    app.wait_search(&w.ncu_de, search_body("Sinkholed"), |b| b["total"] == 0)
        .await;
    wait_taxii(&app, &w.ncu_de, |objects| !report_object(objects)).await;
    // TAXII pollers that copied the report get its objects again, revoked; an agency never shown it gets nothing.
    let revoked = wait_taxii(&app, &w.ncu_de, |objects| {
        objects
            .iter()
            .any(|o| o["id"] == id.as_str() && o["revoked"] == true)
    })
    .await;
    let revoked_report = revoked.iter().find(|o| o["id"] == id.as_str()).unwrap();
    // Only what STIX 2.1 requires, in neutral values: nothing of the report's content.
    assert_eq!(
        revoked_report["name"], "Retracted report",
        "{revoked_report}"
    );
    assert!(!revoked_report.to_string().contains("Sinkholed"));
    assert!(
        !revoked
            .iter()
            .any(|o| o["revoked"] == true && o.to_string().contains("203.0.113.77"))
    );
    assert!(
        revoked
            .iter()
            .any(|o| o["type"] == "indicator" && o["revoked"] == true),
        "{revoked:?}"
    );
    assert!(
        taxii_objects(&app, &w.ncu_fr)
            .await
            .iter()
            .all(|o| o["id"] != id.as_str())
    );
    // Oversight: the retraction is in the trail, with who and why, without the report's content.
    let auditor = app.token("accord-admin", "auditor").await;
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    let record = loop {
        let trail = app.get("/v1/audit", &auditor).await.body;
        let found = trail["records"].as_array().and_then(|records| {
            records
                .iter()
                .find(|r| r["endpoint"] == "DELETE /v1/reports/{id}")
                .cloned()
        });
        if let Some(record) = found {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no audit record: {trail}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(record["organization"], "bank-a", "{record}");
    assert_eq!(record["query"]["report"], id.as_str());
    assert_eq!(record["query"]["reason"], "false-positive");
    assert!(!record.to_string().contains("Sinkholed"), "{record}");
    // The report's records leave the bus: only its retraction and the release set that withdrew it stay.
    wait_off_the_bus(&app, &["Sinkholed", "203.0.113.77"]).await;
    assert!(
        bus_payloads(&app)
            .await
            .iter()
            .any(|p| p.contains(id.as_str())),
        "the retraction stays"
    );

    // Retracting again changes nothing; a retracted report cannot be amended; others still see 404.
    let (again, _, _) = send(&app, Method::DELETE, &path, &w.partner, &[], Some(body)).await;
    assert_eq!(again, StatusCode::ACCEPTED);
    let (amend, _, _) = send(
        &app,
        Method::PUT,
        &path,
        &w.partner,
        &[],
        Some(report("Back", "green", &["203.0.113.77"])),
    )
    .await;
    assert_eq!(amend, StatusCode::CONFLICT);
    assert_eq!(app.get(&path, &other).await.status, StatusCode::NOT_FOUND);
}

/// Two gateways (decision 0077): one accepted the retraction while another, whose status had not heard of it yet,
/// accepted an amendment, which the bus has after the retraction. Compaction keeps a report's last record, so the
/// gateway's status follower publishes the retraction again; nothing is released meanwhile.
#[tokio::test]
async fn an_amendment_another_gateway_put_after_the_retraction_brings_the_retraction_back() {
    let app = spawn_app().await;
    let (w, _) = setup(&app).await;
    let id = app
        .submit(
            &w.partner,
            report("Doubly sent", "green", &["198.51.100.91"]),
        )
        .await;
    app.wait_found(&w.ncu_de, "198.51.100.91", "investigation")
        .await;
    // What the other gateway will publish: the report's raw record as a version 2, with another title.
    let raw = crate::helpers::read_topic(&app.bus, accord_domain::topics::REPORTS_RAW)
        .await
        .into_iter()
        .find(|record| record.key.as_deref() == Some(id.as_str()))
        .unwrap();
    let mut amendment: Value = serde_json::from_slice(&raw.payload).unwrap();
    amendment["payload"]["title"] = json!("Amended elsewhere");
    amendment["revision"] =
        json!({ "version": 2, "by": "tok-other", "at": "2026-12-07T09:00:00Z" });
    let path = format!("/v1/reports/{id}");
    let body = json!({ "reason": "sent-in-error" });
    let (status, _, _) = send(&app, Method::DELETE, &path, &w.partner, &[], Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut record = accord_bus::Record::new(id.as_str(), serde_json::to_vec(&amendment).unwrap());
    record.headers = raw.headers.clone();
    app.bus
        .publish(accord_domain::topics::REPORTS_RAW, vec![record])
        .await
        .unwrap();
    // The retraction is published again after the amendment: it is the report's last record once more.
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let records =
            crate::helpers::read_topic(&app.bus, accord_domain::topics::REPORTS_RAW).await;
        let last = records
            .iter()
            .rev()
            .find(|record| record.key.as_deref() == Some(id.as_str()))
            .unwrap();
        if accord_domain::control::is_control(&last.headers) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the amendment is still the report's last record"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    wait_off_the_bus(&app, &["Amended elsewhere", "Doubly sent"]).await;
    let search = app
        .search(&w.ncu_de, search_body("\"Amended elsewhere\""))
        .await;
    assert_eq!(search.body["total"], 0, "{}", search.body);
    let lookup = app
        .lookup(&w.ncu_de, "198.51.100.91", "investigation", "CASE-TWO")
        .await;
    assert_eq!(lookup.status, StatusCode::NOT_FOUND, "{}", lookup.body);
    let status = app.get(&path, &w.partner).await;
    assert_eq!(status.body["status"], "retracted", "{}", status.body);
}

#[tokio::test]
async fn a_retraction_racing_its_report_leaves_nothing_visible() {
    let app = spawn_app().await;
    let (w, _) = setup(&app).await;
    let id = app
        .submit(
            &w.partner,
            report("Sent in error", "green", &["198.51.100.201"]),
        )
        .await;
    let (status, body, _) = send(
        &app,
        Method::DELETE,
        &format!("/v1/reports/{id}"),
        &w.partner,
        &[],
        Some(json!({ "reason": "sent-in-error" })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // A later report of the same partner is processed after the retraction in every stage: once it is found, the
    // retraction has been acted on.
    app.submit(&w.partner, report("Later", "green", &["198.51.100.202"]))
        .await;
    app.wait_found(&w.ncu_de, "198.51.100.202", "investigation")
        .await;
    let lookup = app
        .lookup(&w.ncu_de, "198.51.100.201", "investigation", "CASE-RACE")
        .await;
    assert_eq!(lookup.status, StatusCode::NOT_FOUND, "{}", lookup.body);
    let search = app
        .search(&w.ncu_de, search_body("\"Sent in error\""))
        .await;
    assert_eq!(search.body["total"], 0, "{}", search.body);
    let status = app.get(&format!("/v1/reports/{id}"), &w.partner).await;
    assert_eq!(status.body["status"], "retracted", "{}", status.body);
}

#[tokio::test]
async fn retracted_indicator_values_leave_every_report_of_the_partner_and_its_text() {
    let app = spawn_app().await;
    let (w, other) = setup(&app).await;
    let mut first = report("CDN one", "green", &["192.0.2.44", "evil-one.example"]);
    first["description"] = json!("Beacons to 192.0.2[.]44 (a shared CDN) and evil-one[.]example");
    app.submit(&w.partner, first).await;
    app.submit(
        &w.partner,
        report("CDN two", "green", &["192.0.2.44", "evil-two.example"]),
    )
    .await;
    app.wait_search(&w.ncu_de, search_body("CDN"), |b| b["total"] == 2)
        .await;
    app.wait_found(&w.ncu_de, "192.0.2.44", "investigation")
        .await;

    // Bounded and canonicalized as indicators are; only partners; the field is named.
    let too_many: Vec<String> = (0..10_001)
        .map(|n| format!("10.{}.{}.1", n / 256, n % 256))
        .collect();
    let refused = app
        .post(
            "/v1/indicators/retract",
            &w.partner,
            json!({ "values": too_many, "reason": "false-positive" }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["errors"][0]["pointer"], "/values");
    let invalid = app
        .post(
            "/v1/indicators/retract",
            &w.partner,
            json!({ "values": ["999.1.1.1"], "reason": "other" }),
        )
        .await;
    assert_eq!(
        invalid.body["errors"][0]["pointer"], "/values/0",
        "{}",
        invalid.body
    );
    let agency = app
        .post(
            "/v1/indicators/retract",
            &w.ncu_de,
            json!({ "values": ["192.0.2.44"], "reason": "other" }),
        )
        .await;
    assert_eq!(agency.status, StatusCode::FORBIDDEN);
    // Another partner retracting the value changes nothing of bank-a's reports: once bank-b's own report has lost
    // it, bank-a's two still carry it.
    app.create_mou(mou("m-other", "bank-b", &["ncu-de"], json!({})))
        .await;
    app.submit(
        &other,
        report("Marker", "green", &["192.0.2.44", "198.51.100.250"]),
    )
    .await;
    wait_reports(&app, &w.ncu_de, "192.0.2.44", 3).await;
    let theirs = app
        .post(
            "/v1/indicators/retract",
            &other,
            json!({ "values": ["192.0.2.44"], "reason": "other" }),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::ACCEPTED);
    wait_reports(&app, &w.ncu_de, "192.0.2.44", 2).await;
    app.wait_found(&w.ncu_de, "198.51.100.250", "investigation")
        .await;

    let accepted = app
        .post(
            "/v1/indicators/retract",
            &w.partner,
            json!({ "values": ["192.0.2[.]44"], "reason": "false-positive" }),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    assert_eq!(accepted.body["values"], 1);
    wait_gone(&app, &w.ncu_de, "192.0.2.44").await;
    app.wait_found(&w.ncu_de, "evil-one.example", "investigation")
        .await;
    app.wait_found(&w.ncu_de, "evil-two.example", "investigation")
        .await;
    let hits = app
        .wait_search(&w.ncu_de, search_body("CDN"), |b| b["total"] == 2)
        .await;
    let text = hits.to_string();
    assert!(!text.contains("192.0.2"), "{hits}");
    assert!(
        text.contains("[retracted]") && text.contains("evil-one"),
        "{hits}"
    );
    // A retraction is about what was shared, not a block list: a report sent afterwards keeps the value.
    app.submit(
        &w.partner,
        report("CDN three", "green", &["192.0.2.44", "evil-three.example"]),
    )
    .await;
    let again = app
        .wait_found(&w.ncu_de, "192.0.2.44", "investigation")
        .await;
    assert_eq!(again["reports_total"], 1, "{again}");
}

#[tokio::test]
async fn an_amendment_replaces_what_agencies_see_and_if_match_guards_it() {
    let app = spawn_app().await;
    let (w, _) = setup(&app).await;
    let id = app
        .submit(
            &w.partner,
            report(
                "First version",
                "green",
                &["198.51.100.31", "198.51.100.32"],
            ),
        )
        .await;
    app.wait_found(&w.ncu_de, "198.51.100.31", "investigation")
        .await;
    let path = format!("/v1/reports/{id}");
    let (_, status, etag) = send(&app, Method::GET, &path, &w.partner, &[], None).await;
    assert_eq!(
        (status["version"].clone(), etag.as_deref()),
        (json!(1), Some("\"1\""))
    );
    let before = wait_taxii(&app, &w.ncu_de, |o| {
        o.iter().any(|o| o["name"] == "First version")
    })
    .await;
    let modified = |objects: &[Value], name: &str| {
        objects
            .iter()
            .find(|o| o["type"] == "report" && o["name"] == name)
            .map(|o| o["modified"].as_str().unwrap().to_owned())
    };
    let first_modified = modified(&before, "First version").unwrap();
    let indicator_id = |objects: &[Value], value: &str| {
        objects
            .iter()
            .find(|o| o["type"] == "indicator" && o["name"] == value)
            .map(|o| o["id"].as_str().unwrap().to_owned())
    };
    let removed = indicator_id(&before, "198.51.100.31").unwrap();
    let kept = indicator_id(&before, "198.51.100.32").unwrap();

    let amended = report(
        "Second version",
        "green",
        &["198.51.100.32", "198.51.100.33"],
    );
    let (status, body, etag) = send(
        &app,
        Method::PUT,
        &path,
        &w.partner,
        &[("if-match", "\"1\"")],
        Some(amended.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        (body["version"].clone(), etag.as_deref()),
        (json!(2), Some("\"2\""))
    );
    let (stale, stale_body, _) = send(
        &app,
        Method::PUT,
        &path,
        &w.partner,
        &[("if-match", "\"1\"")],
        Some(amended),
    )
    .await;
    assert_eq!(stale, StatusCode::PRECONDITION_FAILED, "{stale_body}");
    // The classification guard applies to amendments too.
    let mut classified = report("Secret", "green", &[]);
    classified["classification"] = json!("secret");
    let (refused, _, _) = send(&app, Method::PUT, &path, &w.partner, &[], Some(classified)).await;
    assert_eq!(refused, StatusCode::UNPROCESSABLE_ENTITY);

    app.wait_found(&w.ncu_de, "198.51.100.33", "investigation")
        .await;
    wait_gone(&app, &w.ncu_de, "198.51.100.31").await;
    let found = app
        .wait_found(&w.ncu_de, "198.51.100.32", "investigation")
        .await;
    assert_eq!(found["reports"][0]["title"], "Second version", "{found}");
    app.wait_search(&w.ncu_de, search_body("\"First version\""), |b| {
        b["total"] == 0
    })
    .await;
    let after = wait_taxii(&app, &w.ncu_de, |o| modified(o, "Second version").is_some()).await;
    assert!(modified(&after, "First version").is_none());
    assert!(modified(&after, "Second version").unwrap() > first_modified);
    // The indicator the partner removed comes back revoked; the one it kept is served as released.
    let after = wait_taxii(&app, &w.ncu_de, |o| {
        o.iter()
            .any(|o| o["id"] == removed.as_str() && o["revoked"] == true)
    })
    .await;
    let kept_object = after.iter().find(|o| o["id"] == kept.as_str()).unwrap();
    assert!(kept_object.get("revoked").is_none(), "{kept_object}");
    assert_eq!(after.iter().filter(|o| o["id"] == kept.as_str()).count(), 1);
    let status = app.wait_status(&w.partner, &id, &["released"]).await;
    assert_eq!(status["version"], 2, "{status}");
    assert!(
        status["amended_by"].is_string() && status["amended_at"].is_string(),
        "{status}"
    );
    assert_eq!(status["title"], "Second version");
    // The first version's records leave the bus.
    wait_off_the_bus(&app, &["First version", "198.51.100.31"]).await;
    // Oversight: the amendment is in the trail, with who and the version.
    let auditor = app.token("accord-admin", "auditor").await;
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let trail = app.get("/v1/audit", &auditor).await.body;
        let amended = trail["records"].as_array().into_iter().flatten().any(|r| {
            r["endpoint"] == "PUT /v1/reports/{id}"
                && r["query"]["report"] == id.as_str()
                && r["query"]["version"] == 2
                && r["organization"] == "bank-a"
        });
        if amended {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no audit record: {trail}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
