//! What the native schema cannot check about a report: classification, TLP, the count of indicators (the report as a
//! whole, never lenient), and its parts (categories, sector, indicators, patterns), each of which lenient handling
//! may leave out ([`crate::lenient`]).

use accord_domain::{Tlp, classification, observable, report::IncidentReport, vocabulary};
use accord_runtime::{ApiError, FieldError};

/// Checks what the schema cannot about the report as a whole, never lenient: classification, TLP availability, the
/// number of indicators.
pub(super) fn check_whole(
    report: &IncidentReport,
    default_tlp: Option<Tlp>,
    max_indicators: usize,
) -> Result<(), ApiError> {
    if !classification::is_unclassified(&report.classification) {
        metrics::counter!(crate::metrics::CLASSIFIED_REFUSED).increment(1);
        return Err(ApiError::invalid_field(
            "/classification",
            format!(
                "classified material is never accepted: classification `{}` is not `unclassified`",
                report.classification
            ),
        ));
    }
    if report.tlp.is_none() && default_tlp.is_none() {
        return Err(ApiError::invalid_field(
            "/tlp",
            "required: your organization has no default TLP for unmarked reports",
        ));
    }
    if report.indicators.len() > max_indicators {
        return Err(ApiError::invalid_field(
            "/indicators",
            format!("at most {max_indicators} indicators per report"),
        ));
    }
    Ok(())
}

/// Checks what the schema cannot about the report's parts, each of which lenient handling may leave out: categories
/// and sector from the vocabulary, every indicator's type and value, every pattern.
pub(super) fn field_errors(report: &IncidentReport) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_vocabulary(report, &mut errors);
    for (index, indicator) in report.indicators.iter().enumerate() {
        match observable::canonicalize_declared(indicator.kind.as_deref(), &indicator.value) {
            Ok(_) => {}
            Err(error @ observable::ObservableError::UnknownType(_)) => errors.push(
                FieldError::new(format!("/indicators/{index}/type"), error.to_string()),
            ),
            Err(error) => errors.push(FieldError::new(
                format!("/indicators/{index}/value"),
                error.to_string(),
            )),
        }
    }
    check_patterns(report, &mut errors);
    errors
}

/// The 422 of a report whose parts are invalid, naming each.
pub(super) fn invalid_fields(errors: Vec<FieldError>) -> ApiError {
    let detail = match errors.as_slice() {
        [only] => format!("{}: {}", only.pointer, only.message),
        _ => format!("{} fields are invalid", errors.len()),
    };
    ApiError::Unprocessable { detail, errors }
}

/// Checks that every category and the sector come from the fixed vocabulary (`accord_domain::vocabulary`), so that
/// they cannot carry free text. The message lists the allowed values and never repeats the refused one.
fn check_vocabulary(report: &IncidentReport, errors: &mut Vec<FieldError>) {
    for (index, category) in report.categories.iter().enumerate() {
        if vocabulary::category(category).is_none() {
            errors.push(FieldError::new(
                format!("/categories/{index}"),
                format!(
                    "not a known category; allowed: {}",
                    vocabulary::category_names().join(", ")
                ),
            ));
        }
    }
    if let Some(sector) = &report.sector
        && vocabulary::sector(sector).is_none()
    {
        errors.push(FieldError::new(
            "/sector",
            format!(
                "not a known sector; allowed: {}",
                vocabulary::sector_names().join(", ")
            ),
        ));
    }
}

/// Checks every STIX pattern a report carries: it parses, and the observables it compares with `=` are valid.
fn check_patterns(report: &IncidentReport, errors: &mut Vec<FieldError>) {
    for (index, input) in report.patterns.iter().enumerate() {
        if input.pattern_type != "stix" {
            continue;
        }
        let pointer = format!("/patterns/{index}/pattern");
        let named = input
            .id
            .as_deref()
            .map(|id| format!("{id}: "))
            .unwrap_or_default();
        let pattern = match accord_stix::pattern::parse(&input.pattern) {
            Ok(pattern) => pattern,
            Err(error) => {
                errors.push(FieldError::new(
                    pointer,
                    format!("{named}invalid STIX pattern {error}"),
                ));
                continue;
            }
        };
        for found in pattern.observables() {
            let Some(result) = found.canonicalize() else {
                continue;
            };
            if let Err(error) = result {
                errors.push(FieldError::new(
                    pointer.clone(),
                    format!("{named}`{}`: {error}", found.value),
                ));
            }
        }
    }
}
