//! Organizations, roles and tokens, and the directory events that carry them on the bus.

use serde::{Deserialize, Serialize};

use crate::{Case, OrgId, Purpose, Timestamp, Tlp, TokenId};

/// Whether an organization reports incidents or receives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgKind {
    /// An industry partner: bank, telco, cloud or software firm.
    Partner,
    /// A law-enforcement agency.
    Agency,
    /// The platform operator (`accord-admin`).
    Operator,
}

/// An organization known to the partnership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// Its id, chosen by the coordinator.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Partner, agency or operator.
    pub kind: OrgKind,
    /// ISO 3166-1 alpha-2 country code, upper-case (`DE`).
    pub country: String,
    /// Sector (`finance`, `telecom`, `law-enforcement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// The TLP a partner's unmarked submissions take; without it they are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_tlp: Option<Tlp>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// The role a token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Submits reports.
    Partner,
    /// Searches indicators.
    Investigator,
    /// Manages organizations, tokens and MoUs.
    Coordinator,
    /// Reads and verifies the audit trail.
    Auditor,
}

impl Role {
    /// Returns the role as written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Partner => "partner",
            Role::Investigator => "investigator",
            Role::Coordinator => "coordinator",
            Role::Auditor => "auditor",
        }
    }
}

/// A stored token: the secret itself is never stored, only its SHA-256 hash (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id, used to revoke it and in audit records.
    pub id: TokenId,
    /// The organization it acts for.
    pub organization: OrgId,
    /// Its one role.
    pub role: Role,
    /// A label for humans (`soc-uploader`).
    pub label: String,
    /// Hex SHA-256 of the secret.
    pub hash: String,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// When it stops being valid. Tokens issued before tokens could expire have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// For a case-bound investigator token: the purpose and case every read made with it is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<CaseBinding>,
}

/// What a case-bound token binds every read to, exactly as if the request had stated them: for TAXII clients and
/// SIEMs that can send only a user and a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseBinding {
    /// The purpose of every read.
    pub purpose: Purpose,
    /// The case of every read.
    pub case: Case,
}

impl TokenRecord {
    /// Returns whether the token may be used at `now`: not revoked, not expired (it is expired from its `expires_at`
    /// on).
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}

/// A change to the directory, published by admin on [`crate::topics::ADMIN_DIRECTORY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DirectoryEvent {
    /// An organization was created or changed.
    Organization(Organization),
    /// A token was issued or revoked.
    Token(TokenRecord),
}

impl DirectoryEvent {
    /// Returns the compaction key: `org:<id>` or `token:<id>`.
    pub fn key(&self) -> String {
        match self {
            DirectoryEvent::Organization(org) => format!("org:{}", org.id),
            DirectoryEvent::Token(token) => format!("token:{}", token.id),
        }
    }
}
