//! The watchlist endpoints: `POST|GET /v1/watchlists`, `GET|DELETE /v1/watchlists/{id}`,
//! `POST|DELETE /v1/watchlists/{id}/entries`.
//!
//! A watchlist belongs to the investigator's agency and is bound to one purpose and one case (a case-bound token
//! creates them for its own and sees only those). Values are typed and canonicalized exactly as indicators are
//! (`accord_domain::observable::canonicalize`: refanged, lower-cased where the type says so, CIDRs to their
//! network), with an optional declared `type`; `include_subdomains` applies to domains only. Another agency's
//! watchlist is the same 404 as one that does not exist. Every request is recorded in the audit trail (what an
//! agency watches, and for which case, is what an auditor needs to see), through the one audit path.

use accord_domain::{ObservableType, observable};
use accord_runtime::{ApiError, FieldError, Principal, json as json_body};
use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    delivery::Reader,
    store::{Entry, Watchlist},
};
use crate::{
    AppState,
    released::{self, RequestRecord, Unaudited},
    request::PurposeAndCase,
};

/// Entries listed per page of `GET /v1/watchlists/{id}`.
const ENTRIES_PAGE: usize = 1000;
/// The longest watchlist name, in characters.
const MAX_NAME: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryBody {
    value: String,
    #[serde(rename = "type")]
    kind: Option<ObservableType>,
    #[serde(default)]
    include_subdomains: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    purpose: Option<String>,
    case: Option<String>,
    #[serde(default)]
    entries: Vec<EntryBody>,
    webhook: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    entries: Vec<EntryBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveBody {
    values: Vec<String>,
}

/// Renders a watchlist as the API returns it (a webhook by its URL only: the secret is never returned).
fn render(list: &Watchlist) -> Value {
    let mut body = json!({
        "id": list.id,
        "name": list.name,
        "purpose": list.purpose,
        "case": list.case,
        "created_at": list.created_at,
        "entry_count": list.entries,
    });
    if let Some(hook) = &list.webhook {
        body["webhook"] = json!({ "url": hook.url });
    }
    body
}

/// Canonicalizes entries, naming `<pointer>/<i>/value` (or `/include_subdomains`) for the first bad ones.
fn canonical_entries(
    state: &AppState,
    pointer: &str,
    entries: Vec<EntryBody>,
) -> Result<Vec<Entry>, ApiError> {
    let limit = state.config.max_watch_entries_per_request;
    if entries.len() > limit {
        return Err(ApiError::bad_field(
            pointer,
            format!("at most {limit} entries per request"),
        ));
    }
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let at = format!("{pointer}/{index}");
        if entry.value.len() > state.config.max_lookup_value_bytes {
            errors.push(FieldError::new(format!("{at}/value"), "too long"));
            continue;
        }
        match observable::canonicalize(entry.kind, &entry.value) {
            Ok((kind, value)) if entry.include_subdomains && kind != ObservableType::DomainName => {
                errors.push(FieldError::new(
                    format!("{at}/include_subdomains"),
                    format!(
                        "only a domain has subdomains; `{value}` is a {}",
                        kind.as_str()
                    ),
                ));
            }
            Ok((kind, value)) => out.push(Entry {
                kind,
                value,
                include_subdomains: entry.include_subdomains,
            }),
            Err(error) => errors.push(FieldError::new(format!("{at}/value"), error.to_string())),
        }
        if errors.len() >= 20 {
            break;
        }
    }
    if !errors.is_empty() {
        let detail = errors
            .iter()
            .map(|error| format!("{}: {}", error.pointer, error.message))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ApiError::BadRequest { detail, errors });
    }
    Ok(out)
}

/// Refuses entries that would take the deployment over `search.max_watched_values`.
fn check_capacity(state: &AppState, adding: usize) -> Result<(), ApiError> {
    let held = state.alerts.memory().watched.len();
    let max = state.config.max_watched_values;
    if held + adding > max {
        return Err(ApiError::invalid_field(
            "/entries",
            format!("the watchlists of this deployment hold at most {max} values ({held} now)"),
        ));
    }
    Ok(())
}

