//! The MoU as a form: every field of the model (policy-model.md) as a form control, and the two conversions the
//! editor needs — the form's fields to the MoU document the API takes ([`draft_from_fields`]) and a document back to
//! form fields ([`fields_from_draft`]) — so the JSON view and the form always hold the same MoU. Nothing is checked
//! here: the API validates with `accord_domain::MouValidator`, and its pointers land on these fields ([`FIELDS`]).

use accord_domain::{ObservableType, Purpose, vocabulary};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use crate::{
    docs::Organization,
    form::{FieldErrors, Fields},
    layout::field_errors,
    pages::controls::{invalid, select, text},
};

/// The form's fields, as named in the MoU model, with their labels.
pub(crate) const FIELDS: &[(&str, &str)] = &[
    ("id", "MoU id"),
    ("title", "Title"),
    ("status", "Status"),
    ("providers", "Providers"),
    ("recipients", "Recipients"),
    ("effective_from", "Effective from (UTC)"),
    ("expires_at", "Expires at (UTC)"),
    ("max_tlp", "TLP ceiling"),
    ("content", "Content parts"),
    ("categories", "Categories"),
    ("sectors", "Sectors"),
    ("indicator_types", "Indicator types"),
    ("purposes", "Purposes"),
    ("pii", "Personal data"),
    ("attribution", "Attribution"),
    ("feedback", "Feedback"),
    ("recipient_countries", "Recipient countries"),
    ("retention_days", "Retention (days)"),
];

/// The names of [`FIELDS`].
pub(crate) fn names() -> Vec<&'static str> {
    FIELDS.iter().map(|(name, _)| *name).collect()
}

const LISTS: &[&str] = &["providers", "recipients", "content", "purposes"];
const SCOPES: &[&str] = &["categories", "sectors", "indicator_types"];
const TLPS: &[(&str, &str)] = &[
    ("clear", "TLP:CLEAR"),
    ("green", "TLP:GREEN"),
    ("amber", "TLP:AMBER"),
    ("amber+strict", "TLP:AMBER+STRICT"),
    ("red", "TLP:RED"),
];
const CONTENT: &[(&str, &str)] = &[
    ("indicators", "Indicators"),
    ("narrative", "Narrative (title, description)"),
    ("victim", "Victim"),
];

/// `2026-01-01T00:00:00Z` as a `datetime-local` value (`2026-01-01T00:00`), UTC.
fn to_local(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at).map_or_else(
        |_| at.to_owned(),
        |at| {
            at.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        },
    )
}

/// A `datetime-local` value as RFC 3339 UTC (anything else is passed on for the API to refuse by name).
pub(crate) fn from_local(value: &str) -> String {
    match chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M") {
        Ok(at) => at.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => value.to_owned(),
    }
}

/// The MoU document a form describes.
pub(crate) fn draft_from_fields(fields: &Fields) -> Value {
    let mut draft = Map::new();
    for name in ["id", "title", "status", "max_tlp", "pii", "attribution"] {
        draft.insert(name.to_owned(), json!(fields.get(name).trim()));
    }
    // Left out when the form has none (a document from before the field): the MoU's default applies.
    let feedback = fields.get("feedback").trim();
    if !feedback.is_empty() {
        draft.insert("feedback".to_owned(), json!(feedback));
    }
    for name in ["effective_from", "expires_at"] {
        draft.insert(name.to_owned(), json!(from_local(fields.get(name).trim())));
    }
    for name in LISTS {
        draft.insert((*name).to_owned(), json!(fields.all(name)));
    }
    for name in SCOPES {
        let chosen = fields.all(name);
        let scope = if chosen.is_empty() || chosen.contains(&"*") {
            vec!["*"]
        } else {
            chosen
        };
        draft.insert((*name).to_owned(), json!(scope));
    }
    let countries: Vec<String> = fields
        .get("recipient_countries")
        .split([',', ' '])
        .filter(|code| !code.trim().is_empty())
        .map(|code| code.trim().to_ascii_uppercase())
        .collect();
    let countries = if countries.is_empty() {
        vec!["*".to_owned()]
    } else {
        countries
    };
    draft.insert("recipient_countries".to_owned(), json!(countries));
    let retention = fields.get("retention_days").trim();
    let retention = retention
        .parse::<u64>()
        .map_or_else(|_| json!(retention), |days| json!(days));
    draft.insert("retention_days".to_owned(), retention);
    Value::Object(draft)
}

