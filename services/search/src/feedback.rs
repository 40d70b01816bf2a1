//! `POST /v1/feedback`: an investigator tells the partner that a released report or indicator was sighted, was a
//! false positive or was useful (issue 16 item 3, decision 0057).
//!
//! The contract:
//! - The body is `{ "report" | "indicator" (or both), "kind", "count"?, "seen_at"?, "purpose", "case" }`, bounded:
//!   an unknown field, a `count` outside 1–1 000 000 (or given for a kind other than `sighted`), a `seen_at` more
//!   than [`CLOCK_SKEW_SECS`] in the future, a value longer than `search.max_lookup_value_bytes` or not an
//!   indicator is a 400 naming the field.
//! - It applies to what the caller's agency sees *now* for the stated purpose, re-checked as every search is
//!   (module `visible`): `report` alone is that report; `report` and `indicator` that report when the view it sees
//!   carries the indicator; `indicator` alone every report it sees with the indicator, at most
//!   `search.max_reports_per_indicator` (newest first, as a lookup lists them). Of those, only the reports whose
//!   MoUs in force permit feedback ([`accord_policy::feedback_rule`]) are kept; when none is left the answer is the
//!   404 of a report that does not exist, so a feedback request reveals no more than a search.
//! - The request is audited through [`crate::released`] like every agency request (it reveals existence): refusals
//!   too. Once its record is durable, one [`FeedbackRecord`] per report is published on
//!   [`topics::REPORTS_FEEDBACK`] (keyed by report id); the answer is 201 only once they are durable on the bus,
//!   503 otherwise (the audit record then stands for a request whose feedback may not have travelled).
//! - A record names the agency only under `feedback: named`; otherwise it carries the agency's pseudonym towards the
//!   partner ([`accord_domain::feedback::pseudonym`], keyed by `search.feedback_pseudonym_key`). The case and any
//!   free text never enter it.

use accord_bus::Record;
use accord_domain::{
    FeedbackRule, ReportId, Timestamp, View,
    feedback::{FeedbackIndicator, FeedbackKind, FeedbackRecord, pseudonym},
    topics,
};
use accord_index::{Filters, IndicatorMatch, Query, Views};
use accord_runtime::{ApiError, Principal, json, telemetry::ErrorChain};
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::{
    AppState, limits,
    released::{AUDIT_RECORD_HEADER, Outcome, Unaudited},
    request::{Audited, Context, PurposeAndCase, context, finish},
    visible,
};

/// How far in the future a `seen_at` may be (clocks of agencies and Accord disagree a little).
pub const CLOCK_SKEW_SECS: i64 = 300;

/// The largest `count` of one sighting feedback.
pub const MAX_COUNT: u64 = 1_000_000;

const FIELDS: [&str; 7] = [
    "report",
    "indicator",
    "kind",
    "count",
    "seen_at",
    "purpose",
    "case",
];

/// A feedback request, bounded.
#[derive(Debug)]
struct FeedbackRequest {
    report: Option<ReportId>,
    indicator: Option<IndicatorMatch>,
    kind: FeedbackKind,
    count: u64,
    seen_at: Option<Timestamp>,
}

fn string_field<'v>(body: &'v Map<String, Value>, name: &str) -> Result<Option<&'v str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ApiError::bad_field(&format!("/{name}"), "must be a string")),
    }
}

fn parse_kind(body: &Map<String, Value>) -> Result<FeedbackKind, ApiError> {
    let kind = string_field(body, "kind")?.ok_or_else(|| {
        ApiError::bad_field("/kind", "required: sighted, false-positive or useful")
    })?;
    serde_json::from_value(json!(kind))
        .map_err(|_| ApiError::bad_field("/kind", "one of sighted, false-positive, useful"))
}

fn parse_count(body: &Map<String, Value>, kind: FeedbackKind) -> Result<u64, ApiError> {
    let Some(count) = body.get("count").filter(|count| !count.is_null()) else {
        return Ok(1);
    };
    if kind != FeedbackKind::Sighted {
        return Err(ApiError::bad_field(
            "/count",
            "only a `sighted` feedback has a count",
        ));
    }
    count
        .as_u64()
        .filter(|count| (1..=MAX_COUNT).contains(count))
        .ok_or_else(|| ApiError::bad_field("/count", format!("an integer from 1 to {MAX_COUNT}")))
}

