//! "Audit before answer": the one path by which released data leaves search.
//!
//! Every route that returns data released to an agency — `GET /v1/indicators/{value}`, `POST /v1/indicators/lookup`,
//! `POST /v1/search`, every TAXII read (objects, one object, versions, manifest: the STIX export of released views)
//! and what later features add (alerts, console pages, `POST /v1/feedback`, whose 201 reveals that the agency sees a
//! report: its records are published only after the audit record is durable) — computes an [`Unaudited`] answer (or a refusal), then calls
//! [`audit_then_release`]. That appends the request's audit record (allowed or refused) and waits until it is
//! durable; only then does it hand back a [`Released`] answer, the only type here that becomes an HTTP response.
//! [`Released`] can only be built from the [`AuditReceipt`] that [`AuditLog::append`] returns, so a route cannot
//! answer released data without an audit record. When the record cannot be written, the answer is 503 and carries
//! nothing.
//!
//! [`audit`] returns the whole [`Outcome`]: the answer or refusal and the sequence number of its audit record, which
//! every response carries in the [`AUDIT_RECORD_HEADER`] header and the web console shows on its pages, so that an
//! investigator can cite the record of each search.
//!
//! A request without a valid token is refused (401) before any of its work is done, and it is not recorded: it is
//! counted in `accord_search_unauthenticated_total` by endpoint. Anyone can send such requests, so writing them
//! (with their bodies) would let anyone grow the trail; they release nothing, so there is nothing to account for.

use axum::{
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use crate::audit::{AuditEntry, AuditLog, AuditReceipt};
use accord_domain::{Case, Purpose};
use accord_runtime::telemetry::ErrorChain;

/// What is recorded about a request, whatever its outcome.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// `GET /v1/indicators/{value}`, `POST /v1/search`, …
    pub endpoint: &'static str,
    /// The caller's token id and organization, when it presented a valid token.
    pub caller: Option<(String, String)>,
    /// Stated (or, for TAXII, chosen) purpose, when a valid one was.
    pub purpose: Option<Purpose>,
    /// Stated case reference, when a valid one was.
    pub case: Option<Case>,
    /// The query (value, values, q, filters, collection and parameters).
    pub query: Value,
}

/// An answer carrying released data that is not audited yet: it cannot become a response by itself.
#[derive(Debug)]
pub struct Unaudited<T> {
    body: T,
    results: u64,
}

impl<T> Unaudited<T> {
    /// Returns an answer of `results` results.
    pub(crate) fn new(body: T, results: u64) -> Self {
        Self { body, results }
    }

    /// Returns how many results the answer carries (recorded in the audit trail).
    pub fn results(&self) -> u64 {
        self.results
    }

    /// Returns the data, for in-process drivers that answer nobody (the differential policy test).
    pub fn body(&self) -> &T {
        &self.body
    }

    /// Returns the same answer with its data transformed (rendering it as JSON, say).
    pub fn map<U>(self, render: impl FnOnce(T) -> U) -> Unaudited<U> {
        Unaudited {
            body: render(self.body),
            results: self.results,
        }
    }
}

/// An answer whose audit record is durable: the only form in which released data leaves search.
#[derive(Debug)]
pub struct Released<T> {
    body: T,
    receipt: AuditReceipt,
}

impl<T> Released<T> {
    /// Returns the sequence number of the request's audit record.
    pub fn audit_seq(&self) -> u64 {
        self.receipt.seq()
    }

    /// Returns the data, for callers that render it themselves (the console's pages).
    pub fn into_body(self) -> T {
        self.body
    }
}

impl<T: IntoResponse> IntoResponse for Released<T> {
    fn into_response(self) -> Response {
        let seq = self.receipt.seq();
        with_audit_record(self.body.into_response(), Some(seq))
    }
}

/// The response header carrying the sequence number of the request's audit record.
pub const AUDIT_RECORD_HEADER: &str = "x-accord-audit-record";

fn with_audit_record(mut response: Response, seq: Option<u64>) -> Response {
    if let Some(seq) = seq
        && let Ok(value) = HeaderValue::from_str(&seq.to_string())
    {
        response.headers_mut().insert(AUDIT_RECORD_HEADER, value);
    }
    response
}

/// What an audited request ends with: the sequence number of its audit record (`None` when the record could not be
/// written, and the result is then the 503 of [`Refusal::audit_unavailable`]), and the answer or the refusal.
#[derive(Debug)]
pub struct Outcome<T, E> {
    /// The audit record of the request.
    pub audit_record: Option<u64>,
    /// The released answer, or the refusal.
    pub result: Result<Released<T>, E>,
}

