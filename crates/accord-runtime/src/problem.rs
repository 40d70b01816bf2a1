//! RFC 9457 problem documents: one [`ApiError`] type that every handler returns, each variant mapped once to a
//! stable problem `type` and its status (api.md conventions).

use crate::telemetry::ErrorChain;
use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// One invalid field of a request: a JSON pointer into the body and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON pointer (`/indicators/3/value`).
    pub pointer: String,
    /// What is wrong, lower-case.
    pub message: String,
}

impl FieldError {
    /// Returns a field error.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl From<accord_domain::validation::FieldIssue> for FieldError {
    fn from(issue: accord_domain::validation::FieldIssue) -> Self {
        Self {
            pointer: issue.pointer,
            message: issue.message,
        }
    }
}

/// A document with invalid fields is a 422 listing them.
impl From<accord_domain::validation::Invalid> for ApiError {
    fn from(invalid: accord_domain::validation::Invalid) -> Self {
        ApiError::Unprocessable {
            detail: invalid.to_string(),
            errors: invalid.issues.into_iter().map(FieldError::from).collect(),
        }
    }
}

/// Every error an HTTP handler can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed request (bad JSON, missing parameter).
    #[error("{detail}")]
    BadRequest {
        /// Human detail.
        detail: String,
        /// Fields at fault.
        errors: Vec<FieldError>,
    },
    /// 401: no token, or an unknown or revoked one.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 403: the role or policy forbids this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: unknown or not visible to the caller (never tells which).
    #[error("not found")]
    NotFound,
    /// 409: conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 412: an `If-Match` precondition names a version that is no longer the current one.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 413: body too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: wrong media type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid.
    #[error("{detail}")]
    Unprocessable {
        /// Human detail.
        detail: String,
        /// Fields at fault.
        errors: Vec<FieldError>,
    },
    /// 429: rate limited.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// 429: a quota is used up until a known time; the detail names the setting.
    #[error("{detail}")]
    QuotaExceeded {
        /// Seconds to wait.
        retry_after: u64,
        /// Human detail naming the setting.
        detail: String,
    },
    /// 503: a dependency (bus, index, audit, policy) is unavailable; nothing was released.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or unexpected failure; the detail is logged, never echoed.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// Returns a 400 naming one field.
    pub fn bad_field(pointer: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::BadRequest {
            detail: format!("{pointer}: {message}"),
            errors: vec![FieldError::new(pointer, message)],
        }
    }

    /// Returns a 422 naming one field.
    pub fn invalid_field(pointer: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::Unprocessable {
            detail: format!("{pointer}: {message}"),
            errors: vec![FieldError::new(pointer, message)],
        }
    }

    /// Returns a 503 saying that `what` is unavailable, after logging `error` with its cause chain: the cause is
    /// for operators, never echoed to the client.
    pub fn unavailable(what: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(error), what, "a dependency failed; answering 503");
        ApiError::Unavailable(format!("{what} is unavailable; retry later"))
    }

    /// Returns a 500 wrapping `error`.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(error.into())
    }

    /// Returns the HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } | ApiError::QuotaExceeded { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Returns the stable problem type slug (`/problems/<slug>`).
    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "malformed-request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not-found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed(_) => "precondition-failed",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Unprocessable { .. } => "invalid-request",
            ApiError::TooManyRequests { .. } | ApiError::QuotaExceeded { .. } => "rate-limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "Malformed request",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound => "Not found",
            ApiError::Conflict(_) => "Conflict",
            ApiError::PreconditionFailed(_) => "Precondition failed",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::Unprocessable { .. } => "Invalid request",
            ApiError::TooManyRequests { .. } | ApiError::QuotaExceeded { .. } => {
                "Too many requests"
            }
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Internal(_) => "Internal error",
        }
    }
}

/// The problem document body.
#[derive(Debug, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = %ErrorChain(error.as_ref()), "request failed with an internal error");
        }
        let errors = match &self {
            ApiError::BadRequest { errors, .. } | ApiError::Unprocessable { errors, .. } => {
                Some(errors.as_slice())
            }
            _ => None,
        };
        let body = Problem {
            kind: format!("/problems/{}", self.slug()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
            errors,
        };
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::TooManyRequests { retry_after }
        | ApiError::QuotaExceeded { retry_after, .. } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
