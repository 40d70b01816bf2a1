//! "New report" (partners): the native report as a form, or a STIX 2.1 bundle / MISP event file, submitted through
//! the gateway's own `POST /v1/reports` (`accord_gateway::submit_report`), so the same schema, vocabulary,
//! indicator and classification checks apply.
//!
//! The form is turned into the native report's JSON (one indicator per line, types detected, defanged values
//! accepted); a refusal's JSON pointers are mapped back to the form's fields ([`place`]) and the form is shown again
//! with everything as typed. The classification guard's refusal is explained in plain words. Each rendered form
//! carries a fresh idempotency key, so posting the same form twice (a double click, a reload) makes one report.

use accord_domain::{Role, vocabulary};
use axum::{
    extract::{Multipart, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
};
use bytes::Bytes;
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use crate::{
    AppState,
    backend::Submission,
    extract::Signed,
    form::{FieldErrors, Fields, admit, check_csrf, required_property},
    layout::{Nav, csrf_field, error_id, error_summary, field_errors, page},
    pages::sign_in::see_other,
    session::random_token,
};

/// The form's fields and their labels (for the error summary).
const LABELS: &[(&str, &str)] = &[
    ("title", "Title"),
    ("description", "Description"),
    ("tlp", "TLP"),
    ("classification", "Classification"),
    ("categories", "Categories"),
    ("sector", "Sector"),
    ("occurred_at", "Occurred at (UTC)"),
    ("indicators", "Indicators"),
    ("ttps", "ATT&CK techniques"),
    ("victim_name", "Victim name"),
    ("victim_email", "Victim e-mail"),
    ("victim_phone", "Victim phone"),
    ("victim_country", "Victim country"),
    ("victim_sector", "Victim sector"),
    ("file", "Report file"),
];

const TLPS: [&str; 5] = ["clear", "green", "amber", "amber+strict", "red"];

/// What the partner typed (or the defaults of a blank form).
#[derive(Debug, Clone)]
struct Draft {
    fields: Fields,
    idempotency: String,
}

impl Draft {
    fn blank() -> Self {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M").to_string();
        let pairs = [
            ("tlp", "amber"),
            ("classification", "unclassified"),
            ("occurred_at", now.as_str()),
        ];
        Self {
            fields: Fields::from_pairs(
                pairs
                    .iter()
                    .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                    .collect(),
            ),
            idempotency: random_token(),
        }
    }

    fn get(&self, name: &str) -> &str {
        self.fields.get(name)
    }
}

/// `GET /reports/new`.
pub(crate) async fn form(signed: Signed) -> Response {
    if let Err(refused) = signed.require(Role::Partner) {
        return refused;
    }
    render(
        &signed,
        &Draft::blank(),
        &FieldErrors::default(),
        StatusCode::OK,
    )
}

fn render(signed: &Signed, draft: &Draft, errors: &FieldErrors, status: StatusCode) -> Response {
    let body = html! {
        h1 { "New report" }
        p { "Share an unclassified cyber-incident report. It is released only to the agencies your MoUs name, as they say." }
        (error_summary("The report was not accepted. Nothing was stored.", errors, LABELS))
        (report_form(signed, draft, errors))
        (upload_form(signed, draft, errors))
    };
    let page = page("New report", Some(&signed.session), Nav::NewReport, body);
    (status, Html(page.into_string())).into_response()
}

/// The attributes of a field with errors.
fn invalid(errors: &FieldErrors, field: &str) -> (Option<&'static str>, Option<String>) {
    if errors.of(field).is_empty() {
        (None, None)
    } else {
        (Some("true"), Some(error_id(field)))
    }
}

fn text_input(
    draft: &Draft,
    errors: &FieldErrors,
    name: &str,
    label: &str,
    required: bool,
) -> Markup {
    let (bad, described) = invalid(errors, name);
    html! {
        label for=(name) { (label) }
        input type="text" id=(name) name=(name) value=(draft.get(name)) required[required]
            aria-invalid=[bad] aria-describedby=[described];
        (field_errors(errors, name))
    }
}

fn report_form(signed: &Signed, draft: &Draft, errors: &FieldErrors) -> Markup {
    let chosen = draft.fields.all("categories");
    let (bad_tlp, tlp_described) = invalid(errors, "tlp");
    html! {
        form method="post" action="/reports/new" {
            (csrf_field(&signed.session))
            input type="hidden" name="idempotency" value=(draft.idempotency);
            (text_input(draft, errors, "title", "Title", true))
            label for="description" { "Description" }
            textarea id="description" name="description" rows="6"
                aria-invalid=[invalid(errors, "description").0] aria-describedby=[invalid(errors, "description").1] { (draft.get("description")) }
            (field_errors(errors, "description"))
            div.grid {
                div {
                    label for="tlp" { "TLP" }
                    select id="tlp" name="tlp" aria-invalid=[bad_tlp] aria-describedby=[tlp_described] {
                        @for tlp in TLPS {
                            option value=(tlp) selected[draft.get("tlp") == tlp] { "TLP:" (tlp.to_ascii_uppercase()) }
                        }
                    }
                    (field_errors(errors, "tlp"))
                }
                div { (text_input(draft, errors, "classification", "Classification", true)) }
                div {
                    label for="occurred_at" { "Occurred at (UTC)" }
                    input type="datetime-local" id="occurred_at" name="occurred_at" value=(draft.get("occurred_at")) required
                        aria-invalid=[invalid(errors, "occurred_at").0] aria-describedby=[invalid(errors, "occurred_at").1];
                    (field_errors(errors, "occurred_at"))
                }
            }
            div.grid {
                div {
                    label for="categories" { "Categories" }
                    select id="categories" name="categories" multiple size="6"
                        aria-invalid=[invalid(errors, "categories").0]
                        aria-describedby=(invalid(errors, "categories").1.unwrap_or_else(|| "categories-help".to_owned())) {
                        @for term in vocabulary::CATEGORIES {
                            option value=(term.name) selected[chosen.contains(&term.name)] { (term.name) " (" (term.group) ")" }
                        }
                    }
                    small id="categories-help" { "Choose one or more (Ctrl or ⌘ and click, or Shift and the arrow keys)." }
                    (field_errors(errors, "categories"))
                }
                div {
                    label for="sector" { "Sector" }
                    select id="sector" name="sector" aria-invalid=[invalid(errors, "sector").0] aria-describedby=[invalid(errors, "sector").1] {
                        option value="" { "(none)" }
                        @for term in vocabulary::SECTORS {
                            option value=(term.name) selected[draft.get("sector") == term.name] { (term.name) }
                        }
                    }
                    (field_errors(errors, "sector"))
                }
            }
            label for="indicators" { "Indicators (one value per line; defanged values such as 1.2.3[.]4 or hxxps URLs are fine)" }
            textarea id="indicators" name="indicators" rows="6" spellcheck="false"
                aria-invalid=[invalid(errors, "indicators").0] aria-describedby=[invalid(errors, "indicators").1] { (draft.get("indicators")) }
            (field_errors(errors, "indicators"))
            (text_input(draft, errors, "ttps", "ATT&CK techniques (e.g. T1566.002, comma-separated)", false))
            (victim_fields(draft, errors))
            button type="submit" { "Submit report" }
        }
    }
}

fn victim_fields(draft: &Draft, errors: &FieldErrors) -> Markup {
    let open = [
        "victim_name",
        "victim_email",
        "victim_phone",
        "victim_country",
        "victim_sector",
    ]
    .iter()
    .any(|name| !draft.get(name).is_empty() || !errors.of(name).is_empty());
    html! {
        details open[open] {
            summary { "Victim (optional)" }
            p { small { "Released only under MoUs that share victim details and personal data; redacted otherwise." } }
            (text_input(draft, errors, "victim_name", "Victim name", false))
            (text_input(draft, errors, "victim_email", "Victim e-mail", false))
            (text_input(draft, errors, "victim_phone", "Victim phone", false))
            (text_input(draft, errors, "victim_country", "Victim country (ISO code, e.g. DE)", false))
            (text_input(draft, errors, "victim_sector", "Victim sector", false))
        }
    }
}

fn upload_form(signed: &Signed, draft: &Draft, errors: &FieldErrors) -> Markup {
    let (bad, described) = invalid(errors, "file");
    html! {
        h2 { "Or upload a file" }
        form method="post" action="/reports/upload" enctype="multipart/form-data" {
            (csrf_field(&signed.session))
            input type="hidden" name="idempotency" value=(draft.idempotency);
            label for="file" { "Report file: a STIX 2.1 bundle or a MISP event (JSON)" }
            input type="file" id="file" name="file" accept=".json,application/json,application/stix+json" required
                aria-invalid=[bad] aria-describedby=[described];
            (field_errors(errors, "file"))
            button type="submit" class="secondary" { "Upload report" }
        }
    }
}

/// Turns the form into the native report's JSON and the line number of each indicator; a value the form cannot
/// express (an unreadable date) is a field error.
fn native(fields: &Fields) -> Result<(Value, Vec<usize>), FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut report = Map::new();
    let text = |name: &str| fields.get(name).trim();
    report.insert("title".into(), json!(text("title")));
    report.insert("classification".into(), json!(text("classification")));
    for (field, key) in [
        ("description", "description"),
        ("tlp", "tlp"),
        ("sector", "sector"),
    ] {
        if !text(field).is_empty() {
            report.insert(key.into(), json!(text(field)));
        }
    }
    match chrono::NaiveDateTime::parse_from_str(text("occurred_at"), "%Y-%m-%dT%H:%M").or_else(
        |_| chrono::NaiveDateTime::parse_from_str(text("occurred_at"), "%Y-%m-%dT%H:%M:%S"),
    ) {
        Ok(at) => {
            report.insert(
                "occurred_at".into(),
                json!(at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            );
        }
        Err(_) => errors.add(
            Some("occurred_at"),
            "Enter the date and time the incident happened (UTC).",
        ),
    }
    report.insert("categories".into(), json!(fields.all("categories")));
    let mut lines = Vec::new();
    let mut indicators = Vec::new();
    for (number, line) in fields.get("indicators").lines().enumerate() {
        if !line.trim().is_empty() {
            lines.push(number + 1);
            indicators.push(json!({ "value": line.trim() }));
        }
    }
    report.insert("indicators".into(), Value::Array(indicators));
    let ttps: Vec<&str> = text("ttps")
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|ttp| !ttp.is_empty())
        .collect();
    if !ttps.is_empty() {
        report.insert("ttps".into(), json!(ttps));
    }
    let mut victim = Map::new();
    for key in ["name", "email", "phone", "country", "sector"] {
        let value = text(&format!("victim_{key}"));
        if !value.is_empty() {
            victim.insert(key.into(), json!(value));
        }
    }
    if !victim.is_empty() {
        report.insert("victim".into(), Value::Object(victim));
    }
    if errors.is_empty() {
        Ok((Value::Object(report), lines))
    } else {
        Err(errors)
    }
}

