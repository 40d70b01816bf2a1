//! Runs a probe through the production path and judges the answer with the reference.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use accord_domain::{
    NormalizedReport, ObservableType, OrgId, Timestamp,
    feedback::{FeedbackIndicator, FeedbackKind, FeedbackRecord},
};
use accord_index::IndexClient;
use accord_runtime::{ApiError, directory::Snapshot};
use accord_search::Sightings;
use serde_json::Value;

use crate::{
    probe::{Probe, Request},
    reference::{self, Release},
    world::WORDS,
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
    /// Found hits whose content is exactly the view the reference says the agency receives.
    pub exact: u64,
    pub inexact: u64,
    /// Hits in time-travel and before-reindex probes (soundness checked, completeness not expected).
    pub stale_hits: u64,
    pub stale_expected: u64,
    /// Fresh expected items that come from a view other than the agency's shown one (an alternate).
    pub via_alternate: u64,
    /// Fresh expected items for which two or more granting MoUs release something.
    pub overlapping: u64,
    /// Served items whose text carries the withheld-indicator marker.
    pub withheld_markers: u64,
    /// Watchlist matches checked against the reference (module `alerts`).
    pub alerts: u64,
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
        self.via_alternate += other.via_alternate;
        self.overlapping += other.overlapping;
        self.withheld_markers += other.withheld_markers;
        self.alerts += other.alerts;
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
             violations={} completeness={:.4} ({}/{}) exact-content={:.4} stale-hits={}/{} overlapping={} \
             via-alternate={} withheld-markers={} alerts={} elapsed={:.1}s",
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
            self.overlapping,
            self.via_alternate,
            self.withheld_markers,
            self.alerts,
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

/// Whether a served item (`hit`) is exactly `release`. `full` says whether the item carries everything a view
/// releases (a search hit) or only the summary of a report (an indicator's `reports` entry).
fn is_release(hit: &Value, report: &NormalizedReport, release: &Release, full: bool) -> bool {
    let metadata = serde_json::to_value(report.tlp).unwrap() == hit["tlp"]
        && serde_json::to_value(&report.categories).unwrap() == hit["categories"]
        && serde_json::to_value(&report.sector).unwrap() == hit["sector"]
        && hit["occurred_at"]
            .as_str()
            .and_then(|at| at.parse::<Timestamp>().ok())
            == Some(report.occurred_at);
    let summary = metadata
        && text_of(hit, "partner").as_deref() == Some(release.partner.as_str())
        && text_of(hit, "title") == release.title;
    if !full {
        return summary;
    }
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
    summary
        && text_of(hit, "description") == release.description
        && ttps == release.ttps
        && indicators == release.indicators.iter().cloned().collect()
        && hit.get("victim").filter(|victim| !victim.is_null()) == release.victim.as_ref()
}

/// Checks a served item: it is exactly one MoU version's rendering (current or older: never a mix), that
/// rendering releases nothing beyond what an MoU granting the report now releases, and no indicator it withholds is
/// written in its text in any spelling the report used.
fn judge(
    world: &World,
    report: &NormalizedReport,
    item: &Value,
    granting: &[Release],
    full: bool,
) -> Result<(), String> {
    let renderings: Vec<Release> = world
        .history
        .iter()
        .map(|m| reference::release(report, m))
        .filter(|release| is_release(item, report, release, full))
        .collect();
    if renderings.is_empty() {
        return Err("not any single MoU's rendering".to_owned());
    }
    let justified = renderings
        .iter()
        .find(|rendering| granting.iter().any(|grant| grant.contains(rendering)));
    let Some(rendering) = justified else {
        return Err(format!(
            "releases more than any granting MoU ({:?})",
            granting.iter().map(|g| &g.mou).collect::<Vec<_>>()
        ));
    };
    for span in report.indicator_spans.iter().flatten() {
        let pair = (span.kind.as_str().to_owned(), span.value.clone());
        if rendering.indicators.contains(&pair) {
            continue;
        }
        let text = match span.field {
            accord_domain::TextField::Title => &report.title,
            accord_domain::TextField::Description => &report.description,
        };
        let Some(written) = text.get(span.start..span.end) else {
            continue;
        };
        for key in ["title", "description"] {
            let shown = text_of(item, key).unwrap_or_default();
            if !WORDS.contains(&written) && shown.split(' ').any(|token| token == written) {
                return Err(format!("withheld {pair:?} written as `{written}` in {key}"));
            }
        }
    }
    Ok(())
}

/// What the reference expects an item of this probe to be: the first view the agency receives (shown view first,
/// then alternates) that answers the request; for a request without an indicator, only the shown view counts.
fn expected(probe: &Probe, report: &NormalizedReport, received: &[Release]) -> Option<Release> {
    let considered = if probe.want.indicator.is_some() {
        received.len()
    } else {
        received.len().min(1)
    };
    received[..considered]
        .iter()
        .find(|release| probe.want.matches(report, release))
        .cloned()
}

/// How many sightings the world's feedback reports of an indicator in a report: 1 to 5, fixed per pair.
pub fn feedback_count(report: &str, kind: ObservableType, value: &str) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for byte in report
        .bytes()
        .chain(kind.as_str().bytes())
        .chain(value.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % 5 + 1
}

/// One `sighted` feedback on every indicator of every report.
pub fn feedback_records(reports: &[NormalizedReport]) -> Vec<FeedbackRecord> {
    reports
        .iter()
        .flat_map(|report| {
            report
                .indicators
                .iter()
                .map(move |indicator| FeedbackRecord {
                    id: format!("{}|{}|{}", report.id, indicator.kind, indicator.value),
                    report_id: report.id.clone(),
                    partner: report.partner.clone(),
                    indicator: Some(FeedbackIndicator {
                        kind: indicator.kind,
                        value: indicator.value.clone(),
                    }),
                    kind: FeedbackKind::Sighted,
                    count: feedback_count(report.id.as_str(), indicator.kind, &indicator.value),
                    seen_at: None,
                    at: report.received_at,
                    agency: None,
                    pseudonym: Some("agency-0000000000000000".to_owned()),
                })
        })
        .collect()
}

/// The sightings a lookup of `value` serving `reports` must count: those of these reports only.
fn expected_sightings(world: &World, value: &str, reports: &[Value]) -> u64 {
    let Ok((kind, value)) = accord_domain::observable::canonicalize(None, value) else {
        return 0;
    };
    reports
        .iter()
        .filter_map(|served| served["id"].as_str())
        .filter_map(|id| world.reports.iter().find(|report| report.id.as_str() == id))
        .filter(|report| {
            report
                .indicators
                .iter()
                .any(|indicator| indicator.kind == kind && indicator.value == value)
        })
        .map(|report| feedback_count(report.id.as_str(), kind, &value))
        .sum()
}

pub async fn run(
    (index, sightings): (&IndexClient, &Sightings),
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
            match accord_search::run_indicator(index, &config, sightings, &ctx, value).await {
                Ok(answer) => {
                    let body = answer.body();
                    let reports = body["reports"].as_array().cloned().unwrap_or_default();
                    if body["reports_total"].as_u64() != Some(reports.len() as u64) {
                        stats.violations.push(format!(
                            "{}: reports_total disagrees with reports: {body}",
                            describe(world, probe)
                        ));
                    }
                    if body["sightings"].as_u64()
                        != Some(expected_sightings(world, value, &reports))
                    {
                        stats.violations.push(format!(
                            "{}: sightings are not the feedback of the reports served: {body}",
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

    // Soundness: every served item is a report some MoU grants now, exactly as one MoU version renders it, and no
    // more than a granting MoU releases.
    let mut served: BTreeMap<String, Value> = BTreeMap::new();
    for item in items {
        stats.hits += 1;
        if phase != Phase::Fresh {
            stats.stale_hits += 1;
        }
        let id = text_of(&item, "id").unwrap_or_default();
        if item.to_string().contains("[withheld:indicator]") {
            stats.withheld_markers += 1;
        }
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
        let granting: Vec<Release> =
            reference::granting(world, report, &probe.agency, probe.purpose, probe.at)
                .into_iter()
                .map(|m| reference::release(report, m))
                .filter(Release::anything)
                .collect();
        if granting.is_empty() {
            stats.violations.push(format!(
                "{}: FORBIDDEN report served: {item}",
                describe(world, probe)
            ));
            continue;
        }
        if let Err(why) = judge(world, report, &item, &granting, full) {
            stats.violations.push(format!(
                "{}: REDACTED field served ({why}): {item}",
                describe(world, probe)
            ));
        }
    }

    // Completeness: what the reference says the agency receives and the request matches.
    for report in &world.reports {
        let received = reference::received(world, report, &probe.agency, probe.purpose, probe.at);
        let Some(release) = expected(probe, report, &received) else {
            continue;
        };
        if phase != Phase::Fresh {
            stats.stale_expected += 1;
            continue;
        }
        stats.expected += 1;
        stats.overlapping += u64::from(
            reference::granting(world, report, &probe.agency, probe.purpose, probe.at)
                .into_iter()
                .filter(|m| reference::release(report, m).anything())
                .count()
                >= 2,
        );
        stats.via_alternate += u64::from(received.first() != Some(&release));
        match served.get(report.id.as_str()) {
            Some(item) => {
                stats.found += 1;
                if is_release(item, report, &release, full) {
                    stats.exact += 1;
                } else {
                    stats.inexact += 1;
                    if stats.misses.len() < 50 {
                        stats.misses.push(format!(
                            "{}: {} served, but not as the view the agency receives ({}): {item} vs {release:?}",
                            describe(world, probe),
                            report.id,
                            release.mou
                        ));
                    }
                }
            }
            None => {
                if stats.misses.len() < 50 {
                    stats.misses.push(format!(
                        "{}: {} received under {} but not found",
                        describe(world, probe),
                        report.id,
                        release.mou
                    ));
                }
            }
        }
    }
}
