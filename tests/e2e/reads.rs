//! What the web console reads, over the API it shares with every client: `GET /v1/me`, the audit record of every
//! answer, related indicators, the report and category filters, exports, one's own recent requests, and a
//! partner's list of its reports.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, mou, report, spawn_app, urlencode, world};

/// A raw answer: status, headers and bytes.
struct Raw {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn audit_record(&self) -> u64 {
        self.headers
            .get("x-accord-audit-record")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no audit record header ({})", self.status))
    }
}

async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Raw {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    Raw {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

#[tokio::test]
async fn me_names_the_token_and_the_purposes_its_mous_grant() {
    let app = spawn_app().await;
    let world = world(&app).await;
    app.create_mou(mou("m-1", "bank-a", &["ncu-de"], json!({})))
        .await;

    let me = app.get("/v1/me", &world.ncu_de).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["role"], "investigator");
    assert_eq!(me.body["organization"]["id"], "ncu-de");
    assert_eq!(me.body["organization"]["kind"], "agency");
    assert_eq!(me.body["purposes"], json!(["investigation", "prosecution"]));

    let outsider = app.get("/v1/me", &world.outsider).await;
    assert_eq!(outsider.body["purposes"], json!([]), "no MoU, no purpose");
    let partner = app.get("/v1/me", &world.partner).await;
    assert_eq!(partner.body["role"], "partner");
    assert_eq!(partner.body["organization"]["name"], "BANK-A");
    let nobody = app.get("/v1/me", "acc_not-a-token").await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn answers_carry_their_audit_record_and_the_caller_reads_its_own_requests() {
    let app = spawn_app().await;
    let world = world(&app).await;
    app.create_mou(mou("m-1", "bank-a", &["ncu-de"], json!({})))
        .await;
    app.submit(
        &world.partner,
        report("Related", "amber", &["198.51.100.7", "related.example.org"]),
    )
    .await;
    app.wait_found(&world.ncu_de, "198.51.100.7", "investigation")
        .await;

    let path = format!(
        "/v1/indicators/{}?purpose=investigation&case=CASE-R&include=indicators",
        urlencode("198.51.100[.]7")
    );
    let found = raw(&app, reqwest::Method::GET, &path, &world.ncu_de, None).await;
    assert_eq!(found.status, StatusCode::OK);
    let found_record = found.audit_record();
    let indicators = &found.json()["reports"][0]["indicators"];
    assert!(
        indicators
            .as_array()
            .unwrap()
            .iter()
            .any(|indicator| indicator["value"] == "related.example.org"),
        "related indicators are listed: {indicators}"
    );
    let plain = app
        .lookup(&world.ncu_de, "198.51.100.7", "investigation", "CASE-R")
        .await;
    assert!(plain.body["reports"][0].get("indicators").is_none());
    let bad = raw(
        &app,
        reqwest::Method::GET,
        "/v1/indicators/198.51.100.7?purpose=investigation&case=C&include=everything",
        &world.ncu_de,
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let missing = raw(
        &app,
        reqwest::Method::GET,
        "/v1/indicators/203.0.113.250?purpose=investigation&case=CASE-R",
        &world.ncu_de,
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let missing_record = missing.audit_record();
    assert!(missing_record > found_record);

    let mine = app.get("/v1/audit/mine?limit=5", &world.ncu_de).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    let records = mine.body["records"].as_array().unwrap();
    assert_eq!(records[0]["seq"], missing_record, "newest first");
    assert!(records.iter().any(|record| record["seq"] == found_record));
    let theirs = app.get("/v1/audit/mine", &world.outsider).await;
    assert_eq!(theirs.body["records"], json!([]), "only one's own records");
}

#[tokio::test]
async fn search_filters_by_report_and_category_over_rechecked_hits() {
    let app = spawn_app().await;
    let world = world(&app).await;
    app.create_mou(mou("m-1", "bank-a", &["ncu-de"], json!({})))
        .await;
    let phishing = app
        .submit(&world.partner, report("Phish", "amber", &["192.0.2.10"]))
        .await;
    let mut ransom = report("Ransom", "amber", &["192.0.2.11"]);
    ransom["categories"] = json!(["ransomware"]);
    let ransom = app.submit(&world.partner, ransom).await;
    app.wait_found(&world.ncu_de, "192.0.2.10", "investigation")
        .await;
    app.wait_found(&world.ncu_de, "192.0.2.11", "investigation")
        .await;

    let search = |extra: Value| {
        let mut body = json!({ "purpose": "investigation", "case": "CASE-F" });
        if let (Value::Object(base), Value::Object(extra)) = (&mut body, extra) {
            base.extend(extra);
        }
        body
    };
    let ids = |answer: &Value| -> Vec<String> {
        answer["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| hit["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let by_category = app
        .search(
            &world.ncu_de,
            search(json!({ "filters": { "category": "Ransomware" } })),
        )
        .await;
    assert_eq!(by_category.status, StatusCode::OK, "{}", by_category.body);
    assert_eq!(
        (by_category.body["total"].clone(), ids(&by_category.body)),
        (json!(1), vec![ransom.clone()])
    );
    let in_q = app
        .search(&world.ncu_de, search(json!({ "q": "category:phishing" })))
        .await;
    assert_eq!(ids(&in_q.body), vec![phishing.clone()]);
    let by_report = app
        .search(
            &world.ncu_de,
            search(json!({ "filters": { "report": phishing } })),
        )
        .await;
    assert_eq!(ids(&by_report.body), vec![phishing.clone()]);
    let in_q = app
        .search(
            &world.ncu_de,
            search(json!({ "q": format!("report:{ransom}") })),
        )
        .await;
    assert_eq!(ids(&in_q.body), vec![ransom]);
    let outsider = app
        .search(
            &world.outsider,
            search(json!({ "filters": { "report": phishing } })),
        )
        .await;
    assert_eq!(
        outsider.body["total"], 0,
        "another agency finds nothing by id"
    );
    let unknown = app
        .search(
            &world.ncu_de,
            search(json!({ "filters": { "category": ["phishing", "gossip"] } })),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.body["errors"][0]["pointer"], "/filters/category/1");
}

#[tokio::test]
async fn exports_hold_the_whole_result_set_and_are_audited() {
    let app = spawn_app().await;
    let world = world(&app).await;
    app.create_mou(mou("m-1", "bank-a", &["ncu-de"], json!({})))
        .await;
    let mut hostile = report(
        "=HYPERLINK(\"http://evil\")",
        "amber",
        &["192.0.2.20", "evil-export.example"],
    );
    hostile["description"] = json!("a, \"quoted\"\nmulti-line description");
    let id = app.submit(&world.partner, hostile).await;
    app.wait_found(&world.ncu_de, "192.0.2.20", "investigation")
        .await;

    let body = |format: &str| json!({ "q": "", "purpose": "investigation", "case": "CASE-X", "format": format });
    let csv = raw(
        &app,
        reqwest::Method::POST,
        "/v1/search/export",
        &world.ncu_de,
        Some(body("csv")),
    )
    .await;
    assert_eq!(
        csv.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&csv.body)
    );
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let text = String::from_utf8(csv.body.clone()).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "report_id,title,tlp,occurred_at,partner,categories,sector,indicator_type,indicator_value"
    );
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "a formula is neutralized: {text}"
    );
    assert!(text.contains("evil-export.example") && text.contains(&id));
    let csv_record = csv.audit_record();

    let stix = raw(
        &app,
        reqwest::Method::POST,
        "/v1/search/export",
        &world.ncu_de,
        Some(body("stix")),
    )
    .await;
    let bundle = stix.json();
    assert_eq!(bundle["type"], "bundle");
    assert!(
        bundle["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|object| object["id"] == id.as_str())
    );

    let lookup = json!({
        "values": ["192.0.2.20", "203.0.113.99"], "purpose": "investigation", "case": "CASE-X", "format": "csv"
    });
    let by_values = raw(
        &app,
        reqwest::Method::POST,
        "/v1/indicators/lookup/export",
        &world.ncu_de,
        Some(lookup),
    )
    .await;
    let text = String::from_utf8(by_values.body.clone()).unwrap();
    assert_eq!(
        text.lines().count(),
        2,
        "a header and the one value found: {text}"
    );
    assert!(text.lines().nth(1).unwrap().starts_with("192.0.2.20,"));

    let nothing = raw(
        &app,
        reqwest::Method::POST,
        "/v1/search/export",
        &world.outsider,
        Some(body("stix")),
    )
    .await;
    assert_eq!(nothing.status, StatusCode::OK);
    assert!(
        !nothing.json()["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|object| object["type"] == "report"),
        "an agency outside the MoU exports nothing"
    );
    let no_format = raw(
        &app,
        reqwest::Method::POST,
        "/v1/search/export",
        &world.ncu_de,
        Some(json!({ "purpose": "investigation", "case": "CASE-X" })),
    )
    .await;
    assert_eq!(no_format.status, StatusCode::BAD_REQUEST);

    let admin = app
        .get("/v1/audit?case=CASE-X", crate::helpers::ADMIN_TOKEN)
        .await;
    let auditor = app.token("accord-admin", "auditor").await;
    let trail = app.get("/v1/audit?case=CASE-X", &auditor).await;
    assert!(admin.status.is_client_error());
    let exported = trail.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["seq"] == csv_record)
        .expect("the export's record is in the trail");
    assert_eq!(exported["endpoint"], "POST /v1/search/export");
    assert_eq!(exported["results"], 1);
}

#[tokio::test]
async fn a_partner_lists_its_own_reports_newest_first_with_their_evaluation() {
    let app = spawn_app().await;
    let world = world(&app).await;
    app.create_org("bank-b", "partner", "DE").await;
    let other = app.token("bank-b", "partner").await;
    app.create_mou(mou("m-1", "bank-a", &["ncu-de"], json!({})))
        .await;
    let mut ids = Vec::new();
    for index in 0..3 {
        let id = app
            .submit(
                &world.partner,
                report(&format!("Listed {index}"), "amber", &["192.0.2.30"]),
            )
            .await;
        app.wait_status(&world.partner, &id, &["released"]).await;
        ids.push(id);
    }
    let withheld = app
        .submit(&other, report("Nobody's", "amber", &["192.0.2.31"]))
        .await;
    let status = app
        .wait_status(&other, &withheld, &["normalized", "released"])
        .await;
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    let mut status = status;
    while status["evaluated_at"].is_null() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never evaluated: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        status = app
            .get(&format!("/v1/reports/{withheld}"), &other)
            .await
            .body;
    }
    assert_eq!(status["status"], "normalized");
    assert_eq!(
        status["released_to"],
        json!([]),
        "evaluated and released to nobody: withheld"
    );

    let first = app.get("/v1/reports?limit=2", &world.partner).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let listed: Vec<&str> = first.body["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|report| report["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(first.body["reports"][0]["released_to"], json!(["ncu-de"]));
    assert_eq!(
        first.body["reports"][0]["title"], "Listed 2",
        "a partner sees its own titles"
    );
    assert!(first.body["reports"][0]["evaluated_at"].is_string());
    let next = first.body["next"].as_str().unwrap();
    let second = app
        .get(
            &format!("/v1/reports?limit=2&cursor={next}"),
            &world.partner,
        )
        .await;
    assert_eq!(second.body["reports"][0]["id"], ids[0].as_str());
    assert!(second.body["next"].is_null());
    let stolen = app.get(&format!("/v1/reports?cursor={next}"), &other).await;
    assert_eq!(
        stolen.status,
        StatusCode::BAD_REQUEST,
        "another partner's cursor"
    );
    let theirs = app.get("/v1/reports", &other).await;
    assert_eq!(theirs.body["reports"].as_array().unwrap().len(), 1);
    let agency = app.get("/v1/reports", &world.ncu_de).await;
    assert_eq!(agency.status, StatusCode::FORBIDDEN);
}
