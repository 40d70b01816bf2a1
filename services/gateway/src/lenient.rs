//! Lenient handling of a submission (docs/decisions/0037-lenient-handling.md).
//!
//! `POST /v1/reports` is strict unless the request says `Prefer: handling=lenient` (RFC 7240): then what fails
//! validation is left out, the valid part is accepted (202, `Preference-Applied: handling=lenient`) and each part
//! left out is a [`Warning`] (`{ pointer, message }`, the pointer into the submission as sent) in the 202 and in the
//! report's status. TAXII add_objects is always lenient: each object left out is a failure of the status resource
//! ([`mark_failures`]).
//!
//! What is left out: a STIX object or a MISP attribute that fails validation ([`accord_stix::Handling`]); a native
//! report's invalid indicator, pattern, category or sector ([`skip_fields`]). What is never lenient: the
//! classification guard, a malformed document (JSON syntax, top-level shape, the native schema), markings and TLP,
//! the size and count limits of decision 0024, and a submission with no valid indicator or pattern left once the
//! ones it carried were left out ([`something_left`]). Nothing left out reaches the bus, so nothing of it is indexed.

use accord_domain::{SubmittedObject, Warning};
use accord_runtime::{ApiError, FieldError};
pub(crate) use accord_stix::Handling;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use serde_json::Value;

/// The response header that says a preference was honoured (RFC 7240 §3).
pub(crate) const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");

/// The `Preference-Applied` value of lenient handling.
pub(crate) const LENIENT: &str = "handling=lenient";

/// Reads the `handling` preference of the request's `Prefer` headers (RFC 7240): `lenient` or `strict`, names and
/// values compared without case, a value quoted or not, the first `handling` preference winning (§2). Anything else
/// (no preference, another value, a header that is not ASCII) is strict: a preference never makes a request fail.
pub(crate) fn requested(headers: &HeaderMap) -> Handling {
    let preferences = headers
        .get_all(header::HeaderName::from_static("prefer"))
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for preference in preferences {
        let first = preference.split(';').next().unwrap_or_default();
        let (name, value) = first.split_once('=').unwrap_or((first, ""));
        if !name.trim().eq_ignore_ascii_case("handling") {
            continue;
        }
        let value = value.trim().trim_matches('"');
        return if value.eq_ignore_ascii_case("lenient") {
            Handling::Lenient
        } else {
            Handling::Strict
        };
    }
    Handling::Strict
}

/// The `Preference-Applied` header value for a response to a request handled `handling`, if any.
pub(crate) fn applied(handling: Handling) -> Option<HeaderValue> {
    (handling == Handling::Lenient).then(|| HeaderValue::from_static(LENIENT))
}

/// A conversion error that lenient handling left out, as a warning.
pub(crate) fn warning(error: &accord_stix::IngestError) -> Warning {
    Warning {
        pointer: error.pointer().to_owned(),
        message: error.message(),
    }
}

/// Leaves out of a native report's JSON the parts `errors` name: an indicator (`/indicators/N/…`), a pattern
/// (`/patterns/N/…`), a category (`/categories/N`) or the sector. Returns the warnings, or `None` when an error names
/// anything else (the caller refuses the report whole).
pub(crate) fn skip_fields(report: &mut Value, errors: &[FieldError]) -> Option<Vec<Warning>> {
    let mut removals: Vec<(&str, usize)> = Vec::new();
    let mut no_sector = false;
    for error in errors {
        let mut tokens = error.pointer.split('/').skip(1);
        match (tokens.next(), tokens.next().map(str::parse::<usize>)) {
            (Some(list @ ("indicators" | "patterns" | "categories")), Some(Ok(index))) => {
                removals.push((list, index));
            }
            (Some("sector"), None) => no_sector = true,
            _ => return None,
        }
    }
    // From the last index down, so that each removal leaves the indices still to remove in place.
    removals.sort_unstable_by(|a, b| b.cmp(a));
    removals.dedup();
    let object = report.as_object_mut()?;
    for (list, index) in removals {
        let items = object.get_mut(list)?.as_array_mut()?;
        if index >= items.len() {
            return None;
        }
        items.remove(index);
    }
    if no_sector {
        object.remove("sector");
    }
    Some(
        errors
            .iter()
            .map(|error| Warning {
                pointer: error.pointer.clone(),
                message: error.message.clone(),
            })
            .collect(),
    )
}

/// Refuses a submission (`submitted`, as sent) whose report (`report`, native) lenient handling left without any
/// indicator or pattern when what it left out carried some: what the partner meant to share is all invalid, and
/// accepting the rest would only hide that. A submission that never carried any (a narrative report whose category
/// was left out) is not refused for it.
///
/// # Errors
/// 422 listing every part left out.
pub(crate) fn something_left(
    submitted: &Value,
    report: &Value,
    warnings: &[Warning],
) -> Result<(), ApiError> {
    let left = |field: &str| {
        report[field]
            .as_array()
            .is_some_and(|list| !list.is_empty())
    };
    let carried = warnings
        .iter()
        .any(|warning| carried_values(submitted, &warning.pointer));
    if !carried || left("indicators") || left("patterns") {
        return Ok(());
    }
    let detail = match warnings {
        [only] => format!(
            "{}: {}; no valid indicator or pattern is left without it",
            only.pointer, only.message
        ),
        _ => format!(
            "{} parts are invalid; no valid indicator or pattern is left without them",
            warnings.len()
        ),
    };
    Err(ApiError::Unprocessable {
        detail,
        errors: warnings
            .iter()
            .map(|warning| FieldError::new(warning.pointer.clone(), warning.message.clone()))
            .collect(),
    })
}

