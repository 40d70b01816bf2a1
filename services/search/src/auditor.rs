//! `GET /v1/audit` and `GET /v1/audit/verify`, for auditors; `GET /v1/audit/mine`, anyone's own recent requests.

use accord_domain::{Role, Timestamp};
use accord_runtime::{ApiError, Principal};
use axum::{
    Json,
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;

/// Records scanned per request at most; the cursor continues from where the scan stopped.
const MAX_SCAN: usize = 100_000;

#[derive(Debug, Deserialize)]
pub(crate) struct AuditQuery {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    organization: Option<String>,
    case: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /v1/audit?from=&to=&organization=&case=&limit=&cursor=`: records oldest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    principal.require(Role::Auditor)?;
    let after = match &query.cursor {
        None => 0,
        Some(cursor) => URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| {
                text.strip_prefix("s:")
                    .and_then(|seq| seq.parse::<u64>().ok())
            })
            .ok_or_else(|| {
                ApiError::bad_field("/cursor", "not a cursor returned by this endpoint")
            })?,
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let audit = state.audit.clone();
    let (records, last_seen, exhausted) = tokio::task::spawn_blocking(move || {
        audit.scan(after, limit, MAX_SCAN, |record| {
            let entry = &record.entry;
            query.from.is_none_or(|from| entry.at >= from)
                && query.to.is_none_or(|to| entry.at < to)
                && query
                    .organization
                    .as_ref()
                    .is_none_or(|org| entry.organization.as_ref() == Some(org))
                && query
                    .case
                    .as_ref()
                    .is_none_or(|case| entry.case.as_ref() == Some(case))
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| ApiError::unavailable("the audit trail", &error))?;
    let next = (!exhausted).then(|| URL_SAFE_NO_PAD.encode(format!("s:{last_seen}")));
    Ok(Json(json!({ "records": records, "next": next })).into_response())
}

/// The most records `GET /v1/audit/mine` looks back through.
const MINE_SCAN: usize = 100_000;

#[derive(Debug, Deserialize)]
pub(crate) struct MineQuery {
    limit: Option<usize>,
}

/// `GET /v1/audit/mine?limit=`: the caller's own recent requests.
pub(crate) async fn mine(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<MineQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(20);
    recent_requests(&state, &principal, limit)
        .await
        .map(|body| Json(body).into_response())
}

/// Returns the audit records of the caller's own token, newest first (`{ "records": [...] }`): at most `limit`
/// (1–100), among the last 100 000 records of the trail. What an investigator searched is its own business to
/// see again (the web console's dashboard shows it); reading it is not itself audited.
///
/// # Errors
/// 503 when the trail cannot be read.
pub async fn recent_requests(
    state: &AppState,
    principal: &Principal,
    limit: usize,
) -> Result<serde_json::Value, ApiError> {
    let limit = limit.clamp(1, 100);
    let audit = state.audit.clone();
    let token_id = principal.token_id.clone();
    let records = tokio::task::spawn_blocking(move || {
        audit.scan_back(limit, MINE_SCAN, |record| {
            record.entry.token_id.as_deref() == Some(token_id.as_str())
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| ApiError::unavailable("the audit trail", &error))?;
    Ok(json!({ "records": records }))
}

/// `GET /v1/audit/verify`.
pub(crate) async fn verify(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    principal.require(Role::Auditor)?;
    let audit = state.audit.clone();
    let verification = tokio::task::spawn_blocking(move || audit.verify())
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::unavailable("the audit trail", &error))?;
    Ok(Json(verification).into_response())
}
