//! `accord loadgen`: drives a running Accord over HTTP and prints measurements.
//!
//! 1. Set-up with the admin token: a fresh partner and agency (ids carry a run id, so repeated runs against the
//!    same server work), an MoU releasing everything from one to the other, a partner and an investigator token.
//! 2. Ingest: `--concurrency` workers POST `--reports` synthetic native reports with `--indicators-per-report`
//!    unique indicators each, paced to `--rate` when it is above 0.
//! 3. While ingesting, one of every ~20 accepted reports is a sample: one of its indicators is looked up every
//!    `--poll-interval-ms` until found, giving the ingest→searchable latency. After the last 202 the last accepted
//!    reports are polled the same way, giving the time until everything is searchable.
//! 4. Lookups: `--lookups` sequential exact lookups of known values over one keep-alive connection, then
//!    `--unknown-lookups` of values no report contains (the 404 path).
//! 5. A report on stdout, and the same figures as one `RESULT {json}` line.
//!
//! With `--retract-indicators N`, the run's partner then retracts `N` of its values and the time until none is found
//! is measured (`retract`).
//!
//! With `--alerts N`, the run's agency watches `N` values during the ingest and the time from a watched report's
//! 202 to its alert on `GET /v1/alerts/stream` is measured (`alerts`).
//!
//! With `--flood`, instead of 2–4: a second partner floods the heaviest reports the limits allow while the run's
//! partner's reports are timed until searchable, alone and next to the flood (`flood`).
//!
//! The loadgen runs on the same machine as the server in the usual set-up, so its own CPU use (report generation,
//! JSON, polling) competes with the server's: the figures are a floor, not a ceiling.

mod alerts;
mod client;
mod flood;
mod ingest;
mod lookup;
mod report;
mod retract;
mod revoke;
mod synth;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;

use self::{
    client::Api,
    ingest::IngestConfig,
    report::{Results, Summary},
    synth::Synth,
};

/// `accord loadgen` flags.
#[derive(Debug, Clone, Args)]
pub struct LoadgenArgs {
    /// Base URL of the running Accord.
    #[arg(long, env = "ACCORD_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The coordinator (admin) token used for set-up: read from `ACCORD_ADMIN_TOKEN` only, never from the command
    /// line (where `ps` shows it).
    #[arg(skip)]
    pub admin_token: String,
    /// How many reports to post.
    #[arg(long, default_value_t = 2000)]
    pub reports: usize,
    /// Indicators per report (all unique within the run).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub indicators_per_report: u16,
    /// Target reports per second; 0 posts as fast as the server accepts.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Concurrent posting workers (connections).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,
    /// Exact lookups of known values measured after ingest.
    #[arg(long, default_value_t = 2000)]
    pub lookups: usize,
    /// Exact lookups of unknown values (the 404 path) measured after ingest.
    #[arg(long, default_value_t = 300)]
    pub unknown_lookups: usize,
    /// The server's pid, to report its memory (VmRSS, VmHWM from `/proc/<pid>/status`).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Seed for the synthetic data and the run id (random when absent; printed, so a run can be repeated on a
    /// fresh server).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Pause between two polls of one latency sample, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub poll_interval_ms: u64,
    /// At most this many latency samples are polled at once (each polls every --poll-interval-ms).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub pollers: u16,
    /// A sample not searchable after this many seconds counts as not found.
    #[arg(long, default_value_t = 60)]
    pub give_up_secs: u64,
    /// After the run, revoke its MoU and measure how long until a sample of its reports is no longer found and
    /// their partner status shows the withdrawal (the enforcer re-evaluated every report of the run).
    #[arg(long)]
    pub revoke: bool,
    /// After the run (before `--revoke`), the run's partner retracts this many of its indicator values
    /// (`POST /v1/indicators/retract`) and the loadgen measures how long until none is found (0: not measured).
    #[arg(long, default_value_t = 0)]
    pub retract_indicators: usize,
    /// After the run (and `--retract-indicators`), retract this many of its reports one after the other and time
    /// each from its 202 until it is no longer found (0: not measured).
    #[arg(long, default_value_t = 0)]
    pub retract_reports: usize,
    /// Watch this many values (the first indicator of some of the run's reports, the rest values no report has)
    /// and measure the latency of their alerts on `GET /v1/alerts/stream` during the ingest (0: not measured).
    #[arg(long, default_value_t = 0)]
    pub alerts: usize,
    /// Instead of the ingest and lookup measurements: time `--flood-samples` reports until searchable, alone and
    /// while a second partner floods heavy reports from `--flood-connections` connections.
    #[arg(long)]
    pub flood: bool,
    /// Reports timed in each phase of `--flood`.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..))]
    pub flood_samples: u16,
    /// The flooding partner's connections.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub flood_connections: u16,
}

