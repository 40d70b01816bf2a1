//! The report page (investigators): a report as released to the agency — `POST /v1/search` with the `report`
//! filter, audited, its record shown. What the MoU withholds is absent; what it redacts is shown as redacted
//! (`[redacted:email]` becomes a visible "redacted email" marker); an anonymous partner is shown as anonymous. A
//! report the agency may not see is "not found", like one that does not exist.

use accord_domain::Role;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::{
    AppState,
    docs::{Hit, SearchFilters, SearchRequest},
    extract::Signed,
    layout::{Nav, audit_note, page, partner, released_text, tlp_badge, when},
    pages::{context, errors, indicator},
    session::WorkContext,
};

/// `?type=&indicator=`: the indicator the report was reached from, so that the view shown is one that contains it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct From {
    #[serde(rename = "type")]
    kind: Option<String>,
    indicator: Option<String>,
}

/// The `q` of the search for one report: by the indicator it was reached from, when given.
fn query(from: &From) -> String {
    match (&from.kind, &from.indicator) {
        (Some(kind), Some(value))
            if !kind.is_empty() && !value.is_empty() && !value.contains(char::is_whitespace) =>
        {
            format!("type:{kind} indicator:{value}")
        }
        _ => String::new(),
    }
}

/// `GET /released/{id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(from): Query<From>,
) -> Response {
    if let Err(refused) = signed.require(Role::Investigator) {
        return refused;
    }
    let here = format!("/released/{}", indicator::encode_segment(&id));
    let (status, title, content) = match context::required(&signed.session) {
        Err(notice) => (StatusCode::OK, "Report".to_owned(), notice),
        Ok(work) => report(&state, &signed, work, &id, &from).await,
    };
    let body = html! {
        (context::bar(&signed.session, &here))
        (content)
    };
    (
        status,
        Html(page(&title, Some(&signed.session), Nav::Search, body).into_string()),
    )
        .into_response()
}

async fn report(
    state: &AppState,
    signed: &Signed,
    work: &WorkContext,
    id: &str,
    from: &From,
) -> (StatusCode, String, Markup) {
    let request = SearchRequest {
        q: query(from),
        filters: SearchFilters {
            report: Some(id.to_owned()),
            ..SearchFilters::default()
        },
        purpose: work.purpose.as_str().to_owned(),
        case: work.case.clone(),
        size: Some(1),
        ..SearchRequest::default()
    };
    let cited = state.backend.search(&signed.session.token, request).await;
    match cited.result {
        Ok(found) => match found.hits.first() {
            Some(hit) => {
                let title = hit.title.clone().unwrap_or_else(|| "Report".to_owned());
                (StatusCode::OK, title, view(hit, cited.audit_record))
            }
            None => (
                StatusCode::NOT_FOUND,
                "Not found".to_owned(),
                not_found(cited.audit_record),
            ),
        },
        // A malformed id is not a report either: the same answer as any other.
        Err(accord_runtime::ApiError::Unprocessable { .. }) => (
            StatusCode::NOT_FOUND,
            "Not found".to_owned(),
            not_found(cited.audit_record),
        ),
        Err(error) => (
            error.status(),
            "Report".to_owned(),
            html! {
                div.notice.error role="alert" { p { (errors::explain(&error)) } }
                (audit_note(cited.audit_record))
            },
        ),
    }
}

fn not_found(audit_record: Option<u64>) -> Markup {
    html! {
        h1 { "Not found" }
        p { "There is no report here that your agency may see for this purpose." }
        (audit_note(audit_record))
    }
}

fn view(hit: &Hit, audit_record: Option<u64>) -> Markup {
    html! {
        article {
            header {
                h1 { (hit.title.as_deref().unwrap_or("(title not released)")) }
                p { (tlp_badge(&hit.tlp)) " Occurred " (when(&hit.occurred_at)) " · reported by " (partner(&hit.partner)) }
            }
            dl {
                dt { "Report id" } dd { code { (hit.id) } }
                dt { "Categories" } dd { (hit.categories.join(", ")) }
                dt { "Sector" } dd { (hit.sector.as_deref().unwrap_or("not stated")) }
            }
            h2 { "Description" }
            @match &hit.description {
                Some(description) => p.narrative { (released_text(description)) },
                None => p { em { "The narrative of this report is not released to your agency." } },
            }
            @if let Some(ttps) = hit.ttps.as_ref().filter(|ttps| !ttps.is_empty()) {
                h2 { "ATT&CK techniques" }
                p { (ttps.join(", ")) }
            }
            h2 { "Indicators" }
            @if hit.indicators.is_empty() {
                p { em { "No indicator of this report is released to your agency." } }
            } @else {
                div.table-wrap { table {
                    caption.visually-hidden { "Released indicators" }
                    thead { tr { th scope="col" { "Indicator" } th scope="col" { "Type" } } }
                    tbody { @for item in &hit.indicators {
                        tr {
                            td.value {
                                @if item.value.contains('[') { (released_text(&item.value)) }
                                @else { a href=(indicator::href(&item.value)) { (item.value) } }
                            }
                            td { (item.kind) }
                        }
                    } }
                } }
            }
            @if let Some(victim) = &hit.victim {
                h2 { "Victim" }
                dl {
                    @for (label, value) in [("Name", &victim.name), ("E-mail", &victim.email), ("Phone", &victim.phone), ("Country", &victim.country), ("Sector", &victim.sector)] {
                        @if let Some(value) = value { dt { (label) } dd { (released_text(value)) } }
                    }
                }
            }
            footer { (audit_note(audit_record)) }
        }
    }
}
