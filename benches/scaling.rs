//! Throughput of one replica of each consuming stage against three (issue 18 item 5), on a tansu broker with six
//! partitions per topic: every service its own process (release build), the normalizer and the enforcer with
//! `--replicas` processes each, one indexer (tantivy takes one writer; indexer replicas need OpenSearch).
//!
//! For each replica count, after a warm-up of 100 reports: the reports are posted by 32 concurrent clients as fast as the gateway takes them, and
//! the run is over when every report is evaluated (`accord check`'s conservation holds) and the indexer's group has
//! committed the end of `reports.releasable`. Every half second the consumer lag of each stage's group (records
//! published and not committed, summed over partitions) is sampled. Printed as a table and written as JSON to
//! `target/bench-scaling.json`.
//!
//! `scripts/bench-scaling.sh [--reports N] [--replicas 1,3] [--runs 3]` runs it (it installs tansu first), the
//! replica counts taking turns, so that a slow spell of the machine does not fall on one count only. Each run starts
//! its own broker and processes in temporary directories (`TMPDIR`: on a tmpfs, the broker's sqlite commits cost
//! nothing, and the figures show Accord's coordination rather than the disk). On a 2-core machine
//! the ratio shows coordination overhead, not speed-up: the processes share the cores.

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/kafka_pipeline/cluster.rs"]
mod cluster;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use accord_bus::BusClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use cluster::Cluster;

const PARTITIONS: usize = 6;
const POSTERS: usize = 32;
const INDICATORS: usize = 10;
/// Reports processed before the clock starts.
const WARMUP: usize = 100;

/// The stages whose lag is sampled: (consumer group, topic it consumes).
const STAGES: [(&str, &str); 3] = [
    ("normalizer", "reports.raw"),
    ("enforcer", "reports.normalized"),
    ("indexer", "reports.releasable"),
];

/// What one run measured.
#[derive(Debug, Default)]
struct Run {
    replicas: usize,
    reports: usize,
    /// From the first POST until every report was 202'd.
    accepted_secs: f64,
    /// From the first POST until the indexer committed every release.
    done_secs: f64,
    /// The largest lag seen per stage.
    max_lag: [u64; 3],
}

impl Run {
    fn json(&self) -> Value {
        let lag: serde_json::Map<String, Value> = STAGES
            .iter()
            .zip(self.max_lag)
            .map(|((group, _), lag)| (group.to_string(), json!(lag)))
            .collect();
        json!({
            "replicas": self.replicas,
            "reports": self.reports,
            "indicators": self.reports * INDICATORS,
            "accepted_reports_per_s": self.reports as f64 / self.accepted_secs,
            "processed_reports_per_s": self.reports as f64 / self.done_secs,
            "processed_secs": self.done_secs,
            "max_consumer_lag": lag,
        })
    }
}

fn report(n: usize) -> Value {
    let indicators: Vec<Value> = (0..INDICATORS)
        .map(|i| json!({ "value": format!("s{n}-{i}.scaling-bench.example") }))
        .collect();
    json!({
        "title": format!("Scaling bench report {n}"),
        "description": "Credential phishing wave against online banking customers.",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "categories": ["phishing"],
        "sector": "finance",
        "indicators": indicators,
    })
}

/// Posts reports `first..end` with [`POSTERS`] clients, each retried until it gets its 202.
async fn post_all(cluster: &Cluster, partner: &str, first: usize, end: usize) {
    let next = Arc::new(AtomicUsize::new(first));
    let mut posters = tokio::task::JoinSet::new();
    for _ in 0..POSTERS {
        let (client, url, partner, next) = (
            cluster.client.clone(),
            format!("{}/v1/reports", cluster.url("gateway")),
            partner.to_owned(),
            Arc::clone(&next),
        );
        posters.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    return;
                }
                let body = report(n);
                loop {
                    let sent = client.post(&url).bearer_auth(&partner).json(&body);
                    match sent.send().await {
                        Ok(response) if response.status() == StatusCode::ACCEPTED => break,
                        _ => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }
        });
    }
    while posters.join_next().await.is_some() {}
}

/// Records published to `topic` and not committed by `group`, over all partitions.
async fn lag(bus: &BusClient, group: &str, topic: &str) -> u64 {
    let end: u64 = bus
        .end_offsets(topic)
        .await
        .map(|ends| ends.iter().map(|p| p.offset).sum())
        .unwrap_or(0);
    let committed: u64 = bus
        .committed_offsets(group, topic)
        .await
        .map(|committed| committed.iter().map(|p| p.offset).sum())
        .unwrap_or(0);
    end.saturating_sub(committed)
}

