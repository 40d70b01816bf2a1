//! Oversight scoped and anchored (issue 15, item 3): auditors read their own organization's records, requests
//! without a valid token are counted and not recorded, cases are normalized once, and a checkpoint an auditor kept
//! detects a truncated or rewritten chain through the API and `accord audit verify`.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, data_dir, mou, report, spawn_app, spawn_app_in, world};

/// Returns the sum of a counter over its label sets from `/metrics`.
async fn counter(app: &TestApp, name: &str) -> f64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn records(response: &crate::helpers::Response) -> Vec<Value> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn auditors_read_their_own_organization_and_anonymous_requests_are_only_counted() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let de_auditor = app.token("ncu-de", "auditor").await;
    let operator = app.token("accord-admin", "auditor").await;
    app.lookup(&w.ncu_de, "192.0.2.1", "investigation", "CASE-DE%20%20")
        .await;
    app.lookup(&w.outsider, "192.0.2.2", "investigation", "CASE-OUT")
        .await;

    // The agency's auditor sees its own records only, and cannot ask for another organization's.
    let own = records(&app.get("/v1/audit", &de_auditor).await);
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0]["organization"], "ncu-de");
    let other = app
        .get("/v1/audit?organization=outsider", &de_auditor)
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert!(records(&app.get("/v1/audit?case=CASE-OUT", &de_auditor).await).is_empty());
    // The operator's auditor sees both.
    assert_eq!(records(&app.get("/v1/audit", &operator).await).len(), 2);

    // The case was stored normalized, and a filter written with spaces finds it by its trimmed form.
    assert_eq!(own[0]["case"], "CASE-DE");
    for filter in ["CASE-DE", "%20CASE-DE%20%20"] {
        let found = records(
            &app.get(&format!("/v1/audit?case={filter}"), &operator)
                .await,
        );
        assert_eq!(found.len(), 1, "{filter}: {found:?}");
    }
    let bad = app.get("/v1/audit?case=%0A", &operator).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let control = app
        .lookup(&w.ncu_de, "192.0.2.1", "investigation", "A%0AB")
        .await;
    assert_eq!(control.status, StatusCode::BAD_REQUEST);
    assert_eq!(control.body["errors"][0]["pointer"], "/case");

    // Verification covers the whole chain for every auditor, without any record's content.
    let verify = app.get("/v1/audit/verify", &de_auditor).await;
    assert_eq!(verify.status, StatusCode::OK);
    assert_eq!(verify.body["ok"], true);
    assert!(!verify.body.to_string().contains("CASE-OUT"));

    // Requests without a valid token are counted, not written: the trail does not grow by a byte.
    let before = records(&app.get("/v1/audit", &operator).await).len();
    let counted = counter(&app, "accord_search_unauthenticated_total").await;
    let huge = json!({ "q": "x".repeat(100_000), "purpose": "investigation", "case": "C" });
    let anonymous = app
        .request(
            reqwest::Method::POST,
            "/v1/search",
            None,
            Some(huge.clone()),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let bad_token = app.search("acc_not-a-token", huge).await;
    assert_eq!(bad_token.status, StatusCode::UNAUTHORIZED);
    let taxii = app
        .request(
            reqwest::Method::GET,
            "/taxii2/accord/collections/x/objects/",
            None,
            None,
        )
        .await;
    assert_eq!(taxii.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        records(&app.get("/v1/audit", &operator).await).len(),
        before
    );
    assert!(counter(&app, "accord_search_unauthenticated_total").await >= counted + 3.0);
    app.shutdown().await;
}

/// Does `count` audited lookups.
async fn lookups(app: &TestApp, token: &str, count: usize) {
    for index in 0..count {
        let response = app
            .lookup(
                token,
                "198.51.100.9",
                "investigation",
                &format!("C-{index}"),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }
}

/// Runs `accord audit verify` on a stopped instance's data directory; returns whether it succeeded and its JSON.
async fn cli_verify(data: &Path, checkpoint: &Value) -> (bool, Value) {
    let file = data.with_file_name("kept-checkpoint.json");
    std::fs::write(&file, serde_json::to_vec(checkpoint).unwrap()).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["audit", "verify", "--data-dir"])
        .arg(data)
        .arg("--checkpoint")
        .arg(&file)
        .env("RUST_LOG", "error")
        .output()
        .await
        .unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.success(), json)
}

