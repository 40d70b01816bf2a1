//! Byte flips in every redb store file (issue 22 item 3, decision 0069): a data directory is filled by a real
//! `accord up` (two partners, MoUs, a watchlist, a retraction, searches), then, for each `*.redb` file, a fresh copy
//! of the directory has bytes flipped at seeded random offsets past the file's header (and, on a second copy, a
//! burst in the middle of the file), and Accord is started on the copy. What must hold per store:
//! - Accord refuses to start, with an error that names the file and says what to do; or
//! - it starts, and `/readyz` is 503 naming the store; or
//! - it is ready, and every request it answers is right: every acknowledged report still found exactly once (or its
//!   loss reported to its partner), no 5xx from a ready server.
//!
//! The seed is printed; `ACCORD_FLIP_SEED=<n>` replays it.
//!
//! A second test overwrites each store derived from the bus entirely (decision 0071): each must be set aside and
//! refilled by Accord itself, with nothing lost and nothing retracted coming back.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::{
    helpers::{ADMIN_TOKEN, PATIENCE, TestApp, mou, report},
    restart::{free_port, stop_cleanly},
};

/// A report the test expects back: its id, its partner's token and its unique value.
struct Expected {
    id: String,
    partner: String,
    value: String,
}

/// Fills `data_dir` through a running child and returns the reports that must stay found, and the one its partner
/// retracted (which must stay gone).
async fn fill(app: &TestApp, w: &crate::helpers::World) -> (Vec<Expected>, Expected) {
    app.create_org("bank-b", "partner", "DE").await;
    let second = app.token("bank-b", "partner").await;
    app.create_mou(mou("m2", "bank-b", &["ncu-de"], json!({})))
        .await;
    let watch = json!({ "name": "Flips", "purpose": "investigation", "case": "CASE-FLIP",
        "entries": [{ "value": "flip-0.example" }, { "value": "flip-1.example" }] });
    let created = app.post("/v1/watchlists", &w.ncu_de, watch).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let mut expected = Vec::new();
    for index in 0..24 {
        let partner = if index % 2 == 0 { &w.partner } else { &second };
        let value = format!("flip-{index}.example");
        let id = app
            .submit(
                partner,
                report(&format!("Flip {index}"), "green", &[&value]),
            )
            .await;
        expected.push(Expected {
            id,
            partner: partner.clone(),
            value,
        });
    }
    let gone = app
        .submit(&w.partner, report("Retracted", "green", &["gone.example"]))
        .await;
    for report in &expected {
        app.wait_found(&w.ncu_de, &report.value, "investigation")
            .await;
    }
    app.wait_found(&w.ncu_de, "gone.example", "investigation")
        .await;
    let retract = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/reports/{gone}"),
            Some(&w.partner),
            Some(json!({ "reason": "sent-in-error" })),
        )
        .await;
    assert_eq!(retract.status, StatusCode::ACCEPTED, "{}", retract.body);
    let searched = app
        .search(&w.ncu_de, json!({ "q": "indicator:flip-3.example", "purpose": "investigation", "case": "CASE-FLIP" }))
        .await;
    assert_eq!(searched.status, StatusCode::OK, "{}", searched.body);
    let sighted = app
        .post(
            "/v1/feedback",
            &w.ncu_de,
            json!({ "report": expected[2].id, "indicator": expected[2].value, "kind": "sighted", "count": 4,
                    "purpose": "investigation", "case": "CASE-FLIP" }),
        )
        .await;
    assert_eq!(sighted.status, StatusCode::CREATED, "{}", sighted.body);
    wait_sightings(app, &w.ncu_de, &expected[2].value).await;
    let gone = Expected {
        id: gone,
        partner: w.partner.clone(),
        value: "gone.example".to_owned(),
    };
    (expected, gone)
}

/// Runs `accord bus verify` on a copy: it holds, or fails naming the damage, and never crashes.
async fn bus_verify(copy: &Path) -> String {
    let output = crate::restart::offline(&["bus", "verify"], copy).await;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_ne!(
        output.status.code(),
        Some(101),
        "accord bus verify crashed: {said}"
    );
    if output.status.success() {
        return String::from("`accord bus verify` holds");
    }
    let line = said
        .lines()
        .find(|line| line.contains("damaged") || line.contains("integrity"))
        .unwrap_or_else(|| panic!("a failed verification names the damage: {said}"));
    format!("`accord bus verify` fails: {}", line.trim())
}

/// Keeps an auditor's checkpoint of the trail in `file`, for `accord audit verify`.
async fn keep_checkpoint(app: &TestApp, file: &Path) {
    let auditor = app.token("ncu-de", "auditor").await;
    let kept = app.get("/v1/audit/checkpoint", &auditor).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    std::fs::write(file, serde_json::to_vec(&kept.body).unwrap()).unwrap();
}

