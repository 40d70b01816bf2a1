//! The model's query side: matching the query DSL Accord emits against a document, the text analyzers, `ip_range`
//! as OpenSearch stores it, and the clause count `indices.query.bool.max_clause_count` limits.

use std::net::IpAddr;

use serde_json::{Value, json};

/// How the model tokenizes `title` and `description`, as the index's mapping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Analyzer {
    /// `standard` (the default): Unicode word boundaries (UAX #29), so `evil.example`, `10.1.2.3` and `it's` stay
    /// one token each (a `.`, `'` or `:` between letters, or a `.` or `,` between digits, joins them).
    Standard,
    /// Accord's `accord_text`: runs of letters and digits, lower-cased, 40 bytes or more dropped.
    AccordText,
}

impl Analyzer {
    /// Returns the tokens of `text`.
    pub(crate) fn tokens(self, text: &str) -> Vec<String> {
        match self {
            Analyzer::AccordText => text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|token| !token.is_empty() && token.len() < 40)
                .map(str::to_lowercase)
                .collect(),
            Analyzer::Standard => standard_tokens(text),
        }
    }
}

/// A rough UAX #29 word splitter: alphanumeric runs, joined across one `.`, `'`, `:` (letters) or `.`, `,` (digits)
/// when alphanumerics follow.
fn standard_tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut current = String::new();
    for (at, &c) in chars.iter().enumerate() {
        let joins = matches!(c, '.' | '\'' | ':' | ',')
            && !current.is_empty()
            && chars.get(at + 1).is_some_and(|next| next.is_alphanumeric());
        if c.is_alphanumeric() || joins {
            current.push(c);
        } else if !current.is_empty() {
            tokens.push(std::mem::take(&mut current).to_lowercase());
        }
    }
    if !current.is_empty() {
        tokens.push(current.to_lowercase());
    }
    tokens
}

/// An `ip_range` value as OpenSearch parses it: an IPv4-mapped address is an IPv4 address (Java's `InetAddress`),
/// so CIDR notation with a prefix beyond 32 on it is refused; IPv4 ranges are then stored as IPv4-mapped IPv6.
pub(crate) fn parse_ip_range(value: &str) -> Result<(u128, u128), String> {
    let (address, prefix) = value
        .split_once('/')
        .ok_or_else(|| format!("expected [ip/prefix] but was [{value}]"))?;
    let address: IpAddr = address
        .parse()
        .map_err(|_| format!("'{address}' is not an IP string literal."))?;
    let prefix: u32 = prefix
        .parse()
        .map_err(|_| format!("invalid prefix in [{value}]"))?;
    let address = address.to_canonical();
    let width = if address.is_ipv4() { 32 } else { 128 };
    if prefix > width {
        return Err(format!(
            "Illegal prefix length [{prefix}] for address [{value}]; IPv4-mapped addresses are IPv4"
        ));
    }
    let bits = stored(address);
    // An IPv4 address fills the low 32 bits of its mapped form.
    let host_bits = width - prefix;
    let mask = if host_bits >= 128 {
        0
    } else {
        u128::MAX << host_bits
    };
    Ok((bits & mask, (bits & mask) | !mask))
}

