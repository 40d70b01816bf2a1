//! An auditor's export of a filtered range of the trail (`GET /v1/audit/export`), verified without Accord by
//! `accord audit verify-export`, scoped as every read of the trail is (decision 0019), and refused once tampered with.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, world};

/// Fetches an export; returns its status and lines.
async fn export(app: &TestApp, query: &str, token: &str) -> (StatusCode, Vec<String>) {
    let response = app
        .client
        .get(format!("{}/v1/audit/export?{query}", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(
            response.headers()["content-type"],
            accord_search::EXPORT_MEDIA_TYPE
        );
    }
    let text = response.text().await.unwrap();
    (status, text.lines().map(str::to_owned).collect())
}

/// Runs `accord audit verify-export` on `lines` written to a file; returns whether it succeeded and its JSON.
async fn cli_verify(dir: &Path, lines: &[String], key: &str) -> (bool, Value) {
    let file = dir.join("export.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["audit", "verify-export"])
        .arg(&file)
        .args(["--public-key", key])
        .output()
        .await
        .unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.success(), json)
}

fn kinds(lines: &[String], kind: &str) -> Vec<Value> {
    lines
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["kind"] == kind)
        .collect()
}

#[tokio::test]
async fn an_export_verifies_offline_is_scoped_and_fails_once_tampered_with() {
    let app = spawn_app().await;
    let w = world(&app).await;
    for index in 0..3 {
        let case = format!("CASE-DE-{index}");
        app.lookup(&w.ncu_de, "192.0.2.1", "investigation", &case)
            .await;
        app.lookup(&w.outsider, "192.0.2.2", "investigation", "CASE-OUT")
            .await;
    }
    let de_auditor = app.token("ncu-de", "auditor").await;
    let operator = app.token("accord-admin", "auditor").await;
    let key = app
        .request(reqwest::Method::GET, "/v1/audit/public-key", None, None)
        .await
        .body["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();

    // The agency's auditor: its own three records, the outsider's between them as links without content.
    let (status, own) = export(&app, "", &de_auditor).await;
    assert_eq!(status, StatusCode::OK);
    let records = kinds(&own, "record");
    assert_eq!(records.len(), 3, "{own:?}");
    assert!(
        records
            .iter()
            .all(|line| line["record"]["organization"] == "ncu-de")
    );
    assert_eq!(kinds(&own, "link").len(), 2);
    assert!(!own.join("\n").contains("CASE-OUT") && !own.join("\n").contains("outsider"));
    let (ok, verdict) = cli_verify(dir.path(), &own, &key).await;
    assert!(ok, "{verdict}");
    assert_eq!(verdict["records"], 3);

    // Another organization's range is refused to it; the operator's auditor exports it, filtered by case.
    let (status, _) = export(&app, "organization=outsider", &de_auditor).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = export(&app, "", &w.ncu_de).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an investigator");
    let (_, out) = export(&app, "case=CASE-OUT", &operator).await;
    assert_eq!(kinds(&out, "record").len(), 3);
    let (ok, verdict) = cli_verify(dir.path(), &out, &key).await;
    assert!(ok, "{verdict}");

    // Tampered with: one record's case changed.
    let tampered: Vec<String> = own
        .iter()
        .map(|line| line.replacen("CASE-DE-1", "CASE-DE-9", 1))
        .collect();
    assert_ne!(tampered, own);
    let (ok, verdict) = cli_verify(dir.path(), &tampered, &key).await;
    assert!(!ok, "{verdict}");
    assert_eq!(verdict["ok"], false);
    assert!(verdict["first_bad_line"].as_u64().is_some(), "{verdict}");
    app.shutdown().await;
}
