//! `POST /v1/mous/preview`: what a draft MoU (new, or a new version of an existing one) would change, per agency,
//! without changing anything. Served by the enforcer because it holds the normalized reports.
//!
//! The affected reports are those of the draft's providers and of the current version's providers. For each, what
//! every agency can find of it ([`accord_policy::reach`]: the agencies a view is released to, and the indicator
//! values those views release) is computed under the MoUs in force now and under the same set with the draft in place
//! of its id; the differences are counted per agency: reports (and their released indicators) that would become
//! visible, and reports that would be withdrawn.
//!
//! The answer is the one releasing every report twice in full ([`accord_policy::release`]) gives (a differential
//! test compares them), narrowed to what can differ ([`Sides`]): only an agency the draft or the current version
//! names can see a difference (every other agency's MoUs are the same on both sides), and only the MoUs naming the
//! report's partner and one of those agencies take part in their decisions. Nothing is cached between previews: both
//! sides are evaluated from the stored reports and the directory snapshot of this request, so no stale state can
//! enter the answer. The stored reports are read, decoded and counted in parallel parts, one per core, without
//! keeping them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use accord_domain::{MouVersion, NormalizedReport, OrgId, Organization, ReportId, Role, Timestamp};
use accord_runtime::{ApiError, Principal, json};
use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    AppState,
    store::{ReportStore, StoreError},
};

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

/// The two sides of a preview, narrowed to what can differ between them.
struct Sides {
    /// When both sides are evaluated.
    now: Timestamp,
    /// The agencies the draft or the current version names: no other agency's decisions differ.
    agencies: BTreeSet<OrgId>,
    /// Per partner: of the MoUs in force now (`.0`) and of the same set with the draft (`.1`), those naming the
    /// partner and one of `agencies`.
    by_partner: HashMap<OrgId, (Vec<MouVersion>, Vec<MouVersion>)>,
    /// Both whole sets, for a report of another partner (none is expected: the reports are read by partner).
    all: (Vec<MouVersion>, Vec<MouVersion>),
}

impl Sides {
    /// Returns the sides of replacing the MoUs of the draft's id in `in_force` (the current version `current`, if
    /// any) by `draft`, for the reports of `partners`, at `now`.
    fn new(
        in_force: &[MouVersion],
        current: Option<&MouVersion>,
        draft: MouVersion,
        partners: &BTreeSet<OrgId>,
        now: Timestamp,
    ) -> Self {
        let mut agencies = draft.mou.recipients.clone();
        if let Some(current) = current {
            agencies.extend(current.mou.recipients.iter().cloned());
        }
        let mut with_draft: Vec<MouVersion> = in_force
            .iter()
            .filter(|version| version.mou.id != draft.mou.id)
            .cloned()
            .collect();
        with_draft.push(draft);
        let narrowed = |mous: &[MouVersion], partner: &OrgId| -> Vec<MouVersion> {
            mous.iter()
                .filter(|version| {
                    version.mou.providers.contains(partner)
                        && version
                            .mou
                            .recipients
                            .iter()
                            .any(|agency| agencies.contains(agency))
                })
                .cloned()
                .collect()
        };
        let by_partner = partners
            .iter()
            .map(|partner| {
                let sides = (narrowed(in_force, partner), narrowed(&with_draft, partner));
                (partner.clone(), sides)
            })
            .collect();
        Self {
            now,
            by_partner,
            all: (in_force.to_vec(), with_draft),
            agencies,
        }
    }

    /// Returns the MoUs of both sides that can decide anything about a report of `partner`.
    fn of(&self, partner: &OrgId) -> (&[MouVersion], &[MouVersion]) {
        let (before, after) = self.by_partner.get(partner).unwrap_or(&self.all);
        (before, after)
    }
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
    let id = draft.id.clone();
    let draft = MouVersion {
        reason: None,
        version: current.as_ref().map_or(1, |current| current.version + 1),
        mou: draft,
        changed_by: principal.token_id.clone(),
        changed_at: chrono::Utc::now(),
    };
    let sides = Sides::new(
        &snapshot.mous,
        current.as_ref(),
        draft,
        &partners,
        chrono::Utc::now(),
    );
    let store = state.catalog.clone();
    // Reading, decoding and evaluating every report is blocking and CPU work: off the async runtime.
    let (evaluated, changes) = tokio::task::spawn_blocking(move || {
        let parts = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        changes(&store, &partners, parts, &snapshot.orgs, &sides)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| ApiError::unavailable("the report store", &error))?;
    Ok(json!({
        "mou": id,
        "reports_evaluated": evaluated,
        "changes": changes,
    }))
}

/// Returns how many stored reports of `partners` were evaluated, and per agency with any change, what replacing the
/// MoUs in force now by the draft's side of `sides` would change. The reports are read, decoded and counted in up to
/// `parts` parts (one per core), each on its own thread, and the parts added up in report order: the same answer as
/// one pass, lists included.
fn changes(
    store: &ReportStore,
    partners: &BTreeSet<OrgId>,
    parts: usize,
    orgs: &HashMap<OrgId, Organization>,
    sides: &Sides,
) -> Result<(usize, Vec<AgencyChange>), StoreError> {
    let counted =
        store.fold_by_partners(partners, parts, Counted::default, |counted, report| {
            counted.count(&report, orgs, sides);
        })?;
    let mut evaluated = 0;
    let mut changes: BTreeMap<OrgId, AgencyChange> = BTreeMap::new();
    for part in counted {
        evaluated += part.evaluated;
        for (agency, change) in part.changes {
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
    let changes = changes
        .into_values()
        .filter(|change| {
            change.reports_becoming_visible
                + change.reports_withdrawn
                + change.indicators_becoming_visible
                + change.indicators_withdrawn
                > 0
        })
        .collect();
    Ok((evaluated, changes))
}

/// The counts of one part of the reports (see [`changes`]).
#[derive(Default)]
struct Counted {
    /// Reports evaluated.
    evaluated: usize,
    /// Per agency that can find any of them on either side.
    changes: BTreeMap<OrgId, AgencyChange>,
}

impl Counted {
    /// Counts one report: what each agency `sides` can change finds of it on either side.
    fn count(
        &mut self,
        report: &NormalizedReport,
        orgs: &HashMap<OrgId, Organization>,
        sides: &Sides,
    ) {
        self.evaluated += 1;
        let (before, after) = sides.of(&report.partner);
        let only = Some(&sides.agencies);
        let before = accord_policy::reach(report, sides.now, before, orgs, only);
        let after = accord_policy::reach(report, sides.now, after, orgs, only);
        let agencies: BTreeSet<&OrgId> = before.keys().chain(after.keys()).collect();
        for agency in agencies {
            let change = self
                .changes
                .entry(agency.clone())
                .or_insert_with(|| AgencyChange {
                    agency: agency.to_string(),
                    ..AgencyChange::default()
                });
            change.count(&report.id, before.get(agency), after.get(agency));
        }
    }
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
        old: Option<&BTreeSet<&str>>,
        new: Option<&BTreeSet<&str>>,
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
mod tests;
