//! Retention: reports past every retention period that could still apply are withdrawn from the index and removed
//! from the enforcer's store for good.
//!
//! Only the owner of a report's partition publishes its withdrawal (`crate::owned`); a replica that holds a stale
//! copy of a report of another replica's partition past its retention removes it from its store without publishing.
//!
//! A report of partner P is kept while some MoU naming P as a provider (latest version, any status: a suspended or
//! expired MoU may come back) could still retain it, that is until `received_at + max(retention_days)` over those
//! MoUs. At that instant no MoU can grant it any more (policy-model.md: visible only while received less than
//! `retention_days` ago), so the sweep publishes an empty release set (the indexer deletes every view of the report
//! and the partner gets a withdrawal receipt, `retention ended`) and only then deletes the stored report; a crash in
//! between repeats the sweep. A partner no MoU names keeps its reports: an MoU created later releases them.
//! Visibility never waits for the sweep: every view's validity window already ends with retention.

use std::collections::BTreeMap;

use accord_domain::{MouVersion, NormalizedReport, OrgId, ReleaseSet, Timestamp, topics};
use chrono::TimeDelta;

use crate::{AppState, release_record, store::ReportStore};

/// The trigger of the release sets the sweep publishes, shown in withdrawal receipts.
pub const RETENTION_TRIGGER: &str = "retention ended";

/// Returns, per partner named as a provider, the longest retention of the MoUs naming it.
pub fn longest_retention(mous: &[MouVersion]) -> BTreeMap<OrgId, TimeDelta> {
    let mut longest: BTreeMap<OrgId, TimeDelta> = BTreeMap::new();
    for version in mous {
        let days =
            TimeDelta::try_days(i64::from(version.mou.retention_days)).unwrap_or(TimeDelta::MAX);
        for provider in &version.mou.providers {
            let entry = longest.entry(provider.clone()).or_insert(days);
            *entry = (*entry).max(days);
        }
    }
    longest
}

/// Withdraws and removes every report past its retention at `now`; returns how many were removed and when the next
/// stored report's retention ends.
///
/// What is due is looked up first without the evaluation lock: the sweep runs whenever reports were stored, and a
/// writer waiting for the lock would queue every lane of the stage behind the batch in progress. Only when something
/// is due does the sweep take the write side and look again under it.
///
/// # Errors
/// Fails when the store or the bus fails; nothing is removed from the store before its withdrawal is published.
pub async fn sweep(state: &AppState, now: Timestamp) -> anyhow::Result<(usize, Option<Timestamp>)> {
    let retentions = longest_retention(&state.deps.directory.snapshot().mous);
    let catalog_next = sweep_catalog(state, &retentions, now).await?;
    let next = |store_next: Option<Timestamp>| match (store_next, catalog_next) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if due(&state.store, &retentions, now).await?.is_empty() {
        return Ok((0, next(next_end(&state.store, &retentions).await?)));
    }
    let held = state.partitions.hold().await;
    let _evaluation = state.evaluation.write().await;
    let retentions = longest_retention(&state.deps.directory.snapshot().mous);
    let mut removed = 0;
    for reports in due(&state.store, &retentions, now).await? {
        let (reports, others) = owned_or_not(state, &held, reports).await?;
        if !others.is_empty() {
            // Another replica's partitions: its owner publishes the withdrawals; the stale copies here go. Should this
            // replica take one of those partitions over later (its owner lost before it could withdraw them), it
            // reads the partition from the start again, and so finds them.
            let store = state.store.clone();
            tokio::task::spawn_blocking(move || {
                let partitions: Vec<u32> = others
                    .iter()
                    .filter_map(|(_, partition)| *partition)
                    .collect();
                let reports: Vec<NormalizedReport> =
                    others.into_iter().map(|(report, _)| report).collect();
                store.remove(&reports)?;
                store.forget_applied(&partitions)
            })
            .await??;
        }
        for chunk in reports.chunks(state.config.reevaluation_chunk.max(1)) {
            let mut records = Vec::with_capacity(chunk.len());
            for report in chunk {
                records.push(release_record(&ReleaseSet {
                    report_id: report.id.clone(),
                    partner: report.partner.clone(),
                    evaluated_at: now,
                    indicators: report.indicators.len(),
                    views: Vec::new(),
                    trigger: Some(RETENTION_TRIGGER.to_owned()),
                    revoked: Vec::new(),
                })?);
            }
            state
                .deps
                .bus
                .publish(topics::REPORTS_RELEASABLE, records)
                .await?;
            let store = state.store.clone();
            let gone = chunk.to_vec();
            tokio::task::spawn_blocking(move || store.remove(&gone)).await??;
            removed += chunk.len();
        }
    }
    if removed > 0 {
        tracing::info!(reports = removed, "removed reports past their retention");
        metrics::counter!(crate::metrics::RETENTION_REMOVED).increment(removed as u64);
    }
    Ok((removed, next(next_end(&state.store, &retentions).await?)))
}

