//! Where a report's indicators occur in its title and description, so that the enforcer can replace every occurrence
//! of an indicator an MoU withholds (`accord_policy`: "withholding leaves no trace").
//!
//! Two sources, both as byte ranges of the text *as stored*:
//! - the extractor's occurrences ([`crate::extract::occurrences`]): indicators in prose in any spelling it reads
//!   (defanged, upper-case, non-canonical IPv6), mapped back through refanging;
//! - every indicator of the report (declared, from STIX, from text) searched literally, ASCII case-insensitively, in
//!   the refanged text (so `evil[.]com` is found for `evil.com`), at token boundaries (`10.0.0.1` is not found inside
//!   `10.0.0.12`): this finds what the extractor never reads, such as a declared file name in the description.
//!
//! Fail closed: when the search would record more than [`MAX_SPANS`] ranges, or cannot be built, the report gets no
//! positions at all (`None`), and the enforcer then withholds a whole field rather than trust partial positions.

use std::collections::{BTreeSet, HashMap};

use accord_domain::{
    Indicator, IndicatorSpan, ObservableType, TextField, observable::refang_text_mapped,
};
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::extract;

/// The most positions recorded per report. A text can only hold so many occurrences of real indicators; beyond it the
/// report is treated as one whose positions are unknown.
pub const MAX_SPANS: usize = 20_000;

/// Returns the positions of `indicators` in `title` and `description`, or `None` when they cannot all be recorded.
pub fn spans(
    title: &str,
    description: &str,
    indicators: &[Indicator],
) -> Option<Vec<IndicatorSpan>> {
    // (field: 0 title, 1 description; start; end; indicator index), sorted and deduplicated.
    let mut spans: BTreeSet<(u8, usize, usize, usize)> = BTreeSet::new();
    let searcher = Searcher::new(indicators)?;
    let index_of: HashMap<(ObservableType, &str), usize> = indicators
        .iter()
        .enumerate()
        .map(|(index, indicator)| ((indicator.kind, indicator.value.as_str()), index))
        .collect();
    for (field, text) in [(0, title), (1, description)] {
        for occurrence in extract::occurrences(text) {
            if let Some(index) = index_of.get(&(occurrence.kind, occurrence.value.as_str())) {
                spans.insert((field, occurrence.range.start, occurrence.range.end, *index));
            }
        }
        searcher.find(text, |start, end, index| {
            spans.insert((field, start, end, index));
            spans.len() <= MAX_SPANS
        })?;
        if spans.len() > MAX_SPANS {
            return None;
        }
    }
    Some(
        spans
            .into_iter()
            .map(|(field, start, end, index)| IndicatorSpan {
                field: if field == 0 {
                    TextField::Title
                } else {
                    TextField::Description
                },
                start,
                end,
                kind: indicators[index].kind,
                value: indicators[index].value.clone(),
            })
            .collect(),
    )
}

