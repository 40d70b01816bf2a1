//! "My reports" (partners): the partner's own reports with where each is — accepted, normalized, released, withheld
//! (evaluated, released to no agency) or rejected — the agencies it is released to, withdrawal receipts and rejection
//! reasons (`GET /v1/reports`, `GET /v1/reports/{id}`). While a report is in flight the list and the report's page
//! refresh themselves (htmx polling of the page's own fragment); without JavaScript, a link refreshes them.

use accord_domain::Role;
use accord_runtime::ApiError;
use axum::{
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::{
    AppState,
    backend::ListQuery,
    docs::{ReportList, ReportStatus},
    extract::Signed,
    layout::{Nav, page, stage_badge, when},
    pages::errors,
};

/// Reports per page.
const PAGE: usize = 50;

/// `?cursor=&fragment=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListParams {
    cursor: Option<String>,
    fragment: Option<String>,
    submitted: Option<String>,
}

fn list_url(cursor: Option<&str>, fragment: bool) -> String {
    let mut url = "/reports".to_owned();
    let mut separator = '?';
    if let Some(cursor) = cursor {
        url.push_str(&format!("?cursor={cursor}"));
        separator = '&';
    }
    if fragment {
        url.push(separator);
        url.push_str("fragment=table");
    }
    url
}

fn table(list: &ReportList, cursor: Option<&str>) -> Markup {
    let in_flight = list.reports.iter().any(|report| report.stage().in_flight());
    let poll = in_flight.then(|| list_url(cursor, true));
    html! {
        div id="my-reports" hx-get=[poll.as_ref()] hx-trigger=[poll.as_ref().map(|_| "every 3s")] hx-swap="outerHTML" {
            @if list.reports.is_empty() {
                p { "No report yet. " a href="/reports/new" { "Submit a report" } "." }
            } @else {
                div.table-wrap {
                    table {
                        caption.visually-hidden { "Your reports, newest first" }
                        thead { tr {
                            th scope="col" { "Received" } th scope="col" { "Title" } th scope="col" { "Status" }
                            th scope="col" { "Indicators" } th scope="col" { "Released to" } th scope="col" { "Notes" }
                        } }
                        tbody { @for report in &list.reports { (row(report)) } }
                    }
                }
            }
            @if in_flight {
                p { small { "Some reports are still in flight; this list refreshes itself. " a href=(list_url(cursor, false)) { "Refresh" } } }
            }
        }
    }
}

fn row(report: &ReportStatus) -> Markup {
    html! {
        tr {
            td { (report.received_at.as_deref().map(when).unwrap_or_default()) }
            td { a href=(format!("/reports/{}", report.id)) { (report.title.as_deref().unwrap_or(&report.id)) } }
            td { (stage_badge(report.stage())) }
            td { (report.indicators) }
            td { (report.released_to.join(", ")) }
            td {
                @if let Some(rejection) = report.rejections.first() { (rejection.reason) ": " (rejection.detail) }
                @if !report.withdrawals.is_empty() { (report.withdrawals.len()) " withdrawal(s)" }
            }
        }
    }
}

