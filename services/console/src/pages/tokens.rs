//! Tokens (coordinators): an organization's tokens by label with their role, state and last use; issuing one
//! (`POST /v1/tokens`) shows its secret once — on that answer's page only, never in a URL, with a copy button and
//! the warning that it cannot be shown again; revoking one (`DELETE /v1/tokens/{id}`) asks for a confirmation that
//! names the token and its organization first. `/tokens` lists every organization's tokens.

use accord_domain::Role;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{
    AppState, assets,
    docs::{IssuedToken, Organization, Token, TokenList},
    extract::Signed,
    form::{FieldErrors, Fields, admit},
    layout::{Nav, csrf_field, error_summary, page, when},
    pages::{
        controls::{errors_on, invalid, select, text},
        errors, organizations,
        sign_in::see_other,
    },
};

/// The fields of the token form and their labels.
const LABELS: &[(&str, &str)] = &[
    ("role", "Role"),
    ("label", "Token label"),
    ("expires_at", "Expires on"),
];

/// The roles an organization of `kind` may hold (as admin checks them).
fn roles(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "partner" => &[("partner", "Partner")],
        "agency" => &[("investigator", "Investigator"), ("auditor", "Auditor")],
        _ => &[("coordinator", "Coordinator"), ("auditor", "Auditor")],
    }
}

fn table(tokens: &[Token], with_organization: bool) -> Markup {
    html! {
        @if tokens.is_empty() {
            p { "No token yet." }
        } @else {
            div.table-wrap {
                table {
                    caption.visually-hidden { "Tokens, by label" }
                    thead { tr {
                        @if with_organization { th scope="col" { "Organization" } }
                        th scope="col" { "Label" } th scope="col" { "Role" } th scope="col" { "Status" }
                        th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { "Issued" }
                        th scope="col" { span.visually-hidden { "Actions" } }
                    } }
                    tbody { @for token in tokens { (row(token, with_organization)) } }
                }
            }
        }
    }
}

fn row(token: &Token, with_organization: bool) -> Markup {
    let label = if token.label.is_empty() {
        "(no label)"
    } else {
        &token.label
    };
    let revoke = format!(
        "/tokens/{}/revoke?organization={}",
        token.id, token.organization
    );
    html! {
        tr {
            @if with_organization {
                td { a href=(format!("/organizations/{}", token.organization)) { (token.organization) } }
            }
            td { (label) @if let (Some(purpose), Some(case)) = (&token.purpose, &token.case) { br; small { "bound to " (purpose) ", " (case) } } }
            td { (token.role) }
            td { span class=(format!("badge token-{}", token.status)) { (token.status) } }
            td { (token.last_used_at.as_deref().map_or("not since start".to_owned(), when)) }
            td { (token.expires_at.as_deref().map_or("never".to_owned(), when)) }
            td { (when(&token.created_at)) }
            td {
                @if token.status == "active" {
                    a href=(revoke) aria-label=(format!("Revoke token {label}")) { "Revoke" }
                }
            }
        }
    }
}

/// An organization's tokens and the form that issues one (on the organization's page).
pub(crate) fn section(
    signed: &Signed,
    org: &Organization,
    listed: &TokenList,
    fields: &Fields,
    errors: &FieldErrors,
) -> Markup {
    let roles = roles(&org.kind);
    let (bad, described) = invalid(errors, "expires_at");
    html! {
        section aria-labelledby="tokens" {
            h2 id="tokens" { "Tokens" }
            (table(&listed.tokens, false))
            h3 { "Issue a token" }
            (error_summary("No token was issued.", errors, LABELS))
            // A whole page load (not boosted): the page that shows the secret loads the copy button's script, which
            // htmx would not run in swapped content.
            form method="post" action=(format!("/organizations/{}/tokens", org.id)) hx-boost="false" {
                (csrf_field(&signed.session))
                div.grid {
                    div { (select(errors, "role", "Role", roles, fields.get("role"))) }
                    div { (text(errors, "label", "Token label", fields.get("label"), true)) }
                    div {
                        label for="expires_at" { "Expires on" }
                        input type="date" id="expires_at" name="expires_at" value=(fields.get("expires_at"))
                            aria-invalid=[bad] aria-describedby=[described];
                        (crate::layout::field_errors(errors, "expires_at"))
                    }
                }
                small { "Without a date, the token lives the default lifetime (admin.token_default_lifetime_days)." }
                button type="submit" { "Issue token" }
            }
        }
    }
}

