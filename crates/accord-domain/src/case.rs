//! The case reference an investigator states with every request, normalized once, here.
//!
//! [`Case::parse`] is the one rule: surrounding white space is trimmed, control characters are refused, and what
//! remains is 1 to [`MAX_CASE_CHARS`] characters (Unicode scalar values). Everything that stores or matches a case
//! takes a [`Case`]: the audit record, the auditor's `case=` filter, a search's `case`, TAXII's `X-Accord-Case`.
//! So `"CASE-1 "` and `"CASE-1"` are one case, stored and found as `CASE-1`. Letter case is kept: agencies' case
//! references are identifiers, and `case-1` may be another case than `CASE-1`.
//!
//! Reading a stored record is the one way around [`Case::parse`]: deserialization keeps the value exactly as it was
//! written, because audit records written before cases were normalized must keep their bytes for their hashes to
//! verify. [`Case::matches`] compares such a stored value by its normalized form.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest case reference, in characters.
pub const MAX_CASE_CHARS: usize = 200;

/// Why a stated case reference was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// Nothing but white space (or nothing at all).
    #[error("required: your case reference")]
    Empty,
    /// More than [`MAX_CASE_CHARS`] characters after trimming.
    #[error("at most 200 characters")]
    TooLong,
    /// A control character (a line break, a NUL, an escape…).
    #[error("must not contain control characters")]
    Control,
}

/// A normalized case reference (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Case(String);

impl Case {
    /// Returns the normalized case reference of what a client stated.
    ///
    /// # Errors
    /// [`CaseError`] naming the rule the value breaks.
    pub fn parse(stated: &str) -> Result<Self, CaseError> {
        let trimmed = stated.trim();
        if trimmed.is_empty() {
            return Err(CaseError::Empty);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(CaseError::Control);
        }
        if trimmed.chars().count() > MAX_CASE_CHARS {
            return Err(CaseError::TooLong);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Returns the reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns whether a stored case is this one: compared by its normalized form, so that a record written before
    /// normalization (`"CASE-1 "`) is found by `CASE-1`.
    pub fn matches(&self, stored: &Case) -> bool {
        Case::parse(&stored.0).is_ok_and(|normalized| normalized == *self)
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(Case::parse("  CASE-1 \t").unwrap().as_str(), "CASE-1");
        assert_eq!(
            Case::parse("Fall 2026/17").unwrap().as_str(),
            "Fall 2026/17"
        );
        assert_eq!(Case::parse(""), Err(CaseError::Empty));
        assert_eq!(Case::parse(" \n "), Err(CaseError::Empty));
        assert_eq!(Case::parse("A\nB"), Err(CaseError::Control));
        assert_eq!(Case::parse("A\u{1b}[31m"), Err(CaseError::Control));
        assert_eq!(Case::parse("A\u{0}"), Err(CaseError::Control));
        // Characters, not bytes: 200 umlauts are 400 bytes and still a valid reference.
        assert!(Case::parse(&"ä".repeat(MAX_CASE_CHARS)).is_ok());
        assert_eq!(
            Case::parse(&"a".repeat(MAX_CASE_CHARS + 1)),
            Err(CaseError::TooLong)
        );
        // Padding does not count.
        assert!(Case::parse(&format!("  {}  ", "a".repeat(MAX_CASE_CHARS))).is_ok());
    }

    #[test]
    fn stored_cases_keep_their_bytes_and_match_by_their_normalized_form() {
        let stored: Case = serde_json::from_str("\"CASE-1  \"").unwrap();
        assert_eq!(serde_json::to_string(&stored).unwrap(), "\"CASE-1  \"");
        let filter = Case::parse("CASE-1").unwrap();
        assert!(filter.matches(&stored));
        assert!(filter.matches(&Case::parse(" CASE-1").unwrap()));
        assert!(!filter.matches(&Case::parse("case-1").unwrap()));
        assert!(!filter.matches(&Case::parse("CASE-10").unwrap()));
    }
}
