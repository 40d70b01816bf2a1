//! Restarts: a clean one keeps everything; `kill -9` right after a burst of 202s loses nothing.

use std::{process::Stdio, time::Duration};

use reqwest::StatusCode;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::helpers::{ADMIN_TOKEN, PATIENCE, TestApp, mou, report, spawn_app, spawn_app_in, world};

#[tokio::test]
async fn a_restart_keeps_reports_mous_tokens_index_and_audit() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    let auditor = app.token("accord-admin", "auditor").await;
    let id = app
        .submit(
            &w.partner,
            report("Before restart", "green", &["198.51.100.1"]),
        )
        .await;
    app.wait_found(&w.ncu_de, "198.51.100.1", "investigation")
        .await;
    let audit_before = app.get("/v1/audit/verify", &auditor).await.body["records"]
        .as_u64()
        .unwrap();
    let dir = app.shutdown().await;

    let app = spawn_app_in(dir).await;
    // Tokens, MoUs and the index survived: the very first request after start works.
    let found = app
        .lookup(&w.ncu_de, "198.51.100.1", "investigation", "C-R")
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let status = app.get(&format!("/v1/reports/{id}"), &w.partner).await;
    assert_eq!(status.body["status"], "released");
    assert_eq!(app.get("/v1/mous/m1", ADMIN_TOKEN).await.body["version"], 1);
    let verify = app.get("/v1/audit/verify", &auditor).await;
    assert_eq!(verify.body["ok"], true);
    assert_eq!(verify.body["records"].as_u64().unwrap(), audit_before + 1);
    // New work flows after the restart.
    app.submit(
        &w.partner,
        report("After restart", "green", &["198.51.100.2"]),
    )
    .await;
    app.wait_found(&w.ncu_de, "198.51.100.2", "investigation")
        .await;
    app.shutdown().await;
}

pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub(crate) async fn start_child(data_dir: &std::path::Path, port: u16) -> Child {
    start_child_with(data_dir, port, &[]).await
}

/// Starts `accord up` as a child process with extra environment variables and waits until it is ready.
pub(crate) async fn start_child_with(
    data_dir: &std::path::Path,
    port: u16,
    env: &[(&str, &str)],
) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .envs(env.iter().copied())
        .args(["up", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("ACCORD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(match std::env::var_os("ACCORD_TEST_CHILD_STDERR") {
            Some(_) => Stdio::inherit(),
            None => Stdio::null(),
        })
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await;
        if ready.is_ok_and(|response| response.status() == StatusCode::OK) {
            return child;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "accord up never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client-side view of the child process's API, reusing the typed helpers.
/// Sends SIGTERM to `child` (the way a supervisor stops it).
pub(crate) fn terminate(child: &Child) {
    let pid = child.id().expect("the child runs").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Stops `child` with SIGTERM and checks that it exits cleanly (status 0) within [`PATIENCE`].
pub(crate) async fn stop_cleanly(child: &mut Child) {
    terminate(child);
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("the child did not stop after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}

pub(crate) fn remote(port: u16, dir: tempfile::TempDir, bus: accord_bus::BusClient) -> TestApp {
    TestApp::remote(format!("http://127.0.0.1:{port}"), dir, bus)
}

/// Runs an offline command on a data directory (`accord index rebuild`, `accord bus verify`, …):
/// `accord ARGS --data-dir DIR`.
pub(crate) async fn offline(args: &[&str], data_dir: &std::path::Path) -> std::process::Output {
    let command = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "error")
        .output();
    tokio::time::timeout(PATIENCE, command)
        .await
        .unwrap()
        .unwrap()
}

/// Starts `accord up` as a child on `data_dir` (with `env`), and returns it with a client of its API (its bus handle
/// a placeholder under `scratch`), the test world and MoU `m1` from bank-a to ncu-de.
pub(crate) async fn child_world(
    scratch: &std::path::Path,
    data_dir: &std::path::Path,
    port: u16,
    env: &[(&str, &str)],
) -> (Child, TestApp, crate::helpers::World) {
    let child = start_child_with(data_dir, port, env).await;
    let placeholder =
        accord_bus::BusClient::from_url(&scratch.join("placeholder").to_string_lossy())
            .await
            .unwrap();
    let app = remote(port, tempfile::tempdir().unwrap(), placeholder);
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    (child, app, w)
}

#[tokio::test]
async fn kill_dash_nine_right_after_a_burst_of_202s_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let mut child = start_child(&data_dir, port).await;
    let placeholder =
        accord_bus::BusClient::from_url(&dir.path().join("placeholder-bus").to_string_lossy())
            .await
            .unwrap();
    let app = remote(port, dir, placeholder);
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;

    const BURST: usize = 300;
    let mut tasks = Vec::new();
    for index in 0..BURST {
        let client = app.client.clone();
        let url = format!("{}/v1/reports", app.url);
        let token = w.partner.clone();
        let ip = format!("100.{}.{}.1", index / 250, index % 250 + 1);
        let body = report(&format!("Burst {index}"), "green", &[&ip]);
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|response| response.status())
        }));
    }
    let mut accepted = Vec::new();
    for (index, task) in tasks.into_iter().enumerate() {
        if let Ok(Ok(StatusCode::ACCEPTED)) = task.await {
            accepted.push(index);
        }
    }
    // Kill at once, before the pipeline can have caught up.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert_eq!(
        accepted.len(),
        BURST,
        "every report of the burst was accepted"
    );

    let _child = start_child(&data_dir, port).await;
    let mut found = 0;
    for index in &accepted {
        let ip = format!("100.{}.{}.1", index / 250, index % 250 + 1);
        app.wait_found(&w.ncu_de, &ip, "investigation").await;
        found += 1;
    }
    println!(
        "kill -9 after {BURST} 202s: {found} of {} accepted reports searchable after restart",
        accepted.len()
    );
    assert_eq!(found, accepted.len());
    // Exactly once in the index: every lookup finds one sighting.
    let one = app
        .lookup(&w.ncu_de, "100.0.1.1", "investigation", "C")
        .await;
    assert_eq!(one.body["reports_total"], 1);
}
