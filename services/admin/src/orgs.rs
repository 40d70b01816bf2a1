//! Organizations: registered, listed and changed by coordinators. Each operation is one public function that the
//! HTTP handler and the web console both call (docs/decisions/0025-console-as-a-client.md).

use accord_domain::{DirectoryEvent, OrgId, OrgKind, Organization, Role, Tlp, country, topics};
use accord_runtime::{ApiError, Principal, auth, json};
use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    AppState,
    page::{PageParams, paginate},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrganization {
    id: OrgId,
    name: String,
    kind: OrgKind,
    country: String,
    #[serde(default)]
    sector: Option<String>,
    #[serde(default)]
    default_tlp: Option<Tlp>,
}

/// `POST /v1/organizations`.
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Coordinator)?;
    json::require_json(&headers)?;
    let org = create_organization(&state, &principal, &body).await?;
    Ok((StatusCode::CREATED, Json(org)).into_response())
}

/// Registers an organization (a partner or an agency): the whole of `POST /v1/organizations` but the media type
/// check, returning the stored organization. The HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 400/422 naming the bad field, 409 when the id is taken, 503 when the change
/// could not be stored.
pub async fn create_organization(
    state: &AppState,
    principal: &Principal,
    body: &[u8],
) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let new: NewOrganization = json::parse(body)?;
    if new.kind == OrgKind::Operator {
        return Err(ApiError::invalid_field(
            "/kind",
            "must be partner or agency",
        ));
    }
    let country = parse_country(&new.country)?;
    if new.name.trim().is_empty() {
        return Err(ApiError::invalid_field("/name", "must not be empty"));
    }
    if new.default_tlp.is_some() && new.kind != OrgKind::Partner {
        return Err(ApiError::invalid_field(
            "/default_tlp",
            "only partners have a default TLP",
        ));
    }
    if new.id.as_str() == auth::ADMIN_ORG
        || state.deps.directory.snapshot().orgs.contains_key(&new.id)
    {
        return Err(ApiError::Conflict(format!(
            "organization `{}` already exists",
            new.id
        )));
    }
    let org = Organization {
        id: new.id,
        name: new.name.trim().to_owned(),
        kind: new.kind,
        country,
        sector: new.sector.map(|sector| sector.trim().to_ascii_lowercase()),
        default_tlp: new.default_tlp,
        created_at: chrono::Utc::now(),
    };
    let event = DirectoryEvent::Organization(org.clone());
    let payload = serde_json::to_vec(&event).map_err(ApiError::internal)?;
    state
        .publish_and_apply(topics::ADMIN_DIRECTORY, event.key(), payload)
        .await?;
    serde_json::to_value(org).map_err(ApiError::internal)
}

/// `GET /v1/organizations`.
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    Ok(Json(list_organizations(&state, &principal, &params)?).into_response())
}

/// Lists the organizations by id, a page at a time: the whole of `GET /v1/organizations`
/// (`{ "organizations": […], "next": cursor | null }`). The HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 400 for a cursor this listing did not return.
pub fn list_organizations(
    state: &AppState,
    principal: &Principal,
    params: &PageParams,
) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let snapshot = state.deps.directory.snapshot();
    let mut orgs: Vec<(String, Organization)> = snapshot
        .orgs
        .values()
        .map(|org| (org.id.to_string(), org.clone()))
        .collect();
    orgs.sort_by(|a, b| a.0.cmp(&b.0));
    let (items, next) = paginate(orgs, params)?;
    Ok(json!({ "organizations": items, "next": next }))
}

/// `GET /v1/organizations/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(organization(&state, &principal, &id)?).into_response())
}

/// Returns one organization: the whole of `GET /v1/organizations/{id}`. The HTTP handler and the web console call
/// this.
///
/// # Errors
/// 403 for anyone but a coordinator, 404 for an unknown organization.
pub fn organization(state: &AppState, principal: &Principal, id: &str) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let Ok(id) = OrgId::parse(id) else {
        return Err(ApiError::NotFound);
    };
    let snapshot = state.deps.directory.snapshot();
    let Some(org) = snapshot.orgs.get(&id) else {
        return Err(ApiError::NotFound);
    };
    serde_json::to_value(org).map_err(ApiError::internal)
}

/// Deserializes a present field as `Some(value)`, `null` included, so that `null` can clear an optional field while
/// an absent field (`None`, by `#[serde(default)]`) leaves it alone.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// The body of `PATCH /v1/organizations/{id}`: every field optional; `id` and `kind` cannot change. `name` and
/// `country` are required fields of an organization: `null` is refused, not ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationPatch {
    #[serde(default, deserialize_with = "present")]
    name: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    country: Option<Value>,
    /// A string sets the sector, `null` clears it.
    #[serde(default, deserialize_with = "present")]
    sector: Option<Value>,
    /// A TLP sets the partner's default, `null` clears it.
    #[serde(default, deserialize_with = "present")]
    default_tlp: Option<Value>,
}

