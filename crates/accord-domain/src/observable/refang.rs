//! Undoing the defanging analysts apply so that indicators cannot be clicked or resolved by accident.
//!
//! Two entry points: [`refang`] for one value (trims wrapping quotes and brackets, understands `evil dot com`), and
//! [`refang_text`] for prose (only the bracketed and scheme forms, which never occur in ordinary text).

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Every defanging form that is safe to undo anywhere in a text. `[.]` and `[@]` style tokens swallow blanks around
/// them (`evil [.] com`), but never line breaks.
static DEFANGED: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern; the unit tests compile it, so it cannot fail at run time.
    Regex::new(
        r"(?ix)
          \b(?P<scheme>h(?:xx|xxx|\*\*)ps?|fxps?)(?P<sep>\[://\]|\[:\]|\(:\)|:)
        | (?P<dot>[\ \t]*(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\})[\ \t]*)
        | (?P<at>[\ \t]*(?:\[@\]|\(@\)|\{@\}|\[at\]|\(at\)|\{at\})[\ \t]*)
        | (?P<colon_slashes>\[://\])
        | (?P<colon>\[:\])
        | (?P<slash>\[/\])
        ",
    )
    .expect("the defanging pattern is valid")
});

/// Pairs that may wrap a value copied from a document: quotes, angle brackets and typographic quotes.
const WRAPPERS: [(char, char); 6] = [
    ('"', '"'),
    ('\'', '\''),
    ('`', '`'),
    ('<', '>'),
    ('\u{201c}', '\u{201d}'),
    ('\u{2018}', '\u{2019}'),
];

/// Returns `input` with common defanging undone: `hxxp`/`hXXp`/`fxp`→`http`/`ftp` (before a colon), `[.]`/`(.)`/
/// `{.}`/`[dot]`/`(dot)`→`.`, `[at]`/`(at)`/`[@]`→`@`, `[:]`→`:`, `[://]`→`://`, `[/]`→`/`; surrounding whitespace
/// and wrapping quotes or angle brackets removed. A value made only of words joined by ` dot ` and at most one ` at `
/// (`admin at evil dot com`) is joined up; any other value with spaces keeps them, so ordinary text is not corrupted.
pub fn refang(input: &str) -> String {
    let unwrapped = strip_wrappers(input);
    let refanged = refang_text(unwrapped);
    join_spelled_separators(refanged.trim())
}

/// Returns why a value that was refanged once is still defanged, or `None` when refanging leaves it as it is.
///
/// One pass of [`refang`] can leave defanging behind: `a[[.]]com` becomes `a[.]com`, `x[ [.] ]y` becomes `x[.]y`.
/// Such a value was defanged twice over and is ambiguous; the canonicalizers refuse it rather than refang until
/// nothing changes (which costs a pass per level of nesting, quadratic on a hostile value), so that every canonical
/// value is a fixed point: canonicalizing it again gives it back, and a lookup of a stored value finds it.
pub(super) fn still_defanged(refanged: &str) -> Option<String> {
    let again = refang(refanged);
    (again != refanged).then(|| {
        format!("`{refanged}` is still defanged after refanging (defanged twice over), which is ambiguous")
    })
}

/// Returns free text with the bracketed and scheme defanging forms undone (see [`refang`]), leaving everything else,
/// including spaces and a spelled-out ` dot `, as written.
pub fn refang_text(text: &str) -> String {
    DEFANGED.replace_all(text, replacement).into_owned()
}

/// A refanged text and the way back to the text it was refanged from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedText {
    /// The refanged text ([`refang_text`]).
    pub text: String,
    /// For every byte boundary `i` of `text` (`0..=text.len()`), the offset in the original text a span *starting*
    /// at `i` starts at.
    starts: Vec<usize>,
    /// For every byte boundary `i` of `text`, the offset in the original text a span *ending* at `i` ends at.
    ends: Vec<usize>,
}

impl MappedText {
    /// Returns the range of the original text that the range `start..end` of the refanged text was made from. A
    /// range that starts or ends inside a replaced token (`[.]`, `hxxps:`) is widened to the whole token.
    ///
    /// # Panics
    /// Never for `start <= end <= text.len()`; panics on a range outside the refanged text.
    pub fn original(&self, start: usize, end: usize) -> std::ops::Range<usize> {
        self.starts[start]..self.ends[end]
    }
}

