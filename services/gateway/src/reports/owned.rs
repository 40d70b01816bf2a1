//! A partner's power over its own reports (issue 19): `PUT /v1/reports/{id}` amends (a full new version, the whole
//! pipeline again), `DELETE /v1/reports/{id}` retracts, `POST /v1/indicators/retract` retracts indicator values from
//! every one of the partner's reports.
//!
//! Only the submitting partner may act on a report: anyone else gets the 404 of an unknown id (the report's
//! existence is never revealed). Each action is a record on `reports.raw`, answered 202 once the bus has it, and
//! travels the pipeline in the partner's order behind the report (`accord_domain::control`). Amendments and
//! retractions of this gateway are serialized, so that an `If-Match` precondition (the version, as the `ETag` of
//! `GET /v1/reports/{id}` gives it) is checked against the version the amendment replaces: 412 on a stale one.

use accord_domain::{
    Control, IndicatorRetraction, RetractedValue, Retraction, RetractionReason, Revision, Role,
    control::{CONTROL_KIND, MAX_DETAIL_CHARS, MAX_RETRACTED_VALUES},
    observable::canonicalize_declared,
    topics,
};
use accord_runtime::{ApiError, Principal, cpu, json, telemetry::ErrorChain};
use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{Submission, accepted, judge, lookup, publish, record_accepted, with_etag};
use crate::{
    AppState,
    convert::declared_from,
    lenient::{self, Handling},
    status::{Change, ReportStatus, RetractionView, owned::Amendment},
};

/// `PUT /v1/reports/{id}`: 202 once the bus has the new version.
pub(crate) async fn amend(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Partner)?;
    let media_type = json::media_type(&headers)?;
    let expected = if_match(&headers)?;
    let handling = lenient::requested(&headers);
    let document = amend_report(
        &state,
        &principal,
        &id,
        &media_type,
        body,
        expected,
        handling,
    )
    .await?;
    let mut response = accepted(document.clone());
    with_etag(&mut response, &document);
    if let Some(applied) = lenient::applied(handling) {
        response
            .headers_mut()
            .insert(lenient::PREFERENCE_APPLIED, applied);
    }
    Ok(response)
}

/// `DELETE /v1/reports/{id}`: 202 once the bus has the retraction.
pub(crate) async fn retract(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let document = retract_report(&state, &principal, &id, body).await?;
    Ok(accepted(document))
}

/// `POST /v1/indicators/retract`: 202 once the bus has the retraction.
pub(crate) async fn post_retract_indicators(
    State(state): State<AppState>,
    principal: Principal,
    body: Bytes,
) -> Result<Response, ApiError> {
    let document = retract_indicators(&state, &principal, body).await?;
    Ok((StatusCode::ACCEPTED, Json(document)).into_response())
}

/// Returns the status of a report the caller's organization submitted; 404 for an unknown id or another's report.
async fn owned_status(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<ReportStatus, ApiError> {
    principal.require(Role::Partner)?;
    let Ok(id) = accord_domain::ReportId::parse(id) else {
        return Err(ApiError::NotFound);
    };
    match lookup(state, id.as_str()).await? {
        Some(status) if status.partner == principal.organization.as_str() => Ok(status),
        _ => Err(ApiError::NotFound),
    }
}

/// Reads an `If-Match` header: `None` without one, `Some(None)` for `*` (any current version), else the version.
///
/// # Errors
/// 400 when it is not a version this API issued.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<Option<u32>>, ApiError> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(Some(None));
    }
    let bare = text.trim_start_matches("W/").trim_matches('"');
    bare.parse::<u32>()
        .map(|version| Some(Some(version)))
        .map_err(|_| {
            ApiError::bad_field(
                "/headers/if-match",
                "must be the ETag of GET /v1/reports/{id} (a quoted version number) or *",
            )
        })
}

/// 412 when `expected` is not the current version.
fn check_precondition(
    status: &ReportStatus,
    expected: Option<Option<u32>>,
) -> Result<(), ApiError> {
    match expected {
        Some(Some(version)) if version != status.version => {
            Err(ApiError::PreconditionFailed(format!(
                "the report is at version {}, not {version}; read it again and retry",
                status.version
            )))
        }
        _ => Ok(()),
    }
}

fn still_amendable(status: &ReportStatus) -> Result<(), ApiError> {
    if status.status == "retracted" {
        return Err(ApiError::Conflict(
            "this report was retracted; it cannot be amended".to_owned(),
        ));
    }
    Ok(())
}

