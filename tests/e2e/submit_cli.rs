//! `accord report submit` against a running pipeline, beyond the corpus: admission control waited out, the token
//! checked against `--as` before anything is sent, `--strict`.

use std::{ffi::OsStr, path::Path};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    corpus::{corpus, set_up, submit},
    helpers::{spawn_app, spawn_app_with},
};

/// Writes `count` MISP events (each with one `ip-dst` of its own) as a MISP feed under `dir`; returns their IPs.
fn feed(dir: &Path, count: usize) -> Vec<String> {
    let mut manifest = serde_json::Map::new();
    let mut ips = Vec::new();
    for index in 0..count {
        let uuid = format!("5e1a7c3b-0d4f-4a6b-9c8d-{index:012x}");
        let ip = format!("198.51.100.{}", 100 + index);
        let event = json!({ "Event": {
            "uuid": uuid, "info": format!("Backlog test {index}"), "date": "2026-11-20", "distribution": "3",
            "Tag": [{ "name": "tlp:green" }],
            "Attribute": [{ "type": "ip-dst", "value": ip, "uuid": format!("6e1a7c3b-0d4f-4a6b-9c8d-{index:012x}") }],
        }});
        std::fs::write(dir.join(format!("{uuid}.json")), event.to_string()).unwrap();
        manifest.insert(uuid, json!({ "info": format!("Backlog test {index}") }));
        ips.push(ip);
    }
    std::fs::write(
        dir.join("manifest.json"),
        Value::Object(manifest).to_string(),
    )
    .unwrap();
    ips
}

#[tokio::test]
async fn a_full_backlog_is_waited_out_and_every_event_arrives() {
    let mut config = accord::config::ServicesConfig::default();
    config.gateway.max_backlog_reports = 1;
    let app = spawn_app_with(tempfile::TempDir::new().unwrap(), config).await;
    let (partner, agency, _) = set_up(&app).await;
    let dir = tempfile::TempDir::new().unwrap();
    let ips = feed(dir.path(), 4);

    let (success, summary, stderr) = submit(&app, &partner, &[dir.path().as_os_str()]).await;
    assert!(success, "{summary} {stderr}");
    assert_eq!(summary["accepted"], 4, "{summary}");
    assert!(
        summary["busy_waits"].as_u64().unwrap() > 0,
        "a backlog of one report makes the gateway answer 429 to the next: {summary}"
    );
    for ip in &ips {
        app.wait_found(&agency, ip, "investigation").await;
    }
}

#[tokio::test]
async fn a_token_of_another_organization_sends_nothing() {
    let app = spawn_app().await;
    let (_, agency, _) = set_up(&app).await;
    let files = corpus().join("files");

    let (success, summary, stderr) = submit(&app, &agency, &[files.as_os_str()]).await;
    assert!(!success);
    assert_eq!(summary, Value::Null, "nothing imported, no summary");
    assert!(
        stderr.contains("not a partner token of corpus-partner"),
        "{stderr}"
    );

    let (success, _, stderr) = submit(&app, "acc_not-a-token", &[files.as_os_str()]).await;
    assert!(!success);
    assert!(stderr.contains("401"), "{stderr}");
}

#[tokio::test]
async fn strict_refuses_the_whole_report_a_slip_is_in() {
    let app = spawn_app().await;
    let (partner, _, _) = set_up(&app).await;
    let slips = corpus().join("files/stix/derived-slips.json");

    let strict: &OsStr = "--strict".as_ref();
    let (success, summary, _) = submit(&app, &partner, &[slips.as_os_str(), strict]).await;
    assert!(!success);
    let report = &summary["reports"][0];
    assert_eq!(report["outcome"], "refused", "{summary}");
    assert_eq!(report["status"], StatusCode::UNPROCESSABLE_ENTITY.as_u16());
    let pointers: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        ["/objects/9/pattern"],
        "a bundle is refused at its first invalid object: {summary}"
    );

    let (success, summary, _) = submit(&app, &partner, &[slips.as_os_str()]).await;
    assert!(success, "leniently the same bundle is accepted: {summary}");
    assert_eq!(summary["with_warnings"], 1);
    assert_eq!(summary["warnings"], 4);
}
