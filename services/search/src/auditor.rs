//! The auditors' API: reading, verifying and anchoring the audit trail.
//!
//! - `GET /v1/audit?from=&to=&organization=&case=&purpose=&route=&outcome=&token=&limit=&cursor=`: records, oldest
//!   first. An auditor of the operator organization (`accord-admin`) reads every record; any other auditor reads only
//!   the records of its own organization ([`Scope`], the one rule), and naming another organization in
//!   `organization=` is a 403. `case=` is normalized like a stated case ([`Case::parse`]), so a case sent with
//!   trailing spaces is found by its trimmed form; `purpose=` like a stated purpose; `outcome=` is `allowed` (2xx),
//!   `refused` (4xx) or `failed` (5xx); `token=` is a token label (every token so labelled) or a token id.
//! - `GET /v1/audit/verify`: every link of the whole chain, and the latest checkpoint stored beside it;
//!   `POST /v1/audit/verify` with a checkpoint the auditor kept checks the chain against that one instead. Every
//!   auditor gets the same answer: whether the chain holds, how many records it has, the sequence number of the first
//!   bad one, and what the checkpoint says. None of it is the content of a record, and the counts and sequence
//!   numbers are what an auditor already infers from the numbers of its own organization's records.
//! - `GET /v1/audit/checkpoint`: a signed checkpoint of the head, for any auditor to keep.
//! - `GET /v1/audit/mine?limit=`: anyone's own recent requests (the web console's dashboard).
//! - `GET /v1/audit/public-key`: the ed25519 key checkpoints are signed with; public, no token needed.

use std::collections::BTreeSet;

use accord_domain::{Case, OrgId, Purpose, Role, Timestamp};
use accord_runtime::{ApiError, Principal, auth, json};
use axum::{
    Json,
    extract::{Query, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

mod summary;

pub(crate) use self::summary::summary;
pub use self::summary::{SummaryQuery, audit_summary};

use crate::{
    AppState,
    audit::{
        AuditRecord,
        checkpoint::{self, Checkpoint},
        keyed::Key,
    },
};

/// Records scanned per request at most; the cursor continues from where the scan stopped.
const MAX_SCAN: usize = 100_000;

/// Records an export scans at most (records and links of its range); `next` continues it.
const EXPORT_SCAN: usize = 200_000;

/// Records an export carries at most.
const EXPORT_RECORDS: usize = 100_000;

/// Whose records an auditor reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// The operator's auditors: every record.
    All,
    /// Any other auditor: its own organization's records.
    Organization(OrgId),
}

impl Scope {
    /// Returns the scope of an auditor's token; 403 for any other role.
    fn of(principal: &Principal) -> Result<Self, ApiError> {
        principal.require(Role::Auditor)?;
        if principal.organization.as_str() == auth::ADMIN_ORG {
            return Ok(Scope::All);
        }
        Ok(Scope::Organization(principal.organization.clone()))
    }

    /// Refuses (403) an agency's auditor naming another organization.
    fn check(&self, asked: Option<&str>) -> Result<(), ApiError> {
        if let (Scope::Organization(own), Some(asked)) = (self, asked)
            && asked != own.as_str()
        {
            return Err(ApiError::Forbidden(format!(
                "an auditor of {own} reads only {own}'s records"
            )));
        }
        Ok(())
    }

    /// Returns whether a record is within the scope.
    fn admits(&self, record: &AuditRecord) -> bool {
        match self {
            Scope::All => true,
            Scope::Organization(org) => record.entry.organization.as_deref() == Some(org.as_str()),
        }
    }
}

/// The query of `GET /v1/audit` (and of `GET /v1/audit/export`, which ignores `limit`).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct AuditQuery {
    /// Records at or after (RFC 3339).
    pub from: Option<Timestamp>,
    /// Records before.
    pub to: Option<Timestamp>,
    /// One organization's records.
    pub organization: Option<String>,
    /// One case's records.
    pub case: Option<String>,
    /// One purpose's records.
    pub purpose: Option<String>,
    /// One route's records (`GET /v1/indicators/{value}`).
    pub route: Option<String>,
    /// `allowed` (2xx), `refused` (4xx) or `failed` (5xx).
    pub outcome: Option<String>,
    /// The records of the tokens with this label, or of the token with this id.
    pub token: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<usize>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
}

