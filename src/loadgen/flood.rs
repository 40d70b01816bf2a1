//! `accord loadgen --flood`: what a hostile partner's flood does to the others' ingest→searchable latency.
//!
//! 1. Baseline: the run's partner posts `--flood-samples` reports one at a time; each is timed from its POST until
//!    one of its indicators is found by the run's agency.
//! 2. A second partner (the flooder, with its own MoU to the same agency) sends the expanding submission of issue 15
//!    ([`expanding_report`], which must be refused with 422), then posts [`heavy_report`]s — the heaviest
//!    reports the default limits let through — from `--flood-connections` connections, honouring `Retry-After` when
//!    its backlog is full (429).
//! 3. Once the flooder's backlog has been full at least once, the same measurement again.
//!
//! Printed: p50/p99 of both phases and their ratio (issue "no partner can stall another": the p99 during the flood
//! within twice the baseline's), the flooder's reports accepted and its 429s.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    client::{Api, Setup, add_partner, indicator_path},
    synth::Synth,
};

/// The submission of issue 15: about 1.8 MB whose STIX patterns expand to 120 000 IP addresses and whose description
/// holds 15 000 more. The declared indicators are none, so only counting what patterns and free text produce
/// refuses it (422 before the bus).
pub fn expanding_report() -> Value {
    let patterns: Vec<Value> = (0..30)
        .map(|pattern| {
            let values: Vec<String> = (0..4000)
                .map(|n| format!("'10.{pattern}.{}.{}'", n / 250, n % 250))
                .collect();
            json!({
                "pattern_type": "stix",
                "pattern": format!("[ipv4-addr:value IN ({})]", values.join(","))
            })
        })
        .collect();
    let mut description = String::new();
    let mut n = 0_u32;
    while description.len() < 190_000 {
        description.push_str(&format!(
            "172.{}.{}.{} ",
            n / 65536 % 256,
            n / 256 % 256,
            n % 256
        ));
        n += 1;
    }
    json!({
        "title": "Indicators of a large campaign",
        "description": description,
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "amber",
        "classification": "unclassified",
        "categories": ["malware"],
        "patterns": patterns,
    })
}

/// A report as heavy as the default limits allow in practice: a 190 KB description naming about 3 500 addresses and
/// e-mail addresses (each also personal data to locate), about 1.5 MB once normalized. `seed` makes its indicators
/// its own.
pub fn heavy_report(seed: u32) -> Value {
    let mut description = String::new();
    let mut n = 0_u32;
    while description.len() < 190_000 {
        description.push_str(&format!(
            "host{n} seen at 100.{}.{}.{} by j.doe{}@heavy{seed}.example.com; ",
            64 + seed % 64,
            n / 256 % 256,
            n % 256,
            n % 50
        ));
        n += 1;
    }
    json!({
        "title": format!("Heavy report {seed}"),
        "description": description,
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "amber",
        "classification": "unclassified",
        "categories": ["malware"],
        "sector": "finance",
    })
}

/// How to flood.
#[derive(Debug, Clone)]
pub(crate) struct FloodConfig {
    /// Reports timed in each phase.
    pub(crate) samples: usize,
    /// The flooder's connections.
    pub(crate) connections: usize,
    /// Pause between two polls of a sample.
    pub(crate) poll_interval: Duration,
    /// A sample not searchable after this long fails the run.
    pub(crate) give_up: Duration,
}

/// What the flood measured.
#[derive(Debug, Serialize)]
pub(crate) struct FloodOutcome {
    pub(crate) baseline_p50_ms: f64,
    pub(crate) baseline_p99_ms: f64,
    pub(crate) flood_p50_ms: f64,
    pub(crate) flood_p99_ms: f64,
    /// The flood's p99 over the baseline's.
    pub(crate) p99_ratio: f64,
    pub(crate) flood_accepted: usize,
    pub(crate) flood_backlog_full: usize,
    /// Every sample of the baseline, in milliseconds, in the order taken (for pooling runs: scripts/bench-flood.sh).
    pub(crate) baseline_ms: Vec<f64>,
    /// Every sample next to the flood, in milliseconds.
    pub(crate) flood_ms: Vec<f64>,
}

