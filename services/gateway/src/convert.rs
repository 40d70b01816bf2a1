//! The formats `POST /v1/reports` accepts, and their conversion into the native report that goes on the bus.
//!
//! | `Content-Type` | body | becomes |
//! |---|---|---|
//! | `application/json` | a native incident report | itself |
//! | `application/json` | a MISP event: an object whose only key is `Event` | [`accord_stix::misp_event_to_report`] |
//! | `application/vnd.misp+json` | a MISP event | the same |
//! | `application/stix+json;version=2.1` (or without `version`) | a STIX 2.1 bundle | [`accord_stix::bundle_to_report`] |
//!
//! A converted report is then validated like a native one (schema, classification, indicators) and written as the
//! same raw record, with [`ReportFormat`] saying where it came from.

use accord_domain::{ReportFormat, Tlp, Warning};
use accord_runtime::{ApiError, FieldError};
use accord_stix::IngestError;
use serde_json::Value;

use crate::lenient::{self, Handling};

/// What the `Content-Type` header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Declared {
    /// `application/json`: native, or MISP when the body is `{"Event": {…}}`.
    Json,
    /// `application/vnd.misp+json`.
    Misp,
    /// `application/stix+json;version=2.1`.
    Stix,
}

/// Reads the declared format from the media type of `Content-Type` (lower-case, without blanks, as
/// [`accord_runtime::json::media_type`] returns it).
///
/// # Errors
/// Returns 415 for any other media type, or a STIX version other than 2.1.
pub(crate) fn declared_from(media: &str) -> Result<Declared, ApiError> {
    let mut parts = media.split(';');
    let essence = parts.next().unwrap_or_default();
    match essence {
        "application/json" => Ok(Declared::Json),
        "application/vnd.misp+json" => Ok(Declared::Misp),
        "application/stix+json" => {
            let version = parts
                .filter_map(|parameter| parameter.split_once('='))
                .find(|(name, _)| *name == "version")
                .map(|(_, value)| value.trim_matches('"').to_owned());
            match version.as_deref() {
                None | Some("2.1") => Ok(Declared::Stix),
                Some(other) => Err(ApiError::UnsupportedMediaType(format!(
                    "only STIX 2.1 is accepted, got version {other}"
                ))),
            }
        }
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "expected application/json, application/stix+json;version=2.1 or application/vnd.misp+json, got {essence}"
        ))),
    }
}

/// Converts a parsed body into the native report's JSON, with the format it came in and, when `handling` is
/// lenient, what the conversion left out ([`crate::lenient`]).
///
/// # Errors
/// Returns 422 naming the offending field of the submission (see [`IngestError`]), including too many indicators.
pub(crate) fn to_native(
    declared: Declared,
    value: &Value,
    default_tlp: Option<Tlp>,
    max_indicators: usize,
    handling: Handling,
) -> Result<(ReportFormat, Value, Vec<Warning>), ApiError> {
    let (format, converted, root) = match declared {
        Declared::Json if !accord_stix::is_misp_event(value) => {
            return Ok((ReportFormat::Native, value.clone(), Vec::new()));
        }
        Declared::Json | Declared::Misp => (
            ReportFormat::Misp,
            accord_stix::misp_event_to_report_with(value, default_tlp, handling),
            "/Event/Attribute",
        ),
        Declared::Stix => (
            ReportFormat::Stix,
            accord_stix::bundle_to_report_with(value, default_tlp, handling),
            "/objects",
        ),
    };
    let converted = converted.map_err(ingest_error)?;
    let report = converted.report;
    if report.indicators.len() > max_indicators {
        return Err(ApiError::invalid_field(
            root,
            format!("at most {max_indicators} indicators per report"),
        ));
    }
    let warnings = converted.skipped.iter().map(lenient::warning).collect();
    let value = serde_json::to_value(&report).map_err(ApiError::internal)?;
    Ok((format, value, warnings))
}

/// Maps a conversion error to its 422; a classified marking is counted like a classified native report.
fn ingest_error(error: IngestError) -> ApiError {
    if matches!(error, IngestError::Classified { .. }) {
        metrics::counter!(crate::metrics::CLASSIFIED_REFUSED).increment(1);
    }
    ApiError::Unprocessable {
        detail: error.to_string(),
        errors: vec![FieldError::new(error.pointer(), error.message())],
    }
}
