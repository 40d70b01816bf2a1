//! The signed-in user of a request ([`Signed`]): every page but sign-in and the assets takes one, so a signed-out
//! browser reaches no page that shows data — it is sent to the sign-in page instead.
//!
//! Before a page does anything, the session's token is checked with the backend (`GET /v1/me`): a token revoked or
//! expired since sign-in ends the session there and then, and the user's organization, role and permitted purposes
//! are those of this moment, not of sign-in.

use std::time::Instant;

use accord_domain::Role;
use accord_runtime::ApiError;
use axum::{
    extract::FromRequestParts,
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};

use crate::{
    AppState, pages,
    security::read_cookie,
    session::{SESSION_COOKIE, Session},
};

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    /// The session id (the cookie's value).
    pub(crate) session_id: String,
    /// The session, as of this request.
    pub(crate) session: Session,
}

impl Signed {
    /// Returns `Ok` when the user has `role`; otherwise the page does not exist for them (404, as the API answers).
    #[expect(
        clippy::result_large_err,
        reason = "the refusal is the page the handler answers at once; boxing it would only move it to the heap"
    )]
    pub(crate) fn require(&self, role: Role) -> Result<(), Response> {
        if self.session.identity.role == role {
            return Ok(());
        }
        Err(pages::errors::not_found(Some(&self.session)))
    }
}

/// Sends the browser to the sign-in page, saying why (`expired`, `revoked`): a plain redirect, or for an htmx
/// request an `HX-Redirect`, so the whole page changes rather than a fragment of it.
pub(crate) fn to_sign_in(parts_headers: &axum::http::HeaderMap, reason: Option<&str>) -> Response {
    let location = match reason {
        Some(reason) => format!("/sign-in?reason={reason}"),
        None => "/sign-in".to_owned(),
    };
    let location = HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/sign-in"));
    if parts_headers.contains_key("hx-request") {
        let mut response = StatusCode::NO_CONTENT.into_response();
        response.headers_mut().insert("hx-redirect", location);
        return response;
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(session_id) = read_cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_sign_in(&parts.headers, None));
        };
        let Some(mut session) = state.sessions.touch(&session_id, Instant::now()) else {
            return Err(to_sign_in(&parts.headers, Some("expired")));
        };
        match state.backend.me(&session.token).await {
            Ok(identity) => {
                session.identity = identity.clone();
                state
                    .sessions
                    .update(&session_id, |stored| stored.identity = identity);
            }
            Err(ApiError::Unauthorized) => {
                state.sessions.end(&session_id);
                return Err(to_sign_in(&parts.headers, Some("revoked")));
            }
            Err(error) => return Err(pages::errors::problem(Some(&session), &error)),
        }
        Ok(Self {
            session_id,
            session,
        })
    }
}
