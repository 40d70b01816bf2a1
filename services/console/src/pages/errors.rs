//! Error pages, and what each refusal of the API means in plain words.
//!
//! "Not found" is one page whatever the cause — nothing there, another partner's report, a page of another role, a
//! report the agency may not see — exactly as the API answers 404 for all of them.

use accord_runtime::ApiError;
use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use maud::html;

use crate::{
    layout::{Nav, page},
    session::Session,
};

/// Returns a page with `status`, a heading and a sentence.
pub(crate) fn page_status(
    session: Option<&Session>,
    status: StatusCode,
    heading: &str,
    sentence: &str,
) -> Response {
    let body = html! {
        h1 { (heading) }
        p { (sentence) }
        p { a href="/" { "Back to the start page" } }
    };
    (
        status,
        Html(page(heading, session, Nav::None, body).into_string()),
    )
        .into_response()
}

/// The one "not found" page.
pub(crate) fn not_found(session: Option<&Session>) -> Response {
    page_status(
        session,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing here that you may see.",
    )
}

/// The page of a form refused for its CSRF token or origin.
pub(crate) fn forbidden_form(session: Option<&Session>) -> Response {
    page_status(
        session,
        StatusCode::FORBIDDEN,
        "This form was refused",
        "It did not carry this session's security token, or it was sent from another site. Nothing was changed. \
         Reload the page and try again.",
    )
}

/// Returns what a refusal means, for the user.
pub(crate) fn explain(error: &ApiError) -> String {
    match error {
        ApiError::NotFound => "Not found: there is nothing here that you may see.".to_owned(),
        ApiError::Unauthorized => "Your access token is no longer valid. Sign in again.".to_owned(),
        ApiError::Forbidden(detail) => format!("Not allowed: {detail}."),
        ApiError::Unavailable(_) => {
            "Accord cannot answer right now (a service it depends on is unavailable). Nothing was released; try \
             again in a moment."
                .to_owned()
        }
        ApiError::TooManyRequests { .. } => {
            "Too many requests in a short time. Wait a moment and try again.".to_owned()
        }
        ApiError::PayloadTooLarge(detail) => format!("Too large: {detail}."),
        ApiError::Internal(_) => "Something went wrong on our side. It has been logged.".to_owned(),
        other => other.to_string(),
    }
}

/// Returns the page of a refusal that concerns no form field.
pub(crate) fn problem(session: Option<&Session>, error: &ApiError) -> Response {
    match error {
        ApiError::NotFound => not_found(session),
        other => page_status(
            session,
            other.status(),
            "Cannot show this page",
            &explain(other),
        ),
    }
}
