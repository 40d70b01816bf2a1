//! "Search" (investigators): the query language of `POST /v1/search` (free text, or `field:value` terms such as
//! `type:url`, `tlp:amber`, `category:phishing`, `indicator:…`), filters for indicator type, TLP, category and the
//! incident's date range, and paging — one audited request per page, its record shown. The result set is
//! exportable as it stands (STIX 2.1 bundle or CSV, `POST /v1/search/export`).
//!
//! A search is a `GET` with its parameters in the URL, so a result page can be bookmarked, reloaded and paged; it
//! changes nothing but the audit trail, and the session cookie is `SameSite=Strict`, so another site cannot make a
//! signed-in browser run one.

use accord_domain::{Role, vocabulary};
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    docs::{SearchFilters, SearchPage, SearchRequest},
    extract::Signed,
    layout::{Nav, audit_note, page, partner, released_text, tlp_badge, when},
    pages::{context, errors},
    session::WorkContext,
};

/// The indicator types a search can filter on (STIX names).
const TYPES: [&str; 8] = [
    "ipv4-addr",
    "ipv6-addr",
    "domain-name",
    "url",
    "email-addr",
    "file",
    "x509-certificate",
    "vulnerability",
];
const TLPS: [&str; 5] = ["clear", "green", "amber", "amber+strict", "red"];

/// The search page's parameters (and the export's).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(crate) struct SearchParams {
    #[serde(default)]
    pub(crate) q: String,
    #[serde(default, rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) tlp: String,
    #[serde(default)]
    pub(crate) category: String,
    #[serde(default)]
    pub(crate) from: String,
    #[serde(default)]
    pub(crate) to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cursor: Option<String>,
}

