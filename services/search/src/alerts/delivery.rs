//! Delivering alerts: `GET /v1/alerts` (paged) and `GET /v1/alerts/stream` (Server-Sent Events).
//!
//! An alert is a release like any other. Before it leaves, a `match` alert's view is re-checked with
//! `accord_policy::allows` for the watchlist's agency and purpose against the MoUs in force now (one suspended or
//! revoked since the match is not delivered: its `withdrawn` alert follows), and the alerts about to leave are
//! audited through the one audit path (`released::audit`): one record per watchlist in the batch, with the
//! watchlist's purpose and case and the ids of its alerts. When the record cannot be written nothing leaves.
//!
//! An agency's alerts are numbered in the order they were raised (ids are decimal sequence numbers, increasing, not
//! dense for one agency). A reader sees the alerts of its agency's watchlists, and with a case-bound token only those
//! of the watchlists bound to its purpose and case; the alerts of a deleted watchlist are no longer delivered.
//! Both endpoints resume after an id: `?after=` (or the page's `next`), and for the stream the `Last-Event-ID` header
//! a reconnecting `EventSource` sends, so that after a disconnect or a restart of Accord a client gets every alert
//! after the last one it saw, each once, within the retention of alerts (`search.alert_retention_days`).

use std::{collections::BTreeMap, convert::Infallible, time::Duration};

