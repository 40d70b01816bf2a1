//! `GET /v1/indicators/{value}` and `POST /v1/indicators/lookup`.

use std::{collections::BTreeSet, net::IpAddr};

use accord_domain::{ObservableType, View, observable};
use accord_index::{IndexClient, IndicatorKey, IndicatorMatch};
use accord_runtime::{ApiError, Principal, json};
use axum::{
    extract::{Path, Query, State},
    http::HeaderMap,
    response::Response,
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    AppState, Config, limits,
    released::Unaudited,
    request::{Audited, Context, PurposeAndCase, context, finish, report_summary},
    visible,
};

/// `?purpose=&case=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Stated {
    purpose: Option<String>,
    case: Option<String>,
}

/// Returns the index match for a looked-up value, or `None` when it is not an indicator.
fn to_match(raw: &str) -> Option<IndicatorMatch> {
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
/// first: `visible::lookup`); `None` when there is none. `sightings`, `partners`, `first_seen` and `last_seen`
/// cover every one of them; `reports` lists the first `listed`.
fn render_match(key: &IndicatorKey, views: &[View], listed: usize) -> Option<(Value, u64)> {
    if views.is_empty() {
        return None;
    }
    let sightings = views.len() as u64;
    let first_seen = views.iter().map(|view| view.content.occurred_at).min();
    let last_seen = views.iter().map(|view| view.content.occurred_at).max();
    let partners: BTreeSet<&str> = views
        .iter()
        .map(|view| view.content.partner.as_str())
        .collect();
    let reports: Vec<Value> = views.iter().take(listed).map(report_summary).collect();
    let body = json!({
        "type": key.kind,
        "value": key.value,
        "id": accord_stix::observable_id(key.kind, &key.value),
        "first_seen": first_seen,
        "last_seen": last_seen,
        "sightings": sightings,
        "partners": partners,
        "reports": reports,
    });
    Some((body, sightings))
}

/// `GET /v1/indicators/{value}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    Path(value): Path<String>,
    Query(stated): Query<Stated>,
) -> Response {
    let audited = Audited {
        endpoint: "GET /v1/indicators/{value}",
        stated: PurposeAndCase::of(
            &principal,
            stated.purpose.as_deref(),
            stated.case.as_deref(),
        ),
        query: json!({ "value": limits::audited_values(json!([value]), &state.config)[0] }),
    };
    let outcome = async {
        let ctx = context(&state, &principal, &audited)?;
        limits::check_value("/value", &value, &state.config)?;
        run_indicator(&state.deps.index, &state.config, &ctx, &value).await
    }
    .await;
    finish(&state, &principal, audited, outcome).await
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
    ctx: &Context,
    value: &str,
) -> Result<Unaudited<Value>, ApiError> {
    let Some(indicator) = to_match(value) else {
        return Err(ApiError::NotFound);
    };
    let mut found = visible::lookup(index, config, ctx, vec![indicator.clone()]).await?;
    let views = found.pop().unwrap_or_default();
    render_match(&indicator.key, &views, config.max_reports_per_indicator)
        .map(|(body, _)| Unaudited::new(body, 1))
        .ok_or(ApiError::NotFound)
}

/// `POST /v1/indicators/lookup` body.
#[derive(Debug, Deserialize)]
struct LookupRequest {
    values: Vec<String>,
}

/// `POST /v1/indicators/lookup`.
pub(crate) async fn lookup(
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
    let audited = Audited {
        endpoint: "POST /v1/indicators/lookup",
        stated: PurposeAndCase::of(
            &principal,
            field("purpose").as_deref(),
            field("case").as_deref(),
        ),
        query: json!({
            "values": limits::audited_values(
                parsed.as_ref().ok().and_then(|value| value.get("values")).cloned().unwrap_or(Value::Null),
                &state.config,
            )
        }),
    };
    let outcome = async {
        if principal.is_ok() {
            json::require_json(&headers)?;
        }
        let ctx = context(&state, &principal, &audited)?;
        let request: LookupRequest = json::from_value(json::parse_value(&body)?)?;
        limits::check_values(&request.values, &state.config)?;
        let matches: Vec<Option<IndicatorMatch>> =
            request.values.iter().map(|value| to_match(value)).collect();
        let queries: Vec<IndicatorMatch> = matches.iter().flatten().cloned().collect();
        let per_key = state.config.max_reports_per_indicator.max(1);
        let found_views = visible::lookup(&state.deps.index, &state.config, &ctx, queries).await?;
        let mut found_views = found_views.into_iter();
        let mut found = 0_u64;
        let mut results = Vec::with_capacity(request.values.len());
        for (value, indicator) in request.values.iter().zip(&matches) {
            let rendered = indicator.as_ref().and_then(|indicator| {
                let views = found_views.next()?;
                render_match(&indicator.key, &views, per_key).map(|(body, _)| body)
            });
            if rendered.is_some() {
                found += 1;
            }
            results.push(json!({ "value": value, "match": rendered }));
        }
        Ok(Unaudited::new(json!({ "results": results }), found))
    }
    .await;
    finish(&state, &principal, audited, outcome).await
}
