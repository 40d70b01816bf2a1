//! The interop corpus (tests/data/corpus: public STIX 2.1 and MISP files with their slips, a MISP feed, indicator
//! lists) imported through the real CLI, `accord report submit`, into a running pipeline: every report's outcome and
//! warnings are those of `expected.json`, every valid indicator is searchable by the MoU's agency (and by no other),
//! nothing invalid is, and a second run of the same import adds nothing.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, PATIENCE, TestApp, mou, spawn_app};

const PURPOSE: &str = "investigation";

pub fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(corpus().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs `accord report submit` on the corpus with the partner's token; returns its exit success and JSON summary.
async fn import(app: &TestApp, token: &str, batch: u64) -> (bool, Value) {
    let batch = batch.to_string();
    let files = corpus().join("files");
    let (success, summary, _) = submit(
        app,
        token,
        &[files.as_os_str(), "--batch".as_ref(), batch.as_ref()],
    )
    .await;
    (success, summary)
}

/// Runs `accord report submit ARGS --as corpus-partner --url … --json` with `token` in `ACCORD_TOKEN`; returns its
/// exit success, JSON summary (`null` when there is none) and standard error.
pub async fn submit(
    app: &TestApp,
    token: &str,
    args: &[&std::ffi::OsStr],
) -> (bool, Value, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["report", "submit"])
        .args(args)
        .args(["--as", "corpus-partner", "--url", &app.url, "--json"])
        .env("ACCORD_TOKEN", token)
        .env_remove("ACCORD_TOKEN_FILE")
        .env_remove("ACCORD_URL")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (output.status.success(), summary, stderr)
}

/// The corpus's partner (default TLP green), its agency under an MoU and an agency outside it; their tokens.
pub async fn set_up(app: &TestApp) -> (String, String, String) {
    let partner = json!({ "id": "corpus-partner", "name": "Corpus Partner", "kind": "partner", "country": "DE",
        "sector": "finance", "default_tlp": "green" });
    let created = app.post("/v1/organizations", ADMIN_TOKEN, partner).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    app.create_org("corpus-agency", "agency", "DE").await;
    app.create_org("corpus-outsider", "agency", "DE").await;
    let overrides = json!({ "purposes": [PURPOSE] });
    app.create_mou(mou(
        "mou-corpus",
        "corpus-partner",
        &["corpus-agency"],
        overrides,
    ))
    .await;
    (
        app.token("corpus-partner", "partner").await,
        app.token("corpus-agency", "investigator").await,
        app.token("corpus-outsider", "investigator").await,
    )
}

/// The summary's reports by source (relative to the corpus's `files/`).
fn by_source(summary: &Value) -> BTreeMap<String, Value> {
    let prefix = format!("{}/", corpus().join("files").display());
    summary["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|report| {
            let source = report["source"].as_str().unwrap();
            let relative = source.strip_prefix(&prefix).unwrap_or(source);
            (relative.to_owned(), report.clone())
        })
        .collect()
}

fn pointers(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["pointer"].as_str().unwrap().to_owned())
        .collect()
}

fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|entry| entry.as_str().unwrap().to_owned())
        .collect()
}

/// Checks each report's outcome against the manifest; returns (report id, expected entry) of the accepted ones.
fn check_outcomes(summary: &Value, expected: &Value) -> Vec<(String, Value)> {
    let got = by_source(summary);
    let wanted = expected["reports"].as_array().unwrap();
    let sources: Vec<&String> = got.keys().collect();
    assert_eq!(got.len(), wanted.len(), "reports made: {sources:?}");
    let mut accepted = Vec::new();
    for entry in wanted {
        let source = entry["source"].as_str().unwrap();
        let report = got
            .get(source)
            .unwrap_or_else(|| panic!("no report from {source}: {sources:?}"));
        assert_eq!(report["outcome"], entry["outcome"], "{source}: {report}");
        if entry["outcome"] == "refused" {
            assert_eq!(report["status"], entry["status"], "{source}: {report}");
            assert_eq!(
                pointers(&report["errors"]),
                strings(&entry["errors"]),
                "{source}"
            );
        } else {
            assert_eq!(
                pointers(&report["warnings"]),
                strings(&entry["warnings"]),
                "{source}"
            );
            accepted.push((report["id"].as_str().unwrap().to_owned(), entry.clone()));
        }
    }
    accepted
}