use accord_domain::OrgKind;
use accord_domain::Role;
use accord_runtime::{ApiError, Principal};
use axum::{
    Json,
    extract::{Query, State},
    http::HeaderMap,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::store::{Alert, Watchlist};
use crate::{
    AppState,
    released::{self, RequestRecord, Unaudited},
    request::report_summary,
};

/// The largest page of `GET /v1/alerts`.
const MAX_PAGE: usize = 1000;
/// The page of `GET /v1/alerts` without `limit`, and the stream's batch.
const DEFAULT_PAGE: usize = 100;

/// Who reads alerts: an agency, and with a case-bound token the purpose and case it is bound to.
#[derive(Clone)]
pub(crate) struct Reader {
    pub(crate) principal: Principal,
}

impl Reader {
    /// Checks that the caller may read alerts (an investigator of an agency).
    pub(crate) fn of(state: &AppState, principal: Option<Principal>) -> Result<Self, ApiError> {
        let principal = principal.ok_or(ApiError::Unauthorized)?;
        principal.require(Role::Investigator)?;
        let snapshot = state.deps.directory.snapshot();
        match snapshot.orgs.get(&principal.organization) {
            Some(org) if org.kind == OrgKind::Agency => Ok(Self { principal }),
            Some(_) => Err(ApiError::Forbidden(
                "only agencies keep watchlists".to_owned(),
            )),
            None => Err(ApiError::Unauthorized),
        }
    }

    /// Whether the reader's token is still in force (not revoked or expired, its organization known): checked before
    /// every batch, so that a stream opened with a token that is revoked later stops at once, and a webhook whose
    /// watchlist's creator was revoked stops delivering. (The bootstrap token is never an investigator.)
    fn in_force(&self, state: &AppState) -> bool {
        let snapshot = state.deps.directory.snapshot();
        let now = chrono::Utc::now();
        snapshot.orgs.contains_key(&self.principal.organization)
            && snapshot.tokens_by_hash.values().any(|token| {
                token.id.as_str() == self.principal.token_id
                    && token.organization == self.principal.organization
                    && token.is_valid_at(now)
            })
    }

    /// Whether this reader sees `list`.
    pub(crate) fn sees(&self, list: &Watchlist) -> bool {
        list.agency == self.principal.organization
            && self
                .principal
                .binding
                .as_ref()
                .is_none_or(|binding| binding.purpose == list.purpose && binding.case == list.case)
    }
}

/// Renders an alert as the API returns it.
fn render(alert: &Alert) -> Value {
    let report = match &alert.view {
        Some(view) => {
            let mut summary = report_summary(view);
            // The released indicator this alert is about (the stored view holds every one its watchlist matched).
            let indicators: Vec<Value> = view
                .content
                .indicators
                .iter()
                .filter(|indicator| indicator.value == alert.value)
                .map(|indicator| json!({ "type": indicator.kind, "value": indicator.value, "id": indicator.id }))
                .collect();
            if let Value::Object(map) = &mut summary {
                map.insert("indicators".to_owned(), Value::Array(indicators));
            }
            summary
        }
        None => json!({ "id": alert.report }),
    };
    json!({
        "id": alert.seq.to_string(),
        "kind": alert.kind,
        "watchlist": alert.watchlist,
        "entry": alert.entry,
        "value": alert.value,
        "report": report,
        "at": alert.at,
    })
}

/// Re-checks and audits a batch of an agency's alerts; returns those that may leave, rendered, in order.
///
/// # Errors
/// 503 when an audit record cannot be written (nothing leaves then).
pub(crate) async fn release(
    state: &AppState,
    reader: &Reader,
    endpoint: &'static str,
    alerts: Vec<Alert>,
) -> Result<Vec<(u64, Value)>, ApiError> {
    if !reader.in_force(state) {
        return Err(ApiError::Unauthorized);
    }
    let snapshot = state.deps.directory.snapshot();
    let now = chrono::Utc::now();
    let mut by_list: BTreeMap<String, (Watchlist, Vec<Alert>)> = BTreeMap::new();
    for alert in alerts {
        let Some(list) = state.alerts.get(&alert.watchlist) else {
            continue;
        };
        if !reader.sees(&list) {
            continue;
        }
        let served = alert.view.as_ref().is_none_or(|view| {
            accord_policy::allows(
                view,
                &list.agency,
                list.purpose,
                now,
                &snapshot.mous,
                &snapshot.orgs,
            )
        });
        if served {
            by_list
                .entry(list.id.clone())
                .or_insert_with(|| (list, Vec::new()))
                .1
                .push(alert);
        }
    }
    let mut out = Vec::new();
    for (id, (list, alerts)) in by_list {
        let ids: Vec<String> = alerts.iter().map(|alert| alert.seq.to_string()).collect();
        let record = RequestRecord {
            endpoint,
            caller: Some((
                reader.principal.token_id.clone(),
                reader.principal.organization.to_string(),
            )),
            purpose: Some(list.purpose),
            case: Some(list.case.clone()),
            query: json!({ "watchlist": id, "alerts": ids }),
        };
        let count = alerts.len() as u64;
        let answer: Result<Unaudited<Vec<Alert>>, ApiError> = Ok(Unaudited::new(alerts, count));
        let released = released::audit_then_release(&state.audit, record, answer).await?;
        out.extend(
            released
                .into_body()
                .iter()
                .map(|alert| (alert.seq, render(alert))),
        );
    }
    out.sort_by_key(|(seq, _)| *seq);
    Ok(out)
}

/// The query of `GET /v1/alerts`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    after: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn parse_id(pointer: &str, text: Option<&str>) -> Result<u64, ApiError> {
    match text {
        None | Some("") => Ok(0),
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::bad_field(pointer, "an alert id (a decimal number)")),
    }
}

/// `GET /v1/alerts?after=&cursor=&limit=`: `{ "alerts": [...], "next": <cursor or null> }`.
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    page(&state, principal.ok(), query.map(|Query(query)| query))
        .await
        .map(Json)
        .into_response()
}

async fn page(
    state: &AppState,
    principal: Option<Principal>,
    query: Result<PageQuery, axum::extract::rejection::QueryRejection>,
) -> Result<Value, ApiError> {
    let query = query.map_err(|rejection| ApiError::bad_field("/query", rejection.body_text()))?;
    let after = parse_id("/after", query.after.as_deref())?
        .max(parse_id("/cursor", query.cursor.as_deref())?);
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_field(
            "/limit",
            format!("from 1 to {MAX_PAGE}"),
        ));
    }
    alert_page(state, principal, after, limit).await
}

