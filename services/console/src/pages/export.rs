//! Exports for the case file (investigators): a search's whole result set (`GET /export/search`, the search page's
//! parameters) or the reports a pasted list finds (`POST /export/lookup`), as a STIX 2.1 bundle or as CSV — through
//! `POST /v1/search/export` and `POST /v1/indicators/lookup/export`, audited like any read. The file is named after
//! the case and the time; its media type is fixed here by format (never taken from elsewhere), and it is always an
//! attachment.

use accord_domain::Role;
use axum::{
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use maud::html;

use crate::{
    AppState,
    backend::{Cited, ExportRequest},
    docs::{ExportFile, LookupRequest},
    extract::Signed,
    form::{Fields, admit},
    layout::{Nav, audit_note, page},
    pages::{
        context, errors,
        lookup::{MAX_VALUES, values_of},
        search::SearchParams,
    },
    session::WorkContext,
};

/// `?format=` (and the search page's parameters).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Format {
    #[serde(default)]
    format: String,
    #[serde(flatten)]
    search: SearchParams,
}

fn format_of(format: &str) -> Option<&'static str> {
    match format {
        "stix" => Some("stix"),
        "csv" => Some("csv"),
        _ => None,
    }
}

/// `GET /export/search?format=&q=&…`.
pub(crate) async fn search(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<Format>,
) -> Response {
    if let Err(refused) = signed.require(Role::Investigator) {
        return refused;
    }
    let Some(format) = format_of(&params.format) else {
        return errors::not_found(Some(&signed.session));
    };
    let Some(work) = signed.session.context.clone() else {
        return no_context(&signed);
    };
    let mut request = params.search.request(&work);
    request.size = None;
    request.cursor = None;
    request.format = Some(format.to_owned());
    let cited = state
        .backend
        .export(&signed.session.token, ExportRequest::Search(request))
        .await;
    answer(&signed, &work, format, cited)
}

/// `POST /export/lookup` (`values`, `format`).
pub(crate) async fn lookup(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = admit(&signed, Role::Investigator, &headers, &fields) {
        return refused;
    }
    let Some(format) = format_of(fields.get("format")) else {
        return errors::not_found(Some(&signed.session));
    };
    let Some(work) = signed.session.context.clone() else {
        return no_context(&signed);
    };
    let values = values_of(fields.get("values"));
    if values.is_empty() || values.len() > MAX_VALUES {
        return errors::page_status(
            Some(&signed.session),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Nothing to export",
            "An export takes between 1 and 10 000 values.",
        );
    }
    let request = LookupRequest {
        values,
        purpose: work.purpose.as_str().to_owned(),
        case: work.case.clone(),
        format: Some(format.to_owned()),
    };
    let cited = state
        .backend
        .export(&signed.session.token, ExportRequest::Lookup(request))
        .await;
    answer(&signed, &work, format, cited)
}

fn no_context(signed: &Signed) -> Response {
    let body = html! {
        (context::bar(&signed.session, "/search"))
        h1 { "Export" }
        p { "Set your purpose and case reference first: an export is recorded in the audit trail with them." }
    };
    Html(page("Export", Some(&signed.session), Nav::Search, body).into_string()).into_response()
}

/// Returns a file name safe in a header: `accord-<case>-<UTC time>.<extension>`.
fn file_name(case: &str, extension: &str) -> String {
    let case: String = case
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    let at = chrono::Utc::now().format("%Y%m%dT%H%MZ");
    format!("accord-{case}-{at}.{extension}")
}

fn answer(signed: &Signed, work: &WorkContext, format: &str, cited: Cited<ExportFile>) -> Response {
    match cited.result {
        Ok(file) => {
            let (media_type, extension) = match format {
                "csv" => ("text/csv; charset=utf-8", "csv"),
                _ => ("application/stix+json;version=2.1", "stix.json"),
            };
            let mut response = file.body.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
            let disposition = format!(
                "attachment; filename=\"{}\"",
                file_name(&work.case, extension)
            );
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            if let Some(seq) = cited.audit_record
                && let Ok(value) = HeaderValue::from_str(&seq.to_string())
            {
                headers.insert("x-accord-audit-record", value);
            }
            response
        }
        Err(error) => {
            let body = html! {
                h1 { "The export was not made" }
                div.notice.error role="alert" { p { (errors::explain(&error)) } }
                (audit_note(cited.audit_record))
                p { a href="/search" { "Back to the search" } }
            };
            let page = page("Export", Some(&signed.session), Nav::Search, body);
            (error.status(), Html(page.into_string())).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_only_safe_characters() {
        let name = file_name("CASE 1/\"x\"\r\n", "csv");
        assert!(name.starts_with("accord-CASE-1--x----"), "{name}");
        assert!(name.ends_with(".csv"));
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
    }
}
