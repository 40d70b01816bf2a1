//! Tokens: issued with an expiry, revoked at once; the bootstrap token revoked for good.
//!
//! `POST /v1/tokens` issues a token whose `expires_at` is the one asked for (in the future, at most
//! `admin.token_max_lifetime_days` away) or `admin.token_default_lifetime_days` from now; the secret is in the
//! response and nowhere else. `DELETE /v1/tokens/{id}` revokes a token; `DELETE /v1/tokens/bootstrap` revokes the
//! bootstrap token. Authentication checks both ([`accord_runtime::auth`]).

use accord_domain::{
    Case, CaseBinding, DirectoryEvent, OrgId, OrgKind, Purpose, Role, Timestamp, TokenId,
    TokenRecord, topics,
};
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

use crate::{AppState, Config, page::PageParams, page::paginate};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    organization: OrgId,
    role: Role,
    #[serde(default)]
    label: String,
    #[serde(default)]
    expires_at: Option<Timestamp>,
    /// With `case`: binds an investigator token to a purpose and case.
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    case: Option<String>,
}

/// The body of `POST /v1/tokens/case`: an investigator's case-bound token for its own organization.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCaseToken {
    purpose: String,
    case: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    expires_at: Option<Timestamp>,
}

/// The longest a case-bound token may live: a case team's credential for a TAXII client or a SIEM.
pub(crate) const MAX_BOUND_DAYS: u32 = 90;

/// Returns the binding of a purpose and case as stated, or the 422 naming `/purpose` or `/case`; `None` when neither
/// is given, 422 when only one is.
fn binding(purpose: Option<&str>, case: Option<&str>) -> Result<Option<CaseBinding>, ApiError> {
    let (purpose, case) = match (purpose, case) {
        (None, None) => return Ok(None),
        (Some(purpose), Some(case)) => (purpose, case),
        (None, Some(_)) => {
            return Err(ApiError::invalid_field(
                "/purpose",
                "required with a case: a token is bound to both",
            ));
        }
        (Some(_), None) => {
            return Err(ApiError::invalid_field(
                "/case",
                "required with a purpose: a token is bound to both",
            ));
        }
    };
    let purpose = Purpose::normalize(purpose)
        .map_err(|error| ApiError::invalid_field("/purpose", error.to_string()))?;
    let case =
        Case::parse(case).map_err(|error| ApiError::invalid_field("/case", error.to_string()))?;
    Ok(Some(CaseBinding { purpose, case }))
}

/// Returns when a new token expires: `asked`, or the default lifetime from `now`; 422 naming `/expires_at` when
/// `asked` is not in the future or beyond the longest lifetime (for a case-bound token, also at most
/// [`MAX_BOUND_DAYS`]).
fn expiry(
    config: &Config,
    now: Timestamp,
    asked: Option<Timestamp>,
    bound: bool,
) -> Result<Timestamp, ApiError> {
    let days = |days: u32| chrono::Duration::days(days.into());
    let mut config = config.clone();
    if bound {
        config.token_max_lifetime_days = config.token_max_lifetime_days.min(MAX_BOUND_DAYS);
        config.token_default_lifetime_days = config
            .token_default_lifetime_days
            .min(config.token_max_lifetime_days);
    }
    let config = &config;
    let Some(asked) = asked else {
        return Ok(now + days(config.token_default_lifetime_days));
    };
    if asked <= now {
        return Err(ApiError::invalid_field(
            "/expires_at",
            "must be in the future",
        ));
    }
    if asked > now + days(config.token_max_lifetime_days) {
        return Err(ApiError::invalid_field(
            "/expires_at",
            format!(
                "at most {} days from now (admin.token_max_lifetime_days)",
                config.token_max_lifetime_days
            ),
        ));
    }
    Ok(asked)
}

/// Returns whether an organization of `kind` may hold a token with `role`.
fn role_fits(kind: OrgKind, role: Role) -> bool {
    match role {
        Role::Partner => kind == OrgKind::Partner,
        Role::Investigator => kind == OrgKind::Agency,
        Role::Coordinator => kind == OrgKind::Operator,
        Role::Auditor => kind != OrgKind::Partner,
    }
}

/// `POST /v1/tokens`: the secret is in this response and nowhere else.
pub(crate) async fn issue(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Coordinator)?;
    json::require_json(&headers)?;
    let issued = issue_token(&state, &principal, &body).await?;
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}