/// A literal, ASCII case-insensitive search for every indicator value at once.
struct Searcher {
    automaton: Option<AhoCorasick>,
    /// Per pattern: whether its first and last characters are word characters (a match must then not continue a word).
    edges: Vec<(bool, bool)>,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Searcher {
    /// Returns the searcher of `indicators`' values, or `None` when the automaton cannot be built (fail closed).
    fn new(indicators: &[Indicator]) -> Option<Self> {
        if indicators.is_empty() {
            return Some(Self {
                automaton: None,
                edges: Vec::new(),
            });
        }
        // Built per report and run over its title and description once: a contiguous NFA builds in a fraction of
        // the time of the DFA the builder picks for few patterns (3.6 % of `accord up`'s CPU under ingest), for the
        // same matches.
        let automaton = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(indicators.iter().map(|indicator| indicator.value.as_str()))
            .ok()?;
        let edges = indicators
            .iter()
            .map(|indicator| {
                let value = &indicator.value;
                (
                    value.chars().next().is_some_and(is_word),
                    value.chars().next_back().is_some_and(is_word),
                )
            })
            .collect();
        Some(Self {
            automaton: Some(automaton),
            edges,
        })
    }

    /// Calls `record(start, end, indicator index)` for every match in `text` (ranges of `text` as written) until it
    /// returns `false`; returns `None` then.
    fn find(&self, text: &str, mut record: impl FnMut(usize, usize, usize) -> bool) -> Option<()> {
        let Some(automaton) = &self.automaton else {
            return Some(());
        };
        let mapped = refang_text_mapped(text);
        let refanged = mapped.text.as_str();
        for found in automaton.find_overlapping_iter(refanged) {
            let (start, end, index) = (found.start(), found.end(), found.pattern().as_usize());
            if !refanged.is_char_boundary(start) || !refanged.is_char_boundary(end) {
                continue;
            }
            let (word_start, word_end) = self.edges[index];
            let before = refanged[..start].chars().next_back();
            let after = refanged[end..].chars().next();
            if (word_start && before.is_some_and(is_word))
                || (word_end && after.is_some_and(is_word))
            {
                continue;
            }
            let range = mapped.original(start, end);
            if !record(range.start, range.end, index) {
                return None;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use accord_domain::IndicatorSource;

    use super::*;

    fn indicator(kind: ObservableType, value: &str) -> Indicator {
        Indicator {
            id: format!("{kind}--x"),
            kind,
            value: value.to_owned(),
            source: IndicatorSource::Declared,
        }
    }

    fn written<'t>(title: &'t str, description: &'t str, span: &IndicatorSpan) -> &'t str {
        let text = match span.field {
            TextField::Title => title,
            TextField::Description => description,
        };
        &text[span.start..span.end]
    }

    #[test]
    fn every_spelling_of_an_indicator_is_located() {
        let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let indicators = vec![
            indicator(ObservableType::Ipv4Addr, "45.155.205.172"),
            indicator(ObservableType::Url, "https://login-bank-a.com/verify"),
            indicator(ObservableType::DomainName, "login-bank-a.com"),
            indicator(ObservableType::File, hash),
            indicator(ObservableType::File, "invoice.exe"),
        ];
        let title = "C2 45.155.205[.]172";
        let description = format!(
            "Kit at hxxps://login-bank-a[.]com/verify; dropper {} and Invoice.EXE. Not 45.155.205.1720.",
            hash.to_ascii_uppercase()
        );
        let spans = spans(title, &description, &indicators).unwrap();
        let seen: Vec<(&str, &str)> = spans
            .iter()
            .map(|span| (span.value.as_str(), written(title, &description, span)))
            .collect();
        assert!(
            seen.contains(&("45.155.205.172", "45.155.205[.]172")),
            "{seen:?}"
        );
        assert!(seen.contains(&(
            "https://login-bank-a.com/verify",
            "hxxps://login-bank-a[.]com/verify"
        )));
        assert!(
            seen.contains(&("login-bank-a.com", "login-bank-a[.]com")),
            "{seen:?}"
        );
        assert!(
            seen.contains(&(hash, &*hash.to_ascii_uppercase())),
            "{seen:?}"
        );
        assert!(seen.contains(&("invoice.exe", "Invoice.EXE")), "{seen:?}");
        // At token boundaries only.
        assert_eq!(
            seen.iter()
                .filter(|(value, _)| *value == "45.155.205.172")
                .count(),
            1,
            "{seen:?}"
        );
    }

    #[test]
    fn too_many_positions_are_unknown_positions() {
        let indicators = vec![indicator(ObservableType::File, "a")];
        let description = "a ".repeat(MAX_SPANS + 1);
        assert_eq!(spans("", &description, &indicators), None);
        assert_eq!(
            spans("", "a b", &indicators).map(|spans| spans.len()),
            Some(1)
        );
        assert_eq!(spans("a", "b", &[]), Some(Vec::new()));
    }
}
