//! `POST /v1/reports` and `GET /v1/reports/{id}`.

use std::sync::Arc;

use accord_bus::BusError;
use accord_domain::{
    Organization, RawReport, ReportFormat, ReportId, Role, SubmittedObject, Timestamp, Tlp,
    Warning, report::IncidentReport, topics,
};
use accord_normalizer::Refusal;
use accord_runtime::{ApiError, FieldError, Principal, cpu, json, json::SchemaValidator};
use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    AppState, Config,
    convert::{self, Declared, declared_from},
    lenient::{self, Handling},
    status::{Change, ListingCursor, ReportStatus},
};
use accord_runtime::telemetry::ErrorChain;

mod checks;
pub(crate) mod owned;

use checks::{check_whole, field_errors, invalid_fields};

/// The header that makes a retried POST return the first answer.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// `POST /v1/reports`: 202 once the bus has the report.
pub(crate) async fn submit(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Partner)?;
    let media_type = json::media_type(&headers)?;
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| ApiError::BadRequest {
            detail: "the Idempotency-Key header must be visible ASCII".to_owned(),
            errors: vec![],
        })?),
    };
    let handling = lenient::requested(&headers);
    let document = submit_report_with(&state, &principal, &media_type, body, key, handling).await?;
    let mut response = accepted(document);
    if let Some(applied) = lenient::applied(handling) {
        response
            .headers_mut()
            .insert(lenient::PREFERENCE_APPLIED, applied);
    }
    Ok(response)
}

/// Accepts a partner's report: the whole of `POST /v1/reports`, with `media_type` its `Content-Type` and
/// `idempotency_key` its `Idempotency-Key` header. Returns the 202 document (`{ id, status, status_url }`) once the
/// bus has the report. The HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but a partner, 400 for a bad idempotency key, 413/415/422 naming what is wrong (the
/// classification guard included), 503 when the bus did not take it.
pub async fn submit_report(
    state: &AppState,
    principal: &Principal,
    media_type: &str,
    body: Bytes,
    idempotency_key: Option<&str>,
) -> Result<Value, ApiError> {
    submit_report_with(
        state,
        principal,
        media_type,
        body,
        idempotency_key,
        Handling::Strict,
    )
    .await
}

/// [`submit_report`] with the `handling` the request prefers (`Prefer: handling=lenient`): leniently, the 202 document
/// also lists what was left out, `"warnings": [ { "pointer", "message" } ]` (`crate::lenient`).
///
/// # Errors
/// As [`submit_report`]; leniently, 422 only for what is never lenient.
pub async fn submit_report_with(
    state: &AppState,
    principal: &Principal,
    media_type: &str,
    body: Bytes,
    idempotency_key: Option<&str>,
    handling: Handling,
) -> Result<Value, ApiError> {
    principal.require(Role::Partner)?;
    let submission = Submission {
        declared: declared_from(media_type)?,
        body,
        idempotency_key: idempotency_key.map(check_idempotency_key).transpose()?,
        objects: Vec::new(),
        handling,
    };
    let Accepted { id, warnings } = accept(state, principal, submission).await?;
    let status_url = format!("/v1/reports/{id}");
    let mut document = json!({ "id": id, "status": "accepted", "status_url": status_url });
    if handling == Handling::Lenient {
        document["warnings"] = json!(warnings);
    }
    Ok(document)
}

/// A partner's submission, from `POST /v1/reports` or a TAXII inbox.
pub(crate) struct Submission {
    /// The format the request declared.
    pub(crate) declared: Declared,
    /// The body as sent (its SHA-256 makes a retried submission recognizable).
    pub(crate) body: Bytes,
    /// The `Idempotency-Key` header, if any.
    pub(crate) idempotency_key: Option<String>,
    /// The STIX objects of a TAXII envelope, for its status resource.
    pub(crate) objects: Vec<SubmittedObject>,
    /// Strict, or lenient (`Prefer: handling=lenient`; always for TAXII).
    pub(crate) handling: Handling,
}

/// A submission the bus has: its report's id and what lenient handling left out of it.
pub(crate) struct Accepted {
    /// The report's id.
    pub(crate) id: ReportId,
    /// What was left out (empty when accepted whole).
    pub(crate) warnings: Vec<Warning>,
}

