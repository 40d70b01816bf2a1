//! The STIX 2.1 patterning language (STIX 2.1 §9): a hand-written lexer and recursive-descent parser, and the
//! reduction of a pattern to the exact observables it names.
//!
//! - [`parse`] turns a pattern into a [`Pattern`] or a [`PatternError`] that says at which character (0-based, counted
//!   in Unicode scalar values) the pattern stops making sense.
//! - [`Pattern::observables`] lists the values compared with `=` (or `IN`, a disjunction of equalities) on
//!   value-bearing properties — `ipv4-addr:value`, `ipv6-addr:value` (CIDR included), `domain-name:value`,
//!   `url:value`, `email-addr:value`, `file:hashes.*`, `file:name`, `x509-certificate:serial_number` — outside any
//!   `NOT`. `LIKE`, `MATCHES`, `!=`, orderings and set operators name no exact value and produce nothing.
//!   [`PatternObservable::canonicalize`] turns one into an Accord indicator (`file:hashes.*` and `file:name` both
//!   become `file`, the serial an `x509-certificate`).
//!
//! Grammar, loosest binding first (keywords are case-insensitive, as in the OASIS ANTLR grammar):
//! ```text
//! pattern      := obs_seq EOF
//! obs_seq      := obs_or ( FOLLOWEDBY obs_or )*
//! obs_or       := obs_and ( OR obs_and )*
//! obs_and      := obs_qual ( AND obs_qual )*
//! obs_qual     := obs_primary ( WITHIN num SECONDS | REPEATS int TIMES | START t'..' STOP t'..' )*
//! obs_primary  := '[' cmp_or ']' | '(' obs_seq ')'
//! cmp_or       := cmp_and ( OR cmp_and )*
//! cmp_and      := test ( AND test )*
//! test         := '(' cmp_or ')' | EXISTS path | path [NOT] op literal | path [NOT] IN '(' literal (',' literal)* ')'
//! path         := type ':' (ident | 'quoted') ( '.' (ident | 'quoted') | '[' int ']' | '[*]' )*
//! op           := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>=' | LIKE | MATCHES | ISSUBSET | ISSUPERSET
//! literal      := 'string' | int | float | true | false | b'base64' | h'hex' | t'timestamp'
//! ```

mod ast;
mod extract;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

pub use ast::{
    ComparisonExpression, Literal, ObjectPath, ObservationExpression, Operator, PathComponent,
    Pattern, PropertyTest, Qualifier,
};
pub(crate) use extract::is_indexed_hash;
pub use extract::{ExactKind, PatternObservable};

/// Why a pattern does not parse: the character position (0-based) where the problem is, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {position}: {message}")]
pub struct PatternError {
    /// 0-based position, in characters, in the pattern.
    pub position: usize,
    /// What is wrong, lower-case.
    pub message: String,
}

impl PatternError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

/// The longest pattern accepted, in characters: a guard against pathological input.
pub const MAX_PATTERN_CHARS: usize = 65_536;

/// The deepest nesting of parentheses and brackets accepted: the parser recurses once per level.
pub const MAX_DEPTH: usize = 64;

/// Parses a STIX 2.1 pattern.
///
/// # Errors
/// Returns a [`PatternError`] naming the character position of the first problem: an unexpected or missing token,
/// an unterminated string, a malformed literal (hex, base64, timestamp, number), a property name containing `-`
/// without quotes, a qualifier out of range, too deep a nesting or too long a pattern.
pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
    let chars = pattern.chars().count();
    if chars > MAX_PATTERN_CHARS {
        return Err(PatternError::new(
            MAX_PATTERN_CHARS,
            format!("a pattern may be at most {MAX_PATTERN_CHARS} characters"),
        ));
    }
    let tokens = lexer::tokenize(pattern)?;
    parser::Parser::new(tokens, chars).parse()
}
