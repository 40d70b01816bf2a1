//! The MoU editor (coordinators): every field of the model as a form control ([`crate::pages::mou_form`]), the
//! same MoU as JSON one click away ("JSON view"), and before anything is saved the impact preview
//! (`POST /v1/mous/preview`) as a readable per-agency diff — which agencies gain or lose how many reports and
//! indicators, what becomes redacted or withheld, which fields change. "Save MoU" then stores it (`POST /v1/mous`,
//! or `PUT /v1/mous/{id}`: a new version). Validation is the API's (`accord_domain::MouValidator`, the one for both):
//! each problem pointer is shown next to its field, and nothing typed is lost.

use accord_domain::Role;
use accord_runtime::{ApiError, FieldError};
use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde_json::{Value, json};

use crate::{
    AppState,
    docs::{Organization, Preview},
    extract::Signed,
    form::{FieldErrors, Fields, admit},
    layout::{Nav, csrf_field, error_summary, field_errors, page},
    pages::{
        controls::errors_on,
        errors, mou_diff,
        mou_form::{self, FIELDS},
        sign_in::see_other,
    },
};

/// The editor's state: the MoU as fields, and the id of the MoU being changed (`None`: a new one).
struct Editing<'a> {
    fields: Fields,
    target: Option<&'a str>,
    errors: FieldErrors,
    /// The JSON view's text as typed, when it could not be read (kept, not replaced by the form's MoU).
    json: Option<String>,
}

/// The labels of the editor's fields, the JSON view's included.
fn labels() -> Vec<(&'static str, &'static str)> {
    let mut labels = FIELDS.to_vec();
    labels.push(("json", "MoU as JSON"));
    labels
}

async fn directory(state: &AppState, signed: &Signed) -> Result<Vec<Organization>, Response> {
    state
        .backend
        .organizations(&signed.session.token, None)
        .await
        .map(|list| list.organizations)
        .map_err(|error| errors::problem(Some(&signed.session), &error))
}

/// Renders the editor.
async fn editor(
    state: &AppState,
    signed: &Signed,
    editing: Editing<'_>,
    status: StatusCode,
) -> Response {
    let orgs = match directory(state, signed).await {
        Ok(orgs) => orgs,
        Err(refused) => return refused,
    };
    let draft = mou_form::draft_from_fields(&editing.fields);
    let pretty = editing
        .json
        .clone()
        .unwrap_or_else(|| serde_json::to_string_pretty(&draft).unwrap_or_default());
    let heading = editing
        .target
        .map_or("New MoU".to_owned(), |id| format!("Edit MoU {id}"));
    let labels = labels();
    let body = html! {
        p { a href="/mous" { "All MoUs" } }
        h1 { (heading) }
        (error_summary("The MoU was not previewed or saved. Nothing changed.", &editing.errors, &labels))
        form method="post" action="/mous/preview" {
            (csrf_field(&signed.session))
            input type="hidden" name="target" value=(editing.target.unwrap_or_default());
            (mou_form::controls(&editing.errors, &editing.fields, &orgs, editing.target))
            p { "Nothing is saved before you have seen what it changes." }
            button type="submit" name="mode" value="form" { "Preview changes" }
            details open[!editing.errors.of("json").is_empty()] {
                summary { "JSON view" }
                label for="json" { "MoU as JSON" }
                textarea id="json" name="json" rows="24" spellcheck="false" { (pretty) }
                (field_errors(&editing.errors, "json"))
                button type="submit" name="mode" value="json" { "Preview JSON" }
            }
        }
    };
    let page = page(&heading, Some(&signed.session), Nav::Mous, body);
    (status, Html(page.into_string())).into_response()
}

