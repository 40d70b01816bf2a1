//! Personal data located in free text and inside indicator values, for the enforcer to redact under `pii: redact`.
//!
//! Kinds, each kept precise rather than greedy (a missed name is a policy risk, but a text shredded by false positives
//! is useless to investigators, and indicators must survive); docs/pii.md gives each detector's measured precision
//! and recall:
//! - e-mail addresses, including defanged ones (`john[at]bank-a[.]de`); an address that is also an indicator is still
//!   located here, since policy redacts the free-text occurrence while the indicator list keeps it;
//! - phone numbers with at least eight digits: international (`+49 30 1234567`, `+1 (555) 123-4567`), national with a
//!   trunk `0` (`030 1234567`, `(030) 123 45 67`) and North-American (`(555) 123-4567`, `555-123-4567`); never a
//!   piece of a longer token, so IP addresses, hashes, CVE and ATT&CK ids, dates and URLs do not match;
//! - IBANs, payment card numbers and bank account numbers after a cue (`numbers`);
//! - personal names after a cue (`cued`) and without one, from maintained name lists (`names`);
//! - inside a URL or a file name written in the text, the parts that carry any of these (`embedded`).
//!
//! [`locate`] returns the ranges of a text field; [`in_indicator`] those inside an indicator's value (a URL's query
//! values and path segments, a file name). Ranges are byte offsets on char boundaries, sorted and non-overlapping:
//! overlapping finds are merged into one range (the kind of the one that starts first), so that no part of either
//! is left out.

mod cued;
mod embedded;
mod names;
mod numbers;

use std::sync::LazyLock;

use accord_domain::{
    Indicator, ObservableType, PiiKind, PiiMatch, TextField,
    observable::{FileForm, has_file_extension},
};
use regex::Regex;

use embedded::Found;

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

/// Returns the personal data in `text`, a value of `field`: sorted, non-overlapping byte ranges.
pub fn locate(field: TextField, text: &str) -> Vec<PiiMatch> {
    let mut found = detect(text);
    found.extend(in_tokens(text));
    merge(found)
        .into_iter()
        .map(|(kind, start, end)| PiiMatch {
            kind,
            field,
            start,
            end,
        })
        .collect()
}

/// Returns the personal data inside an indicator's value: in a URL's path segments, query and fragment values and
/// user information, and in a file name. Other types carry none that policy withholds (a declared e-mail address is
/// the threat; an address found only in free text is withheld whole). Sorted, non-overlapping byte ranges.
pub fn in_indicator(indicator: &Indicator) -> Vec<(PiiKind, usize, usize)> {
    let found = match indicator.kind {
        ObservableType::Url => embedded::in_url(&indicator.value),
        ObservableType::File if FileForm::of(&indicator.value) == FileForm::Name => {
            embedded::in_file_name(&indicator.value)
        }
        _ => Vec::new(),
    };
    merge(found)
}

/// Every free-text detector over `text` (not the URL and file-name tokens): unsorted, possibly overlapping.
fn detect(text: &str) -> Vec<Found> {
    // Numbers first: at the same range, an account number after its cue is that, not a phone number.
    let tagged = |kind: PiiKind, spans: Vec<(usize, usize)>| {
        spans
            .into_iter()
            .map(move |(start, end)| (kind, start, end))
    };
    let mut found: Vec<Found> = tagged(PiiKind::Account, numbers::accounts(text)).collect();
    found.extend(tagged(PiiKind::Iban, numbers::ibans(text)));
    found.extend(tagged(PiiKind::Card, numbers::cards(text)));
    found.extend(contacts(text));
    found.extend(tagged(PiiKind::Name, cued::names(text)));
    found.extend(tagged(PiiKind::Name, names::in_prose(text)));
    found
}

/// E-mail addresses and phone numbers in `text`.
fn contacts(text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    for email in EMAIL.find_iter(text) {
        let end = email.start() + text[email.range()].trim_end_matches(['.', '-']).len();
        found.push((PiiKind::Email, email.start(), end));
    }
    // A rejected candidate may hide a phone number that starts inside it (`10.01.2026 0171 2345678` first matches
    // from `01.2026`), so the scan resumes one character after a rejected start rather than after its end.
    let mut position = 0;
    while let Some(phone) = PHONE.find_at(text, position) {
        if is_phone(text, phone.start(), phone.end()) {
            found.push((PiiKind::Phone, phone.start(), phone.end()));
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
    found
}

/// The personal data inside the URLs and file names written in `text` (each a whitespace-separated token, without
/// the brackets, quotes and sentence punctuation around it).
fn in_tokens(text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    for (start, raw) in names::tokens(text) {
        let unopened = raw.trim_start_matches(['(', '[', '"', '\'', '<', '«']);
        let token = unopened
            .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '"', '\'', '>', '»']);
        let token_start = start + (raw.len() - unopened.len());
        let inner = if token.contains("://") {
            embedded::in_url(token)
        } else if has_file_extension(token) || token.contains('_') {
            embedded::in_file_name(token)
        } else {
            continue;
        };
        found.extend(
            inner
                .into_iter()
                .map(|(kind, from, to)| (kind, token_start + from, token_start + to)),
        );
    }
    found
}

/// Sorts finds and merges overlapping ones (the kind of the earliest, the union of the ranges).
fn merge(mut found: Vec<Found>) -> Vec<Found> {
    found.sort_by_key(|(_, start, end)| (*start, std::cmp::Reverse(*end)));
    let mut merged: Vec<Found> = Vec::with_capacity(found.len());
    for (kind, start, end) in found {
        if start >= end {
            continue;
        }
        match merged.last_mut() {
            Some(last) if start < last.2 => last.2 = last.2.max(end),
            _ => merged.push((kind, start, end)),
        }
    }
    merged
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

#[cfg(test)]
mod sample_tests;
#[cfg(test)]
mod tests;
