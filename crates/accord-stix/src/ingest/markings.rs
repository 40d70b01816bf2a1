//! Data markings of an incoming bundle: TLP (2.0 and 1.0) and statement markings.

use std::collections::HashMap;

use accord_domain::{Tlp, classification};
use serde_json::Value;

use super::{IngestError, pointer_escape};

/// The OASIS TLP 2.0 marking definitions (the STIX 2.1 TLP 2.0 extension,
/// `extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d`).
pub const TLP2_MARKINGS: [(&str, Tlp); 5] = [
    (
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Clear,
    ),
    (
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Green,
    ),
    (
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::Amber,
    ),
    (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::AmberStrict,
    ),
    (
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        Tlp::Red,
    ),
];

/// The TLP 1.0 marking definitions of the STIX 2.1 specification (§7.2.1.4); TLP:WHITE is TLP 2.0's TLP:CLEAR.
pub const TLP1_MARKINGS: [(&str, Tlp); 4] = [
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Tlp::Red,
    ),
];

/// The id of the TLP 2.0 extension definition.
const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// Returns the TLP of a standard (TLP 2.0 or TLP 1.0) marking-definition id.
pub fn standard_tlp(id: &str) -> Option<Tlp> {
    TLP2_MARKINGS
        .iter()
        .chain(TLP1_MARKINGS.iter())
        .find(|(known, _)| *known == id)
        .map(|(_, tlp)| *tlp)
}

/// The TLP of every marking definition the bundle defines or references by a standard id.
#[derive(Debug, Default)]
pub(super) struct Markings {
    tlp_by_id: HashMap<String, Tlp>,
}

impl Markings {
    /// Reads the bundle's marking definitions: TLP ones are remembered; a statement (or any other marking) that
    /// carries a classification refuses the whole bundle.
    pub(super) fn read(objects: &[Value]) -> Result<Self, IngestError> {
        let mut markings = Markings::default();
        for (index, object) in objects.iter().enumerate() {
            if object.get("type").and_then(Value::as_str) != Some("marking-definition") {
                continue;
            }
            let id = object.get("id").and_then(Value::as_str).unwrap_or_default();
            check_classification(index, id, object)?;
            if let Some(tlp) = standard_tlp(id).or_else(|| declared_tlp(object)) {
                markings.tlp_by_id.insert(id.to_owned(), tlp);
            }
        }
        Ok(markings)
    }

    /// Returns the most restrictive TLP among the markings an object references (`object_marking_refs` and
    /// `granular_markings[*].marking_ref`), or `None` when it references no TLP marking.
    pub(super) fn tlp_of(&self, object: &Value) -> Option<Tlp> {
        let mut refs: Vec<&str> = Vec::new();
        if let Some(list) = object.get("object_marking_refs").and_then(Value::as_array) {
            refs.extend(list.iter().filter_map(Value::as_str));
        }
        if let Some(list) = object.get("granular_markings").and_then(Value::as_array) {
            refs.extend(
                list.iter()
                    .filter_map(|granular| granular.get("marking_ref").and_then(Value::as_str)),
            );
        }
        refs.into_iter()
            .filter_map(|id| self.tlp_by_id.get(id).copied().or_else(|| standard_tlp(id)))
            .max()
    }
}

/// A non-standard marking definition that declares a TLP: STIX 2.1 `definition_type: tlp` with `definition.tlp`, or
/// the TLP 2.0 extension's `tlp_2_0` property.
fn declared_tlp(object: &Value) -> Option<Tlp> {
    if object.get("definition_type").and_then(Value::as_str) == Some("tlp") {
        let label = object.pointer("/definition/tlp").and_then(Value::as_str)?;
        return parse_tlp(label);
    }
    let label = object
        .get("extensions")
        .and_then(|extensions| extensions.get(TLP2_EXTENSION))
        .and_then(|extension| extension.get("tlp_2_0"))
        .and_then(Value::as_str)?;
    parse_tlp(label)
}

/// Parses a TLP 2.0 or 1.0 label (`amber+strict`, `TLP:WHITE`).
pub(crate) fn parse_tlp(label: &str) -> Option<Tlp> {
    let lower = label.trim().to_ascii_lowercase();
    let bare = lower.strip_prefix("tlp:").unwrap_or(&lower);
    if bare == "white" {
        return Some(Tlp::Clear);
    }
    bare.parse().ok()
}

/// Refuses a marking definition whose statement, name or any other text names a protective marking.
fn check_classification(index: usize, id: &str, object: &Value) -> Result<(), IngestError> {
    let mut texts: Vec<(String, &str)> = Vec::new();
    if let Some(name) = object.get("name").and_then(Value::as_str) {
        texts.push((format!("/objects/{index}/name"), name));
    }
    if let Some(Value::Object(definition)) = object.get("definition") {
        for (key, value) in definition {
            if let Some(text) = value.as_str() {
                texts.push((
                    format!("/objects/{index}/definition/{}", pointer_escape(key)),
                    text,
                ));
            }
        }
    }
    for (pointer, text) in texts {
        // A standard TLP marking's name (`TLP:AMBER`) never carries a classification; everything else is scanned.
        if let Some(marking) = classification::classified_marking(text) {
            return Err(IngestError::Classified {
                pointer,
                object_id: id.to_owned(),
                marking: marking.to_owned(),
            });
        }
    }
    Ok(())
}
