//! Splits a pattern into tokens, each with the character position where it starts.

use super::PatternError;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// An identifier or keyword: `[A-Za-z_][A-Za-z0-9_-]*`.
    Ident(String),
    /// `'…'`, escapes resolved.
    Str(String),
    /// `b'…'`.
    Binary(String),
    /// `h'…'`.
    Hex(String),
    /// `t'…'`.
    Timestamp(String),
    /// An integer (optionally signed).
    Int(i64),
    /// A float (optionally signed).
    Float(f64),
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Colon,
    Dot,
    Star,
    Eq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Tok {
    /// Describes the token for an error message.
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Binary(_) => "a binary literal".to_owned(),
            Tok::Hex(_) => "a hex literal".to_owned(),
            Tok::Timestamp(_) => "a timestamp".to_owned(),
            Tok::Int(value) => format!("`{value}`"),
            Tok::Float(value) => format!("`{value}`"),
            Tok::LBracket => "`[`".to_owned(),
            Tok::RBracket => "`]`".to_owned(),
            Tok::LParen => "`(`".to_owned(),
            Tok::RParen => "`)`".to_owned(),
            Tok::Comma => "`,`".to_owned(),
            Tok::Colon => "`:`".to_owned(),
            Tok::Dot => "`.`".to_owned(),
            Tok::Star => "`*`".to_owned(),
            Tok::Eq => "`=`".to_owned(),
            Tok::Neq => "`!=`".to_owned(),
            Tok::Lt => "`<`".to_owned(),
            Tok::Le => "`<=`".to_owned(),
            Tok::Gt => "`>`".to_owned(),
            Tok::Ge => "`>=`".to_owned(),
        }
    }
}

/// A token and the character position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) at: usize,
}

/// Tokenizes a whole pattern.
pub(super) fn tokenize(pattern: &str) -> Result<Vec<Token>, PatternError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let (tok, end) = match punctuation(chars[i]) {
            Some(tok) => (tok, i + 1),
            None => token_at(&chars, i)?,
        };
        tokens.push(Token { tok, at: i });
        i = end;
    }
    Ok(tokens)
}

/// Returns the token of a one-character punctuation mark.
fn punctuation(c: char) -> Option<Tok> {
    match c {
        '[' => Some(Tok::LBracket),
        ']' => Some(Tok::RBracket),
        '(' => Some(Tok::LParen),
        ')' => Some(Tok::RParen),
        ',' => Some(Tok::Comma),
        ':' => Some(Tok::Colon),
        '*' => Some(Tok::Star),
        '=' => Some(Tok::Eq),
        _ => None,
    }
}

/// Reads the token starting at `i` (not whitespace, not one-character punctuation): a comparison operator, a string,
/// a number, a word or a prefixed literal. Returns it with the position after it.
fn token_at(chars: &[char], i: usize) -> Result<(Tok, usize), PatternError> {
    let c = chars[i];
    let next = chars.get(i + 1).copied();
    match c {
        '!' if next == Some('=') => Ok((Tok::Neq, i + 2)),
        '!' => Err(PatternError::new(i, "expected `!=`")),
        '<' => Ok(match next {
            Some('=') => (Tok::Le, i + 2),
            Some('>') => (Tok::Neq, i + 2),
            _ => (Tok::Lt, i + 1),
        }),
        '>' => Ok(match next {
            Some('=') => (Tok::Ge, i + 2),
            _ => (Tok::Gt, i + 1),
        }),
        '\'' => {
            let (text, end) = string(chars, i)?;
            Ok((Tok::Str(text), end))
        }
        '.' if !next.is_some_and(|n| n.is_ascii_digit()) => Ok((Tok::Dot, i + 1)),
        '+' | '-' | '.' | '0'..='9' => number(chars, i),
        c if c.is_ascii_alphabetic() || c == '_' => word(chars, i),
        other => Err(PatternError::new(
            i,
            format!("unexpected character `{other}`"),
        )),
    }
}

/// Reads a word (an identifier) at `i`, or a prefixed literal (`b'…'`, `h'…'`, `t'…'`).
fn word(chars: &[char], i: usize) -> Result<(Tok, usize), PatternError> {
    let c = chars[i];
    let mut end = i + 1;
    while end < chars.len()
        && (chars[end].is_ascii_alphanumeric() || chars[end] == '_' || chars[end] == '-')
    {
        end += 1;
    }
    if end - i == 1 && chars.get(end) == Some(&'\'') && matches!(c, 'b' | 'h' | 't') {
        let (text, after) = string(chars, end)?;
        return Ok((prefixed(c, text, i)?, after));
    }
    let word: String = chars[i..end].iter().collect();
    Ok((Tok::Ident(word), end))
}

/// Reads the string starting with the quote at `start`; returns its text and the position after the closing quote.
/// Only `\\` and `\'` are escapes (STIX 2.1 §9.3).
fn string(chars: &[char], start: usize) -> Result<(String, usize), PatternError> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\'' => return Ok((text, i + 1)),
            '\\' => match chars.get(i + 1) {
                Some(escaped @ ('\\' | '\'')) => {
                    text.push(*escaped);
                    i += 2;
                }
                Some(_) => {
                    return Err(PatternError::new(
                        i,
                        "invalid escape: only \\\\ and \\' are allowed in a string",
                    ));
                }
                None => break,
            },
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err(PatternError::new(start, "unterminated string"))
}

/// Reads an integer or float starting at `start`.
fn number(chars: &[char], start: usize) -> Result<(Tok, usize), PatternError> {
    let mut i = start;
    if matches!(chars[i], '+' | '-') {
        i += 1;
    }
    let digits_start = i;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    let mut is_float = false;
    if i < chars.len() && chars[i] == '.' {
        is_float = true;
        i += 1;
        let fraction_start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if i == fraction_start {
            return Err(PatternError::new(i, "expected digits after `.`"));
        }
    }
    if i == digits_start {
        return Err(PatternError::new(start, "expected a number"));
    }
    if i < chars.len() && (chars[i].is_ascii_alphabetic() || chars[i] == '_') {
        return Err(PatternError::new(i, "unexpected character after a number"));
    }
    let text: String = chars[start..i].iter().collect();
    let tok = if is_float {
        Tok::Float(
            text.parse()
                .map_err(|_| PatternError::new(start, "not a valid float"))?,
        )
    } else {
        Tok::Int(
            text.parse()
                .map_err(|_| PatternError::new(start, "integer out of range"))?,
        )
    };
    Ok((tok, i))
}

/// Checks a `b'…'`, `h'…'` or `t'…'` literal.
fn prefixed(prefix: char, text: String, at: usize) -> Result<Tok, PatternError> {
    match prefix {
        'h' => {
            if !text.len().is_multiple_of(2) || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return Err(PatternError::new(
                    at,
                    "a hex literal needs an even number of hex digits",
                ));
            }
            Ok(Tok::Hex(text))
        }
        'b' => {
            let body = text.trim_end_matches('=');
            let padding = text.len() - body.len();
            let valid = text.len().is_multiple_of(4)
                && padding <= 2
                && body
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/');
            if !valid {
                return Err(PatternError::new(at, "a binary literal must be base64"));
            }
            Ok(Tok::Binary(text))
        }
        _ => {
            let parsed = chrono::DateTime::parse_from_rfc3339(&text);
            if parsed.is_err() || !text.ends_with('Z') {
                return Err(PatternError::new(
                    at,
                    "a timestamp must be RFC 3339 in UTC: t'2026-11-20T08:00:00Z'",
                ));
            }
            Ok(Tok::Timestamp(text))
        }
    }
}
