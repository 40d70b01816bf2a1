//! `GET /v1/feedback`: a partner reads the aggregated feedback of agencies on its own reports (decision 0057).
//!
//! `?report=&limit=&cursor=&format=` → `{ "feedback": [ { "report", "indicator": null | { "type", "value" },
//! "agencies", "named_agencies", "sightings", "false_positive", "useful", "first", "last" } ], "next" }`: one row per
//! report with feedback and one per (report, indicator) feedback named, by report id then indicator, only the
//! caller's reports (its own range of the store: another partner's rows cannot be reached, nor its cursors used).
//! `format=stix` answers the same page as a STIX 2.1 bundle (`application/stix+json;version=2.1`) of `sighting`
//! objects, one per row with sightings, and the `identity` of each agency named in them; `next` travels in the
//! `X-Accord-Next` header. Pseudonyms are counted (`agencies`), never listed.

use std::collections::BTreeSet;

use accord_domain::{ReportId, Role};
use accord_runtime::{ApiError, Principal};
use axum::{
    Json,
    extract::{Query, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    AppState,
    status::feedback::{self as store, Aggregate},
};

/// The media type of the STIX answer.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";

/// The header carrying the next cursor of a STIX page.
pub const NEXT_HEADER: &str = "x-accord-next";

/// `GET /v1/feedback` parameters.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackQuery {
    /// One report only.
    pub report: Option<String>,
    /// Rows per page (1–1000, default 100).
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// `json` (default) or `stix`.
    pub format: Option<String>,
}

/// Returns the aggregate of a report's feedback (empty without any), for `GET /v1/reports/{id}`.
///
/// # Errors
/// 500 on a store failure.
pub(crate) async fn of_report(
    state: &AppState,
    partner: &str,
    report: &str,
) -> Result<Aggregate, ApiError> {
    let store = state.status.clone();
    let (partner, report) = (partner.to_owned(), report.to_owned());
    let found = tokio::task::spawn_blocking(move || store.report_feedback(&partner, &report))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(found.unwrap_or_default())
}

/// `GET /v1/feedback`.
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<FeedbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_field("/", rejection.body_text()))?;
    let stix = match query.format.as_deref() {
        None | Some("json") => false,
        Some("stix") => true,
        Some(_) => return Err(ApiError::bad_field("/format", "`json` or `stix`")),
    };
    let (aggregates, next) = list_feedback(&state, &principal, &query).await?;
    if !stix {
        let rows: Vec<Value> = aggregates.iter().map(Aggregate::row).collect();
        return Ok(Json(json!({ "feedback": rows, "next": next })).into_response());
    }
    let mut response = Json(bundle(&aggregates)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(STIX_MEDIA_TYPE),
    );
    if let Some(next) = next
        && let Ok(value) = HeaderValue::from_str(&next)
    {
        response.headers_mut().insert(NEXT_HEADER, value);
    }
    Ok(response)
}

/// Returns one page of the caller's aggregates and the cursor of the next: the whole of `GET /v1/feedback` but its
/// rendering. The web console calls this too.
///
/// # Errors
/// 403 for anyone but a partner, 400 for a bad report id, limit or cursor, 500 on a store failure.
pub async fn list_feedback(
    state: &AppState,
    principal: &Principal,
    query: &FeedbackQuery,
) -> Result<(Vec<Aggregate>, Option<String>), ApiError> {
    principal.require(Role::Partner)?;
    let partner = principal.organization.to_string();
    let report = query
        .report
        .as_deref()
        .map(|report| {
            ReportId::parse(report)
                .map(|id| id.to_string())
                .map_err(|error| {
                    ApiError::bad_field("/report", format!("not a report id: {error}"))
                })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_field("/limit", "from 1 to 1000"));
    }
    let after = query
        .cursor
        .as_deref()
        .map(|cursor| {
            hex::decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|key| store::cursor_belongs(&partner, key))
                .ok_or_else(|| {
                    ApiError::bad_field("/cursor", "not a cursor returned by this endpoint")
                })
        })
        .transpose()?;
    let status = state.status.clone();
    let page = tokio::task::spawn_blocking(move || {
        status.list_feedback(&partner, report.as_deref(), after.as_deref(), limit)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok((page.aggregates, page.next.map(hex::encode)))
}

/// Returns the STIX 2.1 bundle of a page: its sightings and the identities of the agencies they name.
fn bundle(aggregates: &[Aggregate]) -> Value {
    let sightings: Vec<Value> = aggregates.iter().filter_map(store::stix_sighting).collect();
    let named: BTreeSet<&str> = aggregates
        .iter()
        .filter(|aggregate| aggregate.sightings > 0)
        .flat_map(|aggregate| aggregate.named.iter().map(String::as_str))
        .collect();
    let mut objects: Vec<Value> = named.into_iter().map(store::agency_identity).collect();
    objects.extend(sightings);
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "objects": objects,
    })
}
