//! A hostile partner next to partners posting as usual, against `accord up` as a child process.
//!
//! The hostile partner sends the expanding submission of issue 15 (refused), then floods the heaviest reports the
//! limits let through from four connections, so that its backlog stays full. Two other partners post one report at a
//! time, each waited for until it is searchable, first alone (the baseline), then during the flood. For each of their
//! reports the test counts the batches each stage on its way (normalizer, enforcer, indexer) completed while the
//! report waited in it (`accord_stage_batches_total`, read when it was accepted, seen normalized, seen released and
//! found): a count of batches, not a duration, so that the comparison does not depend on how loaded the machine is.
//! Alone, a report waits for its own batch in each stage (3). Next to the flood, stages process batches of one
//! partner each in several lanes (decision 0044): the flooder holds one lane and the report goes into another, so it
//! waits for its own batch while the flooder's lane may complete one more. The p99 must stay within twice the
//! baseline's, where batches made in log order would put it behind the hostile partner's whole backlog.
//! Ingest→searchable times, in total and per stage, are printed for both; wall-clock figures are measured by
//! `accord loadgen --flood` on a release build, not asserted here.
//!
//! Then SIGTERM, with the hostile backlog still queued: the process stops cleanly, within its grace period (the log
//! says `stopped cleanly`, not `grace period over`).

