//! Indicators found in free text (title and description).
//!
//! The text is refanged with [`refang_text`](accord_domain::observable::refang_text) (bracketed and scheme defanging only: `hxxps://evil[.]com`,
//! `45.155.205[.]172`, `admin[at]evil[.]com`; a spelled-out ` dot ` is left alone in prose), then scanned in passes,
//! most specific first: URLs, e-mail addresses, IPv6, IPv4 (with CIDR), hashes, CVE ids, domain names. What a pass
//! takes is off limits to the later ones, so the host of a URL or the domain of an e-mail address is not reported a
//! second time as a domain. Every candidate goes through [`canonicalize`] with the type of its pass; a candidate that
//! is not valid is dropped silently (prose is not a submission: nothing to refuse). [`occurrences`] also says where
//! each one is written in the text as stored (refanging is mapped back), which the enforcer needs to withhold it.
//!
//! Precision over recall: a domain needs a top-level label that is a two-letter country code or a common generic one
//! (see `GENERIC_TLDS`), and is not a file extension (`invoice.pdf`), not glued to the next sentence (`attack.It`) or code (`System.IO`),
//! not part of a longer dotted token (`1.2.3`, `evil.com.exe`) and not a path component.

use std::{collections::BTreeMap, ops::Range, sync::LazyLock};

use accord_domain::{
    ObservableType,
    observable::{canonicalize, has_file_extension, refang_text_mapped},
    unique::dedup_by_key,
};
use regex::Regex;

/// Every indicator found in a text takes at least this many of its bytes (`::1` and a delimiter), and repeats are
/// dropped: a text of `n` bytes yields at most `n / MIN_BYTES_PER_INDICATOR + 1` indicators. The work is linear in
/// the text too (each pass is one regex scan; the claimed spans are an ordered map).
pub const MIN_BYTES_PER_INDICATOR: usize = 4;

/// Generic top-level domains recognized in prose, besides every two-letter country code and punycode (`xn--`) ones.
/// A bare `word.word` in prose is far more often code (`System.IO`, `window.location`) than a domain, so the list is
/// closed on purpose.
const GENERIC_TLDS: [&str; 80] = [
    "com",
    "net",
    "org",
    "info",
    "biz",
    "edu",
    "gov",
    "mil",
    "int",
    "xyz",
    "top",
    "online",
    "site",
    "club",
    "shop",
    "store",
    "app",
    "dev",
    "live",
    "pro",
    "mobi",
    "name",
    "tech",
    "cloud",
    "space",
    "website",
    "icu",
    "vip",
    "work",
    "link",
    "click",
    "buzz",
    "fun",
    "life",
    "world",
    "today",
    "email",
    "news",
    "blog",
    "page",
    "host",
    "cyou",
    "monster",
    "rest",
    "support",
    "services",
    "solutions",
    "digital",
    "network",
    "systems",
    "security",
    "bank",
    "finance",
    "money",
    "capital",
    "group",
    "global",
    "company",
    "business",
    "agency",
    "center",
    "zone",
    "win",
    "bid",
    "loan",
    "download",
    "review",
    "stream",
    "trade",
    "party",
    "science",
    "asia",
    "tel",
    "travel",
    "jobs",
    "onion",
    "lol",
    "ink",
    "art",
    "best",
];

/// Technology names that are spelled like domains (`ASP.NET`); skipped when written exactly so.
const TECHNOLOGY_NAMES: [&str; 3] = ["ASP.NET", "VB.NET", "ADO.NET"];

/// `(pass, pattern)`, in the order the passes run. Boundaries the `regex` crate cannot express (no look-around) are
/// checked in [`is_delimited`].
static PASSES: LazyLock<Vec<(ObservableType, Regex)>> = LazyLock::new(|| {
    let patterns = [
        (
            ObservableType::Url,
            r"(?i)\b(?:https?|ftp|wss?)://[^\s<>\x22'`]+",
        ),
        (
            ObservableType::EmailAddr,
            r"[A-Za-z0-9][A-Za-z0-9._%+\-]*@(?:[\p{L}\p{N}_\-]+\.)+[\p{L}\p{N}\-]{2,}",
        ),
        (
            ObservableType::Ipv6Addr,
            r"(?i)(?:[0-9a-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4})?(?:/\d{1,3})?",
        ),
        (
            ObservableType::Ipv4Addr,
            r"\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?",
        ),
        (ObservableType::File, r"\b[0-9A-Fa-f]{32,128}\b"),
        (ObservableType::Vulnerability, r"(?i)\bCVE-\d{4}-\d{4,7}\b"),
        (
            ObservableType::DomainName,
            r"(?:[\p{L}\p{N}](?:[\p{L}\p{N}_\-]{0,61}[\p{L}\p{N}])?\.)+\p{L}[\p{L}\p{N}\-]{1,62}",
        ),
    ];
    patterns
        .into_iter()
        // Constant patterns; the unit tests compile them, so this cannot fail at run time.
        .map(|(kind, pattern)| {
            (
                kind,
                Regex::new(pattern).expect("extraction patterns are valid"),
            )
        })
        .collect()
});