/// Removes from a catalog of its own (`crate::catalog`) the reports past every retention at `now`, publishing
/// nothing (the owner of each report's partition withdraws it); returns when the next catalogued report's retention
/// ends. Nothing to do when the catalog is the store.
async fn sweep_catalog(
    state: &AppState,
    retentions: &BTreeMap<OrgId, TimeDelta>,
    now: Timestamp,
) -> anyhow::Result<Option<Timestamp>> {
    if !crate::catalog::separate(&state.deps) {
        return Ok(None);
    }
    for reports in due(&state.catalog, retentions, now).await? {
        let catalog = state.catalog.clone();
        tokio::task::spawn_blocking(move || catalog.remove(&reports)).await??;
    }
    next_end(&state.catalog, retentions).await
}

/// Splits reports into those of the partitions this replica acts on and those of partitions it does not own (with
/// their partitions); those of partitions owned and not restored yet are left out of both (their restore sweeps
/// them).
async fn owned_or_not(
    state: &AppState,
    held: &crate::owned::Held,
    reports: Vec<NormalizedReport>,
) -> anyhow::Result<(Vec<NormalizedReport>, Vec<(NormalizedReport, Option<u32>)>)> {
    if held.acting.fixed {
        return Ok((reports, Vec::new()));
    }
    let store = state.store.clone();
    let placed =
        tokio::task::spawn_blocking(move || crate::owned::placed(&store, reports)).await??;
    let (mut mine, mut others) = (Vec::new(), Vec::new());
    for (report, partition) in placed {
        if crate::owned::belongs(&held.acting, partition) {
            mine.push(report);
        } else if !crate::owned::belongs(&held.owned, partition) {
            others.push((report, partition));
        }
    }
    Ok((mine, others))
}

/// Each partner's reports in `store` past every retention at `now` (partners with none left out).
async fn due(
    store: &ReportStore,
    retentions: &BTreeMap<OrgId, TimeDelta>,
    now: Timestamp,
) -> anyhow::Result<Vec<Vec<NormalizedReport>>> {
    let mut due = Vec::new();
    for (partner, retention) in retentions {
        let Some(cutoff) = now.checked_sub_signed(*retention) else {
            continue;
        };
        let (store, owner) = (store.clone(), partner.clone());
        // Reports received at or before `cutoff` have `received_at + retention <= now`: past every retention.
        let reports = tokio::task::spawn_blocking(move || {
            store.received_before(&owner, cutoff + TimeDelta::microseconds(1))
        })
        .await??;
        if !reports.is_empty() {
            due.push(reports);
        }
    }
    Ok(due)
}

/// When the oldest report in `store` of any partner reaches the end of its retention.
async fn next_end(
    store: &ReportStore,
    retentions: &BTreeMap<OrgId, TimeDelta>,
) -> anyhow::Result<Option<Timestamp>> {
    let mut next: Option<Timestamp> = None;
    for (partner, retention) in retentions {
        let (store, owner) = (store.clone(), partner.clone());
        if let Some(oldest) =
            tokio::task::spawn_blocking(move || store.oldest_received(&owner)).await??
            && let Some(end) = oldest.checked_add_signed(*retention)
        {
            next = Some(next.map_or(end, |next| next.min(end)));
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_retention_of_the_mous_naming_a_partner_counts() {
        let mou = |id: &str, providers: &[&str], days: u32| {
            let mut value: MouVersion = serde_json::from_value(serde_json::json!({
                "mou": {
                    "id": id, "title": id, "status": "revoked", "providers": providers, "recipients": ["ncu"],
                    "effective_from": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01T00:00:00Z",
                    "max_tlp": "amber", "retention_days": days
                },
                "version": 1, "changed_by": "t", "changed_at": "2026-01-01T00:00:00Z"
            }))
            .unwrap();
            value.version = 1;
            value
        };
        let longest = longest_retention(&[
            mou("m1", &["bank-a", "bank-b"], 30),
            mou("m2", &["bank-a"], 90),
        ]);
        let days = |partner: &str| {
            longest
                .get(&OrgId::parse(partner).unwrap())
                .map(|d| d.num_days())
        };
        assert_eq!(days("bank-a"), Some(90));
        assert_eq!(days("bank-b"), Some(30));
        assert_eq!(days("bank-c"), None);
    }
}