/// The one way into Accord: checks the partner's backlog, validates a partner's submission (size, format, schema,
/// classification, every indicator and pattern), normalizes it on trial within the report limits, writes the raw
/// report to the bus and returns its id once the bus acknowledged it. A submission whose idempotency key names an
/// earlier identical one (same body, same handling) returns that report's id and warnings and writes nothing.
///
/// # Errors
/// 403 for anyone but a partner, 413/415/422 naming what is wrong, 429 when the partner's backlog is full, 503 when
/// the bus did not take it (nothing was accepted).
pub(crate) async fn accept(
    state: &AppState,
    principal: &Principal,
    submission: Submission,
) -> Result<Accepted, ApiError> {
    principal.require(Role::Partner)?;
    if submission.body.len() > state.config.max_report_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "a report may be at most {} bytes",
            state.config.max_report_bytes
        )));
    }
    let partner = principal.organization.clone();
    let Some(org) = state.deps.auth.organization(principal) else {
        return Err(ApiError::Unauthorized);
    };

    let body_sha256 = submission_digest(submission.handling, &submission.body);
    let id = match submission.idempotency_key.as_deref() {
        Some(key) => match earlier_submission(state, &partner, key, &body_sha256).await? {
            Some(earlier) => return Ok(earlier),
            None => ReportId::for_idempotency_key(&state.report_id_key, &partner, key),
        },
        None => ReportId::random(),
    };
    crate::quota::check(state, partner.as_str()).await?;
    let body_bytes = submission.body.len();
    let reservation = state
        .admission
        .reserve(partner.as_str(), id.as_str(), body_bytes)
        .map_err(|retry_after| {
            metrics::counter!(crate::metrics::BACKLOG_REFUSED).increment(1);
            ApiError::TooManyRequests { retry_after }
        })?;
    let priority = cpu::Priority::of_backlog(reservation.backlogged());
    let validation = state.admission.validation(partner.as_str()).await;
    let (raw, normalized_bytes) =
        cpu::scope(priority, judge(state, &org, id.clone(), submission)).await?;
    drop(validation);
    let quota_bytes = body_bytes + normalized_bytes;
    let raw = publish(state, raw, priority, Some(&body_sha256), quota_bytes).await?;
    reservation.keep();
    crate::quota::charge(state, &raw, quota_bytes).await;
    let title = raw.payload["title"].as_str().unwrap_or_default().to_owned();
    metrics::counter!(crate::metrics::SENT).increment(1);
    let change = Change::Accepted {
        id: id.to_string(),
        partner: partner.to_string(),
        title,
        body_sha256,
        received_at: raw.received_at.to_rfc3339(),
        objects: raw.objects,
        warnings: raw.warnings.clone(),
    };
    record_accepted(state, change, &id).await;
    Ok(Accepted {
        id,
        warnings: raw.warnings,
    })
}

/// What makes a retried submission recognizable: the SHA-256 of its body, and of the handling when lenient (a
/// strict submission's digest is its body's alone, as before lenient handling existed), so that the same body sent
/// with another preference is another request (docs/decisions/0037-lenient-handling.md).
fn submission_digest(handling: Handling, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    if handling == Handling::Lenient {
        digest.update(b"handling=lenient\n");
    }
    digest.update(body);
    hex::encode(digest.finalize())
}

/// Writes the accepted status of a report the bus has. A convenience (re-derived from the bus after a crash): a
/// failure is logged, not answered.
pub(crate) async fn record_accepted(state: &AppState, change: Change, id: &ReportId) {
    let store = state.status.clone();
    match tokio::task::spawn_blocking(move || store.apply(vec![change], false)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(error = %ErrorChain(&error), report_id = %id, "failed to record accepted status")
        }
        Err(error) => {
            tracing::warn!(error = %ErrorChain(&error), report_id = %id, "status write task failed")
        }
    }
}