/// The filters of a listing, normalized and checked against the caller's scope.
struct Filter {
    scope: Scope,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    organization: Option<String>,
    case: Option<Case>,
    purpose: Option<Purpose>,
    route: Option<String>,
    /// The status classes admitted (`2`: 2xx, …).
    outcome: Option<u16>,
    /// The token ids admitted.
    tokens: Option<BTreeSet<String>>,
}

/// Returns the status class an outcome names (`allowed` 2, `refused` 4, `failed` 5), or the 400 naming `/outcome`.
fn outcome_class(outcome: &str) -> Result<u16, ApiError> {
    match outcome {
        "allowed" => Ok(2),
        "refused" => Ok(4),
        "failed" => Ok(5),
        _ => Err(ApiError::bad_field(
            "/outcome",
            "must be allowed, refused or failed",
        )),
    }
}

/// Returns the ids of the tokens labelled `token`, and `token` itself (a token id).
fn token_ids(directory: &accord_runtime::Directory, token: &str) -> BTreeSet<String> {
    let snapshot = directory.snapshot();
    let mut ids: BTreeSet<String> = snapshot
        .tokens_by_hash
        .values()
        .filter(|record| record.label == token)
        .map(|record| record.id.to_string())
        .collect();
    ids.insert(token.to_owned());
    ids
}

impl Filter {
    fn new(
        scope: Scope,
        query: &AuditQuery,
        directory: &accord_runtime::Directory,
    ) -> Result<Self, ApiError> {
        scope.check(query.organization.as_deref())?;
        let case = match query.case.as_deref().map(Case::parse) {
            None => None,
            Some(Ok(case)) => Some(case),
            Some(Err(error)) => return Err(ApiError::bad_field("/case", error.to_string())),
        };
        let purpose = query
            .purpose
            .as_deref()
            .map(Purpose::normalize)
            .transpose()
            .map_err(|error| ApiError::bad_field("/purpose", error.to_string()))?;
        Ok(Self {
            scope,
            from: query.from,
            to: query.to,
            organization: query.organization.clone(),
            case,
            purpose,
            route: query.route.clone(),
            outcome: query.outcome.as_deref().map(outcome_class).transpose()?,
            tokens: query
                .token
                .as_deref()
                .map(|token| token_ids(directory, token)),
        })
    }

    /// The index that drives the listing: the case when one is asked for, else the organization (asked for, or the
    /// scope of an agency's auditor); none for a listing of everything.
    fn key(&self) -> Option<Key> {
        if let Some(case) = &self.case {
            return Some(Key::Case(case.as_str().to_owned()));
        }
        match (&self.organization, &self.scope) {
            (Some(org), _) => Some(Key::Organization(org.clone())),
            (None, Scope::Organization(own)) => Some(Key::Organization(own.to_string())),
            (None, Scope::All) => None,
        }
    }

    fn admits(&self, record: &AuditRecord) -> bool {
        let entry = &record.entry;
        self.scope.admits(record)
            && self.from.is_none_or(|from| entry.at >= from)
            && self.to.is_none_or(|to| entry.at < to)
            && self
                .organization
                .as_ref()
                .is_none_or(|org| entry.organization.as_ref() == Some(org))
            && self.case.as_ref().is_none_or(|case| {
                entry
                    .case
                    .as_ref()
                    .is_some_and(|stored| case.matches(stored))
            })
            && self
                .purpose
                .is_none_or(|purpose| entry.purpose.as_deref() == Some(purpose.as_str()))
            && self
                .route
                .as_ref()
                .is_none_or(|route| &entry.endpoint == route)
            && self.outcome.is_none_or(|class| entry.status / 100 == class)
            && self.tokens.as_ref().is_none_or(|tokens| {
                entry
                    .token_id
                    .as_ref()
                    .is_some_and(|id| tokens.contains(id))
            })
    }
}

