//! Removing retracted indicator values from a stored report: the indicators go (with their personal-data
//! redactions), and every place the title or description spells them (their located spans) is replaced by
//! [`MARKER`], so that neither a lookup nor a free-text search finds them. A personal-data range that touches a
//! removed span goes with it (never half a redaction); an indicator span that overlaps a removed one is dropped (its
//! text is gone). Offsets of the ranges kept are moved to the new text.
//!
//! A record without located spans (written before the normalizer located them) keeps its text: nothing says where
//! the values are, and its renderer already treats such text as untrusted.

use std::collections::HashSet;

use accord_domain::{IndicatorSpan, NormalizedReport, ObservableType, PiiMatch, TextField};

/// What replaces a retracted value in free text.
pub(crate) const MARKER: &str = "[retracted]";

/// Removes `values` from `report`; returns whether anything changed.
pub(crate) fn strip(
    report: &mut NormalizedReport,
    values: &super::retracted_values::Values,
) -> bool {
    let gone = |kind: ObservableType, value: &str| values.contains(&(kind, value.to_owned()));
    let removed: HashSet<String> = report
        .indicators
        .iter()
        .filter(|indicator| gone(indicator.kind, &indicator.value))
        .map(|indicator| indicator.id.clone())
        .collect();
    let spelled = report
        .indicator_spans
        .as_ref()
        .is_some_and(|spans| spans.iter().any(|span| gone(span.kind, &span.value)));
    if removed.is_empty() && !spelled {
        return false;
    }
    report
        .indicators
        .retain(|indicator| !removed.contains(&indicator.id));
    report
        .indicator_pii
        .retain(|pii| !removed.contains(&pii.indicator));
    let Some(spans) = report.indicator_spans.take() else {
        return true;
    };
    let (cut, kept): (Vec<IndicatorSpan>, Vec<IndicatorSpan>) = spans
        .into_iter()
        .partition(|span| gone(span.kind, &span.value));
    let mut spans = Vec::with_capacity(kept.len());
    let mut pii = Vec::with_capacity(report.pii.len());
    for field in [TextField::Title, TextField::Description] {
        let cuts = widen(
            cut.iter()
                .filter(|span| span.field == field)
                .map(|span| (span.start, span.end))
                .collect(),
            report.pii.iter().filter(|m| m.field == field),
        );
        let text = match field {
            TextField::Title => &mut report.title,
            TextField::Description => &mut report.description,
        };
        *text = rewrite(text, &cuts);
        for span in kept.iter().filter(|span| span.field == field) {
            if let Some((start, end)) = moved(&cuts, span.start, span.end) {
                spans.push(IndicatorSpan {
                    start,
                    end,
                    ..span.clone()
                });
            }
        }
        for found in report.pii.iter().filter(|m| m.field == field) {
            if let Some((start, end)) = moved(&cuts, found.start, found.end) {
                pii.push(PiiMatch {
                    start,
                    end,
                    ..*found
                });
            }
        }
    }
    report.indicator_spans = Some(spans);
    report.pii = pii;
    true
}

