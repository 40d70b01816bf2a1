//! The per-agency summary (auditors, `/audit/summary`): one organization's requests of the last 7, 30 or 90 days —
//! per day by purpose, refused ones, exports — and its cases with their request counts, each a link to its records
//! in the trail. Drawn from the trail's daily counters (`GET /v1/audit/summary`, decision 0043), never from a walk
//! of the trail. An agency's auditor summarizes its own organization only (another is refused on the field, as the
//! API decides: decision 0019); the operator's auditors name the organization.

use accord_domain::Role;
use accord_runtime::ApiError;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::{
    AppState,
    charts::{Bar, stacked_bars},
    docs::AuditSummary,
    extract::Signed,
    form::FieldErrors,
    layout::{Nav, error_summary, page},
    pages::{
        controls::{errors_on, select, text},
        errors,
    },
};

/// `?organization=&days=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    organization: Option<String>,
    days: Option<String>,
}

/// The periods offered, in days.
const PERIODS: &[(&str, &str)] = &[("7", "7 days"), ("30", "30 days"), ("90", "90 days")];

/// The purposes, each with the class of its colour.
const PURPOSES: [(&str, &str); 4] = [
    ("investigation", "investigation"),
    ("prevention", "prevention"),
    ("prosecution", "prosecution"),
    ("research", "research"),
];

fn form(organization: &str, days: &str, errors: &FieldErrors) -> Markup {
    html! {
        form method="get" action="/audit/summary" aria-label="Summarize" {
            div.grid {
                div { (text(errors, "organization", "Organization", organization, false)) }
                div { (select(errors, "days", "Period", PERIODS, days)) }
            }
            button type="submit" { "Summarize" }
        }
    }
}

/// The per-day label of a date (`12-06` of `2026-12-06`).
fn short(day: &str) -> String {
    day.get(5..).unwrap_or(day).to_owned()
}

fn charts(summary: &AuditSummary) -> Markup {
    let by_purpose: Vec<Bar> = summary
        .days
        .iter()
        .enumerate()
        .map(|(index, day)| Bar {
            label: short(day),
            segments: PURPOSES
                .iter()
                .map(|(purpose, class)| {
                    let count = summary
                        .purposes
                        .get(*purpose)
                        .and_then(|days| days.get(index))
                        .copied()
                        .unwrap_or(0);
                    (*class, count)
                })
                .collect(),
        })
        .collect();
    let single = |class: &'static str, series: &[u64]| -> Vec<Bar> {
        summary
            .days
            .iter()
            .zip(series)
            .map(|(day, count)| Bar {
                label: short(day),
                segments: vec![(class, *count)],
            })
            .collect()
    };
    html! {
        h2 { "Requests per day, by purpose" }
        (stacked_bars("by-purpose", "Requests per day, by purpose", &by_purpose, &PURPOSES))
        h2 { "Refused requests per day" }
        (stacked_bars("refused", "Refused requests per day", &single("refused", &summary.refused), &[("refused", "refused")]))
        h2 { "Exports per day" }
        (stacked_bars("exports", "Exports per day", &single("export", &summary.exports), &[("export", "exports")]))
    }
}

fn cases(summary: &AuditSummary) -> Markup {
    let org = urlencode(&summary.organization);
    html! {
        h2 { "Cases" }
        @if summary.cases.is_empty() { p { "No case was stated in this period." } } @else {
            div.table-wrap { table {
                caption.visually-hidden { "Cases, most requests first" }
                thead { tr { th scope="col" { "Case reference" } th scope="col" { "Requests" } th scope="col" { "First day" } th scope="col" { "Last day" } } }
                tbody { @for case in &summary.cases { tr {
                    td { a href=(format!("/audit?organization={org}&case={}", urlencode(&case.case))) { (case.case) } }
                    td { (case.requests) } td { (case.first) } td { (case.last) }
                } } }
            } }
            @if summary.cases.len() >= 100 { p { small { "The 100 cases with the most requests." } } }
        }
    }
}

/// Percent-encodes a query value.
fn urlencode(value: &str) -> String {
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

fn totals(summary: &AuditSummary) -> Markup {
    let sum = |series: &[u64]| series.iter().sum::<u64>();
    html! {
        p {
            strong { (sum(&summary.requests)) } " requests by " code { (summary.organization) } " from "
            (summary.days.first().map_or("", String::as_str)) " to " (summary.days.last().map_or("", String::as_str))
            " (UTC): " strong { (sum(&summary.refused)) } " refused, " strong { (sum(&summary.exports)) } " exports."
        }
    }
}

/// `GET /audit/summary?organization=&days=`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Auditor) {
        return refused;
    }
    let own = signed.session.identity.organization.id.to_string();
    let organization = params
        .organization
        .as_deref()
        .map(str::trim)
        .filter(|org| !org.is_empty())
        .map(str::to_owned);
    let days = params.days.as_deref().unwrap_or("30");
    let days_number = PERIODS
        .iter()
        .find(|(value, _)| *value == days)
        .and_then(|(value, _)| value.parse().ok())
        .unwrap_or(30);
    let operator = own == accord_runtime::auth::ADMIN_ORG;
    let asked = organization.clone().or((!operator).then(|| own.clone()));
    let (summary, errors, status) = match asked {
        None => (None, FieldErrors::default(), StatusCode::OK),
        Some(org) => match state
            .backend
            .audit_summary(&signed.session.token, Some(org), days_number)
            .await
        {
            Ok(summary) => (Some(summary), FieldErrors::default(), StatusCode::OK),
            Err(ApiError::Forbidden(detail)) => {
                let mut errors = FieldErrors::default();
                errors.add(Some("organization"), format!("{detail}."));
                (None, errors, StatusCode::FORBIDDEN)
            }
            Err(error @ ApiError::BadRequest { .. }) => (
                None,
                errors_on(&error, &["organization", "days"]),
                error.status(),
            ),
            Err(error) => return errors::problem(Some(&signed.session), &error),
        },
    };
    let shown = organization.unwrap_or_else(|| if operator { String::new() } else { own });
    let body = html! {
        p { a href="/audit" { "Audit trail" } }
        h1 { "Agency summary" }
        p { "An organization's requests per day by purpose, its refused requests, its exports and its cases, from the audit trail." }
        (error_summary("Nothing could be summarized.", &errors, &[("organization", "Organization"), ("days", "Period")]))
        (form(&shown, days, &errors))
        @if let Some(summary) = &summary {
            (totals(summary))
            (charts(summary))
            (cases(summary))
        }
    };
    (
        status,
        Html(
            page(
                "Agency summary",
                Some(&signed.session),
                Nav::AuditSummary,
                body,
            )
            .into_string(),
        ),
    )
        .into_response()
}