/// Runs `accord audit verify` on a copy: the trail must verify, or the command fail with the damage named, and
/// never crash. Returns what it said.
async fn audit_verify(copy: &Path, checkpoint: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["audit", "verify", "--data-dir"])
        .arg(copy)
        .arg("--checkpoint")
        .arg(checkpoint)
        .env("RUST_LOG", "error")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(
        output.status.code(),
        Some(101),
        "accord audit verify crashed: {stderr}"
    );
    if output.status.success() {
        return String::from("`accord audit verify` holds");
    }
    let said = format!("{}{stderr}", String::from_utf8_lossy(&output.stdout));
    assert!(
        said.contains("audit.redb") || said.contains("\"ok\":false"),
        "a failed verification names the file or the break: {said}"
    );
    let line = said
        .lines()
        .find(|line| line.contains("audit.redb") || line.contains("\"ok\""))
        .unwrap_or_default();
    format!("`accord audit verify` fails: {}", line.trim())
}

/// Waits until a lookup of `value` counts the 4 sightings sent in [`fill`], failing on a 5xx from a ready server.
async fn wait_sightings(app: &TestApp, ncu: &str, value: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let found = app.lookup(ncu, value, "investigation", "CASE-FLIP").await;
        no_5xx_while_ready(app, found.status, &found.body).await;
        if found.body["sightings"] == 4 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sightings of {value} are lost: {}",
            found.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A small deterministic generator (xorshift64*), so that a seed replays the same flips.
struct Flips(u64);

impl Flips {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The seed of this run: `ACCORD_FLIP_SEED`, or the clock.
fn seed() -> u64 {
    std::env::var("ACCORD_FLIP_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

/// Flips `count` bytes at random offsets past the first 4 KiB (redb's header region) of `file`; returns them.
fn flip_random(file: &Path, rng: &mut Flips, count: usize) -> Vec<usize> {
    let mut bytes = std::fs::read(file).unwrap();
    let body = bytes.len().saturating_sub(4096).max(1);
    let offsets: Vec<usize> = (0..count)
        .map(|_| (4096 + (rng.next() as usize) % body).min(bytes.len() - 1))
        .collect();
    for &at in &offsets {
        bytes[at] ^= (rng.next() as u8) | 1;
    }
    std::fs::write(file, bytes).unwrap();
    offsets
}

/// Flips 64 bytes in the middle of `file`.
fn flip_middle(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let middle = bytes.len() / 2;
    let end = (middle + 64).min(bytes.len());
    for byte in &mut bytes[middle..end] {
        *byte ^= 0x5a;
    }
    std::fs::write(file, bytes).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn redb_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            redb_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "redb") {
            out.push(path);
        }
    }
}

/// The reports that must stay found, and the retracted one that must stay gone.
type Reports = (Vec<Expected>, Expected);

/// What Accord did on a damaged copy.
#[derive(Debug)]
enum Outcome {
    /// It exited before it was ready; its stderr.
    Refused(String),
    /// It stayed unready; the `/readyz` body.
    Unready(String),
    /// It became ready.
    Ready(Child),
}

/// Starts `accord up` on `data_dir` and waits until it is ready, exits, or stays unready for [`PATIENCE`].
async fn start(data_dir: &Path, port: u16) -> Outcome {
    let log = data_dir.with_extension("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["up", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("ACCORD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut last = String::new();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                !status.success(),
                "accord up exited 0 before it was ready: {stderr}"
            );
            return Outcome::Refused(stderr);
        }
        if let Ok(response) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            if response.status() == StatusCode::OK {
                return Outcome::Ready(child);
            }
            last = response.text().await.unwrap_or_default();
        }
        if tokio::time::Instant::now() >= deadline {
            return Outcome::Unready(last);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks a ready server: every expected report found exactly once or reported lost to its partner, the retracted
/// one still gone and its tombstone kept, the audit trail answered, no 5xx while `/readyz` says ready. Returns how
/// many reports were reported lost.
async fn check_ready(app: &TestApp, ncu: &str, reports: &Reports, auditor: &str) -> usize {
    let (expected, gone) = (&reports.0, &reports.1);
    let mut lost = 0;
    for report in expected {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let found = app
                .lookup(ncu, &report.value, "investigation", "CASE-FLIP")
                .await;
            no_5xx_while_ready(app, found.status, &found.body).await;
            let status = app
                .get(&format!("/v1/reports/{}", report.id), &report.partner)
                .await;
            no_5xx_while_ready(app, status.status, &status.body).await;
            if found.status == StatusCode::OK && status.body["status"] == "released" {
                assert_eq!(
                    found.body["reports_total"], 1,
                    "{}: {}",
                    report.value, found.body
                );
                break;
            }
            let told = status.body.to_string();
            if told.contains("corrupt") || told.contains("lost") || told.contains("damaged") {
                lost += 1;
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "silent loss: {} is not found and its partner is not told: {told}",
                report.value
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let found = app
        .lookup(ncu, &gone.value, "investigation", "CASE-FLIP")
        .await;
    no_5xx_while_ready(app, found.status, &found.body).await;
    assert_eq!(
        found.status,
        StatusCode::NOT_FOUND,
        "a retracted report came back: {}",
        found.body
    );
    let tombstone = app
        .get(&format!("/v1/reports/{}", gone.id), &gone.partner)
        .await;
    no_5xx_while_ready(app, tombstone.status, &tombstone.body).await;
    if tombstone.status == StatusCode::OK {
        assert_eq!(tombstone.body["status"], "retracted", "{}", tombstone.body);
    }
    wait_sightings(app, ncu, &expected[2].value).await;
    let verify = app.get("/v1/audit/verify", auditor).await;
    no_5xx_while_ready(app, verify.status, &verify.body).await;
    let alerts = app.get("/v1/alerts", ncu).await;
    no_5xx_while_ready(app, alerts.status, &alerts.body).await;
    // New work flows through every stage and store.
    let fresh = app
        .post(
            "/v1/reports",
            &expected[0].partner,
            report("After", "green", &["after.example"]),
        )
        .await;
    no_5xx_while_ready(app, fresh.status, &fresh.body).await;
    assert_eq!(fresh.status, StatusCode::ACCEPTED, "{}", fresh.body);
    app.wait_found(ncu, "after.example", "investigation").await;
    lost
}

/// Fails when `status` is a 5xx and `/readyz` still says ready.
async fn no_5xx_while_ready(app: &TestApp, status: StatusCode, body: &serde_json::Value) {
    if status.is_server_error() {
        assert_ne!(
            app.readyz().await,
            StatusCode::OK,
            "a ready server answered {status}: {body}"
        );
    }
}

/// Runs Accord on `copy` and checks the promise; returns a one-line description of what happened.
async fn run_damaged(copy: &Path, file_name: &str, reports: &Reports, ncu: &str) -> String {
    let expected = &reports.0;
    let port = free_port();
    match start(copy, port).await {
        Outcome::Refused(stderr) => {
            assert!(
                stderr.contains(file_name) && stderr.contains("runbook"),
                "a refusal names the file and says what to do: {stderr}"
            );
            let line = stderr
                .lines()
                .find(|line| line.contains(file_name))
                .unwrap_or_default();
            format!("refused to start: {}", line.trim())
        }
        Outcome::Unready(body) => {
            assert!(
                body.contains("store"),
                "an unready server names the store: {body}"
            );
            format!("unready: {body}")
        }
        Outcome::Ready(mut child) => {
            let scratch = tempfile::tempdir().unwrap();
            let placeholder = accord_bus::BusClient::from_url(
                &scratch.path().join("placeholder").to_string_lossy(),
            )
            .await
            .unwrap();
            let app = crate::restart::remote(port, tempfile::tempdir().unwrap(), placeholder);
            let auditor = app.token("accord-admin", "auditor").await;
            let lost = check_ready(&app, ncu, reports, &auditor).await;
            stop_cleanly(&mut child).await;
            let stderr = std::fs::read_to_string(copy.with_extension("stderr")).unwrap_or_default();
            let healed = if stderr.contains("moved aside") {
                "set aside and rebuilt from the bus"
            } else if stderr.contains("redb repaired it") {
                "repaired by redb"
            } else {
                "no damage found (unused pages)"
            };
            format!(
                "ready ({healed}); {} of {} reports found, {lost} reported lost",
                expected.len() - lost,
                expected.len()
            )
        }
    }
}

#[tokio::test]
async fn byte_flips_in_every_store_file_are_reported_or_harmless_never_silent() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let (mut child, app, w) = crate::restart::child_world(dir.path(), &data_dir, port, &[]).await;
    let expected = fill(&app, &w).await;
    let checkpoint = dir.path().join("kept-checkpoint.json");
    keep_checkpoint(&app, &checkpoint).await;
    stop_cleanly(&mut child).await;

    let seed = seed();
    println!("ACCORD_FLIP_SEED={seed}");
    let mut files = Vec::new();
    redb_files(&data_dir, &mut files);
    assert!(files.len() >= 6, "{files:?}");
    let mut rng = Flips(seed);
    let mut table = Vec::new();
    for (number, file) in files.iter().enumerate() {
        let relative = file.strip_prefix(&data_dir).unwrap().to_owned();
        let name = relative.file_name().unwrap().to_string_lossy().into_owned();
        for (kind, copy) in [("random", "r"), ("middle", "m")] {
            let copy = dir.path().join(format!("{copy}-{number}"));
            copy_dir(&data_dir, &copy);
            let target = copy.join(&relative);
            let what = if kind == "random" {
                format!("8 bytes at {:?}", flip_random(&target, &mut rng, 8))
            } else {
                flip_middle(&target);
                String::from("64 bytes in the middle")
            };
            let mut outcome = run_damaged(&copy, &name, &expected, &w.ncu_de).await;
            if name == "audit.redb" {
                outcome = format!("{outcome}; {}", audit_verify(&copy, &checkpoint).await);
            }
            if name == "bus.redb" {
                outcome = format!("{outcome}; {}", bus_verify(&copy).await);
            }
            println!("{} ({what}): {outcome}", relative.display());
            table.push(outcome);
            std::fs::remove_dir_all(&copy).unwrap();
        }
    }
    assert_eq!(table.len(), files.len() * 2);
}

/// The ids of the objects the agency's TAXII collection serves as revoked (the retracted report's).
async fn revoked_ids(app: &TestApp, ncu: &str) -> Vec<String> {
    let mut ids: Vec<String> = crate::owned::taxii_objects(app, ncu)
        .await
        .iter()
        .filter(|object| object["revoked"] == true)
        .filter_map(|object| object["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// The stores Accord derives from the bus (decision 0071): each, damaged beyond repair (every byte overwritten),
/// is set aside and refilled from the bus on Accord's own — ready, every report found once, the retracted one still
/// gone with its tombstone, sightings counted, TAXII's revoked objects served again, a widening releasing every
/// stored report, new work flowing, and the refill's marker removed.
#[tokio::test]
async fn derived_stores_damaged_beyond_repair_are_refilled_from_the_bus() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let (mut child, app, w) = crate::restart::child_world(dir.path(), &data_dir, port, &[]).await;
    let reports = fill(&app, &w).await;
    let revoked = crate::owned::wait_taxii(&app, &w.ncu_de, |objects| {
        objects.iter().any(|object| object["revoked"] == true)
    })
    .await;
    assert!(!revoked.is_empty());
    let revoked = revoked_ids(&app, &w.ncu_de).await;
    stop_cleanly(&mut child).await;

    for relative in [
        "enforcer/reports.redb",
        "gateway/status.redb",
        "search/sightings.redb",
        "search/revocations.redb",
    ] {
        let copy = dir.path().join(relative.replace('/', "-"));
        copy_dir(&data_dir, &copy);
        let target = copy.join(relative);
        let length = std::fs::metadata(&target).unwrap().len() as usize;
        std::fs::write(&target, vec![0x5a_u8; length]).unwrap();
        let port = free_port();
        let Outcome::Ready(mut child) = start(&copy, port).await else {
            let stderr = std::fs::read_to_string(copy.with_extension("stderr")).unwrap_or_default();
            panic!("{relative}: not ready after it was set aside: {stderr}");
        };
        let scratch = tempfile::tempdir().unwrap();
        let placeholder =
            accord_bus::BusClient::from_url(&scratch.path().join("placeholder").to_string_lossy())
                .await
                .unwrap();
        let remote = crate::restart::remote(port, tempfile::tempdir().unwrap(), placeholder);
        let auditor = remote.token("accord-admin", "auditor").await;
        let lost = check_ready(&remote, &w.ncu_de, &reports, &auditor).await;
        assert_eq!(lost, 0, "{relative}: nothing is lost from a derived store");
        assert_eq!(
            revoked_ids(&remote, &w.ncu_de).await,
            revoked,
            "{relative}: the revoked objects are served again"
        );
        // A policy change re-evaluates the stored reports: the enforcer's store holds every one of them again.
        remote
            .create_mou(mou("m3", "bank-b", &["ncu-fr"], json!({})))
            .await;
        for report in reports
            .0
            .iter()
            .filter(|report| report.partner != w.partner)
        {
            remote
                .wait_found(&w.ncu_fr, &report.value, "investigation")
                .await;
        }
        stop_cleanly(&mut child).await;
        let stderr = std::fs::read_to_string(copy.with_extension("stderr")).unwrap_or_default();
        assert!(
            stderr.contains("moved aside") && stderr.contains("store refilled from the bus"),
            "{relative}: {stderr}"
        );
        let marker = copy.join(format!("{relative}.refill"));
        assert!(!marker.exists(), "{relative}: the refill is done");
        println!("{relative}: set aside and refilled from the bus");
        std::fs::remove_dir_all(&copy).unwrap();
    }
}