/// Audits a watchlist request of `reader` about `list` (purpose and case its own) and returns `body` to answer.
async fn audited(
    state: &AppState,
    reader: &Reader,
    endpoint: &'static str,
    list: &Watchlist,
    query: Value,
    body: Result<(StatusCode, Value), ApiError>,
) -> Response {
    let record = RequestRecord {
        endpoint,
        caller: Some((
            reader.principal.token_id.clone(),
            reader.principal.organization.to_string(),
        )),
        purpose: Some(list.purpose),
        case: Some(list.case.clone()),
        query,
    };
    let outcome = body.map(|body| Unaudited::new(body, 0));
    match released::audit_then_release(&state.audit, record, outcome).await {
        Ok(released) => {
            let (status, body) = released.into_body();
            (status, Json(body)).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// Returns the caller's watchlist `id`, or the 404 of one that does not exist.
fn own(state: &AppState, reader: &Reader, id: &str) -> Result<Watchlist, ApiError> {
    state
        .alerts
        .get(id)
        .filter(|list| reader.sees(list))
        .ok_or(ApiError::NotFound)
}

/// The answer to a change of a watchlist's entries: 200 with the watchlist, 404 when it was deleted meanwhile.
fn changed(result: anyhow::Result<Option<Watchlist>>) -> Result<(StatusCode, Value), ApiError> {
    match result {
        Ok(Some(list)) => Ok((StatusCode::OK, render(&list))),
        Ok(None) => Err(ApiError::NotFound),
        Err(error) => Err(unavailable(&error)),
    }
}

fn unavailable(error: &anyhow::Error) -> ApiError {
    ApiError::unavailable("the watchlist store", error.as_ref())
}

/// `POST /v1/watchlists`.
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let principal = principal.ok();
    let prepared = prepare_create(&state, principal.clone(), &headers, &body);
    let (reader, list, entries) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return error.into_response(),
    };
    let values: Vec<&str> = entries.iter().map(|entry| entry.value.as_str()).collect();
    let query = json!({ "name": list.name, "entries": values });
    let stored = state.alerts.create(list.clone(), &entries);
    let body = stored
        .map(|list| (StatusCode::CREATED, render(&list)))
        .map_err(|error| unavailable(&error));
    audited(&state, &reader, "POST /v1/watchlists", &list, query, body).await
}

/// Checks a creation request and builds the watchlist and its entries.
fn prepare_create(
    state: &AppState,
    principal: Option<Principal>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Reader, Watchlist, Vec<Entry>), ApiError> {
    let reader = Reader::of(state, principal)?;
    json_body::require_json(headers)?;
    let body: CreateBody = json_body::parse(body)?;
    let webhook = body
        .webhook
        .as_ref()
        .map(|hook| super::webhook::check(hook, state.config.webhook_allow_insecure))
        .transpose()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::bad_field(
            "/name",
            format!("1 to {MAX_NAME} printable characters"),
        ));
    }
    let stated = PurposeAndCase::of(
        Some(&reader.principal),
        body.purpose.as_deref(),
        body.case.as_deref(),
    );
    let (purpose, case) = stated.both()?;
    let entries = canonical_entries(state, "/entries", body.entries)?;
    check_capacity(state, entries.len())?;
    let agency = reader.principal.organization.clone();
    let held = state.alerts.of_agency(&agency).len();
    if held >= state.config.max_watchlists_per_agency {
        return Err(ApiError::Conflict(format!(
            "an agency keeps at most {} watchlists",
            state.config.max_watchlists_per_agency
        )));
    }
    let list = Watchlist {
        id: format!("watchlist--{}", uuid::Uuid::new_v4()),
        agency,
        name: name.to_owned(),
        purpose,
        case,
        created_at: chrono::Utc::now(),
        created_by: reader.principal.token_id.clone(),
        entries: 0,
        webhook,
    };
    Ok((reader, list, entries))
}

/// `GET /v1/watchlists`: the caller's watchlists (not audited: it releases nothing and states no case).
pub(crate) async fn list_all(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
) -> Response {
    let reader = match Reader::of(&state, principal.ok()) {
        Ok(reader) => reader,
        Err(error) => return error.into_response(),
    };
    let lists: Vec<Value> = state
        .alerts
        .of_agency(&reader.principal.organization)
        .iter()
        .filter(|list| reader.sees(list))
        .map(render)
        .collect();
    Json(json!({ "watchlists": lists })).into_response()
}

