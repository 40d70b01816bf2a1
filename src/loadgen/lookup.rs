//! Lookup latency: sequential exact lookups over one keep-alive connection, of known values (200 path) and of
//! values no report contains (404 path).

use std::{collections::BTreeMap, time::Duration, time::Instant};

use anyhow::Context as _;
use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::StatusCode;

use super::{
    client::{Api, indicator_path},
    synth::Synth,
};

/// Latencies of one kind of lookup.
#[derive(Debug, Default)]
pub(crate) struct Series {
    /// Client-side latencies of the lookups that answered as expected.
    pub(crate) latencies: Vec<Duration>,
    /// Lookups that answered otherwise, by status.
    pub(crate) errors: BTreeMap<String, usize>,
    /// The first few unexpected answers.
    pub(crate) examples: Vec<String>,
}

impl Series {
    fn record(
        &mut self,
        expected: StatusCode,
        value: &str,
        outcome: anyhow::Result<super::client::Reply>,
        took: Duration,
    ) {
        let (key, example) = match outcome {
            Ok(reply) if reply.status == expected => {
                self.latencies.push(took);
                return;
            }
            Ok(reply) => (
                reply.status.as_u16().to_string(),
                format!(
                    "{value}: {} {}",
                    reply.status,
                    reply.body.chars().take(200).collect::<String>()
                ),
            ),
            Err(error) => ("transport".to_owned(), format!("{value}: {error:#}")),
        };
        *self.errors.entry(key).or_default() += 1;
        if self.examples.len() < 3 {
            self.examples.push(example);
        }
    }
}

/// Both series.
#[derive(Debug, Default)]
pub(crate) struct LookupOutcome {
    /// Known values (expect 200).
    pub(crate) known: Series,
    /// Unknown values (expect 404).
    pub(crate) unknown: Series,
}

/// Runs `known` lookups of random indicators of the `accepted` reports, then `unknown` lookups of absent values.
pub(crate) async fn run(
    base: &str,
    token: &str,
    synth: &Synth,
    accepted: &[u32],
    known: usize,
    unknown: usize,
    seed: u64,
) -> anyhow::Result<LookupOutcome> {
    let api = Api::new(base, 1)?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6c6f_6f6b_7570);
    let mut outcome = LookupOutcome::default();
    // Opens the one connection before measuring.
    api.get(&indicator_path("warm-up.never-registered.invalid"), token)
        .await
        .context("the warm-up lookup failed")?;
    if !accepted.is_empty() {
        for _ in 0..known {
            let report = accepted[rng.random_range(0..accepted.len())];
            let indicators = synth.indicators(u64::from(report));
            let value = &indicators[rng.random_range(0..indicators.len())].value;
            let path = indicator_path(value);
            let start = Instant::now();
            let reply = api.get(&path, token).await;
            outcome
                .known
                .record(StatusCode::OK, value, reply, start.elapsed());
        }
    }
    for n in 0..unknown as u64 {
        let value = synth.unknown(&mut rng, n);
        let path = indicator_path(&value);
        let start = Instant::now();
        let reply = api.get(&path, token).await;
        outcome
            .unknown
            .record(StatusCode::NOT_FOUND, &value, reply, start.elapsed());
    }
    Ok(outcome)
}
