//! Rendering a report under one MoU's [`Profile`] (rule 4 of the crate documentation), and listing what that
//! rendering withholds.
//!
//! Every rendering goes through one [`Plan`]: which indicators are released, and for each free-text field either
//! the cuts to make (a PII range or an occurrence of a withheld indicator, each replaced by its marker) or the whole
//! field replaced by [`WHOLE_FIELD_MARKER`] when the ranges cannot be trusted. [`render`] applies the plan,
//! [`redactions`] describes it in words for explain, and the choice among several MoUs (`crate::choose`) measures
//! it, so the three can never disagree.

use std::collections::HashSet;

use accord_domain::{
    Attribution, ContentPart, Indicator, IndicatorPii, IndicatorSource, NormalizedReport,
    ObservableType, PiiKind, PiiMatch, PiiRule, Profile, TextField, ViewContent,
};

use crate::decide::scope_allows;

/// The text that replaces a whole free-text field when its PII ranges or indicator positions cannot be trusted.
pub const WHOLE_FIELD_MARKER: &str = "[redacted]";

/// The text that replaces every occurrence of a withheld indicator in a released free-text field.
pub const WITHHELD_MARKER: &str = "[withheld:indicator]";

/// One replacement in a text field: the byte range `start..end` becomes `marker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) marker: &'static str,
}

/// How one free-text field is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldPlan {
    /// Replaced entirely by [`WHOLE_FIELD_MARKER`], for this reason (a range could not be trusted).
    Whole(&'static str),
    /// These cuts, sorted and disjoint.
    Cuts(Vec<Cut>),
}

/// Everything rendering a report under one profile decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Per indicator of the report (same order): whether it is released.
    pub(crate) released: Vec<bool>,
    /// The title and description plans, when the narrative is released.
    pub(crate) narrative: Option<[FieldPlan; 2]>,
    /// Whether the victim block is released (the report has one, `victim` and `pii: share`).
    pub(crate) victim: bool,
    /// Whether the partner is named.
    pub(crate) named: bool,
    /// Whether personal data inside indicator values is redacted (`pii: redact`): such an indicator is released as
    /// the normalizer redacted it ([`IndicatorPii::redacted`]).
    pub(crate) redact_indicator_pii: bool,
}

impl Plan {
    /// Returns whether the plan releases anything beyond the metadata: an indicator or the narrative. A candidate
    /// that releases neither yields no view (a report none of whose indicators is granted travels only with its
    /// narrative).
    pub(crate) fn releases_anything(&self) -> bool {
        releases_anything(self.narrative.is_some(), &self.released)
    }
}

/// Returns whether a rendering that releases the narrative or not (`narrative`) and the indicators flagged in
/// `released` releases anything beyond the metadata (see [`Plan::releases_anything`]).
fn releases_anything(narrative: bool, released: &[bool]) -> bool {
    narrative || released.iter().any(|released| *released)
}

/// Returns, per indicator of `report` (same order), whether `profile` releases it.
fn released_flags(report: &NormalizedReport, profile: &Profile) -> Vec<bool> {
    report
        .indicators
        .iter()
        .map(|indicator| indicator_allowed(profile, indicator))
        .collect()
}

/// Returns the indicators the rendering of `report` under `profile` releases, as [`render`] releases them, without
/// rendering anything else; `None` when that rendering releases nothing beyond the metadata (it yields no view).
pub(crate) fn released_under<'r>(
    report: &'r NormalizedReport,
    profile: &Profile,
) -> Option<Vec<&'r Indicator>> {
    let released = released_flags(report, profile);
    let narrative = profile.content.contains(&ContentPart::Narrative);
    releases_anything(narrative, &released)
        .then(|| released_indicators(report, &released, profile.pii == PiiRule::Redact))
}

/// Returns the indicators `plan` releases of `report`, as [`render_plan`] releases them.
pub(crate) fn plan_indicators<'r>(report: &'r NormalizedReport, plan: &Plan) -> Vec<&'r Indicator> {
    released_indicators(report, &plan.released, plan.redact_indicator_pii)
}

/// Returns the rendering plan of `report` under `profile`.
pub(crate) fn plan(report: &NormalizedReport, profile: &Profile) -> Plan {
    let released = released_flags(report, profile);
    let narrative = profile.content.contains(&ContentPart::Narrative).then(|| {
        [TextField::Title, TextField::Description]
            .map(|field| field_plan(report, profile, &released, field))
    });
    Plan {
        victim: report.victim.is_some()
            && profile.content.contains(&ContentPart::Victim)
            && profile.pii == PiiRule::Share,
        named: profile.attribution == Attribution::Named,
        redact_indicator_pii: profile.pii == PiiRule::Redact,
        released,
        narrative,
    }
}

