//! Person names without a cue word, found with the name lists of `data/names/` (US Census 1990 given names and
//! surnames, and the given names and surnames of the German, French, Spanish, Italian, Dutch and Polish locales of
//! faker-js; `data/names/README.md` says where each comes from and under which licence).
//!
//! In prose ([`in_prose`]) a name is a given name followed by a surname, each a capitalized word (`Anna`, `McDonald`,
//! `O'Brien`, `Jean-Luc`; never `ANNA` or `anna`), optionally with a second given name or an initial between them
//! (`John F. Smith`, `Anna Maria Rossi`) and a particle before the surname (`Jan van der Berg`). What keeps it
//! precise:
//! - a given name that is also an everyday word (`Will`, `May`, `Grace`, `Mark`: `ambiguous-given.txt`) needs a
//!   surname that is not one (`common.txt`): `Mark Johnson` is a name, `Mark Read` and `May Update` are not;
//! - a surname that names an organization's kind follows (`Morgan Stanley Bank`, `Edward Jones Investments`): not a
//!   person;
//! - every word must stand in prose: a word glued to digits, `/`, `_`, `@`, `=` or a dot that goes on (`John.Smith`,
//!   `Smith.pdf`) belongs to a URL, an e-mail address or a file name, which [`in_token`] reads instead.
//!
//! In a token ([`in_token`]: a file name, a URL path segment or query value) the words are split at `_`, `-`, `.`,
//! `+`, blanks and camel case (`Invoice_JohnSmith.pdf` → `Invoice`, `John`, `Smith`, `pdf`) and a given name
//! followed by a surname is a name when both are capitalized, or both lower-case and neither an everyday word
//! (`anna_kowalski.docx`).

use std::{collections::HashSet, sync::LazyLock};

/// The word lists, upper-cased, one entry a line.
struct Lists {
    given: HashSet<&'static str>,
    surnames: HashSet<&'static str>,
    common: HashSet<&'static str>,
    ambiguous_given: HashSet<&'static str>,
    words: HashSet<&'static str>,
}

static LISTS: LazyLock<Lists> = LazyLock::new(|| {
    let set = |text: &'static str| -> HashSet<&'static str> {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect()
    };
    Lists {
        given: set(include_str!("../../data/names/given.txt")),
        surnames: set(include_str!("../../data/names/surnames.txt")),
        common: set(include_str!("../../data/names/common.txt")),
        ambiguous_given: set(include_str!("../../data/names/ambiguous-given.txt")),
        words: set(include_str!("../../data/names/words.txt")),
    }
});

/// Words after a name that make it an organization's (`Morgan Stanley Bank`), compared case-sensitively.
const ORGANIZATION_WORDS: [&str; 24] = [
    "Bank",
    "Group",
    "Inc",
    "Ltd",
    "LLC",
    "GmbH",
    "AG",
    "SA",
    "Corp",
    "Corporation",
    "Company",
    "Foundation",
    "University",
    "Hospital",
    "Investments",
    "Financial",
    "Holdings",
    "Partners",
    "Street",
    "Avenue",
    "Road",
    "Square",
    "Institute",
    "College",
];

/// Surname particles that may stand between a given name and a capitalized surname.
const PARTICLES: [&str; 21] = [
    "van", "von", "der", "den", "de", "da", "di", "del", "della", "du", "la", "le", "ter", "ten",
    "zu", "dos", "das", "Ní", "Nic", "Ó", "Mac",
];

/// A word of prose with its byte range.
#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

/// Returns the names in prose, as byte ranges of `text`.
pub(super) fn in_prose(text: &str) -> Vec<(usize, usize)> {
    let words = prose_words(text);
    let mut found = Vec::new();
    let mut index = 0;
    while index < words.len() {
        match name_at(text, &words, index) {
            Some(last) => {
                found.push((words[index].start, words[last].end));
                index = last + 1;
            }
            None => index += 1,
        }
    }
    found
}

