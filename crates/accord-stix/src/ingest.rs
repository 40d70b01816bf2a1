//! Incoming STIX 2.1 bundles (and MISP events, in [`crate::misp`]) converted into one native [`IncidentReport`], so
//! that they travel the same path as a native submission: same schema, same raw record, same normalizer.
//!
//! [`bundle_to_report`] is the one entry point, used by the gateway (`POST /v1/reports` with
//! `application/stix+json;version=2.1`) and by TAXII's `POST …/objects/`. It is pure: no I/O, no clock except for
//! a bundle that carries no date at all.
//!
//! Mapping (docs/decisions/0009-stix-ingest.md explains the choices):
//! - the first `report` object gives the title, description, `published` date, `report_types` and `labels`;
//! - every `indicator` is kept as a [`PatternInput`](accord_domain::PatternInput); a `stix` pattern is parsed (an invalid one refuses the bundle
//!   naming the object and the character) and its exact observables become typed indicators;
//! - cyber-observables (`ipv4-addr`, `ipv6-addr`, `domain-name`, `url`, `email-addr`, `file` hashes and names,
//!   `x509-certificate` serial numbers), including those embedded in a 2.0-style `observed-data.objects`, become typed
//!   indicators (a file name that reads as a digest is left out: an Accord `file` of that shape is a hash);
//! - a `vulnerability` named by a CVE id (or with a `cve` external reference) becomes a `vulnerability` indicator;
//! - `attack-pattern` ATT&CK ids become TTPs; `report_types`, `labels` and `malware_types` the vocabulary knows become
//!   categories (`accord_domain::vocabulary`; others are dropped); malware, campaigns, threat actors,
//!   intrusion sets, tools, infrastructure, vulnerabilities and courses of action are summarized in the description;
//! - identities, sightings, relationships, notes and custom types are accepted and leave no content (identities may
//!   name people: they are not copied into free text);
//! - TLP: the most restrictive TLP marking of any object; an object without one takes the partner's default TLP,
//!   or the bundle is refused naming it; a marking that carries a classification refuses the bundle;
//! - an object of a type that is neither STIX 2.1 nor custom (`x-…`) is invalid;
//! - [`Handling::Lenient`] ([`bundle_to_report_with`]) leaves an invalid object out instead of refusing the bundle
//!   (docs/decisions/0037-lenient-handling.md); markings, the classification guard and the bundle's shape stay strict.

#[cfg(test)]
mod lenient_tests;
mod markings;
mod objects;
#[cfg(test)]
mod tests;
mod types;

use accord_domain::{
    Tlp,
    report::{IncidentReport, IndicatorInput},
    unique::dedup_by_key,
};
use serde_json::Value;

pub use markings::{TLP1_MARKINGS, TLP2_MARKINGS, standard_tlp};

use crate::pattern::PatternError;

pub(crate) use markings::parse_tlp;

/// The most indicator objects (patterns) one bundle may carry, as the native schema's `patterns`.
pub const MAX_PATTERNS: usize = 10_000;
/// The longest pattern type (`stix`, `sigma`, …), as the native schema.
pub(crate) const MAX_PATTERN_TYPE_CHARS: usize = 64;
/// The longest title, as the native schema.
pub(crate) const MAX_TITLE_CHARS: usize = 500;
/// The longest description, as the native schema.
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 200_000;