fn decode_cursor(cursor: Option<&str>) -> Result<u64, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(0);
    };
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            text.strip_prefix("s:")
                .and_then(|seq| seq.parse::<u64>().ok())
        })
        .ok_or_else(|| ApiError::bad_field("/cursor", "not a cursor returned by this endpoint"))
}

/// `GET /v1/audit?from=&to=&organization=&case=&limit=&cursor=`: records oldest first, within the caller's scope.
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(audit_records(&state, &principal, &query).await?).into_response())
}

/// Lists audit records oldest first within the caller's scope, a page at a time (scanning at most 100 000 records
/// per call; `next` continues the scan): the whole of `GET /v1/audit`. The HTTP handler and the web console call
/// this.
///
/// # Errors
/// 403 for anyone but an auditor, or an agency's auditor naming another organization; 400 for a bad case or cursor;
/// 503 when the trail cannot be read.
pub async fn audit_records(
    state: &AppState,
    principal: &Principal,
    query: &AuditQuery,
) -> Result<serde_json::Value, ApiError> {
    let filter = Filter::new(Scope::of(principal)?, query, &state.deps.directory)?;
    let after = decode_cursor(query.cursor.as_deref())?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let audit = state.audit.clone();
    let (records, last_seen, exhausted) = tokio::task::spawn_blocking(move || match filter.key() {
        Some(key) => audit.scan_by(&key, after, limit, MAX_SCAN, |record| filter.admits(record)),
        None => audit.scan(after, limit, MAX_SCAN, |record| filter.admits(record)),
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| ApiError::unavailable("the audit trail", &error))?;
    let next = (!exhausted).then(|| URL_SAFE_NO_PAD.encode(format!("s:{last_seen}")));
    Ok(json!({ "records": records, "next": next }))
}

/// `GET /v1/audit/export?…` (the filters of `GET /v1/audit`): the range as JSON lines with its chain proof.
pub(crate) async fn export(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let body = audit_export(&state, &principal, &query).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, EXPORT_MEDIA_TYPE),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"accord-audit-export.jsonl\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// The media type of an audit export.
pub const EXPORT_MEDIA_TYPE: &str = "application/x-ndjson";

/// Exports the records the filters admit within the caller's scope, oldest first, as JSON lines with the chain proof
/// needed to verify them elsewhere ([`crate::audit::export`]; `accord audit verify-export`): the whole of
/// `GET /v1/audit/export`. One export scans at most 200 000 records and carries at most 100 000; its end line's
/// `next` continues it. The HTTP handler and the web console call this.
///
/// # Errors
/// As [`audit_records`].
pub async fn audit_export(
    state: &AppState,
    principal: &Principal,
    query: &AuditQuery,
) -> Result<Vec<u8>, ApiError> {
    let filter = Filter::new(Scope::of(principal)?, query, &state.deps.directory)?;
    let after = decode_cursor(query.cursor.as_deref())?;
    let audit = state.audit.clone();
    let range = tokio::task::spawn_blocking(move || {
        audit.export_range(after, EXPORT_SCAN, EXPORT_RECORDS, |record| {
            filter.admits(record)
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| ApiError::unavailable("the audit trail", &error))?;
    let checkpoint = match &range.last {
        Some((seq, _)) => state
            .audit
            .sign_record(*seq)
            .await
            .map_err(|error| ApiError::unavailable("the audit trail", &error))?,
        None => None,
    };
    let next = (!range.exhausted).then(|| URL_SAFE_NO_PAD.encode(format!("s:{}", range.scanned)));
    let mut stated = serde_json::to_value(query).map_err(ApiError::internal)?;
    if let Some(stated) = stated.as_object_mut() {
        stated.retain(|key, value| key != "limit" && !value.is_null());
    }
    Ok(range.write(stated, &state.audit.public_key(), next, checkpoint))
}

#[derive(Debug, Deserialize)]
pub(crate) struct MineQuery {
    limit: Option<usize>,
    #[serde(default)]
    brief: bool,
}

/// `GET /v1/audit/mine?limit=&brief=`: the caller's own recent requests.
pub(crate) async fn mine(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<MineQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(20);
    recent_requests(&state, &principal, limit, query.brief)
        .await
        .map(|body| Json(body).into_response())
}

/// Returns the audit records of the caller's own token, newest first (`{ "records": [...] }`): at most `limit`
/// (1–100), read through the trail's index of each token's records (`limit` reads, whatever the trail's size;
/// decision 0036); with `brief`, each list in a record's query is replaced by the number of its items
/// ([`crate::audit::BriefRecord`]: what a dashboard shows, without decoding a 10 000-value lookup). What an
/// investigator searched is its own business to see again (the web console's dashboard shows it); reading it is not
/// itself audited.
///
/// # Errors
/// 503 when the trail cannot be read.
pub async fn recent_requests(
    state: &AppState,
    principal: &Principal,
    limit: usize,
    brief: bool,
) -> Result<serde_json::Value, ApiError> {
    let limit = limit.clamp(1, 100);
    let audit = state.audit.clone();
    let token_id = principal.token_id.clone();
    let records = tokio::task::spawn_blocking(move || {
        if brief {
            audit
                .recent_of_token_brief(&token_id, limit)
                .map(|records| json!(records))
        } else {
            audit
                .recent_of_token(&token_id, limit)
                .map(|records| json!(records))
        }
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| ApiError::unavailable("the audit trail", &error))?;
    Ok(json!({ "records": records }))
}

/// Verifies the chain against `checkpoint` (else the latest stored one) off the async runtime.
async fn run_verify(
    state: &AppState,
    checkpoint: Option<Checkpoint>,
) -> Result<serde_json::Value, ApiError> {
    let audit = state.audit.clone();
    let verification = tokio::task::spawn_blocking(move || audit.verify(checkpoint.as_ref()))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::unavailable("the audit trail", &error))?;
    serde_json::to_value(verification).map_err(ApiError::internal)
}

/// Verifies every link of the whole chain and the latest stored checkpoint: the whole of `GET /v1/audit/verify`
/// (`{ "ok", "records", "first_bad", "checkpoint"? }`). The HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but an auditor, 503 when the trail cannot be read.
pub async fn verify_chain(
    state: &AppState,
    principal: &Principal,
) -> Result<serde_json::Value, ApiError> {
    Scope::of(principal)?;
    run_verify(state, None).await
}

/// `GET /v1/audit/verify`.
pub(crate) async fn verify(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    Ok(Json(verify_chain(&state, &principal).await?).into_response())
}

/// `POST /v1/audit/verify` with a kept checkpoint `{ "seq", "hash", "at", "signature" }` as the body.
pub(crate) async fn verify_checkpoint(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    Scope::of(&principal)?;
    json::require_json(&headers)?;
    let checkpoint: Checkpoint = json::parse(&body)?;
    Ok(Json(run_verify(&state, Some(checkpoint)).await?).into_response())
}

/// `GET /v1/audit/checkpoint`: a signed checkpoint of the head as it is now.
pub(crate) async fn checkpoint(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    Ok(Json(audit_checkpoint(&state, &principal).await?).into_response())
}

/// Signs a checkpoint of the head as it is now, for the auditor to keep: the whole of `GET /v1/audit/checkpoint`.
/// The HTTP handler and the web console call this.
///
/// # Errors
/// 403 for anyone but an auditor, 503 when the trail cannot be read.
pub async fn audit_checkpoint(
    state: &AppState,
    principal: &Principal,
) -> Result<serde_json::Value, ApiError> {
    Scope::of(principal)?;
    let checkpoint = state
        .audit
        .checkpoint()
        .await
        .map_err(|error| ApiError::unavailable("the audit trail", &error))?;
    serde_json::to_value(checkpoint).map_err(ApiError::internal)
}

/// `GET /v1/audit/public-key`: the key checkpoints are signed with, and what they sign.
pub(crate) async fn public_key(State(state): State<AppState>) -> Response {
    Json(json!({
        "algorithm": "ed25519",
        "public_key": checkpoint::encode_public_key(&state.audit.public_key()),
        "encoding": "base64",
        "signed_message": checkpoint::MESSAGE_FORMAT,
    }))
    .into_response()
}
