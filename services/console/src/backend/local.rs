//! The in-process backend: the services' own functions, on the services' own state (see the parent module).

use accord_runtime::{ApiError, Authenticator, Principal, identity::Identity};
use accord_search::released::Outcome;
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{
    ADMIN_PAGE, ALERT_PAGE, AUDIT_PAGE, AuditFilter, Backend, Cited, ExportRequest, ListQuery,
    MouAction, Submission, document,
};
use crate::docs::{
    Accepted, AlertPage, AuditPage, AuditRecords, AuditSummary, Explanation, ExportFile,
    IndicatorMatch, IssuedToken, Lookup, LookupRequest, MouHistory, MouList, MouVersion,
    Organization, OrganizationList, PipelineCounts, Preview, ReportCounts, ReportList,
    ReportStatus, SearchPage, SearchRequest, TokenList, Verification,
};

/// Calls the search, gateway and admin functions of this process.
#[derive(Clone)]
pub struct Local {
    auth: Authenticator,
    search: accord_search::AppState,
    gateway: accord_gateway::AppState,
    admin: Option<accord_admin::AppState>,
    enforcer: Option<accord_enforcer::AppState>,
}

impl Local {
    /// Returns a backend over the state the search and gateway services of this process run on.
    pub fn new(
        auth: Authenticator,
        search: accord_search::AppState,
        gateway: accord_gateway::AppState,
    ) -> Self {
        Self {
            auth,
            search,
            gateway,
            admin: None,
            enforcer: None,
        }
    }

    /// Adds the enforcer's state: the MoU editor's impact preview calls its function. Without it, the preview
    /// answers that it is unavailable here.
    #[must_use]
    pub fn with_enforcer(mut self, enforcer: accord_enforcer::AppState) -> Self {
        self.enforcer = Some(enforcer);
        self
    }

    /// Adds admin's state: the coordinators' pages call its functions. Without it (admin runs in another process),
    /// they answer that the operation is unavailable here.
    #[must_use]
    pub fn with_admin(mut self, admin: accord_admin::AppState) -> Self {
        self.admin = Some(admin);
        self
    }

    /// Returns admin's state, or the refusal of a console whose process does not run admin.
    fn admin(&self) -> Result<&accord_admin::AppState, ApiError> {
        self.admin.as_ref().ok_or_else(|| {
            ApiError::Unavailable(
                "admin does not run in this process; run `accord console --api` against it"
                    .to_owned(),
            )
        })
    }

    /// Resolves the token exactly as the HTTP API's `Authorization` header is resolved.
    fn principal(&self, token: &SecretString) -> Result<Principal, ApiError> {
        self.auth.authenticate(token.expose_secret())
    }
}

/// Turns a search outcome into the console's citation of its document.
fn cite<T: serde::de::DeserializeOwned>(outcome: Outcome<Value, ApiError>) -> Cited<T> {
    Cited {
        audit_record: outcome.audit_record,
        result: outcome
            .result
            .and_then(|released| document(released.into_body())),
    }
}

/// The citation of a request refused before it reached search (the token no longer resolves).
fn refused<T>(error: ApiError) -> Cited<T> {
    Cited {
        audit_record: None,
        result: Err(error),
    }
}

/// Returns the query of `GET /v1/audit` (and its export) for the console's filter, a page of [`AUDIT_PAGE`].
fn audit_query(filter: AuditFilter) -> Result<accord_search::AuditQuery, ApiError> {
    let time = |value: &Option<String>,
                pointer: &str|
     -> Result<Option<accord_domain::Timestamp>, ApiError> {
        value
            .as_deref()
            .map(|at| {
                chrono::DateTime::parse_from_rfc3339(at)
                    .map(|at| at.with_timezone(&chrono::Utc))
                    .map_err(|_| ApiError::bad_field(pointer, "not an RFC 3339 timestamp"))
            })
            .transpose()
    };
    Ok(accord_search::AuditQuery {
        from: time(&filter.from, "/from")?,
        to: time(&filter.to, "/to")?,
        organization: filter.organization,
        case: filter.case,
        purpose: filter.purpose,
        route: filter.route,
        outcome: filter.outcome,
        token: filter.token,
        limit: Some(AUDIT_PAGE),
        cursor: filter.cursor,
    })
}