/// Issues a token for an organization and role: the whole of `POST /v1/tokens` but the media type check, returning
/// `{ "id", "token", … }` — the secret is in this answer and nowhere else. The HTTP handler and the web console call
/// this.
///
/// # Errors
/// 403 for anyone but a coordinator, 400/422 naming the bad field (`/organization`, `/role`, `/expires_at`, …),
/// 503 when the record could not be stored.
pub async fn issue_token(
    state: &AppState,
    principal: &Principal,
    body: &[u8],
) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let new: NewToken = json::parse(body)?;
    let binding = binding(new.purpose.as_deref(), new.case.as_deref())?;
    if binding.is_some() && new.role != Role::Investigator {
        return Err(ApiError::invalid_field(
            "/role",
            "only an investigator token can be bound to a purpose and case",
        ));
    }
    let snapshot = state.deps.directory.snapshot();
    let Some(org) = snapshot.orgs.get(&new.organization) else {
        return Err(ApiError::invalid_field(
            "/organization",
            "unknown organization",
        ));
    };
    if !role_fits(org.kind, new.role) {
        return Err(ApiError::invalid_field(
            "/role",
            format!(
                "a {:?} organization cannot hold a {} token",
                org.kind,
                new.role.as_str()
            )
            .to_lowercase(),
        ));
    }
    let token = NewRecord {
        organization: new.organization,
        role: new.role,
        label: new.label,
        expires_at: new.expires_at,
        binding,
    };
    store_new_token(state, token).await
}

/// `POST /v1/tokens/case`: an investigator issues a case-bound token for its own organization (a case team
/// configuring a TAXII client or a SIEM without a coordinator). A case-bound token cannot issue tokens.
pub(crate) async fn issue_case(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Investigator)?;
    if principal.binding.is_some() {
        return Err(ApiError::Forbidden(
            "a case-bound token cannot issue tokens".to_owned(),
        ));
    }
    json::require_json(&headers)?;
    let new: NewCaseToken = json::parse(&body)?;
    let binding = binding(Some(&new.purpose), Some(&new.case))?;
    let token = NewRecord {
        organization: principal.organization.clone(),
        role: Role::Investigator,
        label: new.label,
        expires_at: new.expires_at,
        binding,
    };
    let issued = store_new_token(&state, token).await?;
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}

/// A token about to be issued.
struct NewRecord {
    organization: OrgId,
    role: Role,
    label: String,
    expires_at: Option<Timestamp>,
    binding: Option<CaseBinding>,
}

/// Issues a token: its expiry checked, its record published, the secret answered once.
async fn store_new_token(state: &AppState, new: NewRecord) -> Result<Value, ApiError> {
    let now = chrono::Utc::now();
    let expires_at = expiry(&state.config, now, new.expires_at, new.binding.is_some())?;
    let secret = auth::generate_secret();
    let record = TokenRecord {
        id: TokenId::parse(&auth::generate_token_id()).map_err(ApiError::internal)?,
        organization: new.organization,
        role: new.role,
        label: new.label,
        hash: auth::hash_secret(&secret),
        created_at: now,
        revoked_at: None,
        expires_at: Some(expires_at),
        binding: new.binding,
    };
    let event = DirectoryEvent::Token(record.clone());
    let payload = serde_json::to_vec(&event).map_err(ApiError::internal)?;
    state
        .publish_and_apply(topics::ADMIN_DIRECTORY, event.key(), payload)
        .await?;
    let mut body = json!({
        "id": record.id,
        "token": secret,
        "organization": record.organization,
        "role": record.role,
        "label": record.label,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
    });
    if let Some(binding) = &record.binding {
        body["purpose"] = json!(binding.purpose);
        body["case"] = json!(binding.case);
    }
    Ok(body)
}

/// `DELETE /v1/tokens/{id}`: revoked for every following request. `DELETE /v1/tokens/bootstrap` revokes the
/// bootstrap token this admin was started with.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    revoke_token(&state, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revokes a token (`bootstrap`: the bootstrap token) for every following request: the whole of
/// `DELETE /v1/tokens/{id}`. Revoking a revoked token changes nothing. The HTTP handler and the web console call
/// this.
///
/// # Errors
/// 403 for anyone but a coordinator, 404 for an unknown token, 503 when the change could not be stored.
pub async fn revoke_token(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(), ApiError> {
    principal.require(Role::Coordinator)?;
    if id == BOOTSTRAP {
        return revoke_bootstrap(state).await;
    }
    let snapshot = state.deps.directory.snapshot();
    let Some(token) = snapshot.token(id) else {
        return Err(ApiError::NotFound);
    };
    if token.revoked_at.is_some() {
        return Ok(());
    }
    let mut revoked = token.clone();
    revoked.revoked_at = Some(chrono::Utc::now());
    let event = DirectoryEvent::Token(revoked);
    let payload = serde_json::to_vec(&event).map_err(ApiError::internal)?;
    state
        .publish_and_apply(topics::ADMIN_DIRECTORY, event.key(), payload)
        .await
}

/// `GET /v1/tokens?organization=&limit=&cursor=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(list_tokens(&state, &principal, &query)?).into_response())
}