pub use self::flood::{expanding_report, heavy_report};

fn memory(pid: Option<u32>) -> Option<report::Memory> {
    let pid = pid?;
    match report::memory(pid) {
        Ok(memory) => Some(memory),
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            None
        }
    }
}

fn secs_between(from: Instant, to: Option<Instant>) -> Option<f64> {
    to.map(|to| to.saturating_duration_since(from).as_secs_f64())
}

/// Runs the load generator.
///
/// # Errors
/// Fails when the server is unreachable or set-up is refused; refusals during ingest are counted, not fatal.
pub async fn main(mut args: LoadgenArgs) -> anyhow::Result<()> {
    args.admin_token = std::env::var("ACCORD_ADMIN_TOKEN")
        .context("set ACCORD_ADMIN_TOKEN to a coordinator token for the set-up")?;
    check_args(&args)?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let run_id = format!("{:08x}", synth::mix(seed) >> 32);
    let per_report = usize::from(args.indicators_per_report);
    let concurrency = usize::from(args.concurrency);
    let synth = Synth::new(seed, run_id.clone(), per_report, chrono::Utc::now());

    let api = Api::new(&args.url, concurrency)?;
    api.wait_ready(Duration::from_secs(30)).await?;
    let memory_before = memory(args.pid);
    let setup = client::setup(&api, &args.admin_token, &run_id)
        .await
        .with_context(|| {
            format!("set-up of run {run_id} failed (a repeated --seed reuses the same ids)")
        })?;
    if args.flood {
        return run_flood(&args, &api, &setup, &synth).await;
    }
    eprintln!(
        "loadgen: run {run_id}: partner {}, agency {}, MoU {}; posting {} reports",
        setup.partner_org, setup.agency_org, setup.mou, args.reports
    );
    let config = IngestConfig {
        reports: args.reports,
        concurrency,
        rate: args.rate,
        sample_stride: (args.reports / 100).clamp(1, 20),
        pollers: usize::from(args.pollers),
        poll_interval: Duration::from_millis(args.poll_interval_ms),
        give_up: Duration::from_secs(args.give_up_secs),
        tail: concurrency.clamp(8, 32),
    };
    let listening = start_alerts(&args, &api, &setup, &synth).await?;
    let investigator = setup.investigator_token.clone();
    let (started, ingested) = ingest::run(
        api,
        setup.partner_token.clone(),
        investigator,
        synth.clone(),
        config,
    )
    .await?;
    report_refusals(&ingested);
    let alerts = finish_alerts(&args, listening, &ingested).await;
    let accepted: Vec<u32> = ingested.accepted.iter().map(|(index, _)| *index).collect();
    eprintln!(
        "loadgen: ingest done ({} accepted); measuring lookups",
        accepted.len()
    );
    let lookups = measure_lookups(&args, &setup, &synth, &accepted, seed).await?;
    let retraction = measure_retraction(&args, &setup, &synth, &accepted).await?;
    let report_retraction = measure_report_retraction(&args, &setup, &synth, &accepted).await?;
    let revocation = match args.revoke {
        true => Some(measure_revocation(&args, &setup, &synth, &accepted).await?),
        false => None,
    };
    let run = Run {
        run_id,
        seed,
        per_report,
        concurrency,
        started,
        memory_before,
    };
    let mut results = summarize(&args, run, ingested, accepted.len(), lookups, revocation);
    results.retraction = retraction;
    results.report_retraction = report_retraction;
    results.alerts = alerts;
    print!("{}", results.text());
    println!(
        "RESULT {}",
        serde_json::to_string(&results).context("failed to serialize the results")?
    );
    Ok(())
}