/// The plain-words explanation of the classification guard's refusal.
const CLASSIFIED: &str = "Accord accepts unclassified material only. This report carries a classification marking, so \
    it was refused before anything was stored or shared. Remove the classified content, or share it through your \
    organization's channels for classified information.";

/// Places a field error of `POST /v1/reports` on the form: its field, and its message in the form's terms.
fn place(pointer: &str, message: &str, lines: &[usize]) -> Option<(String, String)> {
    if pointer.is_empty() || pointer == "/" {
        return required_property(message).map(|name| (name.to_owned(), "Required.".to_owned()));
    }
    let mut parts = pointer.trim_start_matches('/').split('/');
    let field = parts.next()?;
    if message.contains("classified") || (field == "classification" && message.contains("classif"))
    {
        return Some(("classification".to_owned(), CLASSIFIED.to_owned()));
    }
    let place = match field {
        "indicators" => {
            let line = parts
                .next()
                .and_then(|index| index.parse::<usize>().ok())
                .and_then(|index| lines.get(index));
            match line {
                Some(line) => format!("Line {line}: {message}"),
                None => message.to_owned(),
            }
        }
        _ => message.to_owned(),
    };
    let name = match field {
        "victim" => format!("victim_{}", parts.next().unwrap_or("name")),
        "title" | "description" | "tlp" | "classification" | "categories" | "sector"
        | "occurred_at" | "indicators" | "ttps" => field.to_owned(),
        _ => return None,
    };
    Some((name, place))
}

