//! `GET /dashboard`: the first page after sign-in.
//!
//! - A partner sees its reports of the last 30 days by stage, per day (`GET /v1/reports/counts`: counters the status
//!   store keeps, decision 0035), and its latest five (`GET /v1/reports?limit=5`).
//! - An investigator sees its own recent searches (`GET /v1/audit/mine`: not audited, they are its own), and, once
//!   a working context is set, the reports released to its agency for that purpose whose incidents fall in the last
//!   30 days (`POST /v1/search` with `per_day`: their re-checked total, counts per day and the latest five): a
//!   search like any other, audited under the context's case reference, its record shown (decisions 0026, 0036).

use std::collections::BTreeMap;

use accord_domain::Role;
use axum::{
    extract::State,
    response::{Html, IntoResponse, Response},
};
use chrono::{Duration, Utc};
use maud::{Markup, html};

use crate::{
    AppState,
    backend::ListQuery,
    charts::{Bar, stacked_bars},
    docs::{ReportStatus, SearchFilters, SearchRequest, Stage},
    extract::Signed,
    layout::{Nav, audit_note, page, partner, stage_badge, tlp_badge, when},
    pages::{context, errors},
};

/// Days a dashboard covers.
const DAYS: i64 = 30;
/// Latest reports a partner's dashboard lists.
const LATEST: usize = 5;

/// `GET /dashboard`.
pub(crate) async fn show(State(state): State<AppState>, signed: Signed) -> Response {
    let body = match signed.session.identity.role {
        Role::Partner => partner_dashboard(&state, &signed).await,
        Role::Investigator => investigator_dashboard(&state, &signed).await,
        _ => Ok(html! {
            h1 { "Dashboard" }
            p {
                "Coordinators manage MoUs, organizations and tokens, and auditors read and verify the audit trail, "
                "on the pages above."
            }
        }),
    };
    match body {
        Ok(body) => {
            Html(page("Dashboard", Some(&signed.session), Nav::Dashboard, body).into_string())
                .into_response()
        }
        Err(response) => response,
    }
}

