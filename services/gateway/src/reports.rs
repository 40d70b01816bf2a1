//! `POST /v1/reports` and `GET /v1/reports/{id}`.

use std::sync::Arc;

use accord_bus::BusError;
use accord_domain::{
    Organization, RawReport, ReportFormat, ReportId, Role, SubmittedObject, Timestamp, Tlp,
    classification, observable, report::IncidentReport, topics, vocabulary,
};
use accord_normalizer::Refusal;
use accord_runtime::{ApiError, FieldError, Principal, json, json::SchemaValidator};
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
    status::{Change, ListingCursor, ReportStatus},
};
use accord_runtime::telemetry::ErrorChain;

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
    let document = submit_report(&state, &principal, &media_type, body, key).await?;
    Ok(accepted(document))
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
    principal.require(Role::Partner)?;
    let submission = Submission {
        declared: declared_from(media_type)?,
        body,
        idempotency_key: idempotency_key.map(check_idempotency_key).transpose()?,
        objects: Vec::new(),
    };
    let id = accept(state, principal, submission).await?;
    let status_url = format!("/v1/reports/{id}");
    Ok(json!({ "id": id, "status": "accepted", "status_url": status_url }))
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
}

/// The one way into Accord: checks the partner's backlog, validates a partner's submission (size, format, schema,
/// classification, every indicator and pattern), normalizes it on trial within the report limits, writes the raw
/// report to the bus and returns its id once the bus acknowledged it. A submission whose idempotency key names an
/// earlier identical one returns that report's id and writes nothing.
///
/// # Errors
/// 403 for anyone but a partner, 413/415/422 naming what is wrong, 429 when the partner's backlog is full, 503 when
/// the bus did not take it (nothing was accepted).
pub(crate) async fn accept(
    state: &AppState,
    principal: &Principal,
    submission: Submission,
) -> Result<ReportId, ApiError> {
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

    let body_sha256 = hex::encode(Sha256::digest(&submission.body));
    let id = match submission.idempotency_key.as_deref() {
        Some(key) => match earlier_submission(state, &partner, key, &body_sha256).await? {
            Some(id) => return Ok(id),
            None => ReportId::for_idempotency_key(&state.report_id_key, &partner, key),
        },
        None => ReportId::random(),
    };
    let reservation = state
        .admission
        .reserve(partner.as_str(), id.as_str(), submission.body.len())
        .map_err(|retry_after| {
            metrics::counter!(crate::metrics::BACKLOG_REFUSED).increment(1);
            ApiError::TooManyRequests { retry_after }
        })?;
    let validation = state.admission.validation(partner.as_str()).await;
    let raw = judge(state, &org, id.clone(), submission).await?;
    drop(validation);
    publish(state, &raw).await?;
    reservation.keep();
    let title = raw.payload["title"].as_str().unwrap_or_default().to_owned();
    metrics::counter!(crate::metrics::SENT).increment(1);
    let change = Change::Accepted {
        id: id.to_string(),
        partner: partner.to_string(),
        title,
        body_sha256,
        received_at: raw.received_at.to_rfc3339(),
        objects: raw.objects,
    };
    record_accepted(state, change, &id).await;
    Ok(id)
}

/// Writes the accepted status of a report the bus has. A convenience (re-derived from the bus after a crash): a
/// failure is logged, not answered.
async fn record_accepted(state: &AppState, change: Change, id: &ReportId) {
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
/// on retry). 422 when that report was sent with another body.
async fn earlier_submission(
    state: &AppState,
    partner: &accord_domain::OrgId,
    key: &str,
    body_sha256: &str,
) -> Result<Option<ReportId>, ApiError> {
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
                detail: "this Idempotency-Key was already used with a different body".to_owned(),
                errors: vec![FieldError::new(
                    "/",
                    "idempotency key reused with another body",
                )],
            });
        }
        return Ok(Some(id));
    }
    Ok(None)
}