/// A blank MoU: in force from now for a year, the model's defaults.
fn blank() -> Fields {
    let now = chrono::Utc::now();
    let draft = json!({
        "status": "active",
        "effective_from": now.format("%Y-%m-%dT%H:%M:00Z").to_string(),
        "expires_at": (now + chrono::Duration::days(365)).format("%Y-%m-%dT%H:%M:00Z").to_string(),
        "max_tlp": "amber", "content": ["indicators"], "purposes": ["investigation"], "pii": "redact",
        "attribution": "anonymous", "feedback": "anonymous", "categories": ["*"], "sectors": ["*"], "indicator_types": ["*"],
        "recipient_countries": ["*"], "retention_days": 365,
    });
    mou_form::fields_from_draft(&draft)
}

/// `GET /mous/new`.
pub(crate) async fn new(State(state): State<AppState>, signed: Signed) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    let editing = Editing {
        fields: blank(),
        target: None,
        errors: FieldErrors::default(),
        json: None,
    };
    editor(&state, &signed, editing, StatusCode::OK).await
}

/// `GET /mous/{id}/edit`.
pub(crate) async fn edit(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    let current = match state.backend.mou(&signed.session.token, &id).await {
        Ok(current) => current,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let editing = Editing {
        fields: mou_form::fields_from_draft(&current.draft()),
        target: Some(&id),
        errors: FieldErrors::default(),
        json: None,
    };
    editor(&state, &signed, editing, StatusCode::OK).await
}

/// Returns the draft a posted editor holds: the JSON view's text (`mode=json`) or the form's fields; the MoU being
/// changed keeps its id.
fn posted_draft(fields: &Fields, target: Option<&str>) -> Result<Value, ApiError> {
    let mut draft = if fields.get("mode") == "json" {
        serde_json::from_str::<Value>(fields.get("json")).map_err(|error| {
            ApiError::Unprocessable {
                detail: "the JSON view is not JSON".to_owned(),
                errors: vec![FieldError::new("/json", format!("Not JSON: {error}."))],
            }
        })?
    } else {
        mou_form::draft_from_fields(fields)
    };
    if let (Some(id), Value::Object(map)) = (target, &mut draft) {
        map.insert("id".to_owned(), json!(id));
    }
    Ok(draft)
}

/// The editor again, with the refusal's errors on their fields.
async fn refused(
    state: &AppState,
    signed: &Signed,
    draft: &Value,
    target: Option<&str>,
    error: &ApiError,
) -> Response {
    let mut names = mou_form::names();
    names.push("json");
    let mut errors = errors_on(error, &names);
    if let ApiError::Conflict(detail) = error {
        errors = FieldErrors::default();
        errors.add(Some("id"), format!("{detail}."));
    }
    let fields = if draft.is_object() {
        mou_form::fields_from_draft(draft)
    } else {
        Fields::default()
    };
    let editing = Editing {
        fields,
        target,
        errors,
        // The MoU exactly as posted, fields the form cannot hold (a string where a number belongs) included.
        json: serde_json::to_string_pretty(draft).ok(),
    };
    editor(state, signed, editing, error.status()).await
}

fn target(fields: &Fields) -> Option<&str> {
    Some(fields.get("target")).filter(|id| !id.is_empty())
}

/// The per-agency table of a preview.
fn agencies(preview: &Preview, orgs: &[Organization]) -> Markup {
    let name = |id: &str| {
        orgs.iter()
            .find(|org| org.id == id)
            .map_or(id.to_owned(), |org| format!("{} ({id})", org.name))
    };
    html! {
        @if preview.changes.is_empty() {
            p { "No agency gains or loses anything." }
        } @else {
            div.table-wrap {
                table.preview {
                    caption.visually-hidden { "What each agency gains or loses" }
                    thead { tr {
                        th scope="col" { "Agency" } th scope="col" { "Reports gained" } th scope="col" { "Reports withdrawn" }
                        th scope="col" { "Indicators gained" } th scope="col" { "Indicators withdrawn" }
                    } }
                    tbody {
                        @for change in &preview.changes {
                            tr {
                                th scope="row" { (name(&change.agency)) }
                                td.gain { (change.reports_becoming_visible) } td.loss { (change.reports_withdrawn) }
                                td.gain { (change.indicators_becoming_visible) } td.loss { (change.indicators_withdrawn) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Renders the impact preview of `draft` with the button that saves it.
async fn preview_page(
    state: &AppState,
    signed: &Signed,
    draft: &Value,
    target: Option<&str>,
    preview: &Preview,
) -> Response {
    let token = &signed.session.token;
    let current = match target {
        Some(id) => match state.backend.mou(token, id).await {
            Ok(current) => current.draft(),
            Err(error) => return errors::problem(Some(&signed.session), &error),
        },
        None => json!({}),
    };
    let orgs = match directory(state, signed).await {
        Ok(orgs) => orgs,
        Err(refused) => return refused,
    };
    let text = serde_json::to_string(draft).unwrap_or_default();
    let redactions = mou_diff::redactions(&current, draft);
    let title = draft
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = html! {
        h1 { "Impact preview" }
        p { "What saving “" (title) "” would change, computed on the " (preview.reports_evaluated) " stored reports of its providers. Nothing has changed yet." }
        h2 { "Per agency" }
        (agencies(preview, &orgs))
        h2 { "Redactions" }
        @if redactions.is_empty() { p { "No redaction changes." } } @else { ul { @for line in &redactions { li { (line) } } } }
        h2 { "Changes to the MoU" }
        (mou_diff::table(&mou_diff::changed_fields(&current, draft)))
        form method="post" action="/mous/save" {
            (csrf_field(&signed.session))
            input type="hidden" name="target" value=(target.unwrap_or_default());
            input type="hidden" name="json" value=(text);
            button type="submit" { "Save MoU" }
        }
        form method="post" action="/mous/editor" {
            (csrf_field(&signed.session))
            input type="hidden" name="target" value=(target.unwrap_or_default());
            input type="hidden" name="json" value=(text);
            button type="submit" class="secondary" { "Back to the editor" }
        }
    };
    let page = page("Impact preview", Some(&signed.session), Nav::Mous, body);
    Html(page.into_string()).into_response()
}

/// `POST /mous/preview`.
pub(crate) async fn preview(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = admit(&signed, Role::Coordinator, &headers, &fields) {
        return refused;
    }
    let target = target(&fields);
    let draft = match posted_draft(&fields, target) {
        Ok(draft) => draft,
        Err(error) => {
            let editing = Editing {
                fields: fields.clone(),
                target,
                errors: errors_on(&error, &["json"]),
                json: Some(fields.get("json").to_owned()),
            };
            return editor(&state, &signed, editing, error.status()).await;
        }
    };
    match state
        .backend
        .preview_mou(&signed.session.token, draft.clone())
        .await
    {
        Ok(preview) => preview_page(&state, &signed, &draft, target, &preview).await,
        Err(error) => refused(&state, &signed, &draft, target, &error).await,
    }
}

/// `POST /mous/editor`: back from the preview to the editor, with the draft.
pub(crate) async fn back(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = admit(&signed, Role::Coordinator, &headers, &fields) {
        return refused;
    }
    let target = target(&fields);
    let draft = serde_json::from_str::<Value>(fields.get("json")).unwrap_or_else(|_| json!({}));
    let editing = Editing {
        fields: mou_form::fields_from_draft(&draft),
        target,
        errors: FieldErrors::default(),
        json: None,
    };
    editor(&state, &signed, editing, StatusCode::OK).await
}

/// `POST /mous/save`.
pub(crate) async fn save(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = admit(&signed, Role::Coordinator, &headers, &fields) {
        return refused;
    }
    let target = target(&fields);
    let draft = match serde_json::from_str::<Value>(fields.get("json")) {
        Ok(draft) => draft,
        Err(_) => {
            return errors::page_status(
                Some(&signed.session),
                StatusCode::BAD_REQUEST,
                "This form could not be read",
                "Go back to the editor and preview the MoU again.",
            );
        }
    };
    match state
        .backend
        .save_mou(&signed.session.token, target, draft.clone())
        .await
    {
        Ok(saved) => see_other(&format!(
            "/mous/{}?saved={}",
            saved.text("id"),
            saved.version()
        )),
        Err(error) => refused(&state, &signed, &draft, target, &error).await,
    }
}
