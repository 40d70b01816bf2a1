//! STIX 2.1 patterns generated from the grammar, each with the exact observables it names (the oracle the parser's
//! [`observables`](https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_me3pzm77qfnf) must reproduce), and
//! pathological shapes: deep nesting, long flat chains, huge sets, long strings.
//!
//! An exact observable is a string compared with `=` (or listed after `IN`) on a value-bearing property, outside
//! `NOT`; it is written as `(tag, value)` with the tags `ipv4`, `ipv6`, `domain`, `url`, `email`, `file-name`,
//! `x509` and `hash:<algorithm as written>`.

use proptest::prelude::*;

use crate::observables;

/// A generated pattern and the exact observables it names, in order of appearance, without repeats.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The pattern text.
    pub text: String,
    /// `(tag, value)` of every exact observable.
    pub exact: Vec<(String, String)>,
}

impl Generated {
    fn leaf(text: String, exact: Vec<(String, String)>) -> Self {
        Self { text, exact }
    }

    fn join(self, keyword: &str, other: Generated, parenthesize: bool) -> Self {
        let text = format!("{} {keyword} {}", self.text, other.text);
        let text = if parenthesize {
            format!("({text})")
        } else {
            text
        };
        let mut exact = self.exact;
        for pair in other.exact {
            if !exact.contains(&pair) {
                exact.push(pair);
            }
        }
        Self { text, exact }
    }
}

/// `(object type, property path as written, tag when the property is value-bearing)`.
const PATHS: &[(&str, &str, Option<&str>)] = &[
    ("ipv4-addr", "value", Some("ipv4")),
    ("ipv4-addr", "'value'", Some("ipv4")),
    ("ipv6-addr", "value", Some("ipv6")),
    ("domain-name", "value", Some("domain")),
    ("url", "value", Some("url")),
    ("email-addr", "value", Some("email")),
    ("file", "name", Some("file-name")),
    ("x509-certificate", "serial_number", Some("x509")),
    ("file", "hashes.'SHA-256'", Some("hash:SHA-256")),
    ("file", "hashes.MD5", Some("hash:MD5")),
    ("file", "hashes.'SHA-1'", Some("hash:SHA-1")),
    ("file", "hashes.SHA512", Some("hash:SHA512")),
    ("file", "hashes.SSDEEP", Some("hash:SSDEEP")),
    ("ipv4-addr", "resolves_to_refs[*].value", None),
    ("domain-name", "resolves_to_refs[3]", None),
    ("network-traffic", "dst_port", None),
    ("process", "command_line", None),
    ("windows-registry-key", "values[0].name", None),
    ("email-message", "from_ref.value", None),
    ("x-custom-thing", "'a-b'.c", None),
    ("file", "size", None),
    ("file", "hashes", None),
];

/// A string literal's text with `\` and `'` escaped.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn keyword(word: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(word.to_owned()),
        1 => Just(word.to_lowercase()),
        1 => Just(format!("{}{}", &word[..1], word[1..].to_lowercase())),
    ]
}

/// A non-string literal (or a string for the operators that need one): `(text, is a string)`.
fn other_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|value| value.to_string()),
        (any::<i32>(), 0u32..1000).prop_map(|(whole, fraction)| format!("{whole}.{fraction}")),
        prop::sample::select(vec![
            "true",
            "false",
            "TRUE",
            "b'aGVsbG8='",
            "b'YQ=='",
            "h'00ff'",
            "h''",
            "t'2026-01-01T00:00:00Z'",
            "t'1999-12-31T23:59:59.999Z'"
        ])
        .prop_map(str::to_owned),
    ]
}

/// A string for `LIKE` or `MATCHES`, pathological ones included (nested quantifiers, huge repetitions).
fn like_or_matches() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "%evil%",
            "_a_%",
            "%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%x",
            "^(a+)+$",
            "(.*a){20}",
            "(a|a?)+b",
            "[[:alpha:]]+",
            "\\d{1000000}",
            "(?i)EVIL",
            "\\",
            "'",
            "",
        ])
        .prop_map(str::to_owned),
        "[a-z%_.*+?()\\[\\]|^$\\\\]{0,40}",
    ]
}

/// A path, whether the test is negated (`NOT`, as written), and the tag its exact observables get (none when
/// negated or not value-bearing).
fn path_and_negation() -> impl Strategy<Value = (String, String, Option<&'static str>)> {
    (prop::sample::select(PATHS), any::<bool>(), keyword("NOT")).prop_map(
        |((object, property, tag), negated, not)| {
            let not = if negated {
                format!("{not} ")
            } else {
                String::new()
            };
            (
                format!("{object}:{property}"),
                not,
                tag.filter(|_| !negated),
            )
        },
    )
}

