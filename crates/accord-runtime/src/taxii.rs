//! TAXII 2.1 (OASIS) plumbing shared by the services that serve `/taxii2/`: the gateway (a partner adds objects to
//! its inbox and reads the status of what it added) and search (discovery, collections and everything agencies read).
//!
//! - Authentication: `Authorization: Bearer <token>` or HTTP Basic with the token as password (any user name); TAXII
//!   requires Basic, the rest of the API keeps Bearer only.
//! - Content negotiation: `Accept` and `Content-Type` per TAXII 2.1 §1.6.
//! - Errors: TAXII error messages (`application/taxii+json;version=2.1`, §3.6.1), not problem documents.
//! - Collection ids: stable UUIDv5s, so the gateway and search agree on a partner's inbox without talking.

use accord_domain::{OrgId, OrgKind, Organization, Purpose, Role};
use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use crate::telemetry::ErrorChain;
use crate::{ApiError, Authenticator, FieldError, Principal};

/// The TAXII 2.1 media type.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The STIX 2.1 media type (objects).
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";
/// The one API root's path segment.
pub const API_ROOT: &str = "accord";
/// The header that carries an agency's case reference.
pub const CASE_HEADER: &str = "x-accord-case";

/// The largest envelope a partner may add, in bytes (the gateway's report limit); the API root announces it.
pub const MAX_CONTENT_LENGTH: usize = 2 * 1024 * 1024;

/// Returns the id of a partner's inbox collection: a UUIDv5, stable for the organization.
pub fn inbox_id(partner: &OrgId) -> String {
    accord_stix::export::accord_uuid(&format!("taxii|inbox|{partner}"))
}

/// Returns the id of the collection of what MoUs release to `agency` for `purpose`.
pub fn released_id(agency: &OrgId, purpose: Purpose) -> String {
    accord_stix::export::accord_uuid(&format!("taxii|released|{agency}|{purpose}"))
}

/// Answers a TAXII resource with the TAXII media type.
pub fn taxii_response(media_type: &'static str, body: Value) -> Response {
    crate::http::streamed::Streamed::json_as(HeaderValue::from_static(media_type), body)
        .into_response()
}

/// Who calls, and as what.
pub struct Caller {
    pub principal: Principal,
    pub org: Organization,
}

impl Caller {
    /// Returns whether the caller reads as an agency (an investigator of an agency).
    pub fn is_agency(&self) -> bool {
        self.principal.role == Role::Investigator && self.org.kind == OrgKind::Agency
    }

    /// Returns whether the caller writes as a partner.
    pub fn is_partner(&self) -> bool {
        self.principal.role == Role::Partner && self.org.kind == OrgKind::Partner
    }
}

/// Returns the token a request presents: `Bearer <token>`, or HTTP Basic with the token as password.
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credentials.to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_user, password) = decoded.split_once(':')?;
    Some(password.to_owned())
}

/// Authenticates a TAXII request.
///
/// # Errors
/// [`TaxiiError::Unauthorized`] without a valid token, or when the token's organization is unknown.
pub fn caller(auth: &Authenticator, headers: &HeaderMap) -> Result<Caller, TaxiiError> {
    let Some(token) = presented_token(headers) else {
        return Err(TaxiiError::Unauthorized);
    };
    let principal = auth
        .authenticate(&token)
        .map_err(|_| TaxiiError::Unauthorized)?;
    let Some(org) = auth.organization(&principal) else {
        return Err(TaxiiError::Unauthorized);
    };
    Ok(Caller { principal, org })
}

/// What a response may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// TAXII resources only.
    Taxii,
    /// TAXII, or STIX for object envelopes.
    TaxiiOrStix,
}