/// Starts an instance whose trail has a few records, returns it with a checkpoint an auditor kept and that
/// auditor's token.
async fn instance_with_kept_checkpoint() -> (TestApp, Value, String) {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    app.submit(&w.partner, report("kept", "green", &["198.51.100.9"]))
        .await;
    app.wait_found(&w.ncu_de, "198.51.100.9", "investigation")
        .await;
    lookups(&app, &w.ncu_de, 5).await;
    let auditor = app.token("ncu-de", "auditor").await;
    let kept = app.get("/v1/audit/checkpoint", &auditor).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    for field in ["seq", "hash", "at", "signature"] {
        assert!(kept.body.get(field).is_some(), "{field}: {}", kept.body);
    }
    let verified = app
        .post("/v1/audit/verify", &auditor, kept.body.clone())
        .await;
    assert_eq!(verified.body["ok"], true, "{}", verified.body);
    assert_eq!(verified.body["checkpoint"]["result"], "holds");
    // The chain grows after the checkpoint was kept; that is fine.
    lookups(&app, &w.ncu_de, 2).await;
    (app, kept.body, auditor)
}

#[tokio::test]
async fn a_kept_checkpoint_detects_a_truncated_trail() {
    let (app, kept, auditor) = instance_with_kept_checkpoint().await;
    // The public key is published without a token.
    let key = app
        .request(reqwest::Method::GET, "/v1/audit/public-key", None, None)
        .await;
    assert_eq!(key.status, StatusCode::OK);
    assert_eq!(key.body["algorithm"], "ed25519");
    let dir = app.shutdown().await;
    let data = data_dir(&dir);
    let (ok, _) = cli_verify(&data, &kept).await;
    assert!(ok, "the untouched trail verifies offline");

    // An intruder cuts the trail (and the stored checkpoints past the cut).
    let cut = kept["seq"].as_u64().unwrap() - 3;
    accord_search::audit::tamper::truncate(&data.join("search"), cut).unwrap();
    let (ok, offline) = cli_verify(&data, &kept).await;
    assert!(!ok);
    assert_eq!(offline["checkpoint"]["result"], "truncated", "{offline}");

    let app = spawn_app_in(dir).await;
    let alone = app.get("/v1/audit/verify", &auditor).await;
    assert_eq!(
        alone.body["ok"], true,
        "the chain alone cannot tell: {}",
        alone.body
    );
    let verified = app.post("/v1/audit/verify", &auditor, kept).await;
    assert_eq!(verified.status, StatusCode::OK);
    assert_eq!(verified.body["ok"], false);
    assert_eq!(verified.body["checkpoint"]["result"], "truncated");
    app.shutdown().await;
}

#[tokio::test]
async fn a_kept_checkpoint_detects_a_trail_rewritten_from_the_start() {
    let (app, kept, auditor) = instance_with_kept_checkpoint().await;
    let dir = app.shutdown().await;
    let data = data_dir(&dir);
    // An intruder rewrites every record (the cases it shows) and recomputes every hash: each link holds.
    accord_search::audit::tamper::rewrite(&data.join("search"), |entry| {
        entry.case = Some(accord_domain::Case::parse("NOTHING-TO-SEE").unwrap());
    })
    .unwrap();
    let (ok, offline) = cli_verify(&data, &kept).await;
    assert!(!ok);
    assert_eq!(offline["checkpoint"]["result"], "rewritten", "{offline}");
    assert!(
        offline["first_bad"].is_null(),
        "every link holds: {offline}"
    );

    let app = spawn_app_in(dir).await;
    let alone = app.get("/v1/audit/verify", &auditor).await;
    assert_eq!(alone.body["ok"], true, "{}", alone.body);
    let verified = app.post("/v1/audit/verify", &auditor, kept.clone()).await;
    assert_eq!(verified.body["ok"], false);
    assert_eq!(verified.body["checkpoint"]["result"], "rewritten");
    // A checkpoint edited by hand is not evidence.
    let mut forged = kept;
    forged["seq"] = json!(1);
    let refused = app.post("/v1/audit/verify", &auditor, forged).await;
    assert_eq!(refused.body["checkpoint"]["result"], "bad_signature");
    let not_a_checkpoint = app
        .post("/v1/audit/verify", &auditor, json!({ "seq": "x" }))
        .await;
    assert!(not_a_checkpoint.status.is_client_error());
    app.shutdown().await;
}