/// Judges a submission in a blocking task (parsing, validating and normalizing a report of megabytes is CPU work
/// that must not hold the async runtime): [`decode`], then a trial normalization within the report limits
/// ([`within_limits`]). Returns the raw report to publish.
///
/// # Errors
/// 400/415/422 naming what is wrong, or the limit.
async fn judge(
    state: &AppState,
    org: &Organization,
    id: ReportId,
    submission: Submission,
) -> Result<RawReport, ApiError> {
    let (config, schema) = (Arc::clone(&state.config), Arc::clone(&state.schema));
    let (partner, default_tlp) = (org.id.clone(), org.default_tlp);
    tokio::task::spawn_blocking(move || {
        let (format, payload) = decode(
            submission.declared,
            &submission.body,
            default_tlp,
            config.max_indicators,
            &schema,
        )?;
        let raw = RawReport {
            id,
            partner,
            received_at: chrono::Utc::now(),
            default_tlp,
            format,
            payload,
            objects: submission.objects,
        };
        within_limits(&raw, &config)?;
        Ok(raw)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Judges a submission's body: JSON syntax, conversion of a STIX bundle or MISP event, the native schema, then
/// classification, TLP, every indicator and every pattern. Returns the native report's JSON and the format it came in.
///
/// Pure (no bus, no store, no clock but a converter's fallback date): the whole of what [`accept`] decides about a
/// body, so that the fuzz target drives exactly this function (docs/fuzzing.md).
///
/// # Errors
/// 400 for a body that is not JSON, 422 naming the offending field for anything else.
pub(crate) fn decode(
    declared: Declared,
    body: &[u8],
    default_tlp: Option<Tlp>,
    max_indicators: usize,
    schema: &SchemaValidator,
) -> Result<(ReportFormat, serde_json::Value), ApiError> {
    let value = json::parse_value(body)?;
    let (format, value) = convert::to_native(declared, value, default_tlp, max_indicators)?;
    schema.validate(&value)?;
    let report: IncidentReport = json::from_value(value.clone())?;
    check_report(&report, default_tlp, max_indicators)?;
    Ok((format, value))
}

/// Normalizes a report on trial, within the gateway's report limits (the very function the normalizer runs, with
/// the same limits): what its patterns and free text expand to, and the size of the record it becomes, are bounded
/// before it reaches the bus.
///
/// # Errors
/// 422 naming the limit (or, for what the checks before it let through, the field).
fn within_limits(raw: &RawReport, config: &Config) -> Result<(), ApiError> {
    match accord_normalizer::normalize_within(raw, &config.limits()) {
        Ok(_) => Ok(()),
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
/// shares its work between partners by it).
///
/// # Errors
/// 413 when the bus can never take the record, 503 when it did not take it now.
async fn publish(state: &AppState, raw: &RawReport) -> Result<(), ApiError> {
    let mut record =
        accord_runtime::stage::json_record(raw.id.as_str(), raw).map_err(ApiError::internal)?;
    record
        .headers
        .push((topics::HEADER_PARTNER.to_owned(), raw.partner.to_string()));
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
        Ok(_) => Ok(()),
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

fn accepted(document: Value) -> Response {
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

/// Checks what the schema cannot: classification, TLP availability, categories and sector from the vocabulary,
/// every indicator's type and value.
fn check_report(
    report: &IncidentReport,
    default_tlp: Option<Tlp>,
    max_indicators: usize,
) -> Result<(), ApiError> {
    if !classification::is_unclassified(&report.classification) {
        metrics::counter!(crate::metrics::CLASSIFIED_REFUSED).increment(1);
        return Err(ApiError::invalid_field(
            "/classification",
            format!(
                "classified material is never accepted: classification `{}` is not `unclassified`",
                report.classification
            ),
        ));
    }
    if report.tlp.is_none() && default_tlp.is_none() {
        return Err(ApiError::invalid_field(
            "/tlp",
            "required: your organization has no default TLP for unmarked reports",
        ));
    }
    if report.indicators.len() > max_indicators {
        return Err(ApiError::invalid_field(
            "/indicators",
            format!("at most {max_indicators} indicators per report"),
        ));
    }
    let mut errors = Vec::new();
    check_vocabulary(report, &mut errors);
    for (index, indicator) in report.indicators.iter().enumerate() {
        match observable::canonicalize_declared(indicator.kind.as_deref(), &indicator.value) {
            Ok(_) => {}
            Err(error @ observable::ObservableError::UnknownType(_)) => errors.push(
                FieldError::new(format!("/indicators/{index}/type"), error.to_string()),
            ),
            Err(error) => errors.push(FieldError::new(
                format!("/indicators/{index}/value"),
                error.to_string(),
            )),
        }
    }
    check_patterns(report, &mut errors);
    if errors.is_empty() {
        return Ok(());
    }
    let detail = match errors.as_slice() {
        [only] => format!("{}: {}", only.pointer, only.message),
        _ => format!("{} fields are invalid", errors.len()),
    };
    Err(ApiError::Unprocessable { detail, errors })
}

/// Checks that every category and the sector come from the fixed vocabulary (`accord_domain::vocabulary`), so that
/// they cannot carry free text. The message lists the allowed values and never repeats the refused one.
fn check_vocabulary(report: &IncidentReport, errors: &mut Vec<FieldError>) {
    for (index, category) in report.categories.iter().enumerate() {
        if vocabulary::category(category).is_none() {
            errors.push(FieldError::new(
                format!("/categories/{index}"),
                format!(
                    "not a known category; allowed: {}",
                    vocabulary::category_names().join(", ")
                ),
            ));
        }
    }
    if let Some(sector) = &report.sector
        && vocabulary::sector(sector).is_none()
    {
        errors.push(FieldError::new(
            "/sector",
            format!(
                "not a known sector; allowed: {}",
                vocabulary::sector_names().join(", ")
            ),
        ));
    }
}

/// Checks every STIX pattern a report carries: it parses, and the observables it compares with `=` are valid.
fn check_patterns(report: &IncidentReport, errors: &mut Vec<FieldError>) {
    for (index, input) in report.patterns.iter().enumerate() {
        if input.pattern_type != "stix" {
            continue;
        }
        let pointer = format!("/patterns/{index}/pattern");
        let named = input
            .id
            .as_deref()
            .map(|id| format!("{id}: "))
            .unwrap_or_default();
        let pattern = match accord_stix::pattern::parse(&input.pattern) {
            Ok(pattern) => pattern,
            Err(error) => {
                errors.push(FieldError::new(
                    pointer,
                    format!("{named}invalid STIX pattern {error}"),
                ));
                continue;
            }
        };
        for found in pattern.observables() {
            let Some(result) = found.canonicalize() else {
                continue;
            };
            if let Err(error) = result {
                errors.push(FieldError::new(
                    pointer.clone(),
                    format!("{named}`{}`: {error}", found.value),
                ));
            }
        }
    }
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
    Ok(Json(document).into_response())
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
    Ok(status_document(&status))
}

/// Renders a report's status as the partner sees it.
fn status_document(status: &ReportStatus) -> Value {
    json!({
        "id": status.id,
        "title": (!status.title.is_empty()).then_some(&status.title),
        "status": status.status,
        "indicators": status.indicators,
        "released_to": status.released_to,
        "rejections": status.rejections,
        "withdrawals": status.withdrawals,
        "received_at": (!status.received_at.is_empty()).then_some(&status.received_at),
        "evaluated_at": status.evaluated_at,
    })
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
