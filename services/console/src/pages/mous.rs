//! MoUs (coordinators): every MoU with its state (active, suspended, expiring within 30 days, expired, revoked),
//! parties, TLP ceiling and purposes (`GET /v1/mous`); an MoU's page with its fields and its version history — each
//! version's diff from the previous one, who changed it (the token's label) and when (`GET /v1/mous/{id}/history`);
//! and suspend, resume and revoke, each behind a confirmation that names what will be withdrawn (the impact preview
//! of the change) and asks for a reason. The editor is [`crate::pages::mou_editor`].

use accord_domain::Role;
use accord_runtime::ApiError;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    AppState,
    backend::MouAction,
    docs::{MouVersion, Preview, Token},
    extract::Signed,
    form::{FieldErrors, Fields, admit},
    layout::{Nav, csrf_field, error_summary, page, tlp_badge, when},
    pages::{
        controls::{errors_on, text},
        errors, mou_diff,
        sign_in::see_other,
    },
};

/// An MoU's state as a coordinator reads it.
pub(crate) fn state_of(mou: &MouVersion, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    let expires = chrono::DateTime::parse_from_rfc3339(mou.text("expires_at")).ok();
    match mou.text("status") {
        "revoked" => "revoked",
        "suspended" => "suspended",
        _ => match expires {
            Some(at) if at <= now => "expired",
            Some(at) if at <= now + chrono::Duration::days(30) => "expiring",
            _ => "active",
        },
    }
}

fn state_badge(state: &str) -> Markup {
    let label = if state == "expiring" {
        "expiring within 30 days"
    } else {
        state
    };
    html! { span class=(format!("badge mou-{state}")) { (label) } }
}

/// `GET /mous`.
pub(crate) async fn list(State(state): State<AppState>, signed: Signed) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    let list = match state.backend.mous(&signed.session.token, None).await {
        Ok(list) => list,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let now = chrono::Utc::now();
    let body = html! {
        h1 { "MoUs" }
        p { a href="/mous/new" role="button" { "New MoU" } " " a href="/explain" { "Explain a release" } }
        @if list.mous.is_empty() { p { "No MoU yet." } } @else {
            div.table-wrap { table {
                caption.visually-hidden { "MoUs, by id" }
                thead { tr {
                    th scope="col" { "MoU" } th scope="col" { "State" } th scope="col" { "Providers" } th scope="col" { "Recipients" }
                    th scope="col" { "TLP ceiling" } th scope="col" { "Purposes" } th scope="col" { "Expires" } th scope="col" { "Version" }
                } }
                tbody { @for mou in &list.mous { tr {
                    td { a href=(format!("/mous/{}", mou.text("id"))) { (mou.text("title")) } br; small { code { (mou.text("id")) } } }
                    td { (state_badge(state_of(mou, now))) }
                    td { (mou.list("providers").join(", ")) } td { (mou.list("recipients").join(", ")) }
                    td { (tlp_badge(mou.text("max_tlp"))) } td { (mou.list("purposes").join(", ")) }
                    td { (when(mou.text("expires_at"))) } td { (mou.version()) }
                } } }
            } }
        }
    };
    Html(page("MoUs", Some(&signed.session), Nav::Mous, body).into_string()).into_response()
}

/// `?saved=&done=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    saved: Option<String>,
    done: Option<String>,
}

/// Who made a change: the token's label and organization, when the coordinator can see it.
fn who(changed_by: &str, tokens: &[Token]) -> String {
    match tokens.iter().find(|token| token.id == changed_by) {
        Some(token) => format!(
            "{} ({}, token {changed_by})",
            token.label, token.organization
        ),
        None if changed_by == accord_runtime::auth::ADMIN_TOKEN_ID => {
            "the bootstrap token".to_owned()
        }
        None => format!("token {changed_by}"),
    }
}

fn history(versions: &[MouVersion], tokens: &[Token]) -> Markup {
    html! {
        h2 { "Versions" }
        ol.versions reversed {
            @for (index, version) in versions.iter().enumerate().rev() {
                li {
                    h3 { "Version " (version.version()) }
                    p { (when(version.text("changed_at"))) " by " (who(version.text("changed_by"), tokens)) }
                    @if !version.text("reason").is_empty() { p { "Reason: “" (version.text("reason")) "”" } }
                    @if index == 0 {
                        p { "Created." }
                    } @else {
                        (mou_diff::table(&mou_diff::changed_fields(&versions[index - 1].draft(), &version.draft())))
                    }
                }
            }
        }
    }
}

fn actions(mou: &MouVersion) -> Markup {
    let id = mou.text("id");
    html! {
        @if mou.text("status") != "revoked" {
            p.actions {
                a href=(format!("/mous/{id}/edit")) role="button" { "Edit MoU" } " "
                @if mou.text("status") == "suspended" {
                    a href=(format!("/mous/{id}/resume")) role="button" class="secondary" { "Resume MoU" } " "
                } @else {
                    a href=(format!("/mous/{id}/suspend")) role="button" class="secondary" { "Suspend MoU" } " "
                }
                a href=(format!("/mous/{id}/revoke")) role="button" class="contrast" { "Revoke MoU" }
            }
        }
    }
}

