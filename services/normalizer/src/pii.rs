//! Personal data located in free text, for the enforcer to redact under `pii: redact`.
//!
//! Three kinds, each kept precise rather than greedy (a missed name is a policy risk, but a text shredded by false
//! positives is useless to investigators, and indicators must survive):
//! - e-mail addresses, including defanged ones (`john[at]bank-a[.]de`); an address that is also an indicator is still
//!   located here, since policy redacts the free-text occurrence while the indicator list keeps it;
//! - phone numbers with at least eight digits: international (`+49 30 1234567`, `+1 (555) 123-4567`), national with a
//!   trunk `0` (`030 1234567`, `(030) 123 45 67`) and North-American (`(555) 123-4567`, `555-123-4567`); never a
//!   piece of a longer token, so IP addresses, hashes, CVE and ATT&CK ids, dates and URLs do not match;
//! - personal names introduced by a cue: an honorific (`Mr.`, `Ms.`, `Mrs.`, `Mx.`, `Dr.`, `Prof.`) followed by one
//!   to three capitalized words, or `contact:`, `contact person:`, `point of contact:`, `poc:` or `name:` followed by
//!   two or three. Only the name is located, not the cue (`Dr. [redacted:name]`).
//!
//! Ranges are byte offsets on char boundaries, sorted and non-overlapping (an earlier match wins; at the same start,
//! the longer one).

use std::sync::LazyLock;

use accord_domain::{PiiKind, PiiMatch, TextField};
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

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    let at = r"(?:@|[ ]?(?:\[@\]|\(@\)|\{@\}|\[at\]|\(at\)|\{at\})[ ]?)";
    let dot = r"(?:\.|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\})";
    let pattern = format!(
        r"(?i)[a-z0-9][a-z0-9._%+\-]*{at}(?:[\p{{L}}\p{{N}}_\-]+{dot})+\p{{L}}[\p{{L}}\p{{N}}\-]+"
    );
    // Constant patterns; the unit tests compile them, so this cannot fail at run time.
    Regex::new(&pattern).expect("the e-mail pattern is valid")
});

static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    let international = r"\+\d{1,3}(?:[ .\-/]?(?:\(\d{1,4}\)|\d{1,5})){1,6}";
    let national = r"\(?0\d{1,5}\)?(?:[ .\-/]?\d{2,8}){1,4}";
    let north_american = r"\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}|\d{3}[.\-]\d{3}[.\-]\d{4}";
    // Constant patterns; the unit tests compile them, so this cannot fail at run time.
    Regex::new(&format!("{international}|{national}|{north_american}"))
        .expect("the phone pattern is valid")
});

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern; the unit tests compile it, so it cannot fail at run time.
    Regex::new(r"^\(?\d{1,4}\)?[./\-]\d{1,2}[./\-]\d{1,4}$").expect("the date pattern is valid")
});

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

/// Returns the personal data in `text`, a value of `field`: sorted, non-overlapping byte ranges.
pub fn locate(field: TextField, text: &str) -> Vec<PiiMatch> {
    let mut found: Vec<PiiMatch> = Vec::new();
    let mut push = |kind: PiiKind, start: usize, end: usize| {
        found.push(PiiMatch {
            kind,
            field,
            start,
            end,
        })
    };

    for email in EMAIL.find_iter(text) {
        let end = email.start() + text[email.range()].trim_end_matches(['.', '-']).len();
        push(PiiKind::Email, email.start(), end);
    }
    // A rejected candidate may hide a phone number that starts inside it (`10.01.2026 0171 2345678` first matches
    // from `01.2026`), so the scan resumes one character after a rejected start rather than after its end.
    let mut position = 0;
    while let Some(phone) = PHONE.find_at(text, position) {
        if is_phone(text, phone.start(), phone.end()) {
            push(PiiKind::Phone, phone.start(), phone.end());
            position = phone.end();
        } else {
            position = phone.start()
                + text[phone.start()..]
                    .chars()
                    .next()
                    .map(char::len_utf8)
                    .unwrap_or(1);
        }
    }
    for caps in HONORIFIC_NAME.captures_iter(text) {
        if let Some(name) = caps.name("name")
            && let Some((start, end)) = name_span(text, name.start(), name.end(), 1)
        {
            push(PiiKind::Name, start, end);
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
        if let Some((start, end)) = name_span(text, name.start(), name.end(), 2) {
            push(PiiKind::Name, start, end);
        }
    }

    found.sort_by_key(|found| (found.start, std::cmp::Reverse(found.end)));
    let mut located: Vec<PiiMatch> = Vec::with_capacity(found.len());
    for candidate in found {
        if located
            .last()
            .is_some_and(|last| candidate.start < last.end)
        {
            continue;
        }
        located.push(candidate);
    }
    located
}

/// Checks a phone candidate: enough digits, not a date, and not a piece of a longer token (IP, hash, id, URL path).
fn is_phone(text: &str, start: usize, end: usize) -> bool {
    let candidate = &text[start..end];
    let num_digits = candidate.bytes().filter(u8::is_ascii_digit).count();
    let max_digits = if candidate.starts_with('+') { 15 } else { 13 };
    if !(8..=max_digits).contains(&num_digits) || DATE.is_match(candidate) {
        return false;
    }
    let before = text[..start].chars().next_back();
    let mut after_chars = text[end..].chars();
    let after = after_chars.next();
    let after_next = after_chars.next();
    let glued_before = before.is_some_and(|c| c.is_alphanumeric() || "._-/:+=#@\\".contains(c));
    let glued_after = after.is_some_and(|c| c.is_alphanumeric() || "_@:".contains(c))
        || (matches!(after, Some('.' | '-' | '/'))
            && after_next.is_some_and(|c| c.is_alphanumeric()));
    !glued_before && !glued_after
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
///
/// Only the end of the cue's line is read — the blanks before the cue and the word before them — so the work per cue
/// is bounded by that word (reading back to the start of the line made many cues on one long line quadratic).
fn name_cue_is_personal(before_cue: &str) -> bool {
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

#[cfg(test)]
mod tests;
