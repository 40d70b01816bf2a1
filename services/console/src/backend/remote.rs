//! The remote backend: a remote Accord's HTTP API, called with the signed-in user's own token (see the parent
//! module). Problem documents become the same [`ApiError`]s the in-process functions return, so pages show the same
//! field errors either way.

use std::time::Duration;

use accord_runtime::{ApiError, identity::Identity};
use async_trait::async_trait;
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};

mod problem;

pub(crate) use self::problem::problem;
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

/// How long one API call may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A remote Accord API.
#[derive(Debug, Clone)]
pub struct Remote {
    base: Url,
    client: reqwest::Client,
}

/// A raw answer of the API.
struct Answer {
    status: StatusCode,
    audit_record: Option<u64>,
    media_type: String,
    body: bytes::Bytes,
}

impl Remote {
    /// Returns a backend calling the API at `base` (`https://accord.example.org/`).
    ///
    /// # Errors
    /// When `base` is not an http(s) URL or the HTTP client cannot be built.
    pub fn new(mut base: Url) -> anyhow::Result<Self> {
        if !matches!(base.scheme(), "http" | "https") {
            anyhow::bail!("the API URL must be http:// or https://, got {base}");
        }
        // Paths are joined to the base: `https://host/accord` means `https://host/accord/v1/…`.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { base, client })
    }

    fn url(&self, path: &str) -> Result<Url, ApiError> {
        self.base.join(path).map_err(ApiError::internal)
    }

    /// Returns the URL of `collection` (`v1/organizations/`) followed by the segment `id`, escaped.
    fn item_url(&self, collection: &str, id: &str) -> Result<Url, ApiError> {
        let mut url = self.url(collection)?;
        url.path_segments_mut()
            .map_err(|()| ApiError::internal(anyhow::anyhow!("the API URL cannot take a path")))?
            .pop_if_empty()
            .push(id);
        Ok(url)
    }

    /// Sends a JSON request and reads the JSON document it answers (no audit record: the coordinators' operations).
    async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        token: &SecretString,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let body = body.map(|body| serde_json::to_vec(body).unwrap_or_default());
        self.json(token, method, url, body).await.result
    }

    /// Sends one request with the user's token and reads the whole answer.
    async fn call(
        &self,
        token: &SecretString,
        method: Method,
        url: Url,
        body: Option<(&str, Vec<u8>)>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, ApiError> {
        let mut request = self
            .client
            .request(method, url)
            .bearer_auth(token.expose_secret());
        if let Some((media_type, body)) = body {
            request = request.header("content-type", media_type).body(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.map_err(unreachable_api)?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let audit_record = header("x-accord-audit-record").and_then(|seq| seq.parse().ok());
        let media_type = header("content-type").unwrap_or_default();
        let body = response.bytes().await.map_err(unreachable_api)?;
        Ok(Answer {
            status,
            audit_record,
            media_type,
            body,
        })
    }

    /// Sends a request and reads its JSON document, or the problem it answers.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        token: &SecretString,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Cited<T> {
        let body = body.map(|body| ("application/json", body));
        match self.call(token, method, url, body, None).await {
            Ok(answer) => Cited {
                audit_record: answer.audit_record,
                result: read_json(&answer),
            },
            Err(error) => Cited {
                audit_record: None,
                result: Err(error),
            },
        }
    }
}

/// Appends the filters of `GET /v1/audit` (and its export) that are set.
fn audit_query(url: &mut Url, filter: &AuditFilter) {
    let mut pairs = url.query_pairs_mut();
    let optional = [
        ("from", &filter.from),
        ("to", &filter.to),
        ("organization", &filter.organization),
        ("case", &filter.case),
        ("purpose", &filter.purpose),
        ("route", &filter.route),
        ("outcome", &filter.outcome),
        ("token", &filter.token),
        ("cursor", &filter.cursor),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            pairs.append_pair(name, value);
        }
    }
}

fn unreachable_api(error: reqwest::Error) -> ApiError {
    ApiError::unavailable("the Accord API", &error)
}