fn body<T: serde::Serialize>(request: &T) -> Vec<u8> {
    serde_json::to_vec(request).unwrap_or_default()
}

#[async_trait]
impl Backend for Local {
    async fn me(&self, token: &SecretString) -> Result<Identity, ApiError> {
        let principal = self.principal(token)?;
        accord_runtime::identity::describe(&self.auth, &principal)
    }

    async fn submit(
        &self,
        token: &SecretString,
        submission: Submission,
    ) -> Result<Accepted, ApiError> {
        let principal = self.principal(token)?;
        let answer = accord_gateway::submit_report(
            &self.gateway,
            &principal,
            &submission.media_type,
            submission.body,
            Some(&submission.idempotency_key),
        )
        .await?;
        document(answer)
    }

    async fn report_status(
        &self,
        token: &SecretString,
        id: &str,
    ) -> Result<ReportStatus, ApiError> {
        let principal = self.principal(token)?;
        document(accord_gateway::report_status(&self.gateway, &principal, id).await?)
    }

    async fn list_reports(
        &self,
        token: &SecretString,
        query: ListQuery,
    ) -> Result<ReportList, ApiError> {
        let principal = self.principal(token)?;
        let since = match &query.since {
            Some(since) => Some(
                chrono::DateTime::parse_from_rfc3339(since)
                    .map_err(|_| ApiError::bad_field("/since", "not an RFC 3339 timestamp"))?
                    .with_timezone(&chrono::Utc),
            ),
            None => None,
        };
        let query = accord_gateway::ListQuery {
            since,
            limit: Some(query.limit),
            cursor: query.cursor,
        };
        document(accord_gateway::list_reports(&self.gateway, &principal, query).await?)
    }

    async fn report_counts(
        &self,
        token: &SecretString,
        days: u32,
    ) -> Result<ReportCounts, ApiError> {
        let principal = self.principal(token)?;
        let query = accord_gateway::CountsQuery { days: Some(days) };
        document(accord_gateway::report_counts(&self.gateway, &principal, query).await?)
    }

    async fn indicator(
        &self,
        token: &SecretString,
        purpose: &str,
        case: &str,
        value: &str,
    ) -> Cited<IndicatorMatch> {
        let principal = match self.principal(token) {
            Ok(principal) => principal,
            Err(error) => return refused(error),
        };
        let stated = accord_search::Stated {
            purpose: Some(purpose.to_owned()),
            case: Some(case.to_owned()),
            include: Some("indicators".to_owned()),
        };
        cite(accord_search::indicator(&self.search, Some(&principal), value, stated).await)
    }

    async fn lookup(&self, token: &SecretString, request: LookupRequest) -> Cited<Lookup> {
        let principal = match self.principal(token) {
            Ok(principal) => principal,
            Err(error) => return refused(error),
        };
        cite(accord_search::lookup(&self.search, Some(&principal), &body(&request)).await)
    }

    async fn search(&self, token: &SecretString, request: SearchRequest) -> Cited<SearchPage> {
        let principal = match self.principal(token) {
            Ok(principal) => principal,
            Err(error) => return refused(error),
        };
        cite(accord_search::search(&self.search, Some(&principal), &body(&request)).await)
    }

    async fn export(&self, token: &SecretString, request: ExportRequest) -> Cited<ExportFile> {
        let principal = match self.principal(token) {
            Ok(principal) => principal,
            Err(error) => return refused(error),
        };
        let outcome = match &request {
            ExportRequest::Search(search) => {
                accord_search::export_search(&self.search, Some(&principal), &body(search)).await
            }
            ExportRequest::Lookup(lookup) => {
                accord_search::export_lookup(&self.search, Some(&principal), &body(lookup)).await
            }
        };
        Cited {
            audit_record: outcome.audit_record,
            result: outcome.result.map(|released| {
                let export = released.into_body();
                ExportFile {
                    media_type: export.format.media_type().to_owned(),
                    extension: export.format.extension(),
                    body: export.into_bytes(),
                }
            }),
        }
    }

