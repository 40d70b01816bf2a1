//! The alerts page (investigators): the agency's watchlist alerts, oldest first, a page at a time (`GET /v1/alerts`,
//! each delivery re-checked and audited by search), and new ones as they arrive: the last row of the last page asks
//! for the alerts after it every few seconds (htmx) and is replaced by them, so the table grows without a reload.
//! Watchlists are kept through the API (`POST /v1/watchlists`); this page shows what they raise.

use accord_domain::Role;
use axum::{
    extract::{Query, State},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::{
    AppState,
    docs::{Alert, AlertPage},
    extract::Signed,
    layout::{Nav, page, tlp_badge, when},
    pages::errors,
};

/// How often the last page asks for new alerts.
const POLL: &str = "every 3s";

/// `?after=&fragment=rows`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    after: Option<u64>,
    fragment: Option<String>,
}

/// `GET /alerts`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Investigator) {
        return refused;
    }
    let after = params.after.unwrap_or(0);
    let answer = state.backend.alerts(&signed.session.token, after).await;
    if params.fragment.as_deref() == Some("rows") {
        // The poller's answer: new rows and a new poller, or the poller again.
        let rows = match &answer {
            Ok(found) => rows(found, after),
            Err(_) => poller(after),
        };
        return Html(rows.into_string()).into_response();
    }
    let body = match &answer {
        Ok(found) => table(found, after),
        Err(error) => html! { div.notice.error role="alert" { p { (errors::explain(error)) } } },
    };
    let body = html! {
        h1 { "Alerts" }
        p { "What your agency's watchlists matched in reports released to it, and releases since withdrawn. New alerts appear here as they arrive." }
        (body)
    };
    Html(page("Alerts", Some(&signed.session), Nav::Alerts, body).into_string()).into_response()
}

fn table(found: &AlertPage, after: u64) -> Markup {
    html! {
        div.table-wrap {
            table {
                caption.visually-hidden { "Alerts, oldest first" }
                thead { tr {
                    th scope="col" { "Raised" } th scope="col" { "Alert" } th scope="col" { "Watched" }
                    th scope="col" { "Released value" } th scope="col" { "Report" }
                } }
                tbody id="alert-rows" { (rows(found, after)) }
            }
        }
        @if found.alerts.is_empty() && after == 0 {
            p id="no-alerts" { "No alert yet." }
        }
    }
}

/// The rows of a page; the last page ends with the poller, a page that continues with a link to the next.
fn rows(found: &AlertPage, after: u64) -> Markup {
    let last = found
        .alerts
        .last()
        .and_then(|alert| alert.id.parse().ok())
        .unwrap_or(after);
    html! {
        @for alert in &found.alerts { (row(alert)) }
        @match &found.next {
            Some(next) => tr { td colspan="5" { a href=(format!("/alerts?after={next}")) { "Later alerts" } } },
            None => (poller(last)),
        }
    }
}

/// An empty row that asks for the alerts after `after` and is replaced by them.
fn poller(after: u64) -> Markup {
    let url = format!("/alerts?after={after}&fragment=rows");
    html! {
        tr.poller hx-get=(url) hx-trigger=(POLL) hx-swap="outerHTML" { td colspan="5" { small { "Waiting for new alerts…" } } }
    }
}

fn row(alert: &Alert) -> Markup {
    let report = &alert.report;
    let id = report["id"].as_str().unwrap_or_default();
    html! {
        tr {
            td { (when(&alert.at)) }
            td { @if alert.kind == "withdrawn" { span.badge { "withdrawn" } } @else { span.badge { "match" } } }
            td { code { (alert.entry) } }
            td { code { (alert.value) } }
            td {
                @if alert.kind == "withdrawn" {
                    code { (id) }
                } @else {
                    a href=(format!("/released/{id}")) { (report["title"].as_str().unwrap_or(id)) }
                    @if let Some(tlp) = report["tlp"].as_str() { " " (tlp_badge(tlp)) }
                }
            }
        }
    }
}
