//! Bearer tokens and the [`Principal`] extractor.
//!
//! Tokens are 256 random bits, shown once as `acc_<hex>`, and stored only as the hex SHA-256 of the whole string.
//! A token is valid until it is revoked or its `expires_at` passes ([`TokenRecord::is_valid_at`]): the one check,
//! here, that every API and TAXII (Bearer or Basic) goes through, so an expired or revoked token is 401 everywhere.
//!
//! The bootstrap coordinator token (`ACCORD_ADMIN_TOKEN`, `ACCORD_ADMIN_TOKEN_FILE`, or the one admin generates)
//! acts for the operator organization `accord-admin`. It is revoked like any token, by a revoked token record with
//! its hash on the directory topic ([`bootstrap_revocation`]): that record is checked first, so a revoked bootstrap
//! token stays refused after a restart and in every process, while a new bootstrap value works again.

use std::sync::Arc;

use accord_domain::{CaseBinding, OrgId, Organization, Role, Timestamp, TokenId, TokenRecord};
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{ApiError, Directory};

/// The operator organization of the bootstrap token.
pub const ADMIN_ORG: &str = "accord-admin";
/// The token id the bootstrap token appears under in audit records and MoU history.
pub const ADMIN_TOKEN_ID: &str = "bootstrap-admin";

/// Returns the revoked token record that retires the bootstrap token of hash `hash` (published by
/// `DELETE /v1/tokens/bootstrap`). Its id is derived from the hash, so that revoking a later bootstrap value adds a
/// record rather than replacing this one on the compacted topic.
///
/// # Errors
/// Never in practice (the id is a valid slug); an [`accord_domain::IdError`] otherwise.
pub fn bootstrap_revocation(
    hash: &str,
    at: Timestamp,
) -> Result<TokenRecord, accord_domain::IdError> {
    let prefix: String = hash.chars().take(16).collect();
    Ok(TokenRecord {
        id: TokenId::parse(&format!("bootstrap-{prefix}"))?,
        organization: OrgId::parse(ADMIN_ORG)?,
        role: Role::Coordinator,
        label: "bootstrap".to_owned(),
        hash: hash.to_owned(),
        created_at: at,
        revoked_at: Some(at),
        expires_at: None,
        binding: None,
    })
}

/// Returns a fresh random token secret: `acc_` + 64 hex characters.
pub fn generate_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("acc_{}", hex::encode(bytes))
}

/// Returns a fresh random public token id.
pub fn generate_token_id() -> String {
    let mut bytes = [0_u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("tok-{}", hex::encode(bytes))
}

/// Returns the hex SHA-256 of a token secret: the only form in which tokens are stored.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Who is calling: resolved from the bearer token on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's public id.
    pub token_id: String,
    /// The token's organization.
    pub organization: OrgId,
    /// The token's role.
    pub role: Role,
    /// For a case-bound investigator token, the purpose and case every read is bound to.
    pub binding: Option<CaseBinding>,
}

impl Principal {
    /// Returns `Ok` when the principal has `role`, else a 403.
    ///
    /// # Errors
    /// Returns [`ApiError::Forbidden`] naming the required role.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role == role {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "this endpoint requires the {} role",
            role.as_str()
        )))
    }
}

/// Resolves bearer tokens against the directory and the bootstrap token.
#[derive(Debug, Clone)]
pub struct Authenticator {
    directory: Arc<Directory>,
    bootstrap_hash: Option<String>,
    /// When each token last authenticated a request in this process (by token id): bounded by the directory's
    /// tokens, lost at restart (docs/decisions/0032-console-organizations-and-tokens.md).
    last_used: Arc<std::sync::Mutex<std::collections::HashMap<String, Timestamp>>>,
}

impl Authenticator {
    /// Returns an authenticator; `bootstrap_hash` is the hash of the bootstrap coordinator token, if any.
    pub fn new(directory: Arc<Directory>, bootstrap_hash: Option<String>) -> Self {
        Self {
            directory,
            bootstrap_hash,
            last_used: Arc::default(),
        }
    }