/// The query of `GET /v1/watchlists/{id}`: `?after=<value>` pages the entries.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntriesQuery {
    after: Option<String>,
}

/// `GET /v1/watchlists/{id}`: the watchlist with a page of its entries and the cursor of the next.
pub(crate) async fn get_one(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    Path(id): Path<String>,
    query: Result<Query<EntriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let found = Reader::of(&state, principal.ok()).and_then(|reader| {
        let query =
            query.map_err(|rejection| ApiError::bad_field("/query", rejection.body_text()))?;
        let list = own(&state, &reader, &id)?;
        let entries = state
            .alerts
            .entries(&id, query.0.after.as_deref(), ENTRIES_PAGE)
            .map_err(|error| unavailable(&error))?;
        let next = (entries.len() == ENTRIES_PAGE)
            .then(|| entries.last().map(|entry| entry.value.clone()));
        let mut body = render(&list);
        if list.webhook.is_some() {
            let hook = state
                .alerts
                .webhook_state(&id)
                .map_err(|error| unavailable(&error))?;
            body["webhook"]["status"] = json!(hook.status());
            body["webhook"]["delivered"] = json!(hook.delivered);
            body["webhook"]["failed"] = json!(hook.failed);
            body["webhook"]["last_error"] = json!(hook.last_error);
        }
        body["entries"] = json!(entries);
        body["next"] = json!(next.flatten());
        Ok(body)
    });
    match found {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `DELETE /v1/watchlists/{id}` → 204.
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let reader = match Reader::of(&state, principal.ok()) {
        Ok(reader) => reader,
        Err(error) => return error.into_response(),
    };
    let list = match own(&state, &reader, &id) {
        Ok(list) => list,
        Err(error) => return error.into_response(),
    };
    let body = match state.alerts.delete(&id) {
        Ok(_) => Ok((StatusCode::NO_CONTENT, Value::Null)),
        Err(error) => Err(unavailable(&error)),
    };
    let response = audited(
        &state,
        &reader,
        "DELETE /v1/watchlists/{id}",
        &list,
        json!({ "watchlist": id }),
        body,
    )
    .await;
    if response.status() == StatusCode::NO_CONTENT {
        return StatusCode::NO_CONTENT.into_response();
    }
    response
}

/// `POST /v1/watchlists/{id}/entries` `{ "entries": [...] }` → 200 with the watchlist.
pub(crate) async fn add_entries(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let prepared = Reader::of(&state, principal.ok()).and_then(|reader| {
        let list = own(&state, &reader, &id)?;
        json_body::require_json(&headers)?;
        let body: AddBody = json_body::parse(&body)?;
        let entries = canonical_entries(&state, "/entries", body.entries)?;
        check_capacity(&state, entries.len())?;
        Ok((reader, list, entries))
    });
    let (reader, list, entries) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return error.into_response(),
    };
    let values: Vec<&str> = entries.iter().map(|entry| entry.value.as_str()).collect();
    let query = json!({ "watchlist": id, "added": values });
    let body = changed(state.alerts.add_entries(&id, &entries));
    audited(
        &state,
        &reader,
        "POST /v1/watchlists/{id}/entries",
        &list,
        query,
        body,
    )
    .await
}

/// `DELETE /v1/watchlists/{id}/entries` `{ "values": [...] }` → 200 with the watchlist. Values are canonicalized
/// as on entry, so `hxxp://evil[.]example` removes `http://evil.example`.
pub(crate) async fn remove_entries(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let prepared = Reader::of(&state, principal.ok()).and_then(|reader| {
        let list = own(&state, &reader, &id)?;
        json_body::require_json(&headers)?;
        let body: RemoveBody = json_body::parse(&body)?;
        let entries = body
            .values
            .into_iter()
            .map(|value| EntryBody {
                value,
                kind: None,
                include_subdomains: false,
            })
            .collect();
        let values: Vec<String> = canonical_entries(&state, "/values", entries)?
            .into_iter()
            .map(|entry| entry.value)
            .collect();
        Ok((reader, list, values))
    });
    let (reader, list, values) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return error.into_response(),
    };
    let query = json!({ "watchlist": id, "removed": values });
    let body = changed(state.alerts.remove_entries(&id, &values));
    audited(
        &state,
        &reader,
        "DELETE /v1/watchlists/{id}/entries",
        &list,
        query,
        body,
    )
    .await
}
