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
    Indicator, IndicatorPii, IndicatorSource, NormalizedReport, ObservableType, PatternInput,
    PiiKind, RawReport, Rejection, ReportFormat, TextField, classification,
    observable::{ObservableError, canonicalize_declared},
    report::IncidentReport,
    unique::dedup_by_key,
    vocabulary,
};
use serde::Deserialize;

use crate::{
    extract,
    limits::{IndicatorSet, LimitExceeded, Limits, Refusal},
    locate, pii,
};

/// The `stage` of the rejections written by the normalizer.
pub const STAGE: &str = "normalizer";

/// Normalizes a raw report: canonical, deduplicated indicators with deterministic STIX ids (declared ones first,
/// then those found in the title and description, then the hosts of URLs that carry personal data), categories and
/// sector canonical from [`vocabulary`] (sorted; values outside it dropped), upper-cased TTPs, the personal data
/// located in the title and description and inside indicator values, and where the indicators occur in the title
/// and description. Unbounded: see [`normalize_within`].
///
/// # Errors
/// Returns a [`Rejection`] (stage `normalizer`, `at` = now) when the report cannot be normalized; see the module
/// documentation for the reasons.
#[expect(
    clippy::result_large_err,
    reason = "the rejection is what the caller publishes; the Ok record is larger still, so boxing buys nothing"
)]
pub fn normalize(raw: &RawReport) -> Result<NormalizedReport, Rejection> {
    normalize_within(raw, &Limits::NONE).map_err(|refusal| match refusal {
        Refusal::Invalid(rejection) => *rejection,
        Refusal::TooLarge(exceeded) => too_large(raw, &exceeded),
    })
}

/// Returns the rejection of a report that goes over a limit (reason [`crate::limits::TOO_LARGE`]).
pub fn too_large(raw: &RawReport, exceeded: &LimitExceeded) -> Rejection {
    Rejection {
        report_id: raw.id.clone(),
        partner: Some(raw.partner.clone()),
        stage: STAGE.to_owned(),
        reason: crate::limits::TOO_LARGE.to_owned(),
        detail: format!("{}: {exceeded}", exceeded.pointer()),
        at: chrono::Utc::now(),
    }
}

