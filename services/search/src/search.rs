//! `POST /v1/search`: free text or `field:value` terms, filters, paging with an opaque cursor.
//!
//! Filters: `type`, `tlp`, `sector`, `partner`, `from`, `to` (the index's), `report` (one report's released view)
//! and `category` (kept by search over re-checked hits: the index does not store categories, decision 0027). The same
//! fields can be written as `field:value` terms in `q`.

use std::collections::BTreeSet;

use accord_domain::{ObservableType, ReportId, Timestamp, Tlp, View, observable, vocabulary};
use accord_index::{Filters, IndexClient, IndicatorKey, IndicatorMatch, Query};
use accord_runtime::{ApiError, Principal, json};
use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    AppState, Config,
    indicators::body_field,
    limits,
    released::{Outcome, Unaudited},
    request::{Audited, Context, PurposeAndCase, context, finish, indicator_list},
    visible,
};

/// One or many values of a filter.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn values(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(value) => vec![value.as_str()],
            OneOrMany::Many(values) => values.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FiltersIn {
    #[serde(rename = "type")]
    kind: Option<OneOrMany>,
    tlp: Option<OneOrMany>,
    sector: Option<String>,
    partner: Option<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    report: Option<String>,
    category: Option<OneOrMany>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchRequest {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    filters: Option<FiltersIn>,
    #[serde(default)]
    size: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
    /// Also count the re-checked reports per UTC day of incident over `filters.from` .. `filters.to` (or now).
    #[serde(default)]
    per_day: bool,
}

pub(crate) fn parse_filters(filters: Option<FiltersIn>) -> Result<Filters, ApiError> {
    let Some(filters) = filters else {
        return Ok(Filters::default());
    };
    let mut out = Filters::default();
    if let Some(kinds) = &filters.kind {
        for (index, kind) in kinds.values().into_iter().enumerate() {
            let kind: ObservableType =
                kind.parse().map_err(|error: observable::ObservableError| {
                    ApiError::invalid_field(&format!("/filters/type/{index}"), error.to_string())
                })?;
            out.types.insert(kind);
        }
    }
    if let Some(tlps) = &filters.tlp {
        for (index, tlp) in tlps.values().into_iter().enumerate() {
            let tlp: Tlp = tlp
                .parse()
                .map_err(|error: accord_domain::tlp::UnknownTlp| {
                    ApiError::invalid_field(&format!("/filters/tlp/{index}"), error.to_string())
                })?;
            out.tlp.insert(tlp);
        }
    }
    out.sector = filters
        .sector
        .map(|sector| sector.trim().to_ascii_lowercase());
    out.partner = filters.partner.map(|partner| partner.trim().to_owned());
    out.from = filters.from;
    out.to = filters.to;
    if let Some(report) = &filters.report {
        let report = ReportId::parse(report.trim()).map_err(|error| {
            ApiError::invalid_field("/filters/report", format!("not a report id: {error}"))
        })?;
        out.report = Some(report);
    }
    Ok(out)
}

/// Returns the canonical categories of `filters.category` (taken out of it), each from the vocabulary.
fn take_categories(filters: &mut Option<FiltersIn>) -> Result<BTreeSet<String>, ApiError> {
    let Some(wanted) = filters.as_mut().and_then(|filters| filters.category.take()) else {
        return Ok(BTreeSet::new());
    };
    let mut categories = BTreeSet::new();
    for (index, category) in wanted.values().into_iter().enumerate() {
        categories.insert(canonical_category(
            category,
            &format!("/filters/category/{index}"),
        )?);
    }
    Ok(categories)
}

/// Returns the canonical form of a category, or a 422 at `pointer` listing the vocabulary.
fn canonical_category(category: &str, pointer: &str) -> Result<String, ApiError> {
    vocabulary::category(category)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::invalid_field(
                pointer,
                format!(
                    "not a known category; allowed: {}",
                    vocabulary::category_names().join(", ")
                ),
            )
        })
}

