//! `GET /v1/explain?report=&agency=`: for coordinators, why a report is or is not visible to an agency now, which MoU
//! grants it, and what is redacted.

use accord_domain::{OrgId, ReportId, Role};
use accord_runtime::{ApiError, Principal};
use axum::{
    Json,
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use crate::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct ExplainQuery {
    report: Option<String>,
    agency: Option<String>,
}

/// `GET /v1/explain`.
pub(crate) async fn explain(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ExplainQuery>,
) -> Result<Response, ApiError> {
    let explanation = explain_release(
        &state,
        &principal,
        query.report.as_deref(),
        query.agency.as_deref(),
    )
    .await?;
    Ok(Json(explanation).into_response())
}

/// Explains why `report` is or is not visible to `agency` now (`{ "visible", "mou", "reasons", "redactions" }`):
/// the whole of `GET /v1/explain`. The HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 400 naming `/report` or `/agency` when one is missing or malformed, 404 for an
/// unknown report, 503 when the report store cannot be read.
pub async fn explain_release(
    state: &AppState,
    principal: &Principal,
    report: Option<&str>,
    agency: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let Some(report) = report else {
        return Err(ApiError::bad_field("/report", "required: a report id"));
    };
    let Some(agency) = agency else {
        return Err(ApiError::bad_field("/agency", "required: an agency id"));
    };
    let Ok(report_id) = ReportId::parse(report) else {
        return Err(ApiError::NotFound);
    };
    let Ok(agency) = OrgId::parse(agency) else {
        return Err(ApiError::bad_field("/agency", "not an organization id"));
    };
    let store = state.catalog.clone();
    let report = tokio::task::spawn_blocking(move || store.get(&report_id))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::unavailable("the report store", &error))?
        .ok_or(ApiError::NotFound)?;
    let snapshot = state.deps.directory.snapshot();
    let explanation = accord_policy::explain(
        &report,
        &agency,
        chrono::Utc::now(),
        &snapshot.mous,
        &snapshot.orgs,
    );
    serde_json::to_value(explanation).map_err(ApiError::internal)
}
