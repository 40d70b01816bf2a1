//! Re-evaluation on policy change: the reports an MoU or organization change affects get new release sets.
//!
//! The watcher wakes when the directory applied new records or when the next MoU time boundary (`effective_from`,
//! `expires_at`) passes. It diffs the new snapshot against the one it last acted on:
//! - an MoU whose latest version changed (edit, suspend, reactivate, revoke) affects the providers of its old and new
//!   versions;
//! - an organization that changed affects itself if it is a partner, and, if it is an agency, the providers of every
//!   MoU naming it (an agency's country decides `recipient_countries`);
//! - an MoU boundary that passed affects its providers.
//!
//! The affected partners' stored reports of the partitions this replica owns (`crate::owned`) are evaluated again
//! under the ownership guard and the evaluation lock and their release sets published; the indexer replaces every view of each report, so widening, narrowing and withdrawal all reach the
//! index. The snapshot positions acted on are stored, so a restart re-evaluates whatever changed while it was down.
//!
//! Retention needs no re-evaluation to take effect: a view's validity window ends with retention and the index
//! filters on it. The watcher also wakes when the oldest stored report's retention ends and runs the
//! [`crate::retention`] sweep, which removes such reports from the index and the store.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use accord_domain::{MouVersion, OrgId, OrgKind, Timestamp};
use accord_runtime::directory::Snapshot;
use tokio_util::sync::CancellationToken;

use crate::{AppState, store::Stored, stored::Locking};
use accord_runtime::telemetry::ErrorChain;

/// Affected partners, each with the first reason found.
pub type Affected = BTreeMap<OrgId, String>;