/// One indicator found in prose, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// Its type.
    pub kind: ObservableType,
    /// Its canonical value.
    pub value: String,
    /// The byte range of the text *as written* (defanged forms included: `45.155.205[.]172` is one range).
    pub range: Range<usize>,
}

/// Returns the canonical indicators found in `text`, in order of first appearance, without duplicates. Linear in
/// the number found: each is hashed once.
pub fn indicators(text: &str) -> Vec<(ObservableType, String)> {
    let mut unique: Vec<(ObservableType, String)> = occurrences(text)
        .into_iter()
        .map(|occurrence| (occurrence.kind, occurrence.value))
        .collect();
    dedup_by_key(&mut unique, Clone::clone);
    unique
}

/// Returns every indicator occurrence found in `text`, in order of appearance, with its range in `text` as written.
pub fn occurrences(text: &str) -> Vec<Occurrence> {
    let mapped = refang_text_mapped(text);
    let text = mapped.text.as_str();
    let mut taken = Taken::default();
    let mut found: Vec<Occurrence> = Vec::new();
    for (kind, pattern) in PASSES.iter() {
        for candidate in pattern.find_iter(text) {
            let span = trim_candidate(*kind, text, candidate.range());
            if span.is_empty() || taken.overlaps(&span) {
                continue;
            }
            if !is_delimited(*kind, text, &span) {
                continue;
            }
            // URLs and e-mail addresses claim their text even when invalid, so that their parts are not picked up.
            if matches!(kind, ObservableType::Url | ObservableType::EmailAddr) {
                taken.claim(&span);
            }
            let Some(value) = accept(*kind, &text[span.clone()]) else {
                continue;
            };
            if !matches!(kind, ObservableType::Url | ObservableType::EmailAddr) {
                taken.claim(&span);
            }
            found.push(Occurrence {
                kind: *kind,
                value,
                range: mapped.original(span.start, span.end),
            });
        }
    }
    found.sort_by_key(|occurrence| occurrence.range.start);
    found
}

/// The spans earlier passes claimed: disjoint, keyed by start. Among the claimed spans that start before a
/// candidate ends, the last one ends last (they are disjoint), so one ordered lookup tells whether a candidate
/// overlaps any: logarithmic, where a scan of every claimed span made extraction quadratic in the text.
#[derive(Debug, Default)]
struct Taken {
    end_by_start: BTreeMap<usize, usize>,
}

impl Taken {
    fn overlaps(&self, span: &Range<usize>) -> bool {
        self.end_by_start
            .range(..span.end)
            .next_back()
            .is_some_and(|(_, end)| *end > span.start)
    }

    /// Claims a span that overlaps no claimed one.
    fn claim(&mut self, span: &Range<usize>) {
        self.end_by_start.insert(span.start, span.end);
    }
}

