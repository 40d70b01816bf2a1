//! Rendering a report under one MoU's [`Profile`] (rule 4 of the crate documentation), and listing what that
//! rendering withholds.
//!
//! [`render`] produces the [`ViewContent`] an agency receives: parts outside the profile are absent, not hidden.
//! [`redactions`] describes the same choices in words for explain.

use accord_domain::{
    Attribution, ContentPart, Indicator, IndicatorPii, IndicatorSource, NormalizedReport,
    ObservableType, PiiKind, PiiMatch, PiiRule, Profile, TextField, ViewContent,
};

use crate::decide::scope_allows;

/// The text that replaces a whole free-text field when its PII ranges cannot be trusted.
pub const WHOLE_FIELD_MARKER: &str = "[redacted]";

/// Returns the content of `report` released under `profile`.
///
/// TLP, `occurred_at`, categories and sector are always present (search filters on them). Title, description and
/// TTPs require `narrative`; indicators require `indicators` and are filtered by the profile's indicator types;
/// the victim block requires `victim` and `pii: share`. Under `pii: redact`, located PII in the title and
/// description is replaced by its marker, or the whole field by [`WHOLE_FIELD_MARKER`] when a range is invalid.
pub fn render(report: &NormalizedReport, profile: &Profile) -> ViewContent {
    let narrative = profile.content.contains(&ContentPart::Narrative);
    let (title, description, ttps) = if narrative {
        (
            Some(released_text(report, profile, TextField::Title)),
            Some(released_text(report, profile, TextField::Description)),
            Some(report.ttps.clone()),
        )
    } else {
        (None, None, None)
    };
    let indicators = if profile.content.contains(&ContentPart::Indicators) {
        released_indicators(report, profile)
    } else {
        Vec::new()
    };
    let victim = if profile.content.contains(&ContentPart::Victim) && profile.pii == PiiRule::Share
    {
        report.victim.clone()
    } else {
        None
    };
    ViewContent {
        partner: partner_label(report, profile),
        tlp: report.tlp,
        occurred_at: report.occurred_at,
        categories: report.categories.clone(),
        sector: report.sector.clone(),
        title,
        description,
        ttps,
        indicators,
        victim,
    }
}

/// Returns, in words, what rendering `report` under `profile` withholds or alters: `partner anonymized`,
/// `narrative withheld`, `2 e-mail addresses redacted in description`, `3 indicators of types not covered
/// withheld`, `victim withheld`. Empty when the report is released in full. For coordinators only.
pub fn redactions(report: &NormalizedReport, profile: &Profile) -> Vec<String> {
    let mut redactions = Vec::new();
    if profile.attribution == Attribution::Anonymous {
        redactions.push("partner anonymized".to_owned());
    }
    if !profile.content.contains(&ContentPart::Narrative) {
        redactions.push("narrative withheld".to_owned());
    } else if profile.pii == PiiRule::Redact {
        for field in [TextField::Title, TextField::Description] {
            redactions.extend(pii_redactions(report, field));
        }
    }
    let num_indicators = report.indicators.len();
    if !profile.content.contains(&ContentPart::Indicators) {
        if num_indicators > 0 {
            redactions.push(format!(
                "{num_indicators} {} withheld",
                plural(num_indicators, "indicator", "indicators")
            ));
        }
    } else {
        let num_text_emails = report
            .indicators
            .iter()
            .filter(|indicator| {
                scope_allows(&profile.indicator_types, indicator.kind.as_str())
                    && !indicator_allowed(profile, indicator)
            })
            .count();
        if profile.pii == PiiRule::Redact {
            redactions.extend(indicator_pii_redactions(report, profile));
        }
        if num_text_emails > 0 {
            redactions.push(format!(
                "{num_text_emails} {} found only in free text withheld (pii: redact)",
                plural(num_text_emails, "e-mail address", "e-mail addresses")
            ));
        }
        let num_withheld = report
            .indicators
            .iter()
            .filter(|indicator| !scope_allows(&profile.indicator_types, indicator.kind.as_str()))
            .count();
        if num_withheld > 0 {
            redactions.push(format!(
                "{num_withheld} {} withheld",
                plural(
                    num_withheld,
                    "indicator of a type not covered",
                    "indicators of types not covered"
                )
            ));
        }
    }
    if report.victim.is_some() {
        if !profile.content.contains(&ContentPart::Victim) {
            redactions.push("victim withheld".to_owned());
        } else if profile.pii == PiiRule::Redact {
            redactions.push("victim withheld (pii: redact)".to_owned());
        }
    }
    redactions
}

/// Returns the partner as released: its id when named, `anonymous` otherwise.
fn partner_label(report: &NormalizedReport, profile: &Profile) -> String {
    match profile.attribution {
        Attribution::Named => report.partner.to_string(),
        Attribution::Anonymous => "anonymous".to_owned(),
    }
}