/// Returns the index of the last word of a name starting at `words[index]`, if one does.
fn name_at(text: &str, words: &[Word<'_>], index: usize) -> Option<usize> {
    let lists = &*LISTS;
    let first = words[index];
    if !is_capitalized(first.text) || !is_given(first.text) {
        return None;
    }
    let mut next = index + 1;
    // A second given name or an initial.
    if let Some(word) = adjacent(text, words, next - 1)
        && (is_initial(text, word) || (is_capitalized(word.text) && is_given(word.text)))
        && adjacent(text, words, next)
            .is_some_and(|after| is_capitalized(after.text) || PARTICLES.contains(&after.text))
    {
        next += 1;
    }
    // Particles (`van der`).
    while let Some(word) = adjacent(text, words, next - 1)
        && PARTICLES.contains(&word.text)
    {
        next += 1;
    }
    let surname = adjacent(text, words, next - 1)?;
    if !is_capitalized(surname.text) {
        return None;
    }
    let given = fold(first.text);
    let family = fold(surname.text);
    let everyday_given = lists.ambiguous_given.contains(given.as_str());
    if everyday_given && lists.common.contains(family.as_str()) {
        return None;
    }
    // A surname from the list, or (after a given name that is no everyday word) any word that is not an English
    // word: `Priya Raghunathan`, `Ingrid Bjørnstad`.
    let unlisted_ok = !everyday_given
        && !lists.common.contains(given.as_str())
        && !lists.words.contains(family.as_str())
        && family.len() >= 3;
    if !is_surname(surname.text) && !unlisted_ok {
        return None;
    }
    let organization = words[index..=next]
        .iter()
        .copied()
        .chain(adjacent(text, words, next))
        .any(|word| ORGANIZATION_WORDS.contains(&word.text));
    if organization {
        return None;
    }
    Some(next)
}

/// Returns `words[index + 1]` when only blanks (no line break, no punctuation) separate it from `words[index]`.
fn adjacent<'a>(text: &str, words: &[Word<'a>], index: usize) -> Option<Word<'a>> {
    let current = words.get(index)?;
    let next = words.get(index + 1)?;
    let between = &text[current.end..next.start];
    let after_initial = between.strip_prefix('.').unwrap_or(between);
    let blanks = |gap: &str| !gap.is_empty() && gap.chars().all(|c| c == ' ' || c == '\t');
    if blanks(between) || (is_initial_text(current.text) && blanks(after_initial)) {
        return Some(*next);
    }
    None
}

/// An initial: one capital letter followed by a dot (`F.`).
fn is_initial(text: &str, word: Word<'_>) -> bool {
    is_initial_text(word.text) && text[word.end..].starts_with('.')
}

fn is_initial_text(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(char::is_uppercase) && chars.next().is_none()
}

/// Splits prose into words: runs of letters with inner `'`, `’` or `-`. A run glued to anything but blanks and
/// sentence punctuation (a file name, an address, a path, a number) is left out.
fn prose_words(text: &str) -> Vec<Word<'_>> {
    let mut words = Vec::new();
    for (token_start, token) in tokens(text) {
        let core_start = token
            .char_indices()
            .find(|(_, c)| c.is_alphabetic())
            .map(|(at, _)| at);
        let Some(core_start) = core_start else {
            continue;
        };
        let core_end = token
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_alphabetic())
            .map(|(at, c)| at + c.len_utf8())
            .unwrap_or(core_start);
        let (lead, core, trail) = (
            &token[..core_start],
            &token[core_start..core_end],
            &token[core_end..],
        );
        let plain_lead = lead.chars().all(|c| "\"'(«“‘[".contains(c));
        let plain_trail = trail.chars().all(|c| ".,;:!?\"')»”’]".contains(c));
        let plain_core = core
            .chars()
            .all(|c| c.is_alphabetic() || c == '\'' || c == '’' || c == '-');
        if plain_lead && plain_trail && plain_core {
            let start = token_start + core_start;
            words.push(Word {
                text: core,
                start,
                end: start + core.len(),
            });
        }
    }
    words
}

