//! The matcher: a follower of `reports.releasable` (consumer group `search-alerts`) that raises alerts.
//!
//! For each release set (the enforcer's latest evaluation of one report: a new report, a re-evaluation after an MoU
//! or organization change, an amendment, a retraction), it finds the watched values that each view shown to an
//! (agency, purpose) contains, for the watchlists of that agency and purpose, and only where
//! `accord_policy::allows` serves the view to them now (fail closed: a view the MoUs in force no longer release
//! raises nothing). The store compares this with what the report's previous release matched: new matches raise
//! `match` alerts, lost ones `withdrawn` alerts, unchanged ones nothing, so a replayed batch (at-least-once) raises
//! nothing twice. Matches per report are capped (`search.max_alerts_per_report`): a partner's `0.0.0.0/0` cannot
//! raise an alert per watched address; what the cap cut is counted in `accord_alerts_capped_total`.
//!
//! A value added to a watchlist raises alerts for releases after it was added, not for what was already released
//! (the agency searches for that). The group is shared by the search replicas (an alert, and its webhook, is raised
//! once), and the watchlists are those of this process: run watchlists on one search replica (decision 0082).

use std::collections::{BTreeMap, BTreeSet, btree_map::Entry};

use accord_bus::Delivery;
use accord_domain::{OrgId, Purpose, ReleaseSet, Timestamp, View, ViewContent, topics};
use std::sync::Arc;

use accord_runtime::{
    Directory,
    directory::Snapshot,
    stage::{self, Stage, StageOptions},
};
use async_trait::async_trait;

use super::store::{AlertStore, Match, Memory};

/// The follower.
struct Follower {
    store: AlertStore,
    directory: Arc<Directory>,
    cap: usize,
}