/// The query of `GET /v1/tokens`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenQuery {
    /// Only this organization's tokens.
    pub organization: Option<String>,
    /// The most tokens (default 100, at most 1000).
    pub limit: Option<usize>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
}

/// Lists tokens by organization, then label, a page at a time, each with its state (`active`, `expired`,
/// `revoked`) and when it was last used — never its secret or hash: the whole of `GET /v1/tokens`
/// (`{ "tokens": […], "next": cursor | null }`). The HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but a coordinator, 400 for a cursor this listing did not return.
pub fn list_tokens(
    state: &AppState,
    principal: &Principal,
    query: &TokenQuery,
) -> Result<Value, ApiError> {
    principal.require(Role::Coordinator)?;
    let snapshot = state.deps.directory.snapshot();
    let now = chrono::Utc::now();
    let mut tokens: Vec<(String, Value)> = snapshot
        .tokens_by_hash
        .values()
        .filter(|token| {
            query
                .organization
                .as_deref()
                .is_none_or(|org| token.organization.as_str() == org)
        })
        .map(|token| {
            let key = format!(
                "{}\u{1f}{}\u{1f}{}",
                token.organization, token.label, token.id
            );
            (key, listed(state, token, now))
        })
        .collect();
    tokens.sort_by(|a, b| a.0.cmp(&b.0));
    let params = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let (items, next) = paginate(tokens, &params)?;
    Ok(json!({ "tokens": items, "next": next }))
}

/// A token as listed: everything but its hash.
fn listed(state: &AppState, token: &TokenRecord, now: Timestamp) -> Value {
    let status = if token.revoked_at.is_some() {
        "revoked"
    } else if token.is_valid_at(now) {
        "active"
    } else {
        "expired"
    };
    let mut body = json!({
        "id": token.id,
        "organization": token.organization,
        "role": token.role,
        "label": token.label,
        "status": status,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": state.deps.auth.last_used(token.id.as_str()),
    });
    if let Some(binding) = &token.binding {
        body["purpose"] = json!(binding.purpose);
        body["case"] = json!(binding.case);
    }
    body
}

/// The path segment that names the bootstrap token.
const BOOTSTRAP: &str = "bootstrap";

/// Revokes the bootstrap token (its hash, as this admin knows it) for good: a revoked token record with its hash on
/// the directory topic, which every process's authenticator checks before the bootstrap hash, after restarts too.
/// Another bootstrap value set later (`ACCORD_ADMIN_TOKEN`) is a new token, the operator's way back in.
async fn revoke_bootstrap(state: &AppState) -> Result<(), ApiError> {
    let Some(hash) = state.deps.auth.bootstrap_hash() else {
        return Err(ApiError::NotFound);
    };
    let snapshot = state.deps.directory.snapshot();
    if snapshot
        .tokens_by_hash
        .get(hash)
        .is_some_and(|token| token.revoked_at.is_some())
    {
        return Ok(());
    }
    let record =
        auth::bootstrap_revocation(hash, chrono::Utc::now()).map_err(ApiError::internal)?;
    let event = DirectoryEvent::Token(record);
    let payload = serde_json::to_vec(&event).map_err(ApiError::internal)?;
    state
        .publish_and_apply(topics::ADMIN_DIRECTORY, event.key(), payload)
        .await?;
    tracing::info!("bootstrap token revoked");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_get_the_default_lifetime_and_never_more_than_the_longest() {
        let config = Config {
            token_default_lifetime_days: 30,
            token_max_lifetime_days: 60,
            ..Config::default()
        };
        let now = chrono::Utc::now();
        assert_eq!(
            expiry(&config, now, None, false).unwrap(),
            now + chrono::Duration::days(30)
        );
        let asked = now + chrono::Duration::days(45);
        assert_eq!(expiry(&config, now, Some(asked), false).unwrap(), asked);
        for refused in [
            now,
            now - chrono::Duration::seconds(1),
            now + chrono::Duration::days(61),
        ] {
            let Err(ApiError::Unprocessable { errors, .. }) =
                expiry(&config, now, Some(refused), false)
            else {
                panic!("{refused} accepted");
            };
            assert_eq!(errors[0].pointer, "/expires_at");
        }
    }
}