/// Splits `text` at whitespace, with the byte offset of each token.
pub(super) fn tokens(text: &str) -> Vec<(usize, &str)> {
    let mut found = Vec::new();
    let mut start: Option<usize> = None;
    for (at, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(begun)) => {
                found.push((begun, &text[begun..at]));
                start = None;
            }
            (false, None) => start = Some(at),
            _ => {}
        }
    }
    if let Some(begun) = start {
        found.push((begun, &text[begun..]));
    }
    found
}

/// A capitalized word: an upper-case first letter and at least one lower-case letter (`Anna`, `McDonald`,
/// `O'Brien`, `Jean-Luc`; not `ANNA`, `anna`, `A`). Each part of a hyphenated word is capitalized too.
fn is_capitalized(word: &str) -> bool {
    word.split('-').all(|part| {
        let mut chars = part.chars();
        chars.next().is_some_and(char::is_uppercase) && part.chars().any(char::is_lowercase)
    })
}

/// A given name, or a hyphenated one whose parts all are (`Jean-Luc`).
fn is_given(word: &str) -> bool {
    let lists = &*LISTS;
    fold(word).split('-').all(|part| lists.given.contains(part))
}

/// A surname, or a hyphenated one with a part that is (`Müller-Lüdenscheidt`).
fn is_surname(word: &str) -> bool {
    let lists = &*LISTS;
    let folded = fold(word);
    lists.surnames.contains(folded.as_str())
        || (folded.contains('-') && folded.split('-').any(|part| lists.surnames.contains(part)))
}

/// Returns `word` as the lists store it: upper case folded to ASCII (diacritics dropped, `ß` as `SS`, `Ø` as `O`,
/// `Ł` as `L`), apostrophes removed (`O'Brien` is `OBRIEN`). `data/names/generate.py` folds the same way.
fn fold(word: &str) -> String {
    let mut folded = String::with_capacity(word.len());
    for c in word.chars() {
        let ascii: &str = match c {
            '\'' | '’' => "",
            'ß' | 'ẞ' => "SS",
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä'
            | 'Å' | 'Ā' | 'Ă' | 'Ą' => "A",
            'æ' | 'Æ' => "AE",
            'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' | 'Ç' | 'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
            'ď' | 'đ' | 'Ď' | 'Đ' => "D",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' | 'È' | 'É' | 'Ê' | 'Ë' | 'Ē'
            | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
            'ĝ' | 'ğ' | 'ġ' | 'ģ' | 'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => "G",
            'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'Ì' | 'Í' | 'Î' | 'Ï' | 'Ĩ' | 'Ī'
            | 'Ĭ' | 'Į' | 'İ' => "I",
            'ł' | 'ĺ' | 'ļ' | 'ľ' | 'Ł' | 'Ĺ' | 'Ļ' | 'Ľ' => "L",
            'ñ' | 'ń' | 'ņ' | 'ň' | 'Ñ' | 'Ń' | 'Ņ' | 'Ň' => "N",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø'
            | 'Ō' | 'Ő' => "O",
            'œ' | 'Œ' => "OE",
            'ŕ' | 'ř' | 'Ŕ' | 'Ř' => "R",
            'ś' | 'ş' | 'š' | 'ș' | 'Ś' | 'Ş' | 'Š' | 'Ș' => "S",
            'ţ' | 'ť' | 'ț' | 'Ţ' | 'Ť' | 'Ț' => "T",
            'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ů' | 'ű' | 'ų' | 'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ũ'
            | 'Ū' | 'Ů' | 'Ű' | 'Ų' => "U",
            'ý' | 'ÿ' | 'Ý' | 'Ÿ' => "Y",
            'ź' | 'ż' | 'ž' | 'Ź' | 'Ż' | 'Ž' => "Z",
            other => {
                folded.extend(other.to_uppercase());
                continue;
            }
        };
        folded.push_str(ascii);
    }
    folded
}

