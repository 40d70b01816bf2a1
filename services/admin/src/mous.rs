//! Versioned MoUs: every change is a new version with who and when; versions are never edited in place.

use accord_domain::{Mou, MouId, MouStatus, MouVersion, Role, topics};
use accord_runtime::{ApiError, Principal, json};
use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::{
    AppState,
    page::{PageParams, paginate},
};

/// Serializes MoU writes in this process, so version numbers never collide.
static WRITE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Renders a version as the API shows it: the MoU's fields plus `version`, `changed_by`, `changed_at`.
fn render(version: &MouVersion) -> Value {
    let mut value = serde_json::to_value(&version.mou).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut value {
        map.insert("version".to_owned(), json!(version.version));
        map.insert("changed_by".to_owned(), json!(version.changed_by));
        map.insert("changed_at".to_owned(), json!(version.changed_at));
        if let Some(reason) = &version.reason {
            map.insert("reason".to_owned(), json!(reason));
        }
    }
    value
}

/// Parses an MoU body and validates it with the one MoU validation ([`accord_domain::MouValidator`]). `id` comes
/// from the path on update.
fn parse_mou(state: &AppState, body: &[u8], id: Option<&MouId>) -> Result<Mou, ApiError> {
    let document = json::parse_value(body)?;
    let snapshot = state.deps.directory.snapshot();
    Ok(state.mou_validator.validate(document, id, &snapshot.orgs)?)
}

async fn store(
    state: &AppState,
    principal: &Principal,
    mou: Mou,
    version: u32,
) -> Result<MouVersion, ApiError> {
    store_why(state, principal, mou, version, None).await
}

async fn store_why(
    state: &AppState,
    principal: &Principal,
    mou: Mou,
    version: u32,
    reason: Option<String>,
) -> Result<MouVersion, ApiError> {
    let stored = MouVersion {
        mou,
        version,
        changed_by: principal.token_id.clone(),
        changed_at: chrono::Utc::now(),
        reason,
    };
    let payload = serde_json::to_vec(&stored).map_err(ApiError::internal)?;
    state
        .publish_and_apply(topics::POLICY_MOUS, stored.key(), payload)
        .await?;
    Ok(stored)
}

/// `POST /v1/mous`.
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Coordinator)?;
    json::require_json(&headers)?;
    let stored = create_mou(&state, &principal, &body).await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

/// Stores a new MoU as its version 1: the whole of `POST /v1/mous` but the media type check, returning the stored
/// version. Validation is [`accord_domain::MouValidator`]'s, the one for every MoU. The HTTP handler and the web
/// console call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 400/422 naming each bad field, 409 when the id is taken, 503 when the version
/// could not be stored.
pub async fn create_mou(
    state: &AppState,
    principal: &Principal,
    body: &[u8],
) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let mou = parse_mou(state, body, None)?;
    let _guard = WRITE_LOCK.lock().await;
    if state.deps.directory.snapshot().mou(&mou.id).is_some() {
        return Err(ApiError::Conflict(format!(
            "MoU `{}` already exists; PUT /v1/mous/{} makes a new version",
            mou.id, mou.id
        )));
    }
    let stored = store(state, principal, mou, 1).await?;
    Ok(render(&stored))
}

fn current(state: &AppState, id: &str) -> Result<MouVersion, ApiError> {
    let Ok(id) = MouId::parse(id) else {
        return Err(ApiError::NotFound);
    };
    state
        .deps
        .directory
        .snapshot()
        .mou(&id)
        .cloned()
        .ok_or(ApiError::NotFound)
}

/// `PUT /v1/mous/{id}`: a new version.
pub(crate) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Coordinator)?;
    json::require_json(&headers)?;
    Ok(Json(update_mou(&state, &principal, &id, &body).await?).into_response())
}

/// Stores a new version of an MoU: the whole of `PUT /v1/mous/{id}` but the media type check, returning it. The
/// HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 404 for an unknown MoU, 409 for a revoked one, 400/422 naming each bad field,
/// 503 when the version could not be stored.
pub async fn update_mou(
    state: &AppState,
    principal: &Principal,
    id: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let _guard = WRITE_LOCK.lock().await;
    let latest = current(state, id)?;
    if latest.mou.status == MouStatus::Revoked {
        return Err(ApiError::Conflict(format!(
            "MoU `{id}` is revoked and cannot change"
        )));
    }
    let mou = parse_mou(state, body, Some(&latest.mou.id))?;
    let stored = store(state, principal, mou, latest.version + 1).await?;
    Ok(render(&stored))
}

/// The most characters of a lifecycle change's reason.
const MAX_REASON: usize = 500;

/// The optional body of `POST /v1/mous/{id}/suspend`, `…/resume` and `…/revoke`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Why {
    #[serde(default)]
    reason: Option<String>,
}

