//! Problem documents (RFC 9457) of the remote API, read back into the [`ApiError`]s the in-process functions
//! return, so pages show the same field errors with either backend.

use accord_runtime::{ApiError, FieldError};
use reqwest::StatusCode;
use serde::Deserialize;

/// The parts of a problem document the console shows.
#[derive(Debug, Default, Deserialize)]
struct Problem {
    #[serde(default)]
    detail: String,
    #[serde(default)]
    errors: Vec<ProblemField>,
}

#[derive(Debug, Deserialize)]
struct ProblemField {
    pointer: String,
    message: String,
}

/// Returns the [`ApiError`] a problem document (RFC 9457) stands for.
pub(crate) fn problem(status: StatusCode, body: &[u8]) -> ApiError {
    let problem: Problem = serde_json::from_slice(body).unwrap_or_default();
    let errors = || {
        problem
            .errors
            .iter()
            .map(|field| FieldError::new(field.pointer.clone(), field.message.clone()))
            .collect()
    };
    let detail = problem.detail.clone();
    match status {
        StatusCode::BAD_REQUEST => ApiError::BadRequest {
            detail,
            errors: errors(),
        },
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        StatusCode::FORBIDDEN => ApiError::Forbidden(detail),
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::CONFLICT => ApiError::Conflict(detail),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(detail),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(detail),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable {
            detail,
            errors: errors(),
        },
        StatusCode::TOO_MANY_REQUESTS => ApiError::TooManyRequests { retry_after: 1 },
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(detail),
        other => ApiError::internal(anyhow::anyhow!("the Accord API answered {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_documents_become_the_same_errors() {
        let body = br#"{"type":"/problems/invalid-request","title":"Invalid request","status":422,
            "detail":"/title: required","errors":[{"pointer":"/title","message":"required"}]}"#;
        let ApiError::Unprocessable { errors, .. } =
            problem(StatusCode::UNPROCESSABLE_ENTITY, body)
        else {
            panic!("a 422");
        };
        assert_eq!(errors, vec![FieldError::new("/title", "required")]);
        assert!(matches!(
            problem(StatusCode::NOT_FOUND, b""),
            ApiError::NotFound
        ));
        assert!(matches!(
            problem(StatusCode::UNAUTHORIZED, b"garbage"),
            ApiError::Unauthorized
        ));
        assert!(matches!(
            problem(StatusCode::IM_A_TEAPOT, b""),
            ApiError::Internal(_)
        ));
    }
}