/// Returns the names inside one token (a file name, a URL path segment or query value, already percent-decoded),
/// as byte ranges of `token`.
pub(super) fn in_token(token: &str) -> Vec<(usize, usize)> {
    let lists = &*LISTS;
    let parts = token_parts(token);
    let mut found = Vec::new();
    let mut index = 0;
    while index + 1 < parts.len() {
        let (given_start, given_end) = parts[index];
        let (surname_start, surname_end) = parts[index + 1];
        let given = &token[given_start..given_end];
        let surname = &token[surname_start..surname_end];
        let capitalized = is_capitalized(given) && is_capitalized(surname);
        let lower = given.chars().all(char::is_lowercase)
            && surname.chars().all(char::is_lowercase)
            && given.len() >= 3
            && surname.len() >= 3
            && !lists.common.contains(fold(given).as_str())
            && !lists.common.contains(fold(surname).as_str());
        let ambiguous = lists.ambiguous_given.contains(fold(given).as_str())
            && lists.common.contains(fold(surname).as_str());
        if (capitalized || lower) && !ambiguous && is_given(given) && is_surname(surname) {
            found.push((given_start, surname_end));
            index += 2;
        } else {
            index += 1;
        }
    }
    found
}

/// Splits a token into letter runs at separators and camel-case boundaries, as byte ranges.
fn token_parts(token: &str) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut previous_lower = false;
    for (at, c) in token.char_indices() {
        let letter = c.is_alphabetic() || c == '\'';
        let camel_break = c.is_uppercase() && previous_lower;
        if let Some(begun) = start
            && (!letter || camel_break)
        {
            parts.push((begun, at));
            start = None;
        }
        if letter && start.is_none() {
            start = Some(at);
        }
        previous_lower = c.is_lowercase();
    }
    if let Some(begun) = start {
        parts.push((begun, token.len()));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&str> {
        in_prose(text)
            .into_iter()
            .map(|(start, end)| &text[start..end])
            .collect()
    }

    #[test]
    fn given_name_and_surname_without_a_cue() {
        assert_eq!(
            names(
                "The mule account belonged to Anna Kowalski, who was contacted by John F. Smith and Jan van der Berg."
            ),
            ["Anna Kowalski", "John F. Smith", "Jan van der Berg"]
        );
        assert_eq!(
            names("Jean-Luc Martin (Lyon) and Maria Rossi."),
            ["Jean-Luc Martin", "Maria Rossi"]
        );
    }

    #[test]
    fn everyday_words_products_and_organizations_are_not_names() {
        for text in [
            "Patch Tuesday fixed Cobalt Strike detections on Windows Server.",
            "Will Update the May Release.",
            "Analysts at Morgan Stanley Bank and Black Basta affiliates.",
            "ANNA KOWALSKI in capitals and anna kowalski in lower case.",
            "See Invoice_Anna_Kowalski.pdf and https://x.example/Anna/Kowalski and anna.kowalski@x.example",
        ] {
            assert!(names(text).is_empty(), "{text}: {:?}", names(text));
        }
    }

    #[test]
    fn names_in_tokens() {
        let token = "Invoice_JohnSmith_2026.pdf";
        let found: Vec<&str> = in_token(token)
            .into_iter()
            .map(|(s, e)| &token[s..e])
            .collect();
        assert_eq!(found, ["JohnSmith"]);
        let token = "cv-anna-kowalski.docx";
        let found: Vec<&str> = in_token(token)
            .into_iter()
            .map(|(s, e)| &token[s..e])
            .collect();
        assert_eq!(found, ["anna-kowalski"]);
        assert!(in_token("setup_update_2026.exe").is_empty());
        assert!(in_token("Invoice_March_Payment.pdf").is_empty());
    }
}