use std::{
    path::Path,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::{
    helpers::{ADMIN_TOKEN, PATIENCE, TestApp, mou, report},
    hostile,
};

/// Reports each benign phase sends.
const SAMPLE: usize = 30;

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts `accord up` with its log in `log`; the test's pollers get a rate they cannot reach.
async fn start_child(data_dir: &Path, port: u16, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["up", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("ACCORD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ACCORD_HTTP__RATE_LIMIT_PER_SECOND", "100000")
        .env("ACCORD_HTTP__RATE_LIMIT_BURST", "100000")
        // Two validations at once whatever the machine (the default is half the cores): on two cores the flood
        // then keeps its backlog full, the case the promise is about.
        .env("ACCORD_GATEWAY__MAX_CONCURRENT_VALIDATIONS", "2")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
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

/// The stages on a report's way from the bus to the index.
const STAGES: [&str; 3] = ["normalizer", "enforcer", "indexer"];

/// Each stage's completed batches, from `/metrics` (in the order of [`STAGES`]).
async fn stage_batches(app: &TestApp) -> [u64; 3] {
    let text = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    STAGES.map(|stage| {
        let prefix = format!("accord_stage_batches_total{{stage=\"{stage}\"}}");
        text.lines()
            .find(|line| line.starts_with(&prefix))
            .and_then(|line| line.split_whitespace().last())
            .and_then(|value| value.parse::<f64>().ok())
            .map_or(0, |value| value as u64)
    })
}

/// One benign report: the batches each stage completed while the report waited in it, and how long it took from
/// its POST until it was searchable.
struct Sample {
    batches: [u64; 3],
    /// The time the report spent in each stage (from when it could reach the stage until it was seen past it).
    spent: [Duration; 3],
    searchable: Duration,
}

impl Sample {
    /// The batches the report waited for on its way: at least its own in each stage (a counter read a moment before
    /// the stage counted the batch that carried it is not a batch fewer).
    fn total(&self) -> u64 {
        self.batches.iter().map(|&batches| batches.max(1)).sum()
    }
}

/// Waits until the partner sees the report normalized (or further).
async fn wait_normalized(app: &TestApp, partner: &str, id: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = app.get(&format!("/v1/reports/{id}"), partner).await;
        if matches!(
            status.body["status"].as_str(),
            Some("normalized" | "released")
        ) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "report {id} never normalized"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Posts `SAMPLE` reports, alternating between the partners, one at a time, each waited for until searchable. Each
/// stage's batches are counted from when the report could reach it (accepted, seen normalized, seen released) until
/// the report was seen past it.
async fn measure(app: &TestApp, partners: &[String], agency: &str, phase: u8) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(SAMPLE);
    for n in 0..SAMPLE {
        let partner = &partners[n % partners.len()];
        let ip = format!("198.18.{phase}.{}", n + 1);
        let started = Instant::now();
        let id = app
            .submit(
                partner,
                report(&format!("Benign {phase}-{n}"), "green", &[&ip]),
            )
            .await;
        // Read once the bus has the report (202): batches completed while the gateway validated it did not delay it.
        let posted = stage_batches(app).await;
        let posted_at = Instant::now();
        wait_normalized(app, partner, &id).await;
        let normalized = stage_batches(app).await;
        let normalized_at = Instant::now();
        app.wait_status(partner, &id, &["released"]).await;
        let released = stage_batches(app).await;
        let released_at = Instant::now();
        app.wait_found(agency, &ip, "investigation").await;
        let searchable = started.elapsed();
        let found = stage_batches(app).await;
        samples.push(Sample {
            batches: [
                normalized[0] - posted[0],
                released[1] - normalized[1],
                found[2] - released[2],
            ],
            spent: [
                normalized_at - posted_at,
                released_at - normalized_at,
                released_at.elapsed(),
            ],
            searchable,
        });
    }
    samples
}

fn percentile<T: Copy + Ord>(values: &[T], percent: usize) -> T {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

/// What the hostile partner does: the expanding submission (refused), then the heaviest reports, from four tasks,
/// waiting as `Retry-After` says when its backlog is full. Counts the reports accepted and the 429s.
struct Flood {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    backlog_full: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn start_flood(app: &TestApp, token: &str) -> Flood {
    let refused = app.post("/v1/reports", token, hostile::expanding()).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let flood = Flood {
        stop: Arc::default(),
        accepted: Arc::default(),
        backlog_full: Arc::default(),
        tasks: Vec::new(),
    };
    let mut tasks = Vec::new();
    for worker in 0..4_u32 {
        let (client, url, token) = (
            app.client.clone(),
            format!("{}/v1/reports", app.url),
            token.to_owned(),
        );
        let (stop, accepted, full) = (
            flood.stop.clone(),
            flood.accepted.clone(),
            flood.backlog_full.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut seed = worker;
            while !stop.load(Ordering::SeqCst) {
                let body: Value = hostile::heavy(seed);
                let Ok(response) = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                else {
                    continue;
                };
                match response.status() {
                    StatusCode::ACCEPTED => {
                        accepted.fetch_add(1, Ordering::SeqCst);
                        seed += 4;
                    }
                    StatusCode::TOO_MANY_REQUESTS => {
                        full.fetch_add(1, Ordering::SeqCst);
                        let wait: u64 = response.headers()["retry-after"]
                            .to_str()
                            .unwrap()
                            .parse()
                            .unwrap();
                        tokio::time::sleep(Duration::from_secs(wait)).await;
                    }
                    other => panic!("the flood got {other}"),
                }
            }
        }));
    }
    Flood { tasks, ..flood }
}

async fn world(app: &TestApp) -> (String, Vec<String>, String) {
    for (id, kind) in [
        ("bank-h", "partner"),
        ("bank-a", "partner"),
        ("bank-b", "partner"),
        ("ncu-de", "agency"),
    ] {
        app.create_org(id, kind, "DE").await;
    }
    for partner in ["bank-h", "bank-a", "bank-b"] {
        app.create_mou(mou(
            &format!("m-{partner}"),
            partner,
            &["ncu-de"],
            json!({}),
        ))
        .await;
    }
    let hostile = app.token("bank-h", "partner").await;
    let partners = vec![
        app.token("bank-a", "partner").await,
        app.token("bank-b", "partner").await,
    ];
    (hostile, partners, app.token("ncu-de", "investigator").await)
}

/// Sends SIGTERM and waits for the process to exit (a hang guard well past its 30 s grace period).
async fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().expect("the child runs").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    tokio::time::timeout(Duration::from_secs(90), child.wait())
        .await
        .expect("accord up did not stop after SIGTERM")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_partner_delays_others_by_at_most_one_batch_and_sigterm_still_stops_the_process()
{
    let dir = tempfile::tempdir().unwrap();
    let (data_dir, log) = (dir.path().join("data"), dir.path().join("accord.log"));
    let port = free_port();
    let child = start_child(&data_dir, port, &log).await;
    let placeholder =
        accord_bus::BusClient::from_url(&dir.path().join("unused-bus").to_string_lossy())
            .await
            .unwrap();
    let app = TestApp::remote(format!("http://127.0.0.1:{port}"), dir, placeholder);
    let (hostile_token, partners, agency) = world(&app).await;

    let baseline = measure(&app, &partners, &agency, 1).await;
    let flood = start_flood(&app, &hostile_token).await;
    // The flood has filled the hostile partner's backlog before the measurement starts.
    let deadline = tokio::time::Instant::now() + PATIENCE * 4;
    while flood.backlog_full.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hostile backlog never filled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let contended = measure(&app, &partners, &agency, 2).await;
    flood.stop.store(true, Ordering::SeqCst);
    for task in flood.tasks {
        task.await.unwrap();
    }
    let hostile_accepted = flood.accepted.load(Ordering::SeqCst);

    // SIGTERM with the hostile backlog queued.
    let exit = terminate(child).await;
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(exit.success(), "accord up exited with {exit}");
    assert!(
        log.contains("stopped cleanly") && !log.contains("grace period over"),
        "accord up did not stop within its grace period:\n{log}"
    );

    let totals = |samples: &[Sample]| samples.iter().map(Sample::total).collect::<Vec<_>>();
    let times = |samples: &[Sample]| {
        samples
            .iter()
            .map(|sample| sample.searchable)
            .collect::<Vec<_>>()
    };
    let per_stage = |samples: &[Sample]| {
        STAGES
            .iter()
            .enumerate()
            .map(|(index, stage)| {
                let batches: Vec<u64> = samples
                    .iter()
                    .map(|sample| sample.batches[index].max(1))
                    .collect();
                let spent: Vec<Duration> =
                    samples.iter().map(|sample| sample.spent[index]).collect();
                format!(
                    "{stage} {}/{} batches, {:?}/{:?}",
                    percentile(&batches, 50),
                    percentile(&batches, 99),
                    percentile(&spent, 50),
                    percentile(&spent, 99)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (base, contended_totals) = (totals(&baseline), totals(&contended));
    println!(
        "fairness: {hostile_accepted} heavy hostile reports accepted; batches waited on the way to searchable \
         p50/p99: baseline {}/{} ({}), next to the flood {}/{} ({}); ingest→searchable p50/p99: baseline \
         {:?}/{:?}, next to the flood {:?}/{:?}",
        percentile(&base, 50),
        percentile(&base, 99),
        per_stage(&baseline),
        percentile(&contended_totals, 50),
        percentile(&contended_totals, 99),
        per_stage(&contended),
        percentile(&times(&baseline), 50),
        percentile(&times(&baseline), 99),
        percentile(&times(&contended), 50),
        percentile(&times(&contended), 99),
    );
    assert!(hostile_accepted > 0, "the flood was never accepted");
    // Within one batch per stage of the baseline: the batch in progress, then the report's own.
    assert!(
        percentile(&contended_totals, 99) <= 2 * percentile(&base, 99),
        "next to the flood, reports waited {contended_totals:?} batches; alone {base:?}"
    );
}
