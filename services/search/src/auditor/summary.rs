//! `GET /v1/audit/summary`: one organization's requests per day from the trail's daily counters (decision 0043),
//! scoped as the records are.

use accord_domain::Purpose;
use accord_runtime::{ApiError, Principal};
use axum::{
    Json,
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::Scope;
use crate::AppState;

/// The query of `GET /v1/audit/summary`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SummaryQuery {
    /// The organization summarized (an agency's auditor: its own, the default).
    pub organization: Option<String>,
    /// How many UTC days, today included (default 30, 1–366).
    pub days: Option<u32>,
}

/// `GET /v1/audit/summary?organization=&days=`.
pub(crate) async fn summary(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<SummaryQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(audit_summary(&state, &principal, &query).await?).into_response())
}

/// Summarizes one organization's requests of the last `days` UTC days from the trail's daily counters
/// ([`crate::audit::counts`]: one range scan, whatever the trail's length): `{ "organization", "days": [first
/// day, …] (YYYY-MM-DD), "requests", "refused", "exports" (a count per day each), "purposes": { purpose: [per
/// day] }, "cases": [ { "case", "requests", "first", "last" } ] (most requests first, at most 100) }`. The whole of
/// `GET /v1/audit/summary`; the HTTP handler and the web console call this. Scoped as the records are (decision
/// 0019): an agency's auditor summarizes its own organization only.
///
/// # Errors
/// 403 for anyone but an auditor or another organization's; 400 without an organization (the operator's auditors)
/// or for days out of range; 503 when the trail cannot be read.
pub async fn audit_summary(
    state: &AppState,
    principal: &Principal,
    query: &SummaryQuery,
) -> Result<serde_json::Value, ApiError> {
    let scope = Scope::of(principal)?;
    scope.check(query.organization.as_deref())?;
    let organization = match (&scope, query.organization.as_deref().map(str::trim)) {
        (_, Some(org)) if !org.is_empty() => org.to_owned(),
        (Scope::Organization(own), _) => own.to_string(),
        (Scope::All, _) => {
            return Err(ApiError::bad_field(
                "/organization",
                "required: the organization to summarize",
            ));
        }
    };
    let days = query.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(ApiError::bad_field("/days", "must be between 1 and 366"));
    }
    let last = crate::audit::counts::day_of(&chrono::Utc::now());
    let first = last.saturating_sub(days - 1);
    let audit = state.audit.clone();
    let org = organization.clone();
    let counts = tokio::task::spawn_blocking(move || audit.daily_counts(&org, first, last))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::unavailable("the audit trail", &error))?;
    Ok(summary_document(&organization, first, last, &counts))
}

/// Lays out the daily counts as `GET /v1/audit/summary` answers them.
fn summary_document(
    organization: &str,
    first: u32,
    last: u32,
    counts: &crate::audit::DailyCounts,
) -> serde_json::Value {
    let series = |kind: &str| -> Vec<u64> {
        let days = counts.counts.get(kind);
        (first..=last)
            .map(|day| days.and_then(|days| days.get(&day)).copied().unwrap_or(0))
            .collect()
    };
    let dates: Vec<String> = (first..=last)
        .map(|day| {
            chrono::DateTime::from_timestamp(i64::from(day) * 86_400, 0)
                .map(|at| at.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        })
        .collect();
    let date = |day: u32| dates[(day - first) as usize].clone();
    let purposes: serde_json::Map<String, serde_json::Value> = Purpose::ALL
        .iter()
        .map(|purpose| {
            (
                purpose.as_str().to_owned(),
                json!(series(&format!("p:{}", purpose.as_str()))),
            )
        })
        .collect();
    let mut cases: Vec<(String, u64, u32, u32)> = counts
        .counts
        .iter()
        .filter_map(|(kind, days)| {
            let case = kind.strip_prefix("c:")?;
            let total = days.values().sum();
            Some((
                case.to_owned(),
                total,
                *days.keys().next()?,
                *days.keys().last()?,
            ))
        })
        .collect();
    cases.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    cases.truncate(100);
    let cases: Vec<serde_json::Value> = cases
        .into_iter()
        .map(|(case, requests, first_day, last_day)| {
            json!({ "case": case, "requests": requests, "first": date(first_day), "last": date(last_day) })
        })
        .collect();
    json!({
        "organization": organization,
        "days": dates,
        "requests": series("all"),
        "refused": series("refused"),
        "exports": series("export"),
        "purposes": purposes,
        "cases": cases,
    })
}