/// Returns the id of the report a partner already submitted under this `Idempotency-Key`, if any: the keyed id
/// first, then the id the first, unkeyed derivation gave it (a report accepted before ids were keyed keeps its id
/// on retry), with what lenient handling left out of it. 422 when that report was sent with another body or another
/// handling preference.
async fn earlier_submission(
    state: &AppState,
    partner: &accord_domain::OrgId,
    key: &str,
    body_sha256: &str,
) -> Result<Option<Accepted>, ApiError> {
    let candidates = [
        ReportId::for_idempotency_key(&state.report_id_key, partner, key),
        ReportId::legacy_for_idempotency_key(partner, key),
    ];
    for id in candidates {
        let Some(existing) = lookup(state, id.as_str()).await? else {
            continue;
        };
        if existing.body_sha256 != body_sha256 && !existing.body_sha256.is_empty() {
            return Err(ApiError::Unprocessable {
                detail: "this Idempotency-Key was already used with a different body or handling preference"
                    .to_owned(),
                errors: vec![FieldError::new(
                    "/",
                    "idempotency key reused with another body or handling preference",
                )],
            });
        }
        return Ok(Some(Accepted {
            id,
            warnings: existing.warnings,
        }));
    }
    Ok(None)
}

/// Judges a submission off the async runtime, at the calling task's priority ([`cpu`]: parsing, validating and
/// normalizing a report of megabytes is CPU work): [`decode`], then a trial normalization within the report limits
/// ([`within_limits`]). Returns the raw report to publish, and the size of the report once normalized.
///
/// # Errors
/// 400/415/422 naming what is wrong, or the limit.
pub(crate) async fn judge(
    state: &AppState,
    org: &Organization,
    id: ReportId,
    submission: Submission,
) -> Result<(RawReport, usize), ApiError> {
    let (config, schema) = (Arc::clone(&state.config), Arc::clone(&state.schema));
    let (partner, default_tlp) = (org.id.clone(), org.default_tlp);
    cpu::run(move || {
        let (format, payload, warnings) = decode(
            submission.declared,
            &submission.body,
            default_tlp,
            config.max_indicators,
            &schema,
            submission.handling,
        )?;
        let mut objects = submission.objects;
        lenient::mark_failures(&mut objects, &warnings);
        let raw = RawReport {
            revision: None,
            id,
            partner,
            received_at: chrono::Utc::now(),
            default_tlp,
            format,
            payload,
            objects,
            warnings,
        };
        let normalized_bytes = within_limits(&raw, &config)?;
        Ok((raw, normalized_bytes))
    })
    .await
    .map_err(ApiError::internal)?
}

/// Judges a submission's body: JSON syntax, conversion of a STIX bundle or MISP event, the native schema, then
/// classification, TLP, every indicator and every pattern. Returns the native report's JSON, the format it came in
/// and, leniently, the parts that failed validation and were left out (a STIX object, a MISP attribute, a native
/// report's indicator, pattern, category or sector; [`crate::lenient`]).
///
/// Pure (no bus, no store, no clock but a converter's fallback date): the whole of what [`accept`] decides about a
/// body, so that the fuzz target drives exactly this function (docs/fuzzing.md).
///
/// # Errors
/// 400 for a body that is not JSON, 422 naming the offending field for anything else (leniently, only for what is
/// never lenient).
pub(crate) fn decode(
    declared: Declared,
    body: &[u8],
    default_tlp: Option<Tlp>,
    max_indicators: usize,
    schema: &SchemaValidator,
    handling: Handling,
) -> Result<(ReportFormat, serde_json::Value, Vec<Warning>), ApiError> {
    let submitted = json::parse_value(body)?;
    let (format, mut value, mut warnings) =
        convert::to_native(declared, &submitted, default_tlp, max_indicators, handling)?;
    schema.validate(&value)?;
    let report: IncidentReport = json::from_value(value.clone())?;
    check_whole(&report, default_tlp, max_indicators)?;
    let errors = field_errors(&report);
    if !errors.is_empty() {
        let skipped = (handling == Handling::Lenient && format == ReportFormat::Native)
            .then(|| lenient::skip_fields(&mut value, &errors))
            .flatten();
        match skipped {
            Some(skipped) => warnings.extend(skipped),
            None => return Err(invalid_fields(errors)),
        }
    }
    lenient::something_left(&submitted, &value, &warnings)?;
    Ok((format, value, warnings))
}