/// Takes the `category:` terms out of `q` (canonical, into `categories`) and returns the rest of it.
fn take_category_terms(q: &str, categories: &mut BTreeSet<String>) -> Result<String, ApiError> {
    let mut rest = Vec::new();
    for token in q.split_whitespace() {
        match token.split_once(':') {
            Some(("category", value)) => {
                categories.insert(canonical_category(value, "/q")?);
            }
            _ => rest.push(token),
        }
    }
    Ok(rest.join(" "))
}

/// Splits `q` into `field:value` terms and free text; a `q` that is one indicator becomes an exact match.
///
/// An `indicator:` (or `value:`) term is read as the one type the filters name (`type:` terms and `filters.type`),
/// when they name exactly one, else by detection: file names and certificate serials are never detected, so
/// `type:file indicator:invoice.exe` and `type:x509-certificate indicator:36:f7:d4:32` are how they are looked up.
pub(crate) fn parse_q(
    q: &str,
    filters: &mut Filters,
) -> Result<(Option<IndicatorMatch>, Option<String>), ApiError> {
    let mut text = Vec::new();
    let mut indicator = None;
    let mut looked_up = None;
    for token in q.split_whitespace() {
        let Some((field, value)) = token.split_once(':') else {
            text.push(token);
            continue;
        };
        match field {
            "type" => {
                let kind = value
                    .parse()
                    .map_err(|error: observable::ObservableError| {
                        ApiError::invalid_field("/q", error.to_string())
                    })?;
                filters.types.insert(kind);
            }
            "tlp" => {
                let tlp = value
                    .parse()
                    .map_err(|error: accord_domain::tlp::UnknownTlp| {
                        ApiError::invalid_field("/q", error.to_string())
                    })?;
                filters.tlp.insert(tlp);
            }
            "sector" => filters.sector = Some(value.to_ascii_lowercase()),
            "partner" => filters.partner = Some(value.to_owned()),
            "report" => {
                let report = ReportId::parse(value).map_err(|error| {
                    ApiError::invalid_field("/q", format!("`report:` takes a report id: {error}"))
                })?;
                filters.report = Some(report);
            }
            // The last one wins, as before; read once every `type:` term is known.
            "indicator" | "value" => looked_up = Some(value),
            _ => text.push(token),
        }
    }
    if let Some(value) = looked_up {
        let declared = match filters.types.len() {
            1 => filters.types.first().copied(),
            _ => None,
        };
        let (kind, value) = observable::canonicalize(declared, value)
            .map_err(|error| ApiError::invalid_field("/q", error.to_string()))?;
        // Only an IP lookup matches the CIDR blocks that contain it (a file may be named `1.2.3.4`).
        let is_ip = matches!(kind, ObservableType::Ipv4Addr | ObservableType::Ipv6Addr);
        let ip = value.parse().ok().filter(|_| is_ip);
        indicator = Some(IndicatorMatch {
            key: IndicatorKey { kind, value },
            ip,
        });
    }
    let text = text.join(" ");
    if indicator.is_none()
        && !text.is_empty()
        && !text.contains(' ')
        && let Ok((kind, value)) = observable::canonicalize(None, &text)
    {
        let ip = value.parse().ok();
        return Ok((
            Some(IndicatorMatch {
                key: IndicatorKey { kind, value },
                ip,
            }),
            None,
        ));
    }
    Ok((indicator, (!text.is_empty()).then_some(text)))
}

fn decode_cursor(cursor: Option<&str>) -> Result<usize, ApiError> {
    let Some(cursor) = cursor else { return Ok(0) };
    let invalid = || ApiError::bad_field("/cursor", "not a cursor returned by this endpoint");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix("o:")
        .and_then(|offset| offset.parse().ok())
        .ok_or_else(invalid)
}

fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