/// `POST /reports/new`.
pub(crate) async fn submit(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    if let Err(refused) = admit(&signed, Role::Partner, &headers, &fields) {
        return refused;
    }
    let draft = Draft {
        idempotency: non_empty_key(fields.get("idempotency")),
        fields,
    };
    let (report, lines) = match native(&draft.fields) {
        Ok(built) => built,
        Err(errors) => return render(&signed, &draft, &errors, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let submission = Submission {
        media_type: "application/json".to_owned(),
        body: Bytes::from(serde_json::to_vec(&report).unwrap_or_default()),
        idempotency_key: draft.idempotency.clone(),
    };
    match state
        .backend
        .submit(&signed.session.token, submission)
        .await
    {
        Ok(accepted) => see_other(&format!("/reports/{}?submitted=1", accepted.id)),
        Err(error) => {
            let errors =
                FieldErrors::from_api(&error, |pointer, message| place(pointer, message, &lines));
            render(&signed, &draft, &errors, error.status())
        }
    }
}

fn non_empty_key(key: &str) -> String {
    let key = key.trim();
    if key.is_empty() || key.len() > 128 {
        random_token()
    } else {
        key.to_owned()
    }
}

/// Reads the multipart upload: its CSRF and idempotency fields and the file.
async fn read_upload(mut multipart: Multipart) -> Result<(Fields, Bytes), String> {
    let mut pairs = Vec::new();
    let mut file = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|error| error.body_text())?
    {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => file = Some(field.bytes().await.map_err(|error| error.body_text())?),
            "csrf" | "idempotency" => {
                let value = field.text().await.map_err(|error| error.body_text())?;
                pairs.push((name, value));
            }
            _ => {}
        }
    }
    let file = file
        .filter(|file| !file.is_empty())
        .ok_or_else(|| "Choose a file to upload.".to_owned())?;
    Ok((Fields::from_pairs(pairs), file))
}