/// `GET /reports`.
pub(crate) async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<ListParams>,
) -> Response {
    if let Err(refused) = signed.require(Role::Partner) {
        return refused;
    }
    let query = ListQuery {
        since: None,
        limit: PAGE,
        cursor: params.cursor.clone(),
    };
    let list = match state
        .backend
        .list_reports(&signed.session.token, query)
        .await
    {
        Ok(list) => list,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let cursor = params.cursor.as_deref();
    if params.fragment.is_some() {
        return Html(table(&list, cursor).into_string()).into_response();
    }
    let body = html! {
        h1 { "My reports" }
        p { a href="/reports/new" { "New report" } }
        (table(&list, cursor))
        nav.pager aria-label="Pages" {
            @if cursor.is_some() { a href="/reports" { "Newest reports" } }
            @if let Some(next) = &list.next { a href=(list_url(Some(next), false)) { "Older reports" } }
        }
    };
    Html(page("My reports", Some(&signed.session), Nav::MyReports, body).into_string())
        .into_response()
}

fn detail(report: &ReportStatus, submitted: bool) -> Markup {
    let stage = report.stage();
    let poll = stage
        .in_flight()
        .then(|| format!("/reports/{}?fragment=detail", report.id));
    html! {
        div id="report-status" hx-get=[poll.as_ref()] hx-trigger=[poll.as_ref().map(|_| "every 2s")] hx-swap="outerHTML" {
            @if submitted {
                div.notice.success role="status" { p { "Report accepted: Accord has it, and it is on its way to the agencies your MoUs name." } }
            }
            dl {
                dt { "Status" } dd { (stage_badge(stage)) " " (stage_sentence(report)) }
                dt { "Report id" } dd { code { (report.id) } }
                dt { "Received" } dd { (report.received_at.as_deref().map(when).unwrap_or_default()) }
                @if let Some(at) = &report.evaluated_at { dt { "Last evaluated" } dd { (when(at)) } }
                dt { "Indicators found" } dd { (report.indicators) }
                dt { "Released to" }
                dd { @if report.released_to.is_empty() { "no agency" } @else { (report.released_to.join(", ")) } }
            }
            @if !report.rejections.is_empty() {
                h2 { "Why it was rejected" }
                ul { @for rejection in &report.rejections { li { strong { (rejection.reason) } ": " (rejection.detail) } } }
            }
            @if let Some(feedback) = report.feedback.as_ref().filter(|feedback| feedback.agencies > 0) {
                (feedback_section(feedback))
            }
            @if !report.withdrawals.is_empty() {
                h2 { "Withdrawal receipts" }
                div.table-wrap { table {
                    caption.visually-hidden { "When the report stopped being released to an agency, and why" }
                    thead { tr { th scope="col" { "Agency" } th scope="col" { "When" } th scope="col" { "Why" } } }
                    tbody { @for withdrawal in &report.withdrawals { tr { td { (withdrawal.agency) } td { (when(&withdrawal.at)) } td { (withdrawal.reason) } } } }
                } }
            }
            @if stage.in_flight() {
                p { small { "In flight: this page refreshes itself. " a href=(format!("/reports/{}", report.id)) { "Refresh" } } }
            }
        }
    }
}

/// Agencies' feedback on the report: counts, and the agencies named where the MoU names them.
fn feedback_section(feedback: &crate::docs::Feedback) -> Markup {
    html! {
        h2 { "Feedback from agencies" }
        dl {
            dt { "Agencies" } dd { (feedback.agencies) }
            @if !feedback.named_agencies.is_empty() { dt { "Named" } dd { (feedback.named_agencies.join(", ")) } }
            dt { "Sightings" } dd { (feedback.sightings) }
            dt { "Flagged as false positive" } dd { (feedback.false_positive) }
            dt { "Found useful" } dd { (feedback.useful) }
            @if let Some(first) = &feedback.first { dt { "First" } dd { (when(first)) } }
            @if let Some(last) = &feedback.last { dt { "Last" } dd { (when(last)) } }
        }
    }
}

fn stage_sentence(report: &ReportStatus) -> &'static str {
    use crate::docs::Stage;
    match report.stage() {
        Stage::Accepted => "Stored; being normalized.",
        Stage::Normalized => "Normalized; the MoUs are being applied.",
        Stage::Released => "Released under your MoUs.",
        Stage::Withheld => "Evaluated: no MoU in force releases it to any agency now.",
        Stage::Rejected => "Rejected: see why below.",
    }
}

/// `GET /reports/{id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> Response {
    if let Err(refused) = signed.require(Role::Partner) {
        return refused;
    }
    let report = match state
        .backend
        .report_status(&signed.session.token, &id)
        .await
    {
        Ok(report) => report,
        Err(ApiError::NotFound) => return errors::not_found(Some(&signed.session)),
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let submitted = params.submitted.is_some();
    if params.fragment.is_some() {
        return Html(detail(&report, false).into_string()).into_response();
    }
    let title = report.title.clone().unwrap_or_else(|| "Report".to_owned());
    let body = html! {
        p { a href="/reports" { "← My reports" } }
        h1 { (title) }
        (detail(&report, submitted))
    };
    Html(page(&title, Some(&signed.session), Nav::MyReports, body).into_string()).into_response()
}
