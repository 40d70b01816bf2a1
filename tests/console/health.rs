//! Issue 12 item 5, pipeline health: the partnership's reports per day by stage, rejections (dead letters) by reason,
//! the lag from acceptance to searchable and the conservation law, from counters and metrics, for coordinators only;
//! in process and through `accord console --api`.

use accord_domain::{OrgId, RawReport, ReportFormat, ReportId, topics};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    client::Browser,
    console_world,
    helpers::{ADMIN_TOKEN, TestApp, report, spawn_app},
    mous::one_report,
};

/// Puts a report the normalizer must reject straight on the bus, as a broken gateway would; returns its id.
async fn rejected_report(app: &TestApp, partner: &str) -> String {
    let raw = RawReport {
        id: ReportId::random(),
        partner: OrgId::parse("bank-a").unwrap(),
        received_at: chrono::Utc::now(),
        default_tlp: None,
        format: ReportFormat::Native,
        payload: serde_json::json!({ "title": "Broken", "tlp": 5 }),
        objects: Vec::new(),
        warnings: Vec::new(),
        revision: None,
    };
    let mut record = accord_runtime::stage::json_record(raw.id.as_str(), &raw).unwrap();
    record
        .headers
        .push((topics::HEADER_PARTNER.to_owned(), "bank-a".to_owned()));
    app.bus
        .publish(topics::REPORTS_RAW, vec![record])
        .await
        .unwrap();
    app.wait_status(partner, raw.id.as_str(), &["rejected"])
        .await;
    raw.id.to_string()
}

async fn metrics(app: &TestApp) -> String {
    let response = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

fn today(counts: &Value) -> Value {
    counts["days"].as_array().unwrap().last().unwrap().clone()
}

#[tokio::test]
async fn coordinators_see_the_pipelines_health_from_counters_and_metrics() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    one_report(&app, &people.partner).await;
    app.create_org("bank-c", "partner", "DE").await;
    let lonely = app.token("bank-c", "partner").await;
    let withheld = app
        .submit(&lonely, report("Nobody's", "green", &["198.51.100.90"]))
        .await;
    // Withheld: evaluated and released to nobody.
    while app
        .wait_status(&lonely, &withheld, &["normalized"])
        .await
        .get("evaluated_at")
        .is_none()
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    rejected_report(&app, &people.partner).await;

    let counts = app.get("/v1/pipeline/counts?days=7", ADMIN_TOKEN).await;
    assert_eq!(counts.status, StatusCode::OK, "{}", counts.body);
    let day = today(&counts.body);
    assert_eq!(
        (&day["released"], &day["withheld"], &day["rejected"]),
        (&Value::from(1), &Value::from(1), &Value::from(1)),
        "{day}"
    );
    let reasons: u64 = day["rejections"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(reasons, 1, "{day}");
    let law = &counts.body["conservation"];
    assert_eq!(law["received"], 3, "{law}");
    assert_eq!(law["holds"], true);
    for token in [&people.partner, &people.investigator, &people.auditor] {
        let refused = app.get("/v1/pipeline/counts", token).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        app.get("/v1/pipeline/counts?days=0", ADMIN_TOKEN)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // The indexer records the lag right after the write that makes the report searchable.
    app.wait_found(&people.investigator, "198.51.100.77", "investigation")
        .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !metrics(&app)
        .await
        .contains("accord_indexer_searchable_lag_seconds_count")
    {
        assert!(tokio::time::Instant::now() < deadline, "no lag recorded");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut coordinator = Browser::new(&app.url);
    coordinator.sign_in(ADMIN_TOKEN).await;
    let page = coordinator.get("/health?days=7").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for expected in [
        "The law holds.",
        "Received <strong>3</strong>",
        "Reports per day of reception",
        "Rejections (dead letters) by reason",
        "reports released for the first time since this process started",
        "role=\"img\"",
    ] {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }
    let reason = day["rejections"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert!(page.body.contains(&reason), "{reason}");
    for token in [&people.partner, &people.investigator, &people.auditor] {
        let mut other = Browser::new(&app.url);
        other.sign_in(token).await;
        assert_eq!(other.get("/health").await.status, StatusCode::NOT_FOUND);
    }

    // The same through the remote console: the counts and the metrics over the API.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console_url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(accord_console::run_remote(
        accord_console::Config::default(),
        accord_runtime::http::HttpConfig::default(),
        reqwest::Url::parse(&app.url).unwrap(),
        listener,
        shutdown.clone(),
    ));
    let mut remote = Browser::new(&console_url);
    remote.sign_in(ADMIN_TOKEN).await;
    let page = remote.get("/health").await;
    assert!(
        page.body.contains("Received <strong>3</strong>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("reports released for the first time"),
        "{}",
        page.body
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_oversight_pages_in_a_browser() {
    if !crate::browser::ready_for_tests() {
        return;
    }
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let report = one_report(&app, &people.partner).await;
    app.wait_found(&people.investigator, "198.51.100.77", "investigation")
        .await;
    for _ in 0..3 {
        app.lookup(
            &people.investigator,
            "198.51.100.77",
            "investigation",
            "CASE-BROWSER",
        )
        .await;
    }
    rejected_report(&app, &people.partner).await;
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.jsonl");
    let input = serde_json::json!({
        "url": app.url,
        "tokens": { "coordinator": ADMIN_TOKEN, "auditor": people.auditor },
        "report": report,
        "export": export,
        "screenshots": crate::browser::screenshot_dir(),
    });
    let seen = crate::browser::run_script("oversight.py", input).await;
    assert!(seen["charts"].as_u64().unwrap() >= 3, "{seen}");
    // The export the browser downloaded verifies, as `accord audit verify-export` checks it.
    let file = std::fs::File::open(&export).unwrap();
    let verdict =
        accord_search::audit::export::verify_export(std::io::BufReader::new(file), None).unwrap();
    assert!(verdict.ok, "{verdict:?}");
    assert!(verdict.records >= 4, "{verdict:?}");
    assert_eq!(
        seen["export_lines"].as_u64().unwrap(),
        verdict.records + verdict.links + 2
    );
}
