use accord_domain::ObservableType;

use super::*;

fn observables(pattern: &str) -> Vec<(ExactKind, String)> {
    parse(pattern)
        .unwrap_or_else(|error| panic!("{pattern}: {error}"))
        .observables()
        .into_iter()
        .map(|observable| (observable.kind, observable.value))
        .collect()
}

fn parse_error(pattern: &str) -> PatternError {
    match parse(pattern) {
        Ok(parsed) => panic!("{pattern} parsed: {parsed:?}"),
        Err(error) => error,
    }
}

fn position(pattern: &str) -> usize {
    parse_error(pattern).position
}

#[test]
fn a_single_equality_names_its_value() {
    assert_eq!(
        observables("[ipv4-addr:value = '198.51.100.1']"),
        [(ExactKind::Ipv4, "198.51.100.1".to_owned())]
    );
}

#[test]
fn every_value_bearing_property_is_extracted() {
    let cases = [
        (
            "[ipv4-addr:value = '198.51.100.0/24']",
            ExactKind::Ipv4,
            "198.51.100.0/24",
        ),
        (
            "[ipv6-addr:value = '2001:db8::/32']",
            ExactKind::Ipv6,
            "2001:db8::/32",
        ),
        (
            "[domain-name:value = 'evil.example']",
            ExactKind::Domain,
            "evil.example",
        ),
        (
            "[url:value = 'https://evil.example/a?b=c']",
            ExactKind::Url,
            "https://evil.example/a?b=c",
        ),
        (
            "[email-addr:value = 'ceo@evil.example']",
            ExactKind::Email,
            "ceo@evil.example",
        ),
        (
            "[file:name = 'invoice.pdf.exe']",
            ExactKind::FileName,
            "invoice.pdf.exe",
        ),
        (
            "[x509-certificate:serial_number = '36:f7:d4:32:f4:ab:70:ea']",
            ExactKind::X509Serial,
            "36:f7:d4:32:f4:ab:70:ea",
        ),
        (
            "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            ExactKind::FileHash("MD5".to_owned()),
            "d41d8cd98f00b204e9800998ecf8427e",
        ),
        (
            "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
            ExactKind::FileHash("SHA-1".to_owned()),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        ),
        (
            "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
            ExactKind::FileHash("SHA-256".to_owned()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
    ];
    for (pattern, kind, value) in cases {
        assert_eq!(
            observables(pattern),
            [(kind, value.to_owned())],
            "{pattern}"
        );
    }
}

#[test]
fn accord_types_follow_the_exact_kind() {
    assert_eq!(
        ExactKind::Ipv4.observable_type(),
        Some(ObservableType::Ipv4Addr)
    );
    assert_eq!(
        ExactKind::FileHash("SHA-512".into()).observable_type(),
        Some(ObservableType::File)
    );
    assert_eq!(
        ExactKind::FileHash("sha256".into()).observable_type(),
        Some(ObservableType::File)
    );
    assert_eq!(ExactKind::FileHash("SSDEEP".into()).observable_type(), None);
    assert_eq!(
        ExactKind::FileName.observable_type(),
        Some(ObservableType::File)
    );
    assert_eq!(
        ExactKind::X509Serial.observable_type(),
        Some(ObservableType::X509Certificate)
    );
}

/// The canonical indicators of a pattern: `Ok` values, or the first error's text.
fn indicators(pattern: &str) -> Result<Vec<(ObservableType, String)>, String> {
    let parsed = parse(pattern).unwrap_or_else(|error| panic!("{pattern}: {error}"));
    parsed
        .observables()
        .iter()
        .filter_map(PatternObservable::canonicalize)
        .map(|result| result.map_err(|error| error.to_string()))
        .collect()
}

#[test]
fn file_names_and_certificate_serials_become_indicators() {
    let file = |value: &str| (ObservableType::File, value.to_owned());
    let serial = |value: &str| (ObservableType::X509Certificate, value.to_owned());
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    assert_eq!(
        indicators("[file:name = 'evil.exe']"),
        Ok(vec![file("evil.exe")])
    );
    assert_eq!(
        indicators("[file:name = 'it\\'s here.pdf']"),
        Ok(vec![file("it's here.pdf")])
    );
    assert_eq!(
        indicators("[x509-certificate:serial_number = '36:F7:D4:32']"),
        Ok(vec![serial("36:f7:d4:32")])
    );
    assert_eq!(
        indicators(&format!(
            "[file:name = 'invoice.pdf.exe' AND file:hashes.'MD5' = '{md5}'] OR \
             [x509-certificate:serial_number IN ('0x0a1b', '00:ff')]"
        )),
        Ok(vec![
            file("invoice.pdf.exe"),
            file(md5),
            serial("0a:1b"),
            serial("ff")
        ])
    );
    // A name that reads as a digest cannot be a `file` name indicator: left out, not refused.
    assert_eq!(indicators(&format!("[file:name = '{md5}']")), Ok(vec![]));
    // The property decides the form: a hash must be a digest, a name must be a name.
    let error = indicators("[file:hashes.MD5 = 'evil.exe']").unwrap_err();
    assert!(error.contains("not a hexadecimal digest"), "{error}");
    let error = indicators("[file:name = 'C:\\\\Windows\\\\evil.exe']").unwrap_err();
    assert!(error.contains("a path is not a file name"), "{error}");
    let error = indicators("[x509-certificate:serial_number = 'not-hex']").unwrap_err();
    assert!(error.contains("not a hexadecimal digit"), "{error}");
    // Kinds Accord does not index produce nothing.
    assert_eq!(indicators("[file:hashes.SSDEEP = '3:a:b']"), Ok(vec![]));
    assert_eq!(
        indicators("[x509-certificate:hashes.'SHA-256' = 'ab']"),
        Ok(vec![])
    );
}

#[test]
fn names_and_serials_are_exact_only_under_equality() {
    for pattern in [
        "[file:name LIKE '%.exe']",
        "[file:name MATCHES '^evil']",
        "[file:name != 'good.exe']",
        "[file:name NOT = 'evil.exe']",
        "[file:name NOT IN ('evil.exe')]",
        "[file:name > 'a']",
        "[x509-certificate:serial_number LIKE '36:f7%']",
        "[x509-certificate:serial_number != '36:f7']",
        "[x509-certificate:serial_number <= '36:f7']",
        "[x509-certificate:serial_number MATCHES '^36']",
        "[EXISTS x509-certificate:serial_number]",
        "[x509-certificate:issuer = 'CN=Evil CA']",
    ] {
        assert_eq!(indicators(pattern), Ok(vec![]), "{pattern}");
    }
}

#[test]
fn and_or_followedby_and_qualifiers_collect_every_equality() {
    let pattern = "([ipv4-addr:value = '10.0.0.1' OR domain-name:value = 'a.example'] AND \
                   [url:value = 'http://b.example/x']) REPEATS 5 TIMES \
                   FOLLOWEDBY [file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'] WITHIN 600 SECONDS \
                   OR [email-addr:value = 'x@c.example'] START t'2026-01-01T00:00:00Z' STOP t'2026-02-01T00:00:00.5Z'";
    let parsed = parse(pattern).unwrap();
    let ObservationExpression::FollowedBy(left, right) = &parsed.expression else {
        panic!("FOLLOWEDBY binds loosest: {parsed:?}");
    };
    assert!(matches!(
        **left,
        ObservationExpression::Qualified(_, Qualifier::Repeats(5))
    ));
    let ObservationExpression::Or(within, start_stop) = &**right else {
        panic!("OR binds tighter than FOLLOWEDBY: {right:?}");
    };
    assert!(
        matches!(**within, ObservationExpression::Qualified(_, Qualifier::Within(seconds)) if seconds == 600.0)
    );
    assert!(
        matches!(&**start_stop, ObservationExpression::Qualified(_, Qualifier::StartStop { start, .. }) if start == "2026-01-01T00:00:00Z")
    );
    let values: Vec<String> = parsed.observables().into_iter().map(|o| o.value).collect();
    assert_eq!(
        values,
        [
            "10.0.0.1",
            "a.example",
            "http://b.example/x",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "x@c.example"
        ]
    );
}

#[test]
fn comparison_and_binds_tighter_than_or() {
    let parsed = parse("[file:name = 'a' OR file:name = 'b' AND file:size > 10]").unwrap();
    let ObservationExpression::Observation(ComparisonExpression::Or(_, right)) = parsed.expression
    else {
        panic!("top is OR");
    };
    assert!(matches!(*right, ComparisonExpression::And(_, _)));
}

#[test]
fn observation_and_binds_tighter_than_or() {
    let parsed = parse("[file:name = 'a'] OR [file:name = 'b'] AND [file:name = 'c']").unwrap();
    let ObservationExpression::Or(_, right) = parsed.expression else {
        panic!("top is OR");
    };
    assert!(matches!(*right, ObservationExpression::And(_, _)));
}

#[test]
fn parentheses_group_comparisons_and_observations() {
    assert_eq!(
        observables("(([domain-name:value = 'a.example' AND (url:value = 'http://a.example/' OR ipv4-addr:value = '1.2.3.4')]))").len(),
        3
    );
}

#[test]
fn in_lists_are_equalities_but_not_in_is_not() {
    assert_eq!(
        observables("[ipv4-addr:value IN ('1.1.1.1', '2.2.2.2')]"),
        [
            (ExactKind::Ipv4, "1.1.1.1".to_owned()),
            (ExactKind::Ipv4, "2.2.2.2".to_owned())
        ]
    );
    assert!(observables("[ipv4-addr:value NOT IN ('1.1.1.1')]").is_empty());
}

#[test]
fn like_matches_not_orderings_and_set_operators_are_not_exact() {
    for pattern in [
        "[domain-name:value LIKE '%.evil.example']",
        "[url:value MATCHES '^https?://evil\\\\.example/']",
        "[domain-name:value != 'good.example']",
        "[domain-name:value <> 'good.example']",
        "[domain-name:value NOT = 'good.example']",
        "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
        "[ipv4-addr:value NOT ISSUPERSET '198.51.100.0/24']",
        "[file:size >= 1024]",
        "[file:created < t'2026-01-01T00:00:00Z']",
        "[file:name NOT MATCHES '^a']",
        "[EXISTS file:hashes.MD5]",
        "[network-traffic:dst_ref.value = '1.2.3.4']",
        "[ipv4-addr:value = 42]",
    ] {
        let parsed = parse(pattern).unwrap_or_else(|error| panic!("{pattern}: {error}"));
        assert!(!parsed.is_exact(), "{pattern} is not exact");
    }
}

#[test]
fn every_literal_form_parses() {
    let parsed = parse(
        "[x-custom:a = 'it\\'s \\\\ fine' AND x-custom:b = -12 AND x-custom:c = 3.25 AND x-custom:d = true \
         AND x-custom:e = FALSE AND x-custom:f = b'aGVsbG8=' AND x-custom:g = h'00ff' \
         AND x-custom:h = t'2026-11-20T08:00:00.123Z' AND x-custom:i = +7 AND x-custom:j = .5]",
    )
    .unwrap();
    let mut literals = Vec::new();
    fn walk(expression: &ComparisonExpression, out: &mut Vec<Literal>) {
        match expression {
            ComparisonExpression::And(a, b) | ComparisonExpression::Or(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            ComparisonExpression::Test(PropertyTest::Compare { value, .. }) => {
                out.push(value.clone())
            }
            ComparisonExpression::Test(_) => {}
        }
    }
    let ObservationExpression::Observation(comparison) = &parsed.expression else {
        panic!()
    };
    walk(comparison, &mut literals);
    assert_eq!(
        literals,
        [
            Literal::String("it's \\ fine".into()),
            Literal::Int(-12),
            Literal::Float(3.25),
            Literal::Bool(true),
            Literal::Bool(false),
            Literal::Binary("aGVsbG8=".into()),
            Literal::Hex("00ff".into()),
            Literal::Timestamp("2026-11-20T08:00:00.123Z".into()),
            Literal::Int(7),
            Literal::Float(0.5),
        ]
    );
}

#[test]
fn object_paths_take_quoted_keys_indexes_and_wildcards() {
    let parsed = parse(
        "[network-traffic:extensions.'http-request-ext'.request_header.'Accept-Encoding' = 'gzip' \
         AND email-message:to_refs[*].value = 'a@b.example' AND email-message:body_multipart[0].body = 'x' \
         AND file:'name' = 'q.exe']",
    )
    .unwrap();
    let ObservationExpression::Observation(ComparisonExpression::And(left, last)) =
        &parsed.expression
    else {
        panic!()
    };
    let ComparisonExpression::Test(PropertyTest::Compare { path, .. }) = &**last else {
        panic!()
    };
    assert_eq!(path.property(), "name");
    let ComparisonExpression::And(left, index) = &**left else {
        panic!()
    };
    let ComparisonExpression::Test(PropertyTest::Compare { path, .. }) = &**index else {
        panic!()
    };
    assert_eq!(path.components[1], PathComponent::Index(0));
    let ComparisonExpression::And(first, wildcard) = &**left else {
        panic!()
    };
    let ComparisonExpression::Test(PropertyTest::Compare { path, .. }) = &**wildcard else {
        panic!()
    };
    assert_eq!(path.property(), "to_refs[*].value");
    let ComparisonExpression::Test(PropertyTest::Compare { path, .. }) = &**first else {
        panic!()
    };
    assert_eq!(
        path.property(),
        "extensions.http-request-ext.request_header.Accept-Encoding"
    );
    // `file:'name'` is the same property as `file:name`.
    assert_eq!(
        observables("[file:'name' = 'q.exe']"),
        [(ExactKind::FileName, "q.exe".to_owned())]
    );
}

#[test]
fn keywords_are_case_insensitive() {
    assert_eq!(
        observables("[ipv4-addr:value = '1.1.1.1'] followedby [domain-name:value in ('a.example')] within 5 seconds").len(),
        2
    );
}

#[test]
fn repeated_values_are_listed_once() {
    assert_eq!(
        observables("[domain-name:value = 'a.example'] OR [domain-name:value = 'a.example']").len(),
        1
    );
}

#[test]
fn errors_point_at_the_offending_character() {
    //                 0         1         2         3
    //                 0123456789012345678901234567890123456
    assert_eq!(position("[ipv4-addr:value = '1.2.3.4'"), 28, "missing ]");
    assert_eq!(position("[ipv4-addr:value == '1.2.3.4']"), 18, "two =");
    assert_eq!(
        position("[ipv4-addr:value = '1.2.3.4]"),
        19,
        "unterminated string"
    );
    assert_eq!(
        position("[file:hashes.SHA-256 = 'aa']"),
        16,
        "unquoted hyphen"
    );
    assert_eq!(
        position("[ipv4-addr value = '1.2.3.4']"),
        11,
        "missing colon"
    );
    assert_eq!(position("ipv4-addr:value = '1.2.3.4'"), 0, "no brackets");
    assert_eq!(
        position("[ipv4-addr:value = '1.2.3.4'] AND"),
        33,
        "dangling AND"
    );
    assert_eq!(
        position("[ipv4-addr:value = '1.2.3.4'] WITHIN 0 SECONDS"),
        37,
        "WITHIN 0"
    );
    assert_eq!(
        position("[ipv4-addr:value = '1.2.3.4'] WITHIN 5 MINUTES"),
        39,
        "WITHIN unit"
    );
    assert_eq!(
        position("[ipv4-addr:value = '1.2.3.4'] REPEATS -1 TIMES"),
        38,
        "REPEATS -1"
    );
    assert_eq!(
        position("[ipv4-addr:value = '1.2.3.4'] REPEATS 2"),
        39,
        "REPEATS without TIMES"
    );
    assert_eq!(
        position("[a-b:c = 'x'] START t'2026-02-01T00:00:00Z' STOP t'2026-01-01T00:00:00Z'"),
        49,
        "STOP before START"
    );
    assert_eq!(
        position("[a-b:c = 'x'] START t'yesterday' STOP t'2026-01-01T00:00:00Z'"),
        20,
        "bad timestamp"
    );
    assert_eq!(position("[a-b:c = h'abc']"), 9, "odd hex");
    assert_eq!(position("[a-b:c = b'a*b=']"), 9, "bad base64");
    assert_eq!(position("[a-b:c LIKE 5]"), 12, "LIKE number");
    assert_eq!(position("[a-b:c > true]"), 9, "ordering bool");
    assert_eq!(position("[a-b:c IN 'x']"), 10, "IN without set");
    assert_eq!(position("[a-b:c IN ('x' 'y')]"), 15, "IN missing comma");
    assert_eq!(
        position("[a-b:c = 'x'] [a-b:c = 'y']"),
        14,
        "missing operator"
    );
    assert_eq!(position("[a-b:c = 'x' # ]"), 13, "bad character");
    assert_eq!(position("[a-b:c = 'it\\x']"), 12, "bad escape");
    assert_eq!(position("[Bad:c = 'x']"), 1, "upper-case type");
    assert_eq!(position("[a-b:c[x] = 'x']"), 7, "bad index");
    assert_eq!(position("[a-b:c = 'x']]"), 13, "trailing bracket");
    assert_eq!(position(""), 0, "empty");
    assert_eq!(position("   "), 0, "blank");
    assert_eq!(position("[]"), 1, "empty observation");
    assert_eq!(position("[a-b:c = 12abc]"), 11, "number then letters");
}

#[test]
fn positions_count_characters_not_bytes() {
    // `é` is two bytes in UTF-8 but one character.
    assert_eq!(position("[file:name = 'é.exe' OR]"), 23);
}

#[test]
fn error_messages_say_what_was_expected() {
    let error = parse_error("[ipv4-addr:value = '1.2.3.4'");
    assert_eq!(
        error.to_string(),
        "at character 28: expected `]` or `AND`/`OR`, found the end"
    );
    let error = parse_error("[file:hashes.SHA-256 = 'aa']");
    assert!(
        error.message.contains("must be quoted: 'SHA-256'"),
        "{error}"
    );
}

#[test]
fn deep_nesting_and_long_patterns_are_refused_without_overflow() {
    let deep = format!("{}[a-b:c = 'x']{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(position(&deep), MAX_DEPTH);
    let long = format!("[a-b:c = '{}']", "x".repeat(MAX_PATTERN_CHARS));
    assert_eq!(position(&long), MAX_PATTERN_CHARS);
}