fn parse_seen_at(body: &Map<String, Value>, now: Timestamp) -> Result<Option<Timestamp>, ApiError> {
    let Some(text) = string_field(body, "seen_at")? else {
        return Ok(None);
    };
    let seen_at = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|_| ApiError::bad_field("/seen_at", "an RFC 3339 timestamp"))?
        .with_timezone(&chrono::Utc);
    if seen_at > now + chrono::Duration::seconds(CLOCK_SKEW_SECS) {
        return Err(ApiError::bad_field("/seen_at", "is in the future"));
    }
    Ok(Some(seen_at))
}

impl FeedbackRequest {
    /// Reads and bounds a request body (400 naming the first bad field).
    fn parse(body: Value, state: &AppState, now: Timestamp) -> Result<Self, ApiError> {
        let Value::Object(body) = body else {
            return Err(ApiError::bad_field("/", "must be a JSON object"));
        };
        if let Some(unknown) = body.keys().find(|key| !FIELDS.contains(&key.as_str())) {
            return Err(ApiError::bad_field(&format!("/{unknown}"), "unknown field"));
        }
        let report = string_field(&body, "report")?
            .map(|report| {
                limits::check_value("/report", report, &state.config)?;
                ReportId::parse(report).map_err(|error| {
                    ApiError::bad_field("/report", format!("not a report id: {error}"))
                })
            })
            .transpose()?;
        let indicator = string_field(&body, "indicator")?
            .map(|value| {
                limits::check_value("/indicator", value, &state.config)?;
                crate::indicators::to_match(value).ok_or_else(|| {
                    ApiError::bad_field("/indicator", "not an indicator of a known type")
                })
            })
            .transpose()?;
        if report.is_none() && indicator.is_none() {
            return Err(ApiError::bad_field(
                "/report",
                "`report` or `indicator` is required",
            ));
        }
        let kind = parse_kind(&body)?;
        Ok(Self {
            report,
            indicator,
            kind,
            count: parse_count(&body, kind)?,
            seen_at: parse_seen_at(&body, now)?,
        })
    }
}

/// `POST /v1/feedback`.
pub(crate) async fn post(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let media = json::require_json(&headers);
    send(&state, principal.as_ref().ok(), &body, media).await
}

