//! The coordinators' documents: organizations and tokens as `GET /v1/organizations` and `GET /v1/tokens` answer
//! them, and the one answer that carries a token's secret (`POST /v1/tokens`).

use serde::Deserialize;

/// An organization (`GET /v1/organizations/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Organization {
    /// Its id (`bank-a`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// `partner`, `agency` or `operator`.
    pub kind: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Its sector, if any.
    #[serde(default)]
    pub sector: Option<String>,
    /// A partner's default TLP, if any.
    #[serde(default)]
    pub default_tlp: Option<String>,
}

/// `GET /v1/organizations`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrganizationList {
    /// By id.
    pub organizations: Vec<Organization>,
    /// The cursor of the next page.
    #[serde(default)]
    pub next: Option<String>,
}

/// A token as `GET /v1/tokens` lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Token {
    /// Its public id.
    pub id: String,
    /// The organization it acts for.
    pub organization: String,
    /// Its role.
    pub role: String,
    /// Its label.
    #[serde(default)]
    pub label: String,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    /// When it was issued (RFC 3339).
    pub created_at: String,
    /// When it stops being valid.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// When it was last used, as far as the answering process knows.
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// A case-bound token's purpose.
    #[serde(default)]
    pub purpose: Option<String>,
    /// A case-bound token's case.
    #[serde(default)]
    pub case: Option<String>,
}

/// `GET /v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenList {
    /// By organization, then label.
    pub tokens: Vec<Token>,
    /// The cursor of the next page.
    #[serde(default)]
    pub next: Option<String>,
}

/// `201` of `POST /v1/tokens`: the secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssuedToken {
    /// Its public id.
    pub id: String,
    /// The secret.
    pub token: String,
    /// The organization it acts for.
    pub organization: String,
    /// Its role.
    pub role: String,
    /// Its label.
    #[serde(default)]
    pub label: String,
    /// When it stops being valid.
    #[serde(default)]
    pub expires_at: Option<String>,
}
