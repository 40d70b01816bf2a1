//! "Look up" (investigators): one value ("Indicator", defanged input accepted) → its indicator page; or a pasted
//! list of up to 10 000 values → a table of hits (`POST /v1/indicators/lookup`, one audited request), exportable.

use accord_domain::Role;
use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::{
    AppState,
    docs::{Lookup, LookupRequest},
    extract::Signed,
    form::{Fields, admit},
    layout::{Nav, audit_note, csrf_field, page, when},
    pages::{context, errors, indicator},
};

/// The most values of a pasted list (as the API's default).
pub(crate) const MAX_VALUES: usize = 10_000;

/// `?value=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Single {
    value: Option<String>,
}

fn forms(signed: &Signed, value: &str, list: &str) -> Markup {
    html! {
        form method="get" action="/lookup" {
            label for="indicator" { "Indicator" }
            fieldset role="group" {
                input type="text" id="indicator" name="value" value=(value) required spellcheck="false"
                    autocomplete="off" placeholder="45.155.205[.]172, a hxxps URL, a hash";
                button type="submit" { "Look up" }
            }
        }
        details open[!list.is_empty()] {
            summary { "Check a pasted list" }
            form method="post" action="/lookup" {
                (csrf_field(&signed.session))
                label for="values" { "List of values (one per line, up to 10 000)" }
                textarea id="values" name="values" rows="8" spellcheck="false" { (list) }
                button type="submit" class="secondary" { "Check list" }
            }
        }
    }
}

/// `GET /lookup?value=`.
pub(crate) async fn single(
    State(state): State<AppState>,
    signed: Signed,
    Query(single): Query<Single>,
) -> Response {
    if let Err(refused) = signed.require(Role::Investigator) {
        return refused;
    }
    let value = single.value.unwrap_or_default();
    let value = value.trim();
    let here = if value.is_empty() {
        "/lookup".to_owned()
    } else {
        format!("/lookup?value={}", indicator::encode_segment(value))
    };
    let (status, result) = match (value.is_empty(), context::required(&signed.session)) {
        (true, _) => (StatusCode::OK, html! {}),
        (false, Err(notice)) => (StatusCode::OK, notice),
        (false, Ok(work)) => indicator::result(&state, &signed, work, value).await,
    };
    let body = html! {
        (context::bar(&signed.session, &here))
        @if value.is_empty() { h1 { "Look up" } }
        (forms(&signed, value, ""))
        (result)
    };
    (
        status,
        Html(page("Look up", Some(&signed.session), Nav::Lookup, body).into_string()),
    )
        .into_response()
}

/// Splits a pasted list into values: one per line, blanks dropped.
pub(crate) fn values_of(list: &str) -> Vec<String> {
    list.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /lookup`.
pub(crate) async fn batch(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = admit(&signed, Role::Investigator, &headers, &fields) {
        return refused;
    }
    let list = fields.get("values");
    let values = values_of(list);
    let (status, result) = match context::required(&signed.session) {
        Err(notice) => (StatusCode::OK, notice),
        Ok(_) if values.len() > MAX_VALUES => (
            StatusCode::UNPROCESSABLE_ENTITY,
            html! {
                div.notice.error role="alert" { p { "At most 10 000 values per list; this one has " (values.len()) "." } }
            },
        ),
        Ok(_) if values.is_empty() => (
            StatusCode::UNPROCESSABLE_ENTITY,
            html! {
                div.notice.error role="alert" { p { "Paste at least one value." } }
            },
        ),
        Ok(work) => {
            let request = LookupRequest {
                values: values.clone(),
                purpose: work.purpose.as_str().to_owned(),
                case: work.case.clone(),
                format: None,
            };
            let cited = state.backend.lookup(&signed.session.token, request).await;
            match &cited.result {
                Ok(found) => (
                    StatusCode::OK,
                    table(&signed, found, &values, cited.audit_record),
                ),
                Err(error) => (
                    error.status(),
                    html! {
                        div.notice.error role="alert" { p { (errors::explain(error)) } }
                        (audit_note(cited.audit_record))
                    },
                ),
            }
        }
    };
    let body = html! {
        (context::bar(&signed.session, "/lookup"))
        h1 { "Look up" }
        (forms(&signed, "", list))
        (result)
    };
    (
        status,
        Html(page("Look up", Some(&signed.session), Nav::Lookup, body).into_string()),
    )
        .into_response()
}

fn table(signed: &Signed, found: &Lookup, values: &[String], audit_record: Option<u64>) -> Markup {
    let hits: Vec<_> = found
        .results
        .iter()
        .filter_map(|result| result.found.as_ref().map(|found| (&result.value, found)))
        .collect();
    let missing: Vec<&str> = found
        .results
        .iter()
        .filter(|result| result.found.is_none())
        .map(|result| result.value.as_str())
        .collect();
    html! {
        section aria-labelledby="hits-heading" {
            h2 id="hits-heading" { (hits.len()) " of " (values.len()) " values found" }
            (audit_note(audit_record))
            @if !hits.is_empty() {
                form.actions method="post" action="/export/lookup" hx-boost="false" {
                    (csrf_field(&signed.session))
                    textarea name="values" hidden aria-hidden="true" { (values.join("\n")) }
                    "Export the reports found for the case file: "
                    button type="submit" name="format" value="stix" class="secondary outline" { "STIX 2.1 bundle" }
                    " "
                    button type="submit" name="format" value="csv" class="secondary outline" { "CSV" }
                }
                div.table-wrap { table {
                    caption.visually-hidden { "Values found in reports your agency may see" }
                    thead { tr {
                        th scope="col" { "Value" } th scope="col" { "Type" } th scope="col" { "Reports" }
                        th scope="col" { "First seen" } th scope="col" { "Last seen" } th scope="col" { "Partners" }
                    } }
                    tbody { @for (value, found) in &hits {
                        tr {
                            td.value { a href=(indicator::href(value)) { (value) } }
                            td { (found.kind) } td { (found.reports_total) }
                            td { (found.first_seen.as_deref().map(when).unwrap_or_default()) }
                            td { (found.last_seen.as_deref().map(when).unwrap_or_default()) }
                            td { (found.partners.len()) }
                        }
                    } }
                } }
            }
            @if !missing.is_empty() {
                details {
                    summary { "Not found: " (missing.len()) }
                    ul { @for value in missing.iter().take(MAX_VALUES) { li { code.value { (value) } } } }
                }
            }
        }
    }
}
