//! "Organizations" (coordinators): the partners and agencies of the partnership — listed, registered and changed
//! (kind, country, sector, default TLP) through admin's own operations (`GET`/`POST /v1/organizations`,
//! `GET`/`PATCH /v1/organizations/{id}`); an organization's page lists its tokens and issues new ones
//! ([`crate::pages::tokens`]). Every refusal of the API is shown next to the field its pointer names.

use accord_domain::Role;
use accord_runtime::ApiError;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{
    AppState,
    docs::{Organization, OrganizationList},
    extract::Signed,
    form::{FieldErrors, Fields, admit},
    layout::{Nav, csrf_field, error_summary, page, tlp_badge},
    pages::{
        controls::{errors_on, select, text},
        errors,
        sign_in::see_other,
        tokens,
    },
};

/// The fields of the organization forms and their labels.
const LABELS: &[(&str, &str)] = &[
    ("id", "Organization id"),
    ("name", "Name"),
    ("kind", "Kind"),
    ("country", "Country"),
    ("sector", "Sector"),
    ("default_tlp", "Default TLP"),
];

/// The kinds a coordinator registers.
const KINDS: &[(&str, &str)] = &[("partner", "Partner"), ("agency", "Agency")];

/// A partner's default TLP: none, or one of TLP 2.0.
const DEFAULT_TLPS: &[(&str, &str)] = &[
    ("", "None"),
    ("clear", "TLP:CLEAR"),
    ("green", "TLP:GREEN"),
    ("amber", "TLP:AMBER"),
    ("amber+strict", "TLP:AMBER+STRICT"),
    ("red", "TLP:RED"),
];

fn field_names() -> Vec<&'static str> {
    LABELS.iter().map(|(name, _)| *name).collect()
}

/// `?cursor=&created=&saved=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    cursor: Option<String>,
    created: Option<String>,
    saved: Option<String>,
    revoked: Option<String>,
}

fn table(list: &OrganizationList) -> Markup {
    html! {
        div.table-wrap {
            table {
                caption.visually-hidden { "Organizations, by id" }
                thead { tr {
                    th scope="col" { "Id" } th scope="col" { "Name" } th scope="col" { "Kind" }
                    th scope="col" { "Country" } th scope="col" { "Sector" } th scope="col" { "Default TLP" }
                } }
                tbody {
                    @for org in &list.organizations {
                        tr {
                            td { a href=(format!("/organizations/{}", org.id)) { (org.id) } }
                            td { (org.name) } td { (org.kind) } td { (org.country) }
                            td { (org.sector.as_deref().unwrap_or("—")) }
                            td { @if let Some(tlp) = &org.default_tlp { (tlp_badge(tlp)) } @else { "—" } }
                        }
                    }
                }
            }
        }
    }
}

fn new_form(signed: &Signed, fields: &Fields, errors: &FieldErrors) -> Markup {
    html! {
        section aria-labelledby="new-organization" {
            h2 id="new-organization" { "New organization" }
            (error_summary("The organization was not created. Nothing was stored.", errors, LABELS))
            form method="post" action="/organizations" {
                (csrf_field(&signed.session))
                div.grid {
                    div { (text(errors, "id", "Organization id", fields.get("id"), true)) }
                    div { (text(errors, "name", "Name", fields.get("name"), true)) }
                }
                div.grid {
                    div { (select(errors, "kind", "Kind", KINDS, fields.get("kind"))) }
                    div { (text(errors, "country", "Country", fields.get("country"), true)) }
                    div { (text(errors, "sector", "Sector", fields.get("sector"), false)) }
                    div { (select(errors, "default_tlp", "Default TLP", DEFAULT_TLPS, fields.get("default_tlp"))) }
                }
                small { "Id: lower-case letters, digits and hyphens (" code { "bank-a" } "). Country: ISO 3166-1 alpha-2 (" code { "DE" } "). Default TLP: partners only." }
                button type="submit" { "Create organization" }
            }
        }
    }
}

fn render_list(
    signed: &Signed,
    list: &OrganizationList,
    fields: &Fields,
    errors: &FieldErrors,
    status: StatusCode,
) -> Response {
    let body = html! {
        h1 { "Organizations" }
        (table(list))
        @if let Some(next) = &list.next {
            nav.pager aria-label="Pages" { a href=(format!("/organizations?cursor={next}")) { "More organizations" } }
        }
        (new_form(signed, fields, errors))
    };
    let page = page(
        "Organizations",
        Some(&signed.session),
        Nav::Organizations,
        body,
    );
    (status, Html(page.into_string())).into_response()
}

/// `GET /organizations`.
pub(crate) async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    match state
        .backend
        .organizations(&signed.session.token, params.cursor)
        .await
    {
        Ok(list) => render_list(
            &signed,
            &list,
            &Fields::default(),
            &FieldErrors::default(),
            StatusCode::OK,
        ),
        Err(error) => errors::problem(Some(&signed.session), &error),
    }
}

/// Puts the optional fields of a form into a JSON object: an empty field is absent (creating) or `null`
/// (changing: it clears the value).
fn optional(body: &mut Map<String, Value>, fields: &Fields, name: &str, clear: bool) {
    let value = fields.get(name).trim();
    if !value.is_empty() {
        body.insert(name.to_owned(), json!(value));
    } else if clear {
        body.insert(name.to_owned(), Value::Null);
    }
}

