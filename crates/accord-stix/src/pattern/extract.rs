//! Reduces a pattern to the exact observables it names.

use accord_domain::{
    ObservableType,
    observable::{self, FileForm, ObservableError},
    unique::dedup_by_key,
};

use super::ast::{
    ComparisonExpression, Literal, ObjectPath, ObservationExpression, Operator, PathComponent,
    Pattern, PropertyTest,
};

/// What kind of exact value a comparison names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExactKind {
    /// `ipv4-addr:value` (address or CIDR block).
    Ipv4,
    /// `ipv6-addr:value` (address or CIDR block).
    Ipv6,
    /// `domain-name:value`.
    Domain,
    /// `url:value`.
    Url,
    /// `email-addr:value`.
    Email,
    /// `file:hashes.<algorithm>`, the algorithm as written (`SHA-256`).
    FileHash(String),
    /// `file:name`.
    FileName,
    /// `x509-certificate:serial_number`.
    X509Serial,
}

impl ExactKind {
    /// Returns the Accord observable type this value becomes, or `None` for kinds Accord does not index (hashes other
    /// than MD5, SHA-1, SHA-256 and SHA-512). File names and hashes are both `file`; certificate serials are
    /// `x509-certificate`.
    pub fn observable_type(&self) -> Option<ObservableType> {
        match self {
            ExactKind::Ipv4 => Some(ObservableType::Ipv4Addr),
            ExactKind::Ipv6 => Some(ObservableType::Ipv6Addr),
            ExactKind::Domain => Some(ObservableType::DomainName),
            ExactKind::Url => Some(ObservableType::Url),
            ExactKind::Email => Some(ObservableType::EmailAddr),
            ExactKind::FileHash(algorithm) => {
                is_indexed_hash(algorithm).then_some(ObservableType::File)
            }
            ExactKind::FileName => Some(ObservableType::File),
            ExactKind::X509Serial => Some(ObservableType::X509Certificate),
        }
    }
}

/// Returns `true` for the hash algorithms Accord indexes (MD5, SHA-1, SHA-256, SHA-512), however written (`SHA-256`,
/// `sha256`, `SHA_256`).
pub(crate) fn is_indexed_hash(algorithm: &str) -> bool {
    let name = algorithm.to_ascii_uppercase().replace(['-', '_'], "");
    matches!(name.as_str(), "MD5" | "SHA1" | "SHA256" | "SHA512")
}

/// One value a pattern compares with `=` (or lists after `IN`) on a value-bearing property.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PatternObservable {
    /// What it is.
    pub kind: ExactKind,
    /// The value as written in the pattern (not yet canonical).
    pub value: String,
}

impl PatternObservable {
    /// Returns the canonical indicator this value becomes, `None` when it becomes none, or why the value is invalid.
    ///
    /// `None` for kinds Accord does not index, and for a `file:name` that reads as a digest (32 hex digits or more):
    /// an Accord `file` value of that shape is a hash ([`FileForm::of`]), so the name cannot be indexed as a name. A
    /// `file:hashes.*` value must be a digest and a `file:name` a file name: the property decides, not the shape.
    ///
    /// # Errors
    /// Returns the [`ObservableError`] of an invalid value (`[file:name = 'C:\\x.exe']`, a hash of the wrong
    /// length, `[ipv4-addr:value = '999.1.1.1']`).
    pub fn canonicalize(&self) -> Option<Result<(ObservableType, String), ObservableError>> {
        let kind = self.kind.observable_type()?;
        let result = match &self.kind {
            ExactKind::FileHash(_) => observable::canonicalize_file(&self.value, FileForm::Hash)
                .map(|value| (kind, value)),
            ExactKind::FileName => {
                if FileForm::of(&observable::refang(&self.value)) == FileForm::Hash {
                    return None;
                }
                observable::canonicalize_file(&self.value, FileForm::Name)
                    .map(|value| (kind, value))
            }
            _ => observable::canonicalize(Some(kind), &self.value),
        };
        Some(result)
    }
}

impl Pattern {
    /// Returns the exact observables of the pattern, in order of appearance, without repeats. Values under `NOT`, and
    /// values compared with anything but `=` or `IN`, are not exact and are left out. Each needs a string literal of
    /// its own (two quotes, a character and a separator), so a pattern of `n` characters names at most `n / 4 + 1`,
    /// found in time linear in the pattern.
    pub fn observables(&self) -> Vec<PatternObservable> {
        let mut found = Vec::new();
        observation(&self.expression, &mut found);
        dedup_by_key(&mut found, Clone::clone);
        found
    }

    /// Returns `true` when the pattern names at least one exact observable.
    pub fn is_exact(&self) -> bool {
        !self.observables().is_empty()
    }
}

fn observation(expression: &ObservationExpression, found: &mut Vec<PatternObservable>) {
    match expression {
        ObservationExpression::Observation(comparison_expression) => {
            comparison(comparison_expression, found)
        }
        ObservationExpression::And(left, right)
        | ObservationExpression::Or(left, right)
        | ObservationExpression::FollowedBy(left, right) => {
            observation(left, found);
            observation(right, found);
        }
        ObservationExpression::Qualified(inner, _) => observation(inner, found),
    }
}

fn comparison(expression: &ComparisonExpression, found: &mut Vec<PatternObservable>) {
    match expression {
        ComparisonExpression::And(left, right) | ComparisonExpression::Or(left, right) => {
            comparison(left, found);
            comparison(right, found);
        }
        ComparisonExpression::Test(PropertyTest::Compare {
            path,
            negated: false,
            operator: Operator::Eq,
            value,
        }) => push(path, value, found),
        ComparisonExpression::Test(PropertyTest::In {
            path,
            negated: false,
            values,
        }) => {
            for value in values {
                push(path, value, found);
            }
        }
        ComparisonExpression::Test(_) => {}
    }
}

fn push(path: &ObjectPath, value: &Literal, found: &mut Vec<PatternObservable>) {
    let Literal::String(value) = value else {
        // A value-bearing property compared with a number or a boolean names nothing Accord can index.
        return;
    };
    let Some(kind) = exact_kind(path) else {
        return;
    };
    found.push(PatternObservable {
        kind,
        value: value.clone(),
    });
}

fn exact_kind(path: &ObjectPath) -> Option<ExactKind> {
    let property = |name: &str| matches!(path.components.as_slice(), [PathComponent::Property(only)] if only == name);
    match path.object_type.as_str() {
        "ipv4-addr" if property("value") => Some(ExactKind::Ipv4),
        "ipv6-addr" if property("value") => Some(ExactKind::Ipv6),
        "domain-name" if property("value") => Some(ExactKind::Domain),
        "url" if property("value") => Some(ExactKind::Url),
        "email-addr" if property("value") => Some(ExactKind::Email),
        "file" if property("name") => Some(ExactKind::FileName),
        "x509-certificate" if property("serial_number") => Some(ExactKind::X509Serial),
        "file" => match path.components.as_slice() {
            [
                PathComponent::Property(hashes),
                PathComponent::Property(algorithm),
            ] if hashes == "hashes" => Some(ExactKind::FileHash(algorithm.clone())),
            _ => None,
        },
        _ => None,
    }
}
