//! The console in Debian's chromium, driven by Playwright for Python (tests/browser/): the scenario per role and the
//! security tests of issue 11, each against its own `accord up`. Screenshots of the main pages are written to
//! `ACCORD_SCREENSHOTS_DIR` when set (`docs/screenshots` refreshes the committed ones), else to
//! `target/console-screenshots`.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use accord_testkit::{Component, available};
use serde_json::{Value, json};

use crate::{console_world, helpers::spawn_app, http::trail};

const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_ready() -> bool {
    Path::new(CHROMIUM).exists()
        && Command::new("python3")
            .args(["-c", "import playwright.sync_api"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

fn ready() -> bool {
    available(
        Component::Browser,
        browser_ready(),
        "chromium (/usr/bin/chromium) or Playwright for Python is missing",
        "apt-get install chromium; pip install playwright (scripts/test.sh does both)",
    )
}

fn screenshots() -> PathBuf {
    match std::env::var_os("ACCORD_SCREENSHOTS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots"),
    }
}

/// Runs tests/browser/<script> with `input` on stdin and returns the JSON it prints; fails with its stderr.
async fn run(script: &str, input: Value) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(script);
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("python3")
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("failed to start python3");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().expect("failed to run the script")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

#[tokio::test]
async fn partners_and_investigators_work_end_to_end_in_chromium() {
    if !ready() {
        return;
    }
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let canary = "canary.person.7f3a@victim-bank.example";
    let input = json!({
        "url": app.url,
        "tokens": { "partner": people.partner, "investigator": people.investigator, "outsider": people.outsider },
        "canary": canary,
        "screenshots": screenshots(),
    });
    let seen = run("scenario.py", input).await;
    let records = trail(&app, &people.auditor, seen["case"].as_str().unwrap()).await;
    let audited = seen["audit_records"].as_array().unwrap();
    assert!(audited.len() >= 4, "{seen}");
    for seq in audited {
        let record = records
            .iter()
            .find(|record| &record["seq"] == seq)
            .unwrap_or_else(|| panic!("the page showed record {seq}, which is not in the trail"));
        assert_eq!(record["organization"], "ncu-de");
    }
    assert!(
        records
            .iter()
            .any(|record| record["endpoint"] == "POST /v1/search/export"),
        "the exports are audited"
    );
    let everything = app.get("/v1/audit", &people.auditor).await;
    assert!(
        !everything.body.to_string().contains(canary),
        "the canary never reaches the trail either"
    );
}

#[tokio::test]
async fn the_console_is_inert_and_closed_in_chromium() {
    if !ready() {
        return;
    }
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let input = json!({
        "url": app.url,
        "tokens": { "partner": people.partner, "investigator": people.investigator },
        "screenshots": screenshots(),
    });
    let seen = run("security.py", input).await;
    assert!(seen["pages_checked"].as_u64().unwrap() >= 15, "{seen}");
}

#[tokio::test]
async fn coordinators_manage_organizations_and_tokens_in_chromium() {
    if !ready() {
        return;
    }
    let app = spawn_app().await;
    console_world(&app).await;
    let input = json!({
        "url": app.url,
        "tokens": { "coordinator": crate::helpers::ADMIN_TOKEN },
        "screenshots": screenshots(),
    });
    let seen = run("coordinator.py", input).await;
    assert_eq!(
        seen["copied"], true,
        "the copy button copies the token: {seen}"
    );
    let org = app
        .get("/v1/organizations/bank-z", crate::helpers::ADMIN_TOKEN)
        .await;
    assert_eq!(org.body["default_tlp"], "amber", "{}", org.body);
    let tokens = app
        .get(
            "/v1/tokens?organization=bank-z",
            crate::helpers::ADMIN_TOKEN,
        )
        .await;
    let tokens = tokens.body["tokens"].as_array().unwrap().clone();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0]["label"], "soc-uploader");
    assert_eq!(tokens[0]["status"], "revoked");
    assert!(tokens[0]["last_used_at"].is_string(), "the partner used it");
}

#[tokio::test]
async fn a_coordinator_writes_previews_saves_and_suspends_an_mou_in_chromium() {
    if !ready() {
        return;
    }
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let indicator = "198.51.100.77";
    let id = app
        .submit(
            &people.partner,
            crate::helpers::report("For the Dutch NCU", "amber", &[indicator]),
        )
        .await;
    app.wait_status(&people.partner, &id, &["released"]).await;
    let input = json!({
        "url": app.url,
        "tokens": { "coordinator": crate::helpers::ADMIN_TOKEN, "auditor": people.auditor },
        "indicator": indicator,
        "screenshots": screenshots(),
    });
    let seen = run("mou.py", input).await;
    assert_eq!(seen["found"], true, "released once saved: {seen}");
    assert_eq!(seen["withdrawn"], true, "withdrawn once suspended: {seen}");
    let mou = app
        .get("/v1/mous/mou-bank-a-nl", crate::helpers::ADMIN_TOKEN)
        .await;
    assert_eq!(mou.body["status"], "suspended", "{}", mou.body);
    assert_eq!(mou.body["version"], 2);
    let records = trail(&app, &people.auditor, "CASE-NL-7").await;
    assert!(
        records
            .iter()
            .any(|record| record["organization"] == "ncu-nl"),
        "the investigator's reads are audited under its case"
    );
}

/// Whether the browser tests can run (a notice, or a failure under `ACCORD_REQUIRE_BROWSER=1`, when not).
pub fn ready_for_tests() -> bool {
    ready()
}

/// Where the browser tests write screenshots.
pub fn screenshot_dir() -> PathBuf {
    screenshots()
}

/// Runs a browser script (see [`run`]).
pub async fn run_script(script: &str, input: Value) -> Value {
    run(script, input).await
}

#[tokio::test]
async fn a_new_alert_appears_on_the_open_alerts_page_in_chromium() {
    if !ready() {
        return;
    }
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let value = "live-alert.example";
    let body = json!({ "name": "Live", "purpose": "investigation", "case": "CASE-LIVE",
        "entries": [{ "value": value }] });
    let created = app.post("/v1/watchlists", &people.investigator, body).await;
    assert_eq!(
        created.status,
        reqwest::StatusCode::CREATED,
        "{}",
        created.body
    );
    let input = json!({
        "url": app.url,
        "tokens": { "partner": people.partner, "investigator": people.investigator },
        "value": value,
        "screenshots": screenshots(),
    });
    let seen = run("alerts.py", input).await;
    assert_eq!(seen["shown"], true, "{seen}");
    assert_eq!(seen["reloads"], 0, "{seen}");
}