/// Normalizes a report on trial, within the gateway's report limits (the very function the normalizer runs, with
/// the same limits): what its patterns and free text expand to, and the size of the record it becomes, are bounded
/// before it reaches the bus. Returns that size.
///
/// # Errors
/// 422 naming the limit (or, for what the checks before it let through, the field).
fn within_limits(raw: &RawReport, config: &Config) -> Result<usize, ApiError> {
    match accord_normalizer::normalize_measured(raw, &config.limits()) {
        Ok((_, normalized_bytes)) => Ok(normalized_bytes),
        Err(Refusal::TooLarge(exceeded)) => {
            metrics::counter!(crate::metrics::TOO_LARGE_REFUSED).increment(1);
            Err(ApiError::invalid_field(
                exceeded.pointer(),
                exceeded.to_string(),
            ))
        }
        Err(Refusal::Invalid(rejection)) => {
            let (pointer, message) = rejection
                .detail
                .split_once(": ")
                .filter(|(pointer, _)| pointer.starts_with('/'))
                .unwrap_or(("/", rejection.detail.as_str()));
            Err(ApiError::invalid_field(pointer, message))
        }
    }
}

/// Publishes a raw report to [`topics::REPORTS_RAW`], keyed by its id and marked with its partner (the normalizer
/// shares its work between partners by it) and, when `priority` is background (its partner had other reports in
/// the backlog), with [`topics::HEADER_PRIORITY`], so that every stage runs its work in the background.
///
/// A first submission's `body_sha256` ([`submission_digest`]) travels in [`topics::HEADER_BODY_SHA256`], so that a
/// status store refilled from the bus still tells an `Idempotency-Key` retry from a reuse with another body. What the
/// version counts against its partner's daily quota travels in [`topics::HEADER_QUOTA_BYTES`], so that every gateway
/// counts it ([`crate::status::Charge`]).
///
/// Encoding a report of megabytes is CPU work: it runs off the async runtime at `priority`. Returns the report.
///
/// # Errors
/// 413 when the bus can never take the record, 503 when it did not take it now.
pub(crate) async fn publish(
    state: &AppState,
    raw: RawReport,
    priority: cpu::Priority,
    body_sha256: Option<&str>,
    quota_bytes: usize,
) -> Result<RawReport, ApiError> {
    let (raw, record) = cpu::scope(
        priority,
        cpu::run(move || {
            let record = accord_runtime::stage::json_record(raw.id.as_str(), &raw);
            (raw, record)
        }),
    )
    .await
    .map_err(ApiError::internal)?;
    let mut record = record.map_err(ApiError::internal)?;
    record
        .headers
        .push((topics::HEADER_PARTNER.to_owned(), raw.partner.to_string()));
    if let Some(digest) = body_sha256 {
        record
            .headers
            .push((topics::HEADER_BODY_SHA256.to_owned(), digest.to_owned()));
    }
    record.headers.push((
        topics::HEADER_QUOTA_BYTES.to_owned(),
        quota_bytes.to_string(),
    ));
    if priority == cpu::Priority::Background {
        record.headers.push((
            topics::HEADER_PRIORITY.to_owned(),
            topics::PRIORITY_BACKGROUND.to_owned(),
        ));
    }
    let limit = state.deps.bus.max_record_bytes();
    if record.size() > limit {
        return Err(ApiError::PayloadTooLarge(format!(
            "the report, as stored, would be {} bytes; the bus takes at most {limit}",
            record.size()
        )));
    }
    match state
        .deps
        .bus
        .publish(topics::REPORTS_RAW, vec![record])
        .await
    {
        Ok(_) => Ok(raw),
        Err(BusError::Refused(reason)) => {
            tracing::error!(report_id = %raw.id, reason, "the bus refused a report");
            metrics::counter!(crate::metrics::ERRORS).increment(1);
            Err(ApiError::PayloadTooLarge(
                "the bus refused the report as stored; it was not accepted".to_owned(),
            ))
        }
        Err(error) => {
            tracing::error!(error = %ErrorChain(&error), report_id = %raw.id, "failed to publish report to the bus");
            metrics::counter!(crate::metrics::ERRORS).increment(1);
            Err(ApiError::Unavailable(
                "the report could not be stored; it was not accepted, retry later".to_owned(),
            ))
        }
    }
}

/// Compiles the native report's schema, once per gateway.
///
/// # Errors
/// Fails when the shipped schema does not compile.
pub(crate) fn report_schema() -> anyhow::Result<SchemaValidator> {
    SchemaValidator::compile("incident-report", accord_domain::schema::INCIDENT_REPORT)
}

pub(crate) fn accepted(document: Value) -> Response {
    let status_url = document["status_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut response = (StatusCode::ACCEPTED, Json(document)).into_response();
    if let Ok(location) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Checks an `Idempotency-Key`: 1 to 255 characters once blanks and quotes around it are trimmed.
fn check_idempotency_key(key: &str) -> Result<String, ApiError> {
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::BadRequest {
            detail: "the Idempotency-Key header must be 1 to 255 characters".to_owned(),
            errors: vec![],
        });
    }
    Ok(key.to_owned())
}

