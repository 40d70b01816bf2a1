//! Where the console's data comes from: the [`Backend`] trait, one method per API operation a page uses, each taking
//! the signed-in user's token and returning the API's document for it ([`crate::docs`]).
//!
//! Two implementations, one contract:
//!
//! - [`Local`] (`accord up`): calls, in this process, the very functions the HTTP handlers call —
//!   `accord_search::{indicator, lookup, search, export_search, export_lookup, recent_requests}`,
//!   `accord_search::{audit_records, audit_export, verify_chain, audit_checkpoint}`, `accord_enforcer::preview_mou`,
//!   `accord_gateway::{submit_report, report_status, list_reports, report_counts}` and `accord_runtime::identity::describe` — on the
//!   same state (the search service's audit trail, the gateway's status store), and admin's
//!   `accord_admin::{create_organization, list_tokens, issue_token, revoke_token, …}`, after authenticating the token as
//!   the HTTP extractor does. Released data therefore reaches a page only as an `accord_search::released::Outcome`:
//!   re-checked against the MoUs in force and audited before the console sees it.
//! - [`Remote`] (`accord console --api URL`): sends the same requests to a remote Accord's HTTP API with the user's
//!   token as bearer, and reads the same documents back (the audit record's number from `X-Accord-Audit-Record`).
//!
//! Neither has a path to data of its own: there is no index, bus or store here, only the API's operations.

mod local;
mod remote;

use accord_runtime::{ApiError, identity::Identity};
use async_trait::async_trait;
use bytes::Bytes;
use secrecy::SecretString;

pub use self::{local::Local, remote::Remote};
use crate::docs::{
    Accepted, AlertPage, AuditPage, AuditRecords, AuditSummary, Explanation, ExportFile,
    IssuedToken, Lookup, LookupRequest, MouHistory, MouList, MouVersion, Organization,
    OrganizationList, PipelineCounts, Preview, ReportCounts, ReportList, ReportStatus, SearchPage,
    SearchRequest, TokenList, Verification,
};

/// The filters of `GET /v1/audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// At or after (RFC 3339).
    pub from: Option<String>,
    /// Before (RFC 3339).
    pub to: Option<String>,
    /// One organization.
    pub organization: Option<String>,
    /// One case.
    pub case: Option<String>,
    /// One purpose.
    pub purpose: Option<String>,
    /// One route.
    pub route: Option<String>,
    /// `allowed`, `refused` or `failed`.
    pub outcome: Option<String>,
    /// A token label or id.
    pub token: Option<String>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
}

/// What a coordinator does to an MoU in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouAction {
    /// `POST /v1/mous/{id}/suspend`.
    Suspend,
    /// `POST /v1/mous/{id}/resume`.
    Resume,
    /// `POST /v1/mous/{id}/revoke`.
    Revoke,
}

impl MouAction {
    /// The action's path segment (`suspend`, `resume`, `revoke`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Revoke => "revoke",
        }
    }

    /// Returns the action a path segment names.
    pub fn parse(segment: &str) -> Option<Self> {
        [Self::Suspend, Self::Resume, Self::Revoke]
            .into_iter()
            .find(|action| action.as_str() == segment)
    }
}

/// An answer carrying released data: its audit record and the document or the refusal.
#[derive(Debug)]
pub struct Cited<T> {
    /// The number of the request's audit record (`None` when it could not be written, or the API did not say).
    pub audit_record: Option<u64>,
    /// The document, or the refusal.
    pub result: Result<T, ApiError>,
}

/// A partner's submission, as `POST /v1/reports` takes it.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Its media type (`application/json`, `application/stix+json;version=2.1`).
    pub media_type: String,
    /// Its body.
    pub body: Bytes,
    /// Its idempotency key (a resubmitted form is one report).
    pub idempotency_key: String,
}

/// The query string of `GET /v1/reports`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Received at or after (RFC 3339).
    pub since: Option<String>,
    /// Page size.
    pub limit: usize,
    /// The previous page's `next`.
    pub cursor: Option<String>,
}

/// What to export.
#[derive(Debug, Clone)]
pub enum ExportRequest {
    /// A search's result set (`format` set).
    Search(SearchRequest),
    /// The reports a batch lookup finds (`format` set).
    Lookup(LookupRequest),
}

