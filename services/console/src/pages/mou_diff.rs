//! What changes between two versions of an MoU, in words: the fields that differ (old → new), and what the change
//! means for what agencies see — which parts become redacted or withheld, and which become visible.

use maud::{Markup, html};
use serde_json::Value;

use crate::pages::mou_form::FIELDS;

/// A field's value in a few words (`amber`, `bank-a, bank-b`, `any`).
pub(crate) fn words(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "—".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(values)) => {
            let items: Vec<String> = values.iter().map(|value| words(Some(value))).collect();
            if items.iter().any(|item| item == "*") {
                "any".to_owned()
            } else if items.is_empty() {
                "none".to_owned()
            } else {
                items.join(", ")
            }
        }
        Some(other) => other.to_string(),
    }
}

/// The fields that differ between `old` and `new` (both drafts): `(label, old, new)`, in the model's order.
pub(crate) fn changed_fields(old: &Value, new: &Value) -> Vec<(&'static str, String, String)> {
    FIELDS
        .iter()
        .filter(|(name, _)| old.get(name) != new.get(name))
        .map(|(name, label)| (*label, words(old.get(name)), words(new.get(name))))
        .collect()
}

fn list(draft: &Value, field: &str) -> Vec<String> {
    draft
        .get(field)
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// What the change from `old` to `new` does to what agencies see: redactions and withholdings added or lifted.
pub(crate) fn redactions(old: &Value, new: &Value) -> Vec<String> {
    let mut said = Vec::new();
    let text = |draft: &Value, field: &str| {
        draft
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match (text(old, "pii").as_str(), text(new, "pii").as_str()) {
        ("share", "redact") => said.push("Personal data becomes redacted.".to_owned()),
        ("redact", "share") => {
            said.push("Personal data is no longer redacted: it becomes visible.".to_owned())
        }
        _ => {}
    }
    match (
        text(old, "attribution").as_str(),
        text(new, "attribution").as_str(),
    ) {
        ("named", "anonymous") => said.push("Partners become anonymous.".to_owned()),
        ("anonymous", "named") => said.push("Partners become named.".to_owned()),
        _ => {}
    }
    let feedback = |draft: &Value| {
        let rule = text(draft, "feedback");
        if rule.is_empty() {
            "anonymous".to_owned()
        } else {
            rule
        }
    };
    match (feedback(old).as_str(), feedback(new).as_str()) {
        (before, after) if before == after => {}
        (_, "none") => said.push("Agencies can no longer send feedback.".to_owned()),
        (_, "named") => said.push("Agencies' feedback names them to partners.".to_owned()),
        (_, _) => said.push("Agencies' feedback reaches partners without their names.".to_owned()),
    }
    let (before, after) = (list(old, "content"), list(new, "content"));
    for part in before.iter().filter(|part| !after.contains(part)) {
        said.push(format!("The {part} part becomes withheld."));
    }
    for part in after.iter().filter(|part| !before.contains(part)) {
        said.push(format!("The {part} part becomes visible."));
    }
    if old.get("indicator_types") != new.get("indicator_types") {
        said.push(format!(
            "Indicator types released: {} → {} (other indicators are withheld).",
            words(old.get("indicator_types")),
            words(new.get("indicator_types"))
        ));
    }
    said
}

/// The table of changed fields.
pub(crate) fn table(changes: &[(&str, String, String)]) -> Markup {
    html! {
        @if changes.is_empty() {
            p { "No field changes." }
        } @else {
            div.table-wrap {
                table.diff {
                    thead { tr { th scope="col" { "Field" } th scope="col" { "Before" } th scope="col" { "After" } } }
                    tbody {
                        @for (label, old, new) in changes {
                            tr { th scope="row" { (label) } td { del { (old) } } td { ins { (new) } } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changes_read_as_words() {
        let old = json!({ "pii": "share", "content": ["indicators", "narrative"], "max_tlp": "amber", "categories": ["*"] });
        let new = json!({ "pii": "redact", "content": ["indicators"], "max_tlp": "green", "categories": ["phishing"] });
        let changes = changed_fields(&old, &new);
        assert!(changes.contains(&("TLP ceiling", "amber".to_owned(), "green".to_owned())));
        assert!(changes.contains(&("Categories", "any".to_owned(), "phishing".to_owned())));
        let said = redactions(&old, &new);
        assert!(said.contains(&"Personal data becomes redacted.".to_owned()));
        assert!(said.contains(&"The narrative part becomes withheld.".to_owned()));
    }
}
