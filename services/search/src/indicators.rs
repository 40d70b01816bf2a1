//! `GET /v1/indicators/{value}` and `POST /v1/indicators/lookup`.

use std::{collections::BTreeSet, net::IpAddr};

use accord_domain::{ObservableType, View, observable};
use accord_index::{IndexClient, IndicatorKey, IndicatorMatch};
use accord_runtime::{ApiError, Principal, http::streamed::Streamed, json, telemetry::ErrorChain};
use axum::{
    Json,
    extract::{Path, Query, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    AppState, Config, limits,
    released::{Outcome, Unaudited},
    request::{Audited, Context, PurposeAndCase, context, finish, indicator_list, report_summary},
    sightings::Sightings,
    visible,
};

/// The query string of `GET /v1/indicators/{value}`: `?purpose=&case=&include=`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Stated {
    /// The stated purpose.
    pub purpose: Option<String>,
    /// The stated case reference.
    pub case: Option<String>,
    /// `indicators`: every listed report also carries the indicators its view releases (related indicators).
    pub include: Option<String>,
}

/// Reads `include`: only `indicators` is known.
fn include_indicators(include: Option<&str>) -> Result<bool, ApiError> {
    match include {
        None | Some("") => Ok(false),
        Some("indicators") => Ok(true),
        Some(_) => Err(ApiError::bad_field(
            "/include",
            "the only value is `indicators`",
        )),
    }
}

/// Returns the index match for a looked-up value, or `None` when it is not an indicator.
pub(crate) fn to_match(raw: &str) -> Option<IndicatorMatch> {
    let (kind, value) = observable::canonicalize(None, raw).ok()?;
    let ip = match kind {
        ObservableType::Ipv4Addr | ObservableType::Ipv6Addr => value.parse::<IpAddr>().ok(),
        _ => None,
    };
    Some(IndicatorMatch {
        key: IndicatorKey { kind, value },
        ip,
    })
}

/// Renders the match of one indicator from the reports that find it now (re-checked, one view per report, newest
/// first: `visible::lookup`); `None` when there is none. `reports_total`, `sightings`, `partners`, `first_seen` and
/// `last_seen` cover every one of them; `reports` lists the first `listed`, each with its released indicators when
/// `with_indicators`. `sightings` is the agencies' feedback sightings of the indicator in these reports
/// ([`Sightings::sum`]: reports hidden from the caller are never read), `partners` the distinct partners as these
/// views attribute them (`anonymous` for every anonymous one: it never singles a partner out).
fn render_match(
    key: &IndicatorKey,
    views: &[View],
    listed: usize,
    with_indicators: bool,
    sightings: &Sightings,
) -> Result<Option<(Value, u64)>, ApiError> {
    if views.is_empty() {
        return Ok(None);
    }
    let reports_total = views.len() as u64;
    let sightings = sightings
        .sum(views.iter().map(|view| &view.report_id), key)
        .map_err(|error| {
            tracing::error!(error = %ErrorChain(error.as_ref()), "failed to read feedback sightings");
            ApiError::Unavailable("feedback counts are unavailable; retry later".to_owned())
        })?;
    let first_seen = views.iter().map(|view| view.content.occurred_at).min();
    let last_seen = views.iter().map(|view| view.content.occurred_at).max();
    let partners: BTreeSet<&str> = views
        .iter()
        .map(|view| view.content.partner.as_str())
        .collect();
    let reports: Vec<Value> = views
        .iter()
        .take(listed)
        .map(|view| {
            let mut summary = report_summary(view);
            if with_indicators && let Value::Object(map) = &mut summary {
                map.insert("indicators".to_owned(), indicator_list(view));
            }
            summary
        })
        .collect();
    let body = json!({
        "type": key.kind,
        "value": key.value,
        "id": accord_stix::observable_id(key.kind, &key.value),
        "first_seen": first_seen,
        "last_seen": last_seen,
        "reports_total": reports_total,
        "sightings": sightings,
        "partners": partners,
        "reports": reports,
    });
    Ok(Some((body, reports_total)))
}

/// `GET /v1/indicators/{value}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    Path(value): Path<String>,
    Query(stated): Query<Stated>,
) -> Response {
    indicator(&state, principal.as_ref().ok(), &value, stated)
        .await
        .map(Json)
        .into_response()
}

/// Looks up one indicator for an investigator (`principal`: `None` when no valid token was presented): the whole
/// of `GET /v1/indicators/{value}`, its audit record included. The HTTP handler and the web console call this.
pub async fn indicator(
    state: &AppState,
    principal: Option<&Principal>,
    value: &str,
    stated: Stated,
) -> Outcome<Value, ApiError> {
    let mut query = json!({ "value": limits::audited_values(json!([value]), &state.config)[0] });
    if let (Some(include), Value::Object(map)) = (&stated.include, &mut query) {
        map.insert("include".to_owned(), json!(include));
    }
    let audited = Audited {
        endpoint: "GET /v1/indicators/{value}",
        stated: PurposeAndCase::of(principal, stated.purpose.as_deref(), stated.case.as_deref()),
        query,
    };
    let outcome = async {
        let ctx = context(state, principal, &audited)?;
        limits::check_value("/value", value, &state.config)?;
        let with_indicators = include_indicators(stated.include.as_deref())?;
        answer_indicator(
            &state.deps.index,
            &state.config,
            &state.sightings,
            &ctx,
            value,
            with_indicators,
        )
        .await
    }
    .await;
    finish(state, principal, audited, outcome).await
}