/// Renders a hit: everything its view releases.
pub(crate) fn render_hit(view: &View) -> Value {
    let content = &view.content;
    let indicators = indicator_list(view);
    let mut hit = json!({
        "id": view.report_id,
        "title": content.title,
        "tlp": content.tlp,
        "occurred_at": content.occurred_at,
        "partner": content.partner,
        "categories": content.categories,
        "sector": content.sector,
        "indicators": indicators,
    });
    if let Value::Object(map) = &mut hit {
        if let Some(description) = &content.description {
            map.insert("description".to_owned(), json!(description));
        }
        if let Some(ttps) = &content.ttps {
            map.insert("ttps".to_owned(), json!(ttps));
        }
        if let Some(victim) = &content.victim {
            map.insert("victim".to_owned(), json!(victim));
        }
    }
    hit
}

/// `POST /v1/search`.
pub(crate) async fn post_search(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let media = json::require_json(&headers);
    audited_search(&state, principal.as_ref().ok(), &body, media)
        .await
        .map(Json)
        .into_response()
}

/// Returns what is audited of a search-like request: its stated purpose and case (under the caller's token: a
/// case-bound token supplies them, see [`PurposeAndCase::of`]), and the body without them, `q` cut at the limit.
pub(crate) fn search_audited(
    endpoint: &'static str,
    principal: Option<&Principal>,
    body: &[u8],
    config: &Config,
) -> Audited {
    let parsed = json::parse_value(body);
    let mut query_audit =
        limits::audited_query(parsed.as_ref().cloned().unwrap_or(Value::Null), config);
    if let Value::Object(map) = &mut query_audit {
        map.remove("purpose");
        map.remove("case");
    }
    Audited {
        endpoint,
        stated: PurposeAndCase::of(
            principal,
            body_field(&parsed, "purpose").as_deref(),
            body_field(&parsed, "case").as_deref(),
        ),
        query: query_audit,
    }
}

/// Searches for an investigator (`principal`: `None` when no valid token was presented): the whole of
/// `POST /v1/search` with `body` as its request body, its audit record included. The HTTP handler and the web
/// console call this.
pub async fn search(
    state: &AppState,
    principal: Option<&Principal>,
    body: &[u8],
) -> Outcome<Value, ApiError> {
    audited_search(state, principal, body, Ok(())).await
}

/// [`search`], after `media`: the check of the request's `Content-Type` (415), audited like any refusal once the
/// caller is known (an unauthenticated request is 401 first).
async fn audited_search(
    state: &AppState,
    principal: Option<&Principal>,
    body: &[u8],
    media: Result<(), ApiError>,
) -> Outcome<Value, ApiError> {
    let audited = search_audited("POST /v1/search", principal, body, &state.config);
    let outcome = async {
        let ctx = context(state, principal, &audited)?;
        media?;
        run_search(&state.deps.index, &state.config, &ctx, body).await
    }
    .await;
    finish(state, principal, audited, outcome).await
}

/// A search's index query and the categories kept over its re-checked hits, from a request.
/// The page (`size`, `offset`) is left to the caller: both are 0.
pub(crate) fn to_query(
    ctx: &Context,
    config: &Config,
    request: SearchRequest,
) -> Result<(Query, BTreeSet<String>), ApiError> {
    let SearchRequest { q, mut filters, .. } = request;
    if let Some(q) = q.as_deref() {
        limits::check_query(q.trim(), config)?;
    }
    let mut categories = take_categories(&mut filters)?;
    let mut filters = parse_filters(filters)?;
    let q = match q.as_deref().map(str::trim) {
        Some(q) if !q.is_empty() => take_category_terms(q, &mut categories)?,
        _ => String::new(),
    };
    let (indicator, text) = match q.trim() {
        "" => (None, None),
        q => parse_q(q, &mut filters)?,
    };
    let query = Query {
        release: ctx.release(accord_index::Views::Shown, false),
        indicator,
        text,
        filters,
        size: 0,
        offset: 0,
    };
    Ok((query, categories))
}

