//! A partner's controls over its own reports (`accord_domain::control`), acted on in the partner's order among its
//! reports (the stage keeps it: decision 0044).
//!
//! - Retracting a report writes its tombstone and removes its stored copy in one transaction, then publishes an
//!   empty release set (as retention does): the indexer deletes every view and the partner's status gets a
//!   withdrawal receipt per agency that had it; the release set lists, per (agency, purpose) the report is shown to,
//!   the STIX objects TAXII pollers get again with `revoked: true`. A copy of the report that arrives later (a replay, an amendment
//!   racing the retraction) is not stored again and is released to no one.
//! - An amendment is a report (the stage stores and evaluates it, trigger `amended by the partner (version n)`);
//!   its release set lists, for TAXII pollers, the objects of the replaced version it no longer releases
//!   ([`superseded`]).
//! - Retracting indicator values must reach every enforcer replica, whichever partitions it owns, so the stage that
//!   reads the control on `reports.normalized` forwards it to `indicators.retracted` ([`topics::INDICATORS_RETRACTED`],
//!   one partition, kept whole), and every replica's follower ([`follow`], a consumer group per data directory)
//!   applies it: the store records the values and removes them from every stored report of the partner sent before
//!   the retraction, and from any such report stored later (`store::retracted_values`). The affected reports are
//!   evaluated again under the partner's lock and the read side of the evaluation lock, like the partner's new
//!   reports: a re-evaluation (write side) sees the reports before or after, never half-way (decision 0083).

mod follow;

pub(crate) use self::follow::follow;

use std::collections::{HashMap, HashSet};

use accord_bus::Delivery;
use accord_domain::{
    Control, IndicatorRetraction, NormalizedReport, OrgId, Purpose, ReleaseSet, ReportId,
    Retraction, Revocation, Timestamp, topics,
};
use accord_runtime::directory::Snapshot;
use accord_runtime::telemetry::ErrorChain;
use accord_stix::export::own_objects;

use crate::{AppState, evaluate_at, publish_releases};

/// The trigger of the release set that withdraws a retracted report, shown in withdrawal receipts (followed by the
/// reason: `retracted by the partner (false-positive)`).
pub(crate) const RETRACTED_TRIGGER: &str = "retracted by the partner";

/// Returns the release set that withdraws every view of `report`.
pub(crate) fn withdrawal(report: &NormalizedReport, at: Timestamp, trigger: &str) -> ReleaseSet {
    ReleaseSet {
        report_id: report.id.clone(),
        partner: report.partner.clone(),
        evaluated_at: at,
        indicators: report.indicators.len(),
        views: Vec::new(),
        trigger: Some(trigger.to_owned()),
        revoked: Vec::new(),
    }
}

/// Returns the stored versions that the amended reports among `reports` replace, by id.
///
/// # Errors
/// A store failure.
pub(crate) fn replaced(
    store: &crate::store::ReportStore,
    reports: &[NormalizedReport],
) -> anyhow::Result<HashMap<ReportId, NormalizedReport>> {
    let mut replaced = HashMap::new();
    for report in reports.iter().filter(|report| report.revision.is_some()) {
        if let Some(stored) = store.get(&report.id)? {
            replaced.insert(report.id.clone(), stored);
        }
    }
    Ok(replaced)
}

/// Leaves out the amendments older than the version they would replace: two gateways that each accepted an
/// amendment can put an older version after a newer one on the bus, and the report's status keeps the newer (the
/// gateway's `status::owned::amend`); so does the enforcer. Another amendment to the same version replaces it (the
/// later on the bus wins, in the status too). Logged, as it means a partner's writes reached several gateways.
/// `items` carry their report (`report` finds it), each with what the caller keeps beside it (its partition).
pub(crate) fn without_older_versions<T>(
    items: Vec<T>,
    previous: &HashMap<ReportId, NormalizedReport>,
    report: impl Fn(&T) -> &NormalizedReport,
) -> Vec<T> {
    let version = |report: &NormalizedReport| report.revision.as_ref().map_or(1, |r| r.version);
    // The newest version so far of each report: the stored one, then the batch's in order.
    let mut newest: HashMap<ReportId, u32> = previous
        .iter()
        .map(|(id, stored)| (id.clone(), version(stored)))
        .collect();
    items
        .into_iter()
        .filter(|item| {
            let report = report(item);
            let current = newest.entry(report.id.clone()).or_insert(0);
            let older = version(report) < *current;
            if older {
                tracing::warn!(
                    report_id = %report.id,
                    version = version(report),
                    newest = *current,
                    "an amendment older than the newest version is ignored"
                );
            } else {
                *current = version(report);
            }
            !older
        })
        .collect()
}

