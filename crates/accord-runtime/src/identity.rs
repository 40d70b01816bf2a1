//! `GET /v1/me`: who a token is — its public id, its role, its organization and, for an investigator, the purposes
//! its agency may search for now (those at least one MoU in force grants it, `accord_policy::mous_in_force`).
//!
//! Every process serves it beside `/healthz` ([`crate::ServiceHost::serve`]), so that a client holding only a token
//! (the web console signing someone in, in process or against a remote API) learns what the token may do without
//! trying. It reveals nothing the token's holder does not already have: its own organization, and which purposes
//! it may state (never which MoU, partner or report grants them). A case-bound token (`POST /v1/tokens/case`) also
//! shows its binding: its purpose and case are then the only ones it may state, so `purposes` lists at most the
//! bound one.

use accord_domain::{CaseBinding, OrgId, OrgKind, Purpose, Role};
use axum::{Json, Router, extract::State};
use serde::{Deserialize, Serialize};

use crate::{ApiError, Authenticator, Principal, auth::ADMIN_ORG};

/// The organization a token belongs to, as its holder sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSummary {
    /// Its id.
    pub id: OrgId,
    /// Its display name.
    pub name: String,
    /// Partner, agency or the operator.
    pub kind: OrgKind,
    /// Its country (ISO 3166-1 alpha-2).
    pub country: String,
}

/// The answer of `GET /v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The token's public id (as in audit records).
    pub token_id: String,
    /// The token's role.
    pub role: Role,
    /// The token's organization.
    pub organization: OrgSummary,
    /// For an investigator: the purposes at least one MoU in force lets its agency search for now, in the order of
    /// `Purpose::ALL`; empty for every other role. For a case-bound token, at most its bound purpose.
    pub purposes: Vec<Purpose>,
    /// For a case-bound investigator token, the purpose and case every read it makes is bound to.
    pub binding: Option<CaseBinding>,
}

/// Describes the holder of `principal`'s token, under the directory as it is now.
///
/// # Errors
/// [`ApiError::Unauthorized`] when the token's organization is not in the directory (it cannot act either).
pub fn describe(auth: &Authenticator, principal: &Principal) -> Result<Identity, ApiError> {
    let snapshot = auth.directory().snapshot();
    let organization = match snapshot.orgs.get(&principal.organization) {
        Some(org) => OrgSummary {
            id: org.id.clone(),
            name: org.name.clone(),
            kind: org.kind,
            country: org.country.clone(),
        },
        // The bootstrap token acts for the operator even before admin registered it in the directory.
        None if principal.organization.as_str() == ADMIN_ORG => OrgSummary {
            id: principal.organization.clone(),
            name: "Accord operator".to_owned(),
            kind: OrgKind::Operator,
            country: String::new(),
        },
        None => return Err(ApiError::Unauthorized),
    };
    let purposes = match (principal.role, organization.kind) {
        (Role::Investigator, OrgKind::Agency) => {
            let now = chrono::Utc::now();
            Purpose::ALL
                .into_iter()
                .filter(|purpose| {
                    principal
                        .binding
                        .as_ref()
                        .is_none_or(|binding| binding.purpose == *purpose)
                })
                .filter(|purpose| {
                    !accord_policy::mous_in_force(
                        &organization.id,
                        *purpose,
                        now,
                        &snapshot.mous,
                        &snapshot.orgs,
                    )
                    .is_empty()
                })
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(Identity {
        token_id: principal.token_id.clone(),
        role: principal.role,
        organization,
        purposes,
        binding: principal.binding.clone(),
    })
}

/// Returns the router of `GET /v1/me`.
pub fn router(auth: Authenticator) -> Router {
    routes().with_state(auth)
}

crate::route_table! {
    /// `GET /v1/me` (one of [`crate::http::routes::operational`]).
    pub(crate) const ROUTES;
    fn routes() -> Router<Authenticator>;
    GET "/v1/me" => me,
}

async fn me(
    State(auth): State<Authenticator>,
    principal: Principal,
) -> Result<Json<Identity>, ApiError> {
    describe(&auth, &principal).map(Json)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use accord_domain::{DirectoryEvent, Organization, TokenId, TokenRecord};

    use super::*;
    use crate::{Directory, auth::hash_secret};

    fn org(id: &str, kind: OrgKind) -> Organization {
        Organization {
            id: OrgId::parse(id).unwrap(),
            name: id.to_uppercase(),
            kind,
            country: "DE".to_owned(),
            sector: None,
            default_tlp: None,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn an_investigator_without_an_mou_may_state_no_purpose_and_unknown_tokens_are_refused() {
        let directory = Arc::new(Directory::new());
        directory
            .apply_directory_event(DirectoryEvent::Organization(org("ncu-de", OrgKind::Agency)));
        directory.apply_directory_event(DirectoryEvent::Token(TokenRecord {
            id: TokenId::parse("tok-1").unwrap(),
            organization: OrgId::parse("ncu-de").unwrap(),
            role: Role::Investigator,
            label: "analyst".to_owned(),
            hash: hash_secret("secret"),
            created_at: chrono::Utc::now(),
            revoked_at: None,
            expires_at: None,
            binding: None,
        }));
        let auth = Authenticator::new(directory, None);
        let principal = auth.authenticate("secret").unwrap();
        let identity = describe(&auth, &principal).unwrap();
        assert_eq!(identity.role, Role::Investigator);
        assert_eq!(identity.organization.name, "NCU-DE");
        assert!(identity.purposes.is_empty());
        assert_eq!(identity.binding, None);
        let stranger = Principal {
            token_id: "tok-2".to_owned(),
            organization: OrgId::parse("nobody").unwrap(),
            role: Role::Partner,
            binding: None,
        };
        assert!(matches!(
            describe(&auth, &stranger),
            Err(ApiError::Unauthorized)
        ));
    }
}