/// Looks `values` up as `token`'s agency: value → the report ids of its match (empty when none).
async fn lookup(app: &TestApp, token: &str, values: &[String]) -> BTreeMap<String, Vec<String>> {
    let body = json!({ "values": values, "purpose": PURPOSE, "case": "CORPUS-1" });
    let response = app.post("/v1/indicators/lookup", token, body).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let mut found = BTreeMap::new();
    for result in response.body["results"].as_array().unwrap() {
        let reports = result["match"]["reports"]
            .as_array()
            .map(|reports| {
                reports
                    .iter()
                    .map(|r| r["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        found.insert(result["value"].as_str().unwrap().to_owned(), reports);
    }
    found
}

/// The report ids a `type:T indicator:V` search finds (file names and certificate serials are never detected, so
/// an exact lookup cannot find them).
async fn search_typed(app: &TestApp, token: &str, kind: &str, value: &str) -> Vec<String> {
    let body = json!({ "q": format!("type:{kind} indicator:{value}"), "purpose": PURPOSE, "case": "CORPUS-1",
        "size": 100 });
    let response = app.search(token, body).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["id"].as_str().unwrap().to_owned())
        .collect()
}

fn looked_up_exactly(kind: &str, value: &str) -> bool {
    match kind {
        "x509-certificate" => false,
        "file" => value.bytes().all(|byte| byte.is_ascii_hexdigit()),
        _ => true,
    }
}

/// The (type, value, report id) triples the agency must find.
fn wanted_indicators(accepted: &[(String, Value)]) -> Vec<(String, String, String)> {
    let mut wanted = Vec::new();
    for (id, entry) in accepted {
        for indicator in strings(&entry["searchable"]) {
            let (kind, value) = indicator.split_once(':').unwrap();
            wanted.push((kind.to_owned(), value.to_owned(), id.clone()));
        }
    }
    wanted
}

/// Those of `wanted` that `token`'s agency does not find in their report now.
async fn missing(
    app: &TestApp,
    token: &str,
    wanted: &[(String, String, String)],
) -> Vec<(String, String, String)> {
    let exact: Vec<String> = wanted
        .iter()
        .filter(|(kind, value, _)| looked_up_exactly(kind, value))
        .map(|(_, value, _)| value.clone())
        .collect();
    let found = lookup(app, token, &exact).await;
    let mut missing = Vec::new();
    for (kind, value, id) in wanted {
        let reports = if looked_up_exactly(kind, value) {
            found.get(value).cloned().unwrap_or_default()
        } else {
            search_typed(app, token, kind, value).await
        };
        if !reports.contains(id) {
            missing.push((kind.clone(), value.clone(), id.clone()));
        }
    }
    missing
}

#[tokio::test]
async fn the_corpus_imported_through_the_cli_is_searchable_exactly_as_its_manifest_says() {
    let app = spawn_app().await;
    let (partner, agency, outsider) = set_up(&app).await;
    let expected = expected();
    let batch = expected["batch"].as_u64().unwrap();

    let (success, summary) = import(&app, &partner, batch).await;
    assert!(
        !success,
        "a refused report makes the import fail: {summary}"
    );
    let accepted = check_outcomes(&summary, &expected);
    assert_eq!(
        summary["accepted"].as_u64().unwrap() as usize,
        accepted.len()
    );

    for (id, entry) in &accepted {
        let wanted: &[&str] = if entry["released"] == true {
            &["released"]
        } else {
            &["normalized"]
        };
        let status = app.wait_status(&partner, id, wanted).await;
        assert_eq!(
            status["indicators"], entry["indicators"],
            "{}: {status}",
            entry["source"]
        );
        let searchable = entry["searchable"].as_array().unwrap().len();
        if entry["released"] == true {
            assert_eq!(
                status["indicators"].as_u64().unwrap() as usize,
                searchable,
                "{}",
                entry["source"]
            );
        }
    }

    let wanted = wanted_indicators(&accepted);
    assert!(
        wanted.len() > 300,
        "the corpus has hundreds of valid indicators"
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let missing = missing(&app, &agency, &wanted).await;
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} valid indicators never became searchable: {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let invalid: Vec<String> = expected["not_searchable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["value"].as_str().unwrap().to_owned())
        .collect();
    for (value, reports) in lookup(&app, &agency, &invalid).await {
        assert!(
            reports.is_empty(),
            "{value} must not be searchable: {reports:?}"
        );
    }
    let outsider_missing = missing(&app, &outsider, &wanted).await;
    assert_eq!(
        outsider_missing.len(),
        wanted.len(),
        "an agency outside the MoU finds nothing"
    );

    let before = app.get("/v1/reports?limit=1000", &partner).await;
    let (_, again) = import(&app, &partner, batch).await;
    let after = app.get("/v1/reports?limit=1000", &partner).await;
    assert_eq!(
        before.body["reports"].as_array().unwrap().len(),
        after.body["reports"].as_array().unwrap().len(),
        "a re-run of the same import adds no report"
    );
    let first = by_source(&summary);
    for (source, report) in by_source(&again) {
        assert_eq!(
            report["id"], first[&source]["id"],
            "{source}: the same report id again"
        );
    }
}
