//! Bearer tokens and the [`Principal`] extractor.
//!
//! Tokens are 256 random bits, shown once as `acc_<hex>`, and stored only as the hex SHA-256 of the whole string.
//! The bootstrap coordinator token (`ACCORD_ADMIN_TOKEN`, or the one `accord up` generates) is checked first and acts
//! for the operator organization `accord-admin`.

use std::sync::Arc;

use accord_domain::{OrgId, Organization, Role, TokenId};
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
}

impl Authenticator {
    /// Returns an authenticator; `bootstrap_hash` is the hash of the bootstrap coordinator token, if any.
    pub fn new(directory: Arc<Directory>, bootstrap_hash: Option<String>) -> Self {
        Self {
            directory,
            bootstrap_hash,
        }
    }

    /// Returns the directory it reads.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    /// Resolves a secret to a principal.
    ///
    /// # Errors
    /// Returns [`ApiError::Unauthorized`] for an unknown or revoked token, or one whose organization is unknown.
    pub fn authenticate(&self, secret: &str) -> Result<Principal, ApiError> {
        let hash = hash_secret(secret);
        if self.bootstrap_hash.as_deref() == Some(hash.as_str()) {
            return Ok(Principal {
                token_id: ADMIN_TOKEN_ID.to_owned(),
                organization: OrgId::parse(ADMIN_ORG).map_err(ApiError::internal)?,
                role: Role::Coordinator,
            });
        }
        let snapshot = self.directory.snapshot();
        let Some(token) = snapshot.tokens_by_hash.get(&hash) else {
            return Err(ApiError::Unauthorized);
        };
        if token.revoked_at.is_some() || !snapshot.orgs.contains_key(&token.organization) {
            return Err(ApiError::Unauthorized);
        }
        Ok(Principal {
            token_id: token.id.to_string(),
            organization: token.organization.clone(),
            role: token.role,
        })
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
}
