//! Character-level mutations of a generated string: insertions of characters that parsers treat specially,
//! deletions, replacements, duplications and truncations.

use proptest::prelude::*;

/// Characters that parsers of indicators, patterns and prose treat specially, and some that break naive byte
/// arithmetic (multi-byte, combining, zero-width, right-to-left, replacement).
const INTERESTING: &[char] = &[
    '.', '@', ':', '/', '\\', '[', ']', '(', ')', '{', '}', '%', '\'', '"', '`', '<', '>', ' ',
    '\t', '\n', '\r', '\0', '\u{7f}', '-', '_', '+', '=', ',', ';', '*', '#', '?', '&', '0', '1',
    '9', 'a', 'f', 'x', 'X', 'Z', 'ü', 'ß', 'İ', 'ſ', 'K', '\u{200d}', '\u{200b}', '\u{202e}',
    '\u{301}', '\u{fffd}', '\u{feff}', '🦀', '中', 'ا', '\u{3002}', '\u{ff0e}',
];

/// One edit at a position given as a fraction (`at / u16::MAX`) of the string's length in characters.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Inserts a character.
    Insert(u16, char),
    /// Deletes the character there.
    Delete(u16),
    /// Replaces the character there.
    Replace(u16, char),
    /// Repeats the `len` characters from there `times` times.
    Repeat(u16, u8, u8),
    /// Cuts the string there.
    Truncate(u16),
}

fn character() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::sample::select(INTERESTING),
        1 => any::<char>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<u16>(), character()).prop_map(|(at, c)| Edit::Insert(at, c)),
        3 => any::<u16>().prop_map(Edit::Delete),
        3 => (any::<u16>(), character()).prop_map(|(at, c)| Edit::Replace(at, c)),
        1 => (any::<u16>(), 1u8..8, 1u8..20).prop_map(|(at, len, times)| Edit::Repeat(at, len, times)),
        1 => any::<u16>().prop_map(Edit::Truncate),
    ]
}

/// Returns a strategy of zero to `max` edits.
pub fn edits(max: usize) -> BoxedStrategy<Vec<Edit>> {
    proptest::collection::vec(edit(), 0..=max).boxed()
}

/// Applies `edits` to `value`, in order.
pub fn apply_edits(value: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let position = |at: u16, len: usize| (usize::from(at) * len) / usize::from(u16::MAX).max(1);
    for edit in edits {
        let len = chars.len();
        match *edit {
            Edit::Insert(at, c) => chars.insert(position(at, len), c),
            Edit::Delete(at) if len > 0 => {
                chars.remove(position(at, len - 1));
            }
            Edit::Replace(at, c) if len > 0 => chars[position(at, len - 1)] = c,
            Edit::Repeat(at, span, times) if len > 0 => {
                let start = position(at, len - 1);
                let end = (start + usize::from(span)).min(len);
                let piece: Vec<char> = chars[start..end].to_vec();
                for _ in 0..times {
                    chars.splice(end..end, piece.iter().copied());
                }
            }
            Edit::Truncate(at) => chars.truncate(position(at, len)),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// Returns a strategy of `base`'s values, each mutated by up to `max_edits` edits (none in about a third of the
/// cases, so that valid inputs keep being exercised whole).
pub fn mutate(
    base: impl Strategy<Value = String> + 'static,
    max_edits: usize,
) -> BoxedStrategy<String> {
    (base, edits(max_edits), 0u8..3)
        .prop_map(|(value, edits, keep)| {
            if keep == 0 {
                value
            } else {
                apply_edits(&value, &edits)
            }
        })
        .boxed()
}