/// Reads the optional `{ "reason": "…" }` of a lifecycle change (an empty body: no reason).
fn reason(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    json::require_json(headers)?;
    let why: Why = json::parse(body)?;
    Ok(why.reason.map(|reason| reason.trim().to_owned()))
}

/// Refuses a reason that is empty, longer than [`MAX_REASON`] or not on one line (422 naming `/reason`).
fn check_reason(reason: &str) -> Result<(), ApiError> {
    if reason.trim().is_empty()
        || reason.chars().count() > MAX_REASON
        || reason.chars().any(char::is_control)
    {
        return Err(ApiError::invalid_field(
            "/reason",
            format!("must be 1 to {MAX_REASON} characters on one line"),
        ));
    }
    Ok(())
}

/// Suspends, resumes (`MouStatus::Active`, from suspended only) or revokes an MoU as a new version carrying
/// `reason`: the whole of `POST /v1/mous/{id}/suspend`, `…/resume` and `…/revoke` but reading the body. The HTTP
/// handlers and the web console call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 404 for an unknown MoU, 409 for a revoked one (or resuming one not
/// suspended), 422 naming `/reason` for a bad reason, 503 when the version could not be stored.
pub async fn change_mou_status(
    state: &AppState,
    principal: &Principal,
    id: &str,
    status: MouStatus,
    reason: Option<String>,
) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    if let Some(reason) = &reason {
        check_reason(reason)?;
    }
    let _guard = WRITE_LOCK.lock().await;
    let latest = current(state, id)?;
    if latest.mou.status == MouStatus::Revoked {
        return Err(ApiError::Conflict(format!("MoU `{id}` is already revoked")));
    }
    if status == MouStatus::Active && latest.mou.status != MouStatus::Suspended {
        return Err(ApiError::Conflict(format!("MoU `{id}` is not suspended")));
    }
    let mut mou = latest.mou.clone();
    mou.status = status;
    let stored = store_why(state, principal, mou, latest.version + 1, reason).await?;
    Ok(render(&stored))
}

/// A lifecycle change's handler: its optional reason read, then [`change_mou_status`].
async fn lifecycle(
    state: &AppState,
    principal: &Principal,
    id: &str,
    status: MouStatus,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    principal.require(Role::Coordinator)?;
    let reason = reason(headers, body)?;
    let stored = change_mou_status(state, principal, id, status, reason).await?;
    Ok(Json(stored).into_response())
}

/// `POST /v1/mous/{id}/suspend`.
pub(crate) async fn suspend(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    lifecycle(
        &state,
        &principal,
        &id,
        MouStatus::Suspended,
        &headers,
        &body,
    )
    .await
}

/// `POST /v1/mous/{id}/resume`: a suspended MoU in force again.
pub(crate) async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    lifecycle(&state, &principal, &id, MouStatus::Active, &headers, &body).await
}

/// `POST /v1/mous/{id}/revoke`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    lifecycle(&state, &principal, &id, MouStatus::Revoked, &headers, &body).await
}

/// `GET /v1/mous`: the latest version of each.
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    Ok(Json(list_mous(&state, &principal, &params)?).into_response())
}

/// Lists the latest version of each MoU by id, a page at a time: the whole of `GET /v1/mous`. The HTTP handler and
/// the web console call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 400 for a cursor this listing did not return.
pub fn list_mous(
    state: &AppState,
    principal: &Principal,
    params: &PageParams,
) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let snapshot = state.deps.directory.snapshot();
    let items: Vec<(String, Value)> = snapshot
        .mou_history
        .iter()
        .filter_map(|(id, versions)| versions.last().map(|last| (id.to_string(), render(last))))
        .collect();
    let (items, next) = paginate(items, params)?;
    Ok(json!({ "mous": items, "next": next }))
}

/// `GET /v1/mous/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(mou(&state, &principal, &id)?).into_response())
}

/// Returns the latest version of an MoU: the whole of `GET /v1/mous/{id}`. The HTTP handler and the web console
/// call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 404 for an unknown MoU.
pub fn mou(state: &AppState, principal: &Principal, id: &str) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    Ok(render(&current(state, id)?))
}

/// `GET /v1/mous/{id}/history`: every version, oldest first.
pub(crate) async fn history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(mou_history(&state, &principal, &id)?).into_response())
}

/// Returns every version of an MoU, oldest first: the whole of `GET /v1/mous/{id}/history`. The HTTP handler and
/// the web console call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 404 for an unknown MoU.
pub fn mou_history(state: &AppState, principal: &Principal, id: &str) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let Ok(id) = MouId::parse(id) else {
        return Err(ApiError::NotFound);
    };
    let snapshot = state.deps.directory.snapshot();
    let Some(versions) = snapshot.mou_history.get(&id) else {
        return Err(ApiError::NotFound);
    };
    let versions: Vec<Value> = versions.iter().map(render).collect();
    Ok(json!({ "id": id, "versions": versions, "next": null }))
}