impl<T, E> Outcome<T, E> {
    /// Returns the same outcome with its answer's data transformed.
    pub fn map<U>(self, render: impl FnOnce(T) -> U) -> Outcome<U, E> {
        Outcome {
            audit_record: self.audit_record,
            result: self.result.map(|released| Released {
                body: render(released.body),
                receipt: released.receipt,
            }),
        }
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Outcome<T, E> {
    fn into_response(self) -> Response {
        let response = match self.result {
            Ok(released) => released.body.into_response(),
            Err(refusal) => refusal.into_response(),
        };
        with_audit_record(response, self.audit_record)
    }
}

/// A refusal a route answers with (a problem document, a TAXII error): audited like an answer.
pub trait Refusal: IntoResponse {
    /// Returns the HTTP status, recorded in the audit trail.
    fn status(&self) -> StatusCode;

    /// Returns the 503 answered when the audit record cannot be written.
    fn audit_unavailable() -> Self;

    /// Returns the 401 of a request without a valid token.
    fn unauthorized() -> Self;
}

impl Refusal for accord_runtime::ApiError {
    fn status(&self) -> StatusCode {
        accord_runtime::ApiError::status(self)
    }

    fn audit_unavailable() -> Self {
        accord_runtime::ApiError::Unavailable(
            "the audit trail is unavailable; nothing can be searched until it is back".to_owned(),
        )
    }

    fn unauthorized() -> Self {
        accord_runtime::ApiError::Unauthorized
    }
}

impl Refusal for accord_runtime::taxii::TaxiiError {
    fn status(&self) -> StatusCode {
        accord_runtime::taxii::TaxiiError::status(self)
    }

    fn audit_unavailable() -> Self {
        accord_runtime::taxii::TaxiiError::Unavailable(
            "the audit trail is unavailable; nothing can be read until it is back".to_owned(),
        )
    }

    fn unauthorized() -> Self {
        accord_runtime::taxii::TaxiiError::Unauthorized
    }
}

/// Writes the audit record of a request and its outcome, then returns the outcome for answering: an answer as
/// [`Released`], a refusal as is. When the record cannot be written the outcome is dropped and the refusal is
/// [`Refusal::audit_unavailable`]. A request without a valid token is counted, not recorded, and refused.
///
/// # Errors
/// The outcome's refusal, or the 503 of an unavailable audit trail.
pub async fn audit_then_release<T, E: Refusal>(
    log: &AuditLog,
    record: RequestRecord,
    outcome: Result<Unaudited<T>, E>,
) -> Result<Released<T>, E> {
    audit(log, record, outcome).await.result
}

/// Writes the audit record of a request and its outcome, as [`audit_then_release`] does, and returns the
/// [`Outcome`] with the record's sequence number.
pub async fn audit<T, E: Refusal>(
    log: &AuditLog,
    record: RequestRecord,
    outcome: Result<Unaudited<T>, E>,
) -> Outcome<T, E> {
    let Some((token_id, organization)) = record.caller else {
        metrics::counter!(crate::metrics::UNAUTHENTICATED, "endpoint" => record.endpoint)
            .increment(1);
        // Every route refuses a caller without a valid token before it computes anything; should one ever answer,
        // it is refused here all the same (fail closed).
        return Outcome {
            audit_record: None,
            result: Err(outcome.err().unwrap_or_else(E::unauthorized)),
        };
    };
    let (status, results) = match &outcome {
        Ok(answer) => (StatusCode::OK, answer.results),
        Err(refusal) => (refusal.status(), 0),
    };
    let entry = AuditEntry {
        at: chrono::Utc::now(),
        token_id: Some(token_id),
        organization: Some(organization),
        endpoint: record.endpoint.to_owned(),
        purpose: record.purpose.map(|purpose| purpose.as_str().to_owned()),
        case: record.case,
        query: record.query,
        status: status.as_u16(),
        results,
        writer: None,
    };
    let receipt = match log.append(entry).await {
        Ok(receipt) => receipt,
        Err(error) => {
            tracing::error!(error = %ErrorChain(&error), endpoint = record.endpoint, "failed to write audit record; answering 503");
            return Outcome {
                audit_record: None,
                result: Err(E::audit_unavailable()),
            };
        }
    };
    metrics::counter!(
        crate::metrics::REQUESTS,
        "endpoint" => record.endpoint,
        "status" => status.as_str().to_owned()
    )
    .increment(1);
    Outcome {
        audit_record: Some(receipt.seq()),
        result: outcome.map(|answer| Released {
            body: answer.body,
            receipt,
        }),
    }
}

/// Turns the result of [`audit_then_release`] into the response.
pub fn respond<T: IntoResponse, E: IntoResponse>(result: Result<Released<T>, E>) -> Response {
    match result {
        Ok(released) => released.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}