/// The form fields of an MoU document (a field of the wrong type is left out: the API will name it).
pub(crate) fn fields_from_draft(draft: &Value) -> Fields {
    let mut pairs = Vec::new();
    let text = |name: &str| draft.get(name).and_then(Value::as_str).unwrap_or_default();
    for name in [
        "id",
        "title",
        "status",
        "max_tlp",
        "pii",
        "attribution",
        "feedback",
    ] {
        pairs.push((name.to_owned(), text(name).to_owned()));
    }
    for name in ["effective_from", "expires_at"] {
        pairs.push((name.to_owned(), to_local(text(name))));
    }
    let list = |name: &str| -> Vec<String> {
        draft
            .get(name)
            .and_then(Value::as_array)
            .map(|values| {
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for name in LISTS.iter().chain(SCOPES) {
        pairs.extend(
            list(name)
                .into_iter()
                .map(|value| ((*name).to_owned(), value)),
        );
    }
    let countries: Vec<String> = list("recipient_countries")
        .into_iter()
        .filter(|code| code != "*")
        .collect();
    pairs.push(("recipient_countries".to_owned(), countries.join(", ")));
    let retention = match draft.get("retention_days") {
        Some(Value::Number(days)) => days.to_string(),
        Some(Value::String(days)) => days.clone(),
        _ => String::new(),
    };
    pairs.push(("retention_days".to_owned(), retention));
    Fields::from_pairs(pairs)
}

/// A fieldset of checkboxes, one per `(value, text)`.
fn checkboxes(
    errors: &FieldErrors,
    fields: &Fields,
    name: &str,
    legend: &str,
    options: &[(String, String)],
) -> Markup {
    let chosen = fields.all(name);
    let (bad, described) = invalid(errors, name);
    html! {
        fieldset id=(name) aria-invalid=[bad] aria-describedby=[described] {
            legend { (legend) }
            @for (value, label) in options {
                label {
                    input type="checkbox" name=(name) value=(value) checked[chosen.contains(&value.as_str())];
                    (label)
                }
            }
            (field_errors(errors, name))
        }
    }
}

/// A multiple select of a scope: "Any" (`*`) or some of `options`.
fn scope(
    errors: &FieldErrors,
    fields: &Fields,
    name: &str,
    label: &str,
    options: &[&str],
) -> Markup {
    let chosen = fields.all(name);
    let any = chosen.is_empty() || chosen.contains(&"*");
    let (bad, described) = invalid(errors, name);
    html! {
        label for=(name) { (label) }
        select id=(name) name=(name) multiple size="6" aria-invalid=[bad] aria-describedby=[described] {
            option value="*" selected[any] { "Any" }
            @for option in options {
                option value=(option) selected[!any && chosen.contains(option)] { (option) }
            }
        }
        (field_errors(errors, name))
    }
}

/// The parties: partners that provide, agencies that receive (picked from the directory).
fn parties(errors: &FieldErrors, fields: &Fields, orgs: &[Organization]) -> Markup {
    let of_kind = |kind: &str| -> Vec<(String, String)> {
        orgs.iter()
            .filter(|org| org.kind == kind)
            .map(|org| {
                (
                    org.id.clone(),
                    format!("{} ({}, {})", org.name, org.id, org.country),
                )
            })
            .collect()
    };
    html! {
        div.grid {
            div { (checkboxes(errors, fields, "providers", "Providers", &of_kind("partner"))) }
            div { (checkboxes(errors, fields, "recipients", "Recipients", &of_kind("agency"))) }
        }
    }
}

/// What is released, and to what end.
fn release_rules(errors: &FieldErrors, fields: &Fields) -> Markup {
    let content: Vec<(String, String)> = CONTENT
        .iter()
        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
        .collect();
    let purposes: Vec<(String, String)> = Purpose::ALL
        .iter()
        .map(|p| (p.as_str().to_owned(), p.as_str().to_owned()))
        .collect();
    let categories: Vec<&str> = vocabulary::CATEGORIES
        .iter()
        .map(|term| term.name)
        .collect();
    let sectors: Vec<&str> = vocabulary::SECTORS.iter().map(|term| term.name).collect();
    let types: Vec<&str> = ObservableType::ALL
        .iter()
        .map(|kind| kind.as_str())
        .collect();
    html! {
        div.grid {
            div { (select(errors, "max_tlp", "TLP ceiling", TLPS, fields.get("max_tlp"))) }
            div { (select(errors, "pii", "Personal data", &[("redact", "Redacted"), ("share", "Shared")], fields.get("pii"))) }
            div { (select(errors, "attribution", "Attribution", &[("anonymous", "Anonymous partner"), ("named", "Named partner")], fields.get("attribution"))) }
            div { (select(errors, "feedback", "Feedback", &[("anonymous", "Agencies' feedback, agency not named"), ("named", "Agencies' feedback, agency named"), ("none", "No feedback")], fields.get("feedback"))) }
        }
        div.grid {
            div { (checkboxes(errors, fields, "content", "Content parts", &content)) }
            div { (checkboxes(errors, fields, "purposes", "Purposes", &purposes)) }
        }
        div.grid {
            div { (scope(errors, fields, "categories", "Categories", &categories)) }
            div { (scope(errors, fields, "sectors", "Sectors", &sectors)) }
            div { (scope(errors, fields, "indicator_types", "Indicator types", &types)) }
        }
    }
}

/// Every field of the MoU model as a form control (`editing`: the id of the MoU being changed, which cannot change).
pub(crate) fn controls(
    errors: &FieldErrors,
    fields: &Fields,
    orgs: &[Organization],
    editing: Option<&str>,
) -> Markup {
    let (bad_from, from_described) = invalid(errors, "effective_from");
    let (bad_until, until_described) = invalid(errors, "expires_at");
    let (bad_days, days_described) = invalid(errors, "retention_days");
    html! {
        div.grid {
            div {
                @if let Some(id) = editing {
                    label for="id" { "MoU id" }
                    input type="text" id="id" name="id" value=(id) readonly;
                } @else {
                    (text(errors, "id", "MoU id", fields.get("id"), true))
                }
            }
            div { (text(errors, "title", "Title", fields.get("title"), true)) }
            div { (select(errors, "status", "Status", &[("active", "Active"), ("suspended", "Suspended")], fields.get("status"))) }
        }
        (parties(errors, fields, orgs))
        div.grid {
            div {
                label for="effective_from" { "Effective from (UTC)" }
                input type="datetime-local" id="effective_from" name="effective_from" value=(fields.get("effective_from"))
                    aria-invalid=[bad_from] aria-describedby=[from_described];
                (field_errors(errors, "effective_from"))
            }
            div {
                label for="expires_at" { "Expires at (UTC)" }
                input type="datetime-local" id="expires_at" name="expires_at" value=(fields.get("expires_at"))
                    aria-invalid=[bad_until] aria-describedby=[until_described];
                (field_errors(errors, "expires_at"))
            }
            div {
                label for="retention_days" { "Retention (days)" }
                input type="number" id="retention_days" name="retention_days" min="1" max="36500" value=(fields.get("retention_days"))
                    aria-invalid=[bad_days] aria-describedby=[days_described];
                (field_errors(errors, "retention_days"))
            }
        }
        (release_rules(errors, fields))
        (text(errors, "recipient_countries", "Recipient countries", fields.get("recipient_countries"), false))
        small { "ISO 3166-1 alpha-2 codes separated by commas (" code { "DE, FR" } "); empty: any country." }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_survives_the_form() {
        let draft = json!({
            "id": "mou-1", "title": "T", "status": "active", "providers": ["bank-a"], "recipients": ["ncu-de", "ncu-fr"],
            "effective_from": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01T12:30:00Z", "max_tlp": "amber",
            "content": ["indicators", "narrative"], "categories": ["phishing"], "sectors": ["*"],
            "indicator_types": ["*"], "purposes": ["investigation"], "pii": "redact", "attribution": "anonymous",
            "feedback": "named", "recipient_countries": ["DE", "FR"], "retention_days": 365
        });
        assert_eq!(draft_from_fields(&fields_from_draft(&draft)), draft);
        let any = json!({ "recipient_countries": ["*"], "categories": ["*"] });
        let fields = fields_from_draft(&any);
        assert_eq!(fields.get("recipient_countries"), "");
        assert_eq!(
            draft_from_fields(&fields)["recipient_countries"],
            json!(["*"])
        );
    }
}