/// Whether the part of `submitted` at `pointer`, left out, carried values to share: a native report's indicator or
/// pattern, a MISP attribute, or a STIX indicator, observed data, indexed observable or vulnerability.
fn carried_values(submitted: &Value, pointer: &str) -> bool {
    if ["/indicators/", "/patterns/"]
        .iter()
        .any(|list| pointer.starts_with(list))
        || pointer.contains("/Attribute/")
    {
        return true;
    }
    let Some(index) = object_index(pointer) else {
        return false;
    };
    let kind = submitted["objects"][index]["type"]
        .as_str()
        .unwrap_or_default();
    matches!(
        kind,
        "indicator"
            | "observed-data"
            | "ipv4-addr"
            | "ipv6-addr"
            | "domain-name"
            | "url"
            | "email-addr"
            | "file"
            | "x509-certificate"
            | "vulnerability"
    )
}

/// The index `N` of a pointer `/objects/N…` into a bundle or envelope.
fn object_index(pointer: &str) -> Option<usize> {
    pointer
        .strip_prefix("/objects/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|index| index.parse().ok())
}

/// Marks each TAXII object that lenient handling left out (a warning whose pointer is `/objects/N…`) with its
/// failure: the field and the reason.
pub(crate) fn mark_failures(objects: &mut [SubmittedObject], warnings: &[Warning]) {
    for warning in warnings {
        if let Some(object) =
            object_index(&warning.pointer).and_then(|index| objects.get_mut(index))
        {
            object.failure = Some(format!("{}: {}", warning.pointer, warning.message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prefer(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("prefer", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_first_handling_preference_decides_and_anything_else_is_strict() {
        assert_eq!(requested(&prefer(&[])), Handling::Strict);
        assert_eq!(requested(&prefer(&["handling=lenient"])), Handling::Lenient);
        assert_eq!(
            requested(&prefer(&["respond-async, Handling=\"LENIENT\"; x=1"])),
            Handling::Lenient
        );
        assert_eq!(
            requested(&prefer(&["return=minimal", "handling=lenient"])),
            Handling::Lenient
        );
        assert_eq!(
            requested(&prefer(&["handling=strict, handling=lenient"])),
            Handling::Strict
        );
        assert_eq!(requested(&prefer(&["handling=sloppy"])), Handling::Strict);
        assert_eq!(requested(&prefer(&["lenient"])), Handling::Strict);
    }

    #[test]
    fn named_indicators_patterns_categories_and_sector_are_left_out() {
        let mut report = json!({
            "indicators": [{ "value": "a" }, { "value": "b" }, { "value": "c" }],
            "patterns": [{ "pattern": "p" }],
            "categories": ["phishing", "nonsense"],
            "sector": "nowhere",
        });
        let errors = [
            FieldError::new("/indicators/2/value", "bad"),
            FieldError::new("/indicators/0/type", "bad"),
            FieldError::new("/categories/1", "bad"),
            FieldError::new("/sector", "bad"),
        ];
        let warnings = skip_fields(&mut report, &errors).unwrap();
        assert_eq!(warnings.len(), 4);
        assert_eq!(warnings[0].pointer, "/indicators/2/value");
        assert_eq!(report["indicators"], json!([{ "value": "b" }]));
        assert_eq!(report["categories"], json!(["phishing"]));
        assert!(report.get("sector").is_none());
        assert!(something_left(&Value::Null, &report, &warnings).is_ok());

        assert!(skip_fields(&mut report, &[FieldError::new("/title", "bad")]).is_none());
        let bare = json!({ "indicators": [] });
        assert!(something_left(&Value::Null, &bare, &[]).is_ok());
        assert!(something_left(&Value::Null, &bare, &warnings).is_err());
        let category_only = [FieldError::new("/categories/0", "bad")];
        let narrative = skip_fields(&mut json!({ "categories": ["x"] }), &category_only).unwrap();
        assert!(
            something_left(&Value::Null, &bare, &narrative).is_ok(),
            "a narrative report is not refused for its category"
        );
        let bundle = json!({ "objects": [{ "type": "campaing" }, { "type": "indicator" }] });
        let warning = |pointer: &str| Warning {
            pointer: pointer.to_owned(),
            message: "bad".to_owned(),
        };
        assert!(something_left(&bundle, &bare, &[warning("/objects/0/type")]).is_ok());
        assert!(something_left(&bundle, &bare, &[warning("/objects/1/created")]).is_err());
        assert!(something_left(&json!({}), &bare, &[warning("/Event/Attribute/0/value")]).is_err());
    }

    #[test]
    fn an_object_left_out_fails_with_its_field() {
        let object = |id: &str| SubmittedObject {
            id: id.to_owned(),
            version: "v".to_owned(),
            failure: None,
        };
        let mut objects = vec![object("a"), object("b")];
        let warnings = [Warning {
            pointer: "/objects/1/pattern".to_owned(),
            message: "indicator--b: invalid".to_owned(),
        }];
        mark_failures(&mut objects, &warnings);
        assert_eq!(objects[0].failure, None);
        assert_eq!(
            objects[1].failure.as_deref(),
            Some("/objects/1/pattern: indicator--b: invalid")
        );
    }
}