    async fn recent_requests(
        &self,
        token: &SecretString,
        limit: usize,
    ) -> Result<AuditRecords, ApiError> {
        let principal = self.principal(token)?;
        document(accord_search::recent_requests(&self.search, &principal, limit, true).await?)
    }

    async fn alerts(&self, token: &SecretString, after: u64) -> Result<AlertPage, ApiError> {
        let principal = self.principal(token)?;
        document(accord_search::alert_page(&self.search, Some(principal), after, ALERT_PAGE).await?)
    }

    async fn organizations(
        &self,
        token: &SecretString,
        cursor: Option<String>,
    ) -> Result<OrganizationList, ApiError> {
        let principal = self.principal(token)?;
        let params = accord_admin::PageParams {
            limit: Some(ADMIN_PAGE),
            cursor,
        };
        document(accord_admin::list_organizations(
            self.admin()?,
            &principal,
            &params,
        )?)
    }

    async fn organization(&self, token: &SecretString, id: &str) -> Result<Organization, ApiError> {
        let principal = self.principal(token)?;
        document(accord_admin::organization(self.admin()?, &principal, id)?)
    }

    async fn create_organization(
        &self,
        token: &SecretString,
        body: Value,
    ) -> Result<Organization, ApiError> {
        let principal = self.principal(token)?;
        let answer =
            accord_admin::create_organization(self.admin()?, &principal, &self::body(&body))
                .await?;
        document(answer)
    }

    async fn update_organization(
        &self,
        token: &SecretString,
        id: &str,
        patch: Value,
    ) -> Result<Organization, ApiError> {
        let principal = self.principal(token)?;
        let answer =
            accord_admin::update_organization(self.admin()?, &principal, id, &self::body(&patch))
                .await?;
        document(answer)
    }

    async fn tokens(
        &self,
        token: &SecretString,
        organization: Option<String>,
        cursor: Option<String>,
    ) -> Result<TokenList, ApiError> {
        let principal = self.principal(token)?;
        let query = accord_admin::TokenQuery {
            organization,
            limit: Some(ADMIN_PAGE),
            cursor,
        };
        document(accord_admin::list_tokens(
            self.admin()?,
            &principal,
            &query,
        )?)
    }

    async fn issue_token(
        &self,
        token: &SecretString,
        body: Value,
    ) -> Result<IssuedToken, ApiError> {
        let principal = self.principal(token)?;
        let answer =
            accord_admin::issue_token(self.admin()?, &principal, &self::body(&body)).await?;
        document(answer)
    }

    async fn revoke_token(&self, token: &SecretString, id: &str) -> Result<(), ApiError> {
        let principal = self.principal(token)?;
        accord_admin::revoke_token(self.admin()?, &principal, id).await
    }

    async fn mous(
        &self,
        token: &SecretString,
        cursor: Option<String>,
    ) -> Result<MouList, ApiError> {
        let principal = self.principal(token)?;
        let params = accord_admin::PageParams {
            limit: Some(ADMIN_PAGE),
            cursor,
        };
        document(accord_admin::list_mous(self.admin()?, &principal, &params)?)
    }

    async fn mou(&self, token: &SecretString, id: &str) -> Result<MouVersion, ApiError> {
        let principal = self.principal(token)?;
        document(accord_admin::mou(self.admin()?, &principal, id)?)
    }

    async fn mou_history(&self, token: &SecretString, id: &str) -> Result<MouHistory, ApiError> {
        let principal = self.principal(token)?;
        document(accord_admin::mou_history(self.admin()?, &principal, id)?)
    }