/// Amends a report: the whole of `PUT /v1/reports/{id}` (`media_type` its `Content-Type`, `expected` its `If-Match`).
/// Returns the 202 document (`{ id, status, version, status_url }`). The new version is judged exactly as a new
/// submission (size, format, schema, classification guard, indicators, limits) and keeps the report's id and
/// reception time (retention counts from the first version).
///
/// # Errors
/// 404 for an unknown report or another partner's, 409 for a retracted one, 412 for a stale `If-Match`, and what
/// `POST /v1/reports` answers for the body.
pub async fn amend_report(
    state: &AppState,
    principal: &Principal,
    id: &str,
    media_type: &str,
    body: Bytes,
    expected: Option<Option<u32>>,
    handling: Handling,
) -> Result<Value, ApiError> {
    let current = owned_status(state, principal, id).await?;
    still_amendable(&current)?;
    check_precondition(&current, expected)?;
    if body.len() > state.config.max_report_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "a report may be at most {} bytes",
            state.config.max_report_bytes
        )));
    }
    let Some(org) = state.deps.auth.organization(principal) else {
        return Err(ApiError::Unauthorized);
    };
    let partner = principal.organization.clone();
    crate::quota::check(state, partner.as_str()).await?;
    let body_bytes = body.len();
    let reservation = state
        .admission
        .reserve(partner.as_str(), &current.id, body.len())
        .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
    let validation = state.admission.validation(partner.as_str()).await;
    let submission = Submission {
        declared: declared_from(media_type)?,
        body,
        idempotency_key: None,
        objects: Vec::new(),
        handling,
    };
    let report_id = accord_domain::ReportId::parse(&current.id).map_err(ApiError::internal)?;
    let priority = cpu::Priority::of_backlog(reservation.backlogged());
    let (mut raw, normalized_bytes) =
        cpu::scope(priority, judge(state, &org, report_id, submission)).await?;
    drop(validation);
    let _serialized = state.amendments.lock().await;
    let current = owned_status(state, principal, id).await?;
    still_amendable(&current)?;
    check_precondition(&current, expected)?;
    let revision = Revision {
        version: current.version + 1,
        by: principal.token_id.clone(),
        at: chrono::Utc::now(),
    };
    if let Ok(received) = chrono::DateTime::parse_from_rfc3339(&current.received_at) {
        raw.received_at = received.with_timezone(&chrono::Utc);
    }
    raw.revision = Some(revision.clone());
    let quota_bytes = body_bytes + normalized_bytes;
    let raw = publish(state, raw, priority, None, quota_bytes).await?;
    reservation.keep();
    crate::quota::charge(state, &raw, quota_bytes).await;
    Ok(amended(state, &current.id, &raw, revision, handling).await)
}

/// Records an amendment the bus has as `accepted` in the status store and answers it.
async fn amended(
    state: &AppState,
    id: &str,
    raw: &accord_domain::RawReport,
    revision: Revision,
    handling: Handling,
) -> Value {
    let amendment = Amendment {
        id: id.to_owned(),
        partner: raw.partner.to_string(),
        title: raw.payload["title"].as_str().unwrap_or_default().to_owned(),
        body_sha256: String::new(),
        revision: revision.clone(),
        warnings: raw.warnings.clone(),
        received_at: String::new(),
        objects: Vec::new(),
    };
    record_accepted(state, Change::Amended(amendment), &raw.id).await;
    tracing::info!(report_id = %raw.id, version = revision.version, "report amended");
    let mut document = json!({
        "id": id,
        "status": "accepted",
        "version": revision.version,
        "status_url": format!("/v1/reports/{id}"),
    });
    if handling == Handling::Lenient {
        document["warnings"] = json!(raw.warnings);
    }
    document
}

/// Reads a retraction's reason (`/reason`) and optional detail (`/detail`) from a body.
fn reason_and_detail(body: &Value) -> Result<(RetractionReason, Option<String>), ApiError> {
    let reason = match body.get("reason") {
        None => return Err(ApiError::invalid_field("/reason", "is required")),
        Some(value) => serde_json::from_value::<RetractionReason>(value.clone()).map_err(|_| {
            ApiError::invalid_field(
                "/reason",
                "must be one of false-positive, sent-in-error, personal-data, other",
            )
        })?,
    };
    let detail = match body.get("detail") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.chars().count() <= MAX_DETAIL_CHARS => Some(text.clone()),
        Some(Value::String(_)) => {
            return Err(ApiError::invalid_field(
                "/detail",
                format!("may be at most {MAX_DETAIL_CHARS} characters"),
            ));
        }
        Some(_) => return Err(ApiError::invalid_field("/detail", "must be a string")),
    };
    Ok((reason, detail))
}

fn object_body(body: &[u8]) -> Result<Value, ApiError> {
    let value = json::parse_value(body)?;
    if !value.is_object() {
        return Err(ApiError::invalid_field("/", "must be a JSON object"));
    }
    Ok(value)
}