/// The page that shows a new token's secret, once.
fn issued_page(signed: &Signed, org: &Organization, issued: &IssuedToken) -> Response {
    let body = html! {
        h1 { "Token issued" }
        div.notice.error role="alert" {
            p {
                strong { "Copy this token now: it is shown only this once. " }
                "Accord keeps only its hash; if it is lost, revoke it and issue another. Hand it over as you would a password."
            }
        }
        p { "A " (issued.role) " token for " strong { (org.name) } " (" code { (issued.organization) } "), labelled “" (issued.label) "”"
            @if let Some(expires) = &issued.expires_at { ", valid until " (when(expires)) } "." }
        label for="new-token" { "New access token" }
        input type="text" id="new-token" readonly value=(issued.token) autocomplete="off" spellcheck="false";
        button type="button" data-copy="new-token" { "Copy token" }
        script src=(assets::SCRIPT) defer {}
        p { a href=(format!("/organizations/{}", org.id)) { "Back to " (org.name) } }
    };
    let page = page(
        "Token issued",
        Some(&signed.session),
        Nav::Organizations,
        body,
    );
    (StatusCode::CREATED, Html(page.into_string())).into_response()
}

/// Returns the body of `POST /v1/tokens` a form asks for: a date is the end of that day, UTC.
fn token_body(org: &Organization, fields: &Fields) -> Value {
    let mut body = Map::new();
    body.insert("organization".to_owned(), json!(org.id));
    body.insert("role".to_owned(), json!(fields.get("role")));
    body.insert("label".to_owned(), json!(fields.get("label").trim()));
    let expires = fields.get("expires_at").trim();
    if !expires.is_empty() {
        body.insert(
            "expires_at".to_owned(),
            json!(format!("{expires}T23:59:59Z")),
        );
    }
    Value::Object(body)
}

/// `POST /organizations/{id}/tokens`.
pub(crate) async fn issue(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = admit(&signed, Role::Coordinator, &headers, &fields) {
        return refused;
    }
    let token = &signed.session.token;
    let org = match state.backend.organization(token, &id).await {
        Ok(org) => org,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let mut errors = FieldErrors::default();
    if fields.get("label").trim().is_empty() {
        errors.add(Some("label"), "Name the token: who or what will use it.");
    }
    if errors.is_empty() {
        match state
            .backend
            .issue_token(token, token_body(&org, &fields))
            .await
        {
            Ok(issued) => return issued_page(&signed, &org, &issued),
            Err(error) => errors = errors_on(&error, &["role", "label", "expires_at"]),
        }
    }
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    organizations::with_token_errors(&state, &signed, &org, &fields, errors, status).await
}

/// `?organization=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    organization: Option<String>,
    cursor: Option<String>,
}

/// `GET /tokens`.
pub(crate) async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    let listed = state
        .backend
        .tokens(&signed.session.token, None, params.cursor)
        .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let body = html! {
        h1 { "Tokens" }
        p { "Every organization's tokens, by organization and label. Issue a token from its organization's page." }
        (table(&listed.tokens, true))
        @if let Some(next) = &listed.next {
            nav.pager aria-label="Pages" { a href=(format!("/tokens?cursor={next}")) { "More tokens" } }
        }
    };
    let page = page("Tokens", Some(&signed.session), Nav::Tokens, body);
    Html(page.into_string()).into_response()
}

/// Finds token `id` among its organization's tokens (404 when it is not there).
async fn find(
    state: &AppState,
    signed: &Signed,
    id: &str,
    organization: Option<String>,
) -> Result<Token, Response> {
    let listed = state
        .backend
        .tokens(&signed.session.token, organization, None)
        .await
        .map_err(|error| errors::problem(Some(&signed.session), &error))?;
    listed
        .tokens
        .into_iter()
        .find(|token| token.id == id)
        .ok_or_else(|| errors::not_found(Some(&signed.session)))
}

/// `GET /tokens/{id}/revoke?organization=`: the confirmation.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    let token = match find(&state, &signed, &id, params.organization).await {
        Ok(token) => token,
        Err(refused) => return refused,
    };
    let back = format!("/organizations/{}", token.organization);
    let body = html! {
        h1 { "Revoke token" }
        div.notice.error role="alert" {
            p {
                "Revoke the " (token.role) " token “" strong { (token.label) } "” of " code { (token.organization) } "? "
                "Every request made with it is refused from the next one on, and every console session signed in with it ends. "
                "This cannot be undone: its holder will need a new token."
            }
        }
        form method="post" action=(format!("/tokens/{}/revoke", token.id)) {
            (csrf_field(&signed.session))
            input type="hidden" name="organization" value=(token.organization);
            button type="submit" { "Revoke token" }
            " " a href=(back) { "Cancel" }
        }
    };
    let page = page("Revoke token", Some(&signed.session), Nav::Tokens, body);
    Html(page.into_string()).into_response()
}

/// `POST /tokens/{id}/revoke`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = admit(&signed, Role::Coordinator, &headers, &fields) {
        return refused;
    }
    let organization = Some(fields.get("organization").to_owned()).filter(|org| !org.is_empty());
    let token = match find(&state, &signed, &id, organization).await {
        Ok(token) => token,
        Err(refused) => return refused,
    };
    match state
        .backend
        .revoke_token(&signed.session.token, &token.id)
        .await
    {
        Ok(()) => see_other(&format!("/organizations/{}?revoked=1", token.organization)),
        Err(error) => errors::problem(Some(&signed.session), &error),
    }
}