/// The media type of an uploaded file: a STIX bundle, else JSON (a native report or a MISP event).
fn media_type_of(file: &[u8]) -> &'static str {
    let is_bundle = serde_json::from_slice::<Value>(file)
        .ok()
        .is_some_and(|value| value.get("type").and_then(Value::as_str) == Some("bundle"));
    if is_bundle {
        "application/stix+json;version=2.1"
    } else {
        "application/json"
    }
}

/// `POST /reports/upload`.
pub(crate) async fn upload(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    if let Err(refused) = signed.require(Role::Partner) {
        return refused;
    }
    let (fields, file) = match read_upload(multipart).await {
        Ok(read) => read,
        Err(message) => {
            let mut errors = FieldErrors::default();
            errors.add(Some("file"), message);
            return render(
                &signed,
                &Draft::blank(),
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    if let Err(refused) = check_csrf(&signed, &headers, fields.get("csrf")) {
        return refused;
    }
    let submission = Submission {
        media_type: media_type_of(&file).to_owned(),
        body: file,
        idempotency_key: non_empty_key(fields.get("idempotency")),
    };
    match state
        .backend
        .submit(&signed.session.token, submission)
        .await
    {
        Ok(accepted) => see_other(&format!("/reports/{}?submitted=1", accepted.id)),
        Err(error) => {
            let errors = FieldErrors::from_api(&error, |pointer, message| {
                let message = if message.contains("classif") {
                    CLASSIFIED.to_owned()
                } else {
                    format!("{pointer}: {message}")
                };
                Some(("file".to_owned(), message))
            });
            render(&signed, &Draft::blank(), &errors, error.status())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields::from_pairs(
            pairs
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn the_form_becomes_a_native_report() {
        let (report, lines) = native(&fields(&[
            ("title", " Phish "),
            ("classification", "unclassified"),
            ("tlp", "amber"),
            ("occurred_at", "2026-11-20T08:00"),
            ("categories", "phishing"),
            ("categories", "malware"),
            ("indicators", "45.155.205[.]172\n\n  evil.example  \n"),
            ("ttps", "T1566.002, T1059"),
            ("victim_email", "jane@bank.example"),
        ]))
        .unwrap();
        assert_eq!(report["title"], "Phish");
        assert_eq!(report["occurred_at"], "2026-11-20T08:00:00Z");
        assert_eq!(report["categories"], json!(["phishing", "malware"]));
        assert_eq!(
            report["indicators"],
            json!([{ "value": "45.155.205[.]172" }, { "value": "evil.example" }])
        );
        assert_eq!(lines, vec![1, 3]);
        assert_eq!(report["ttps"], json!(["T1566.002", "T1059"]));
        assert_eq!(report["victim"], json!({ "email": "jane@bank.example" }));
        assert!(report.get("sector").is_none() && report.get("description").is_none());
        let bad = native(&fields(&[("occurred_at", "yesterday")])).unwrap_err();
        assert_eq!(bad.of("occurred_at").len(), 1);
    }

    #[test]
    fn refusals_land_on_their_fields_in_plain_words() {
        let lines = [1, 3];
        assert_eq!(
            place("/indicators/1/value", "not an indicator", &lines),
            Some((
                "indicators".to_owned(),
                "Line 3: not an indicator".to_owned()
            ))
        );
        assert_eq!(
            place("", "\"title\" is a required property", &lines)
                .unwrap()
                .0,
            "title"
        );
        assert_eq!(
            place(
                "/classification",
                "classified material is never accepted: …",
                &lines
            ),
            Some(("classification".to_owned(), CLASSIFIED.to_owned()))
        );
        assert_eq!(
            place("/victim/email", "too long", &lines).unwrap().0,
            "victim_email"
        );
        assert_eq!(place("/patterns/0", "odd", &lines), None);
    }
}