pub(crate) async fn lookup(state: &AppState, id: &str) -> Result<Option<ReportStatus>, ApiError> {
    let store = state.status.clone();
    let id = id.to_owned();
    tokio::task::spawn_blocking(move || store.get(&id))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// `GET /v1/reports/{id}`.
pub(crate) async fn status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let document = report_status(&state, &principal, &id).await?;
    let mut response = Json(&document).into_response();
    with_etag(&mut response, &document);
    Ok(response)
}

/// Sets the `ETag` of a report's status or amendment: its version, quoted (`"2"`), for `If-Match`.
pub(crate) fn with_etag(response: &mut Response, document: &Value) {
    if let Some(version) = document["version"].as_u64()
        && let Ok(value) = HeaderValue::from_str(&format!("\"{version}\""))
    {
        response.headers_mut().insert(header::ETAG, value);
    }
}

/// Shows a report's status to the partner that submitted it (anyone else gets 404): the whole of
/// `GET /v1/reports/{id}`. The HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but a partner, 404 for an unknown report or another partner's, 500/503 on a store failure.
pub async fn report_status(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Value, ApiError> {
    principal.require(Role::Partner)?;
    let Ok(id) = ReportId::parse(id) else {
        return Err(ApiError::NotFound);
    };
    let Some(status) = lookup(state, id.as_str()).await? else {
        return Err(ApiError::NotFound);
    };
    if status.partner != principal.organization.as_str() {
        return Err(ApiError::NotFound);
    }
    let mut document = status_document(&status);
    document["feedback"] = crate::feedback::of_report(state, &status.partner, &status.id)
        .await?
        .document();
    Ok(document)
}

/// Renders a report's status as the partner sees it (`warnings` only when lenient handling left something out).
fn status_document(status: &ReportStatus) -> Value {
    let mut document = json!({
        "id": status.id,
        "title": (!status.title.is_empty()).then_some(&status.title),
        "status": status.status,
        "indicators": status.indicators,
        "released_to": status.released_to,
        "rejections": status.rejections,
        "withdrawals": status.withdrawals,
        "received_at": (!status.received_at.is_empty()).then_some(&status.received_at),
        "evaluated_at": status.evaluated_at,
        "version": status.version,
    });
    if let Some(amended) = &status.amended {
        document["amended_by"] = json!(amended.by);
        document["amended_at"] = json!(amended.at);
    }
    if let Some(retraction) = &status.retraction {
        document["retraction"] = json!(retraction);
    }
    if !status.warnings.is_empty() {
        document["warnings"] = json!(status.warnings);
    }
    document
}

/// `GET /v1/reports?since=&limit=&cursor=`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    /// Only reports received at or after this time.
    pub since: Option<Timestamp>,
    /// Reports per page (1–1000, default 50).
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
}

/// `GET /v1/reports`.
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let document = list_reports(&state, &principal, query).await?;
    Ok(Json(document).into_response())
}

/// Lists the caller's own reports, newest first: the whole of `GET /v1/reports`
/// (`{ "reports": [status, …], "next": cursor | null }`). The HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but a partner, 400 for a cursor this listing did not return, 500/503 on a store failure.
pub async fn list_reports(
    state: &AppState,
    principal: &Principal,
    query: ListQuery,
) -> Result<Value, ApiError> {
    principal.require(Role::Partner)?;
    let partner = principal.organization.to_string();
    let cursor = match &query.cursor {
        None => None,
        Some(text) => Some(ListingCursor::decode(&partner, text).ok_or_else(|| {
            ApiError::bad_field("/cursor", "not a cursor returned by this endpoint")
        })?),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    let store = state.status.clone();
    let since = query.since;
    let listed =
        tokio::task::spawn_blocking(move || store.list(&partner, since, cursor.as_ref(), limit))
            .await
            .map_err(ApiError::internal)?
            .map_err(|error| ApiError::unavailable("the report status store", &error))?;
    let reports: Vec<Value> = listed.reports.iter().map(status_document).collect();
    Ok(json!({
        "reports": reports,
        "next": listed.next.map(|cursor| cursor.encode()),
    }))
}