/// Samples every stage's lag into `max_lag` until `stop`.
async fn sample_lag(bus: BusClient, stop: Arc<AtomicBool>) -> [u64; 3] {
    let mut max_lag = [0; 3];
    while !stop.load(Ordering::Acquire) {
        for (k, (group, topic)) in STAGES.iter().enumerate() {
            max_lag[k] = max_lag[k].max(lag(&bus, group, topic).await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    max_lag
}

/// Waits until every report is evaluated and the indexer has committed every release.
async fn wait_processed(bus: &BusClient, reports: usize) {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        assert!(Instant::now() < deadline, "the pipeline never caught up");
        let counts = accord::check::conservation(bus).await.unwrap();
        if counts.holds() && counts.accepted >= reports {
            let (group, topic) = STAGES[2];
            if lag(bus, group, topic).await == 0 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn run(replicas: usize, reports: usize) -> Run {
    // Several live members per group: a session tansu's join pause fits in (`STABLE_SESSION_TIMEOUT`).
    let mut cluster = Cluster::start_with(PARTITIONS, cluster::STABLE_SESSION_TIMEOUT).await;
    for k in 2..=replicas {
        for stage in ["normalizer", "enforcer"] {
            cluster.spawn_replica(&format!("{stage}-{k}"), stage).await;
        }
    }
    let (partner, _agency) = cluster.world().await;
    let bus = BusClient::from_url(&cluster.bus_url).await.unwrap();
    // Warm-up: every replica has joined its group and taken its partitions before the clock starts.
    post_all(&cluster, &partner, reports, reports + WARMUP).await;
    wait_processed(&bus, WARMUP).await;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_lag(bus.clone(), Arc::clone(&stop)));
    let start = Instant::now();
    post_all(&cluster, &partner, 0, reports).await;
    let accepted_secs = start.elapsed().as_secs_f64();
    wait_processed(&bus, WARMUP + reports).await;
    let done_secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Release);
    let max_lag = sampler.await.unwrap();
    let (status, _) = cluster
        .call("gateway", Method::GET, "/readyz", "", None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the gateway went down during the run"
    );
    cluster.stop_all().await;
    Run {
        replicas,
        reports,
        accepted_secs,
        done_secs,
        max_lag,
    }
}

/// `--reports N` (default 3000), `--replicas 1,3` (default) and `--runs N` (of each replica count, default 3).
fn arguments() -> (usize, Vec<usize>, usize) {
    let mut reports = 3_000;
    let mut replicas = vec![1, 3];
    let mut runs = 3;
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--reports" => reports = pair[1].parse().expect("--reports takes a number"),
            "--runs" => runs = pair[1].parse().expect("--runs takes a number"),
            "--replicas" => {
                replicas = pair[1]
                    .split(',')
                    .map(|n| n.parse().expect("--replicas takes numbers, e.g. 1,3"))
                    .collect();
            }
            _ => {}
        }
    }
    (reports, replicas, runs)
}

/// The median processed throughput of the runs with `replicas`.
fn median_processed(runs: &[Run], replicas: usize) -> Option<f64> {
    let mut rates: Vec<f64> = runs
        .iter()
        .filter(|run| run.replicas == replicas)
        .map(|run| run.reports as f64 / run.done_secs)
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let (reports, replica_counts, repeat) = arguments();
    assert!(
        cluster::enabled(),
        "the scaling bench needs tansu: run scripts/bench-scaling.sh"
    );
    let mut runs = Vec::new();
    for round in 1..=repeat {
        for &replicas in &replica_counts {
            eprintln!(
                "scaling bench, run {round} of {repeat}: {replicas} replica(s) of the normalizer and the enforcer, \
                 {reports} reports"
            );
            let run = run(replicas, reports).await;
            eprintln!("  {}", run.json());
            runs.push(run);
        }
    }
    println!(
        "| replicas per stage | reports/s accepted | reports/s processed | max lag normalizer | enforcer | indexer |"
    );
    println!("|---|---|---|---|---|---|");
    for run in &runs {
        println!(
            "| {} | {:.0} | {:.0} | {} | {} | {} |",
            run.replicas,
            run.reports as f64 / run.accepted_secs,
            run.reports as f64 / run.done_secs,
            run.max_lag[0],
            run.max_lag[1],
            run.max_lag[2]
        );
    }
    if let (Some(&one), Some(&last)) = (replica_counts.first(), replica_counts.last())
        && let (Some(base), Some(scaled)) =
            (median_processed(&runs, one), median_processed(&runs, last))
    {
        println!(
            "median processed throughput, {last} replicas against {one}: {:.2} ({scaled:.0} against {base:.0} \
             reports/s)",
            scaled / base
        );
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scaling.json");
    let json: Vec<Value> = runs.iter().map(Run::json).collect();
    std::fs::write(&out, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    eprintln!("written to {}", out.display());
}