/// Answers `GET /v1/indicators/{value}` for an investigator's context: the index lookup under the release filter
/// (alternate views included: a report is found whenever any MoU in force grants the indicator), then the
/// query-time re-check of every hit, one view per report. Returns the answer (one result), not yet audited. This is
/// the whole endpoint apart from authentication and the audit record; the differential policy test drives it in
/// process.
///
/// # Errors
/// Returns [`ApiError::NotFound`] when nothing visible matches (or `value` is not an indicator), 503 when the index
/// is unavailable or the indicator matches more views than can be re-checked.
pub async fn run_indicator(
    index: &IndexClient,
    config: &Config,
    sightings: &Sightings,
    ctx: &Context,
    value: &str,
) -> Result<Unaudited<Value>, ApiError> {
    answer_indicator(index, config, sightings, ctx, value, false).await
}

/// [`run_indicator`], with each listed report's released indicators when `with_indicators`.
async fn answer_indicator(
    index: &IndexClient,
    config: &Config,
    sightings: &Sightings,
    ctx: &Context,
    value: &str,
    with_indicators: bool,
) -> Result<Unaudited<Value>, ApiError> {
    let Some(indicator) = to_match(value) else {
        return Err(ApiError::NotFound);
    };
    let mut found = visible::lookup(index, config, ctx, vec![indicator.clone()]).await?;
    let views = found.pop().unwrap_or_default();
    let listed = config.max_reports_per_indicator;
    render_match(&indicator.key, &views, listed, with_indicators, sightings)?
        .map(|(body, _)| Unaudited::new(body, 1))
        .ok_or(ApiError::NotFound)
}

/// `POST /v1/indicators/lookup` body.
#[derive(Debug, Deserialize)]
struct LookupRequest {
    values: Vec<String>,
}

/// `POST /v1/indicators/lookup`.
pub(crate) async fn post_lookup(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let media = json::require_json(&headers);
    audited_lookup(&state, principal.as_ref().ok(), &body, media)
        .await
        .map(Streamed::json)
        .into_response()
}

/// Returns a string field of a JSON body that may not parse, for its audit record.
pub(crate) fn body_field(parsed: &Result<Value, ApiError>, name: &str) -> Option<String> {
    parsed
        .as_ref()
        .ok()
        .and_then(|value| value.get(name))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Looks up a batch of values for an investigator (`principal`: `None` when no valid token was presented): the whole
/// of `POST /v1/indicators/lookup` with `body` as its request body, its audit record included. The HTTP handler and
/// the web console call this.
pub async fn lookup(
    state: &AppState,
    principal: Option<&Principal>,
    body: &[u8],
) -> Outcome<Value, ApiError> {
    audited_lookup(state, principal, body, Ok(())).await
}

/// [`lookup`], after `media`: the check of the request's `Content-Type` (415), audited like any refusal once the
/// caller is known (an unauthenticated request is 401 first).
async fn audited_lookup(
    state: &AppState,
    principal: Option<&Principal>,
    body: &[u8],
    media: Result<(), ApiError>,
) -> Outcome<Value, ApiError> {
    let parsed = json::parse_value(body);
    let audited = Audited {
        endpoint: "POST /v1/indicators/lookup",
        stated: PurposeAndCase::of(
            principal,
            body_field(&parsed, "purpose").as_deref(),
            body_field(&parsed, "case").as_deref(),
        ),
        query: json!({
            "values": limits::audited_values(
                parsed.as_ref().ok().and_then(|value| value.get("values")).cloned().unwrap_or(Value::Null),
                &state.config,
            )
        }),
    };
    let outcome = async {
        let ctx = context(state, principal, &audited)?;
        media?;
        let request: LookupRequest = json::from_value(parsed?)?;
        answer_lookup(state, &ctx, request.values).await
    }
    .await;
    finish(state, principal, audited, outcome).await
}

/// Checks the values of a batch lookup: their number (`/values`) and each one's length (`/values/N`), 400 naming
/// the limit ([`limits::check_values`]).
pub(crate) fn check_lookup_size(config: &Config, values: &[String]) -> Result<(), ApiError> {
    limits::check_values(values, config)
}

/// Returns the index matches of a batch's values (`None` for a value that is not an indicator), same order.
pub(crate) fn to_matches(values: &[String]) -> Vec<Option<IndicatorMatch>> {
    values.iter().map(|value| to_match(value)).collect()
}

/// Answers a batch lookup of `values` in the caller's context: one result per value, in order.
async fn answer_lookup(
    state: &AppState,
    ctx: &Context,
    values: Vec<String>,
) -> Result<Unaudited<Value>, ApiError> {
    check_lookup_size(&state.config, &values)?;
    let matches = to_matches(&values);
    let queries: Vec<IndicatorMatch> = matches.iter().flatten().cloned().collect();
    let per_key = state.config.max_reports_per_indicator.max(1);
    let found_views = visible::lookup(&state.deps.index, &state.config, ctx, queries).await?;
    let mut found_views = found_views.into_iter();
    let mut found = 0_u64;
    let mut results = Vec::with_capacity(values.len());
    for (value, indicator) in values.iter().zip(&matches) {
        let rendered = match indicator {
            Some(indicator) => match found_views.next() {
                Some(views) => {
                    render_match(&indicator.key, &views, per_key, false, &state.sightings)?
                        .map(|(body, _)| body)
                }
                None => None,
            },
            None => None,
        };
        if rendered.is_some() {
            found += 1;
        }
        results.push(json!({ "value": value, "match": rendered }));
    }
    Ok(Unaudited::new(json!({ "results": results }), found))
}