/// The watchlist of `--alerts` and the stream listening for its alerts (`None` without `--alerts`).
async fn start_alerts(
    args: &LoadgenArgs,
    api: &Api,
    setup: &client::Setup,
    synth: &Synth,
) -> anyhow::Result<
    Option<(
        alerts::Watched,
        tokio::task::JoinHandle<()>,
        alerts::Arrivals,
    )>,
> {
    if args.alerts == 0 {
        return Ok(None);
    }
    eprintln!("loadgen: watching {} values", args.alerts);
    let watched = alerts::watch(api, setup, synth, args.reports, args.alerts).await?;
    let (task, arrivals) = alerts::listen(&args.url, &setup.investigator_token).await?;
    Ok(Some((watched, task, arrivals)))
}

/// Refuses flags that cannot make a run.
fn check_args(args: &LoadgenArgs) -> anyhow::Result<()> {
    if !args.rate.is_finite() || args.rate < 0.0 {
        bail!("--rate must be 0 (as fast as possible) or a positive number of reports per second");
    }
    if args.reports > u32::MAX as usize {
        bail!("--reports must be at most {}", u32::MAX);
    }
    Ok(())
}

/// Measures the alerts of `--alerts` once ingest is over, and closes the stream.
async fn finish_alerts(
    args: &LoadgenArgs,
    listening: Option<(
        alerts::Watched,
        tokio::task::JoinHandle<()>,
        alerts::Arrivals,
    )>,
    ingested: &ingest::IngestOutcome,
) -> Option<alerts::AlertLatency> {
    let (watched, task, arrivals) = listening?;
    let give_up = Duration::from_secs(args.give_up_secs);
    let measured = alerts::measure(
        &watched,
        args.alerts,
        &ingested.accepted,
        &arrivals,
        give_up,
    )
    .await;
    task.abort();
    Some(measured)
}

/// `--flood`: the others' latency alone and next to a flooding partner.
async fn run_flood(
    args: &LoadgenArgs,
    api: &Api,
    setup: &client::Setup,
    synth: &Synth,
) -> anyhow::Result<()> {
    let config = flood::FloodConfig {
        samples: usize::from(args.flood_samples),
        connections: usize::from(args.flood_connections),
        poll_interval: Duration::from_millis(args.poll_interval_ms),
        give_up: Duration::from_secs(args.give_up_secs),
    };
    let outcome = flood::run(api, &args.admin_token, setup, synth, &config).await?;
    print!("{}", outcome.text());
    println!(
        "RESULT {}",
        serde_json::to_string(&outcome).context("failed to serialize the results")?
    );
    Ok(())
}

/// Prints what the server refused during ingest and the samples that never became searchable.
fn report_refusals(ingested: &ingest::IngestOutcome) {
    for example in &ingested.error_examples {
        eprintln!("loadgen: refused report: {example}");
    }
    for missing in ingested.samples_missing.iter().take(10) {
        eprintln!("loadgen: sample never became searchable: {missing}");
    }
}

/// Measures lookups of known and unknown values.
async fn measure_lookups(
    args: &LoadgenArgs,
    setup: &client::Setup,
    synth: &Synth,
    accepted: &[u32],
    seed: u64,
) -> anyhow::Result<lookup::LookupOutcome> {
    let lookups = lookup::run(
        &args.url,
        &setup.investigator_token,
        synth,
        accepted,
        args.lookups,
        args.unknown_lookups,
        seed,
    )
    .await?;
    for example in lookups
        .known
        .examples
        .iter()
        .chain(&lookups.unknown.examples)
    {
        eprintln!("loadgen: unexpected lookup answer: {example}");
    }
    Ok(lookups)
}