/// Answers a search request `body` (the JSON of `POST /v1/search`) for an investigator's context: the index query
/// under the release filter, then the query-time re-check of every hit, one view per report (for an indicator
/// search, the best-ranked view that releases it). `total` counts the re-checked reports and `next` is set only
/// when more of them follow (module `visible`). Returns the answer, not yet audited. This is the whole of
/// `POST /v1/search` apart from authentication and the audit record (which the handler adds around it); the
/// differential policy test drives it in process.
///
/// # Errors
/// Returns the problem the endpoint answers: 400/422 for a bad body, 503 when the index is unavailable or the
/// request matches more views than can be re-checked.
pub async fn run_search(
    index: &IndexClient,
    config: &Config,
    ctx: &Context,
    body: &[u8],
) -> Result<Unaudited<Value>, ApiError> {
    let request: SearchRequest = json::from_value(json::parse_value(body)?)?;
    let (size, cursor, per_day) = (request.size, request.cursor.clone(), request.per_day);
    let (mut query, categories) = to_query(ctx, config, request)?;
    let size = size.unwrap_or(config.default_page_size);
    if size == 0 || size > config.max_page_size {
        return Err(ApiError::invalid_field(
            "/size",
            format!("must be between 1 and {}", config.max_page_size),
        ));
    }
    let days = if per_day {
        visible::per_day::days(query.filters.from, query.filters.to)?
    } else {
        Vec::new()
    };
    let offset = decode_cursor(cursor.as_deref())?;
    query.size = size;
    query.offset = offset;
    let (visible, counts) =
        visible::search_per_day(index, config, ctx, query, &categories, &days).await?;
    let hits: Vec<Value> = visible.hits.iter().map(render_hit).collect();
    let next_offset = offset.saturating_add(hits.len());
    let next = (!hits.is_empty() && (next_offset as u64) < visible.total)
        .then(|| encode_cursor(next_offset));
    let returned = hits.len() as u64;
    let mut answer = json!({ "hits": hits, "total": visible.total, "next": next });
    if per_day && let Value::Object(map) = &mut answer {
        let counted: Vec<Value> = days
            .iter()
            .zip(counts)
            .map(|(day, count)| json!({ "day": day.day.format("%Y-%m-%d").to_string(), "count": count }))
            .collect();
        map.insert("per_day".to_owned(), Value::Array(counted));
    }
    Ok(Unaudited::new(answer, returned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(Some(&encode_cursor(40))).unwrap(), 40);
        assert!(decode_cursor(Some("garbage!")).is_err());
        assert_eq!(decode_cursor(None).unwrap(), 0);
    }

    fn looked_up(q: &str) -> Option<(ObservableType, String, bool)> {
        let mut filters = Filters::default();
        let (indicator, _) = parse_q(q, &mut filters).ok()?;
        indicator.map(|found| (found.key.kind, found.key.value, found.ip.is_some()))
    }

    #[test]
    fn an_indicator_term_is_read_as_the_one_type_filtered_on() {
        assert_eq!(
            looked_up("indicator:evil[.]com"),
            Some((ObservableType::DomainName, "evil.com".to_owned(), false))
        );
        assert_eq!(
            looked_up("indicator:10.0.0.1"),
            Some((ObservableType::Ipv4Addr, "10.0.0.1".to_owned(), true))
        );
        // Names and serials are never detected: the type says what they are.
        assert_eq!(looked_up("indicator:invoice.exe"), None);
        assert_eq!(
            looked_up("indicator:invoice.exe type:file"),
            Some((ObservableType::File, "invoice.exe".to_owned(), false))
        );
        assert_eq!(
            looked_up("type:x509-certificate indicator:36:F7:D4:32"),
            Some((
                ObservableType::X509Certificate,
                "36:f7:d4:32".to_owned(),
                false
            ))
        );
        assert_eq!(
            looked_up("type:file value:1.2.3.4"),
            Some((ObservableType::File, "1.2.3.4".to_owned(), false)),
            "a file name is not an IP lookup"
        );
        // Two types: detection, as without any.
        assert_eq!(
            looked_up("type:file type:url indicator:evil.com"),
            Some((ObservableType::DomainName, "evil.com".to_owned(), false))
        );
        // A bare `q` is still free text unless it is a detectable indicator.
        let mut filters = Filters::default();
        let (indicator, text) = parse_q("type:file invoice", &mut filters).unwrap();
        assert!(indicator.is_none());
        assert_eq!(text.as_deref(), Some("invoice"));
    }
}
