//! Personal names introduced by a cue: an honorific (`Mr.`, `Ms.`, `Mrs.`, `Mx.`, `Dr.`, `Prof.`) followed by one to
//! three capitalized words, or `contact:`, `contact person:`, `point of contact:`, `poc:` or `name:` followed by two
//! or three. Only the name is located, not the cue (`Dr. [redacted:name]`). Words that name a function rather than
//! a person (`contact: Security Team`) and a `name:` cue that names something else (`file name:`) are left out.

use std::sync::LazyLock;

use regex::Regex;

/// A capitalized name word (`Smith`, `McDonald`, `O'Brien`, `Jean-Luc`, `Łukasz`) or an initial (`J.`).
const NAME_WORD: &str = r"(?:\p{Lu}\.|\p{Lu}[\p{L}'’\-]*\p{Ll})";

/// Words that follow a cue but are not names (`contact: Security Team`).
const NOT_NAMES: [&str; 24] = [
    "team",
    "security",
    "department",
    "support",
    "desk",
    "helpdesk",
    "center",
    "centre",
    "office",
    "service",
    "services",
    "group",
    "bank",
    "unit",
    "operations",
    "police",
    "agency",
    "company",
    "admin",
    "administrator",
    "manager",
    "incident",
    "response",
    "customer",
];

/// Words that may stand before a `name:` cue (`full name:`); after any other word the cue names something else
/// (`file name:`, `host name:`).
const NAME_CUE_QUALIFIERS: [&str; 10] = [
    "full", "contact", "victim", "person", "employee", "customer", "client", "reporter", "owner",
    "holder",
];

static HONORIFIC_NAME: LazyLock<Regex> = LazyLock::new(|| {
    let pattern = format!(
        r"\b(?:Mr|Mrs|Ms|Mx|Dr|Prof|MR|MRS|MS|DR)\.?[ \t]+(?P<name>{NAME_WORD}(?:[ \t]+{NAME_WORD}){{0,2}})"
    );
    // Constant patterns; the unit tests compile them, so this cannot fail at run time.
    Regex::new(&pattern).expect("the honorific pattern is valid")
});

static CUED_NAME: LazyLock<Regex> = LazyLock::new(|| {
    let cue = r"(?i:\b(?P<cue>contact[ \t]+person|point[ \t]+of[ \t]+contact|contact|poc|name))";
    let pattern = format!(r"{cue}[ \t]*:[ \t]*(?P<name>{NAME_WORD}(?:[ \t]+{NAME_WORD}){{1,2}})");
    // Constant patterns; the unit tests compile them, so this cannot fail at run time.
    Regex::new(&pattern).expect("the cued-name pattern is valid")
});

/// Returns the cued names in `text`, as byte ranges.
pub(super) fn names(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for caps in HONORIFIC_NAME.captures_iter(text) {
        if let Some(name) = caps.name("name")
            && let Some(span) = name_span(text, name.start(), name.end(), 1)
        {
            found.push(span);
        }
    }
    for caps in CUED_NAME.captures_iter(text) {
        let (Some(cue), Some(name)) = (caps.name("cue"), caps.name("name")) else {
            continue;
        };
        if cue.as_str().eq_ignore_ascii_case("name") && !name_cue_is_personal(&text[..cue.start()])
        {
            continue;
        }
        if let Some(span) = name_span(text, name.start(), name.end(), 2) {
            found.push(span);
        }
    }
    found
}

/// Trims words that are not names off the end of a name match and returns its span, or `None` when fewer than
/// `min_words` remain or a remaining word is not a name.
fn name_span(text: &str, start: usize, end: usize, min_words: usize) -> Option<(usize, usize)> {
    let candidate = &text[start..end];
    let words: Vec<&str> = candidate.split_whitespace().collect();
    if words.len() < min_words {
        return None;
    }
    let is_not_name = |word: &str| {
        NOT_NAMES
            .iter()
            .any(|not_name| not_name.eq_ignore_ascii_case(word))
    };
    if words.iter().any(|word| is_not_name(word)) {
        return None;
    }
    // Followed by `.x` or `_`: a file or host name (`Invoice Final.pdf`), not a person.
    let mut after = text[end..].chars();
    let glued = match after.next() {
        Some('_' | '@') => true,
        Some('.') => after.next().is_some_and(char::is_alphanumeric),
        _ => false,
    };
    if glued {
        return None;
    }
    Some((start, end))
}

/// Returns `true` when a `name:` cue introduces a person: first on its line or after a qualifier (`full name:`).
fn name_cue_is_personal(before_cue: &str) -> bool {
    // Only the end of the cue's line is read — the blanks before the cue and the word before them — so the work per
    // cue is bounded by that word (reading back to the start of the line made many cues on one long line quadratic).
    let trimmed = before_cue.trim_end_matches(|c: char| c.is_whitespace() && c != '\n');
    let Some(last) = trimmed.chars().next_back() else {
        return true;
    };
    if !last.is_alphanumeric() {
        // First on its line, or the previous word is separated by punctuation (`…; name: John Smith`).
        return true;
    }
    let start = match trimmed
        .char_indices()
        .rev()
        .find(|(_, c)| !c.is_alphanumeric())
    {
        Some((at, separator)) => at + separator.len_utf8(),
        None => 0,
    };
    let previous = &trimmed[start..];
    NAME_CUE_QUALIFIERS
        .iter()
        .any(|qualifier| qualifier.eq_ignore_ascii_case(previous))
}