/// The API operations the console's pages use (see the module documentation).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// `GET /v1/me`: who the token is. `Err(Unauthorized)` ends the session.
    async fn me(&self, token: &SecretString) -> Result<Identity, ApiError>;

    /// `POST /v1/reports`.
    async fn submit(
        &self,
        token: &SecretString,
        submission: Submission,
    ) -> Result<Accepted, ApiError>;

    /// `GET /v1/reports/{id}`.
    async fn report_status(&self, token: &SecretString, id: &str)
    -> Result<ReportStatus, ApiError>;

    /// `GET /v1/reports`.
    async fn list_reports(
        &self,
        token: &SecretString,
        query: ListQuery,
    ) -> Result<ReportList, ApiError>;

    /// `GET /v1/reports/counts?days=`.
    async fn report_counts(
        &self,
        token: &SecretString,
        days: u32,
    ) -> Result<ReportCounts, ApiError>;

    /// `GET /v1/indicators/{value}?purpose=&case=&include=indicators`.
    async fn indicator(
        &self,
        token: &SecretString,
        purpose: &str,
        case: &str,
        value: &str,
    ) -> Cited<crate::docs::IndicatorMatch>;

    /// `POST /v1/indicators/lookup`.
    async fn lookup(&self, token: &SecretString, request: LookupRequest) -> Cited<Lookup>;

    /// `POST /v1/search`.
    async fn search(&self, token: &SecretString, request: SearchRequest) -> Cited<SearchPage>;

    /// `POST /v1/search/export` or `POST /v1/indicators/lookup/export`.
    async fn export(&self, token: &SecretString, request: ExportRequest) -> Cited<ExportFile>;

    /// `GET /v1/audit/mine?limit=&brief=true` (each list in a record's query is the number of its items).
    async fn recent_requests(
        &self,
        token: &SecretString,
        limit: usize,
    ) -> Result<AuditRecords, ApiError>;

    /// `GET /v1/alerts?after=` (the caller's alerts after that id, oldest first, audited).
    async fn alerts(&self, token: &SecretString, after: u64) -> Result<AlertPage, ApiError>;

    /// `GET /v1/organizations?limit=1000&cursor=`.
    async fn organizations(
        &self,
        token: &SecretString,
        cursor: Option<String>,
    ) -> Result<OrganizationList, ApiError>;

    /// `GET /v1/organizations/{id}`.
    async fn organization(&self, token: &SecretString, id: &str) -> Result<Organization, ApiError>;

    /// `POST /v1/organizations`.
    async fn create_organization(
        &self,
        token: &SecretString,
        body: serde_json::Value,
    ) -> Result<Organization, ApiError>;

    /// `PATCH /v1/organizations/{id}`.
    async fn update_organization(
        &self,
        token: &SecretString,
        id: &str,
        patch: serde_json::Value,
    ) -> Result<Organization, ApiError>;

    /// `GET /v1/tokens?organization=&limit=1000&cursor=`.
    async fn tokens(
        &self,
        token: &SecretString,
        organization: Option<String>,
        cursor: Option<String>,
    ) -> Result<TokenList, ApiError>;

    /// `POST /v1/tokens`: the answer carries the new token's secret.
    async fn issue_token(
        &self,
        token: &SecretString,
        body: serde_json::Value,
    ) -> Result<IssuedToken, ApiError>;

    /// `DELETE /v1/tokens/{id}`.
    async fn revoke_token(&self, token: &SecretString, id: &str) -> Result<(), ApiError>;

    /// `GET /v1/mous?limit=1000&cursor=`.
    async fn mous(&self, token: &SecretString, cursor: Option<String>)
    -> Result<MouList, ApiError>;

    /// `GET /v1/mous/{id}`.
    async fn mou(&self, token: &SecretString, id: &str) -> Result<MouVersion, ApiError>;

    /// `GET /v1/mous/{id}/history`.
    async fn mou_history(&self, token: &SecretString, id: &str) -> Result<MouHistory, ApiError>;

    /// `POST /v1/mous` (`id` `None`) or `PUT /v1/mous/{id}`.
    async fn save_mou(
        &self,
        token: &SecretString,
        id: Option<&str>,
        draft: serde_json::Value,
    ) -> Result<MouVersion, ApiError>;

    /// `POST /v1/mous/{id}/suspend`, `…/resume` or `…/revoke` with `{ "reason" }`.
    async fn change_mou(
        &self,
        token: &SecretString,
        id: &str,
        action: MouAction,
        reason: &str,
    ) -> Result<MouVersion, ApiError>;

    /// `POST /v1/mous/preview`.
    async fn preview_mou(
        &self,
        token: &SecretString,
        draft: serde_json::Value,
    ) -> Result<Preview, ApiError>;

    /// `GET /v1/audit?from=&to=&organization=&case=&purpose=&route=&outcome=&token=&limit=100&cursor=`.
    async fn audit_records(
        &self,
        token: &SecretString,
        filter: AuditFilter,
    ) -> Result<AuditPage, ApiError>;

    /// `GET /v1/audit/export?from=&to=&…&cursor=`: the filtered range as JSON lines with its chain proof.
    async fn audit_export(
        &self,
        token: &SecretString,
        filter: AuditFilter,
    ) -> Result<Vec<u8>, ApiError>;

    /// `GET /v1/audit/summary?organization=&days=`.
    async fn audit_summary(
        &self,
        token: &SecretString,
        organization: Option<String>,
        days: u32,
    ) -> Result<AuditSummary, ApiError>;

    /// `GET /v1/pipeline/counts?days=`.
    async fn pipeline_counts(
        &self,
        token: &SecretString,
        days: u32,
    ) -> Result<PipelineCounts, ApiError>;

    /// `GET /metrics`: the Prometheus text of the process serving the API.
    async fn metrics(&self, token: &SecretString) -> Result<String, ApiError>;

    /// `GET /v1/explain?report=&agency=`.
    async fn explain(
        &self,
        token: &SecretString,
        report: &str,
        agency: &str,
    ) -> Result<Explanation, ApiError>;

    /// `GET /v1/audit/verify`.
    async fn verify_chain(&self, token: &SecretString) -> Result<Verification, ApiError>;

    /// `GET /v1/audit/checkpoint`: the signed checkpoint, as the API answers it.
    async fn audit_checkpoint(&self, token: &SecretString) -> Result<serde_json::Value, ApiError>;
}

/// Records per page of the audit console.
pub(crate) const AUDIT_PAGE: usize = 100;

/// Alerts per page of the alerts page.
pub(crate) const ALERT_PAGE: usize = 100;

/// The page size the console asks the coordinators' lists for (the API's largest).
pub(crate) const ADMIN_PAGE: usize = 1000;

/// Reads an API document: a document that does not have the expected shape is an internal error (a bug on one side
/// of the contract), never shown.
pub(crate) fn document<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(ApiError::internal)
}
