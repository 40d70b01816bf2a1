//! Signing in and out.
//!
//! Sign-in takes an existing API token (field "Access token"), asks the backend who it is (`GET /v1/me`: an unknown,
//! revoked or expired token is refused here) and starts a server-side session; the browser gets only the session
//! cookie. The sign-in form has no session to bind a CSRF token to, so its token is bound to a short-lived
//! `SameSite=Strict` cookie set with the form (double submit): a form posted from another site carries neither.
//! Sign-out ends the session on the server and clears the cookie.

use std::time::Instant;

use accord_runtime::ApiError;
use axum::{
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use secrecy::SecretString;
use serde::Deserialize;

use crate::{
    AppState,
    extract::Signed,
    form::{Fields, check_csrf},
    layout::{Nav, page},
    pages::errors,
    security::{cookie, read_cookie, same_origin, secure},
    session::{SESSION_COOKIE, random_token, same_secret},
};

/// The cookie that binds the sign-in form's CSRF token.
const SIGN_IN_COOKIE: &str = "accord_sign_in";
/// How long a sign-in form stays valid, in seconds.
const SIGN_IN_FORM_SECONDS: u64 = 3600;

/// `GET /`: the dashboard when signed in, else the sign-in page.
pub(crate) async fn home(signed: Result<Signed, Response>) -> Response {
    match signed {
        Ok(_) => see_other("/dashboard"),
        Err(to_sign_in) => to_sign_in,
    }
}

/// A `303 See Other` to `location`.
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `?reason=` of the sign-in page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Reason {
    reason: Option<String>,
}

fn reason_notice(reason: Option<&str>) -> Markup {
    let text = match reason {
        Some("expired") => "Your session has ended. Sign in again.",
        Some("revoked") => {
            "Your access token is no longer valid (revoked or expired). Sign in with a valid one."
        }
        Some("signed-out") => "You are signed out.",
        _ => return html! {},
    };
    html! { div.notice role="status" { p { (text) } } }
}

fn sign_in_page(csrf: &str, notice: Markup, error: Option<&str>) -> String {
    let body = html! {
        h1 { "Sign in to Accord" }
        (notice)
        form method="post" action="/sign-in" hx-boost="false" {
            input type="hidden" name="csrf" value=(csrf);
            label for="token" { "Access token" }
            @if let Some(error) = error {
                input type="password" id="token" name="token" autocomplete="off" required
                    spellcheck="false" aria-invalid="true" aria-describedby="token-error";
                small.field-error id="token-error" { (error) }
            } @else {
                input type="password" id="token" name="token" autocomplete="off" required
                    spellcheck="false" aria-describedby="token-help";
            }
            small id="token-help" {
                "The API token your coordinator issued to you (it starts with acc_). It stays on the server: your "
                "browser only holds a session cookie."
            }
            button type="submit" { "Sign in" }
        }
    };
    page("Sign in", None, Nav::None, body).into_string()
}

/// Answers the sign-in page with a fresh form token (and its cookie).
fn sign_in_response(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    notice: Markup,
    error: Option<&str>,
) -> Response {
    let csrf = random_token();
    let mut response = (status, Html(sign_in_page(&csrf, notice, error))).into_response();
    let secure = secure(state.config.secure_cookies, headers);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie(SIGN_IN_COOKIE, &csrf, secure, Some(SIGN_IN_FORM_SECONDS)),
    );
    response
}

/// `GET /sign-in`.
pub(crate) async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(reason): Query<Reason>,
) -> Response {
    sign_in_response(
        &state,
        &headers,
        StatusCode::OK,
        reason_notice(reason.reason.as_deref()),
        None,
    )
}

/// `POST /sign-in`.
pub(crate) async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    let bound = read_cookie(&headers, SIGN_IN_COOKIE);
    let submitted = fields.get("csrf");
    let form_ok = same_origin(&headers)
        && bound
            .as_deref()
            .is_some_and(|bound| !submitted.is_empty() && same_secret(bound, submitted));
    if !form_ok {
        return errors::forbidden_form(None);
    }
    let token = fields.get("token").trim();
    if token.is_empty() || token.len() > 200 {
        let error = "Enter your access token.";
        return sign_in_response(
            &state,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            html! {},
            Some(error),
        );
    }
    let token = SecretString::from(token.to_owned());
    let identity = match state.backend.me(&token).await {
        Ok(identity) => identity,
        Err(ApiError::Unauthorized) => {
            let error = "This access token is not valid: it is unknown, revoked or expired.";
            return sign_in_response(
                &state,
                &headers,
                StatusCode::UNAUTHORIZED,
                html! {},
                Some(error),
            );
        }
        Err(error) => return errors::problem(None, &error),
    };
    tracing::info!(token_id = %identity.token_id, role = identity.role.as_str(), "console sign-in");
    let session_id = state.sessions.create(token, identity, Instant::now());
    let secure = secure(state.config.secure_cookies, &headers);
    let mut response = see_other("/dashboard");
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        cookie(SESSION_COOKIE, &session_id, secure, None),
    );
    cookies.append(
        header::SET_COOKIE,
        cookie(SIGN_IN_COOKIE, "", secure, Some(0)),
    );
    response
}

/// `POST /sign-out`.
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = check_csrf(&signed, &headers, fields.get("csrf")) {
        return refused;
    }
    state.sessions.end(&signed.session_id);
    let mut response = see_other("/sign-in?reason=signed-out");
    let secure = secure(state.config.secure_cookies, &headers);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie(SESSION_COOKIE, "", secure, Some(0)),
    );
    response
}
