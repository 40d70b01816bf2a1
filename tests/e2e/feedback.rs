//! Feedback to partners (issue 16 items 3 and 4): an agency's feedback travels over the bus to the partner's
//! aggregates, named or pseudonymous as the MoU says, never with the case; refused exactly as a missing report when
//! the agency does not see the report or the MoU says `feedback: none`; counted once however often it is delivered;
//! and summed into the `sightings` of indicator lookups over the reports the asking agency sees.

use std::{
    io::Write as _,
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use accord_bus::{Record, SubscribeOptions};
use accord_domain::topics;
use accord_testkit::{Component, available};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PATIENCE, TestApp, mou, report, spawn_app, world};

const CASE: &str = "CASE-SECRET-4711";

async fn send(app: &TestApp, token: &str, body: Value) -> crate::helpers::Response {
    app.post("/v1/feedback", token, body).await
}

/// Waits until the partner's view of a report's feedback satisfies `check`, and returns it.
async fn wait_feedback(
    app: &TestApp,
    token: &str,
    id: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let response = app.get(&format!("/v1/reports/{id}"), token).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        if check(&response.body["feedback"]) {
            return response.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "feedback never arrived: {}",
            response.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every record on the feedback topic.
async fn feedback_records(app: &TestApp) -> Vec<Record> {
    let mut subscription = app
        .bus
        .subscribe(SubscribeOptions {
            topic: topics::REPORTS_FEEDBACK.to_owned(),
            group: None,
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Ok(Ok(batch)) =
        tokio::time::timeout(Duration::from_millis(300), subscription.next_batch(1024)).await
    {
        if batch.is_empty() {
            break;
        }
        out.extend(batch.into_iter().map(|delivery| delivery.record));
    }
    out
}

struct Setup {
    app: TestApp,
    world: crate::helpers::World,
    bank_b: String,
    /// bank-a's report, released to ncu-de (feedback named) and ncu-fr (feedback anonymous).
    shared: String,
    /// bank-b's report, released to ncu-de under an MoU with `feedback: none`.
    silent: String,
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let world = world(&app).await;
    app.create_org("bank-b", "partner", "DE").await;
    let bank_b = app.token("bank-b", "partner").await;
    app.create_mou(mou(
        "mou-named",
        "bank-a",
        &["ncu-de"],
        json!({ "feedback": "named" }),
    ))
    .await;
    app.create_mou(mou("mou-anonymous", "bank-a", &["ncu-fr"], json!({})))
        .await;
    app.create_mou(mou(
        "mou-silent",
        "bank-b",
        &["ncu-de"],
        json!({ "feedback": "none" }),
    ))
    .await;
    let shared = app
        .submit(
            &world.partner,
            report(
                "Feedback kit",
                "amber",
                &["feedback-kit.example", "203.0.113.77"],
            ),
        )
        .await;
    let silent = app
        .submit(
            &bank_b,
            report("Silent kit", "amber", &["silent-kit.example"]),
        )
        .await;
    app.wait_status(&world.partner, &shared, &["released"])
        .await;
    app.wait_status(&bank_b, &silent, &["released"]).await;
    app.wait_found(&world.ncu_de, "feedback-kit.example", "investigation")
        .await;
    app.wait_found(&world.ncu_fr, "feedback-kit.example", "investigation")
        .await;
    app.wait_found(&world.ncu_de, "silent-kit.example", "investigation")
        .await;
    Setup {
        app,
        world,
        bank_b,
        shared,
        silent,
    }
}

#[tokio::test]
async fn feedback_reaches_the_partner_named_or_pseudonymous_without_the_case_and_counts_once() {
    let Setup {
        app,
        world,
        bank_b,
        shared,
        silent,
    } = setup().await;
    let sighted = send(
        &app,
        &world.ncu_de,
        json!({ "report": shared, "kind": "sighted", "count": 3, "seen_at": "2026-11-21T10:00:00Z",
                "purpose": "investigation", "case": CASE }),
    )
    .await;
    assert_eq!(sighted.status, StatusCode::CREATED, "{}", sighted.body);
    assert_eq!(sighted.body["feedback"][0]["report"], json!(shared));
    assert!(
        sent_with_audit_record(&app, &world.ncu_de, &shared).await,
        "the request is audited"
    );
    let flagged = send(
        &app,
        &world.ncu_fr,
        json!({ "indicator": "feedback-kit[.]example", "kind": "false-positive",
                "purpose": "investigation", "case": CASE }),
    )
    .await;
    assert_eq!(flagged.status, StatusCode::CREATED, "{}", flagged.body);

    let status = wait_feedback(&app, &world.partner, &shared, |feedback| {
        feedback["agencies"] == 2
    })
    .await;
    let feedback = &status["feedback"];
    assert_eq!(feedback["sightings"], 3, "{status}");
    assert_eq!(feedback["false_positive"], 1, "{status}");
    assert_eq!(
        feedback["named_agencies"],
        json!(["ncu-de"]),
        "named only under `feedback: named`"
    );
    assert_eq!(feedback["first"], "2026-11-21T10:00:00Z");
    let text = status.to_string();
    assert!(
        !text.contains("CASE-SECRET"),
        "the case reached the partner: {text}"
    );
    assert!(
        !feedback.to_string().contains("ncu-fr"),
        "an anonymous agency was named: {text}"
    );

    let listed = app.get("/v1/feedback", &world.partner).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let rows = listed.body["feedback"].as_array().unwrap().clone();
    let indicator_row = rows
        .iter()
        .find(|row| row["indicator"]["value"] == "feedback-kit.example")
        .unwrap_or_else(|| panic!("no indicator row: {}", listed.body));
    assert_eq!(indicator_row["false_positive"], 1);
    assert_eq!(indicator_row["agencies"], 1);
    assert!(!listed.body.to_string().contains("CASE-SECRET"));
    let other = app.get("/v1/feedback", &bank_b).await;
    assert_eq!(
        other.body["feedback"],
        json!([]),
        "a partner reads only its own: {}",
        other.body
    );
    let not_mine = app
        .get(&format!("/v1/feedback?report={shared}"), &bank_b)
        .await;
    assert_eq!(not_mine.body["feedback"], json!([]), "{}", not_mine.body);
    assert_eq!(
        app.get("/v1/feedback", &world.ncu_de).await.status,
        StatusCode::FORBIDDEN
    );

    check_stix(&app, &world.partner).await;

    // Replay every record (the bus is at-least-once), then send a marker and wait for it: nothing counts twice.
    let records = feedback_records(&app).await;
    assert_eq!(
        records.len(),
        2,
        "one record per report the feedback applies to"
    );
    assert!(
        records
            .iter()
            .all(|record| !String::from_utf8_lossy(&record.payload).contains("CASE")),
        "a record carries the case"
    );
    app.bus
        .publish(topics::REPORTS_FEEDBACK, records)
        .await
        .unwrap();
    let marker = send(
        &app,
        &world.ncu_de,
        json!({ "report": shared, "kind": "useful", "purpose": "investigation", "case": CASE }),
    )
    .await;
    assert_eq!(marker.status, StatusCode::CREATED, "{}", marker.body);
    let status = wait_feedback(&app, &world.partner, &shared, |feedback| {
        feedback["useful"] == 1
    })
    .await;
    assert_eq!(
        status["feedback"]["sightings"], 3,
        "a replayed record counted twice: {status}"
    );
    assert_eq!(status["feedback"]["false_positive"], 1, "{status}");
    assert_eq!(status["feedback"]["agencies"], 2, "{status}");

    // The MoU says `feedback: none`: refused as a report that does not exist.
    let none = send(
        &app,
        &world.ncu_de,
        json!({ "report": silent, "kind": "useful", "purpose": "investigation", "case": CASE }),
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.body);
    let silent_status = app.get(&format!("/v1/reports/{silent}"), &bank_b).await;
    assert_eq!(
        silent_status.body["feedback"]["agencies"], 0,
        "{}",
        silent_status.body
    );
    app.shutdown().await;
}

/// Whether the agency's audit trail holds a `POST /v1/feedback` record about `report`.
async fn sent_with_audit_record(app: &TestApp, token: &str, report: &str) -> bool {
    let mine = app.get("/v1/audit/mine", token).await;
    mine.body.to_string().contains("POST /v1/feedback") && mine.body.to_string().contains(report)
}

#[tokio::test]
async fn feedback_on_what_an_agency_does_not_see_is_a_missing_report_and_bad_input_is_named() {
    let Setup {
        app, world, shared, ..
    } = setup().await;
    let on = |report: &str| json!({ "report": report, "kind": "sighted", "purpose": "investigation", "case": CASE });
    let hidden = send(&app, &world.outsider, on(&shared)).await;
    let missing = send(
        &app,
        &world.outsider,
        on("report--00000000-0000-4000-8000-000000000000"),
    )
    .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.body);
    assert_eq!(
        hidden.body, missing.body,
        "a hidden report answers as a missing one"
    );
    assert_eq!(hidden.content_type, missing.content_type);
    let wrong_purpose = send(
        &app,
        &world.ncu_de,
        json!({ "report": shared, "kind": "sighted", "purpose": "research", "case": CASE }),
    )
    .await;
    assert_eq!(
        wrong_purpose.status,
        StatusCode::NOT_FOUND,
        "{}",
        wrong_purpose.body
    );

    for (body, pointer) in [
        (
            json!({ "report": shared, "kind": "sighted", "purpose": "investigation", "case": CASE, "note": "x" }),
            "/note",
        ),
        (
            json!({ "report": shared, "kind": "sighted", "count": 0, "purpose": "investigation", "case": CASE }),
            "/count",
        ),
        (
            json!({ "report": shared, "kind": "sighted", "count": 1_000_001, "purpose": "investigation", "case": CASE }),
            "/count",
        ),
        (
            json!({ "report": shared, "kind": "useful", "count": 2, "purpose": "investigation", "case": CASE }),
            "/count",
        ),
        (
            json!({ "report": shared, "kind": "sighted", "seen_at": "2999-01-01T00:00:00Z", "purpose": "investigation", "case": CASE }),
            "/seen_at",
        ),
        (
            json!({ "report": shared, "kind": "liked", "purpose": "investigation", "case": CASE }),
            "/kind",
        ),
        (
            json!({ "kind": "sighted", "purpose": "investigation", "case": CASE }),
            "/report",
        ),
        (
            json!({ "indicator": "x".repeat(9000), "kind": "sighted", "purpose": "investigation", "case": CASE }),
            "/indicator",
        ),
        (
            json!({ "report": shared, "kind": "sighted", "purpose": "investigation" }),
            "/case",
        ),
    ] {
        let refused = send(&app, &world.ncu_de, body.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.body
        );
        assert_eq!(
            refused.body["errors"][0]["pointer"], pointer,
            "{body}: {}",
            refused.body
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn lookups_count_the_sightings_of_the_reports_the_agency_sees() {
    let Setup {
        app, world, shared, ..
    } = setup().await;
    let before = app
        .lookup(&world.ncu_de, "203.0.113.77", "investigation", CASE)
        .await;
    assert_eq!(before.body["sightings"], 0, "{}", before.body);
    assert_eq!(before.body["reports_total"], 1, "{}", before.body);
    let sent = send(
        &app,
        &world.ncu_fr,
        json!({ "report": shared, "indicator": "203.0.113.77", "kind": "sighted", "count": 4,
                "purpose": "investigation", "case": CASE }),
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let found = app
            .lookup(&world.ncu_de, "203.0.113.77", "investigation", CASE)
            .await;
        if found.body["sightings"] == 4 {
            assert_eq!(found.body["partners"], json!(["bank-a"]));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", found.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An indicator the report does not carry is no feedback target of it.
    let absent = send(
        &app,
        &world.ncu_fr,
        json!({ "report": shared, "indicator": "198.51.100.1", "kind": "sighted",
                "purpose": "investigation", "case": CASE }),
    )
    .await;
    assert_eq!(absent.status, StatusCode::NOT_FOUND, "{}", absent.body);
    // The outsider sees nothing, sightings included.
    let outsider = app
        .lookup(&world.outsider, "203.0.113.77", "investigation", CASE)
        .await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND);
    app.shutdown().await;
}

/// The partner's sightings as STIX 2.1: one `sighting` of the report with its count, `where_sighted_refs` the named
/// agency's identity (the pseudonymous one is not referred to), valid for the OASIS validator when it is installed.
async fn check_stix(app: &TestApp, partner: &str) {
    let response = app.get("/v1/feedback?format=stix", partner).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert!(
        response.content_type.starts_with("application/stix+json"),
        "{}",
        response.content_type
    );
    let objects = response.body["objects"].as_array().unwrap();
    let sighting = objects
        .iter()
        .find(|object| object["type"] == "sighting")
        .unwrap_or_else(|| panic!("no sighting: {}", response.body));
    assert_eq!(sighting["count"], 3);
    assert!(
        sighting["sighting_of_ref"]
            .as_str()
            .unwrap()
            .starts_with("report--")
    );
    let identity = objects
        .iter()
        .find(|object| object["type"] == "identity")
        .unwrap_or_else(|| panic!("no identity: {}", response.body));
    assert_eq!(identity["name"], "ncu-de");
    assert_eq!(sighting["where_sighted_refs"], json!([identity["id"]]));
    assert!(
        !response.body.to_string().contains("agency-"),
        "a pseudonym is shown: {}",
        response.body
    );
    if !available(
        Component::Interop,
        validator_ready(),
        "`python3 -c 'import stix2validator'` fails",
        "pip install stix2-validator (scripts/test.sh does)",
    ) {
        return;
    }
    let verdict = validate(&response.body);
    assert_eq!(verdict["valid"], true, "{verdict}");
}

fn validator_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import stix2validator"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs tests/interop/stix_validate.py on one bundle and returns its verdict.
fn validate(bundle: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/stix_validate.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("failed to start python3");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{bundle}").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "stix_validate.py failed");
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}