    /// Returns when the token `token_id` last authenticated a request in this process, if it has since start.
    pub fn last_used(&self, token_id: &str) -> Option<Timestamp> {
        self.last_used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token_id)
            .copied()
    }

    /// Returns the directory it reads.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    /// Returns the hash of this process's bootstrap token, if it has one.
    pub fn bootstrap_hash(&self) -> Option<&str> {
        self.bootstrap_hash.as_deref()
    }

    /// Resolves a secret to a principal.
    ///
    /// # Errors
    /// Returns [`ApiError::Unauthorized`] for an unknown, revoked or expired token (the bootstrap token included),
    /// or one whose organization is unknown.
    pub fn authenticate(&self, secret: &str) -> Result<Principal, ApiError> {
        let hash = hash_secret(secret);
        let snapshot = self.directory.snapshot();
        if let Some(token) = snapshot.tokens_by_hash.get(&hash) {
            let now = chrono::Utc::now();
            if !token.is_valid_at(now) || !snapshot.orgs.contains_key(&token.organization) {
                return Err(ApiError::Unauthorized);
            }
            self.last_used
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(token.id.to_string(), now);
            return Ok(Principal {
                token_id: token.id.to_string(),
                organization: token.organization.clone(),
                role: token.role,
                binding: token.binding.clone(),
            });
        }
        if self.bootstrap_hash.as_deref() == Some(hash.as_str()) {
            return Ok(Principal {
                token_id: ADMIN_TOKEN_ID.to_owned(),
                organization: OrgId::parse(ADMIN_ORG).map_err(ApiError::internal)?,
                role: Role::Coordinator,
                binding: None,
            });
        }
        Err(ApiError::Unauthorized)
    }

    /// Returns the organization of a principal, if it is in the directory.
    pub fn organization(&self, principal: &Principal) -> Option<Organization> {
        self.directory
            .snapshot()
            .orgs
            .get(&principal.organization)
            .cloned()
    }
}

/// Returns the token id as a [`TokenId`] for records that need one.
pub fn token_id(principal: &Principal) -> Option<TokenId> {
    TokenId::parse(&principal.token_id).ok()
}

impl<S> FromRequestParts<S> for Principal
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authenticator = Authenticator::from_ref(state);
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::Unauthorized);
        };
        let Ok(value) = value.to_str() else {
            return Err(ApiError::Unauthorized);
        };
        let Some(secret) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return Err(ApiError::Unauthorized);
        };
        authenticator.authenticate(secret.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashes_stable() {
        let first = generate_secret();
        assert_ne!(first, generate_secret());
        assert!(first.starts_with("acc_") && first.len() == 68);
        assert_eq!(hash_secret("x"), hash_secret("x"));
        assert_ne!(hash_secret("x"), hash_secret("y"));
    }

    #[test]
    fn bootstrap_token_is_a_coordinator_and_unknown_tokens_are_refused() {
        let directory = Arc::new(Directory::new());
        let auth = Authenticator::new(directory, Some(hash_secret("boot")));
        let principal = auth.authenticate("boot").unwrap();
        assert_eq!(principal.role, Role::Coordinator);
        assert_eq!(principal.organization.as_str(), ADMIN_ORG);
        assert!(matches!(
            auth.authenticate("nope"),
            Err(ApiError::Unauthorized)
        ));
    }

    fn org(id: &str, kind: accord_domain::OrgKind) -> Organization {
        Organization {
            id: OrgId::parse(id).unwrap(),
            name: id.to_owned(),
            kind,
            country: "DE".to_owned(),
            sector: None,
            default_tlp: None,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn expired_tokens_and_a_revoked_bootstrap_token_are_refused() {
        let directory = Arc::new(Directory::new());
        directory.apply_directory_event(accord_domain::DirectoryEvent::Organization(org(
            "ncu-de",
            accord_domain::OrgKind::Agency,
        )));
        let now = chrono::Utc::now();
        let token = |secret: &str, expires_at: Option<Timestamp>| TokenRecord {
            id: TokenId::parse(&format!("tok-{secret}")).unwrap(),
            organization: OrgId::parse("ncu-de").unwrap(),
            role: Role::Investigator,
            label: String::new(),
            hash: hash_secret(secret),
            created_at: now - chrono::Duration::days(2),
            revoked_at: None,
            expires_at,
            binding: None,
        };
        for record in [
            token("live", Some(now + chrono::Duration::hours(1))),
            token("expired", Some(now - chrono::Duration::seconds(1))),
            token("forever", None),
        ] {
            directory.apply_directory_event(accord_domain::DirectoryEvent::Token(record));
        }
        let auth = Authenticator::new(Arc::clone(&directory), Some(hash_secret("boot")));
        assert!(auth.authenticate("live").is_ok());
        assert!(auth.authenticate("forever").is_ok());
        assert!(matches!(
            auth.authenticate("expired"),
            Err(ApiError::Unauthorized)
        ));

        assert!(auth.authenticate("boot").is_ok());
        let revocation = bootstrap_revocation(&hash_secret("boot"), now).unwrap();
        directory.apply_directory_event(accord_domain::DirectoryEvent::Token(revocation));
        assert!(matches!(
            auth.authenticate("boot"),
            Err(ApiError::Unauthorized)
        ));
        // A new bootstrap value (the operator's way back in) is not the revoked one.
        let renewed = Authenticator::new(directory, Some(hash_secret("boot-2")));
        assert_eq!(
            renewed.authenticate("boot-2").unwrap().role,
            Role::Coordinator
        );
    }
}