/// Returns what an amendment revokes: per (agency, purpose) the replaced version is shown to now, its own STIX
/// objects that the new version's release set no longer gives that (agency, purpose) — the indicators the partner
/// removed, or the whole report when the new version is no longer released to it. A replay of the same version
/// revokes nothing.
pub(crate) fn superseded(
    before: &NormalizedReport,
    current: &ReleaseSet,
    snapshot: &Snapshot,
    at: Timestamp,
) -> Vec<Revocation> {
    let mut kept: HashMap<(OrgId, Purpose), HashSet<String>> = HashMap::new();
    for view in &current.views {
        let ids: HashSet<String> = own_objects(view).into_iter().map(|(_, id)| id).collect();
        for grant in &view.grants {
            kept.entry((grant.agency.clone(), grant.purpose))
                .or_default()
                .extend(ids.iter().cloned());
        }
    }
    let mut revoked = Vec::new();
    for view in &evaluate_at(before, snapshot, at, "").views {
        let objects = own_objects(view);
        for grant in &view.grants {
            let still = kept.get(&(grant.agency.clone(), grant.purpose));
            let gone: Vec<(String, String)> = objects
                .iter()
                .filter(|(_, id)| still.is_none_or(|still| !still.contains(id)))
                .cloned()
                .collect();
            if !gone.is_empty() {
                revoked.push(Revocation {
                    agency: grant.agency.clone(),
                    purpose: grant.purpose,
                    created: before.received_at,
                    objects: gone,
                });
            }
        }
    }
    revoked
}

/// Acts on one control record of `reports.normalized`: a report retraction here, an indicator retraction by
/// forwarding it to every replica ([`follow`]). One that cannot be decoded is logged and skipped: it names no report
/// it could release, and the gateway only writes valid ones.
///
/// # Errors
/// A store or bus failure: the batch is retried (acting twice changes nothing).
pub(crate) async fn apply(state: &AppState, delivery: &Delivery) -> anyhow::Result<()> {
    match decode(delivery) {
        Some(Control::RetractReport(retraction)) => retract_report(state, &retraction).await,
        Some(Control::RetractIndicators(_)) => {
            let record = delivery.record.clone();
            state
                .deps
                .bus
                .publish(topics::INDICATORS_RETRACTED, vec![record])
                .await?;
            Ok(())
        }
        None => Ok(()),
    }
}

/// Applies a control to the store only, publishing nothing: the refill of a set-aside store ([`crate::refill`]).
///
/// # Errors
/// A store failure.
pub(crate) fn apply_to_store(
    store: &crate::store::ReportStore,
    delivery: &Delivery,
) -> anyhow::Result<()> {
    match decode(delivery) {
        Some(Control::RetractReport(retraction)) => {
            // One naming another partner's report changes nothing (logged when it was first applied).
            let _ = retract_in_store(store, &retraction)?;
        }
        Some(Control::RetractIndicators(retraction)) => {
            store.retract_values(&retraction)?;
        }
        None => {}
    }
    Ok(())
}

/// Decodes a control record; `None` (logged) when it is not one.
pub(crate) fn decode(delivery: &Delivery) -> Option<Control> {
    match serde_json::from_slice(&delivery.record.payload) {
        Ok(control) => Some(control),
        Err(error) => {
            tracing::error!(
                error = %ErrorChain(&error),
                offset = delivery.position.offset,
                "undecodable control record: skipped"
            );
            None
        }
    }
}

/// What retracting a report did to the store: the copy removed and whether it was retracted before; or, when the
/// retraction names another partner's report, that partner (nothing done).
type Retracted = Result<(Option<NormalizedReport>, bool), OrgId>;

/// Writes a retraction's tombstone and removes the stored copy (see [`Retracted`]).
fn retract_in_store(
    store: &crate::store::ReportStore,
    retraction: &Retraction,
) -> anyhow::Result<Retracted> {
    // Defence in depth: the gateway only accepts a retraction from the report's partner.
    if let Some(stored) = store.get(&retraction.report_id)?
        && stored.partner != retraction.partner
    {
        return Ok(Err(stored.partner));
    }
    let replayed = store.is_retracted(&retraction.report_id)?;
    Ok(Ok((store.retract(retraction)?, replayed)))
}

