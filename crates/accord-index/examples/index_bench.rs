//! A performance sanity check of the tantivy index, not a benchmark with assertions.
//!
//! Writes `VIEWS` views of `INDICATORS` indicators each in write batches of `BATCH` reports (one view per report),
//! then measures single-key lookup latency (exact and IP-in-CIDR) through the async API, the throughput of one
//! 10 000-key batch lookup, free-text searches, the stale count search adds to a search and the fetch of 10 000 views
//! its scan path costs. Run it in release mode:
//!
//! ```text
//! cargo run -p accord-index --release --example index_bench [-- VIEWS]
//! ```

use std::time::{Duration, Instant};

use accord_domain::{ObservableType as T, ReportId};
use accord_index::{
    IndexClient, IndicatorMatch, Query, ReplaceViews, WriteOutcome,
    conformance::{at, exact, key, query, release, view, with_indicators},
    tantivy_index::TantivyIndex,
};

const INDICATORS: usize = 10;
const BATCH: usize = 500;
const LOOKUPS: usize = 20_000;

/// A small deterministic generator (splitmix64), so runs are comparable.
struct Rng(accord_testkit::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % bound as u64).unwrap_or(0)
    }
}

/// Returns the `n`-th indicator of view `v`: a mix of types, with a shared pool so some values recur across views.
fn indicator(v: usize, n: usize, rng: &mut Rng) -> (T, String) {
    let id = if rng.below(10) == 0 {
        rng.below(1000)
    } else {
        v * INDICATORS + n
    };
    match n % 5 {
        0 => (T::DomainName, format!("host{id}.example")),
        1 => (T::Url, format!("http://host{id}.example/path/{id}")),
        2 => (
            T::File,
            format!("{:064x}", id as u128 * 0x9E37_79B9_7F4A_7C15),
        ),
        3 if n == 3 && v.is_multiple_of(50) => {
            (T::Ipv4Addr, format!("10.{}.0.0/16", (v / 50) % 256))
        }
        3 => (
            T::Ipv4Addr,
            format!(
                "{}.{}.{}.{}",
                11 + id % 200,
                (id >> 8) % 256,
                (id >> 16) % 256,
                id % 256
            ),
        ),
        _ => (T::EmailAddr, format!("user{id}@mail.example")),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

/// Looks up each key alone through the async API and prints the latency percentiles.
async fn report_lookups(index: &IndexClient, label: &str, keys: &[IndicatorMatch], per_key: usize) {
    let mut latencies = Vec::with_capacity(keys.len());
    let mut matched = 0;
    for matcher in keys {
        let started = Instant::now();
        let pages = index
            .lookup(release(), vec![matcher.clone()], per_key)
            .await
            .expect("lookup");
        latencies.push(started.elapsed());
        matched += pages.iter().map(|page| page.total).sum::<u64>();
    }
    latencies.sort();
    println!(
        "{label} lookup, per_key {per_key} ({} keys, {matched} matches): p50 {:?} p99 {:?} max {:?}",
        keys.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
}

/// Runs a search `runs` times and prints its total and median latency.
async fn report_search(index: &IndexClient, label: &str, query: Query, runs: usize) {
    let mut latencies = Vec::with_capacity(runs);
    let mut total = 0;
    for _ in 0..runs {
        let started = Instant::now();
        total = index.search(query.clone()).await.expect("search").total;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!(
        "{label} search ({total} matches, page of {}): p50 {:?}",
        query.size,
        percentile(&latencies, 0.5)
    );
}

/// Writes `views` views in batches and returns a sample of their indicators to look up.
async fn ingest(index: &IndexClient, views: usize) -> Vec<IndicatorMatch> {
    let mut rng = Rng(accord_testkit::SplitMix64::new(42));
    let started = Instant::now();
    let mut written = 0;
    let mut batch = Vec::with_capacity(BATCH);
    let mut sample = Vec::new();
    let sample_every = (views / LOOKUPS).max(1);
    for v in 0..views {
        let report_id = ReportId::random();
        let mut one = view(&report_id, &format!("{v:08}"));
        one.content.title = Some(format!("Incident {v} ransomware beacon"));
        // Incidents spread over a year, so that a few share a second.
        let offset = i64::try_from(rng.below(365 * 24 * 3600)).unwrap_or(0);
        one.content.occurred_at = at("2024-01-01T00:00:00Z") + chrono::Duration::seconds(offset);
        let indicators: Vec<(T, String)> =
            (0..INDICATORS).map(|n| indicator(v, n, &mut rng)).collect();
        if rng.below(sample_every) == 0 {
            let (kind, value) = &indicators[rng.below(INDICATORS)];
            sample.push(exact(*kind, value));
        }
        let refs: Vec<(T, &str)> = indicators
            .iter()
            .map(|(kind, value)| (*kind, value.as_str()))
            .collect();
        batch.push(ReplaceViews {
            report_id,
            version: 1,
            views: vec![with_indicators(one, &refs)],
        });
        if batch.len() == BATCH || v + 1 == views {
            let outcomes = index
                .write(std::mem::take(&mut batch))
                .await
                .expect("write");
            written += outcomes
                .iter()
                .filter(|outcome| **outcome == WriteOutcome::Written)
                .count();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let indicators = written * INDICATORS;
    println!(
        "ingest: {written} views / {indicators} indicators in {elapsed:.2}s = {:.0} views/s, {:.0} indicators/s",
        written as f64 / elapsed,
        indicators as f64 / elapsed
    );
    sample
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let views: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let index = IndexClient::new(TantivyIndex::open(dir.path()).expect("open index"));
    let sample = ingest(&index, views).await;

    for per_key in [0, 1, 10] {
        report_lookups(&index, "exact", &sample, per_key).await;
    }
    let ips: Vec<IndicatorMatch> = (0..2_000)
        .map(|n| {
            key(
                T::Ipv4Addr,
                &format!("10.{}.{}.{}", n % 256, (n * 7) % 256, (n * 13) % 256),
            )
        })
        .collect();
    report_lookups(&index, "ip-in-cidr", &ips, 10).await;

    let keys: Vec<IndicatorMatch> = sample.iter().cycle().take(10_000).cloned().collect();
    let started = Instant::now();
    let pages = index
        .lookup(release(), keys, 10)
        .await
        .expect("batch lookup");
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "batch lookup: {} keys in {:.1} ms ({:.1} µs/key)",
        pages.len(),
        elapsed * 1e3,
        elapsed * 1e6 / pages.len().max(1) as f64
    );

    report_search(
        &index,
        "free-text (every view)",
        Query {
            text: Some("ransomware".to_owned()),
            size: 20,
            ..query()
        },
        20,
    )
    .await;
    report_search(
        &index,
        "free-text (one view)",
        Query {
            text: Some("incident 4242".to_owned()),
            size: 20,
            ..query()
        },
        20,
    )
    .await;
    // What search adds to find out whether the index's total is exact (decision 0012): counting stale views and
    // alternates; and what its scan path costs at the re-check limit (fetching 10 000 views).
    let mut stale = release();
    stale.stale_only = true;
    report_search(
        &index,
        "stale count (every view)",
        Query {
            release: stale,
            text: Some("ransomware".to_owned()),
            size: 0,
            ..query()
        },
        20,
    )
    .await;
    report_search(
        &index,
        "scan (every view)",
        Query {
            text: Some("ransomware".to_owned()),
            size: 10_000,
            ..query()
        },
        5,
    )
    .await;
}