/// Picks the response media type from `Accept` (406 when nothing acceptable is offered). A missing header, `*/*`
/// and `application/*` get TAXII; `application/taxii+json` without a version means 2.1.
///
/// # Errors
/// [`TaxiiError::NotAcceptable`].
pub fn negotiate(headers: &HeaderMap, accepts: Accepts) -> Result<&'static str, TaxiiError> {
    let Some(value) = headers.get(header::ACCEPT) else {
        return Ok(TAXII_MEDIA_TYPE);
    };
    let Ok(value) = value.to_str() else {
        return Err(TaxiiError::NotAcceptable);
    };
    for range in value.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let essence = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut version_ok = true;
        for parameter in parts {
            if let Some((name, value)) = parameter.split_once('=')
                && name.trim().eq_ignore_ascii_case("version")
            {
                version_ok = value.trim().trim_matches('"') == "2.1";
            }
        }
        match essence.as_str() {
            "*/*" | "application/*" => return Ok(TAXII_MEDIA_TYPE),
            "application/taxii+json" if version_ok => return Ok(TAXII_MEDIA_TYPE),
            "application/stix+json" if version_ok && accepts == Accepts::TaxiiOrStix => {
                return Ok(STIX_MEDIA_TYPE);
            }
            _ => {}
        }
    }
    Err(TaxiiError::NotAcceptable)
}

/// Returns whether a request's `Content-Type` is the TAXII 2.1 media type (415 otherwise).
pub fn is_taxii_content(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|essence| essence.eq_ignore_ascii_case("application/taxii+json"))
    {
        return false;
    }
    parts.all(|parameter| match parameter.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("version") => {
            value.trim().trim_matches('"') == "2.1"
        }
        _ => true,
    })
}

/// Every error a TAXII endpoint answers with.
#[derive(Debug, thiserror::Error)]
pub enum TaxiiError {
    /// 400: a bad parameter or a missing case reference.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token, or an unknown or revoked one.
    #[error("a valid token is required (Bearer, or HTTP Basic with the token as password)")]
    Unauthorized,
    /// 403: the caller may not do this (read an inbox, write a read-only collection).
    #[error("{0}")]
    Forbidden(String),
    /// 404: unknown, or not visible to the caller (never tells which).
    #[error("not found")]
    NotFound,
    /// 406: no acceptable media type offered.
    #[error("the Accept header must allow application/taxii+json;version=2.1")]
    NotAcceptable,
    /// 413: the envelope is too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not `application/taxii+json;version=2.1`.
    #[error("the Content-Type must be application/taxii+json;version=2.1")]
    UnsupportedMediaType,
    /// 429: the caller is over its rate, or its backlog is full; `Retry-After` says when to try again.
    #[error("too many requests: retry after {retry_after} s")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// 503: a backend (index, audit trail, bus) is unavailable; nothing is answered.
    #[error("{0}")]
    Unavailable(String),
    /// Any other refusal the shared API makes (400 or 422 naming the fields at fault, 409, 429, 500), carried over
    /// from an [`ApiError`].
    #[error("{detail}")]
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// Human detail.
        detail: String,
        /// The fields at fault (JSON pointers into the request body), as `details.errors`.
        errors: Vec<FieldError>,
    },
}

impl From<ApiError> for TaxiiError {
    fn from(error: ApiError) -> Self {
        let status = error.status();
        match error {
            ApiError::Unauthorized => TaxiiError::Unauthorized,
            ApiError::NotFound => TaxiiError::NotFound,
            ApiError::Forbidden(detail) => TaxiiError::Forbidden(detail),
            ApiError::PayloadTooLarge(detail) => TaxiiError::PayloadTooLarge(detail),
            ApiError::UnsupportedMediaType(_) => TaxiiError::UnsupportedMediaType,
            ApiError::Unavailable(detail) => TaxiiError::Unavailable(detail),
            ApiError::TooManyRequests { retry_after }
            | ApiError::QuotaExceeded { retry_after, .. } => {
                TaxiiError::TooManyRequests { retry_after }
            }
            ApiError::BadRequest { detail, errors }
            | ApiError::Unprocessable { detail, errors } => TaxiiError::Refused {
                status,
                detail,
                errors,
            },
            ApiError::Internal(source) => {
                tracing::error!(error = %ErrorChain(source.as_ref()), "internal error answering a TAXII request");
                TaxiiError::Refused {
                    status,
                    detail: "internal error".to_owned(),
                    errors: Vec::new(),
                }
            }
            other => TaxiiError::Refused {
                status,
                detail: other.to_string(),
                errors: Vec::new(),
            },
        }
    }
}

