//! An investigator's working context: the purpose ("Purpose", among those its agency's MoUs in force allow) and the
//! case reference ("Case reference") every search states. Chosen once, kept in the session, shown and changeable at
//! the top of every investigator page; no search runs without it.
//!
//! A case-bound token (`POST /v1/tokens/case`) binds every read to its purpose and case, exactly as the API does
//! (search's `PurposeAndCase::of`): its session starts with that context, the bar shows it without a form, and
//! `POST /context` refuses any other.

use accord_domain::{Purpose, Role};
use axum::{
    extract::State,
    http::HeaderMap,
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};

use crate::{
    AppState,
    extract::Signed,
    form::{FieldErrors, Fields, admit},
    layout::{Nav, csrf_field, error_id, field_errors, page},
    pages::sign_in::see_other,
    session::{Session, WorkContext},
};

/// The most characters of a case reference (as the API).
const MAX_CASE: usize = 200;

/// The working-context form of `session`, returning to `next` once set.
pub(crate) fn bar(session: &Session, next: &str) -> Markup {
    if let Some(binding) = &session.identity.binding {
        return html! {
            section.context aria-label="Working context" {
                p {
                    "Purpose " strong { (binding.purpose.as_str()) } ", case reference " strong { (binding.case.as_str()) }
                    " — this access token is bound to them: every search states them."
                }
            }
        };
    }
    let (purpose, case) = match &session.context {
        Some(context) => (Some(context.purpose), context.case.as_str()),
        None => (None, ""),
    };
    form_with(session, next, purpose, case, &FieldErrors::default())
}

fn form_with(
    session: &Session,
    next: &str,
    purpose: Option<Purpose>,
    case: &str,
    errors: &FieldErrors,
) -> Markup {
    let mut purposes = session.identity.purposes.clone();
    if let Some(current) = purpose
        && !purposes.contains(&current)
    {
        purposes.push(current);
    }
    if purposes.is_empty() {
        return html! {
            div.notice.error role="status" {
                p { "No MoU in force releases anything to your agency now: there is nothing you can search." }
            }
        };
    }
    let invalid = |field: &str| (!errors.of(field).is_empty()).then_some("true");
    let described = |field: &str| (!errors.of(field).is_empty()).then(|| error_id(field));
    html! {
        form.context method="post" action="/context" aria-label="Working context" {
            (csrf_field(session))
            input type="hidden" name="next" value=(next);
            label for="purpose" { "Purpose" }
            select id="purpose" name="purpose" required aria-invalid=[invalid("purpose")] aria-describedby=[described("purpose")] {
                @if purpose.is_none() { option value="" selected { "Choose…" } }
                @for option in &purposes {
                    @if Some(*option) == purpose {
                        option value=(option.as_str()) selected { (option.as_str()) }
                    } @else {
                        option value=(option.as_str()) { (option.as_str()) }
                    }
                }
            }
            label for="case" { "Case reference" }
            input type="text" id="case" name="case" value=(case) required maxlength=(MAX_CASE)
                autocomplete="off" aria-invalid=[invalid("case")] aria-describedby=[described("case")];
            button type="submit" { "Set context" }
        }
        (field_errors(errors, "purpose"))
        (field_errors(errors, "case"))
    }
}

/// Returns where to go after the context is set: a path of this console, else the dashboard.
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && next.len() < 4096
    {
        next
    } else {
        "/dashboard"
    }
}

/// The refusal of a new context for a case-bound token's session (422).
fn bound(session: &Session, next: &str) -> Response {
    let body = html! {
        h1 { "Working context" }
        div.notice.error role="alert" {
            p { "This access token is bound to one purpose and case reference; they cannot be changed. Sign in with another token to work on another case." }
        }
        (bar(session, next))
    };
    let page = page("Working context", Some(session), Nav::None, body);
    (
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        Html(page.into_string()),
    )
        .into_response()
}

/// `POST /context`.
pub(crate) async fn set(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = admit(&signed, Role::Investigator, &headers, &fields) {
        return refused;
    }
    let next = safe_next(fields.get("next"));
    if signed.session.identity.binding.is_some() {
        return bound(&signed.session, next);
    }
    let mut errors = FieldErrors::default();
    let purpose = match fields.get("purpose").parse::<Purpose>() {
        Ok(purpose) if signed.session.identity.purposes.contains(&purpose) => Some(purpose),
        Ok(_) => {
            errors.add(
                Some("purpose"),
                "No MoU in force lets your agency search for this purpose.",
            );
            None
        }
        Err(_) => {
            errors.add(Some("purpose"), "Choose the purpose of your searches.");
            None
        }
    };
    let case = fields.get("case").trim();
    if case.is_empty() {
        errors.add(Some("case"), "Enter your case reference.");
    } else if case.chars().count() > MAX_CASE || case.chars().any(char::is_control) {
        errors.add(Some("case"), "At most 200 characters, on one line.");
    }
    let Some(purpose) = purpose.filter(|_| errors.is_empty()) else {
        let body = html! {
            h1 { "Working context" }
            (form_with(&signed.session, next, None, case, &errors))
        };
        let page = page("Working context", Some(&signed.session), Nav::None, body);
        return (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Html(page.into_string()),
        )
            .into_response();
    };
    let context = WorkContext {
        purpose,
        case: case.to_owned(),
    };
    state.sessions.update(&signed.session_id, |session| {
        session.context = Some(context)
    });
    see_other(next)
}

/// Returns the working context, or the notice that it must be set first.
pub(crate) fn required(session: &Session) -> Result<&WorkContext, Markup> {
    session.context.as_ref().ok_or_else(|| {
        html! {
            div.notice role="status" {
                p { "Set your purpose and case reference above first: every search states them, and they are recorded in the audit trail." }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_console_are_followed() {
        assert_eq!(safe_next("/search?q=x"), "/search?q=x");
        assert_eq!(safe_next("//evil.example"), "/dashboard");
        assert_eq!(safe_next("https://evil.example"), "/dashboard");
        assert_eq!(safe_next("/\\evil.example"), "/dashboard");
        assert_eq!(safe_next(""), "/dashboard");
    }
}