fn read_json<T: serde::de::DeserializeOwned>(answer: &Answer) -> Result<T, ApiError> {
    if !answer.status.is_success() {
        return Err(problem(answer.status, &answer.body));
    }
    let value: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(ApiError::internal)?;
    document(value)
}

#[async_trait]
impl Backend for Remote {
    async fn me(&self, token: &SecretString) -> Result<Identity, ApiError> {
        let url = self.url("v1/me")?;
        self.json(token, Method::GET, url, None).await.result
    }

    async fn submit(
        &self,
        token: &SecretString,
        submission: Submission,
    ) -> Result<Accepted, ApiError> {
        let url = self.url("v1/reports")?;
        let body = Some((submission.media_type.as_str(), submission.body.to_vec()));
        let answer = self
            .call(
                token,
                Method::POST,
                url,
                body,
                Some(&submission.idempotency_key),
            )
            .await?;
        read_json(&answer)
    }

    async fn report_status(
        &self,
        token: &SecretString,
        id: &str,
    ) -> Result<ReportStatus, ApiError> {
        let mut url = self.url("v1/reports/")?;
        url.path_segments_mut()
            .map_err(|()| ApiError::internal(anyhow::anyhow!("the API URL cannot take a path")))?
            .pop_if_empty()
            .push(id);
        self.json(token, Method::GET, url, None).await.result
    }

