//! A report's page for coordinators (`/explain/reports/{id}`): who can see this report now, agency by agency, and
//! "can agency X see this report?" with the decision, the MoU that grants it or each MoU's reason for not granting
//! it, and the redactions applied. Every decision is `GET /v1/explain` — the enforcer's own explanation, the one
//! path the agency page and "Explain a release" take too ([`super::explain`]); the page holds no policy of its own.

use accord_domain::Role;
use accord_runtime::ApiError;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::{
    AppState,
    docs::{Explanation, Organization},
    extract::Signed,
    form::FieldErrors,
    layout::{Nav, error_summary, page},
    pages::{controls::select, errors, explain},
};

/// Agencies listed with their decision at most (the directory's first ones by id); more are asked one at a time.
const MAX_AGENCIES: usize = 200;

/// `?agency=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    agency: Option<String>,
}

/// The path of a report's page.
pub(crate) fn path(report: &str) -> String {
    format!("/explain/reports/{}", urlencode(report))
}

/// Percent-encodes a path segment or query value.
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

fn ask(report: &str, agency: &str, agencies: &[Organization], errors: &FieldErrors) -> Markup {
    let options: Vec<(String, String)> = agencies
        .iter()
        .map(|org| (org.id.clone(), format!("{} ({})", org.name, org.id)))
        .collect();
    let options: Vec<(&str, &str)> = options
        .iter()
        .map(|(id, label)| (id.as_str(), label.as_str()))
        .collect();
    html! {
        form method="get" action=(path(report)) aria-label="Can an agency see this report?" {
            (select(errors, "agency", "Agency", &options, agency))
            button type="submit" { "Explain" }
        }
    }
}

fn table(report: &str, decisions: &[(Organization, Explanation)]) -> Markup {
    html! {
        div.table-wrap { table {
            caption.visually-hidden { "Each agency's decision for this report" }
            thead { tr { th scope="col" { "Agency" } th scope="col" { "Decision" } th scope="col" { "Granted by" } th scope="col" { "Why" } } }
            tbody { @for (org, explanation) in decisions { tr {
                td { (org.name) " " code { (org.id) } }
                td { @if explanation.visible { strong { "Visible" } } @else { "Not visible" } }
                td { @if let Some(mou) = &explanation.mou { a href=(format!("/mous/{}", urlencode(mou))) { (mou) } } @else { "—" } }
                td { a href=(format!("{}?agency={}#decision", path(report), urlencode(&org.id))) aria-label=(format!("Why for {}", org.id)) { "Why" } }
            } } }
        } }
    }
}

/// `GET /explain/reports/{id}?agency=`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(report): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    let token = &signed.session.token;
    let agencies = match super::explain::agencies(&state, &signed).await {
        Ok(agencies) => agencies,
        Err(refused) => return refused,
    };
    let mut decisions = Vec::new();
    for org in agencies.iter().take(MAX_AGENCIES) {
        match state.backend.explain(token, &report, &org.id).await {
            Ok(explanation) => decisions.push((org.clone(), explanation)),
            // An unknown report is "not found", like every page of something that is not there.
            Err(ApiError::NotFound) => return errors::not_found(Some(&signed.session)),
            Err(error) => return errors::problem(Some(&signed.session), &error),
        }
    }
    let agency = params.agency.as_deref().unwrap_or_default().trim();
    let mut field_errors = FieldErrors::default();
    let (asked, status) = if agency.is_empty() {
        (None, StatusCode::OK)
    } else {
        match state.backend.explain(token, &report, agency).await {
            Ok(explanation) => (Some(explanation), StatusCode::OK),
            Err(ApiError::NotFound) => return errors::not_found(Some(&signed.session)),
            Err(error @ ApiError::BadRequest { .. }) => {
                field_errors.add(Some("agency"), errors::explain(&error));
                (None, error.status())
            }
            Err(error) => return errors::problem(Some(&signed.session), &error),
        }
    };
    let visible = decisions
        .iter()
        .filter(|(_, explanation)| explanation.visible)
        .count();
    let body = html! {
        p { a href="/explain" { "Explain a release" } }
        h1 { "Report " code { (report) } }
        p { "Who can see this report now: " strong { (visible) } " of " (decisions.len()) " agencies." }
        (error_summary("Nothing could be explained.", &field_errors, &[("agency", "Agency")]))
        section aria-labelledby="ask" {
            h2 id="ask" { "Can an agency see this report?" }
            (ask(&report, agency, &agencies, &field_errors))
            @if let Some(explanation) = &asked { (explain::answer(explanation, &report, agency)) }
        }
        section aria-labelledby="agencies" {
            h2 id="agencies" { "Every agency" }
            (table(&report, &decisions))
            @if agencies.len() > MAX_AGENCIES { p { small { "The first " (MAX_AGENCIES) " agencies; ask about any other one above." } } }
        }
    };
    let title = format!("Report {report}");
    (
        status,
        Html(page(&title, Some(&signed.session), Nav::Mous, body).into_string()),
    )
        .into_response()
}
