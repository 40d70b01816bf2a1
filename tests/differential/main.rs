//! Differential policy test, as AWS Cedar tests its authorizer: random worlds (organizations, MoUs with every field of
//! policy-model.md, every agency named by 2–4 overlapping MoUs, normalized reports with indicators written into their
//! text), a deliberately naive reference evaluator (`reference`, written without `accord-policy`), and the production
//! path end to end in process: the enforcer's evaluation
//! (`accord_enforcer::evaluate_at`) → the tantivy index (`accord_index`, as the indexer writes it) → search's
//! endpoints without HTTP (`accord_search::run_search` / `run_indicator`: the release filter and the query-time
//! re-check, exactly what the handlers run after authentication).
//!
//! Each world goes through three phases:
//! - **A**: evaluate and index every report; ask at `t0`, and at instants around the world's boundaries (an MoU's
//!   `effective_from`/`expires_at`, a report's end of retention) without re-indexing: expiry must be exact.
//! - **B**: change the world (revoke, suspend, narrow, widen, re-date, move an agency, add an MoU) as admin publishes
//!   it, and ask *before* the enforcer re-evaluates: the query-time check alone must hold the line.
//! - **C**: re-evaluate the reports of the partners `accord_enforcer::reevaluate::affected_by_change` names, index
//!   them, and ask again.
//!
//! Every answer must contain no report the reference forbids, be exactly one MoU version's rendering (never a mix),
//! release nothing beyond what an MoU granting the report now releases, carry no indicator it withholds in its text,
//! serve each report once, and have `total`, `reports_total`, `sightings` and `partners` that agree with what it
//! serves (soundness, asserted, in every phase). Every indicator of every report, hidden or not, has feedback
//! sightings (`check::feedback_records`): a lookup's `sightings` must be exactly those of the reports it serves, so a
//! hidden report's feedback changing what an agency sees is a violation (non-interference of feedback counts). At `t0` in phases A and C, every report the agency receives must be found (for a
//! lookup: when any of its views releases the indicator), with exactly the content of the view the reference says it
//! receives: the shown view, or for an indicator the best-ranked view releasing it (completeness and exactness,
//! asserted).
//!
//! `ACCORD_DIFF_SEED` (decimal or `0x…`) replays a run; `ACCORD_DIFF_WORLDS` (default 1600: CI time) and
//! `ACCORD_DIFF_QUERIES` (per world, default 50) size it; `ACCORD_DIFF_FIRST_WORLD` starts at a given world, so
//! `ACCORD_DIFF_SEED=s ACCORD_DIFF_FIRST_WORLD=n ACCORD_DIFF_WORLDS=1` replays world n alone. The long run:
//! `ACCORD_DIFF_WORLDS=4000 cargo test --test differential -- --nocapture` (200 000 probes).
#![allow(unreachable_pub)]

mod alerts;
mod check;
mod probe;
mod reference;
mod rng;
mod world;

use std::{sync::Arc, time::Instant};

use accord_domain::DirectoryEvent;
use accord_index::{IndexClient, ReplaceViews};
use accord_runtime::Directory;
use accord_search::Sightings;

use crate::{
    check::{Phase, Stats},
    rng::{Rng, world_seed},
};

/// How many worlds share one index directory.
const WORLDS_PER_INDEX: u64 = 50;

/// How many worlds run at once.
const SHARDS: u64 = 4;

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name} must be a number, got `{value}`")))
}

/// Publishes a world's organizations and MoU versions to a directory, as the admin service's records would.
fn publish(directory: &Directory, world: &world::World) {
    for org in &world.orgs {
        directory.apply_directory_event(DirectoryEvent::Organization(org.clone()));
    }
    for version in &world.mous {
        directory.apply_mou_version(version.clone());
    }
}

/// Evaluates `reports` as the enforcer does and writes their release sets as the indexer does; returns the release
/// sets (what the alert matcher follows).
async fn enforce_and_index(
    index: &IndexClient,
    directory: &Directory,
    reports: &[&accord_domain::NormalizedReport],
    at: accord_domain::Timestamp,
    version: u64,
) -> Vec<accord_domain::ReleaseSet> {
    let snapshot = directory.snapshot();
    let releases: Vec<accord_domain::ReleaseSet> = reports
        .iter()
        .map(|report| accord_enforcer::evaluate_at(report, &snapshot, at, "differential"))
        .collect();
    let writes: Vec<ReplaceViews> = releases
        .iter()
        .map(|release| ReplaceViews {
            report_id: release.report_id.clone(),
            version,
            views: release.views.clone(),
        })
        .collect();
    let outcomes = index.write(writes).await.expect("index write failed");
    assert!(
        outcomes
            .iter()
            .all(|outcome| *outcome == accord_index::WriteOutcome::Written),
        "index write outcomes: {outcomes:?}"
    );
    releases
}