/// The whole of `GET /v1/alerts` for a caller (`None`: no valid token): `{ "alerts", "next" }`, the alerts after
/// `after`, re-checked and audited. The HTTP handler and the web console call this.
///
/// # Errors
/// 401/403 for a caller that is not an agency's investigator, 503 when the store or the trail fails.
pub async fn alert_page(
    state: &AppState,
    principal: Option<Principal>,
    after: u64,
    limit: usize,
) -> Result<Value, ApiError> {
    let reader = Reader::of(state, principal)?;
    let limit = limit.clamp(1, MAX_PAGE);
    let scanned = state
        .alerts
        .page(&reader.principal.organization, after, limit)
        .map_err(|error| ApiError::unavailable("the alerts store", error.as_ref()))?;
    let next = (scanned.len() == limit).then(|| scanned.last().map(|alert| alert.seq.to_string()));
    let delivered = release(state, &reader, "GET /v1/alerts", scanned).await?;
    metrics::counter!(crate::metrics::ALERTS_DELIVERED, "via" => "page")
        .increment(delivered.len() as u64);
    let alerts: Vec<Value> = delivered.into_iter().map(|(_, alert)| alert).collect();
    Ok(json!({ "alerts": alerts, "next": next.flatten() }))
}

/// The query of `GET /v1/alerts/stream`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamQuery {
    after: Option<String>,
}

/// `GET /v1/alerts/stream`: Server-Sent Events, one `alert` event per alert (`id:` its id, `data:` the alert), from
/// after `Last-Event-ID` (or `?after=`), then live.
pub(crate) async fn stream(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match open_stream(
        &state,
        principal.ok(),
        &headers,
        query.map(|Query(query)| query),
    ) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn open_stream(
    state: &AppState,
    principal: Option<Principal>,
    headers: &HeaderMap,
    query: Result<StreamQuery, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let reader = Reader::of(state, principal)?;
    let query = query.map_err(|rejection| ApiError::bad_field("/query", rejection.body_text()))?;
    let last_event = headers
        .get("last-event-id")
        .map(|value| value.to_str().unwrap_or("x"));
    let after = match last_event {
        Some(id) => parse_id("/headers/Last-Event-ID", Some(id))?,
        None => parse_id("/after", query.after.as_deref())?,
    };
    let permit = state
        .alert_streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::TooManyRequests { retry_after: 5 })?;
    let (sender, receiver) = mpsc::channel::<Event>(DEFAULT_PAGE);
    let state = state.clone();
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(error) = pump(&state, &reader, after, &sender).await {
            tracing::warn!(%error, "alert stream ended");
        }
    });
    let events = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), receiver))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Sends the reader's alerts after `after`, then each new one as it is raised, until the client goes away, the
/// process shuts down or the audit trail fails.
async fn pump(
    state: &AppState,
    reader: &Reader,
    mut after: u64,
    sender: &mpsc::Sender<Event>,
) -> anyhow::Result<()> {
    let mut raised = state.alerts.subscribe();
    let shutdown = state.shutdown.clone();
    loop {
        raised.borrow_and_update();
        let scanned = state
            .alerts
            .page(&reader.principal.organization, after, DEFAULT_PAGE)?;
        if let Some(last) = scanned.last() {
            after = last.seq;
            let full = scanned.len() == DEFAULT_PAGE;
            let delivered = release(state, reader, "GET /v1/alerts/stream", scanned)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            metrics::counter!(crate::metrics::ALERTS_DELIVERED, "via" => "stream")
                .increment(delivered.len() as u64);
            for (seq, alert) in delivered {
                let event = Event::default()
                    .event("alert")
                    .id(seq.to_string())
                    .data(alert.to_string());
                if sender.send(event).await.is_err() {
                    return Ok(());
                }
            }
            if full {
                continue;
            }
        }
        tokio::select! {
            changed = raised.changed() => if changed.is_err() { return Ok(()) },
            () = sender.closed() => return Ok(()),
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}
