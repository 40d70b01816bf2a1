//! The pure transformation of a raw report into the canonical record, or its rejection.
//!
//! Every raw payload is a native [`IncidentReport`]: the gateway converts STIX bundles and MISP events before they
//! reach the bus, and [`RawReport::format`] only says where a report came from (a bundle's indicators get the source
//! [`IndicatorSource::Stix`]). Checks, in order: the payload decodes as an [`IncidentReport`], the classification is
//! `unclassified`, a TLP applies (declared or the partner's default), every declared indicator is valid, and every
//! STIX pattern parses and names valid observables (its exact observables become indicators with the source
//! [`IndicatorSource::Stix`]). Each failure is a [`Rejection`] with a stable `reason`: `undecodable`, `classified`,
//! `missing-tlp`, `invalid-indicator`.
//!
//! Free text (title, description) is kept exactly as written, defanged indicators included: refanging prose would
//! turn `hxxp://evil[.]com` back into a live link in every released view, and the PII byte ranges of
//! [`accord_domain::PiiMatch`] index the text as stored. The indicators found in it are refanged and canonical.

use accord_domain::{
    Indicator, IndicatorSource, NormalizedReport, ObservableType, PatternInput, RawReport,
    Rejection, ReportFormat, TextField, classification,
    observable::{ObservableError, canonicalize_declared},
    report::IncidentReport,
    unique::dedup_by_key,
};
use serde::Deserialize;

use crate::{extract, pii};

/// The `stage` of the rejections written by the normalizer.
pub const STAGE: &str = "normalizer";

/// Normalizes a raw report: canonical, deduplicated indicators with deterministic STIX ids (declared ones first,
/// then those found in the title and description), lower-cased sorted categories, lower-cased sector, upper-cased
/// TTPs, and the personal data located in the title and description.
///
/// # Errors
/// Returns a [`Rejection`] (stage `normalizer`, `at` = now) when the report cannot be normalized; see the module
/// documentation for the reasons.
#[expect(
    clippy::result_large_err,
    reason = "the rejection is what the caller publishes; the Ok record is larger still, so boxing buys nothing"
)]
pub fn normalize(raw: &RawReport) -> Result<NormalizedReport, Rejection> {
    let reject = |reason: &str, detail: String| Rejection {
        report_id: raw.id.clone(),
        partner: Some(raw.partner.clone()),
        stage: STAGE.to_owned(),
        reason: reason.to_owned(),
        detail,
        at: chrono::Utc::now(),
    };
    let report = IncidentReport::deserialize(&raw.payload).map_err(|error| {
        reject(
            "undecodable",
            format!("the payload is not a native incident report: {error}"),
        )
    })?;
    if !classification::is_unclassified(&report.classification) {
        let detail = format!(
            "/classification: `{}` is not unclassified",
            report.classification
        );
        return Err(reject("classified", detail));
    }
    let Some(tlp) = report.tlp.or(raw.default_tlp) else {
        let detail =
            "/tlp: the report carries no TLP and its partner has no default TLP".to_owned();
        return Err(reject("missing-tlp", detail));
    };

    // A bundle's indicators all come from its patterns and observables; a MISP event's are declared attributes.
    let declared_source = match raw.format {
        ReportFormat::Stix => IndicatorSource::Stix,
        ReportFormat::Native | ReportFormat::Misp => IndicatorSource::Declared,
    };
    let mut candidates: Vec<(ObservableType, String, IndicatorSource)> = Vec::new();
    for (index, input) in report.indicators.iter().enumerate() {
        // The declared name, not just its type: `md5` only accepts a digest, `filename` only a file name.
        let (kind, value) =
            canonicalize_declared(input.kind.as_deref(), &input.value).map_err(|error| {
                let field = match error {
                    ObservableError::UnknownType(_) => "type",
                    _ => "value",
                };
                reject(
                    "invalid-indicator",
                    format!("/indicators/{index}/{field}: {error}"),
                )
            })?;
        candidates.push((kind, value, declared_source));
    }
    for (index, input) in report.patterns.iter().enumerate() {
        for (kind, value) in pattern_indicators(input).map_err(|detail| {
            reject(
                "invalid-indicator",
                format!("/patterns/{index}/pattern: {detail}"),
            )
        })? {
            candidates.push((kind, value, IndicatorSource::Stix));
        }
    }
    for text in [&report.title, &report.description] {
        for (kind, value) in extract::indicators(text) {
            candidates.push((kind, value, IndicatorSource::Text));
        }
    }

    let mut pii = pii::locate(TextField::Title, &report.title);
    pii.extend(pii::locate(TextField::Description, &report.description));

    let mut categories: Vec<String> = report
        .categories
        .iter()
        .map(|category| category.trim().to_lowercase())
        .filter(|category| !category.is_empty())
        .collect();
    categories.sort();
    categories.dedup();
    let sector = report
        .sector
        .as_deref()
        .map(|sector| sector.trim().to_lowercase())
        .filter(|sector| !sector.is_empty());
    let mut ttps: Vec<String> = report
        .ttps
        .iter()
        .map(|ttp| ttp.trim().to_uppercase())
        .filter(|ttp| !ttp.is_empty())
        .collect();
    dedup_by_key(&mut ttps, Clone::clone);

    Ok(NormalizedReport {
        id: raw.id.clone(),
        partner: raw.partner.clone(),
        received_at: raw.received_at,
        occurred_at: report.occurred_at,
        tlp,
        title: report.title,
        description: report.description,
        categories,
        sector,
        ttps,
        victim: report.victim,
        indicators: unique_indicators(candidates),
        pii,
    })
}

/// Returns the canonical exact observables of a STIX pattern (none for other pattern types, none for the kinds
/// Accord does not index, such as SSDEEP hashes, and none for a `file:name` that reads as a digest), or why the
/// pattern or a value is invalid.
fn pattern_indicators(input: &PatternInput) -> Result<Vec<(ObservableType, String)>, String> {
    if input.pattern_type != "stix" {
        return Ok(Vec::new());
    }
    let pattern = accord_stix::pattern::parse(&input.pattern)
        .map_err(|error| format!("invalid STIX pattern {error}"))?;
    let mut found = Vec::new();
    for observable in pattern.observables() {
        let Some(result) = observable.canonicalize() else {
            continue;
        };
        let canonical = result.map_err(|error| format!("`{}`: {error}", observable.value))?;
        found.push(canonical);
    }
    Ok(found)
}

/// Keeps the first candidate of each type and value (so the first source wins) and gives each its deterministic STIX
/// id. Linear in the number of candidates: a submission can carry hundreds of thousands (declared, from patterns,
/// from text), and a scan of the kept list per candidate made normalization quadratic.
fn unique_indicators(
    mut candidates: Vec<(ObservableType, String, IndicatorSource)>,
) -> Vec<Indicator> {
    dedup_by_key(&mut candidates, |(kind, value, _)| (*kind, value.clone()));
    candidates
        .into_iter()
        .map(|(kind, value, source)| Indicator {
            id: accord_stix::observable_id(kind, &value),
            kind,
            value,
            source,
        })
        .collect()
}

#[cfg(test)]
mod tests;