/// Normalizes a raw report as [`normalize`] does, within `limits` ([`crate::limits`]): the patterns are counted
/// before any is parsed, the indicators as they are found (normalization stops at the first one too many), and the
/// record's JSON once it is built. Work and memory are linear in the report's size.
///
/// # Errors
/// [`Refusal::Invalid`] with the rejection, or [`Refusal::TooLarge`] naming the limit.
pub fn normalize_within(raw: &RawReport, limits: &Limits) -> Result<NormalizedReport, Refusal> {
    let reject = |reason: &str, detail: String| {
        Refusal::Invalid(Box::new(Rejection {
            report_id: raw.id.clone(),
            partner: Some(raw.partner.clone()),
            stage: STAGE.to_owned(),
            reason: reason.to_owned(),
            detail,
            at: chrono::Utc::now(),
        }))
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
    if report.patterns.len() > limits.max_patterns {
        return Err(Refusal::TooLarge(LimitExceeded::Patterns {
            found: report.patterns.len(),
            max: limits.max_patterns,
        }));
    }
    let mut indicators = collect_indicators(raw.format, &report, limits, &reject)?;
    let indicator_pii = indicator_pii(&mut indicators).map_err(Refusal::TooLarge)?;
    let indicators = indicators.into_vec();
    let indicator_spans = locate::spans(&report.title, &report.description, &indicators);
    let mut pii = pii::locate(TextField::Title, &report.title);
    pii.extend(pii::locate(TextField::Description, &report.description));

    let (categories, sector) = vocabulary_terms(&report);
    let ttps = ttps(&report.ttps);

    let normalized = NormalizedReport {
        revision: raw.revision.clone(),
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
        indicators,
        pii,
        indicator_spans,
        indicator_pii,
    };
    if limits.max_normalized_bytes != usize::MAX {
        check_size(normalized_size(&normalized), limits)?;
    }
    Ok(normalized)
}

/// Normalizes a raw report as [`normalize_within`] does and returns it with the size of its JSON
/// ([`normalized_size`]), measured whatever the limits: what the gateway counts against a partner's daily quota.
///
/// # Errors
/// As [`normalize_within`].
pub fn normalize_measured(
    raw: &RawReport,
    limits: &Limits,
) -> Result<(NormalizedReport, usize), Refusal> {
    let unchecked = Limits {
        max_normalized_bytes: usize::MAX,
        ..*limits
    };
    let normalized = normalize_within(raw, &unchecked)?;
    let size = normalized_size(&normalized);
    check_size(size, limits)?;
    Ok((normalized, size))
}

/// Returns the size in bytes of a normalized report's JSON, counted as it is written: nothing is kept.
pub fn normalized_size(normalized: &NormalizedReport) -> usize {
    /// A writer that only counts.
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, normalized) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// Checks the size of a normalized record's JSON, `found` bytes, against `limits.max_normalized_bytes`.
fn check_size(found: usize, limits: &Limits) -> Result<(), Refusal> {
    if found <= limits.max_normalized_bytes {
        return Ok(());
    }
    Err(Refusal::TooLarge(LimitExceeded::NormalizedBytes {
        found,
        max: limits.max_normalized_bytes,
    }))
}

/// Collects a report's indicators, first source first: declared (validated), from STIX patterns, then found in the
/// title and description; each counted against `limits.max_indicators` as it is added. `reject` builds the refusal
/// of an invalid indicator from its reason and detail.
fn collect_indicators(
    format: ReportFormat,
    report: &IncidentReport,
    limits: &Limits,
    reject: &dyn Fn(&str, String) -> Refusal,
) -> Result<IndicatorSet, Refusal> {
    // A bundle's indicators all come from its patterns and observables; a MISP event's are declared attributes.
    let declared_source = match format {
        ReportFormat::Stix => IndicatorSource::Stix,
        ReportFormat::Native | ReportFormat::Misp => IndicatorSource::Declared,
    };
    let mut indicators = IndicatorSet::new(limits.max_indicators);
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
        indicators
            .push(kind, value, declared_source)
            .map_err(Refusal::TooLarge)?;
    }
    for (index, input) in report.patterns.iter().enumerate() {
        let found = pattern_indicators(input).map_err(|detail| {
            reject(
                "invalid-indicator",
                format!("/patterns/{index}/pattern: {detail}"),
            )
        })?;
        for (kind, value) in found {
            indicators
                .push(kind, value, IndicatorSource::Stix)
                .map_err(Refusal::TooLarge)?;
        }
    }
    for text in [&report.title, &report.description] {
        for (kind, value) in extract::indicators(text) {
            indicators
                .push(kind, value, IndicatorSource::Text)
                .map_err(Refusal::TooLarge)?;
        }
    }
    Ok(indicators)
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

/// Returns the report's categories and sector, canonical from [`vocabulary`]: categories sorted and deduplicated,
/// values outside the vocabulary dropped.
fn vocabulary_terms(report: &IncidentReport) -> (Vec<String>, Option<String>) {
    // The gateway refuses values outside the vocabulary; a record accepted before it existed loses them here, so
    // that a category or sector can never carry free text into a view.
    let mut categories: Vec<String> = report
        .categories
        .iter()
        .filter_map(|category| vocabulary::category(category))
        .map(str::to_owned)
        .collect();
    categories.sort();
    categories.dedup();
    let sector = report
        .sector
        .as_deref()
        .and_then(vocabulary::sector)
        .map(str::to_owned);
    (categories, sector)
}

/// Returns the ATT&CK technique ids upper-cased, deduplicated (linear), in their order.
fn ttps(input: &[String]) -> Vec<String> {
    let mut ttps: Vec<String> = input
        .iter()
        .map(|ttp| ttp.trim().to_uppercase())
        .filter(|ttp| !ttp.is_empty())
        .collect();
    dedup_by_key(&mut ttps, Clone::clone);
    ttps
}

/// Locates the personal data inside indicator values ([`pii::in_indicator`]) and returns, for each indicator that
/// carries some, the indicator `pii: redact` releases instead. The host of such a URL (its domain or IP address)
/// is added as an indicator of its own ([`IndicatorSource::Derived`]) unless it is already there: it carries no
/// personal data and stays searchable when the URL is redacted.
///
/// # Errors
/// [`LimitExceeded::Indicators`] when a derived host is one indicator too many.
fn indicator_pii(indicators: &mut IndicatorSet) -> Result<Vec<IndicatorPii>, LimitExceeded> {
    let mut found = Vec::new();
    let mut hosts = Vec::new();
    for indicator in indicators.as_slice() {
        let ranges = pii::in_indicator(indicator);
        if ranges.is_empty() {
            continue;
        }
        let mut value = indicator.value.clone();
        for (kind, start, end) in ranges.iter().rev() {
            value.replace_range(*start..*end, kind.marker());
        }
        let mut kinds: Vec<PiiKind> = ranges.iter().map(|(kind, _, _)| *kind).collect();
        kinds.sort();
        kinds.dedup();
        found.push(IndicatorPii {
            indicator: indicator.id.clone(),
            kinds,
            redacted: Indicator {
                id: accord_stix::observable_id(indicator.kind, &value),
                kind: indicator.kind,
                value,
                source: indicator.source,
            },
        });
        if indicator.kind == ObservableType::Url
            && let Some(host) = url_host(&indicator.value)
        {
            hosts.push(host);
        }
    }
    for (kind, value) in hosts {
        indicators.push(kind, value, IndicatorSource::Derived)?;
    }
    Ok(found)
}

/// Returns the host of a canonical URL as a typed, canonical indicator (a domain name or an IP address).
fn url_host(url: &str) -> Option<(ObservableType, String)> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next()?,
        None => host_port.split(':').next()?,
    };
    let (kind, value) = accord_domain::observable::canonicalize(None, host).ok()?;
    matches!(
        kind,
        ObservableType::DomainName | ObservableType::Ipv4Addr | ObservableType::Ipv6Addr
    )
    .then_some((kind, value))
}

#[cfg(test)]
mod tests;
