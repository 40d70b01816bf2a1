//! "Explain" (coordinators): can agency X see report R now? The decision, the MoU that grants it (or each MoU's
//! reason for not granting it) and the redactions of the view — `GET /v1/explain`, the enforcer's own explanation.
//! Reached from an agency's page (its id filled in), from the MoUs page, and on a report's page
//! ([`super::report_access`], every agency's decision for one report).

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
    docs::{Explanation, Organization},
    extract::Signed,
    form::FieldErrors,
    layout::{Nav, error_summary, page},
    pages::{
        controls::{errors_on, select, text},
        errors,
    },
};

/// `?report=&agency=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    report: Option<String>,
    agency: Option<String>,
}

/// The form asking about one report and one agency (the agency fixed when `agencies` is empty).
pub(crate) fn form(
    report: &str,
    agency: &str,
    agencies: &[Organization],
    errors: &FieldErrors,
) -> Markup {
    let options: Vec<(String, String)> = agencies
        .iter()
        .map(|org| (org.id.clone(), format!("{} ({})", org.name, org.id)))
        .collect();
    let options: Vec<(&str, &str)> = options
        .iter()
        .map(|(id, label)| (id.as_str(), label.as_str()))
        .collect();
    html! {
        form method="get" action="/explain" aria-label="Explain a release" {
            div.grid {
                div { (text(errors, "report", "Report id", report, true)) }
                div {
                    @if agencies.is_empty() {
                        input type="hidden" name="agency" value=(agency);
                    } @else {
                        (select(errors, "agency", "Agency", &options, agency))
                    }
                }
            }
            button type="submit" { "Explain" }
        }
    }
}

/// The answer for one report and one agency (also on the report's page, [`super::report_access`]).
pub(crate) fn answer(explanation: &Explanation, report: &str, agency: &str) -> Markup {
    html! {
        section aria-labelledby="decision" {
            @if explanation.visible {
                h2 id="decision" { "Visible" }
                p { code { (agency) } " can see report " code { (report) } " now"
                    @if let Some(mou) = &explanation.mou { ", as MoU " a href=(format!("/mous/{mou}")) { (mou) } " releases it" } "." }
            } @else {
                h2 id="decision" { "Not visible" }
                p { code { (agency) } " cannot see report " code { (report) } " now." }
            }
            h3 { "Why" }
            ul { @for reason in &explanation.reasons { li { (reason) } } }
            @if explanation.visible {
                h3 { "Redactions" }
                @if explanation.redactions.is_empty() { p { "Nothing is withheld or altered." } }
                @else { ul { @for redaction in &explanation.redactions { li { (redaction) } } } }
            }
        }
    }
}

/// The directory's agencies, for the explain forms (the page's problem response when they cannot be read).
pub(crate) async fn agencies(
    state: &AppState,
    signed: &Signed,
) -> Result<Vec<Organization>, Response> {
    match state
        .backend
        .organizations(&signed.session.token, None)
        .await
    {
        Ok(list) => Ok(list
            .organizations
            .into_iter()
            .filter(|org| org.kind == "agency")
            .collect()),
        Err(error) => Err(errors::problem(Some(&signed.session), &error)),
    }
}

/// `GET /explain?report=&agency=`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    let token = &signed.session.token;
    let agencies = match agencies(&state, &signed).await {
        Ok(agencies) => agencies,
        Err(refused) => return refused,
    };
    let report = params.report.as_deref().unwrap_or_default().trim();
    let agency = params.agency.as_deref().unwrap_or_default().trim();
    let (result, errors, status) = if report.is_empty() || agency.is_empty() {
        (None, FieldErrors::default(), StatusCode::OK)
    } else {
        match state.backend.explain(token, report, agency).await {
            Ok(explanation) => (Some(explanation), FieldErrors::default(), StatusCode::OK),
            Err(ApiError::NotFound) => {
                let mut errors = FieldErrors::default();
                errors.add(Some("report"), "No stored report has this id.");
                (None, errors, StatusCode::NOT_FOUND)
            }
            Err(error @ ApiError::BadRequest { .. }) => (
                None,
                errors_on(&error, &["report", "agency"]),
                error.status(),
            ),
            Err(error) => return errors::problem(Some(&signed.session), &error),
        }
    };
    let body = html! {
        p { a href="/mous" { "MoUs" } }
        h1 { "Explain a release" }
        p { "Can an agency see a report now? The decision, the MoU that grants it or each MoU's reason for not granting it, and the redactions applied." }
        (error_summary("Nothing could be explained.", &errors, &[("report", "Report id"), ("agency", "Agency")]))
        (form(report, agency, &agencies, &errors))
        @if let Some(explanation) = &result {
            (answer(explanation, report, agency))
            p { a href=(super::report_access::path(report)) { "Every agency for this report" } }
        }
    };
    (
        status,
        Html(page("Explain a release", Some(&signed.session), Nav::Mous, body).into_string()),
    )
        .into_response()
}