/// Returns the partners whose reports a change from `before` to `after` affects.
pub fn affected_by_change(before: &Snapshot, after: &Snapshot) -> Affected {
    let mut affected = Affected::new();
    let mut add = |providers: &mut dyn Iterator<Item = &OrgId>, reason: &str| {
        for provider in providers {
            affected
                .entry(provider.clone())
                .or_insert_with(|| reason.to_owned());
        }
    };
    let ids: std::collections::BTreeSet<_> = before
        .mou_history
        .keys()
        .chain(after.mou_history.keys())
        .collect();
    for id in ids {
        let old = before.mou(id);
        let new = after.mou(id);
        if old.map(|v| v.version) == new.map(|v| v.version) {
            continue;
        }
        let reason = match new {
            Some(version) => format!(
                "mou {} v{} ({})",
                id,
                version.version,
                serde_json::to_value(version.mou.status)
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            None => format!("mou {id} removed"),
        };
        for version in [old, new].into_iter().flatten() {
            add(&mut version.mou.providers.iter(), &reason);
        }
    }
    for (id, org) in &after.orgs {
        if before.orgs.get(id) == Some(org) {
            continue;
        }
        let reason = format!("organization {id} changed");
        match org.kind {
            OrgKind::Partner => add(&mut std::iter::once(id), &reason),
            OrgKind::Agency => {
                for version in after.mous.iter().chain(before.mous.iter()) {
                    if version.mou.recipients.contains(id) {
                        add(&mut version.mou.providers.iter(), &reason);
                    }
                }
            }
            OrgKind::Operator => {}
        }
    }
    affected
}

/// Returns the partners affected by MoU boundaries in `(since, until]`, and the next boundary after `until`.
pub fn boundaries(
    mous: &[MouVersion],
    since: Timestamp,
    until: Timestamp,
) -> (Affected, Option<Timestamp>) {
    let mut affected = Affected::new();
    let mut next: Option<Timestamp> = None;
    for version in mous {
        let mou = &version.mou;
        for (at, what) in [
            (mou.effective_from, "took effect"),
            (mou.expires_at, "expired"),
        ] {
            if since < at && at <= until {
                for provider in &mou.providers {
                    affected
                        .entry(provider.clone())
                        .or_insert_with(|| format!("mou {} {what}", mou.id));
                }
            } else if at > until {
                next = Some(next.map_or(at, |next| next.min(at)));
            }
        }
    }
    (affected, next)
}

/// Watches the directory, the clock and newly stored reports (for retention) until `shutdown`.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut changes = state.deps.directory.changes();
    let mut acted_on: Arc<Snapshot> = Arc::new(Snapshot::default());
    let mut last_check = chrono::Utc::now();
    let mut first = true;
    let mut recorded = BTreeMap::new();
    loop {
        let current = state.deps.directory.snapshot();
        let applied = state.deps.directory.applied();
        let now = chrono::Utc::now();
        let mut affected = if first {
            // At start: act only if the policy moved since the positions last acted on (stored with the reports).
            first = false;
            match state.store.policy_positions() {
                Ok(Some(stored)) if stored == applied => Affected::new(),
                _ => affected_by_change(&Snapshot::default(), &current),
            }
        } else {
            affected_by_change(&acted_on, &current)
        };
        let (passed, next) = boundaries(&current.mous, last_check, now);
        for (partner, reason) in passed {
            affected.entry(partner).or_insert(reason);
        }
        if !affected.is_empty() {
            while let Err(error) = reevaluate(&state, &affected).await {
                tracing::warn!(error = %ErrorChain(error.as_ref()), "re-evaluation failed, retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
        let retention_next = match crate::retention::sweep(&state, now).await {
            Ok((_, next)) => next,
            Err(error) => {
                tracing::warn!(error = %ErrorChain(error.as_ref()), "retention sweep failed, retrying");
                Some(now + chrono::TimeDelta::seconds(1))
            }
        };
        let next = match (next, retention_next) {
            (Some(left), Some(right)) => Some(left.min(right)),
            (left, right) => left.or(right),
        };
        if let Err(error) = state.store.set_policy_positions(applied) {
            tracing::warn!(error = %ErrorChain(&error), "failed to store the policy positions acted on");
        }
        record_evaluated(&state, &mut recorded, applied, now).await;
        acted_on = current;
        last_check = now;
        let wait = next
            .map(|next| {
                (next - chrono::Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
            })
            .unwrap_or(Duration::from_secs(3600))
            .min(Duration::from_secs(3600));
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            () = state.stored.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Records that the reports of the partitions acted on are evaluated under `applied` (`crate::owned`: a partition
/// taken back later with nothing new and no policy change since needs no re-evaluation), for the partitions whose
/// record changed. Nothing under a fixed ownership.
async fn record_evaluated(
    state: &AppState,
    recorded: &mut BTreeMap<u32, accord_runtime::directory::Applied>,
    applied: accord_runtime::directory::Applied,
    now: Timestamp,
) {
    let held = state.partitions.hold().await;
    if held.acting.fixed {
        return;
    }
    let changed: Vec<u32> = held
        .acting
        .partitions
        .keys()
        .filter(|partition| recorded.get(partition) != Some(&applied))
        .copied()
        .collect();
    if changed.is_empty() {
        return;
    }
    let (store, partitions) = (state.store.clone(), changed.clone());
    match tokio::task::spawn_blocking(move || store.set_evaluated(&partitions, applied, now)).await
    {
        Ok(Ok(())) => recorded.extend(changed.into_iter().map(|partition| (partition, applied))),
        Ok(Err(error)) => {
            tracing::warn!(error = %ErrorChain(&error), "failed to record the positions evaluated")
        }
        Err(error) => tracing::warn!(%error, "failed to record the positions evaluated"),
    }
}

/// Re-evaluates every stored report of the affected partners in the partitions this replica owns (`crate::owned`)
/// and publishes their release sets, a page at a time (`crate::stored`), holding the ownership guard throughout and
/// the evaluation lock for each page.
async fn reevaluate(state: &AppState, affected: &Affected) -> anyhow::Result<()> {
    let held = state.partitions.hold().await;
    let mut num_reports = 0;
    for (partner, reason) in affected {
        let (which, owned) = (Stored::Partner(partner.clone()), held.acting.clone());
        num_reports +=
            crate::stored::reevaluate_stored(state, which, Some(owned), Locking::EachPage, reason)
                .await?;
    }
    tracing::info!(
        partners = affected.len(),
        reports = num_reports,
        "re-evaluated reports after a policy change"
    );
    metrics::counter!(crate::metrics::REEVALUATED).increment(num_reports as u64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use accord_domain::{Attribution, Mou, MouId, MouStatus, Organization, PiiRule, Scope, Tlp};

    use super::*;

    fn ts(value: &str) -> Timestamp {
        value.parse().unwrap()
    }

    fn org(id: &str, kind: OrgKind, country: &str) -> Organization {
        Organization {
            id: OrgId::parse(id).unwrap(),
            name: id.to_owned(),
            kind,
            country: country.to_owned(),
            sector: None,
            default_tlp: None,
            created_at: ts("2026-01-01T00:00:00Z"),
        }
    }

    fn version(id: &str, providers: &[&str], recipients: &[&str], number: u32) -> MouVersion {
        MouVersion {
            reason: None,
            mou: Mou {
                id: MouId::parse(id).unwrap(),
                title: id.to_owned(),
                status: MouStatus::Active,
                providers: providers.iter().map(|p| OrgId::parse(p).unwrap()).collect(),
                recipients: recipients
                    .iter()
                    .map(|r| OrgId::parse(r).unwrap())
                    .collect(),
                effective_from: ts("2026-01-01T00:00:00Z"),
                expires_at: ts("2027-01-01T00:00:00Z"),
                max_tlp: Tlp::Amber,
                content: BTreeSet::new(),
                categories: Scope::Any,
                sectors: Scope::Any,
                indicator_types: Scope::Any,
                purposes: BTreeSet::new(),
                pii: PiiRule::Redact,
                attribution: Attribution::Anonymous,
                feedback: Default::default(),
                recipient_countries: Scope::Any,
                retention_days: 30,
            },
            version: number,
            changed_by: "tok".to_owned(),
            changed_at: ts("2026-01-01T00:00:00Z"),
        }
    }

    fn snapshot(mous: Vec<MouVersion>, orgs: Vec<Organization>) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for version in mous {
            snapshot
                .mou_history
                .entry(version.mou.id.clone())
                .or_default()
                .push(version);
        }
        snapshot.mous = snapshot
            .mou_history
            .values()
            .filter_map(|v| v.last().cloned())
            .collect();
        snapshot.orgs = orgs.into_iter().map(|org| (org.id.clone(), org)).collect();
        snapshot
    }

    fn partners(affected: &Affected) -> Vec<&str> {
        affected.keys().map(OrgId::as_str).collect()
    }

    #[test]
    fn a_new_mou_version_affects_the_providers_of_both_versions_only() {
        let orgs = vec![org("ncu", OrgKind::Agency, "DE")];
        let before = snapshot(
            vec![
                version("m1", &["bank-a"], &["ncu"], 1),
                version("m2", &["bank-c"], &["ncu"], 1),
            ],
            orgs.clone(),
        );
        let after = snapshot(
            vec![
                version("m1", &["bank-a"], &["ncu"], 1),
                version("m1", &["bank-b"], &["ncu"], 2),
                version("m2", &["bank-c"], &["ncu"], 1),
            ],
            orgs,
        );
        let affected = affected_by_change(&before, &after);
        assert_eq!(partners(&affected), vec!["bank-a", "bank-b"]);
        assert!(
            affected
                .values()
                .all(|reason| reason.starts_with("mou m1 v2")),
            "{affected:?}"
        );
        assert!(affected_by_change(&after, &after).is_empty());
    }

    #[test]
    fn an_agency_change_affects_the_providers_of_mous_naming_it() {
        let mous = vec![
            version("m1", &["bank-a"], &["ncu"], 1),
            version("m2", &["bank-b"], &["other"], 1),
        ];
        let before = snapshot(
            mous.clone(),
            vec![
                org("ncu", OrgKind::Agency, "DE"),
                org("other", OrgKind::Agency, "FR"),
            ],
        );
        let after = snapshot(
            mous,
            vec![
                org("ncu", OrgKind::Agency, "FR"),
                org("other", OrgKind::Agency, "FR"),
            ],
        );
        assert_eq!(
            partners(&affected_by_change(&before, &after)),
            vec!["bank-a"]
        );
    }

    #[test]
    fn boundaries_that_passed_affect_providers_and_the_next_one_is_reported() {
        let mous = vec![version("m1", &["bank-a"], &["ncu"], 1)];
        let (affected, next) = boundaries(
            &mous,
            ts("2026-12-31T00:00:00Z"),
            ts("2027-01-01T00:00:00Z"),
        );
        assert_eq!(partners(&affected), vec!["bank-a"]);
        assert!(affected.values().all(|reason| reason.contains("expired")));
        assert_eq!(next, None);
        let (affected, next) = boundaries(
            &mous,
            ts("2025-06-01T00:00:00Z"),
            ts("2025-07-01T00:00:00Z"),
        );
        assert!(affected.is_empty());
        assert_eq!(next, Some(ts("2026-01-01T00:00:00Z")));
    }
}