/// `GET /mous/{id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    let token = &signed.session.token;
    let versions = match state.backend.mou_history(token, &id).await {
        Ok(history) => history.versions,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let Some(latest) = versions.last() else {
        return errors::not_found(Some(&signed.session));
    };
    let tokens = state
        .backend
        .tokens(
            token,
            Some(accord_runtime::auth::ADMIN_ORG.to_owned()),
            None,
        )
        .await
        .map(|list| list.tokens)
        .unwrap_or_default();
    let notice = match (&params.saved, &params.done) {
        (Some(version), _) => Some(format!(
            "Saved as version {version}: in force for the next request."
        )),
        (_, Some(done)) => Some(format!(
            "MoU {done}. The agencies' views follow within seconds."
        )),
        _ => None,
    };
    let body = html! {
        p { a href="/mous" { "All MoUs" } }
        h1 { (latest.text("title")) }
        p { code { (latest.text("id")) } " · " (state_badge(state_of(latest, chrono::Utc::now()))) " · version " (latest.version()) }
        @if let Some(notice) = &notice { div.notice role="status" { p { (notice) } } }
        (actions(latest))
        (mou_diff::table(&mou_diff::changed_fields(&json!({}), &latest.draft())))
        (history(&versions, &tokens))
    };
    Html(page(latest.text("title"), Some(&signed.session), Nav::Mous, body).into_string())
        .into_response()
}

/// What a lifecycle action is called and does.
fn action_of(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "suspend" => Some(("Suspend MoU", "suspended")),
        "resume" => Some(("Resume MoU", "resumed")),
        "revoke" => Some(("Revoke MoU", "revoked")),
        _ => None,
    }
}

/// The MoU as it would be after `action`.
fn after(mou: &MouVersion, action: &str) -> Value {
    let mut draft = mou.draft();
    let status = match action {
        "resume" => "active",
        "suspend" => "suspended",
        _ => "revoked",
    };
    draft["status"] = json!(status);
    draft
}

fn withdrawn(preview: &Preview) -> Markup {
    let lost: Vec<_> = preview
        .changes
        .iter()
        .filter(|change| change.reports_withdrawn + change.indicators_withdrawn > 0)
        .collect();
    let gained: Vec<_> = preview
        .changes
        .iter()
        .filter(|change| change.reports_becoming_visible > 0)
        .collect();
    html! {
        @if lost.is_empty() && gained.is_empty() { p { "No agency gains or loses a report now." } }
        @if !lost.is_empty() { ul { @for change in lost {
            li { strong { (change.agency) } " loses " (change.reports_withdrawn) " reports (" (change.indicators_withdrawn) " indicators): they are withdrawn." }
        } } }
        @if !gained.is_empty() { ul { @for change in gained {
            li { strong { (change.agency) } " gains " (change.reports_becoming_visible) " reports (" (change.indicators_becoming_visible) " indicators)." }
        } } }
    }
}

async fn confirm_page(
    state: &AppState,
    signed: &Signed,
    id: &str,
    action: &str,
    fields: &Fields,
    errors: &FieldErrors,
    status: StatusCode,
) -> Response {
    let Some((button, _)) = action_of(action) else {
        return errors::not_found(Some(&signed.session));
    };
    let token = &signed.session.token;
    let mou = match state.backend.mou(token, id).await {
        Ok(mou) => mou,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let preview = match state.backend.preview_mou(token, after(&mou, action)).await {
        Ok(preview) => preview,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let body = html! {
        h1 { (button) }
        div.notice.error role="alert" {
            p { (button) " “" strong { (mou.text("title")) } "” (" code { (id) } ") between " (mou.list("providers").join(", ")) " and " (mou.list("recipients").join(", ")) "?"
                @if action == "revoke" { " Revoking is final: a revoked MoU can never be changed again." } }
            (withdrawn(&preview))
        }
        (error_summary("Nothing was changed.", errors, &[("reason", "Reason")]))
        form method="post" action=(format!("/mous/{id}/{action}")) {
            (csrf_field(&signed.session))
            (text(errors, "reason", "Reason", fields.get("reason"), true))
            button type="submit" { (button) }
            " " a href=(format!("/mous/{id}")) { "Cancel" }
        }
    };
    (
        status,
        Html(page(button, Some(&signed.session), Nav::Mous, body).into_string()),
    )
        .into_response()
}

/// `GET /mous/{id}/{action}`: the confirmation of suspend, resume or revoke.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    confirm_page(
        &state,
        &signed,
        &id,
        &action,
        &Fields::default(),
        &FieldErrors::default(),
        StatusCode::OK,
    )
    .await
}

/// `POST /mous/{id}/{action}`: the change, with its reason (kept with the version).
pub(crate) async fn act(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = admit(&signed, Role::Coordinator, &headers, &fields) {
        return refused;
    }
    let (Some((_, done)), Some(change)) = (action_of(&action), MouAction::parse(&action)) else {
        return errors::not_found(Some(&signed.session));
    };
    let reason = fields.get("reason").trim();
    let token = &signed.session.token;
    let result = if reason.is_empty() {
        Err(ApiError::invalid_field(
            "/reason",
            "Say why: the reason is kept with the version.",
        ))
    } else {
        state.backend.change_mou(token, &id, change, reason).await
    };
    match result {
        Ok(_) => see_other(&format!("/mous/{id}?done={done}")),
        Err(error @ ApiError::Unprocessable { .. }) => {
            let errors = errors_on(&error, &["reason"]);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            confirm_page(&state, &signed, &id, &action, &fields, &errors, status).await
        }
        Err(error) => errors::problem(Some(&signed.session), &error),
    }
}