/// What the audit record keeps of a request: what it is about, never more than a lookup would keep.
fn audited_query(parsed: &Result<Value, ApiError>, state: &AppState) -> Value {
    let field = |name: &str| {
        parsed
            .as_ref()
            .ok()
            .and_then(|body| body.get(name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let values =
        limits::audited_values(json!([field("report"), field("indicator")]), &state.config);
    json!({
        "report": values[0],
        "indicator": values[1],
        "kind": field("kind"),
        "count": field("count"),
        "seen_at": field("seen_at"),
    })
}

/// Sends feedback for an investigator (`principal`: `None` without a valid token): the whole of `POST /v1/feedback`,
/// audit record and publication included.
pub async fn send(
    state: &AppState,
    principal: Option<&Principal>,
    body: &[u8],
    media: Result<(), ApiError>,
) -> Response {
    let parsed = json::parse_value(body);
    let audited = Audited {
        endpoint: "POST /v1/feedback",
        stated: PurposeAndCase::of(
            principal,
            crate::indicators::body_field(&parsed, "purpose").as_deref(),
            crate::indicators::body_field(&parsed, "case").as_deref(),
        ),
        query: audited_query(&parsed, state),
    };
    let outcome = async {
        let ctx = context(state, principal, &audited)?;
        media?;
        let request = FeedbackRequest::parse(parsed?, state, ctx.at)?;
        let records = prepare(state, &ctx, &request).await?;
        let count = records.len() as u64;
        Ok(Unaudited::new(records, count))
    }
    .await;
    let Outcome {
        audit_record,
        result,
    } = finish(state, principal, audited, outcome).await;
    let records = match result {
        Ok(released) => released.into_body(),
        Err(refusal) => {
            return Outcome::<(), ApiError> {
                audit_record,
                result: Err(refusal),
            }
            .into_response();
        }
    };
    let mut response = match publish(state, &records).await {
        Ok(()) => (StatusCode::CREATED, Json(created(&records))).into_response(),
        Err(refusal) => refusal.into_response(),
    };
    if let Some(seq) = audit_record
        && let Ok(value) = HeaderValue::from_str(&seq.to_string())
    {
        response.headers_mut().insert(AUDIT_RECORD_HEADER, value);
    }
    response
}

/// The 201 body: the id of each record and the report it is about.
fn created(records: &[FeedbackRecord]) -> Value {
    let feedback: Vec<Value> = records
        .iter()
        .map(|record| json!({ "id": record.id, "report": record.report_id }))
        .collect();
    json!({ "feedback": feedback })
}

/// Returns the views the request is about, as the caller sees them now (re-checked, one per report).
async fn visible_views(
    state: &AppState,
    ctx: &Context,
    request: &FeedbackRequest,
) -> Result<Vec<View>, ApiError> {
    let Some(report) = &request.report else {
        let indicator = request.indicator.clone().into_iter().collect();
        let mut found = visible::lookup(&state.deps.index, &state.config, ctx, indicator).await?;
        let mut views = found.pop().unwrap_or_default();
        views.truncate(state.config.max_reports_per_indicator);
        return Ok(views);
    };
    let views = if request.indicator.is_some() {
        Views::WithAlternates
    } else {
        Views::Shown
    };
    let query = Query {
        release: ctx.release(views, false),
        indicator: request.indicator.clone(),
        text: None,
        filters: Filters {
            report: Some(report.clone()),
            ..Filters::default()
        },
        size: 1,
        offset: 0,
    };
    let found = visible::search(
        &state.deps.index,
        &state.config,
        ctx,
        query,
        &Default::default(),
    )
    .await?;
    Ok(found.hits)
}

/// Returns one record per report the request applies to, or the 404 of a report that does not exist.
async fn prepare(
    state: &AppState,
    ctx: &Context,
    request: &FeedbackRequest,
) -> Result<Vec<FeedbackRecord>, ApiError> {
    let views = visible_views(state, ctx, request).await?;
    let records: Vec<FeedbackRecord> = views
        .iter()
        .filter(|view| ctx.allows(view))
        .filter_map(|view| {
            let rule = accord_policy::feedback_rule(
                view,
                &ctx.agency,
                ctx.purpose,
                ctx.at,
                &ctx.snapshot.mous,
                &ctx.snapshot.orgs,
            );
            let partner = &view.facts.partner;
            let (agency, pseudonym) = match rule {
                FeedbackRule::None => return None,
                FeedbackRule::Named => (Some(ctx.agency.clone()), None),
                FeedbackRule::Anonymous => (
                    None,
                    Some(pseudonym(&state.feedback_key, &ctx.agency, partner)),
                ),
            };
            Some(FeedbackRecord {
                id: uuid::Uuid::new_v4().to_string(),
                report_id: view.report_id.clone(),
                partner: partner.clone(),
                indicator: request
                    .indicator
                    .as_ref()
                    .map(|indicator| FeedbackIndicator {
                        kind: indicator.key.kind,
                        value: indicator.key.value.clone(),
                    }),
                kind: request.kind,
                count: request.count,
                seen_at: request.seen_at,
                at: ctx.at,
                agency,
                pseudonym,
            })
        })
        .collect();
    if records.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok(records)
}

/// Publishes the records and returns once they are durable (503 otherwise).
async fn publish(state: &AppState, records: &[FeedbackRecord]) -> Result<(), ApiError> {
    let mut batch = Vec::with_capacity(records.len());
    for record in records {
        let payload = serde_json::to_vec(record).map_err(|error| {
            tracing::error!(error = %error, "failed to encode a feedback record");
            ApiError::Unavailable("feedback cannot be sent now; retry later".to_owned())
        })?;
        batch.push(Record::new(record.report_id.to_string(), payload));
    }
    state
        .deps
        .bus
        .publish(topics::REPORTS_FEEDBACK, batch)
        .await
        .map_err(|error| {
            tracing::error!(error = %ErrorChain(&error), "failed to publish feedback");
            ApiError::Unavailable("feedback cannot be sent now; retry later".to_owned())
        })?;
    metrics::counter!(crate::metrics::FEEDBACK).increment(records.len() as u64);
    Ok(())
}