/// An indicator is released when its type is covered. Under `pii: redact`, e-mail addresses that were only found in
/// free text are withheld too: they may be a victim's or a contact's address (the same text occurrence is redacted),
/// while e-mail indicators the partner declared stay, since they are the threat.
fn indicator_allowed(profile: &Profile, indicator: &Indicator) -> bool {
    if profile.pii == PiiRule::Redact
        && indicator.kind == ObservableType::EmailAddr
        && indicator.source == IndicatorSource::Text
    {
        return false;
    }
    scope_allows(&profile.indicator_types, indicator.kind.as_str())
}

/// Returns the indicators released under `profile` (whose content includes them): those [`indicator_allowed`]
/// passes, and under `pii: redact` an indicator that carries personal data in its value as the normalizer redacted
/// it (the marker in place of the personal part, the id of the redacted value), so that the hidden part is neither
/// shown nor searchable. Two indicators that redact to the same value are released once.
fn released_indicators(report: &NormalizedReport, profile: &Profile) -> Vec<Indicator> {
    let mut released: Vec<Indicator> = Vec::new();
    for indicator in &report.indicators {
        if !indicator_allowed(profile, indicator) {
            continue;
        }
        let indicator = match (profile.pii, indicator_pii(report, indicator)) {
            (PiiRule::Redact, Some(found)) => &found.redacted,
            _ => indicator,
        };
        let known = released
            .iter()
            .any(|other| other.kind == indicator.kind && other.value == indicator.value);
        if !known {
            released.push(indicator.clone());
        }
    }
    released
}

/// Returns the personal data the normalizer located inside `indicator`'s value, if any.
fn indicator_pii<'a>(
    report: &'a NormalizedReport,
    indicator: &Indicator,
) -> Option<&'a IndicatorPii> {
    report
        .indicator_pii
        .iter()
        .find(|found| found.indicator == indicator.id && found.redacted.kind == indicator.kind)
}

/// Returns the explain line for indicators released with personal data redacted under `pii: redact`, if any.
fn indicator_pii_redactions(report: &NormalizedReport, profile: &Profile) -> Option<String> {
    let count = report
        .indicators
        .iter()
        .filter(|indicator| {
            indicator_allowed(profile, indicator) && indicator_pii(report, indicator).is_some()
        })
        .count();
    (count > 0).then(|| {
        format!(
            "{count} {} released with personal data redacted (pii: redact)",
            plural(count, "indicator", "indicators")
        )
    })
}

fn field_text(report: &NormalizedReport, field: TextField) -> &str {
    match field {
        TextField::Title => &report.title,
        TextField::Description => &report.description,
    }
}

fn field_name(field: TextField) -> &'static str {
    match field {
        TextField::Title => "title",
        TextField::Description => "description",
    }
}

/// Returns the text of `field` as released under `profile` (whose content includes the narrative).
fn released_text(report: &NormalizedReport, profile: &Profile, field: TextField) -> String {
    let text = field_text(report, field);
    match profile.pii {
        PiiRule::Share => text.to_owned(),
        PiiRule::Redact => match valid_ranges(text, field, &report.pii) {
            Some(ranges) => redact(text, &ranges),
            None => WHOLE_FIELD_MARKER.to_owned(),
        },
    }
}

/// Returns the PII ranges of `field`, sorted by start, or `None` when any of them is invalid for `text`: empty or
/// reversed, past the end, off a char boundary, or overlapping another.
fn valid_ranges(text: &str, field: TextField, pii: &[PiiMatch]) -> Option<Vec<PiiMatch>> {
    let mut ranges: Vec<PiiMatch> = pii
        .iter()
        .filter(|found| found.field == field)
        .copied()
        .collect();
    ranges.sort_by_key(|found| (found.start, found.end));
    let mut previous_end = 0;
    for found in &ranges {
        let valid = found.start < found.end
            && found.start >= previous_end
            && found.end <= text.len()
            && text.is_char_boundary(found.start)
            && text.is_char_boundary(found.end);
        if !valid {
            return None;
        }
        previous_end = found.end;
    }
    Some(ranges)
}

/// Returns `text` with every (valid, sorted) range replaced by its marker, applied from the end so that earlier
/// offsets stay valid.
fn redact(text: &str, ranges: &[PiiMatch]) -> String {
    let mut redacted = text.to_owned();
    for found in ranges.iter().rev() {
        redacted.replace_range(found.start..found.end, found.kind.marker());
    }
    redacted
}

/// Returns the redaction lines for one field under `pii: redact`.
fn pii_redactions(report: &NormalizedReport, field: TextField) -> Vec<String> {
    let name = field_name(field);
    let Some(ranges) = valid_ranges(field_text(report, field), field, &report.pii) else {
        return vec![format!("{name} redacted entirely (invalid pii ranges)")];
    };
    let mut lines = Vec::new();
    for kind in PiiKind::ALL {
        let (one, many) = kind.describe();
        let count = ranges.iter().filter(|found| found.kind == kind).count();
        if count > 0 {
            lines.push(format!(
                "{count} {} redacted in {name}",
                plural(count, one, many)
            ));
        }
    }
    lines
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

#[cfg(test)]
mod tests;