async fn retract_report(state: &AppState, retraction: &Retraction) -> anyhow::Result<()> {
    let _evaluation = state.evaluation.read().await;
    let store = state.store.clone();
    let owned = retraction.clone();
    let outcome = tokio::task::spawn_blocking(move || retract_in_store(&store, &owned)).await??;
    let removed = match outcome {
        // Nothing stored and no earlier retraction: the report was rejected, it has no view to withdraw (and a
        // release set would count it as evaluated and rejected at once).
        Ok((None, false)) => return Ok(()),
        Ok((removed, _)) => removed,
        Err(owner) => {
            tracing::error!(report_id = %retraction.report_id, partner = %retraction.partner, %owner,
                "a retraction names another partner's report: ignored");
            return Ok(());
        }
    };
    let at = chrono::Utc::now();
    let release = ReleaseSet {
        report_id: retraction.report_id.clone(),
        partner: retraction.partner.clone(),
        evaluated_at: at,
        indicators: removed.as_ref().map_or(0, |report| report.indicators.len()),
        views: Vec::new(),
        trigger: Some(format!(
            "{RETRACTED_TRIGGER} ({})",
            retraction.reason.as_str()
        )),
        revoked: removed
            .as_ref()
            .map(|report| revocations(state, report, at))
            .unwrap_or_default(),
    };
    publish_releases(&state.deps.bus, vec![release]).await?;
    tracing::info!(report_id = %retraction.report_id, reason = retraction.reason.as_str(), "report retracted");
    Ok(())
}

/// Returns what each (agency, purpose) the report is shown to now loses: its own STIX objects, for TAXII pollers
/// (evaluated under the evaluation lock, so as of the report's latest release set).
fn revocations(state: &AppState, report: &NormalizedReport, at: Timestamp) -> Vec<Revocation> {
    let release = evaluate_at(
        report,
        &state.deps.directory.snapshot(),
        at,
        RETRACTED_TRIGGER,
    );
    let mut revoked = Vec::new();
    for view in &release.views {
        let objects = own_objects(view);
        for grant in &view.grants {
            revoked.push(Revocation {
                agency: grant.agency.clone(),
                purpose: grant.purpose,
                created: report.received_at,
                objects: objects.clone(),
            });
        }
    }
    revoked
}

/// Applies an indicator retraction to this replica's store and publishes the release sets of the reports it changed
/// in the partitions it owns (the others are stale copies here: their owners act on them; see the module
/// documentation). Lock order as everywhere: the ownership guard, the partner's lock, the evaluation lock.
pub(crate) async fn retract_indicators(
    state: &AppState,
    retraction: &IndicatorRetraction,
) -> anyhow::Result<()> {
    let held = state.partitions.hold().await;
    let _partner = state.partners.lock([&retraction.partner]).await;
    let _evaluation = state.evaluation.read().await;
    let (store, retraction_owned, owned) =
        (state.store.clone(), retraction.clone(), held.acting.clone());
    let started = std::time::Instant::now();
    let changed = tokio::task::spawn_blocking(move || {
        let changed = store.retract_values(&retraction_owned)?;
        crate::owned::placed(&store, changed)
    })
    .await??;
    let changed = crate::owned::acting_or_forgotten(state, &owned, changed).await?;
    let stored_ms = started.elapsed().as_millis();
    let trigger = format!(
        "indicators retracted by the partner ({})",
        retraction.reason.as_str()
    );
    let reports = crate::stored::evaluate_and_publish(state, changed, &trigger).await?;
    tracing::info!(
        retraction = retraction.id,
        values = retraction.values.len(),
        reports,
        stored_ms,
        published_ms = started.elapsed().as_millis(),
        "indicators retracted"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use accord_domain::Revision;

    use super::*;

    fn version(base: &NormalizedReport, version: u32, title: &str) -> NormalizedReport {
        NormalizedReport {
            revision: Some(Revision {
                version,
                by: "tok".into(),
                at: chrono::Utc::now(),
            }),
            title: title.into(),
            ..base.clone()
        }
    }

    #[test]
    fn an_amendment_older_than_the_newest_version_is_left_out() {
        let stored = crate::store::tests::report("bank-a");
        let previous = HashMap::from([(stored.id.clone(), version(&stored, 2, "stored v2"))]);
        let batch = vec![
            version(&stored, 1, "old"),
            version(&stored, 2, "another v2"),
            version(&stored, 4, "v4"),
            version(&stored, 3, "v3 after v4"),
        ];
        let kept: Vec<String> = without_older_versions(batch, &previous, |report| report)
            .into_iter()
            .map(|report| report.title)
            .collect();
        assert_eq!(kept, ["another v2", "v4"]);
        let fresh = crate::store::tests::report("bank-b");
        assert_eq!(
            without_older_versions(vec![fresh.clone()], &previous, |report| report),
            [fresh]
        );
    }
}
