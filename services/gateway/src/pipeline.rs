//! `GET /v1/pipeline/counts?days=` (coordinators): the whole partnership's reports per UTC day of reception and
//! stage, their rejections (the dead letters of `reports.rejected`) per day and reason, and the conservation law of
//! `accord check` over the status store's counters — what the console's pipeline health draws. Read from the status
//! store's partnership-wide counters ([`crate::status::StatusStore::pipeline_counts`]): one range scan, the same cost
//! for ten reports a day or ten thousand (decision 0042).
//!
//! The law: every report received is released, withheld, rejected or in flight (accepted or normalized, not yet
//! evaluated). It holds when no report received before yesterday (UTC) is still in flight — the pipeline takes
//! seconds, so such a report is stuck. The counters derive from the same topics `accord check` reads
//! (`reports.raw`, `reports.rejected`, `reports.releasable`); `accord check` recounts them from the bus itself.

use accord_domain::Role;
use accord_runtime::{ApiError, Principal};
use axum::{
    Json,
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use crate::{AppState, CountsQuery, MAX_DAYS, status::STAGES};

/// `GET /v1/pipeline/counts`.
pub(crate) async fn counts(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<CountsQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(pipeline_counts(&state, &principal, query).await?).into_response())
}

/// Counts the partnership's reports: the whole of `GET /v1/pipeline/counts` (`{ "days": [{ "day", "accepted",
/// "normalized", "released", "withheld", "rejected", "rejections": { reason: n } }, …], "conservation": {
/// "received", "released", "withheld", "rejected", "in_flight", "stuck", "holds" } }`, the conservation over every
/// day the store counts). The HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 400 for `days` outside 1–366, 503 on a store failure.
pub async fn pipeline_counts(
    state: &AppState,
    principal: &Principal,
    query: CountsQuery,
) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let days = query.days.unwrap_or(30);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::bad_field("/days", "must be between 1 and 366"));
    }
    let store = state.status.clone();
    let today = chrono::Utc::now().date_naive();
    let (counted, before) = tokio::task::spawn_blocking(move || store.pipeline_counts(today, days))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::unavailable("the report status store", &error))?;
    let yesterday = today - chrono::Duration::days(1);
    let mut totals = before;
    // In flight: accepted or normalized, the first two stages.
    let mut stuck = before[0] + before[1];
    let mut listed = Vec::with_capacity(counted.len());
    for day in &counted {
        let mut entry = Map::new();
        entry.insert(
            "day".to_owned(),
            json!(day.day.format("%Y-%m-%d").to_string()),
        );
        for (index, (stage, count)) in STAGES.iter().zip(day.counts).enumerate() {
            entry.insert((*stage).to_owned(), json!(count));
            totals[index] += count;
        }
        if day.day < yesterday {
            stuck += day.counts[0] + day.counts[1];
        }
        entry.insert("rejections".to_owned(), json!(day.rejections));
        listed.push(Value::Object(entry));
    }
    let [accepted, normalized, released, withheld, rejected] = totals;
    Ok(json!({
        "days": listed,
        "conservation": {
            "received": totals.iter().sum::<u64>(),
            "released": released,
            "withheld": withheld,
            "rejected": rejected,
            "in_flight": accepted + normalized,
            "stuck": stuck,
            "holds": stuck == 0,
        },
    }))
}
