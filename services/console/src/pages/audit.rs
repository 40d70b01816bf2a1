//! The audit console (auditors): the trail with filters (time range, organization, case reference, token label,
//! purpose, route, outcome), a page of 100
//! records at a time oldest first — the API scans on from a cursor, so millions of records are never loaded at once
//! (`GET /v1/audit`) — each record's detail (the query and its parameters, the number of results, the status that
//! was the decision, its hashes); "Verify the chain" with its result and the first broken record
//! (`GET /v1/audit/verify`); a signed checkpoint of the head to download and keep (`GET /v1/audit/checkpoint`); and
//! the filtered range as JSON lines with its chain proof (`GET /v1/audit/export`, "Export (JSON lines)").
//! An agency's auditor sees its own organization's records only, as the API decides.

use accord_domain::Role;
use axum::{
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::{
    AppState,
    backend::AuditFilter,
    docs::{AuditPage, AuditRecord},
    extract::Signed,
    form::{FieldErrors, Fields},
    layout::{Nav, error_summary, page, when},
    pages::{
        controls::{errors_on, select, text},
        errors,
        mou_form::from_local,
    },
};

/// `?from=&to=&organization=&case=&cursor=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    from: Option<String>,
    to: Option<String>,
    organization: Option<String>,
    case: Option<String>,
    purpose: Option<String>,
    route: Option<String>,
    outcome: Option<String>,
    token: Option<String>,
    cursor: Option<String>,
}

/// The filters of the page, by name (the API's query parameters).
const FILTERS: [&str; 8] = [
    "from",
    "to",
    "organization",
    "case",
    "purpose",
    "route",
    "outcome",
    "token",
];

/// The routes that write audit records.
const ROUTES: &[(&str, &str)] = &[
    ("", "Any"),
    ("GET /v1/indicators/{value}", "GET /v1/indicators/{value}"),
    ("POST /v1/indicators/lookup", "POST /v1/indicators/lookup"),
    ("POST /v1/search", "POST /v1/search"),
    ("POST /v1/search/export", "POST /v1/search/export"),
    (
        "POST /v1/indicators/lookup/export",
        "POST /v1/indicators/lookup/export",
    ),
];

impl Params {
    fn fields(&self) -> Fields {
        let value = |value: &Option<String>| value.clone().unwrap_or_default();
        Fields::from_pairs(vec![
            ("from".to_owned(), value(&self.from)),
            ("to".to_owned(), value(&self.to)),
            ("organization".to_owned(), value(&self.organization)),
            ("case".to_owned(), value(&self.case)),
            ("purpose".to_owned(), value(&self.purpose)),
            ("route".to_owned(), value(&self.route)),
            ("outcome".to_owned(), value(&self.outcome)),
            ("token".to_owned(), value(&self.token)),
        ])
    }

    fn filter(&self) -> AuditFilter {
        let given = |value: &Option<String>| value.clone().filter(|value| !value.trim().is_empty());
        AuditFilter {
            from: given(&self.from).map(|at| from_local(at.trim())),
            to: given(&self.to).map(|at| from_local(at.trim())),
            organization: given(&self.organization).map(|org| org.trim().to_owned()),
            case: given(&self.case),
            purpose: given(&self.purpose),
            route: given(&self.route),
            outcome: given(&self.outcome),
            token: given(&self.token).map(|token| token.trim().to_owned()),
            cursor: given(&self.cursor),
        }
    }

    /// The query string of the next page: the same filters, the scan's cursor.
    fn next(&self, cursor: &str) -> String {
        format!("/audit?{}", self.query(Some(cursor)))
    }

    /// The query string of the same filters, with `cursor` when given.
    fn query(&self, cursor: Option<&str>) -> String {
        let fields = self.fields();
        let mut pairs: Vec<(&str, &str)> = FILTERS
            .iter()
            .map(|name| (*name, fields.get(name)))
            .filter(|(_, value)| !value.is_empty())
            .collect();
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor));
        }
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(name, value)| format!("{name}={}", urlencoding(value)))
            .collect();
        encoded.join("&")
    }
}

