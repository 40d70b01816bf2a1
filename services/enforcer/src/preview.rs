//! `POST /v1/mous/preview`: what a draft MoU (new, or a new version of an existing one) would change, per agency,
//! without changing anything. Served by the enforcer because it holds the normalized reports.
//!
//! The affected reports are those of the draft's providers and of the current version's providers. Each is released
//! twice, under the MoUs in force now and under the same set with the draft in place of its id; the differences are
//! counted per agency: reports (and their released indicators) that would become visible, and reports that would be
//! withdrawn.

use std::collections::{BTreeMap, BTreeSet};

use accord_domain::{MouVersion, NormalizedReport, OrgId, ReportId, Role, View};
use accord_runtime::{ApiError, Principal, directory::Snapshot, json};
use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use crate::AppState;

/// How many report ids are listed per agency and direction (the counts are always complete).
const MAX_LISTED: usize = 100;

/// What would change for one agency.
#[derive(Debug, Default, Serialize)]
struct AgencyChange {
    agency: String,
    reports_becoming_visible: usize,
    reports_withdrawn: usize,
    indicators_becoming_visible: usize,
    indicators_withdrawn: usize,
    becoming_visible: Vec<ReportId>,
    withdrawn: Vec<ReportId>,
}

/// Returns, per agency, the released indicator values of a report's views (shown and alternates: a lookup finds
/// the report by any of them).
fn released(views: &[View]) -> BTreeMap<OrgId, BTreeSet<String>> {
    let mut by_agency: BTreeMap<OrgId, BTreeSet<String>> = BTreeMap::new();
    for view in views {
        let shown = view.grants.iter().map(|grant| &grant.agency);
        let alternates = view.alternates.iter().map(|alternate| &alternate.agency);
        for agency in shown.chain(alternates) {
            let values = by_agency.entry(agency.clone()).or_default();
            values.extend(
                view.content
                    .indicators
                    .iter()
                    .map(|indicator| indicator.value.clone()),
            );
        }
    }
    by_agency
}

/// `POST /v1/mous/preview`.
pub(crate) async fn preview(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Coordinator)?;
    json::require_json(&headers)?;
    Ok(Json(preview_mou(&state, &principal, &body).await?).into_response())
}

/// Returns what a draft MoU would change, per agency, without changing anything: the whole of
/// `POST /v1/mous/preview` but the media type check (`{ "mou", "reports_evaluated", "changes": [...] }`). The draft
/// is validated by [`accord_domain::MouValidator`], as admin validates it. The HTTP handler and the web console call
/// this.
///
/// # Errors
/// 403 for anyone but a coordinator, 400/422 naming each bad field, 503 when the report store cannot be read.
pub async fn preview_mou(
    state: &AppState,
    principal: &Principal,
    body: &[u8],
) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let snapshot = state.deps.directory.snapshot();
    let draft = state
        .mou_validator
        .validate(json::parse_value(body)?, None, &snapshot.orgs)?;
    let current = snapshot.mou(&draft.id).cloned();
    let mut partners: BTreeSet<OrgId> = draft.providers.iter().cloned().collect();
    if let Some(current) = &current {
        partners.extend(current.mou.providers.iter().cloned());
    }
    let mut with_draft: Vec<MouVersion> = snapshot
        .mous
        .iter()
        .filter(|version| version.mou.id != draft.id)
        .cloned()
        .collect();
    with_draft.push(MouVersion {
        reason: None,
        version: current.as_ref().map_or(1, |current| current.version + 1),
        mou: draft.clone(),
        changed_by: principal.token_id.clone(),
        changed_at: chrono::Utc::now(),
    });
    let reports = reports_of(state, partners).await?;
    let evaluated = reports.len();
    // Releasing every report twice is CPU work: off the async runtime.
    let changes = tokio::task::spawn_blocking(move || changes(&reports, &snapshot, &with_draft))
        .await
        .map_err(ApiError::internal)?;
    Ok(json!({
        "mou": draft.id,
        "reports_evaluated": evaluated,
        "changes": changes,
    }))
}

/// Returns the stored reports of `partners`.
async fn reports_of(
    state: &AppState,
    partners: BTreeSet<OrgId>,
) -> Result<Vec<NormalizedReport>, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut reports = Vec::new();
        for partner in &partners {
            reports.extend(store.by_partner(partner)?);
        }
        Ok::<_, crate::store::StoreError>(reports)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| ApiError::unavailable("the report store", &error))
}