/// Why a bundle (or a MISP event) cannot become a report. Every variant names the offending field as a JSON pointer
/// into the submission; the gateway answers 422 with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The document is JSON but not a bundle (or event) of the expected shape.
    #[error("{pointer}: {message}")]
    Malformed {
        /// Where.
        pointer: String,
        /// What is wrong.
        message: String,
    },
    /// An indicator's STIX pattern does not parse.
    #[error("{pointer}: {object_id}: invalid STIX pattern {error}")]
    InvalidPattern {
        /// Where (`/objects/3/pattern`).
        pointer: String,
        /// The indicator's id.
        object_id: String,
        /// Position and reason.
        error: PatternError,
    },
    /// An observable value is not valid for its type.
    #[error("{pointer}: {object_id}: {message}")]
    InvalidObservable {
        /// Where.
        pointer: String,
        /// The object's id.
        object_id: String,
        /// What is wrong.
        message: String,
    },
    /// An object carries no TLP marking and the partner has no default TLP.
    #[error(
        "{pointer}: {object_id} carries no TLP marking and your organization has no default TLP for unmarked objects"
    )]
    Unmarked {
        /// Where (`/objects/2`).
        pointer: String,
        /// The object's id.
        object_id: String,
    },
    /// A marking carries a classification: classified material is never accepted.
    #[error(
        "{pointer}: {object_id}: classified material is never accepted: the marking says `{marking}`"
    )]
    Classified {
        /// Where.
        pointer: String,
        /// The marking's (or tag's) id.
        object_id: String,
        /// The protective marking found.
        marking: String,
    },
}

impl IngestError {
    /// Returns the JSON pointer of the offending field.
    pub fn pointer(&self) -> &str {
        match self {
            IngestError::Malformed { pointer, .. }
            | IngestError::InvalidPattern { pointer, .. }
            | IngestError::InvalidObservable { pointer, .. }
            | IngestError::Unmarked { pointer, .. }
            | IngestError::Classified { pointer, .. } => pointer,
        }
    }

    /// Returns the message without the pointer (for a problem's `errors[].message`).
    pub fn message(&self) -> String {
        let full = self.to_string();
        let prefix = format!("{}: ", self.pointer());
        full.strip_prefix(&prefix).unwrap_or(&full).to_owned()
    }

    pub(crate) fn malformed(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        IngestError::Malformed {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// How a submission's invalid objects are handled (`Prefer: handling=lenient`, RFC 7240; TAXII add_objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Handling {
    /// The first invalid object refuses the whole submission.
    #[default]
    Strict,
    /// An object (a MISP attribute) that fails validation is left out, with its error in [`Converted::skipped`];
    /// the classification guard, a malformed document and markings are never lenient.
    Lenient,
}

/// A submission converted into a report, with what [`Handling::Lenient`] left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The report made of the valid objects.
    pub report: IncidentReport,
    /// Each object left out, with the error that refused it (its pointer names the object's field); empty when
    /// strict.
    pub skipped: Vec<IngestError>,
}

/// Converts a STIX 2.1 bundle into one native incident report (`classification: unclassified`, `tlp` set).
///
/// `default_tlp` is the submitting partner's `default_tlp`: the TLP of objects that carry no TLP marking.
///
/// # Errors
/// Returns an [`IngestError`] naming the first problem: not a bundle, a malformed object, an invalid pattern (with
/// its character position), an invalid observable value, an unknown object type, an object without TLP when there
/// is no default, or a marking that carries a classification.
pub fn bundle_to_report(
    bundle: &Value,
    default_tlp: Option<Tlp>,
) -> Result<IncidentReport, IngestError> {
    bundle_to_report_with(bundle, default_tlp, Handling::Strict).map(|converted| converted.report)
}

/// [`bundle_to_report`] with a choice of [`Handling`]: leniently, an object whose envelope, type, pattern,
/// observable value or dates are invalid is left out whole (nothing of it reaches the report, its TLP included)
/// and listed in [`Converted::skipped`].
///
/// # Errors
/// As [`bundle_to_report`] for what is never lenient: not a bundle, a marking that carries a classification, an
/// unmarked object without a default TLP, too many indicator objects; and a bundle none of whose objects is valid
/// (the first invalid one is the error).
pub fn bundle_to_report_with(
    bundle: &Value,
    default_tlp: Option<Tlp>,
    handling: Handling,
) -> Result<Converted, IngestError> {
    let objects = bundle_objects(bundle)?;
    if handling == Handling::Strict {
        for (index, object) in objects.iter().enumerate() {
            objects::check_envelope(index, object)?;
        }
    }
    // Classified markings first (whatever else is wrong), then the content, then the TLP.
    let markings = markings::Markings::read(objects)?;
    let (content, skipped) = objects::Content::read(objects, handling)?;
    if skipped.len() == objects.len() {
        // No object is valid: the bundle is refused, as strictly, naming the first.
        if let Some((_, first)) = skipped.first() {
            return Err(first.clone());
        }
    }
    let skipped_at: Vec<usize> = skipped.iter().map(|(index, _)| *index).collect();
    let tlp = effective_tlp(objects, &skipped_at, &markings, default_tlp)?;
    Ok(Converted {
        report: content.into_report(tlp),
        skipped: skipped.into_iter().map(|(_, error)| error).collect(),
    })
}

/// The objects of a bundle: a JSON object of type `bundle`, with an id `bundle--<uuid>` and a non-empty `objects`.
fn bundle_objects(bundle: &Value) -> Result<&[Value], IngestError> {
    let Some(map) = bundle.as_object() else {
        return Err(IngestError::malformed(
            "/",
            "a STIX bundle is a JSON object",
        ));
    };
    if map.get("type").and_then(Value::as_str) != Some("bundle") {
        return Err(IngestError::malformed("/type", "must be `bundle`"));
    }
    let id_ok = map
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.strip_prefix("bundle--"))
        .is_some_and(|uuid| uuid::Uuid::parse_str(uuid).is_ok());
    if !id_ok {
        return Err(IngestError::malformed(
            "/id",
            "must be `bundle--` followed by a UUID",
        ));
    }
    let Some(objects) = map.get("objects").and_then(Value::as_array) else {
        return Err(IngestError::malformed(
            "/objects",
            "required: an array of STIX objects",
        ));
    };
    if objects.is_empty() {
        return Err(IngestError::malformed(
            "/objects",
            "the bundle carries no objects",
        ));
    }
    Ok(objects)
}