/// Trims what prose glues to the end of a candidate: sentence punctuation, unbalanced closing brackets, quotes, and
/// the trailing colons of an IPv6 candidate.
///
/// Linear in the candidate: the bracket balance is counted once and kept up to date as characters are trimmed (a
/// URL followed by a long run of `)` once cost a count of the whole candidate per trimmed character).
fn trim_candidate(kind: ObservableType, text: &str, span: Range<usize>) -> Range<usize> {
    const PAIRS: [(char, char); 3] = [('(', ')'), ('[', ']'), ('{', '}')];
    // For each pair, closing minus opening brackets in the candidate as trimmed so far.
    let mut excess_closing = PAIRS.map(|(open, close)| {
        let candidate = &text[span.clone()];
        candidate.matches(close).count() as isize - candidate.matches(open).count() as isize
    });
    let mut end = span.end;
    loop {
        let candidate = &text[span.start..end];
        let Some(last) = candidate.chars().next_back() else {
            break;
        };
        let unbalanced = PAIRS
            .iter()
            .zip(excess_closing)
            .any(|((_, close), excess)| last == *close && excess > 0);
        let trim = match kind {
            ObservableType::Url => ".,;:!?'\"".contains(last) || unbalanced,
            ObservableType::Ipv6Addr => last == ':' && !candidate.ends_with("::"),
            ObservableType::EmailAddr | ObservableType::DomainName => last == '-',
            _ => false,
        };
        if !trim {
            break;
        }
        for ((open, close), excess) in PAIRS.iter().zip(excess_closing.iter_mut()) {
            if last == *close {
                *excess -= 1;
            } else if last == *open {
                *excess += 1;
            }
        }
        end -= last.len_utf8();
    }
    span.start..end
}

/// Checks the characters around a candidate: it must not be a piece of a longer token.
fn is_delimited(kind: ObservableType, text: &str, span: &Range<usize>) -> bool {
    let before = text[..span.start].chars().next_back();
    let mut after_chars = text[span.end..].chars();
    let after = after_chars.next();
    let after_next = after_chars.next();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    // `.` or `-` followed by a letter or digit continues the token (`1.2.3.4.5`, `evil.com.exe`, `evil.com-x`).
    let continues = matches!(after, Some('.' | '-')) && word(after_next);
    match kind {
        ObservableType::Url | ObservableType::File | ObservableType::Vulnerability => true,
        // Never a pass: a run of hex octets in prose is far too ambiguous to be read as a certificate serial.
        ObservableType::X509Certificate => false,
        ObservableType::EmailAddr => {
            !matches!(before, Some('.' | '%' | '+' | '-' | '_')) && !continues
        }
        ObservableType::Ipv4Addr => {
            !word(before) && !matches!(before, Some('.' | '-')) && !word(after) && !continues
        }
        ObservableType::Ipv6Addr => {
            !word(before)
                && before != Some(':')
                && !word(after)
                && !matches!(after, Some(':' | '.'))
        }
        ObservableType::DomainName => {
            !word(before)
                && !matches!(before, Some('.' | '-' | '@' | '/' | '\\'))
                && !word(after)
                && !matches!(after, Some('@' | '-' | '_'))
                && !continues
        }
    }
}

/// Canonicalizes a candidate of a pass, applying the prose-only rules, or returns `None`.
fn accept(kind: ObservableType, candidate: &str) -> Option<String> {
    let domain_part = match kind {
        ObservableType::DomainName => Some(candidate),
        ObservableType::EmailAddr => candidate.rsplit_once('@').map(|(_, domain)| domain),
        _ => None,
    };
    if let Some(domain) = domain_part
        && !is_prose_domain(domain)
    {
        return None;
    }
    if kind == ObservableType::File && !candidate.bytes().any(|byte| byte.is_ascii_alphabetic()) {
        // A long decimal number (an account or case number) is not a digest.
        return None;
    }
    if kind == ObservableType::Ipv6Addr
        && (candidate == "::" || !candidate.bytes().any(|byte| byte != b':'))
    {
        return None;
    }
    canonicalize(Some(kind), candidate)
        .ok()
        .map(|(_, value)| value)
}

/// Applies the prose rules to a domain as written: a known top-level label, not a file extension, and no upper-case
/// top-level label after a name with lower-case letters (`attack.It`: a missing space after a full stop;
/// `System.IO`: code). All lower-case, all upper-case and `Evil.com` pass.
fn is_prose_domain(domain: &str) -> bool {
    let Some((name, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    if has_file_extension(domain) || TECHNOLOGY_NAMES.contains(&domain) {
        return false;
    }
    if tld.chars().any(char::is_uppercase) && name.chars().any(char::is_lowercase) {
        return false;
    }
    let tld = tld.to_lowercase();
    let country_code = tld.len() == 2 && tld.bytes().all(|byte| byte.is_ascii_alphabetic());
    country_code || tld.starts_with("xn--") || GENERIC_TLDS.contains(&tld.as_str())
}

#[cfg(test)]
mod tests;
