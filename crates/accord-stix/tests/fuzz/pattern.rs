//! The STIX pattern parser: patterns generated from the grammar must parse and name exactly the observables the
//! generator put in them; anything else must parse or fail with a position, never panic, never recurse without bound.

use std::collections::HashSet;

use accord_fuzz::{pattern as generate, proptest::prelude::*};
use accord_stix::pattern::{ExactKind, MAX_DEPTH, MAX_PATTERN_CHARS, parse};

/// The generator's tag of an exact kind.
fn tag(kind: &ExactKind) -> String {
    match kind {
        ExactKind::Ipv4 => "ipv4".to_owned(),
        ExactKind::Ipv6 => "ipv6".to_owned(),
        ExactKind::Domain => "domain".to_owned(),
        ExactKind::Url => "url".to_owned(),
        ExactKind::Email => "email".to_owned(),
        ExactKind::FileHash(algorithm) => format!("hash:{algorithm}"),
        ExactKind::FileName => "file-name".to_owned(),
        ExactKind::X509Serial => "x509".to_owned(),
    }
}

/// Parses `text`; checks the error position or the observables' bound and uniqueness, and canonicalizes each one.
fn parse_checked(text: &str) -> Result<(), TestCaseError> {
    let chars = text.chars().count();
    match parse(text) {
        Err(error) => {
            prop_assert!(error.position <= chars, "{error} in {chars} characters");
            prop_assert!(!error.message.is_empty());
        }
        Ok(pattern) => {
            let observables = pattern.observables();
            // Each exact observable needs its own string literal: a quote, a character, a quote and a separator.
            prop_assert!(
                observables.len() <= chars / 4 + 1,
                "{} observables",
                observables.len()
            );
            let unique: HashSet<_> = observables
                .iter()
                .map(|found| (tag(&found.kind), &found.value))
                .collect();
            prop_assert_eq!(unique.len(), observables.len());
            for found in &observables {
                let _ = found.canonicalize();
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(accord_fuzz::config(3_000))]

    #[test]
    fn a_generated_pattern_names_exactly_its_observables(generated in generate::valid()) {
        let parsed = parse(&generated.text);
        prop_assert!(parsed.is_ok(), "{:?}: {:?}", generated.text, parsed);
        let found: Vec<(String, String)> = parsed
            .unwrap()
            .observables()
            .into_iter()
            .map(|found| (tag(&found.kind), found.value))
            .collect();
        prop_assert_eq!(found, generated.exact, "{}", generated.text);
    }

    #[test]
    fn any_pattern_parses_or_names_a_position(text in generate::wild(4_000)) {
        parse_checked(&text)?;
    }

    #[test]
    fn any_string_parses_or_names_a_position(text in prop_oneof![".{0,120}", "[\\[\\]()'a-z:=.0-9 ,\\\\-]{0,120}"]) {
        parse_checked(&text)?;
    }
}

proptest! {
    #![proptest_config(accord_fuzz::config(500))]

    #[test]
    fn nesting_beyond_the_limit_is_refused(depth in 0usize..(2 * MAX_DEPTH), inside in any::<bool>()) {
        let text = generate::nested(depth, inside);
        let parsed = parse(&text);
        // The brackets of the observation are one level.
        prop_assert_eq!(parsed.is_ok(), depth < MAX_DEPTH, "depth {}: {:?}", depth, parsed.err());
    }

    #[test]
    fn pathological_shapes_parse_or_fail_cleanly(text in generate::pathological(MAX_PATTERN_CHARS)) {
        parse_checked(&text)?;
    }
}

/// Repeats `unit` as often as fits in a pattern, then closes it with `last`.
fn longest(open: &str, unit: &str, last: &str) -> String {
    let count = (MAX_PATTERN_CHARS - open.len() - last.len()) / unit.len();
    format!("{open}{}{last}", unit.repeat(count))
}

/// The deepest syntax trees a pattern can hold (about 6 000 levels: flat chains are left-nested, qualifiers wrap),
/// parsed, walked, printed and dropped — what Accord does with a pattern — without exhausting the stack of a test
/// thread (2 MiB, as a Tokio worker's; frames are larger in this unoptimized build than in a release one). The derived
/// `Clone` and `PartialEq` recurse with larger frames: in an unoptimized build they overflow on these trees, so
/// production code never clones or compares a parsed pattern.
#[test]
fn the_deepest_syntax_trees_do_not_exhaust_the_stack() {
    let shapes = [
        longest("", "[aaa:b=1]OR", "[aaa:b=1]"),
        longest("", "[aaa:b=1]AND", "[aaa:b=1]"),
        longest("", "[aaa:b=1]FOLLOWEDBY", "[aaa:b=1]"),
        longest("[", "aaa:b=1 OR ", "aaa:b=1]"),
        longest("[", "aaa:b=1 AND ", "aaa:b=1]"),
        longest("[aaa:b=1]", " REPEATS 1 TIMES", ""),
        longest("[aaa:b=1]", " WITHIN 1 SECONDS", ""),
        longest("", "[url:value='a.de']OR", "[url:value='a.de']"),
    ];
    for text in shapes {
        let pattern = parse(&text).unwrap_or_else(|error| panic!("{}…: {error}", &text[..40]));
        assert!(format!("{pattern:?}").len() > text.len() / 2);
        assert!(pattern.observables().len() <= 1);
    }
    for keyword in ["AND", "OR", "FOLLOWEDBY"] {
        for inside in [false, true] {
            if inside && keyword == "FOLLOWEDBY" {
                continue;
            }
            let mut count = 1;
            while generate::chain(count + 100, keyword, inside)
                .chars()
                .count()
                <= MAX_PATTERN_CHARS
            {
                count += 100;
            }
            let text = generate::chain(count, keyword, inside);
            let pattern = parse(&text).unwrap_or_else(|error| panic!("{keyword} chain: {error}"));
            assert_eq!(pattern.observables().len(), count, "{keyword} chain");
        }
    }
}

#[test]
fn a_pattern_over_the_length_limit_is_refused() {
    let text = format!(
        "[process:command_line = '{}']",
        "a".repeat(MAX_PATTERN_CHARS)
    );
    let error = parse(&text).unwrap_err();
    assert_eq!(error.position, MAX_PATTERN_CHARS);
}