/// The UTC days of the last [`DAYS`] days, oldest first, as `YYYY-MM-DD`.
fn days() -> Vec<String> {
    let today = Utc::now().date_naive();
    (0..DAYS)
        .rev()
        .map(|back| {
            (today - Duration::days(back))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect()
}

fn day_of(at: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|at| at.with_timezone(&Utc).format("%Y-%m-%d").to_string())
}

/// Reads the partner's latest reports (a few, for the list under the chart).
async fn latest_reports(state: &AppState, signed: &Signed) -> Result<Vec<ReportStatus>, Response> {
    let query = ListQuery {
        since: None,
        limit: LATEST,
        cursor: None,
    };
    let page = state
        .backend
        .list_reports(&signed.session.token, query)
        .await
        .map_err(|error| errors::problem(Some(&signed.session), &error))?;
    Ok(page.reports)
}

async fn partner_dashboard(state: &AppState, signed: &Signed) -> Result<Markup, Response> {
    let counted = state
        .backend
        .report_counts(&signed.session.token, DAYS as u32)
        .await
        .map_err(|error| errors::problem(Some(&signed.session), &error))?;
    let reports = latest_reports(state, signed).await?;
    let total = |stage: Stage| -> u64 { counted.days.iter().map(|day| day.of(stage)).sum() };
    let bars: Vec<Bar> = counted
        .days
        .iter()
        .map(|day| Bar {
            label: day.day.get(5..).unwrap_or(&day.day).to_owned(),
            segments: Stage::ALL
                .iter()
                .map(|stage| (stage.as_str(), day.of(*stage)))
                .collect(),
        })
        .collect();
    let legend: Vec<(&'static str, &str)> = Stage::ALL
        .iter()
        .map(|stage| (stage.as_str(), stage.as_str()))
        .collect();
    let recent: u64 = Stage::ALL.iter().map(|stage| total(*stage)).sum();
    Ok(html! {
        h1 { "Your reports" }
        section aria-labelledby="figures-heading" {
            h2 id="figures-heading" { "The last 30 days" }
            div.figures {
                @for stage in Stage::ALL {
                    p.figure { span.number { (total(stage)) } (stage.as_str()) }
                }
            }
            (stacked_bars("reports-by-day", "Reports received per day, by stage", &bars, &legend))
        }
        section aria-labelledby="latest-heading" {
            h2 id="latest-heading" { "Latest reports" }
            @if reports.is_empty() {
                p { "No report yet. " a href="/reports/new" { "Submit a report" } "." }
            } @else {
                @if recent == 0 { p { "No report in the last 30 days." } }
                ul {
                    @for report in &reports {
                        li {
                            a href=(format!("/reports/{}", report.id)) { (report.title.as_deref().unwrap_or(&report.id)) }
                            " " (stage_badge(report.stage()))
                        }
                    }
                }
                p { a href="/reports" { "All your reports" } }
            }
        }
    })
}

async fn investigator_dashboard(state: &AppState, signed: &Signed) -> Result<Markup, Response> {
    let recent = state
        .backend
        .recent_requests(&signed.session.token, 100)
        .await
        .map_err(|error| errors::problem(Some(&signed.session), &error))?;
    let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
    for record in &recent.records {
        if let Some(day) = day_of(&record.at) {
            *per_day.entry(day).or_default() += 1;
        }
    }
    let bars: Vec<Bar> = days()
        .into_iter()
        .map(|day| Bar {
            segments: vec![("primary", per_day.get(&day).copied().unwrap_or(0))],
            label: day[5..].to_owned(),
        })
        .collect();
    let released = released_section(state, signed).await;
    Ok(html! {
        h1 { "Dashboard" }
        (context::bar(&signed.session, "/dashboard"))
        (released)
        section aria-labelledby="searches-heading" {
            h2 id="searches-heading" { "Your recent searches" }
            (stacked_bars("searches-by-day", "Your searches per day (your latest 100)", &bars, &[("primary", "searches")]))
            @if recent.records.is_empty() {
                p { "No search yet." }
            } @else {
                div.table-wrap {
                    table {
                        caption.visually-hidden { "Your recent searches, newest first" }
                        thead { tr { th scope="col" { "Record" } th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Purpose" } th scope="col" { "Case reference" } th scope="col" { "Results" } } }
                        tbody {
                            @for record in recent.records.iter().take(10) {
                                tr {
                                    td { "#" (record.seq) }
                                    td { (when(&record.at)) }
                                    td { (describe(record)) }
                                    td { (record.purpose.as_deref().unwrap_or("")) }
                                    td { (record.case.as_deref().unwrap_or("")) }
                                    td { @if record.status == 200 { (record.results) } @else { "refused (" (record.status) ")" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// Describes a recorded request in the investigator's terms: what it looked for.
fn describe(record: &crate::docs::AuditRecord) -> String {
    let query = &record.query;
    let text = |key: &str| {
        query
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    // A brief record (`GET /v1/audit/mine?brief=true`) carries a list's length in its place.
    let count = |key: &str| {
        query.get(key).map_or(0, |value| {
            value
                .as_array()
                .map_or_else(|| value.as_u64().unwrap_or(0), |items| items.len() as u64)
        })
    };
    match record.endpoint.as_str() {
        "GET /v1/indicators/{value}" => format!("Indicator {}", text("value")),
        "POST /v1/indicators/lookup" => format!("List of {} values", count("values")),
        "POST /v1/indicators/lookup/export" => format!(
            "Export ({}) of a list of {} values",
            text("format"),
            count("values")
        ),
        "POST /v1/search" => match query
            .pointer("/filters/report")
            .and_then(serde_json::Value::as_str)
        {
            Some(report) => format!("Report {report}"),
            None => format!("Search “{}”", text("q")),
        },
        "POST /v1/search/export" => {
            format!("Export ({}) of search “{}”", text("format"), text("q"))
        }
        other if other.contains("taxii2") => "TAXII read".to_owned(),
        other => other.to_owned(),
    }
}

/// The reports released for the working context's purpose with incidents in the last 30 days (one audited search).
async fn released_section(state: &AppState, signed: &Signed) -> Markup {
    let Some(work) = &signed.session.context else {
        return html! {
            section { h2 { "Newly released reports" } p { "Set your purpose and case reference above to see the reports released to your agency." } }
        };
    };
    let request = SearchRequest {
        q: String::new(),
        filters: SearchFilters {
            // The start of the first of the 30 UTC days the chart shows (today included).
            from: Some(format!("{}T00:00:00Z", days()[0])),
            ..SearchFilters::default()
        },
        purpose: work.purpose.as_str().to_owned(),
        case: work.case.clone(),
        size: Some(LATEST),
        per_day: true,
        ..SearchRequest::default()
    };
    let cited = state.backend.search(&signed.session.token, request).await;
    let body = match &cited.result {
        Err(error) => html! { p { (errors::explain(error)) } },
        Ok(found) => {
            let bars: Vec<Bar> = found
                .per_day
                .iter()
                .map(|day| Bar {
                    segments: vec![("released", day.count)],
                    label: day.day.get(5..).unwrap_or(&day.day).to_owned(),
                })
                .collect();
            html! {
                p { strong { (found.total) } " reports released to your agency for " (work.purpose.as_str()) " concern incidents of the last 30 days." }
                (stacked_bars("released-by-day", "Released reports per day of incident", &bars, &[("released", "reports")]))
                ul {
                    @for hit in &found.hits {
                        li {
                            a href=(format!("/released/{}", hit.id)) { (hit.title.as_deref().unwrap_or("(no title released)")) }
                            " " (tlp_badge(&hit.tlp)) " " (when(&hit.occurred_at)) " · " (partner(&hit.partner))
                        }
                    }
                }
            }
        }
    };
    html! {
        section aria-labelledby="released-heading" {
            h2 id="released-heading" { "Newly released reports" }
            (body)
            (audit_note(cited.audit_record))
        }
    }
}
