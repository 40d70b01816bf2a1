//! The object types a bundle may carry: those STIX 2.1 defines, and custom ones (`x-…`, STIX 2.1 §11.1). Any other
//! type is invalid: it is a slip (a misspelled or a 2.0-only type), not something to accept silently.

use serde_json::Value;

use super::IngestError;

/// Every object type STIX 2.1 defines: domain, relationship, cyber-observable and meta objects.
const STIX_TYPES: &[&str] = &[
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
    "relationship",
    "sighting",
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
    "language-content",
    "marking-definition",
    "extension-definition",
];

/// Checks that the object at `index` (its envelope already checked) has a STIX 2.1 or custom type.
///
/// # Errors
/// A malformed-object error at `/objects/{index}/type` naming the type.
pub(super) fn check_type(index: usize, object: &Value) -> Result<(), IngestError> {
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind.starts_with("x-") || STIX_TYPES.contains(&kind) {
        return Ok(());
    }
    Err(IngestError::malformed(
        format!("/objects/{index}/type"),
        format!("`{kind}` is not a STIX 2.1 object type (custom types start with `x-`)"),
    ))
}