/// `POST /organizations`.
pub(crate) async fn create(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = admit(&signed, Role::Coordinator, &headers, &fields) {
        return refused;
    }
    let mut body = Map::new();
    for name in ["id", "name", "kind", "country"] {
        body.insert(name.to_owned(), json!(fields.get(name).trim()));
    }
    optional(&mut body, &fields, "sector", false);
    optional(&mut body, &fields, "default_tlp", false);
    let token = &signed.session.token;
    let error = match state
        .backend
        .create_organization(token, Value::Object(body))
        .await
    {
        Ok(org) => return see_other(&format!("/organizations/{}?created=1", org.id)),
        Err(error) => error,
    };
    let mut errors = errors_on(&error, &field_names());
    if let ApiError::Conflict(detail) = &error {
        errors = FieldErrors::default();
        errors.add(Some("id"), format!("{detail}."));
    }
    match state.backend.organizations(token, None).await {
        Ok(list) => render_list(&signed, &list, &fields, &errors, error.status()),
        Err(error) => errors::problem(Some(&signed.session), &error),
    }
}

fn edit_form(signed: &Signed, org: &Organization, errors: &FieldErrors) -> Markup {
    let tlps: &[(&str, &str)] = if org.kind == "partner" {
        DEFAULT_TLPS
    } else {
        &DEFAULT_TLPS[..1]
    };
    html! {
        section aria-labelledby="edit-organization" {
            h2 id="edit-organization" { "Edit organization" }
            (error_summary("The changes were not saved.", errors, LABELS))
            form method="post" action=(format!("/organizations/{}", org.id)) {
                (csrf_field(&signed.session))
                div.grid {
                    div { (text(errors, "name", "Name", &org.name, true)) }
                    div { (text(errors, "country", "Country", &org.country, true)) }
                    div { (text(errors, "sector", "Sector", org.sector.as_deref().unwrap_or_default(), false)) }
                    div { (select(errors, "default_tlp", "Default TLP", tlps, org.default_tlp.as_deref().unwrap_or_default())) }
                }
                button type="submit" { "Save changes" }
            }
        }
    }
}

/// What the organization page shows besides the organization.
#[derive(Default)]
struct Shown<'a> {
    errors: FieldErrors,
    notice: Option<&'a str>,
    token_form: Option<(&'a Fields, FieldErrors)>,
}

/// Renders an organization's page (`org` as typed when a change was refused).
async fn render_org(
    state: &AppState,
    signed: &Signed,
    org: &Organization,
    shown: Shown<'_>,
    status: StatusCode,
) -> Response {
    let listed = state
        .backend
        .tokens(&signed.session.token, Some(org.id.clone()), None)
        .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let blank = Fields::default();
    let (token_fields, token_errors) = shown.token_form.unwrap_or((&blank, FieldErrors::default()));
    let body = html! {
        p { a href="/organizations" { "All organizations" } }
        h1 { (org.name) }
        p { code { (org.id) } " · " (org.kind) " · " (org.country) }
        @if let Some(notice) = shown.notice { div.notice role="status" { p { (notice) } } }
        (edit_form(signed, org, &shown.errors))
        @if org.kind == "agency" {
            section aria-labelledby="explain" {
                h2 id="explain" { "Can this agency see a report?" }
                (crate::pages::explain::form("", &org.id, &[], &FieldErrors::default()))
            }
        }
        (tokens::section(signed, org, &listed, token_fields, &token_errors))
    };
    let page = page(&org.name, Some(&signed.session), Nav::Organizations, body);
    (status, Html(page.into_string())).into_response()
}

/// `GET /organizations/{id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    let org = match state.backend.organization(&signed.session.token, &id).await {
        Ok(org) => org,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let notice = if params.created.is_some() {
        Some("Organization created. Issue it a token below.")
    } else if params.saved.is_some() {
        Some("Changes saved: they are in force for the next request.")
    } else if params.revoked.is_some() {
        Some("Token revoked: every request made with it is refused from now on.")
    } else {
        None
    };
    let shown = Shown {
        notice,
        ..Shown::default()
    };
    render_org(&state, &signed, &org, shown, StatusCode::OK).await
}

/// Returns the organization as the coordinator typed it (to show a refused change again).
fn as_typed(org: &Organization, fields: &Fields) -> Organization {
    let typed =
        |name: &str| Some(fields.get(name).trim().to_owned()).filter(|value| !value.is_empty());
    Organization {
        name: fields.get("name").to_owned(),
        country: fields.get("country").to_owned(),
        sector: typed("sector"),
        default_tlp: typed("default_tlp"),
        ..org.clone()
    }
}

/// `POST /organizations/{id}`.
pub(crate) async fn update(
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
    let mut patch = Map::new();
    patch.insert("name".to_owned(), json!(fields.get("name").trim()));
    patch.insert("country".to_owned(), json!(fields.get("country").trim()));
    optional(&mut patch, &fields, "sector", true);
    // The API decides who may have a default TLP (partners): one rule, one place.
    optional(&mut patch, &fields, "default_tlp", true);
    match state
        .backend
        .update_organization(token, &id, Value::Object(patch))
        .await
    {
        Ok(_) => see_other(&format!("/organizations/{id}?saved=1")),
        Err(error) => {
            let shown = Shown {
                errors: errors_on(&error, &field_names()),
                ..Shown::default()
            };
            let typed = as_typed(&org, &fields);
            render_org(&state, &signed, &typed, shown, error.status()).await
        }
    }
}

/// Renders an organization's page with the token form refused (`fields` as typed).
pub(crate) async fn with_token_errors(
    state: &AppState,
    signed: &Signed,
    org: &Organization,
    fields: &Fields,
    errors: FieldErrors,
    status: StatusCode,
) -> Response {
    let shown = Shown {
        token_form: Some((fields, errors)),
        ..Shown::default()
    };
    render_org(state, signed, org, shown, status).await
}