impl TaxiiError {
    /// Returns the HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            TaxiiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            TaxiiError::Unauthorized => StatusCode::UNAUTHORIZED,
            TaxiiError::Forbidden(_) => StatusCode::FORBIDDEN,
            TaxiiError::NotFound => StatusCode::NOT_FOUND,
            TaxiiError::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            TaxiiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            TaxiiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TaxiiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            TaxiiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            TaxiiError::Refused { status, .. } => *status,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            TaxiiError::BadRequest(_) => "Bad request",
            TaxiiError::Unauthorized => "Unauthorized",
            TaxiiError::Forbidden(_) => "Forbidden",
            TaxiiError::NotFound => "Not found",
            TaxiiError::NotAcceptable => "Not acceptable",
            TaxiiError::PayloadTooLarge(_) => "Payload too large",
            TaxiiError::UnsupportedMediaType => "Unsupported media type",
            TaxiiError::TooManyRequests { .. } => "Too many requests",
            TaxiiError::Unavailable(_) => "Unavailable",
            TaxiiError::Refused { status, .. } => status.canonical_reason().unwrap_or("Refused"),
        }
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = json!({
            "title": self.title(),
            "description": self.to_string(),
            "http_status": status.as_u16().to_string(),
        });
        if let TaxiiError::Refused { errors, .. } = &self
            && !errors.is_empty()
        {
            body["details"] = json!({ "errors": errors });
        }
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(TAXII_MEDIA_TYPE),
        );
        if let TaxiiError::TooManyRequests { retry_after } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        if matches!(self, TaxiiError::Unauthorized) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"accord-taxii\", Bearer"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_negotiation_follows_the_spec() {
        let taxii = Accepts::Taxii;
        let objects = Accepts::TaxiiOrStix;
        assert_eq!(
            negotiate(&HeaderMap::new(), taxii).unwrap(),
            TAXII_MEDIA_TYPE
        );
        let ok = headers(header::ACCEPT, "application/taxii+json;version=2.1");
        assert_eq!(negotiate(&ok, taxii).unwrap(), TAXII_MEDIA_TYPE);
        let old = headers(header::ACCEPT, "application/taxii+json;version=2.0");
        assert!(matches!(
            negotiate(&old, taxii),
            Err(TaxiiError::NotAcceptable)
        ));
        let json = headers(header::ACCEPT, "application/json");
        assert!(matches!(
            negotiate(&json, taxii),
            Err(TaxiiError::NotAcceptable)
        ));
        let stix = headers(header::ACCEPT, "application/stix+json; version=2.1");
        assert!(matches!(
            negotiate(&stix, taxii),
            Err(TaxiiError::NotAcceptable)
        ));
        assert_eq!(negotiate(&stix, objects).unwrap(), STIX_MEDIA_TYPE);
        let any = headers(header::ACCEPT, "text/html, */*");
        assert_eq!(negotiate(&any, taxii).unwrap(), TAXII_MEDIA_TYPE);
    }

    #[test]
    fn tokens_come_from_bearer_or_basic_password() {
        let bearer = headers(header::AUTHORIZATION, "Bearer acc_1");
        assert_eq!(presented_token(&bearer).as_deref(), Some("acc_1"));
        let basic = headers(
            header::AUTHORIZATION,
            &format!("Basic {}", STANDARD.encode("anyone:acc_2")),
        );
        assert_eq!(presented_token(&basic).as_deref(), Some("acc_2"));
        let garbage = headers(header::AUTHORIZATION, "Basic !!!");
        assert_eq!(presented_token(&garbage), None);
        let other = headers(header::AUTHORIZATION, "Digest x");
        assert_eq!(presented_token(&other), None);
    }

    #[test]
    fn content_type_must_be_taxii_21() {
        assert!(is_taxii_content(&headers(
            header::CONTENT_TYPE,
            "application/taxii+json;version=2.1"
        )));
        assert!(!is_taxii_content(&headers(
            header::CONTENT_TYPE,
            "application/json"
        )));
        assert!(!is_taxii_content(&headers(
            header::CONTENT_TYPE,
            "application/taxii+json;version=2.0"
        )));
        assert!(!is_taxii_content(&HeaderMap::new()));
    }
}