/// `YYYY-MM-DD` (a date field) → the start of that day, and the start of the next one for an inclusive end.
fn day_start(day: &str, next: bool) -> Option<String> {
    let date = chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").ok()?;
    let date = if next { date.succ_opt()? } else { date };
    Some(format!("{}T00:00:00Z", date.format("%Y-%m-%d")))
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

impl SearchParams {
    /// Returns whether the page asks for a search (anything filled in).
    fn asks(&self) -> bool {
        [
            &self.q,
            &self.kind,
            &self.tlp,
            &self.category,
            &self.from,
            &self.to,
        ]
        .iter()
        .any(|value| !value.trim().is_empty())
            || self.cursor.is_some()
    }

    /// Returns the `POST /v1/search` body of these parameters in a working context.
    pub(crate) fn request(&self, work: &WorkContext) -> SearchRequest {
        SearchRequest {
            q: self.q.trim().to_owned(),
            filters: SearchFilters {
                kind: non_empty(&self.kind),
                tlp: non_empty(&self.tlp),
                category: non_empty(&self.category),
                from: day_start(&self.from, false),
                to: day_start(&self.to, true),
                report: None,
            },
            purpose: work.purpose.as_str().to_owned(),
            case: work.case.clone(),
            size: Some(20),
            cursor: self.cursor.clone(),
            format: None,
            per_day: false,
        }
    }

    /// Returns the query string of these parameters with another cursor (`None`: the first page).
    fn query_string(&self, cursor: Option<&str>) -> String {
        let mut params = self.clone();
        params.cursor = cursor.map(str::to_owned);
        serde_urlencoded_pairs(&params)
    }
}

/// Encodes the parameters as a query string (`application/x-www-form-urlencoded`).
fn serde_urlencoded_pairs(params: &SearchParams) -> String {
    let mut pairs = vec![
        ("q", params.q.as_str()),
        ("type", params.kind.as_str()),
        ("tlp", params.tlp.as_str()),
        ("category", params.category.as_str()),
        ("from", params.from.as_str()),
        ("to", params.to.as_str()),
    ];
    if let Some(cursor) = &params.cursor {
        pairs.push(("cursor", cursor.as_str()));
    }
    pairs
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", form_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn form_encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b' ' => out.push('+'),
            byte if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') => {
                out.push(byte as char)
            }
            byte => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn select(id: &str, label: &str, options: &[&str], chosen: &str) -> Markup {
    html! {
        div {
            label for=(id) { (label) }
            select id=(id) name=(id) {
                option value="" { "any" }
                @for option in options { option value=(option) selected[*option == chosen] { (option) } }
            }
        }
    }
}

fn search_form(params: &SearchParams) -> Markup {
    let categories: Vec<&str> = vocabulary::CATEGORIES
        .iter()
        .map(|term| term.name)
        .collect();
    html! {
        form method="get" action="/search" {
            label for="q" { "Search" }
            fieldset role="group" {
                input type="search" id="q" name="q" value=(params.q) spellcheck="false" aria-describedby="q-help"
                    placeholder="free text, or type:url tlp:amber category:phishing indicator:…";
                button type="submit" { "Search" }
            }
            small id="q-help" { "Free text over titles and descriptions, or field:value terms as in the API." }
            div.filters {
                (select("type", "Type", &TYPES, &params.kind))
                (select("tlp", "TLP", &TLPS, &params.tlp))
                (select("category", "Category", &categories, &params.category))
                div { label for="from" { "Occurred from" } input type="date" id="from" name="from" value=(params.from); }
                div { label for="to" { "Occurred until" } input type="date" id="to" name="to" value=(params.to); }
            }
        }
    }
}

/// `GET /search`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<SearchParams>,
) -> Response {
    if let Err(refused) = signed.require(Role::Investigator) {
        return refused;
    }
    let here = format!("/search?{}", params.query_string(params.cursor.as_deref()));
    let (status, results) = match (params.asks(), context::required(&signed.session)) {
        (false, _) => (StatusCode::OK, html! {}),
        (true, Err(notice)) => (StatusCode::OK, notice),
        (true, Ok(work)) => {
            let cited = state
                .backend
                .search(&signed.session.token, params.request(work))
                .await;
            match &cited.result {
                Ok(found) => (StatusCode::OK, results(&params, found, cited.audit_record)),
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
        (context::bar(&signed.session, &here))
        h1 { "Search" }
        (search_form(&params))
        (results)
    };
    (
        status,
        Html(page("Search", Some(&signed.session), Nav::Search, body).into_string()),
    )
        .into_response()
}

fn results(params: &SearchParams, found: &SearchPage, audit_record: Option<u64>) -> Markup {
    let export = |format: &str| {
        format!(
            "/export/search?format={format}&{}",
            params.query_string(None)
        )
    };
    html! {
        section aria-labelledby="results-heading" {
            h2 id="results-heading" {
                (found.total) @if found.total == 1 { " released report matches" } @else { " released reports match" }
            }
            (audit_note(audit_record))
            @if found.total > 0 {
                p {
                    "Export the whole result set for the case file: "
                    a href=(export("stix")) hx-boost="false" download { "STIX 2.1 bundle" } " · "
                    a href=(export("csv")) hx-boost="false" download { "CSV" }
                }
            }
            @for hit in &found.hits {
                article {
                    header {
                        a href=(format!("/released/{}", hit.id)) { strong { (hit.title.as_deref().unwrap_or("(title not released)")) } }
                        " " (tlp_badge(&hit.tlp))
                    }
                    p { small { (when(&hit.occurred_at)) " · " (partner(&hit.partner)) " · " (hit.categories.join(", "))
                        @if let Some(sector) = &hit.sector { " · " (sector) } " · " (hit.indicators.len()) " indicators" } }
                    @if let Some(description) = &hit.description {
                        p.narrative { (released_text(&description.chars().take(300).collect::<String>())) @if description.chars().count() > 300 { "…" } }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if params.cursor.is_some() { a href=(format!("/search?{}", params.query_string(None))) { "First page" } }
                @if let Some(next) = &found.next { a href=(format!("/search?{}", params.query_string(Some(next)))) { "Next page" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_become_a_half_open_range_and_parameters_round_trip() {
        assert_eq!(
            day_start("2026-11-20", false).as_deref(),
            Some("2026-11-20T00:00:00Z")
        );
        assert_eq!(
            day_start("2026-11-30", true).as_deref(),
            Some("2026-12-01T00:00:00Z")
        );
        assert_eq!(day_start("soon", false), None);
        let params = SearchParams {
            q: "evil & co".into(),
            tlp: "amber+strict".into(),
            ..SearchParams::default()
        };
        assert_eq!(
            params.query_string(Some("abc")),
            "q=evil+%26+co&tlp=amber%2Bstrict&cursor=abc"
        );
    }
}