    async fn save_mou(
        &self,
        token: &SecretString,
        id: Option<&str>,
        draft: Value,
    ) -> Result<MouVersion, ApiError> {
        let principal = self.principal(token)?;
        let admin = self.admin()?;
        let body = self::body(&draft);
        let answer = match id {
            None => accord_admin::create_mou(admin, &principal, &body).await?,
            Some(id) => accord_admin::update_mou(admin, &principal, id, &body).await?,
        };
        document(answer)
    }

    async fn change_mou(
        &self,
        token: &SecretString,
        id: &str,
        action: MouAction,
        reason: &str,
    ) -> Result<MouVersion, ApiError> {
        let principal = self.principal(token)?;
        let status = match action {
            MouAction::Suspend => accord_domain::MouStatus::Suspended,
            MouAction::Resume => accord_domain::MouStatus::Active,
            MouAction::Revoke => accord_domain::MouStatus::Revoked,
        };
        let reason = Some(reason.to_owned());
        document(
            accord_admin::change_mou_status(self.admin()?, &principal, id, status, reason).await?,
        )
    }

    async fn preview_mou(&self, token: &SecretString, draft: Value) -> Result<Preview, ApiError> {
        let principal = self.principal(token)?;
        let enforcer = self.enforcer.as_ref().ok_or_else(|| {
            ApiError::Unavailable("the enforcer does not run in this process".to_owned())
        })?;
        document(accord_enforcer::preview_mou(enforcer, &principal, &self::body(&draft)).await?)
    }

    async fn audit_records(
        &self,
        token: &SecretString,
        filter: AuditFilter,
    ) -> Result<AuditPage, ApiError> {
        let principal = self.principal(token)?;
        let query = audit_query(filter)?;
        document(accord_search::audit_records(&self.search, &principal, &query).await?)
    }

    async fn audit_export(
        &self,
        token: &SecretString,
        filter: AuditFilter,
    ) -> Result<Vec<u8>, ApiError> {
        let principal = self.principal(token)?;
        let query = audit_query(filter)?;
        accord_search::audit_export(&self.search, &principal, &query).await
    }

    async fn audit_summary(
        &self,
        token: &SecretString,
        organization: Option<String>,
        days: u32,
    ) -> Result<AuditSummary, ApiError> {
        let principal = self.principal(token)?;
        let query = accord_search::SummaryQuery {
            organization,
            days: Some(days),
        };
        document(accord_search::audit_summary(&self.search, &principal, &query).await?)
    }

    async fn pipeline_counts(
        &self,
        token: &SecretString,
        days: u32,
    ) -> Result<PipelineCounts, ApiError> {
        let principal = self.principal(token)?;
        let query = accord_gateway::CountsQuery { days: Some(days) };
        document(accord_gateway::pipeline_counts(&self.gateway, &principal, query).await?)
    }

    async fn metrics(&self, token: &SecretString) -> Result<String, ApiError> {
        self.principal(token)?;
        Ok(accord_runtime::telemetry::render_metrics())
    }

    async fn verify_chain(&self, token: &SecretString) -> Result<Verification, ApiError> {
        let principal = self.principal(token)?;
        document(accord_search::verify_chain(&self.search, &principal).await?)
    }

    async fn audit_checkpoint(&self, token: &SecretString) -> Result<Value, ApiError> {
        let principal = self.principal(token)?;
        accord_search::audit_checkpoint(&self.search, &principal).await
    }

    async fn explain(
        &self,
        token: &SecretString,
        report: &str,
        agency: &str,
    ) -> Result<Explanation, ApiError> {
        let principal = self.principal(token)?;
        let enforcer = self.enforcer.as_ref().ok_or_else(|| {
            ApiError::Unavailable("the enforcer does not run in this process".to_owned())
        })?;
        let answer =
            accord_enforcer::explain_release(enforcer, &principal, Some(report), Some(agency))
                .await?;
        document(answer)
    }
}