/// Percent-encodes a query value.
fn urlencoding(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn filters(fields: &Fields, errors: &FieldErrors) -> Markup {
    let (from, to) = (fields.get("from"), fields.get("to"));
    html! {
        form method="get" action="/audit" aria-label="Filters" {
            div.grid {
                div { label for="from" { "From (UTC)" } input type="datetime-local" id="from" name="from" value=(from); }
                div { label for="to" { "To (UTC)" } input type="datetime-local" id="to" name="to" value=(to); }
                div { (text(errors, "organization", "Organization", fields.get("organization"), false)) }
                div { (text(errors, "case", "Case reference", fields.get("case"), false)) }
            }
            div.grid {
                div { (text(errors, "token", "Token label", fields.get("token"), false)) }
                div { (select(errors, "purpose", "Purpose", &[("", "Any"), ("investigation", "investigation"), ("prevention", "prevention"), ("prosecution", "prosecution"), ("research", "research")], fields.get("purpose"))) }
                div { (select(errors, "route", "Route", ROUTES, fields.get("route"))) }
                div { (select(errors, "outcome", "Outcome", &[("", "Any"), ("allowed", "Allowed (2xx)"), ("refused", "Refused (4xx)"), ("failed", "Failed (5xx)")], fields.get("outcome"))) }
            }
            button type="submit" { "Filter" }
        }
    }
}

fn detail(record: &AuditRecord) -> Markup {
    let query = serde_json::to_string_pretty(&record.query).unwrap_or_default();
    html! {
        details {
            summary { "Record #" (record.seq) }
            dl {
                dt { "Query and parameters" } dd { pre { code { (query) } } }
                dt { "Results" } dd { (record.results) }
                dt { "Decision" } dd { (record.status) " " (decision(record.status)) }
                dt { "Token" } dd { code { (record.token_id.as_deref().unwrap_or("—")) } }
                dt { "Hash" } dd { code { (record.hash.as_deref().unwrap_or("—")) } }
                dt { "Previous hash" } dd { code { (record.prev_hash.as_deref().unwrap_or("—")) } }
            }
        }
    }
}

/// The decision a status stands for.
fn decision(status: u16) -> &'static str {
    match status {
        200..=299 => "(answered)",
        400 => "(refused: malformed)",
        403 => "(refused: not permitted)",
        404 => "(nothing visible)",
        429 => "(refused: too many requests)",
        _ => "(failed)",
    }
}

fn table(page: &AuditPage) -> Markup {
    html! {
        @if page.records.is_empty() { p { "No record matches on this stretch of the trail." } } @else {
            div.table-wrap { table {
                caption.visually-hidden { "Audit records, oldest first" }
                thead { tr {
                    th scope="col" { "Record" } th scope="col" { "When" } th scope="col" { "Organization" } th scope="col" { "Route" }
                    th scope="col" { "Purpose" } th scope="col" { "Case" } th scope="col" { "Outcome" } th scope="col" { "Results" }
                } }
                tbody { @for record in &page.records { tr {
                    td { (detail(record)) } td { (when(&record.at)) }
                    td { (record.organization.as_deref().unwrap_or("—")) } td { code { (record.endpoint) } }
                    td { (record.purpose.as_deref().unwrap_or("—")) } td { (record.case.as_deref().unwrap_or("—")) }
                    td { (record.status) } td { (record.results) }
                } } }
            } }
        }
    }
}

