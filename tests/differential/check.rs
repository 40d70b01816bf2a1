//! Runs a probe through the production path and judges the answer with the reference.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use accord_domain::{NormalizedReport, OrgId, Timestamp};
use accord_index::IndexClient;
use accord_runtime::{ApiError, directory::Snapshot};
use serde_json::Value;

use crate::{
    probe::{Probe, Request},
    reference::{self, Release},
    world::World,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Indexed under the policy of the snapshot, asked at the evaluation time: completeness counts.
    Fresh,
    /// Asked at another time than the evaluation (around a boundary), without re-indexing.
    TimeTravel,
    /// Asked after a policy change, before the enforcer re-evaluated.
    BeforeReindex,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub worlds: u64,
    pub reports: u64,
    pub mous: u64,
    pub changes: u64,
    pub probes: u64,
    pub hits: u64,
    /// Fresh probes: (report, probe) pairs the reference allows and matches, and how many were found.
    pub expected: u64,
    pub found: u64,
    /// Found hits whose content is exactly the least-restricted MoU's release.
    pub exact: u64,
    pub inexact: u64,
    /// Hits in time-travel and before-reindex probes (soundness checked, completeness not expected).
    pub stale_hits: u64,
    pub stale_expected: u64,
    pub violations: Vec<String>,
    pub misses: Vec<String>,
}

impl Stats {
    pub fn merge(&mut self, other: Stats) {
        self.worlds += other.worlds;
        self.reports += other.reports;
        self.mous += other.mous;
        self.changes += other.changes;
        self.probes += other.probes;
        self.hits += other.hits;
        self.expected += other.expected;
        self.found += other.found;
        self.exact += other.exact;
        self.inexact += other.inexact;
        self.stale_hits += other.stale_hits;
        self.stale_expected += other.stale_expected;
        self.violations.extend(other.violations);
        self.misses.extend(other.misses);
    }

    pub fn print(&self, seed: u64, elapsed: Duration) {
        let completeness = if self.expected == 0 {
            1.0
        } else {
            self.found as f64 / self.expected as f64
        };
        let exactness = if self.exact + self.inexact == 0 {
            1.0
        } else {
            self.exact as f64 / (self.exact + self.inexact) as f64
        };
        println!(
            "differential: seed={seed:#x} worlds={} reports={} mous={} changes={} probes={} hits={} \
             violations={} completeness={:.4} ({}/{}) exact-content={:.4} stale-hits={}/{} elapsed={:.1}s",
            self.worlds,
            self.reports,
            self.mous,
            self.changes,
            self.probes,
            self.hits,
            self.violations.len(),
            completeness,
            self.found,
            self.expected,
            exactness,
            self.stale_hits,
            self.stale_expected,
            elapsed.as_secs_f64()
        );
    }

