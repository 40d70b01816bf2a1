//! The indicator page (investigators): every released report that contains the value, when it was first and last
//! seen, how many distinct partners reported it among what the agency may see, and the related indicators of those
//! reports — one `GET /v1/indicators/{value}?include=indicators`, audited, its record shown. A value nobody
//! reported and a value only other agencies may see give the same "not found".

use std::collections::BTreeMap;

use accord_domain::Role;
use accord_runtime::ApiError;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};

use crate::{
    AppState,
    backend::Cited,
    docs::IndicatorMatch,
    extract::Signed,
    layout::{Nav, audit_note, csrf_field, page, partner, tlp_badge, when},
    pages::{context, errors},
    session::WorkContext,
};

/// Returns the path of a value's indicator page (a lone `.` or `..` would be read as a dot-segment: those go through
/// the lookup form's query instead).
pub(crate) fn href(value: &str) -> String {
    if value.chars().all(|c| c == '.') {
        return format!("/lookup?value={}", encode_segment(value));
    }
    format!("/indicators/{}", encode_segment(value))
}

/// Percent-encodes a path segment (every byte but unreserved characters).
pub(crate) fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `GET /indicators/{value}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(value): Path<String>,
) -> Response {
    if let Err(refused) = signed.require(Role::Investigator) {
        return refused;
    }
    let back = href(&value);
    let (status, result) = match context::required(&signed.session) {
        Err(notice) => (StatusCode::OK, notice),
        Ok(work) => result(&state, &signed, work, &value).await,
    };
    let body = html! {
        (context::bar(&signed.session, &back))
        (result)
    };
    (
        status,
        Html(page("Indicator", Some(&signed.session), Nav::Lookup, body).into_string()),
    )
        .into_response()
}

/// Looks up `value` in the working context and renders the answer (or "not found").
pub(crate) async fn result(
    state: &AppState,
    signed: &Signed,
    work: &WorkContext,
    value: &str,
) -> (StatusCode, Markup) {
    let cited: Cited<IndicatorMatch> = state
        .backend
        .indicator(
            &signed.session.token,
            work.purpose.as_str(),
            &work.case,
            value,
        )
        .await;
    match cited.result {
        Ok(found) => (
            StatusCode::OK,
            found_markup(signed, &found, cited.audit_record),
        ),
        Err(ApiError::NotFound) => (
            StatusCode::NOT_FOUND,
            html! {
                section aria-labelledby="result-heading" {
                    h1 id="result-heading" { "Not found" }
                    p { "No report your agency may see for " (work.purpose.as_str()) " contains " code.value { (value) } "." }
                    (audit_note(cited.audit_record))
                }
            },
        ),
        Err(error) => (
            error.status(),
            html! {
                div.notice.error role="alert" { p { (errors::explain(&error)) } }
                (audit_note(cited.audit_record))
            },
        ),
    }
}

/// The related indicators of the reports: every other indicator, with the number of reports it shares.
fn related(found: &IndicatorMatch) -> Vec<((String, String), usize)> {
    let mut related: BTreeMap<(String, String), usize> = BTreeMap::new();
    for report in &found.reports {
        for indicator in report.indicators.iter().flatten() {
            if indicator.kind == found.kind && indicator.value == found.value {
                continue;
            }
            *related
                .entry((indicator.kind.clone(), indicator.value.clone()))
                .or_default() += 1;
        }
    }
    let mut related: Vec<_> = related.into_iter().collect();
    related.sort_by(|left, right| right.1.cmp(&left.1).then_with(|| left.0.cmp(&right.0)));
    related
}

fn found_markup(signed: &Signed, found: &IndicatorMatch, audit_record: Option<u64>) -> Markup {
    let related = related(found);
    html! {
        section aria-labelledby="result-heading" {
            h1 id="result-heading" { "Indicator " code.value { (found.value) } }
            p { "Type: " (found.kind) }
            div.figures {
                p.figure { span.number { (found.reports_total) } "released reports contain it" }
                p.figure { span.number { (found.sightings) } "sightings reported by agencies in these reports" }
                p.figure { span.number { (found.partners.len()) } "distinct partners (anonymous ones counted as one)" }
                p.figure { span.number.date { (found.first_seen.as_deref().map(when).unwrap_or_default()) } "first seen" }
                p.figure { span.number.date { (found.last_seen.as_deref().map(when).unwrap_or_default()) } "last seen" }
            }
            (audit_note(audit_record))
            (export_form(signed, &found.value))
            h2 { "Reports" }
            div.table-wrap { table {
                caption.visually-hidden { "Released reports that contain the indicator, newest first" }
                thead { tr { th scope="col" { "Report" } th scope="col" { "TLP" } th scope="col" { "Occurred" } th scope="col" { "Partner" } th scope="col" { "Categories" } } }
                tbody {
                    @for report in &found.reports {
                        tr {
                            td { a href=(format!("/released/{}?type={}&indicator={}", report.id, encode_segment(&found.kind), encode_segment(&found.value))) {
                                (report.title.as_deref().unwrap_or("(title not released)")) } }
                            td { (tlp_badge(&report.tlp)) }
                            td { (when(&report.occurred_at)) }
                            td { (partner(&report.partner)) }
                            td { (report.categories.join(", ")) }
                        }
                    }
                }
            } }
            @if found.reports_total > found.reports.len() as u64 {
                p { small { "The " (found.reports.len()) " newest of " (found.reports_total) " reports are listed." } }
            }
            h2 { "Related indicators" }
            @if related.is_empty() {
                p { "These reports release no other indicator." }
            } @else {
                div.table-wrap { table {
                    caption.visually-hidden { "Other indicators of the same reports" }
                    thead { tr { th scope="col" { "Indicator" } th scope="col" { "Type" } th scope="col" { "Reports in common" } } }
                    tbody { @for ((kind, value), count) in &related {
                        tr { td.value { a href=(href(value)) { (value) } } td { (kind) } td { (count) } }
                    } }
                } }
            }
        }
    }
}

/// The export of the indicator's reports (the lookup export of this one value).
fn export_form(signed: &Signed, value: &str) -> Markup {
    html! {
        form.actions method="post" action="/export/lookup" hx-boost="false" {
            (csrf_field(&signed.session))
            input type="hidden" name="values" value=(value);
            "Export these reports for the case file: "
            button type="submit" name="format" value="stix" class="secondary outline" { "STIX 2.1 bundle" }
            " "
            button type="submit" name="format" value="csv" class="secondary outline" { "CSV" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encoded_as_one_path_segment() {
        assert_eq!(encode_segment("45.155.205.172"), "45.155.205.172");
        assert_eq!(
            encode_segment("https://a.example/x?y=1"),
            "https%3A%2F%2Fa.example%2Fx%3Fy%3D1"
        );
        assert_eq!(href("../admin"), "/indicators/..%2Fadmin");
        assert_eq!(href(".."), "/lookup?value=..");
    }
}