impl FloodOutcome {
    pub(crate) fn text(&self) -> String {
        format!(
            "flood: others' ingest→searchable p50/p99 alone {:.0}/{:.0} ms, next to the flood {:.0}/{:.0} ms \
             (p99 ×{:.2}); the flooder had {} heavy reports accepted and {} answers 429\n",
            self.baseline_p50_ms,
            self.baseline_p99_ms,
            self.flood_p50_ms,
            self.flood_p99_ms,
            self.p99_ratio,
            self.flood_accepted,
            self.flood_backlog_full,
        )
    }
}

/// Runs the three steps of the module documentation.
///
/// # Errors
/// Fails when set-up is refused, a sample is refused or never becomes searchable, or the flood is refused.
pub(crate) async fn run(
    api: &Api,
    admin: &str,
    setup: &Setup,
    synth: &Synth,
    config: &FloodConfig,
) -> anyhow::Result<FloodOutcome> {
    let flooder = add_partner(api, admin, setup, "flooder").await?;
    eprintln!("loadgen: flood: baseline of {} reports", config.samples);
    let baseline = measure(api, setup, synth, config, 0).await?;
    let refused = api
        .post(
            "/v1/reports",
            &flooder,
            serde_json::to_vec(&expanding_report())?,
        )
        .await?;
    if refused.status != StatusCode::UNPROCESSABLE_ENTITY {
        bail!(
            "the expanding submission was not refused: {} {}",
            refused.status,
            refused.body
        );
    }
    let flood = Flood::start(api, flooder, config.connections)?;
    let deadline = Instant::now() + config.give_up;
    // Measuring starts once the flood is under way: the flooder's backlog is full (429), or the pipeline keeps up
    // with it and it has had a few heavy reports per connection accepted.
    let warm = WARM_UP_PER_CONNECTION * config.connections.max(1);
    while flood.backlog_full.load(Ordering::SeqCst) == 0
        && flood.accepted.load(Ordering::SeqCst) < warm
    {
        if let Some(error) = flood.failure() {
            bail!("the flood was refused: {error}");
        }
        if Instant::now() >= deadline {
            bail!("the flood never got under way");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("loadgen: flood: under way; measuring next to it");
    let contended = measure(api, setup, synth, config, config.samples).await;
    let (accepted, full) = flood.stop().await?;
    let contended = contended?;
    let (base_p99, flood_p99) = (percentile(&baseline, 99), percentile(&contended, 99));
    Ok(FloodOutcome {
        baseline_p50_ms: percentile(&baseline, 50),
        baseline_p99_ms: base_p99,
        flood_p50_ms: percentile(&contended, 50),
        flood_p99_ms: flood_p99,
        p99_ratio: flood_p99 / base_p99.max(f64::MIN_POSITIVE),
        flood_accepted: accepted,
        flood_backlog_full: full,
        baseline_ms: baseline,
        flood_ms: contended,
    })
}

/// Posts `config.samples` reports one at a time (synthetic report numbers from `first`), each timed until one of its
/// indicators is searchable; milliseconds.
async fn measure(
    api: &Api,
    setup: &Setup,
    synth: &Synth,
    config: &FloodConfig,
    first: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::with_capacity(config.samples);
    for report in (first..first + config.samples).map(|n| n as u64) {
        let body = serde_json::to_vec(&synth.report(report))?;
        let started = Instant::now();
        let reply = api.post("/v1/reports", &setup.partner_token, body).await?;
        if reply.status != StatusCode::ACCEPTED {
            bail!("a sample was refused: {} {}", reply.status, reply.body);
        }
        let value = synth.indicators(report).swap_remove(0).value;
        let path = indicator_path(&value);
        loop {
            let found = api.get(&path, &setup.investigator_token).await?;
            if found.status == StatusCode::OK {
                break;
            }
            if started.elapsed() >= config.give_up {
                bail!(
                    "sample {value} never became searchable: {} {}",
                    found.status,
                    found.body
                );
            }
            tokio::time::sleep(config.poll_interval).await;
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(times)
}

fn percentile(values: &[f64], percent: usize) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .get((sorted.len() * percent / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

/// Heavy reports accepted per flood connection before the flood counts as under way (when its backlog is not full
/// first).
const WARM_UP_PER_CONNECTION: usize = 4;

/// The distinct heavy bodies the flooder posts, in turn.
const FLOOD_BODIES: u32 = 32;

/// The flooder's connections. The flooder stands for a partner on a machine of its own: its bodies are built
/// before it starts ([`FLOOD_BODIES`], posted in turn), and its connections run on a runtime of their own, so that
/// neither its JSON work nor its sends of megabytes hold up the measuring client's tasks on the loadgen's runtime.
struct Flood {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    backlog_full: Arc<AtomicUsize>,
    failure: Arc<std::sync::Mutex<Option<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Flood {
    fn start(api: &Api, token: String, connections: usize) -> anyhow::Result<Self> {
        let bodies: Arc<Vec<bytes::Bytes>> = Arc::new(
            (0..FLOOD_BODIES)
                .map(|seed| serde_json::to_vec(&heavy_report(seed)).map(bytes::Bytes::from))
                .collect::<Result<_, _>>()?,
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("loadgen-flooder")
            .enable_all()
            .build()
            .context("failed to start the flooder's runtime")?;
        let api = api.separate(connections)?;
        let mut flood = Self {
            stop: Arc::default(),
            accepted: Arc::default(),
            backlog_full: Arc::default(),
            failure: Arc::default(),
            tasks: Vec::new(),
            runtime: None,
        };
        for worker in 0..connections.max(1) {
            let connection = Connection {
                api: api.clone(),
                token: token.clone(),
                bodies: Arc::clone(&bodies),
                stop: flood.stop.clone(),
                accepted: flood.accepted.clone(),
                full: flood.backlog_full.clone(),
                failure: flood.failure.clone(),
            };
            let (first, step) = (worker, connections.max(1));
            flood
                .tasks
                .push(runtime.spawn(connection.post_until_stopped(first, step)));
        }
        flood.runtime = Some(runtime);
        Ok(flood)
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// Stops the connections; returns the reports accepted and the 429s.
    async fn stop(mut self) -> anyhow::Result<(usize, usize)> {
        self.stop.store(true, Ordering::SeqCst);
        for task in std::mem::take(&mut self.tasks) {
            task.await.context("a flood connection panicked")?;
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        if let Some(error) = self.failure() {
            bail!("the flood was refused: {error}");
        }
        Ok((
            self.accepted.load(Ordering::SeqCst),
            self.backlog_full.load(Ordering::SeqCst),
        ))
    }
}

impl Drop for Flood {
    /// A runtime cannot be dropped on another one's thread: it is let go in the background.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// One of the flooder's connections.
struct Connection {
    api: Api,
    token: String,
    bodies: Arc<Vec<bytes::Bytes>>,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    full: Arc<AtomicUsize>,
    failure: Arc<std::sync::Mutex<Option<String>>>,
}

impl Connection {
    /// Posts bodies `first`, `first + step`, … (in turn) until stopped, honouring 429 with a second's pause.
    async fn post_until_stopped(self, first: usize, step: usize) {
        let mut next = first;
        while !self.stop.load(Ordering::SeqCst) {
            let body = self.bodies[next % self.bodies.len()].to_vec();
            let Ok(reply) = self.api.post("/v1/reports", &self.token, body).await else {
                continue;
            };
            match reply.status {
                StatusCode::ACCEPTED => {
                    self.accepted.fetch_add(1, Ordering::SeqCst);
                    next = next.wrapping_add(step);
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    self.full.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                other => {
                    let mut failure = self
                        .failure
                        .lock()
                        .unwrap_or_else(|poison| poison.into_inner());
                    *failure = Some(format!("{other}: {}", reply.body));
                    return;
                }
            }
        }
    }
}