/// The exact observables a value names under `tag`.
fn exact(tag: Option<&str>, values: &[&str]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for value in values {
        if let Some(tag) = tag {
            let pair = (tag.to_owned(), (*value).to_owned());
            if !found.contains(&pair) {
                found.push(pair);
            }
        }
    }
    found
}

/// `path [NOT] = 'value'`: exact on a value-bearing path, outside `NOT`.
fn equality() -> impl Strategy<Value = Generated> {
    let value =
        prop_oneof![4 => observables::value(), 1 => observables::wild_value(), 1 => ".{0,20}"];
    (path_and_negation(), value).prop_map(|((path, not, tag), value)| {
        Generated::leaf(
            format!("{path} {not}= {}", quote(&value)),
            exact(tag, &[&value]),
        )
    })
}

/// `path [NOT] IN ('a', 1, …)`: its strings are exact.
fn set() -> impl Strategy<Value = Generated> {
    let member = prop_oneof![
        3 => observables::value().prop_map(|value| (quote(&value), Some(value))),
        1 => other_literal().prop_map(|text| (text, None)),
    ];
    (path_and_negation(), prop::collection::vec(member, 1..6)).prop_map(
        |((path, not, tag), members)| {
            let strings: Vec<&str> = members
                .iter()
                .filter_map(|(_, value)| value.as_deref())
                .collect();
            let list: Vec<&str> = members.iter().map(|(text, _)| text.as_str()).collect();
            Generated::leaf(
                format!("{path} {not}IN ({})", list.join(", ")),
                exact(tag, &strings),
            )
        },
    )
}

/// Tests that name no exact value: `=` with a non-string, orderings, `LIKE`, `MATCHES`, `ISSUBSET`, `ISSUPERSET` and
/// `EXISTS`.
fn inexact() -> impl Strategy<Value = Generated> {
    let ordering = prop::sample::select(vec!["!=", "<>", "<", "<=", ">", ">="]);
    let set_operator = prop::sample::select(vec!["ISSUBSET", "ISSUPERSET", "issubset"]);
    (
        path_and_negation(),
        0u8..6,
        ordering,
        set_operator,
        like_or_matches(),
        other_literal(),
        observables::value(),
    )
        .prop_map(
            |((path, not, _), shape, ordering, set_operator, pattern, other, value)| {
                let text = match shape {
                    0 => format!("{path} {not}= {other}"),
                    1 => format!("{path} {not}{ordering} {}", quote(&value)),
                    // Orderings take no booleans.
                    2 => format!(
                        "{path} {ordering} {}",
                        other
                            .replace("true", "1")
                            .replace("TRUE", "1")
                            .replace("false", "0")
                    ),
                    3 => format!("{path} {not}LIKE {}", quote(&pattern)),
                    4 => format!("{path} {not}MATCHES {}", quote(&pattern)),
                    _ => format!("{path} {not}{set_operator} '198.51.100.0/24'"),
                };
                Generated::leaf(text, Vec::new())
            },
        )
}

/// One property test with its exact observables.
fn test() -> impl Strategy<Value = Generated> {
    prop_oneof![
        5 => equality(),
        1 => set(),
        5 => inexact(),
        1 => prop::sample::select(PATHS).prop_map(|(object, property, _)| Generated::leaf(format!("EXISTS {object}:{property}"), Vec::new())),
    ]
}

/// A comparison expression: tests joined by `AND`/`OR`, sometimes parenthesized.
fn comparison() -> impl Strategy<Value = Generated> {
    test().prop_recursive(4, 16, 2, |inner| {
        (
            inner.clone(),
            prop_oneof![keyword("AND"), keyword("OR")],
            inner,
            any::<bool>(),
        )
            .prop_map(|(left, word, right, parenthesize)| left.join(&word, right, parenthesize))
    })
}

/// A qualifier: `WITHIN`, `REPEATS` (up to the largest integer) or `START … STOP`.
fn qualifier() -> impl Strategy<Value = String> {
    prop_oneof![
        (1i64..=i64::MAX).prop_map(|seconds| format!(" WITHIN {seconds} SECONDS")),
        (0u32..100, 1u32..1000)
            .prop_map(|(whole, fraction)| format!(" within {whole}.{fraction} seconds")),
        prop_oneof![1i64..100, Just(i64::MAX), 1i64..=i64::MAX]
            .prop_map(|times| format!(" REPEATS {times} TIMES")),
        Just(" START t'2026-01-01T00:00:00Z' STOP t'2026-01-02T00:00:00.5Z'".to_owned()),
    ]
}