/// Returns, per agency with any change, what releasing `reports` under `with_draft` instead of the MoUs in force
/// now would change. The reports are released in parts, one per core, each part counted on its own and the parts
/// added up in report order: the same answer as one pass, lists included.
fn changes(
    reports: &[NormalizedReport],
    snapshot: &Snapshot,
    with_draft: &[MouVersion],
) -> Vec<AgencyChange> {
    let now = chrono::Utc::now();
    let parts = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let size = reports.len().div_ceil(parts).max(1);
    let counted: Vec<BTreeMap<OrgId, AgencyChange>> = std::thread::scope(|scope| {
        let workers: Vec<_> = reports
            .chunks(size)
            .map(|part| scope.spawn(move || changes_of(part, snapshot, with_draft, now)))
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut changes: BTreeMap<OrgId, AgencyChange> = BTreeMap::new();
    for part in counted {
        for (agency, change) in part {
            match changes.entry(agency) {
                std::collections::btree_map::Entry::Vacant(entry) => {
                    entry.insert(change);
                }
                std::collections::btree_map::Entry::Occupied(mut entry) => {
                    entry.get_mut().add(change)
                }
            }
        }
    }
    changes
        .into_values()
        .filter(|change| {
            change.reports_becoming_visible
                + change.reports_withdrawn
                + change.indicators_becoming_visible
                + change.indicators_withdrawn
                > 0
        })
        .collect()
}

/// Counts one part of the reports (see [`changes`]).
fn changes_of(
    reports: &[NormalizedReport],
    snapshot: &Snapshot,
    with_draft: &[MouVersion],
    now: chrono::DateTime<chrono::Utc>,
) -> BTreeMap<OrgId, AgencyChange> {
    let mut changes: BTreeMap<OrgId, AgencyChange> = BTreeMap::new();
    for report in reports {
        let before = released(&accord_policy::release(
            report,
            now,
            &snapshot.mous,
            &snapshot.orgs,
        ));
        let after = released(&accord_policy::release(
            report,
            now,
            with_draft,
            &snapshot.orgs,
        ));
        let agencies: BTreeSet<&OrgId> = before.keys().chain(after.keys()).collect();
        for agency in agencies {
            let change = changes
                .entry(agency.clone())
                .or_insert_with(|| AgencyChange {
                    agency: agency.to_string(),
                    ..AgencyChange::default()
                });
            change.count(&report.id, before.get(agency), after.get(agency));
        }
    }
    changes
}

impl AgencyChange {
    /// Adds the counts of a later part of the reports (its listed reports after this one's, up to the bound).
    fn add(&mut self, later: AgencyChange) {
        self.reports_becoming_visible += later.reports_becoming_visible;
        self.reports_withdrawn += later.reports_withdrawn;
        self.indicators_becoming_visible += later.indicators_becoming_visible;
        self.indicators_withdrawn += later.indicators_withdrawn;
        let room = MAX_LISTED.saturating_sub(self.becoming_visible.len());
        self.becoming_visible
            .extend(later.becoming_visible.into_iter().take(room));
        let room = MAX_LISTED.saturating_sub(self.withdrawn.len());
        self.withdrawn
            .extend(later.withdrawn.into_iter().take(room));
    }

    /// Counts one report's change for this agency: the indicator values released before and after.
    fn count(
        &mut self,
        report: &ReportId,
        old: Option<&BTreeSet<String>>,
        new: Option<&BTreeSet<String>>,
    ) {
        let empty = BTreeSet::new();
        let (old_values, new_values) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
        self.indicators_becoming_visible += new_values.difference(old_values).count();
        self.indicators_withdrawn += old_values.difference(new_values).count();
        match (old, new) {
            (None, Some(_)) => {
                self.reports_becoming_visible += 1;
                if self.becoming_visible.len() < MAX_LISTED {
                    self.becoming_visible.push(report.clone());
                }
            }
            (Some(_), None) => {
                self.reports_withdrawn += 1;
                if self.withdrawn.len() < MAX_LISTED {
                    self.withdrawn.push(report.clone());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(first: usize, count: usize) -> AgencyChange {
        let ids: Vec<ReportId> = (first..first + count).map(|_| ReportId::random()).collect();
        AgencyChange {
            agency: "ncu".to_owned(),
            reports_becoming_visible: count,
            reports_withdrawn: 1,
            indicators_becoming_visible: 10 * count,
            indicators_withdrawn: 2,
            becoming_visible: ids.into_iter().take(MAX_LISTED).collect(),
            withdrawn: vec![ReportId::random()],
        }
    }

    #[test]
    fn parts_add_up_in_order_and_lists_stay_bounded() {
        let (first, second) = (part(0, 70), part(70, 70));
        let expected: Vec<ReportId> = first
            .becoming_visible
            .iter()
            .chain(&second.becoming_visible)
            .take(MAX_LISTED)
            .cloned()
            .collect();
        let mut total = first;
        total.add(second);
        assert_eq!(total.reports_becoming_visible, 140);
        assert_eq!(total.indicators_becoming_visible, 1400);
        assert_eq!(
            (total.reports_withdrawn, total.indicators_withdrawn),
            (2, 4)
        );
        assert_eq!(
            total.becoming_visible, expected,
            "the first 100, in report order"
        );
        assert_eq!(total.withdrawn.len(), 2);
    }
}
