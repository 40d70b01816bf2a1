//! TAXII error messages (TAXII 2.1 §3.6.1): `{ "title", "description", "http_status" }` with the TAXII media type.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::TAXII_MEDIA_TYPE;

/// Every error a TAXII endpoint answers with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TaxiiError {
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
    /// 501: not offered by this server yet.
    #[error("{0}")]
    NotImplemented(String),
    /// 503: a backend (index, audit trail, bus) is unavailable; nothing is answered.
    #[error("{0}")]
    Unavailable(String),
}

impl TaxiiError {
    /// Returns the HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            TaxiiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            TaxiiError::Unauthorized => StatusCode::UNAUTHORIZED,
            TaxiiError::Forbidden(_) => StatusCode::FORBIDDEN,
            TaxiiError::NotFound => StatusCode::NOT_FOUND,
            TaxiiError::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            TaxiiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            TaxiiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TaxiiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            TaxiiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            TaxiiError::NotImplemented(_) => "Not implemented",
            TaxiiError::Unavailable(_) => "Unavailable",
        }
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = json!({
            "title": self.title(),
            "description": self.to_string(),
            "http_status": status.as_u16().to_string(),
        });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(TAXII_MEDIA_TYPE),
        );
        if matches!(self, TaxiiError::Unauthorized) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"accord-taxii\", Bearer"),
            );
        }
        response
    }
}
