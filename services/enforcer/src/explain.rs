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
    principal.require(Role::Coordinator)?;
    let Some(report) = query.report else {
        return Err(ApiError::bad_field("/report", "required: a report id"));
    };
    let Some(agency) = query.agency else {
        return Err(ApiError::bad_field("/agency", "required: an agency id"));
    };
    let Ok(report_id) = ReportId::parse(&report) else {
        return Err(ApiError::NotFound);
    };
    let Ok(agency) = OrgId::parse(&agency) else {
        return Err(ApiError::bad_field("/agency", "not an organization id"));
    };
    let store = state.store.clone();
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
    Ok(Json(explanation).into_response())
}
