//! The syntax tree of a STIX 2.1 pattern.

/// A parsed pattern: one observation expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// The top-level observation expression.
    pub expression: ObservationExpression,
}

/// An observation expression: `[...]`, combined with `AND`, `OR`, `FOLLOWEDBY`, or qualified.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationExpression {
    /// `[ comparison ]`.
    Observation(ComparisonExpression),
    /// `a AND b`.
    And(Box<ObservationExpression>, Box<ObservationExpression>),
    /// `a OR b`.
    Or(Box<ObservationExpression>, Box<ObservationExpression>),
    /// `a FOLLOWEDBY b`.
    FollowedBy(Box<ObservationExpression>, Box<ObservationExpression>),
    /// `a WITHIN … | REPEATS … | START … STOP …`.
    Qualified(Box<ObservationExpression>, Qualifier),
}

/// An observation qualifier.
#[derive(Debug, Clone, PartialEq)]
pub enum Qualifier {
    /// `WITHIN n SECONDS` (n > 0, integer or float).
    Within(f64),
    /// `REPEATS n TIMES` (n > 0).
    Repeats(u64),
    /// `START t'…' STOP t'…'` (RFC 3339 timestamps, start before stop).
    StartStop {
        /// Start, as written.
        start: String,
        /// Stop, as written.
        stop: String,
    },
}

/// A comparison expression inside `[...]`.
#[derive(Debug, Clone, PartialEq)]
pub enum ComparisonExpression {
    /// One property test.
    Test(PropertyTest),
    /// `a AND b`.
    And(Box<ComparisonExpression>, Box<ComparisonExpression>),
    /// `a OR b`.
    Or(Box<ComparisonExpression>, Box<ComparisonExpression>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `=`.
    Eq,
    /// `!=` or `<>`.
    Neq,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `LIKE`.
    Like,
    /// `MATCHES`.
    Matches,
    /// `ISSUBSET`.
    IsSubset,
    /// `ISSUPERSET`.
    IsSuperset,
}

/// One test of one object property.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyTest {
    /// `path [NOT] op literal`.
    Compare {
        /// The property.
        path: ObjectPath,
        /// `NOT` before the operator.
        negated: bool,
        /// The operator.
        operator: Operator,
        /// The right-hand side.
        value: Literal,
    },
    /// `path [NOT] IN (literal, …)`.
    In {
        /// The property.
        path: ObjectPath,
        /// `NOT` before `IN`.
        negated: bool,
        /// The set.
        values: Vec<Literal>,
    },
    /// `EXISTS path`.
    Exists(ObjectPath),
}

/// An object path: `file:hashes.'SHA-256'`, `network-traffic:extensions[0].x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    /// The cyber-observable type (`file`).
    pub object_type: String,
    /// The property path, first component first.
    pub components: Vec<PathComponent>,
}

impl ObjectPath {
    /// Returns the path after the type as written in dotted form without quotes: `hashes.SHA-256`, `values[*].name`.
    pub fn property(&self) -> String {
        let mut out = String::new();
        for component in &self.components {
            match component {
                PathComponent::Property(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                PathComponent::Index(index) => out.push_str(&format!("[{index}]")),
                PathComponent::AnyIndex => out.push_str("[*]"),
            }
        }
        out
    }
}

/// One step of an object path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathComponent {
    /// A property name (unquoted identifier or quoted key).
    Property(String),
    /// `[n]`.
    Index(u64),
    /// `[*]`.
    AnyIndex,
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'` (escapes resolved).
    String(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `b'…'`: base64 as written.
    Binary(String),
    /// `h'…'`: hex as written.
    Hex(String),
    /// `t'…'`: an RFC 3339 timestamp as written.
    Timestamp(String),
}
