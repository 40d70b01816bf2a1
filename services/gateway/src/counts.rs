//! `GET /v1/reports/counts?days=`: a partner's own reports counted per UTC day of reception and stage, for the
//! last `days` days (1–366, default 30), oldest first — what a partner's dashboard draws. Read from the status
//! store's counters ([`crate::status::StatusStore::daily_counts`]): the same cost for ten reports a day or ten
//! thousand (decision 0035).

use accord_domain::Role;
use accord_runtime::{ApiError, Principal};
use axum::{
    Json,
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{AppState, status::STAGES};

/// The most days one request counts.
pub const MAX_DAYS: u32 = 366;

/// `GET /v1/reports/counts?days=`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CountsQuery {
    /// Days counted, ending today (UTC): 1–366, default 30.
    pub days: Option<u32>,
}

/// `GET /v1/reports/counts`.
pub(crate) async fn counts(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<CountsQuery>,
) -> Result<Response, ApiError> {
    let document = report_counts(&state, &principal, query).await?;
    Ok(Json(document).into_response())
}

/// Counts the caller's own reports per day of reception and stage: the whole of `GET /v1/reports/counts`
/// (`{ "days": [{ "day": "YYYY-MM-DD", "accepted": n, "normalized": n, "released": n, "withheld": n,
/// "rejected": n }, …] }`, one entry per day, oldest first). The HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but a partner, 400 for `days` outside 1–366, 500/503 on a store failure.
pub async fn report_counts(
    state: &AppState,
    principal: &Principal,
    query: CountsQuery,
) -> Result<Value, ApiError> {
    principal.require(Role::Partner)?;
    let days = query.days.unwrap_or(30);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::bad_field("/days", "must be between 1 and 366"));
    }
    let partner = principal.organization.to_string();
    let store = state.status.clone();
    let today = chrono::Utc::now().date_naive();
    let counted = tokio::task::spawn_blocking(move || store.daily_counts(&partner, today, days))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::unavailable("the report status store", &error))?;
    let days: Vec<Value> = counted
        .iter()
        .map(|day| {
            let mut entry = Map::new();
            entry.insert(
                "day".to_owned(),
                json!(day.day.format("%Y-%m-%d").to_string()),
            );
            for (stage, count) in STAGES.iter().zip(day.counts) {
                entry.insert((*stage).to_owned(), json!(count));
            }
            Value::Object(entry)
        })
        .collect();
    Ok(json!({ "days": days }))
}