/// Retracts a report: the whole of `DELETE /v1/reports/{id}`. Returns the 202 document (`{ id, status: "retracted",
/// status_url }`); retracting a retracted report again answers the same and writes nothing.
///
/// # Errors
/// 404 for an unknown report or another partner's, 400/422 for a bad body, 503 when the bus did not take it.
pub async fn retract_report(
    state: &AppState,
    principal: &Principal,
    id: &str,
    body: Bytes,
) -> Result<Value, ApiError> {
    owned_status(state, principal, id).await?;
    let (reason, detail) = reason_and_detail(&object_body(&body)?)?;
    let _serialized = state.amendments.lock().await;
    let current = owned_status(state, principal, id).await?;
    let document = json!({
        "id": current.id,
        "status": "retracted",
        "status_url": format!("/v1/reports/{}", current.id),
    });
    if current.status == "retracted" {
        return Ok(document);
    }
    let retraction = Retraction {
        report_id: accord_domain::ReportId::parse(&current.id).map_err(ApiError::internal)?,
        partner: principal.organization.clone(),
        reason,
        detail,
        by: principal.token_id.clone(),
        at: chrono::Utc::now(),
    };
    publish_control(state, &Control::RetractReport(retraction.clone())).await?;
    let change = Change::Retracted {
        id: current.id.clone(),
        partner: retraction.partner.to_string(),
        retraction: RetractionView {
            reason: reason.as_str().to_owned(),
            detail: retraction.detail.clone(),
            by: retraction.by.clone(),
            at: retraction.at.to_rfc3339(),
        },
    };
    record_accepted(state, change, &retraction.report_id).await;
    tracing::info!(report_id = %retraction.report_id, reason = reason.as_str(), "report retraction accepted");
    Ok(document)
}

/// Reads and canonicalizes the values of `POST /v1/indicators/retract`: strings (type detected) or
/// `{ "type", "value" }` objects, as a report's indicators are read; deduplicated, at most [`MAX_RETRACTED_VALUES`].
fn retracted_values(body: &Value) -> Result<Vec<RetractedValue>, ApiError> {
    let Some(values) = body.get("values").and_then(Value::as_array) else {
        return Err(ApiError::invalid_field(
            "/values",
            "must be an array of indicator values",
        ));
    };
    if values.is_empty() || values.len() > MAX_RETRACTED_VALUES {
        return Err(ApiError::invalid_field(
            "/values",
            format!("must hold 1 to {MAX_RETRACTED_VALUES} values"),
        ));
    }
    let mut canonical = Vec::with_capacity(values.len());
    for (index, item) in values.iter().enumerate() {
        let (declared, raw) = match item {
            Value::String(value) => (None, value.as_str()),
            Value::Object(object) => (
                object.get("type").and_then(Value::as_str),
                object
                    .get("value")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            _ => (None, ""),
        };
        let (kind, value) = canonicalize_declared(declared, raw).map_err(|error| {
            ApiError::invalid_field(&format!("/values/{index}"), error.to_string())
        })?;
        canonical.push(RetractedValue { kind, value });
    }
    canonical.sort();
    canonical.dedup();
    Ok(canonical)
}

/// Retracts indicator values from every report of the caller's organization: the whole of
/// `POST /v1/indicators/retract`. Returns the 202 document (`{ id, status: "accepted", values }`, `values` the
/// number of distinct canonical values).
///
/// # Errors
/// 403 for anyone but a partner, 400/422 naming the field, 503 when the bus did not take it.
pub async fn retract_indicators(
    state: &AppState,
    principal: &Principal,
    body: Bytes,
) -> Result<Value, ApiError> {
    principal.require(Role::Partner)?;
    let body = object_body(&body)?;
    let values = retracted_values(&body)?;
    let (reason, _) = reason_and_detail(&body)?;
    let id = accord_domain::ReportId::random()
        .as_str()
        .replacen("report--", "retraction--", 1);
    let retraction = IndicatorRetraction {
        id: id.clone(),
        partner: principal.organization.clone(),
        values,
        reason,
        by: principal.token_id.clone(),
        at: chrono::Utc::now(),
    };
    let count = retraction.values.len();
    publish_control(state, &Control::RetractIndicators(retraction)).await?;
    tracing::info!(
        retraction = id,
        values = count,
        reason = reason.as_str(),
        "indicator retraction accepted"
    );
    Ok(json!({ "id": id, "status": "accepted", "values": count }))
}

/// Returns the record of a control on `reports.raw`: keyed by [`Control::key`], marked as a control, with its
/// partner.
///
/// # Errors
/// When the control cannot be serialized.
pub(crate) fn control_record(control: &Control) -> Result<accord_bus::Record, serde_json::Error> {
    let mut record = accord_runtime::stage::json_record(&control.key(), control)?;
    record.headers.push((
        topics::HEADER_PARTNER.to_owned(),
        control.partner().to_string(),
    ));
    record
        .headers
        .push((topics::HEADER_KIND.to_owned(), CONTROL_KIND.to_owned()));
    Ok(record)
}

/// Publishes a control record to `reports.raw`, marked as a control and with its partner; returns once durable.
///
/// # Errors
/// 503 when the bus did not take it (nothing was accepted).
async fn publish_control(state: &AppState, control: &Control) -> Result<(), ApiError> {
    let record = control_record(control).map_err(ApiError::internal)?;
    state
        .deps
        .bus
        .publish(topics::REPORTS_RAW, vec![record])
        .await
        .map(|_| ())
        .map_err(|error| {
            tracing::error!(error = %ErrorChain(&error), "failed to publish a retraction to the bus");
            ApiError::Unavailable("the retraction could not be stored; retry later".to_owned())
        })
}