/// Returns the ranges to cut, sorted and disjoint: `cuts` merged with every personal-data range that touches one.
fn widen<'a>(
    mut cuts: Vec<(usize, usize)>,
    pii: impl Iterator<Item = &'a PiiMatch> + Clone,
) -> Vec<(usize, usize)> {
    loop {
        cuts.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(cuts.len());
        for (start, end) in cuts.drain(..) {
            match merged.last_mut() {
                Some(last) if start < last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let mut grown = false;
        for found in pii.clone() {
            for cut in &mut merged {
                if overlaps(*cut, found.start, found.end)
                    && (found.start < cut.0 || found.end > cut.1)
                {
                    *cut = (cut.0.min(found.start), cut.1.max(found.end));
                    grown = true;
                }
            }
        }
        if !grown {
            return merged;
        }
        cuts = merged;
    }
}

fn overlaps(cut: (usize, usize), start: usize, end: usize) -> bool {
    start < cut.1 && cut.0 < end
}

/// Returns `text` with each cut replaced by [`MARKER`]. Cuts lie on char boundaries (spans and personal-data
/// ranges do); a cut that does not is skipped whole rather than split a character.
fn rewrite(text: &str, cuts: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for &(start, end) in cuts {
        let (Some(before), Some(_)) = (text.get(at..start), text.get(start..end.min(text.len())))
        else {
            continue;
        };
        out.push_str(before);
        out.push_str(MARKER);
        at = end.min(text.len());
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Returns where a range outside every cut lies in the rewritten text, or `None` when it overlaps a cut.
fn moved(cuts: &[(usize, usize)], start: usize, end: usize) -> Option<(usize, usize)> {
    if cuts.iter().any(|&cut| overlaps(cut, start, end)) {
        return None;
    }
    let shift = |position: usize| -> usize {
        cuts.iter()
            .filter(|cut| cut.1 <= position)
            .fold(position, |position, cut| {
                position - (cut.1 - cut.0) + MARKER.len()
            })
    };
    Some((shift(start), shift(end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retracted_value_leaves_the_text_and_later_ranges_move() {
        let text = "C2 at 45.155.205[.]172 and evil.com, mail bob@example.org";
        let ip = (6, 22);
        let domain = (27, 35);
        let email = (42, 57);
        let cuts = widen(vec![ip], std::iter::empty());
        let rewritten = rewrite(text, &cuts);
        assert_eq!(
            rewritten,
            "C2 at [retracted] and evil.com, mail bob@example.org"
        );
        let (start, end) = moved(&cuts, domain.0, domain.1).unwrap();
        assert_eq!(&rewritten[start..end], "evil.com");
        let (start, end) = moved(&cuts, email.0, email.1).unwrap();
        assert_eq!(&rewritten[start..end], "bob@example.org");
        assert_eq!(moved(&cuts, 10, 12), None);
    }

    #[test]
    fn personal_data_touching_a_cut_goes_with_it() {
        let pii = PiiMatch {
            kind: accord_domain::PiiKind::Email,
            field: TextField::Description,
            start: 4,
            end: 20,
        };
        let cuts = widen(vec![(10, 24)], std::iter::once(&pii));
        assert_eq!(cuts, vec![(4, 24)]);
    }

    #[test]
    fn strip_removes_the_indicator_and_its_spelling_and_keeps_the_rest() {
        let mut report = crate::store::tests::report("bank-a");
        report.description = "Seen 192.0.2[.]44 then evil.example".to_owned();
        let indicator = |kind, value: &str| accord_domain::Indicator {
            id: format!("{kind}--{value}"),
            kind,
            value: value.to_owned(),
            source: accord_domain::IndicatorSource::Text,
        };
        report.indicators = vec![
            indicator(ObservableType::Ipv4Addr, "192.0.2.44"),
            indicator(ObservableType::DomainName, "evil.example"),
        ];
        let span = |start, end, kind, value: &str| IndicatorSpan {
            field: TextField::Description,
            start,
            end,
            kind,
            value: value.to_owned(),
        };
        report.indicator_spans = Some(vec![
            span(5, 17, ObservableType::Ipv4Addr, "192.0.2.44"),
            span(23, 35, ObservableType::DomainName, "evil.example"),
        ]);
        let values = HashSet::from([(ObservableType::Ipv4Addr, "192.0.2.44".to_owned())]);
        assert!(strip(&mut report, &values));
        assert_eq!(report.description, "Seen [retracted] then evil.example");
        assert_eq!(report.indicators.len(), 1);
        let spans = report.indicator_spans.as_ref().unwrap();
        assert_eq!(spans.len(), 1);
        assert_eq!(
            &report.description[spans[0].start..spans[0].end],
            "evil.example"
        );
        assert!(!strip(&mut report, &values), "nothing left to remove");
    }
}