/// Returns the ISO 3166-1 alpha-2 code in upper case, or the problem naming `/country`.
fn parse_country(code: &str) -> Result<String, ApiError> {
    country::country(code)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::invalid_field("/country", country::NOT_A_COUNTRY))
}

/// Returns the string of a present required field, or the problem naming it (`null` and other types refused).
fn required_string(pointer: &str, value: Value) -> Result<String, ApiError> {
    match value {
        Value::String(text) => Ok(text),
        Value::Null => Err(ApiError::invalid_field(
            pointer,
            "is required and cannot be null",
        )),
        _ => Err(ApiError::invalid_field(pointer, "must be a string")),
    }
}

/// Applies a patch to `org`, validating every field (422 naming the first bad one).
fn apply_patch(org: &Organization, patch: OrganizationPatch) -> Result<Organization, ApiError> {
    let mut updated = org.clone();
    if let Some(name) = patch.name {
        let name = required_string("/name", name)?;
        if name.trim().is_empty() {
            return Err(ApiError::invalid_field("/name", "must not be empty"));
        }
        updated.name = name.trim().to_owned();
    }
    if let Some(country) = patch.country {
        updated.country = parse_country(&required_string("/country", country)?)?;
    }
    match patch.sector {
        None => {}
        Some(Value::Null) => updated.sector = None,
        Some(Value::String(sector)) if !sector.trim().is_empty() => {
            updated.sector = Some(sector.trim().to_ascii_lowercase());
        }
        Some(_) => {
            return Err(ApiError::invalid_field(
                "/sector",
                "must be a non-empty string or null",
            ));
        }
    }
    match patch.default_tlp {
        None => {}
        Some(Value::Null) => updated.default_tlp = None,
        Some(value) => {
            let tlp: Tlp = serde_json::from_value(value).map_err(|_| {
                ApiError::invalid_field(
                    "/default_tlp",
                    "must be clear, green, amber, amber+strict, red or null",
                )
            })?;
            if org.kind != OrgKind::Partner {
                return Err(ApiError::invalid_field(
                    "/default_tlp",
                    "only partners have a default TLP",
                ));
            }
            updated.default_tlp = Some(tlp);
        }
    }
    Ok(updated)
}

/// `PATCH /v1/organizations/{id}`.
pub(crate) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Coordinator)?;
    json::require_json(&headers)?;
    Ok(Json(update_organization(&state, &principal, &id, &body).await?).into_response())
}

/// Changes an organization's name, country, sector or default TLP: the whole of `PATCH /v1/organizations/{id}` but
/// the media type check, returning the organization as it now is. The new record is published on the directory
/// topic; search applies it to the next query (an agency's country decides `recipient_countries`) and the enforcer
/// re-evaluates the reports it affects, extending or withdrawing indexed views. The HTTP handler and the web console
/// call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 404 for an unknown organization, 400/422 naming the bad field, 409 for the
/// operator, 503 when the change could not be stored.
pub async fn update_organization(
    state: &AppState,
    principal: &Principal,
    id: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let Ok(id) = OrgId::parse(id) else {
        return Err(ApiError::NotFound);
    };
    let snapshot = state.deps.directory.snapshot();
    let Some(org) = snapshot.orgs.get(&id) else {
        return Err(ApiError::NotFound);
    };
    let raw = json::parse_value(body)?;
    for immutable in ["id", "kind"] {
        if raw.get(immutable).is_some() {
            return Err(ApiError::invalid_field(
                &format!("/{immutable}"),
                "cannot be changed",
            ));
        }
    }
    let patch: OrganizationPatch = json::from_value(raw)?;
    if org.kind == OrgKind::Operator {
        return Err(ApiError::Conflict(
            "the operator organization cannot be changed".to_owned(),
        ));
    }
    let updated = apply_patch(org, patch)?;
    if &updated != org {
        let event = DirectoryEvent::Organization(updated.clone());
        let payload = serde_json::to_vec(&event).map_err(ApiError::internal)?;
        state
            .publish_and_apply(topics::ADMIN_DIRECTORY, event.key(), payload)
            .await?;
        tracing::info!(organization = %updated.id, "organization updated");
    }
    serde_json::to_value(updated).map_err(ApiError::internal)
}

/// Publishes the operator organization `accord-admin` if the directory lacks it, so that auditor tokens can be
/// issued to the operator.
///
/// # Errors
/// Fails when the bus refuses the record.
pub(crate) async fn ensure_operator(state: &AppState) -> Result<(), ApiError> {
    let id = OrgId::parse(auth::ADMIN_ORG).map_err(ApiError::internal)?;
    if state.deps.directory.snapshot().orgs.contains_key(&id) {
        return Ok(());
    }
    let org = Organization {
        id,
        name: "Accord operator".to_owned(),
        kind: OrgKind::Operator,
        country: "ZZ".to_owned(),
        sector: None,
        default_tlp: None,
        created_at: chrono::Utc::now(),
    };
    let event = DirectoryEvent::Organization(org);
    let payload = serde_json::to_vec(&event).map_err(ApiError::internal)?;
    state
        .publish_and_apply(topics::ADMIN_DIRECTORY, event.key(), payload)
        .await
}