/// The most restrictive TLP over every object (marking definitions, extension definitions and skipped objects
/// excepted); an object
/// without a TLP marking counts as the default TLP, or refuses the bundle.
fn effective_tlp(
    objects: &[Value],
    skipped: &[usize],
    markings: &markings::Markings,
    default_tlp: Option<Tlp>,
) -> Result<Tlp, IngestError> {
    let mut effective: Option<Tlp> = None;
    for (index, object) in objects.iter().enumerate() {
        let kind = object
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if matches!(kind, "marking-definition" | "extension-definition")
            || skipped.binary_search(&index).is_ok()
        {
            continue;
        }
        let tlp = match markings.tlp_of(object).or(default_tlp) {
            Some(tlp) => tlp,
            None => {
                return Err(IngestError::Unmarked {
                    pointer: format!("/objects/{index}"),
                    object_id: objects::object_id(object).to_owned(),
                });
            }
        };
        effective = effective.max(Some(tlp));
    }
    // Only marking definitions: their own default applies, or the bundle is refused as having nothing marked.
    effective
        .or(default_tlp)
        .ok_or_else(|| IngestError::Unmarked {
            pointer: "/objects".to_owned(),
            object_id: "the bundle".to_owned(),
        })
}

/// Escapes a JSON pointer reference token (RFC 6901).
pub(crate) fn pointer_escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Appends a typed indicator; repeats are dropped once, when the report is assembled ([`dedup_indicators`]).
pub(crate) fn push_indicator(
    indicators: &mut Vec<IndicatorInput>,
    kind: accord_domain::ObservableType,
    value: String,
) {
    let kind = Some(kind.as_str().to_owned());
    indicators.push(IndicatorInput { kind, value });
}

/// Keeps the first of each type and value, in one pass (a check against the whole list per indicator made a large
/// bundle or event quadratic to convert).
pub(crate) fn dedup_indicators(indicators: &mut Vec<IndicatorInput>) {
    dedup_by_key(indicators, |indicator| {
        (indicator.kind.clone(), indicator.value.clone())
    });
}

/// Cuts `text` to at most `max` characters.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}