/// Returns the content of `report` released under `profile`.
///
/// TLP, `occurred_at`, categories and sector are always present (search filters on them). Title, description and
/// TTPs require `narrative`; indicators require `indicators` and are filtered by the profile's indicator types;
/// the victim block requires `victim` and `pii: share`. In the title and description, every occurrence of an
/// indicator this rendering does not release becomes [`WITHHELD_MARKER`], and under `pii: redact` located PII
/// becomes its marker; a field whose ranges cannot be trusted becomes [`WHOLE_FIELD_MARKER`].
pub fn render(report: &NormalizedReport, profile: &Profile) -> ViewContent {
    render_plan(report, &plan(report, profile))
}

/// Returns the content of `report` as `plan` releases it.
pub(crate) fn render_plan(report: &NormalizedReport, plan: &Plan) -> ViewContent {
    let (title, description, ttps) = match &plan.narrative {
        Some([title, description]) => (
            Some(apply(&report.title, title)),
            Some(apply(&report.description, description)),
            Some(report.ttps.clone()),
        ),
        None => (None, None, None),
    };
    let indicators = plan_indicators(report, plan).into_iter().cloned().collect();
    ViewContent {
        partner: if plan.named {
            report.partner.to_string()
        } else {
            "anonymous".to_owned()
        },
        tlp: report.tlp,
        occurred_at: report.occurred_at,
        categories: report.categories.clone(),
        sector: report.sector.clone(),
        title,
        description,
        ttps,
        indicators,
        victim: plan.victim.then(|| report.victim.clone()).flatten(),
    }
}