async fn run_world(
    (index, sightings): (&IndexClient, &Sightings),
    seed: u64,
    number: u64,
    queries: usize,
    stats: &mut Stats,
) {
    let mut rng = Rng::new(world_seed(seed, number));
    let mut world = world::generate(&mut rng, number);
    // Feedback sightings on every indicator of every report, hidden or not: a lookup may count only those of the
    // reports it serves.
    sightings
        .apply(&check::feedback_records(&world.reports))
        .expect("sightings store");
    let directory = Directory::new();
    publish(&directory, &world);
    let t0 = world.t0;

    // Phase A: everything evaluated and indexed at t0.
    let reports: Vec<_> = world.reports.iter().collect();
    let releases = enforce_and_index(index, &directory, &reports, t0, 1).await;
    alerts::check(&world, &directory.snapshot(), &releases, t0, stats);
    let fresh = queries * 2 / 5;
    let travelling = queries / 10;
    let before_reindex = queries / 5;
    let after_reindex = queries - fresh - travelling - before_reindex;
    let snapshot = directory.snapshot();
    for _ in 0..fresh {
        let probe = probe::random(&mut rng, &world, t0);
        check::run(
            (index, sightings),
            &world,
            &snapshot,
            &probe,
            Phase::Fresh,
            stats,
            seed,
        )
        .await;
    }
    let boundaries = world.boundaries();
    for _ in 0..travelling {
        let at = *rng.pick(&boundaries) + chrono::Duration::seconds(rng.range(-1, 1));
        let probe = probe::random(&mut rng, &world, at);
        check::run(
            (index, sightings),
            &world,
            &snapshot,
            &probe,
            Phase::TimeTravel,
            stats,
            seed,
        )
        .await;
    }

    // Phase B: the world changes; the index still holds phase A's views.
    let before = directory.snapshot();
    let changes = world::mutate(&mut rng, &mut world);
    publish(&directory, &world);
    let after = directory.snapshot();
    stats.changes += changes.len() as u64;
    for _ in 0..before_reindex {
        let probe = probe::random(&mut rng, &world, t0);
        check::run(
            (index, sightings),
            &world,
            &after,
            &probe,
            Phase::BeforeReindex,
            stats,
            seed,
        )
        .await;
    }

    // Phase C: the enforcer re-evaluates the affected partners' reports.
    let affected = accord_enforcer::reevaluate::affected_by_change(&before, &after);
    let reports: Vec<_> = world
        .reports
        .iter()
        .filter(|report| affected.contains_key(&report.partner))
        .collect();
    if !reports.is_empty() {
        let releases = enforce_and_index(index, &directory, &reports, t0, 2).await;
        alerts::check(&world, &after, &releases, t0, stats);
    }
    for _ in 0..after_reindex {
        let probe = probe::random(&mut rng, &world, t0);
        check::run(
            (index, sightings),
            &world,
            &after,
            &probe,
            Phase::Fresh,
            stats,
            seed,
        )
        .await;
    }
    stats.worlds += 1;
    stats.reports += world.reports.len() as u64;
    stats.mous += world.mous.len() as u64;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn production_never_releases_what_the_reference_forbids() {
    let seed = env_u64("ACCORD_DIFF_SEED").unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Rng::new(nanos as u64).next_u64()
    });
    let worlds = env_u64("ACCORD_DIFF_WORLDS").unwrap_or(1600);
    let queries = env_u64("ACCORD_DIFF_QUERIES").unwrap_or(50) as usize;
    let first = env_u64("ACCORD_DIFF_FIRST_WORLD").unwrap_or(0);
    println!(
        "differential: ACCORD_DIFF_SEED={seed:#x} worlds={worlds} queries/world={queries} first world={first}"
    );
    let dir = Arc::new(tempfile::TempDir::new().unwrap());
    let started = Instant::now();
    // Worlds never share agencies or MoUs, so they cannot see each other's views. Shards run concurrently (index
    // commits wait on the disk), each with a fresh index every WORLDS_PER_INDEX worlds to keep commits and merges
    // small.
    let mut shards = Vec::new();
    for shard in 0..SHARDS {
        let dir = Arc::clone(&dir);
        shards.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut index = None;
            let mut sightings = None;
            let mine = (first..first + worlds).filter(|number| number % SHARDS == shard);
            for (done, number) in mine.enumerate() {
                if (done as u64).is_multiple_of(WORLDS_PER_INDEX) {
                    let path = dir.path().join(format!("index-{number}"));
                    index = Some(IndexClient::from_url(path.to_str().unwrap()).unwrap());
                    let path = dir.path().join(format!("sightings-{number}"));
                    sightings = Some(Sightings::open(&path, 8 * 1024 * 1024, None).unwrap());
                }
                let stores = (index.as_ref().unwrap(), sightings.as_ref().unwrap());
                run_world(stores, seed, number, queries, &mut stats).await;
                if stats.violations.len() >= 20 {
                    break;
                }
            }
            stats
        }));
    }
    let mut stats = Stats::default();
    for shard in shards {
        stats.merge(shard.await.unwrap());
    }
    stats.print(seed, started.elapsed());
    stats.assert_clean(seed);
}
