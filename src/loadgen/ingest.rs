//! Ingest: C workers POST the synthetic reports (paced to a target rate when one is given), while a sampler polls
//! one indicator of every `stride`-th accepted report until it is searchable; at the end the last accepted reports
//! are polled to find when everything became searchable.

use anyhow::Context as _;
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinSet,
};

use super::{
    client::{Api, indicator_path},
    synth::Synth,
};

/// How to ingest.
#[derive(Debug, Clone)]
pub(crate) struct IngestConfig {
    /// Reports to post.
    pub(crate) reports: usize,
    /// Concurrent posting workers.
    pub(crate) concurrency: usize,
    /// Target reports per second; 0 = as fast as possible.
    pub(crate) rate: f64,
    /// Every `sample_stride`-th report is a latency sample.
    pub(crate) sample_stride: usize,
    /// At most this many samples are polled at once.
    pub(crate) pollers: usize,
    /// Pause between two polls of one sample.
    pub(crate) poll_interval: Duration,
    /// A sample not found after this long counts as not found.
    pub(crate) give_up: Duration,
    /// How many of the last accepted reports decide "everything is searchable".
    pub(crate) tail: usize,
}

/// What ingest measured.
#[derive(Debug, Default)]
pub(crate) struct IngestOutcome {
    /// Indices of the accepted reports, with when their 202 arrived, in acceptance order.
    pub(crate) accepted: Vec<(u32, Instant)>,
    /// Refusals and transport errors, by status.
    pub(crate) errors: BTreeMap<String, usize>,
    /// The first few error bodies.
    pub(crate) error_examples: Vec<String>,
    /// Ingest→searchable latencies of the samples that were found.
    pub(crate) samples: Vec<Duration>,
    /// Samples not found within the give-up time (with the last thing the server said).
    pub(crate) samples_missing: Vec<String>,
    /// Samples that waited for a free poller (more than one poll interval after their 202).
    pub(crate) samples_late: usize,
    /// Late samples already searchable at their first poll: their latency is only an upper bound.
    pub(crate) samples_censored: usize,
    /// When the last of the tail reports became searchable (`None` when one never did).
    pub(crate) all_searchable: Option<Instant>,
    /// Tail reports never found.
    pub(crate) tail_missing: usize,
    /// Search requests the pollers made (extra load on the server while ingesting).
    pub(crate) poll_requests: u64,
}

struct Shared {
    api: Api,
    token: String,
    investigator: String,
    synth: Synth,
    config: IngestConfig,
    started: Instant,
    next: AtomicUsize,
}

#[derive(Default)]
struct WorkerResult {
    accepted: Vec<(u32, Instant)>,
    errors: BTreeMap<String, usize>,
    examples: Vec<String>,
}

fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}

async fn worker(
    shared: Arc<Shared>,
    samples: mpsc::UnboundedSender<(u32, Instant)>,
) -> WorkerResult {
    let mut result = WorkerResult::default();
    let config = &shared.config;
    loop {
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        if index >= config.reports {
            return result;
        }
        if config.rate > 0.0 {
            let due = shared.started + Duration::from_secs_f64(index as f64 / config.rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let outcome = match serde_json::to_vec(&shared.synth.report(index as u64)) {
            Ok(body) => shared.api.post("/v1/reports", &shared.token, body).await,
            Err(error) => Err(error.into()),
        };
        let (key, example) = match outcome {
            Ok(reply) if reply.status == StatusCode::ACCEPTED => {
                let at = Instant::now();
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                result.accepted.push((index, at));
                if (index as usize).is_multiple_of(config.sample_stride) {
                    let _ = samples.send((index, at));
                }
                continue;
            }
            Ok(reply) => (
                reply.status.as_u16().to_string(),
                format!("{}: {}", reply.status, truncate(&reply.body)),
            ),
            Err(error) => ("transport".to_owned(), format!("{error:#}")),
        };
        *result.errors.entry(key).or_default() += 1;
        if result.examples.len() < 3 {
            result.examples.push(example);
        }
    }
}

/// The result of polling one indicator.
enum Poll {
    Found { at: Instant, polls: u32 },
    Missing { last: String },
}

async fn poll(shared: &Shared, counter: &AtomicU64, value: &str) -> Poll {
    let path = indicator_path(value);
    let start = Instant::now();
    let mut polls = 0;
    loop {
        polls += 1;
        counter.fetch_add(1, Ordering::Relaxed);
        let last = match shared.api.get(&path, &shared.investigator).await {
            Ok(reply) if reply.status == StatusCode::OK => {
                return Poll::Found {
                    at: Instant::now(),
                    polls,
                };
            }
            Ok(reply) if reply.status == StatusCode::NOT_FOUND => {
                "404 (still not searchable)".to_owned()
            }
            Ok(reply) => format!("{}: {}", reply.status, truncate(&reply.body)),
            Err(error) => format!("{error:#}"),
        };
        if start.elapsed() >= shared.config.give_up {
            return Poll::Missing {
                last: format!("{value}: {last}"),
            };
        }
        tokio::time::sleep(shared.config.poll_interval).await;
    }
}

/// Polls the first indicator of each sampled report as it is accepted.
async fn sampler(
    shared: Arc<Shared>,
    counter: Arc<AtomicU64>,
    mut accepted: mpsc::UnboundedReceiver<(u32, Instant)>,
) -> Vec<(Instant, bool, Poll)> {
    let permits = Arc::new(Semaphore::new(shared.config.pollers.max(1)));
    let mut polls = JoinSet::new();
    while let Some((index, at)) = accepted.recv().await {
        let (shared, counter, permits) = (
            Arc::clone(&shared),
            Arc::clone(&counter),
            Arc::clone(&permits),
        );
        polls.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let late = at.elapsed() > shared.config.poll_interval;
            let value = shared
                .synth
                .indicators(u64::from(index))
                .swap_remove(0)
                .value;
            (at, late, poll(&shared, &counter, &value).await)
        });
    }
    polls.join_all().await
}