/// Returns, in words, what rendering `report` under `profile` withholds or alters: `partner anonymized`,
/// `narrative withheld`, `2 e-mail addresses redacted in description`, `3 indicators of types not covered
/// withheld`, `2 occurrences of withheld indicators replaced in description`, `victim withheld`. Empty when the
/// report is released in full. For coordinators only.
pub fn redactions(report: &NormalizedReport, profile: &Profile) -> Vec<String> {
    let plan = plan(report, profile);
    let mut redactions = Vec::new();
    if profile.attribution == Attribution::Anonymous {
        redactions.push("partner anonymized".to_owned());
    }
    match &plan.narrative {
        None => redactions.push("narrative withheld".to_owned()),
        Some(fields) => {
            for (field, field_plan) in [TextField::Title, TextField::Description]
                .into_iter()
                .zip(fields)
            {
                redactions.extend(text_redactions(report, profile, field, field_plan));
            }
        }
    }
    redactions.extend(indicator_redactions(report, profile));
    if profile.pii == PiiRule::Redact {
        redactions.extend(indicator_pii_redactions(report, profile));
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

/// Returns the lines about withheld indicators.
fn indicator_redactions(report: &NormalizedReport, profile: &Profile) -> Vec<String> {
    let mut lines = Vec::new();
    let num_indicators = report.indicators.len();
    if !profile.content.contains(&ContentPart::Indicators) {
        if num_indicators > 0 {
            lines.push(format!(
                "{num_indicators} {} withheld",
                plural(num_indicators, "indicator", "indicators")
            ));
        }
        return lines;
    }
    let num_text_emails = report
        .indicators
        .iter()
        .filter(|indicator| {
            scope_allows(&profile.indicator_types, indicator.kind.as_str())
                && !indicator_allowed(profile, indicator)
        })
        .count();
    if num_text_emails > 0 {
        lines.push(format!(
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
        lines.push(format!(
            "{num_withheld} {} withheld",
            plural(
                num_withheld,
                "indicator of a type not covered",
                "indicators of types not covered"
            )
        ));
    }
    lines
}

/// An indicator is released when the profile releases indicators and covers its type. Under `pii: redact`, e-mail
/// addresses that were only found in free text are withheld too: they may be a victim's or a contact's address (the
/// same text occurrence is redacted), while e-mail indicators the partner declared stay, since they are the threat.
fn indicator_allowed(profile: &Profile, indicator: &Indicator) -> bool {
    if !profile.content.contains(&ContentPart::Indicators) {
        return false;
    }
    if profile.pii == PiiRule::Redact
        && indicator.kind == ObservableType::EmailAddr
        && indicator.source == IndicatorSource::Text
    {
        return false;
    }
    scope_allows(&profile.indicator_types, indicator.kind.as_str())
}

/// Returns the indicators flagged in `flags`: with `redact_pii` (`pii: redact`) an indicator that carries personal
/// data in its value as the normalizer redacted it (the marker in place of the personal part, the id of the redacted
/// value), so that the hidden part is neither shown nor searchable. Two indicators that redact to the same value are
/// released once.
fn released_indicators<'r>(
    report: &'r NormalizedReport,
    flags: &[bool],
    redact_pii: bool,
) -> Vec<&'r Indicator> {
    let mut released: Vec<&Indicator> = Vec::new();
    for (indicator, _) in report
        .indicators
        .iter()
        .zip(flags)
        .filter(|(_, released)| **released)
    {
        let indicator = match indicator_pii(report, indicator) {
            Some(found) if redact_pii => &found.redacted,
            _ => indicator,
        };
        let known = released
            .iter()
            .any(|other| other.kind == indicator.kind && other.value == indicator.value);
        if !known {
            released.push(indicator);
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

pub(crate) fn field_text(report: &NormalizedReport, field: TextField) -> &str {
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

/// Returns the plan of one free-text field: the PII ranges under `pii: redact`, and every occurrence of an indicator
/// that is not released. A span naming an indicator the report does not release (or does not have) is cut: only
/// released indicators may stay in the text. The whole field goes when a range is invalid, or when an indicator is
/// withheld and the record does not say where indicators occur (a record written before positions were kept).
fn field_plan(
    report: &NormalizedReport,
    profile: &Profile,
    released: &[bool],
    field: TextField,
) -> FieldPlan {
    let text = field_text(report, field);
    let mut cuts = Vec::new();
    if profile.pii == PiiRule::Redact {
        let Some(ranges) = valid_ranges(text, field, &report.pii) else {
            return FieldPlan::Whole("invalid pii ranges");
        };
        cuts.extend(ranges.iter().map(|found| Cut {
            start: found.start,
            end: found.end,
            marker: found.kind.marker(),
        }));
    }
    let released_values: HashSet<(ObservableType, &str)> = report
        .indicators
        .iter()
        .zip(released)
        .filter(|(_, released)| **released)
        .map(|(indicator, _)| (indicator.kind, indicator.value.as_str()))
        .collect();
    let any_withheld = released.iter().any(|released| !*released);
    match &report.indicator_spans {
        None if any_withheld => return FieldPlan::Whole("indicator positions unknown"),
        None => {}
        Some(spans) => {
            for span in spans.iter().filter(|span| span.field == field) {
                if released_values.contains(&(span.kind, span.value.as_str())) {
                    continue;
                }
                if !is_valid_range(text, span.start, span.end) {
                    return FieldPlan::Whole("invalid indicator positions");
                }
                cuts.push(Cut {
                    start: span.start,
                    end: span.end,
                    marker: WITHHELD_MARKER,
                });
            }
        }
    }
    FieldPlan::Cuts(merge(cuts))
}

/// Returns whether `start..end` is a non-empty range of `text` on char boundaries.
fn is_valid_range(text: &str, start: usize, end: usize) -> bool {
    start < end && end <= text.len() && text.is_char_boundary(start) && text.is_char_boundary(end)
}

/// Sorts cuts and merges overlapping ones (a withheld e-mail indicator is also PII; a withheld domain may lie inside a
/// withheld URL). A merged cut carries a PII marker when one of its parts does, else [`WITHHELD_MARKER`].
fn merge(mut cuts: Vec<Cut>) -> Vec<Cut> {
    cuts.sort_by_key(|cut| (cut.start, cut.end));
    let mut merged: Vec<Cut> = Vec::with_capacity(cuts.len());
    for cut in cuts {
        match merged.last_mut() {
            Some(last) if cut.start < last.end => {
                last.end = last.end.max(cut.end);
                if last.marker == WITHHELD_MARKER {
                    last.marker = cut.marker;
                }
            }
            _ => merged.push(cut),
        }
    }
    merged
}

/// Returns `text` as `plan` releases it.
fn apply(text: &str, plan: &FieldPlan) -> String {
    let FieldPlan::Cuts(cuts) = plan else {
        return WHOLE_FIELD_MARKER.to_owned();
    };
    let mut released = String::with_capacity(text.len());
    let mut position = 0;
    for cut in cuts {
        released.push_str(&text[position..cut.start]);
        released.push_str(cut.marker);
        position = cut.end;
    }
    released.push_str(&text[position..]);
    released
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
        if found.start < previous_end || !is_valid_range(text, found.start, found.end) {
            return None;
        }
        previous_end = found.end;
    }
    Some(ranges)
}

/// Returns the redaction lines of one released text field.
fn text_redactions(
    report: &NormalizedReport,
    profile: &Profile,
    field: TextField,
    plan: &FieldPlan,
) -> Vec<String> {
    let name = field_name(field);
    let cuts = match plan {
        FieldPlan::Whole(reason) => return vec![format!("{name} redacted entirely ({reason})")],
        FieldPlan::Cuts(cuts) => cuts,
    };
    let mut lines = Vec::new();
    if profile.pii == PiiRule::Redact {
        let ranges =
            valid_ranges(field_text(report, field), field, &report.pii).unwrap_or_default();
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
    }
    let withheld = cuts
        .iter()
        .filter(|cut| cut.marker == WITHHELD_MARKER)
        .count();
    if withheld > 0 {
        lines.push(format!(
            "{withheld} {} of withheld indicators replaced in {name}",
            plural(withheld, "occurrence", "occurrences")
        ));
    }
    lines
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

#[cfg(test)]
mod tests;