/// `--retract-indicators`: retracts that many of the run's values and measures (nothing when 0).
async fn measure_retraction(
    args: &LoadgenArgs,
    setup: &client::Setup,
    synth: &Synth,
    accepted: &[u32],
) -> anyhow::Result<Option<retract::Retraction>> {
    let count = args.retract_indicators;
    if count == 0 {
        return Ok(None);
    }
    eprintln!("loadgen: retracting {count} indicator values and measuring");
    let api = Api::new(&args.url, 4)?;
    let give_up = Duration::from_secs(args.give_up_secs);
    Ok(Some(
        retract::run(&api, setup, synth, accepted, count, give_up).await?,
    ))
}

/// Retracts `--retract-reports` reports one by one and times each.
async fn measure_report_retraction(
    args: &LoadgenArgs,
    setup: &client::Setup,
    synth: &Synth,
    accepted: &[u32],
) -> anyhow::Result<Option<retract::ReportRetraction>> {
    if args.retract_reports == 0 {
        return Ok(None);
    }
    eprintln!(
        "loadgen: retracting {} reports one by one",
        args.retract_reports
    );
    let api = Api::new(&args.url, 4)?;
    let give_up = Duration::from_secs(args.give_up_secs);
    let measured =
        retract::reports(&api, setup, synth, accepted, args.retract_reports, give_up).await?;
    Ok(Some(measured))
}

/// Revokes the run's MoU and measures the withdrawal.
async fn measure_revocation(
    args: &LoadgenArgs,
    setup: &client::Setup,
    synth: &Synth,
    accepted: &[u32],
) -> anyhow::Result<revoke::Revocation> {
    eprintln!(
        "loadgen: revoking MoU {} and measuring the withdrawal",
        setup.mou
    );
    let api = Api::new(&args.url, 4)?;
    revoke::run(
        &api,
        &args.admin_token,
        setup,
        synth,
        accepted,
        Duration::from_secs(args.give_up_secs),
    )
    .await
}

/// What identifies a run and when it started.
struct Run {
    run_id: String,
    seed: u64,
    per_report: usize,
    concurrency: usize,
    started: Instant,
    memory_before: Option<report::Memory>,
}

/// Gathers the figures of a run.
fn summarize(
    args: &LoadgenArgs,
    run: Run,
    mut ingested: ingest::IngestOutcome,
    num_accepted: usize,
    mut lookups: lookup::LookupOutcome,
    revocation: Option<revoke::Revocation>,
) -> Results {
    let ingest_seconds = secs_between(run.started, ingested.accepted.last().map(|(_, at)| *at));
    let all_searchable_seconds = secs_between(run.started, ingested.all_searchable);
    let per_second =
        |count: usize, seconds: Option<f64>| seconds.filter(|s| *s > 0.0).map(|s| count as f64 / s);
    Results {
        url: args.url.clone(),
        run_id: run.run_id,
        seed: run.seed,
        reports: args.reports,
        indicators_per_report: run.per_report,
        rate_target: args.rate,
        concurrency: run.concurrency,
        accepted: num_accepted,
        errors: ingested.errors.values().sum(),
        error_statuses: ingested.errors.clone(),
        ingest_seconds,
        accepted_per_s: per_second(num_accepted, ingest_seconds),
        all_searchable_seconds,
        indicators_per_s_searchable: per_second(
            num_accepted * run.per_report,
            all_searchable_seconds,
        ),
        searchable: Summary::of(&mut ingested.samples),
        searchable_not_found: ingested.samples_missing.len(),
        searchable_late_start: ingested.samples_late,
        searchable_upper_bound: ingested.samples_censored,
        poll_requests: ingested.poll_requests,
        lookup: Summary::of(&mut lookups.known.latencies),
        lookup_errors: lookups.known.errors.values().sum(),
        lookup_404: Summary::of(&mut lookups.unknown.latencies),
        lookup_404_errors: lookups.unknown.errors.values().sum(),
        memory_before: run.memory_before,
        memory_after: memory(args.pid),
        revocation,
        retraction: None,
        report_retraction: None,
        alerts: None,
    }
}
