//! A full disk under load heals without a restart: a real `accord up` child process on a small tmpfs, the tmpfs
//! filled while reports arrive, then space freed.
//!
//! Needs root and `mount -t tmpfs`. Without them the test prints a notice and passes, unless
//! `ACCORD_REQUIRE_TMPFS=1` (scripts/test.sh), when it fails.

use std::{io::Write as _, path::Path, time::Duration};

use reqwest::StatusCode;

use crate::{
    helpers::{PATIENCE, TestApp, report},
    restart::{free_port, stop_cleanly},
};

/// A mounted tmpfs, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `dir`; `None` (with a notice) when that is not possible and not required.
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Self(dir.to_owned())),
            other => {
                let why = format!("cannot mount a tmpfs (needs root and mount): {other:?}");
                assert!(
                    std::env::var_os("ACCORD_REQUIRE_TMPFS").is_none(),
                    "ACCORD_REQUIRE_TMPFS is set but {why}"
                );
                eprintln!("notice: full-disk test skipped: {why}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0_u8; 256 * 1024];
    while file.write_all(&chunk).is_ok() {}
    // The last partial chunk: whatever still fits, byte by byte in small writes.
    while file.write_all(&chunk[..512]).is_ok() {}
    let _ = file.sync_all();
}

fn ip(index: usize) -> String {
    format!("10.{}.{}.7", index / 250, index % 250 + 1)
}

/// Posts report `index`; returns whether it was acknowledged (202). Anything but 202 or 503 fails the test.
async fn post(app: &TestApp, partner: &str, index: usize) -> bool {
    let response = app
        .post(
            "/v1/reports",
            partner,
            report(&format!("Disk {index}"), "green", &[&ip(index)]),
        )
        .await;
    match response.status {
        StatusCode::ACCEPTED => true,
        StatusCode::SERVICE_UNAVAILABLE => false,
        other => panic!("report {index}: unexpected {other}: {}", response.body),
    }
}

/// Returns the status and body of `path`.
async fn probe(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Polls `path` until its status is `wanted` and its body contains `text` (bounded by PATIENCE); returns the body.
async fn wait_probe(app: &TestApp, path: &str, wanted: StatusCode, text: &str) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = probe(app, path).await;
        if status == wanted && body.contains(text) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never answered {wanted} with `{text}`: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_full_disk_heals_without_a_restart_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(&dir.path().join("mnt"), "48m") else {
        return;
    };
    let data_dir = tmpfs.0.join("data");
    let port = free_port();
    let env = [("ACCORD_HEALTH__UNRECOVERABLE_AFTER_MS", "3000")];
    let (mut child, app, w) = crate::restart::child_world(dir.path(), &data_dir, port, &env).await;

    let mut accepted = Vec::new();
    for index in 0..20 {
        assert!(post(&app, &w.partner, index).await, "the disk has room");
        accepted.push(index);
    }
    app.wait_found(&w.ncu_de, &ip(19), "investigation").await;

    // Fill the disk while reports keep arriving: writes are refused (503), never acknowledged and lost.
    let filler = tmpfs.0.join("filler");
    fill(&filler);
    // Keep the load on until the process asks for a restart: `/readyz` names the failing store and why at once,
    // and past `unrecoverable_after` (3 s here) `/healthz` fails too.
    let mut index = 20;
    let (mut refused, mut ready_said_why) = (0, false);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match post(&app, &w.partner, index).await {
            true => accepted.push(index),
            false => refused += 1,
        }
        index += 1;
        // A search writes its audit record first: while the disk is full it is refused (fail closed), never
        // answered without its record.
        let lookup = app
            .lookup(&w.ncu_de, &ip(0), "investigation", "C-FULL")
            .await;
        assert!(
            [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(&lookup.status),
            "{} {}",
            lookup.status,
            lookup.body
        );
        let ready = probe(&app, "/readyz").await;
        ready_said_why |= ready.0 == StatusCode::SERVICE_UNAVAILABLE
            && ready.1.contains("failing for")
            && ready.1.contains("No space left on device");
        let health = probe(&app, "/healthz").await;
        if refused > 0 && ready_said_why && health.0 == StatusCode::SERVICE_UNAVAILABLE {
            assert!(health.1.contains("without recovery"), "{}", health.1);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a full disk never made the process unhealthy: {refused} refused, readyz {ready:?}, healthz {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Free the space: writes are accepted again within 30 s, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let freed = tokio::time::Instant::now();
    let deadline = freed + PATIENCE;
    loop {
        if post(&app, &w.partner, index).await {
            println!(
                "full disk: first report accepted {:?} after space was freed",
                freed.elapsed()
            );
            accepted.push(index);
            index += 1;
            break;
        }
        index += 1;
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes never came back after space was freed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for more in index..index + 20 {
        assert!(
            post(&app, &w.partner, more).await,
            "report {more} after recovery"
        );
        accepted.push(more);
    }
    wait_probe(&app, "/readyz", StatusCode::OK, "ready").await;
    println!(
        "full disk: /readyz ready again {:?} after space was freed",
        freed.elapsed()
    );
    wait_probe(&app, "/healthz", StatusCode::OK, "ok").await;

    // Every acknowledged report is searchable exactly once.
    for index in &accepted {
        let found = app
            .wait_found(&w.ncu_de, &ip(*index), "investigation")
            .await;
        assert_eq!(found["reports_total"], 1, "report {index}: {found}");
    }
    println!(
        "full disk: {} reports acknowledged, {refused} refused while full, all searchable once after recovery",
        accepted.len()
    );
    assert!(refused > 0);

    // The conservation law holds on the bus once the process has stopped.
    stop_cleanly(&mut child).await;
    let bus = accord_bus::BusClient::from_url(&data_dir.join("bus").to_string_lossy())
        .await
        .unwrap();
    let counts = accord::check::conservation(&bus).await.unwrap();
    assert!(counts.holds(), "{counts:?}");
    assert!(counts.accepted >= accepted.len(), "{counts:?}");
}
