//! Signed directory records: forged, unsigned and replayed records change nothing; records written before signing
//! began keep working; MoU history and revocations survive compaction (simulated on the embedded log, which keeps
//! only the last record of each key, like Kafka's log cleaner).

use accord_bus::{BusClient, Record};
use accord_domain::topics;
use accord_runtime::{auth::hash_secret, directory::signing::DirectorySigner};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{
    ADMIN_TOKEN, PATIENCE, TestApp, data_dir, mou, read_topic, spawn_app, spawn_app_in,
};

/// Returns the last record of `key` on `topic`.
async fn last_record(bus: &BusClient, topic: &str, key: &str) -> Record {
    read_topic(bus, topic)
        .await
        .into_iter()
        .rev()
        .find(|record| record.key.as_deref() == Some(key))
        .unwrap()
}

/// Waits until the last record of `key` on `topic` (admin restores a refused key after a short delay) is `wanted`.
async fn wait_last(bus: &BusClient, topic: &str, key: &str, wanted: impl Fn(&Record) -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !wanted(&last_record(bus, topic, key).await) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{key} was not restored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Issues a token and returns its id and secret.
async fn issue(app: &TestApp, org: &str, role: &str) -> (String, String) {
    let body = json!({ "organization": org, "role": role, "label": "signed-directory" });
    let response = app.post("/v1/tokens", ADMIN_TOKEN, body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    let id = response.body["id"].as_str().unwrap().to_owned();
    (id, response.body["token"].as_str().unwrap().to_owned())
}

/// Makes a change through admin: it answers once applied, so every record published before it was judged.
async fn barrier(app: &TestApp, id: &str) {
    app.create_org(id, "agency", "DE").await;
}

async fn restart(app: TestApp) -> TestApp {
    spawn_app_in(app.shutdown().await).await
}

/// Compacts both directory topics of a stopped instance's log.
fn compact(dir: &TempDir) {
    for topic in [topics::ADMIN_DIRECTORY, topics::POLICY_MOUS] {
        accord_bus::embedded::compact(data_dir(dir).join("bus"), topic).unwrap();
    }
}

fn rejected_total(metrics: &str, reason: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("accord_directory_rejected_total{"))
        .filter(|line| line.contains(&format!("reason=\"{reason}\"")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn forged_and_unsigned_records_mint_no_token() {
    let app = spawn_app().await;
    let (id, _) = issue(&app, "accord-admin", "auditor").await;
    let genuine = last_record(&app.bus, topics::ADMIN_DIRECTORY, &format!("token:{id}")).await;
    // A coordinator token for a secret the attacker knows, written straight to the topic.
    let mut event: Value = serde_json::from_slice(&genuine.payload).unwrap();
    event["id"] = json!("forged1");
    event["role"] = json!("coordinator");
    event["hash"] = json!(hash_secret("attacker-secret"));
    let payload = serde_json::to_vec(&event).unwrap();
    let unsigned = Record::new("token:forged1", payload.clone());
    let foreign =
        DirectorySigner::from_seed([9; 32]).sign(topics::ADMIN_DIRECTORY, unsigned.clone());
    let mut altered = genuine.clone();
    altered.payload = payload.into();
    let before = metrics(&app).await;
    app.bus
        .publish(topics::ADMIN_DIRECTORY, vec![unsigned, foreign, altered])
        .await
        .unwrap();
    barrier(&app, "after-forgery").await;

    let refused = app.get("/v1/organizations", "attacker-secret").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    let after = metrics(&app).await;
    assert!(
        rejected_total(&after, "unsigned") >= rejected_total(&before, "unsigned") + 1.0,
        "{after}"
    );
    assert!(
        rejected_total(&after, "bad_signature") >= rejected_total(&before, "bad_signature") + 2.0,
        "{after}"
    );
    // The genuine token is untouched: admin published its record again after the altered copy.
    wait_last(
        &app.bus,
        topics::ADMIN_DIRECTORY,
        &format!("token:{id}"),
        |last| last.payload == genuine.payload,
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_replayed_token_record_does_not_undo_a_revocation_even_after_compaction() {
    let app = spawn_app().await;
    let (id, secret) = issue(&app, "accord-admin", "coordinator").await;
    let key = format!("token:{id}");
    let issued = last_record(&app.bus, topics::ADMIN_DIRECTORY, &key).await;
    let path = format!("/v1/tokens/{id}");
    let revoked = app
        .request(Method::DELETE, &path, Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    // The record of the token before its revocation, signed by admin, published again.
    app.bus
        .publish(topics::ADMIN_DIRECTORY, vec![issued])
        .await
        .unwrap();
    barrier(&app, "after-replay").await;
    assert_eq!(
        app.get("/v1/organizations", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Admin restores the revoked record after the replay, so compaction keeps it and not the replay.
    wait_last(&app.bus, topics::ADMIN_DIRECTORY, &key, |last| {
        serde_json::from_slice::<Value>(&last.payload).unwrap()["revoked_at"].is_string()
    })
    .await;
    let dir = app.shutdown().await;
    compact(&dir);
    let app = spawn_app_in(dir).await;
    assert_eq!(
        app.get("/v1/organizations", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.shutdown().await;
}

#[tokio::test]
async fn mou_history_survives_compaction() {
    let app = spawn_app().await;
    app.create_org("bank-a", "partner", "DE").await;
    app.create_org("ncu-de", "agency", "DE").await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    for content in [json!(["indicators"]), json!(["indicators", "narrative"])] {
        let body = mou("m1", "bank-a", &["ncu-de"], json!({ "content": content }));
        let put = app
            .request(Method::PUT, "/v1/mous/m1", Some(ADMIN_TOKEN), Some(body))
            .await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    }
    let dir = app.shutdown().await;
    compact(&dir);
    let app = spawn_app_in(dir).await;
    assert_eq!(versions(&app, "m1").await, [1, 2, 3]);
    assert_eq!(app.get("/v1/mous/m1", ADMIN_TOKEN).await.body["version"], 3);
    app.shutdown().await;
}

async fn versions(app: &TestApp, id: &str) -> Vec<u64> {
    let history = app
        .get(&format!("/v1/mous/{id}/history"), ADMIN_TOKEN)
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    history.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|version| version["version"].as_u64().unwrap())
        .collect()
}

/// Copies the directory of `from` into a fresh log the way a deployment from before signing wrote it: no
/// signatures, every MoU version keyed by its MoU id.
async fn legacy_copy(from: &BusClient) -> TempDir {
    let dir = TempDir::new().unwrap();
    let bus = BusClient::from_url(&data_dir(&dir).join("bus").to_string_lossy())
        .await
        .unwrap();
    bus.ensure_topics(&topics::ALL).await.unwrap();
    for topic in [topics::ADMIN_DIRECTORY, topics::POLICY_MOUS] {
        let records: Vec<Record> = read_topic(from, topic)
            .await
            .into_iter()
            .filter(|record| {
                !record
                    .key
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("signing:")
            })
            .map(|record| {
                let key = record.key.unwrap_or_default();
                let key = key.split('@').next().unwrap_or_default().to_owned();
                Record::new(key, record.payload)
            })
            .collect();
        bus.publish(topic, records).await.unwrap();
    }
    dir
}

#[tokio::test]
async fn records_written_before_signing_keep_working_and_later_unsigned_ones_are_refused() {
    let old = spawn_app().await;
    old.create_org("bank-a", "partner", "DE").await;
    old.create_org("ncu-de", "agency", "DE").await;
    let (_, coordinator) = issue(&old, "accord-admin", "coordinator").await;
    old.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    let narrowed = mou(
        "m1",
        "bank-a",
        &["ncu-de"],
        json!({ "content": ["indicators"] }),
    );
    let put = old
        .request(
            Method::PUT,
            "/v1/mous/m1",
            Some(ADMIN_TOKEN),
            Some(narrowed),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let dir = legacy_copy(&old.bus).await;
    old.shutdown().await;

    let app = spawn_app_in(dir).await;
    assert_eq!(
        app.get("/v1/organizations/bank-a", &coordinator)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(versions(&app, "m1").await, [1, 2]);
    // After the cut-over, an unsigned record is an attack.
    let genuine = last_record(&app.bus, topics::ADMIN_DIRECTORY, "org:bank-a").await;
    let mut forged: Value = serde_json::from_slice(&genuine.payload).unwrap();
    forged["name"] = json!("FORGED");
    let record = Record::new("org:bank-a", serde_json::to_vec(&forged).unwrap());
    app.bus
        .publish(topics::ADMIN_DIRECTORY, vec![record])
        .await
        .unwrap();
    barrier(&app, "after-cut-over").await;
    let org = app.get("/v1/organizations/bank-a", &coordinator).await;
    assert_eq!(org.body["name"], "BANK-A", "{}", org.body);

    // Admin moved the versions under keys of their own: compaction keeps both.
    let app = restart(app).await;
    let dir = app.shutdown().await;
    compact(&dir);
    let app = spawn_app_in(dir).await;
    assert_eq!(versions(&app, "m1").await, [1, 2]);
    assert_eq!(
        app.get("/v1/organizations/bank-a", &coordinator)
            .await
            .status,
        StatusCode::OK
    );
    let org = app.get("/v1/organizations/bank-a", ADMIN_TOKEN).await;
    assert_eq!(org.body["name"], "BANK-A", "{}", org.body);
    app.shutdown().await;
}

#[tokio::test]
async fn the_signing_key_is_generated_once_private_and_its_public_half_shared() {
    let app = spawn_app().await;
    let dir = app.shutdown().await;
    let key_file = data_dir(&dir).join("admin/directory-signing.key");
    let public_file = data_dir(&dir).join("directory/admin.pub");
    let key = std::fs::read(&key_file).unwrap();
    let public = std::fs::read_to_string(&public_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let app = spawn_app_in(dir).await;
    let dir = app.shutdown().await;
    assert_eq!(std::fs::read(&key_file).unwrap(), key);
    assert_eq!(std::fs::read_to_string(&public_file).unwrap(), public);
    drop(dir);
}

#[tokio::test]
async fn a_revocation_holds_when_admins_clock_is_behind_the_records_on_the_bus() {
    let app = spawn_app().await;
    let (id, secret) = issue(&app, "accord-admin", "coordinator").await;
    let key = format!("token:{id}");
    // The token's record signed with admin's key an hour ahead, as by admin before a restart whose clock was ahead.
    let signer = DirectorySigner::load(None, &data_dir(&app.dir)).unwrap();
    let hour_ahead = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap() + 3_600_000;
    signer.advance(hour_ahead);
    let issued = last_record(&app.bus, topics::ADMIN_DIRECTORY, &key).await;
    let ahead = signer.sign(
        topics::ADMIN_DIRECTORY,
        Record::new(key.clone(), issued.payload),
    );
    app.bus
        .publish(topics::ADMIN_DIRECTORY, vec![ahead])
        .await
        .unwrap();
    barrier(&app, "after-clock-ahead").await;
    let path = format!("/v1/tokens/{id}");
    let revoked = app
        .request(Method::DELETE, &path, Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/organizations", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.shutdown().await;
}
