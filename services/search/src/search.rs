//! `POST /v1/search`: free text or `field:value` terms, filters, paging with an opaque cursor.

use accord_domain::{ObservableType, Timestamp, Tlp, View, observable};
use accord_index::{Filters, IndexClient, IndicatorKey, IndicatorMatch, Query};
use accord_runtime::{ApiError, Principal, json};
use axum::{extract::State, http::HeaderMap, response::Response};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    AppState, Config, limits,
    released::Unaudited,
    request::{Audited, Context, PurposeAndCase, context, finish},
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
}

#[derive(Debug, Deserialize)]
struct SearchRequest {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    filters: Option<FiltersIn>,
    #[serde(default)]
    size: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
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
    Ok(out)
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
fn render_hit(view: &View) -> Value {
    let content = &view.content;
    let indicators: Vec<Value> = content
        .indicators
        .iter()
        .map(|indicator| json!({ "type": indicator.kind, "value": indicator.value, "id": indicator.id }))
        .collect();
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
pub(crate) async fn search(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = json::parse_value(&body);
    let field = |name: &str| {
        parsed
            .as_ref()
            .ok()
            .and_then(|value| value.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut query_audit = limits::audited_query(
        parsed.as_ref().cloned().unwrap_or(Value::Null),
        &state.config,
    );
    if let Value::Object(map) = &mut query_audit {
        map.remove("purpose");
        map.remove("case");
    }
    let audited = Audited {
        endpoint: "POST /v1/search",
        stated: PurposeAndCase::of(
            &principal,
            field("purpose").as_deref(),
            field("case").as_deref(),
        ),
        query: query_audit,
    };
    let outcome = async {
        if principal.is_ok() {
            json::require_json(&headers)?;
        }
        let ctx = context(&state, &principal, &audited)?;
        run_search(&state.deps.index, &state.config, &ctx, &body).await
    }
    .await;
    finish(&state, &principal, audited, outcome).await
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
    let mut filters = parse_filters(request.filters)?;
    let (indicator, text) = match request.q.as_deref().map(str::trim) {
        Some(q) if !q.is_empty() => {
            limits::check_query(q, config)?;
            parse_q(q, &mut filters)?
        }
        _ => (None, None),
    };
    let size = request.size.unwrap_or(config.default_page_size);
    if size == 0 || size > config.max_page_size {
        return Err(ApiError::invalid_field(
            "/size",
            format!("must be between 1 and {}", config.max_page_size),
        ));
    }
    let offset = decode_cursor(request.cursor.as_deref())?;
    let query = Query {
        release: ctx.release(accord_index::Views::Shown, false),
        indicator,
        text,
        filters,
        size,
        offset,
    };
    let visible = visible::search(index, config, ctx, query).await?;
    let hits: Vec<Value> = visible.hits.iter().map(render_hit).collect();
    let next_offset = offset.saturating_add(hits.len());
    let next = (!hits.is_empty() && (next_offset as u64) < visible.total)
        .then(|| encode_cursor(next_offset));
    let returned = hits.len() as u64;
    Ok(Unaudited::new(
        json!({ "hits": hits, "total": visible.total, "next": next }),
        returned,
    ))
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