    pub fn assert_clean(&self, seed: u64) {
        let replay = format!("replay with ACCORD_DIFF_SEED={seed:#x}");
        assert!(
            self.violations.is_empty(),
            "{} policy violations ({replay}):\n{}",
            self.violations.len(),
            self.violations.join("\n")
        );
        assert!(
            self.misses.is_empty(),
            "{} allowed results not found ({replay}):\n{}",
            self.misses.len(),
            self.misses
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(self.expected > 0, "the generator produced nothing visible");
    }
}

fn describe(world: &World, probe: &Probe) -> String {
    format!(
        "world {} (ACCORD_DIFF_FIRST_WORLD={} ACCORD_DIFF_WORLDS=1): {} for {} at {}: {:?}",
        world.number, world.number, probe.agency, probe.purpose, probe.at, probe.request
    )
}

fn text_of(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Whether every field of a served item (`hit`) is released by MoU `m`. `full` says whether the item carries
/// everything a view releases (a search hit) or only the summary of a report (an indicator's `reports` entry).
fn released_by(
    hit: &Value,
    report: &NormalizedReport,
    m: &accord_domain::Mou,
    full: bool,
) -> Result<(), String> {
    let release = reference::release(report, m);
    let pii_free = |field, raw: &str, shown: &str| {
        shown == reference::redacted_text(report, field)
            || (m.pii == accord_domain::PiiRule::Share && shown == raw)
    };
    let partner = text_of(hit, "partner").unwrap_or_default();
    if partner != "anonymous" && partner != release.partner {
        return Err(format!("partner `{partner}` not released by {}", m.id));
    }
    if serde_json::to_value(report.tlp).unwrap() != hit["tlp"]
        || serde_json::to_value(&report.categories).unwrap() != hit["categories"]
        || serde_json::to_value(&report.sector).unwrap() != hit["sector"]
        || hit["occurred_at"]
            .as_str()
            .and_then(|at| at.parse::<Timestamp>().ok())
            != Some(report.occurred_at)
    {
        return Err("metadata differs from the report".to_owned());
    }
    for (key, field, raw) in [
        ("title", accord_domain::TextField::Title, &report.title),
        (
            "description",
            accord_domain::TextField::Description,
            &report.description,
        ),
    ] {
        if let Some(shown) = text_of(hit, key) {
            if release.title.is_none() {
                return Err(format!("{key} served without narrative under {}", m.id));
            }
            if !pii_free(field, raw, &shown) {
                return Err(format!(
                    "{key} `{shown}` carries personal data {} redacts",
                    m.id
                ));
            }
        }
    }
    if !full {
        return Ok(());
    }
    if let Some(ttps) = hit.get("ttps").filter(|ttps| !ttps.is_null())
        && (release.ttps.is_none() || serde_json::to_value(&report.ttps).unwrap() != *ttps)
    {
        return Err(format!("ttps not released by {}", m.id));
    }
    for indicator in hit["indicators"].as_array().cloned().unwrap_or_default() {
        let pair = (
            text_of(&indicator, "type").unwrap_or_default(),
            text_of(&indicator, "value").unwrap_or_default(),
        );
        if !release.indicators.contains(&pair) {
            return Err(format!("indicator {pair:?} not released by {}", m.id));
        }
    }
    if let Some(victim) = hit.get("victim").filter(|victim| !victim.is_null())
        && release.victim.as_ref() != Some(victim)
    {
        return Err(format!("victim not released by {}", m.id));
    }
    Ok(())
}

/// Whether a served search hit is exactly the release of the least-restricted MoU.
fn exactly(hit: &Value, release: &Release) -> bool {
    let indicators: BTreeSet<(String, String)> = hit["indicators"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|indicator| {
            (
                text_of(indicator, "type").unwrap_or_default(),
                text_of(indicator, "value").unwrap_or_default(),
            )
        })
        .collect();
    let ttps: Option<Vec<String>> = hit
        .get("ttps")
        .and_then(|ttps| serde_json::from_value(ttps.clone()).ok());
    text_of(hit, "partner").as_deref() == Some(release.partner.as_str())
        && text_of(hit, "title") == release.title
        && text_of(hit, "description") == release.description
        && ttps == release.ttps
        && indicators == release.indicators.iter().cloned().collect()
        && hit.get("victim").filter(|victim| !victim.is_null()) == release.victim.as_ref()
}

pub async fn run(
    index: &IndexClient,
    world: &World,
    snapshot: &Arc<Snapshot>,
    probe: &Probe,
    phase: Phase,
    stats: &mut Stats,
    _seed: u64,
) {
    stats.probes += 1;
    let config = accord_search::Config::default();
    let agency = OrgId::parse(&probe.agency).unwrap();
    let ctx = accord_search::Context::new(agency, probe.purpose, probe.at, Arc::clone(snapshot));
    let (items, full): (Vec<Value>, bool) = match &probe.request {
        Request::Lookup(value) => {
            match accord_search::run_indicator(index, &config, &ctx, value).await {
                Ok(answer) => {
                    let body = answer.body();
                    let reports = body["reports"].as_array().cloned().unwrap_or_default();
                    if body["sightings"].as_u64() != Some(reports.len() as u64) {
                        stats.violations.push(format!(
                            "{}: sightings disagree with reports: {body}",
                            describe(world, probe)
                        ));
                    }
                    let labels: BTreeSet<&str> = reports
                        .iter()
                        .filter_map(|r| r["partner"].as_str())
                        .collect();
                    let partners: BTreeSet<&str> = body["partners"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    if labels != partners {
                        stats.violations.push(format!(
                            "{}: partners disagree with reports: {body}",
                            describe(world, probe)
                        ));
                    }
                    (reports, false)
                }
                Err(ApiError::NotFound) => (Vec::new(), false),
                Err(error) => panic!("{}: lookup failed: {error}", describe(world, probe)),
            }
        }
        Request::Search(body) => {
            let bytes = serde_json::to_vec(body).unwrap();
            match accord_search::run_search(index, &config, &ctx, &bytes).await {
                Ok(answer) => {
                    let body = answer.body();
                    let hits = body["hits"].as_array().cloned().unwrap_or_default();
                    if body["total"].as_u64() != Some(hits.len() as u64) || !body["next"].is_null()
                    {
                        stats.violations.push(format!(
                            "{}: total or next disagree with hits: {body}",
                            describe(world, probe)
                        ));
                    }
                    (hits, true)
                }
                Err(error) => panic!("{}: search failed: {error}", describe(world, probe)),
            }
        }
    };

    // Soundness: every served item is a report some MoU grants now, and every field is released by that one MoU.
    let mut served: BTreeMap<String, Value> = BTreeMap::new();
    for item in items {
        stats.hits += 1;
        if phase != Phase::Fresh {
            stats.stale_hits += 1;
        }
        let id = text_of(&item, "id").unwrap_or_default();
        if served.insert(id.clone(), item.clone()).is_some() {
            stats.violations.push(format!(
                "{}: report {id} served twice",
                describe(world, probe)
            ));
        }
        let Some(report) = world.report(&id) else {
            stats.violations.push(format!(
                "{}: served a report of no world: {item}",
                describe(world, probe)
            ));
            continue;
        };
        let granting = reference::granting(world, report, &probe.agency, probe.purpose, probe.at);
        if granting.is_empty() {
            stats.violations.push(format!(
                "{}: FORBIDDEN report served: {item}",
                describe(world, probe)
            ));
            continue;
        }
        let verdicts: Vec<Result<(), String>> = granting
            .iter()
            .map(|m| released_by(&item, report, m, full))
            .collect();
        if !verdicts.iter().any(Result::is_ok) {
            stats.violations.push(format!(
                "{}: REDACTED field served ({:?}): {item}",
                describe(world, probe),
                verdicts
            ));
        }
    }

    // Completeness: what the reference allows and the request matches.
    for report in &world.reports {
        let granting = reference::granting(world, report, &probe.agency, probe.purpose, probe.at);
        let Some(best) = reference::best(&granting) else {
            continue;
        };
        let release = reference::release(report, best);
        if !probe.want.matches(report, &release) {
            continue;
        }
        if phase != Phase::Fresh {
            stats.stale_expected += 1;
            continue;
        }
        stats.expected += 1;
        match served.get(report.id.as_str()) {
            Some(item) => {
                stats.found += 1;
                if full {
                    if exactly(item, &release) {
                        stats.exact += 1;
                    } else {
                        stats.inexact += 1;
                        if stats.misses.len() < 50 {
                            stats.misses.push(format!(
                                "{}: {} served, but not as the least-restricted MoU {} releases it: {item} vs {release:?}",
                                describe(world, probe),
                                report.id,
                                best.id
                            ));
                        }
                    }
                }
            }
            None => {
                if stats.misses.len() < 50 {
                    stats.misses.push(format!(
                        "{}: {} allowed under {} but not found",
                        describe(world, probe),
                        report.id,
                        best.id
                    ));
                }
            }
        }
    }
}