#[async_trait]
impl Stage for Follower {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        // Without any watchlist nothing can be raised: a withdrawn alert is only ever of a watchlist that exists.
        if self.store.memory().lists.is_empty() {
            return Ok(());
        }
        let releases: Vec<ReleaseSet> = batch
            .iter()
            .filter_map(|delivery| match serde_json::from_slice(&delivery.record.payload) {
                Ok(release) => Some(release),
                Err(error) => {
                    // The indexer dead-letters what cannot be decoded; nothing of it was released.
                    tracing::warn!(position = ?delivery.position, %error, "undecodable release set; no alerts from it");
                    None
                }
            })
            .collect();
        let store = self.store.clone();
        let snapshot = self.directory.snapshot();
        let cap = self.cap;
        let written = tokio::task::spawn_blocking(move || {
            let now = chrono::Utc::now();
            let found = {
                let memory = store.memory();
                releases
                    .iter()
                    .map(|release| {
                        (
                            release.report_id.clone(),
                            matches_of(release, &memory, &snapshot, now, cap),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            store.record(found, now)
        })
        .await??;
        if written > 0 {
            metrics::counter!(crate::metrics::ALERTS_RAISED).increment(written as u64);
        }
        Ok(())
    }
}

/// The matches of one release: for each (watchlist, entry, released value), the best-ranked view that releases the
/// value to the watchlist's agency and purpose (its shown view, or an alternate that releases what the shown one
/// withholds, as a lookup finds it), cut down to its summary and the indicators matched for that watchlist.
pub(crate) fn matches_of(
    release: &ReleaseSet,
    memory: &Memory,
    snapshot: &Snapshot,
    now: Timestamp,
    cap: usize,
) -> BTreeMap<Match, View> {
    // Match → (rank of the view for the watchlist's pair, view index).
    let mut found: BTreeMap<Match, (u32, usize)> = BTreeMap::new();
    let mut capped = false;
    for (index, view) in release.views.iter().enumerate() {
        let pairs = served_pairs(view, memory, snapshot, now);
        if pairs.is_empty() {
            continue;
        }
        for indicator in &view.content.indicators {
            memory
                .watched
                .matches(indicator.kind, &indicator.value, &mut |slot| {
                    let rank = memory.lists.get(&slot.list).and_then(|list| {
                        pairs
                            .iter()
                            .find(|(agency, purpose, _)| {
                                *agency == list.agency && *purpose == list.purpose
                            })
                            .map(|(_, _, rank)| *rank)
                    });
                    let Some(rank) = rank else {
                        return true;
                    };
                    let key = (
                        slot.list.clone(),
                        slot.entry.clone(),
                        indicator.value.clone(),
                    );
                    let held = found.len();
                    match found.entry(key) {
                        Entry::Occupied(mut best) => {
                            if rank < best.get().0 {
                                best.insert((rank, index));
                            }
                        }
                        Entry::Vacant(_) if held >= cap => {
                            capped = true;
                            return false;
                        }
                        Entry::Vacant(slot) => {
                            slot.insert((rank, index));
                        }
                    }
                    true
                });
        }
    }
    if capped {
        metrics::counter!(crate::metrics::ALERTS_CAPPED).increment(1);
        tracing::warn!(report = %release.report_id, cap, "a release matched more watched values than the cap");
    }
    let found = found
        .into_iter()
        .map(|(key, (_, index))| (key, index))
        .collect();
    cut_down(release, found)
}

/// The (agency, purpose, rank) pairs `view` is released to (shown or alternate) that have a watchlist and that the
/// MoUs in force serve it to now.
fn served_pairs(
    view: &View,
    memory: &Memory,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Vec<(OrgId, Purpose, u32)> {
    let shown = view
        .grants
        .iter()
        .map(|grant| (&grant.agency, grant.purpose, 0));
    let alternates = view
        .alternates
        .iter()
        .map(|alternate| (&alternate.agency, alternate.purpose, alternate.rank));
    shown
        .chain(alternates)
        .filter(|(agency, purpose, _)| memory.grants.contains_key(&((*agency).clone(), *purpose)))
        .filter(|(agency, purpose, _)| {
            accord_policy::allows(view, agency, *purpose, now, &snapshot.mous, &snapshot.orgs)
        })
        .map(|(agency, purpose, rank)| (agency.clone(), purpose, rank))
        .collect()
}

/// Gives each match its view, cut down to what the alert shows: the summary and the indicators matched for its
/// watchlist (no narrative beyond the title, no victim).
fn cut_down(release: &ReleaseSet, found: BTreeMap<Match, usize>) -> BTreeMap<Match, View> {
    let mut values: BTreeMap<(&str, usize), BTreeSet<&str>> = BTreeMap::new();
    for ((list, _, value), index) in &found {
        values.entry((list, *index)).or_default().insert(value);
    }
    let mut views: BTreeMap<(&str, usize), View> = BTreeMap::new();
    for ((list, index), values) in &values {
        let view = &release.views[*index];
        let content = &view.content;
        let mut cut = View {
            id: view.id.clone(),
            report_id: view.report_id.clone(),
            mous: view.mous.clone(),
            grants: view.grants.clone(),
            alternates: view.alternates.clone(),
            valid_from: view.valid_from,
            valid_until: view.valid_until,
            profile: view.profile.clone(),
            facts: view.facts.clone(),
            content: ViewContent {
                partner: content.partner.clone(),
                tlp: content.tlp,
                occurred_at: content.occurred_at,
                categories: content.categories.clone(),
                sector: content.sector.clone(),
                title: content.title.clone(),
                description: None,
                ttps: None,
                indicators: content
                    .indicators
                    .iter()
                    .filter(|indicator| values.contains(indicator.value.as_str()))
                    .cloned()
                    .collect(),
                victim: None,
            },
        };
        cut.facts.num_indicators = view
            .facts
            .num_indicators
            .or(Some(view.content.indicators.len()));
        views.insert((list, *index), cut);
    }
    found
        .iter()
        .map(|(key, index)| (key.clone(), views[&(&*key.0, *index)].clone()))
        .collect()
}

/// Runs the matcher until `shutdown`.
///
/// # Errors
/// When the bus cannot be subscribed to.
pub(crate) async fn run(
    bus: accord_bus::BusClient,
    store: AlertStore,
    directory: Arc<Directory>,
    cap: usize,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let options = StageOptions {
        name: "search-alerts",
        topic: topics::REPORTS_RELEASABLE,
        group: "search-alerts".to_owned(),
        batch_size: 256,
        linger: std::time::Duration::ZERO,
    };
    stage::run(
        bus,
        options,
        Follower {
            store,
            directory,
            cap,
        },
        shutdown,
    )
    .await
}