    async fn list_reports(
        &self,
        token: &SecretString,
        query: ListQuery,
    ) -> Result<ReportList, ApiError> {
        let mut url = self.url("v1/reports")?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("limit", &query.limit.to_string());
            if let Some(since) = &query.since {
                pairs.append_pair("since", since);
            }
            if let Some(cursor) = &query.cursor {
                pairs.append_pair("cursor", cursor);
            }
        }
        self.json(token, Method::GET, url, None).await.result
    }

    async fn report_counts(
        &self,
        token: &SecretString,
        days: u32,
    ) -> Result<ReportCounts, ApiError> {
        let mut url = self.url("v1/reports/counts")?;
        url.query_pairs_mut().append_pair("days", &days.to_string());
        self.json(token, Method::GET, url, None).await.result
    }

    async fn indicator(
        &self,
        token: &SecretString,
        purpose: &str,
        case: &str,
        value: &str,
    ) -> Cited<IndicatorMatch> {
        let mut url = match self.url("v1/indicators/") {
            Ok(url) => url,
            Err(error) => {
                return Cited {
                    audit_record: None,
                    result: Err(error),
                };
            }
        };
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(value);
        }
        url.query_pairs_mut()
            .append_pair("purpose", purpose)
            .append_pair("case", case)
            .append_pair("include", "indicators");
        self.json(token, Method::GET, url, None).await
    }

    async fn lookup(&self, token: &SecretString, request: LookupRequest) -> Cited<Lookup> {
        let body = serde_json::to_vec(&request).unwrap_or_default();
        match self.url("v1/indicators/lookup") {
            Ok(url) => self.json(token, Method::POST, url, Some(body)).await,
            Err(error) => Cited {
                audit_record: None,
                result: Err(error),
            },
        }
    }

    async fn search(&self, token: &SecretString, request: SearchRequest) -> Cited<SearchPage> {
        let body = serde_json::to_vec(&request).unwrap_or_default();
        match self.url("v1/search") {
            Ok(url) => self.json(token, Method::POST, url, Some(body)).await,
            Err(error) => Cited {
                audit_record: None,
                result: Err(error),
            },
        }
    }

    async fn export(&self, token: &SecretString, request: ExportRequest) -> Cited<ExportFile> {
        let (path, body, format) = match &request {
            ExportRequest::Search(search) => (
                "v1/search/export",
                serde_json::to_vec(search),
                search.format.clone(),
            ),
            ExportRequest::Lookup(lookup) => (
                "v1/indicators/lookup/export",
                serde_json::to_vec(lookup),
                lookup.format.clone(),
            ),
        };
        let extension = if format.as_deref() == Some("csv") {
            "csv"
        } else {
            "stix.json"
        };
        let answer = match self.url(path) {
            Ok(url) => {
                let body = Some(("application/json", body.unwrap_or_default()));
                self.call(token, Method::POST, url, body, None).await
            }
            Err(error) => Err(error),
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                return Cited {
                    audit_record: None,
                    result: Err(error),
                };
            }
        };
        let result = if answer.status.is_success() {
            Ok(ExportFile {
                media_type: answer.media_type.clone(),
                extension,
                body: answer.body.to_vec(),
            })
        } else {
            Err(problem(answer.status, &answer.body))
        };
        Cited {
            audit_record: answer.audit_record,
            result,
        }
    }

    async fn recent_requests(
        &self,
        token: &SecretString,
        limit: usize,
    ) -> Result<AuditRecords, ApiError> {
        let mut url = self.url("v1/audit/mine")?;
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("brief", "true");
        self.json(token, Method::GET, url, None).await.result
    }

    async fn alerts(&self, token: &SecretString, after: u64) -> Result<AlertPage, ApiError> {
        let mut url = self.url("v1/alerts")?;
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("limit", &ALERT_PAGE.to_string());
        self.json(token, Method::GET, url, None).await.result
    }

    async fn organizations(
        &self,
        token: &SecretString,
        cursor: Option<String>,
    ) -> Result<OrganizationList, ApiError> {
        let mut url = self.url("v1/organizations")?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("limit", &ADMIN_PAGE.to_string());
            if let Some(cursor) = &cursor {
                pairs.append_pair("cursor", cursor);
            }
        }
        self.send_json(token, Method::GET, url, None).await
    }

    async fn organization(&self, token: &SecretString, id: &str) -> Result<Organization, ApiError> {
        let url = self.item_url("v1/organizations/", id)?;
        self.send_json(token, Method::GET, url, None).await
    }

    async fn create_organization(
        &self,
        token: &SecretString,
        body: serde_json::Value,
    ) -> Result<Organization, ApiError> {
        let url = self.url("v1/organizations")?;
        self.send_json(token, Method::POST, url, Some(&body)).await
    }

    async fn update_organization(
        &self,
        token: &SecretString,
        id: &str,
        patch: serde_json::Value,
    ) -> Result<Organization, ApiError> {
        let url = self.item_url("v1/organizations/", id)?;
        self.send_json(token, Method::PATCH, url, Some(&patch))
            .await
    }

    async fn tokens(
        &self,
        token: &SecretString,
        organization: Option<String>,
        cursor: Option<String>,
    ) -> Result<TokenList, ApiError> {
        let mut url = self.url("v1/tokens")?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("limit", &ADMIN_PAGE.to_string());
            if let Some(organization) = &organization {
                pairs.append_pair("organization", organization);
            }
            if let Some(cursor) = &cursor {
                pairs.append_pair("cursor", cursor);
            }
        }
        self.send_json(token, Method::GET, url, None).await
    }

    async fn issue_token(
        &self,
        token: &SecretString,
        body: serde_json::Value,
    ) -> Result<IssuedToken, ApiError> {
        let url = self.url("v1/tokens")?;
        self.send_json(token, Method::POST, url, Some(&body)).await
    }

    async fn revoke_token(&self, token: &SecretString, id: &str) -> Result<(), ApiError> {
        let url = self.item_url("v1/tokens/", id)?;
        let answer = self.call(token, Method::DELETE, url, None, None).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(problem(answer.status, &answer.body))
        }
    }

    async fn mous(
        &self,
        token: &SecretString,
        cursor: Option<String>,
    ) -> Result<MouList, ApiError> {
        let mut url = self.url("v1/mous")?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("limit", &ADMIN_PAGE.to_string());
            if let Some(cursor) = &cursor {
                pairs.append_pair("cursor", cursor);
            }
        }
        self.send_json(token, Method::GET, url, None).await
    }

    async fn mou(&self, token: &SecretString, id: &str) -> Result<MouVersion, ApiError> {
        let url = self.item_url("v1/mous/", id)?;
        self.send_json(token, Method::GET, url, None).await
    }

    async fn mou_history(&self, token: &SecretString, id: &str) -> Result<MouHistory, ApiError> {
        let mut url = self.item_url("v1/mous/", id)?;
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push("history");
        }
        self.send_json(token, Method::GET, url, None).await
    }

    async fn save_mou(
        &self,
        token: &SecretString,
        id: Option<&str>,
        draft: serde_json::Value,
    ) -> Result<MouVersion, ApiError> {
        match id {
            None => {
                let url = self.url("v1/mous")?;
                self.send_json(token, Method::POST, url, Some(&draft)).await
            }
            Some(id) => {
                let url = self.item_url("v1/mous/", id)?;
                self.send_json(token, Method::PUT, url, Some(&draft)).await
            }
        }
    }

    async fn change_mou(
        &self,
        token: &SecretString,
        id: &str,
        action: MouAction,
        reason: &str,
    ) -> Result<MouVersion, ApiError> {
        let mut url = self.item_url("v1/mous/", id)?;
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(action.as_str());
        }
        let body = serde_json::json!({ "reason": reason });
        self.send_json(token, Method::POST, url, Some(&body)).await
    }

    async fn preview_mou(
        &self,
        token: &SecretString,
        draft: serde_json::Value,
    ) -> Result<Preview, ApiError> {
        let url = self.url("v1/mous/preview")?;
        self.send_json(token, Method::POST, url, Some(&draft)).await
    }

    async fn audit_records(
        &self,
        token: &SecretString,
        filter: AuditFilter,
    ) -> Result<AuditPage, ApiError> {
        let mut url = self.url("v1/audit")?;
        url.query_pairs_mut()
            .append_pair("limit", &AUDIT_PAGE.to_string());
        audit_query(&mut url, &filter);
        self.send_json(token, Method::GET, url, None).await
    }

    async fn audit_export(
        &self,
        token: &SecretString,
        filter: AuditFilter,
    ) -> Result<Vec<u8>, ApiError> {
        let mut url = self.url("v1/audit/export")?;
        audit_query(&mut url, &filter);
        let answer = self.call(token, Method::GET, url, None, None).await?;
        if !answer.status.is_success() {
            return Err(problem(answer.status, &answer.body));
        }
        Ok(answer.body.to_vec())
    }

    async fn audit_summary(
        &self,
        token: &SecretString,
        organization: Option<String>,
        days: u32,
    ) -> Result<AuditSummary, ApiError> {
        let mut url = self.url("v1/audit/summary")?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("days", &days.to_string());
            if let Some(organization) = &organization {
                pairs.append_pair("organization", organization);
            }
        }
        self.send_json(token, Method::GET, url, None).await
    }

    async fn pipeline_counts(
        &self,
        token: &SecretString,
        days: u32,
    ) -> Result<PipelineCounts, ApiError> {
        let mut url = self.url("v1/pipeline/counts")?;
        url.query_pairs_mut().append_pair("days", &days.to_string());
        self.send_json(token, Method::GET, url, None).await
    }

    async fn metrics(&self, token: &SecretString) -> Result<String, ApiError> {
        let url = self.url("metrics")?;
        let answer = self.call(token, Method::GET, url, None, None).await?;
        if !answer.status.is_success() {
            return Err(problem(answer.status, &answer.body));
        }
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }

    async fn verify_chain(&self, token: &SecretString) -> Result<Verification, ApiError> {
        let url = self.url("v1/audit/verify")?;
        self.send_json(token, Method::GET, url, None).await
    }

    async fn audit_checkpoint(&self, token: &SecretString) -> Result<serde_json::Value, ApiError> {
        let url = self.url("v1/audit/checkpoint")?;
        self.send_json(token, Method::GET, url, None).await
    }

    async fn explain(
        &self,
        token: &SecretString,
        report: &str,
        agency: &str,
    ) -> Result<Explanation, ApiError> {
        let mut url = self.url("v1/explain")?;
        url.query_pairs_mut()
            .append_pair("report", report)
            .append_pair("agency", agency);
        self.send_json(token, Method::GET, url, None).await
    }
}
