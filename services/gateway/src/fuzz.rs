//! Fuzz target of the report decoder (docs/fuzzing.md): [`reports::decode`], the function `POST /v1/reports` and the
//! TAXII inbox judge a body with, fed native reports, STIX bundles and MISP events — generated, structurally mutated
//! and damaged at the byte level — under every declared format, strict and lenient; and [`convert::declared_from`]
//! fed any `Content-Type`.
//!
//! Properties: nothing panics; a refusal is a 400, 415 or 422 problem that says what is wrong (a 422 names at least
//! one field by JSON pointer); an accepted body is an unclassified native report that conforms to the schema, with a
//! TLP, whose every declared indicator is valid; a part left out leniently is named by JSON pointer.

use accord_domain::{ReportFormat, Tlp, observable, report::IncidentReport};
use accord_fuzz::{documents, json as mutate_json, proptest::prelude::*};
use accord_runtime::{ApiError, json::SchemaValidator};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;
use std::sync::LazyLock;

use crate::{
    convert::{Declared, declared_from},
    lenient::Handling,
    reports,
};

static SCHEMA: LazyLock<SchemaValidator> =
    LazyLock::new(|| reports::report_schema().expect("the shipped schema compiles"));

/// A body and the format it is declared as: each document under its own format mostly, under another sometimes.
fn submission() -> impl Strategy<Value = (Declared, Vec<u8>)> {
    let document = prop_oneof![
        3 => mutate_json::mutate(documents::native(), 3).prop_map(|value| (Declared::Json, value)),
        2 => mutate_json::mutate(documents::bundle(), 3).prop_map(|value| (Declared::Stix, value)),
        1 => mutate_json::mutate(documents::misp_event(), 3).prop_map(|value| (Declared::Json, value)),
        1 => mutate_json::mutate(documents::misp_event(), 3).prop_map(|value| (Declared::Misp, value)),
    ];
    let declared = prop_oneof![6 => Just(None), 1 => prop::sample::select(vec![Declared::Json, Declared::Misp, Declared::Stix]).prop_map(Some)];
    (document, declared, mutate_json::byte_damage()).prop_map(
        |((natural, value), declared, damage)| {
            let body = serde_json::to_vec(&value).expect("a value serializes");
            (
                declared.unwrap_or(natural),
                mutate_json::damage(body, &damage),
            )
        },
    )
}

/// Checks a refusal: a client error the endpoint documents, with a reason, and a field for a 422.
fn check_refusal(error: &ApiError) -> Result<(), TestCaseError> {
    let status = error.status();
    prop_assert!(
        matches!(
            status,
            StatusCode::BAD_REQUEST
                | StatusCode::UNSUPPORTED_MEDIA_TYPE
                | StatusCode::UNPROCESSABLE_ENTITY
        ),
        "{status}: {error}"
    );
    prop_assert!(!error.to_string().is_empty());
    if let ApiError::Unprocessable { errors, .. } = error {
        prop_assert!(!errors.is_empty(), "a 422 names a field: {error}");
        for field in errors {
            prop_assert!(field.pointer.starts_with('/'), "{field:?}");
        }
    }
    Ok(())
}

/// Checks an accepted body: what goes on the bus is a valid native report.
fn check_accepted(
    declared: Declared,
    format: ReportFormat,
    value: &Value,
    default_tlp: Option<Tlp>,
) -> Result<(), TestCaseError> {
    match declared {
        Declared::Stix => prop_assert_eq!(format, ReportFormat::Stix),
        Declared::Misp => prop_assert_eq!(format, ReportFormat::Misp),
        Declared::Json => prop_assert!(matches!(format, ReportFormat::Native | ReportFormat::Misp)),
    }
    prop_assert!(
        SCHEMA.validate(value).is_ok(),
        "accepted but not schema-valid: {value}"
    );
    let report: IncidentReport =
        serde_json::from_value(value.clone()).expect("an accepted body decodes");
    prop_assert!(accord_domain::classification::is_unclassified(
        &report.classification
    ));
    prop_assert!(report.tlp.or(default_tlp).is_some());
    for indicator in &report.indicators {
        prop_assert!(
            observable::canonicalize_declared(indicator.kind.as_deref(), &indicator.value).is_ok(),
            "{indicator:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(accord_fuzz::config(2_000))]

    #[test]
    fn a_body_is_accepted_as_a_valid_report_or_refused_with_a_reason(
        (declared, body) in submission(),
        default_tlp in prop::option::of(Just(Tlp::Amber)),
        handling in prop::sample::select(vec![Handling::Strict, Handling::Lenient]),
    ) {
        match reports::decode(declared, &body, default_tlp, 10_000, &SCHEMA, handling) {
            Ok((format, value, warnings)) => {
                check_accepted(declared, format, &value, default_tlp)?;
                prop_assert!(handling == Handling::Lenient || warnings.is_empty());
                for warning in &warnings {
                    prop_assert!(warning.pointer.starts_with('/'), "{warning:?}");
                }
            }
            Err(error) => check_refusal(&error)?,
        }
    }

    #[test]
    fn any_content_type_is_read_or_refused_with_415(
        media in prop_oneof![
            prop::sample::select(vec!["application/json", "application/stix+json;version=2.1", "application/vnd.misp+json"]).prop_map(str::to_owned),
            "(application|text)/(json|stix\\+json|vnd\\.misp\\+json|xml)( ?; ?[a-z]{0,8}=\"?[0-9.a-z]{0,5}\"?){0,3}",
            "[ -~]{0,40}",
        ],
    ) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&media) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        if let Err(error) =
            accord_runtime::json::media_type(&headers).and_then(|media| declared_from(&media))
        {
            prop_assert_eq!(error.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
    }
}