/// Returns an address as `ip` and `ip_range` store it: 16 bytes, IPv4 as IPv4-mapped IPv6.
fn stored(address: IpAddr) -> u128 {
    match address.to_canonical() {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Whether a stored `ip_range` value contains an address (one 16-byte space: `::/0` contains every IPv4 address).
pub(crate) fn contains(block: &str, ip: IpAddr) -> bool {
    parse_ip_range(block).is_ok_and(|(low, high)| (low..=high).contains(&stored(ip)))
}

/// Returns the values of a keyword field (one or many).
pub(crate) fn values(source: &Value, field: &str) -> Vec<String> {
    match &source[field] {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Value::String(value) => vec![value.clone()],
        _ => Vec::new(),
    }
}

/// The one `(name, spec)` pair of a query clause or of its field.
fn single(value: &Value) -> (&String, &Value) {
    value
        .as_object()
        .and_then(|object| object.iter().next())
        .expect("a one-key object")
}

/// Returns the clauses Lucene counts against `max_clause_count`: one per leaf, one per word and field of a text
/// query.
pub(crate) fn clause_count(query: &Value, analyzer: Analyzer) -> usize {
    let (kind, spec) = single(query);
    match kind.as_str() {
        "bool" => ["filter", "should", "must_not", "must"]
            .iter()
            .filter_map(|occur| spec[*occur].as_array())
            .flatten()
            .map(|clause| clause_count(clause, analyzer))
            .sum(),
        "simple_query_string" => {
            let fields = spec["fields"].as_array().map_or(1, Vec::len);
            fields
                * analyzer
                    .tokens(spec["query"].as_str().unwrap_or_default())
                    .len()
        }
        _ => 1,
    }
}

/// Whether `source` matches `query`.
pub(crate) fn matches(query: &Value, source: &Value, analyzer: Analyzer) -> bool {
    let (kind, spec) = single(query);
    match kind.as_str() {
        "bool" => {
            let all = |occur: &str| {
                spec[occur]
                    .as_array()
                    .is_none_or(|all| all.iter().all(|q| matches(q, source, analyzer)))
            };
            let should = spec["should"]
                .as_array()
                .is_none_or(|any| any.iter().any(|q| matches(q, source, analyzer)));
            let must_not = spec["must_not"]
                .as_array()
                .is_none_or(|none| !none.iter().any(|q| matches(q, source, analyzer)));
            all("filter") && all("must") && should && must_not
        }
        "term" => {
            let (field, value) = single(spec);
            let value = value.as_str().expect("term value");
            if field.starts_with("cidr") {
                let ip: IpAddr = value.parse().expect("term on ip_range takes an address");
                return values(source, field)
                    .iter()
                    .any(|block| contains(block, ip));
            }
            values(source, field).iter().any(|stored| stored == value)
        }
        "terms" => {
            let (field, wanted) = single(spec);
            let stored = values(source, field);
            wanted
                .as_array()
                .expect("terms list")
                .iter()
                .any(|w| w.as_str().is_some_and(|w| stored.iter().any(|s| s == w)))
        }
        "range" => range(spec, source),
        "simple_query_string" => {
            assert_eq!(spec["default_operator"], json!("and"));
            let text: Vec<String> = ["title", "description"]
                .iter()
                .flat_map(|field| analyzer.tokens(source[field].as_str().unwrap_or_default()))
                .collect();
            simple_query(spec["query"].as_str().expect("query"), &text, analyzer)
        }
        other => panic!("the model does not know `{other}` queries"),
    }
}

/// A `range` on a date field.
fn range(spec: &Value, source: &Value) -> bool {
    let (field, bounds) = single(spec);
    let Some(stored) = source[field].as_str() else {
        return false;
    };
    // Dates are fixed-width RFC 3339 with nanoseconds: string order is time order.
    bounds
        .as_object()
        .expect("bounds")
        .iter()
        .all(|(op, bound)| {
            let bound = bound.as_str().expect("date bound");
            assert_eq!(bound.len(), 30, "dates are sent with nanoseconds: {bound}");
            match op.as_str() {
                "gte" => stored >= bound,
                "gt" => stored > bound,
                "lte" => stored <= bound,
                "lt" => stored < bound,
                other => panic!("range operator {other}"),
            }
        })
}

/// `simple_query_string` with AND as default operator: words, `-word`, `+word` and `"phrases"`, each analyzed as
/// the field is.
fn simple_query(query: &str, text: &[String], analyzer: Analyzer) -> bool {
    let mut parts = Vec::new();
    let mut rest = query;
    while let Some(start) = rest.find('"') {
        let Some(len) = rest[start + 1..].find('"') else {
            break;
        };
        parts.extend(
            rest[..start]
                .split_whitespace()
                .map(|w| (w.to_owned(), false)),
        );
        parts.push((rest[start + 1..start + 1 + len].to_owned(), true));
        rest = &rest[start + len + 2..];
    }
    parts.extend(rest.split_whitespace().map(|w| (w.to_owned(), false)));
    parts.iter().all(|(part, phrase)| {
        let (negated, word) = match part.strip_prefix('-') {
            Some(word) if !phrase => (true, word),
            _ => (false, part.strip_prefix('+').unwrap_or(part)),
        };
        let wanted = analyzer.tokens(word);
        if wanted.is_empty() {
            return true;
        }
        let found = text
            .windows(wanted.len())
            .any(|window| window == wanted.as_slice())
            || (!phrase && wanted.iter().all(|token| text.contains(token)));
        found != negated
    })
}

#[test]
fn the_model_contains_like_ip_range() {
    assert!(contains("10.0.0.0/8", "10.200.0.1".parse().unwrap()));
    assert!(!contains("10.0.0.0/8", "11.0.0.1".parse().unwrap()));
    assert!(contains("0.0.0.0/0", "203.0.113.9".parse().unwrap()));
    assert!(!contains("0.0.0.0/0", "2001:db8::1".parse().unwrap()));
    // One 16-byte space: an IPv6 catch-all holds every IPv4 address.
    assert!(contains("::/0", "203.0.113.9".parse().unwrap()));
    assert!(contains(
        "2001:db8::/32",
        "2001:db8:ffff::2".parse().unwrap()
    ));
    assert!(parse_ip_range("::ffff:10.0.0.0/104").is_err());
    assert!(parse_ip_range("::ffff:10.0.0.0/8").is_ok());
}

#[test]
fn the_model_analyzers_split_like_their_namesakes() {
    assert_eq!(
        Analyzer::Standard.tokens("Seen at evil.example, from 10.1.2.3."),
        ["seen", "at", "evil.example", "from", "10.1.2.3"]
    );
    assert_eq!(
        Analyzer::AccordText.tokens("Seen at evil.example, from 10.1.2.3."),
        ["seen", "at", "evil", "example", "from", "10", "1", "2", "3"]
    );
}
