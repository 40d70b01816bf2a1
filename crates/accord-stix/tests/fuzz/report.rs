//! What every converted report must satisfy, whichever importer made it.

use std::{collections::HashSet, sync::LazyLock};

use accord_domain::{observable::canonicalize_declared, report::IncidentReport};
use accord_fuzz::proptest::prelude::*;
use serde_json::Value;

static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value =
        serde_json::from_str(accord_domain::schema::INCIDENT_REPORT).expect("the schema is json");
    jsonschema::validator_for(&schema).expect("the schema compiles")
});

/// Checks a converted report: it is unclassified and marked, conforms to the native schema (the gateway validates it
/// next, and a partner must not be refused for what the converter wrote), its indicators are canonical and unique,
/// its TTPs unique, and it holds at most one indicator per `bytes_per_indicator` bytes of the submission.
pub(crate) fn check(
    report: &IncidentReport,
    submission_bytes: usize,
    bytes_per_indicator: usize,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&report.classification, "unclassified");
    prop_assert!(report.tlp.is_some());
    let value = serde_json::to_value(report).expect("a report serializes");
    let errors: Vec<String> = SCHEMA
        .iter_errors(&value)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect();
    prop_assert!(errors.is_empty(), "schema: {errors:?}");
    let mut seen = HashSet::new();
    for indicator in &report.indicators {
        let kind = indicator.kind.as_deref();
        prop_assert!(kind.is_some(), "an imported indicator is typed");
        let canonical = canonicalize_declared(kind, &indicator.value);
        prop_assert_eq!(
            canonical.as_ref().map(|(_, value)| value),
            Ok(&indicator.value),
            "{:?} is canonical",
            indicator
        );
        prop_assert!(
            seen.insert((kind, indicator.value.as_str())),
            "{:?} twice",
            indicator
        );
    }
    let ttps: HashSet<&String> = report.ttps.iter().collect();
    prop_assert_eq!(ttps.len(), report.ttps.len(), "ttps unique");
    prop_assert!(
        report.indicators.len() <= submission_bytes / bytes_per_indicator + 1,
        "{} indicators from {submission_bytes} bytes",
        report.indicators.len()
    );
    Ok(())
}
