//! `--alerts N`: alert latency under load. Before ingest, the run's agency watches `N` values in one watchlist: the
//! first indicator of every `stride`-th report of the run (what will match: up to [`MATCHED`] of them) and, to make
//! up `N`, values no report contains. The loadgen reads `GET /v1/alerts/stream` during the run and measures, for each
//! watched report, the time from its 202 to its `match` alert arriving on the stream (each alert re-checked and
//! audited by the server before it leaves). Run it at about half of the ingest rate the machine sustains
//! (`--rate`), as issue 16 asks.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    client::{Api, Setup},
    report::Summary,
    synth::Synth,
};

/// At most this many watched values are values the run releases.
const MATCHED: usize = 2000;
/// Entries per watchlist request (the server's default bound).
const PER_REQUEST: usize = 10_000;

/// The watched values that will match: value → report index.
pub(crate) type Watched = HashMap<String, u32>;
/// When each value's alert arrived.
pub(crate) type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AlertLatency {
    /// Values watched in all.
    pub(crate) watched: usize,
    /// Watched values the run released (alerts expected).
    pub(crate) expected: usize,
    /// Of those, alerts that arrived.
    pub(crate) received: usize,
    /// From each watched report's 202 to its alert on the stream.
    pub(crate) latency: Summary,
}

/// Creates the watchlist: the first indicator of every `stride`-th report, then filler values up to `total`.
pub(crate) async fn watch(
    api: &Api,
    setup: &Setup,
    synth: &Synth,
    reports: usize,
    total: usize,
) -> anyhow::Result<Watched> {
    let stride = (reports / MATCHED.min(total)).max(1);
    let mut watched = Watched::new();
    let mut entries: Vec<Value> = Vec::with_capacity(total);
    for index in (0..reports).step_by(stride).take(total) {
        let first = synth.indicators(index as u64).swap_remove(0);
        entries.push(json!({ "type": first.kind, "value": first.value }));
        watched.insert(first.value, index as u32);
    }
    for n in entries.len()..total {
        entries.push(json!({ "type": "domain-name", "value": format!("w{n}.unwatched-{}.example", setup.mou) }));
    }
    let mut chunks = entries.chunks(PER_REQUEST);
    let first = chunks.next().unwrap_or_default();
    let body = json!({ "name": "loadgen", "purpose": "investigation", "case": "LOADGEN-ALERTS", "entries": first });
    let reply = api
        .post(
            "/v1/watchlists",
            &setup.investigator_token,
            serde_json::to_vec(&body)?,
        )
        .await?;
    if reply.status.as_u16() != 201 {
        bail!("creating the watchlist: {}: {}", reply.status, reply.body);
    }
    let id = serde_json::from_str::<Value>(&reply.body)?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for chunk in chunks {
        let path = format!("/v1/watchlists/{id}/entries");
        let body = serde_json::to_vec(&json!({ "entries": chunk }))?;
        let reply = api.post(&path, &setup.investigator_token, body).await?;
        if !reply.status.is_success() {
            bail!("adding watched values: {}: {}", reply.status, reply.body);
        }
    }
    Ok(watched)
}

/// Opens the alert stream and records when each alert's released value arrives, until the returned handle is
/// aborted.
pub(crate) async fn listen(
    base: &str,
    token: &str,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, Arrivals)> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let mut response = client
        .get(format!("{}/v1/alerts/stream", base.trim_end_matches('/')))
        .bearer_auth(token)
        .send()
        .await
        .context("opening the alert stream")?;
    if !response.status().is_success() {
        bail!("the alert stream answered {}", response.status());
    }
    let arrivals = Arrivals::default();
    let seen = arrivals.clone();
    let task = tokio::spawn(async move {
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            let now = Instant::now();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                for data in block.lines().filter_map(|line| line.strip_prefix("data:")) {
                    if let Ok(alert) = serde_json::from_str::<Value>(data.trim())
                        && alert["kind"] == "match"
                        && let Some(value) = alert["value"].as_str()
                    {
                        seen.lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .entry(value.to_owned())
                            .or_insert(now);
                    }
                }
            }
        }
    });
    Ok((task, arrivals))
}

/// Waits until every expected alert arrived (or `give_up` after the last 202), then measures.
pub(crate) async fn measure(
    watched: &Watched,
    total: usize,
    accepted: &[(u32, Instant)],
    arrivals: &Arrivals,
    give_up: Duration,
) -> AlertLatency {
    let at: HashMap<u32, Instant> = accepted.iter().copied().collect();
    let expected: Vec<(&String, Instant)> = watched
        .iter()
        .filter_map(|(value, index)| at.get(index).map(|accepted| (value, *accepted)))
        .collect();
    let deadline = Instant::now() + give_up;
    loop {
        let arrived = arrivals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len();
        if arrived >= expected.len() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let arrivals = arrivals
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut latencies: Vec<Duration> = expected
        .iter()
        .filter_map(|(value, accepted)| {
            arrivals
                .get(*value)
                .map(|arrived| arrived.saturating_duration_since(*accepted))
        })
        .collect();
    AlertLatency {
        watched: total,
        expected: expected.len(),
        received: latencies.len(),
        latency: Summary::of(&mut latencies),
    }
}