/// `GET /audit`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Auditor) {
        return refused;
    }
    let fields = params.fields();
    let answer = state
        .backend
        .audit_records(&signed.session.token, params.filter())
        .await;
    let (listed, errors, status) = match answer {
        Ok(page) => (Some(page), FieldErrors::default(), StatusCode::OK),
        Err(
            error @ (accord_runtime::ApiError::BadRequest { .. }
            | accord_runtime::ApiError::Forbidden(_)),
        ) => {
            let mut errors = errors_on(&error, &FILTERS);
            if let accord_runtime::ApiError::Forbidden(detail) = &error {
                errors = FieldErrors::default();
                errors.add(Some("organization"), format!("{detail}."));
            }
            (None, errors, error.status())
        }
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let body = html! {
        h1 { "Audit trail" }
        p.actions {
            a href="/audit/verify" role="button" { "Verify the chain" } " "
            a href="/audit/checkpoint" role="button" class="secondary" hx-boost="false" download { "Download checkpoint" } " "
            a href=(format!("/audit/export?{}", params.query(None))) role="button" class="secondary" hx-boost="false" download { "Export (JSON lines)" }
        }
        p { small { "The export holds the records these filters select, with the proof to verify them elsewhere: " code { "accord audit verify-export FILE --public-key KEY" } "." } }
        (error_summary("The trail could not be filtered so.", &errors, &[("from", "From (UTC)"), ("to", "To (UTC)"), ("organization", "Organization"), ("case", "Case reference"), ("token", "Token label"), ("purpose", "Purpose"), ("route", "Route"), ("outcome", "Outcome")]))
        (filters(&fields, &errors))
        @if let Some(listed) = &listed {
            (table(listed))
            @if let Some(next) = &listed.next {
                nav.pager aria-label="Pages" { a href=(params.next(next)) { "Next records" } }
            }
        }
    };
    (
        status,
        Html(page("Audit trail", Some(&signed.session), Nav::Audit, body).into_string()),
    )
        .into_response()
}

/// `GET /audit/verify`.
pub(crate) async fn verify(State(state): State<AppState>, signed: Signed) -> Response {
    if let Err(refused) = signed.require(Role::Auditor) {
        return refused;
    }
    let verification = match state.backend.verify_chain(&signed.session.token).await {
        Ok(verification) => verification,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let checkpoint = verification.checkpoint.as_ref().map(|check| {
        let text = |field: &str| {
            check
                .get(field)
                .map(|value| value.to_string().trim_matches('"').to_owned())
                .unwrap_or_default()
        };
        format!(
            "The latest stored checkpoint (record #{}) {}.",
            text("seq"),
            text("result")
        )
    });
    let body = html! {
        p { a href="/audit" { "Audit trail" } }
        h1 { "Verify the chain" }
        @if verification.ok {
            div.notice role="status" { p { strong { "The chain holds." } " Every link of its " (verification.records) " records was recomputed." } }
        } @else {
            div.notice.error role="alert" { p {
                strong { "The chain does not hold." } " " (verification.records) " records checked."
                @if let Some(bad) = verification.first_bad { " The first broken record is " strong { "#" (bad) } "." }
            } }
        }
        @if let Some(checkpoint) = &checkpoint { p { (checkpoint) } }
        p { "Keep a checkpoint (" a href="/audit/checkpoint" hx-boost="false" download { "Download checkpoint" } ") to check the chain later against it, with Accord or without it (docs/api.md, Auditors)." }
    };
    Html(page("Verify the chain", Some(&signed.session), Nav::Audit, body).into_string())
        .into_response()
}

/// `GET /audit/export?…`: the filtered range as a JSON lines file with its chain proof (`GET /v1/audit/export`).
pub(crate) async fn export(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Auditor) {
        return refused;
    }
    let body = match state
        .backend
        .audit_export(&signed.session.token, params.filter())
        .await
    {
        Ok(body) => body,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"accord-audit-export.jsonl\""),
    );
    response
}

/// `GET /audit/checkpoint`: the signed checkpoint as a JSON file.
pub(crate) async fn checkpoint(State(state): State<AppState>, signed: Signed) -> Response {
    if let Err(refused) = signed.require(Role::Auditor) {
        return refused;
    }
    let checkpoint = match state.backend.audit_checkpoint(&signed.session.token).await {
        Ok(checkpoint) => checkpoint,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let seq = checkpoint
        .get("seq")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_default();
    let mut response = serde_json::to_vec_pretty(&checkpoint)
        .unwrap_or_default()
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"accord-audit-checkpoint-{seq}.json\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