/// A valid STIX 2.1 pattern with its exact observables: observations joined by `AND`, `OR` and `FOLLOWEDBY`,
/// qualified and parenthesized at random.
pub fn valid() -> BoxedStrategy<Generated> {
    let observation = (comparison(), prop::option::weighted(0.2, qualifier())).prop_map(
        |(comparison, qualifier)| {
            let text = format!("[{}]{}", comparison.text, qualifier.unwrap_or_default());
            Generated::leaf(text, comparison.exact)
        },
    );
    observation
        .prop_recursive(3, 8, 2, |inner| {
            (
                inner.clone(),
                prop_oneof![keyword("AND"), keyword("OR"), keyword("FOLLOWEDBY")],
                inner,
                any::<bool>(),
                prop::option::weighted(0.2, qualifier()),
            )
                .prop_map(|(left, word, right, parenthesize, qualifier)| {
                    let mut joined = left.join(&word, right, parenthesize || qualifier.is_some());
                    joined.text.push_str(&qualifier.unwrap_or_default());
                    joined
                })
        })
        .boxed()
}

/// A pattern nested `depth` levels deep: parentheses around the observation, or inside the brackets.
pub fn nested(depth: usize, inside_brackets: bool) -> String {
    let test = "ipv4-addr:value = '198.51.100.1'";
    if inside_brackets {
        format!("[{}{test}{}]", "(".repeat(depth), ")".repeat(depth))
    } else {
        format!("{}[{test}]{}", "(".repeat(depth), ")".repeat(depth))
    }
}

/// A flat chain of `count` observations (or, `inside_brackets`, comparisons) joined by `keyword`: no nesting, but a
/// syntax tree `count` levels deep.
pub fn chain(count: usize, keyword: &str, inside_brackets: bool) -> String {
    if inside_brackets {
        let tests: Vec<String> = (0..count)
            .map(|index| {
                format!(
                    "ipv4-addr:value = '10.0.{}.{}'",
                    index / 256 % 256,
                    index % 256
                )
            })
            .collect();
        format!("[{}]", tests.join(&format!(" {keyword} ")))
    } else {
        let tests: Vec<String> = (0..count)
            .map(|index| {
                format!(
                    "[ipv4-addr:value = '10.0.{}.{}']",
                    index / 256 % 256,
                    index % 256
                )
            })
            .collect();
        tests.join(&format!(" {keyword} "))
    }
}

/// A pattern of a pathological shape, at most about `max_chars` characters: deep nesting, a long chain, a huge `IN`
/// set, a long string, or a valid pattern with its brackets unbalanced.
pub fn pathological(max_chars: usize) -> BoxedStrategy<String> {
    let max_count = (max_chars / 40).max(1);
    prop_oneof![
        (0usize..130, any::<bool>()).prop_map(|(depth, inside)| nested(depth, inside)),
        (
            1usize..=max_count,
            prop::sample::select(vec!["AND", "OR", "FOLLOWEDBY"]),
            any::<bool>()
        )
            .prop_map(|(count, keyword, inside)| chain(
                count,
                keyword,
                inside && keyword != "FOLLOWEDBY"
            )),
        (1usize..=max_count).prop_map(|count| {
            let values: Vec<String> = (0..count)
                .map(|index| format!("'10.{}.{}.1'", index / 256 % 256, index % 256))
                .collect();
            format!("[ipv4-addr:value IN ({})]", values.join(","))
        }),
        (0usize..max_chars)
            .prop_map(|len| format!("[process:command_line = '{}']", "a".repeat(len))),
        (0usize..max_chars).prop_map(|len| format!("[url:value = '{}", "\\'".repeat(len / 2))),
        (
            valid(),
            any::<prop::sample::Index>(),
            prop::sample::select(vec!['[', ']', '(', ')', '\''])
        )
            .prop_map(|(generated, index, bracket)| {
                let mut text = generated.text;
                let positions: Vec<usize> = text
                    .char_indices()
                    .filter(|(_, c)| "[]()'".contains(*c))
                    .map(|(at, _)| at)
                    .collect();
                if !positions.is_empty() {
                    let at = positions[index.index(positions.len())];
                    text.replace_range(at..at + 1, &bracket.to_string());
                }
                text
            }),
    ]
    .boxed()
}

/// A pattern as a partner might send it: valid, mutated at the character level, or pathological.
pub fn wild(max_chars: usize) -> BoxedStrategy<String> {
    prop_oneof![
        3 => valid().prop_map(|generated| generated.text),
        3 => crate::mutate(valid().prop_map(|generated| generated.text), 6),
        1 => pathological(max_chars),
        1 => ".{0,60}",
    ]
    .boxed()
}