/// Polls the last accepted reports together while the sampler finishes; returns when the last of them became
/// searchable, or `None` when one never did (counted in `outcome.tail_missing`).
async fn poll_tail(
    shared: &Arc<Shared>,
    counter: &Arc<AtomicU64>,
    outcome: &mut IngestOutcome,
) -> Option<Instant> {
    let tail: Vec<(u32, Instant)> = outcome
        .accepted
        .iter()
        .rev()
        .take(shared.config.tail.max(1))
        .copied()
        .collect();
    let mut tail_polls = JoinSet::new();
    for (index, _) in tail {
        let (shared, counter) = (Arc::clone(shared), Arc::clone(counter));
        tail_polls.spawn(async move {
            let value = shared
                .synth
                .indicators(u64::from(index))
                .swap_remove(0)
                .value;
            poll(&shared, &counter, &value).await
        });
    }
    let mut latest: Option<Instant> = None;
    for result in tail_polls.join_all().await {
        match result {
            Poll::Found { at, .. } => latest = latest.max(Some(at)),
            Poll::Missing { last } => {
                outcome.tail_missing += 1;
                eprintln!("loadgen: a tail report never became searchable: {last}");
            }
        }
    }
    if outcome.tail_missing == 0 {
        latest
    } else {
        None
    }
}

/// Posts every report and measures ingest→searchable latency.
pub(crate) async fn run(
    api: Api,
    partner_token: String,
    investigator_token: String,
    synth: Synth,
    config: IngestConfig,
) -> anyhow::Result<(Instant, IngestOutcome)> {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        api,
        token: partner_token,
        investigator: investigator_token,
        synth,
        config: config.clone(),
        started,
        next: AtomicUsize::new(0),
    });
    let counter = Arc::new(AtomicU64::new(0));
    let (sender, receiver) = mpsc::unbounded_channel();
    let sampling = tokio::spawn(sampler(Arc::clone(&shared), Arc::clone(&counter), receiver));
    let mut workers = JoinSet::new();
    for _ in 0..config.concurrency.max(1) {
        workers.spawn(worker(Arc::clone(&shared), sender.clone()));
    }
    drop(sender);

    let mut outcome = IngestOutcome::default();
    while let Some(result) = workers.join_next().await {
        let result = result.context("an ingest worker failed")?;
        outcome.accepted.extend(result.accepted);
        for (key, count) in result.errors {
            *outcome.errors.entry(key).or_default() += count;
        }
        outcome.error_examples.extend(result.examples);
    }
    outcome.accepted.sort_by_key(|(_, at)| *at);
    outcome.error_examples.truncate(5);

    outcome.all_searchable = poll_tail(&shared, &counter, &mut outcome).await;
    let sampled = sampling.await.context("the sampler failed")?;
    for (accepted, late, result) in sampled {
        outcome.samples_late += usize::from(late);
        match result {
            Poll::Found { at, polls } => {
                outcome.samples.push(at.saturating_duration_since(accepted));
                outcome.samples_censored += usize::from(late && polls == 1);
            }
            Poll::Missing { last } => outcome.samples_missing.push(last),
        }
    }
    outcome.poll_requests = counter.load(Ordering::Relaxed);
    Ok((started, outcome))
}