/// Returns [`refang_text`] of `text` together with the mapping from the refanged text back to `text`, so that what
/// is found in refanged prose can be located in the prose as written.
pub fn refang_text_mapped(text: &str) -> MappedText {
    let mut out = String::with_capacity(text.len());
    let mut starts = Vec::with_capacity(text.len() + 1);
    let mut ends = Vec::with_capacity(text.len() + 1);
    // Boundary 0: a span starting there starts at 0; nothing ends there but a span may (empty): 0.
    ends.push(0);
    let mut copied_to = 0;
    for caps in DEFANGED.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        for offset in copied_to..whole.start() {
            starts.push(offset);
            ends.push(offset + 1);
        }
        out.push_str(&text[copied_to..whole.start()]);
        let replaced = replacement(&caps);
        for _ in 0..replaced.len() {
            starts.push(whole.start());
            ends.push(whole.end());
        }
        out.push_str(&replaced);
        copied_to = whole.end();
    }
    for offset in copied_to..text.len() {
        starts.push(offset);
        ends.push(offset + 1);
    }
    out.push_str(&text[copied_to..]);
    starts.push(text.len());
    MappedText {
        text: out,
        starts,
        ends,
    }
}

/// Returns what one defanging token of [`DEFANGED`] stands for.
fn replacement(caps: &Captures<'_>) -> String {
    if let Some(scheme) = caps.name("scheme") {
        let lower = scheme.as_str().to_ascii_lowercase();
        let secure = if lower.ends_with('s') { "s" } else { "" };
        let base = if lower.starts_with('f') {
            "ftp"
        } else {
            "http"
        };
        let sep = caps.name("sep").map(|sep| sep.as_str()).unwrap_or(":");
        let sep = if sep.contains("//") { "://" } else { ":" };
        format!("{base}{secure}{sep}")
    } else if caps.name("dot").is_some() {
        ".".to_owned()
    } else if caps.name("at").is_some() {
        "@".to_owned()
    } else if caps.name("colon_slashes").is_some() {
        "://".to_owned()
    } else if caps.name("colon").is_some() {
        ":".to_owned()
    } else {
        "/".to_owned()
    }
}

/// Removes surrounding whitespace and matching wrapping pairs, repeatedly (`" <http://x> "`).
fn strip_wrappers(input: &str) -> &str {
    let mut value = input.trim();
    loop {
        let mut stripped = None;
        for (open, close) in WRAPPERS {
            if let Some(inner) = value
                .strip_prefix(open)
                .and_then(|rest| rest.strip_suffix(close))
            {
                stripped = Some(inner.trim());
                break;
            }
        }
        match stripped {
            Some(inner) => value = inner,
            None => return value,
        }
    }
}

/// Joins `evil dot com` into `evil.com` and `admin at evil dot com` into `admin@evil.com`, but only when the whole
/// value has exactly that shape: words at even positions, `dot`/`at` at odd ones, at most one `at`, and a `dot` after
/// it (so that `meet at noon` stays as it is).
fn join_spelled_separators(value: &str) -> String {
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.len() < 3 || words.len().is_multiple_of(2) {
        return value.to_owned();
    }
    let is_separator =
        |word: &str| word.eq_ignore_ascii_case("dot") || word.eq_ignore_ascii_case("at");
    let mut num_at = 0;
    let mut dot_after_at = false;
    let mut joined = String::with_capacity(value.len());
    for (position, word) in words.iter().enumerate() {
        if position.is_multiple_of(2) {
            if is_separator(word) {
                return value.to_owned();
            }
            joined.push_str(word);
        } else if word.eq_ignore_ascii_case("dot") {
            dot_after_at = true;
            joined.push('.');
        } else if word.eq_ignore_ascii_case("at") {
            num_at += 1;
            dot_after_at = false;
            joined.push('@');
        } else {
            return value.to_owned();
        }
    }
    if num_at > 1 || !dot_after_at {
        return value.to_owned();
    }
    joined
}
