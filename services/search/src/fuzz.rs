//! Fuzz target of the search query parser (docs/fuzzing.md): `parse_q` and `parse_filters`, the parsing half of
//! `POST /v1/search`, fed queries of `field:value` terms, indicators as investigators paste them (defanged, mutated)
//! and free text, and filter objects of every shape.
//!
//! Properties: nothing panics; a refused query is a 422 naming `/q` or the filter at fault; an accepted indicator
//! lookup is canonical (what the index stores), an IP lookup is an IP; the free text left over never holds a
//! consumed `field:` term and never grows; the work is one pass over the terms.

use accord_domain::{ObservableType, observable::canonicalize};
use accord_fuzz::{json as mutate_json, observables, proptest::prelude::*, text};
use accord_index::Filters;
use accord_runtime::ApiError;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::search::{FiltersIn, parse_filters, parse_q};

/// The terms `parse_q` consumes.
const FIELDS: [&str; 6] = ["type", "tlp", "sector", "partner", "indicator", "value"];

fn term() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(observables::TYPE_NAMES).prop_map(|name| format!("type:{name}")),
        1 => prop::sample::select(vec!["clear", "green", "amber", "amber+strict", "red", "white", "purple", ""]).prop_map(|tlp| format!("tlp:{tlp}")),
        1 => "(sector|partner):[A-Za-z0-9 _-]{0,12}",
        4 => (prop::sample::select(vec!["indicator", "value"]), observables::wild_value()).prop_map(|(field, value)| format!("{field}:{value}")),
        3 => observables::wild_value(),
        3 => text::prose(3),
        1 => "[a-z]{1,8}:[^ ]{0,12}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            term(),
            prop::sample::select(vec![" ", "  ", "\t", "\n", " \u{3000}"]),
        ),
        0..8,
    )
    .prop_map(|terms| {
        terms
            .into_iter()
            .map(|(term, separator)| format!("{term}{separator}"))
            .collect()
    })
}

/// Checks a refusal: a 422 naming `pointer`, or a field under it.
fn check_refusal(error: &ApiError, pointer: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        error.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        error
    );
    let ApiError::Unprocessable { errors, .. } = error else {
        return Err(TestCaseError::fail(format!("not a 422: {error}")));
    };
    prop_assert!(
        errors
            .iter()
            .all(|field| field.pointer.starts_with(pointer)),
        "{errors:?}"
    );
    Ok(())
}

fn filters_document() -> impl Strategy<Value = Value> {
    let one_or_many = |values: Vec<&'static str>| {
        prop_oneof![
            prop::sample::select(values.clone()).prop_map(|value| json!(value)),
            prop::collection::vec(prop::sample::select(values), 0..4)
                .prop_map(|values| json!(values)),
        ]
    };
    let base = (
        one_or_many(observables::TYPE_NAMES.to_vec()),
        one_or_many(vec!["clear", "green", "amber", "amber+strict", "red", "grey"]),
        "[ A-Za-z-]{0,12}",
        "[ a-z0-9-]{0,12}",
        prop::sample::select(vec!["2026-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "yesterday"]),
    )
        .prop_map(|(kind, tlp, sector, partner, from)| json!({ "type": kind, "tlp": tlp, "sector": sector, "partner": partner, "from": from }));
    mutate_json::mutate(base, 3)
}

proptest! {
    #![proptest_config(accord_fuzz::config(3_000))]

    #[test]
    fn a_query_becomes_a_canonical_lookup_and_free_text_or_a_422(q in query()) {
        let mut filters = Filters::default();
        match parse_q(q.trim(), &mut filters) {
            Err(error) => check_refusal(&error, "/q")?,
            Ok((indicator, text)) => {
                if let Some(found) = &indicator {
                    let key = &found.key;
                    prop_assert_eq!(canonicalize(Some(key.kind), &key.value), Ok((key.kind, key.value.clone())), "q {:?}", q);
                    if found.ip.is_some() {
                        prop_assert!(matches!(key.kind, ObservableType::Ipv4Addr | ObservableType::Ipv6Addr), "{:?}", found);
                    }
                }
                if let Some(text) = &text {
                    prop_assert!(text.len() <= q.len());
                    for token in text.split(' ') {
                        let field = token.split_once(':').map(|(field, _)| field);
                        prop_assert!(!field.is_some_and(|field| FIELDS.contains(&field)), "{token:?} left in the text of {q:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn filters_parse_or_name_the_filter_at_fault(document in filters_document()) {
        // Shape errors are refused before (`json::from_value`, 422 naming the field); only the typed filters reach
        // `parse_filters`.
        let Ok(filters) = serde_json::from_value::<FiltersIn>(document) else {
            return Ok(());
        };
        match parse_filters(Some(filters)) {
            Ok(parsed) => {
                if let Some(sector) = &parsed.sector {
                    prop_assert_eq!(sector, &sector.trim().to_ascii_lowercase());
                }
            }
            Err(error) => check_refusal(&error, "/filters/")?,
        }
    }
}

/// A query of `n` and of `4n` terms: the free text keeps every free term, whatever the count (the parser is one pass).
#[test]
fn every_free_term_is_kept_at_any_length() {
    for count in [1_000usize, 4_000] {
        let q: Vec<String> = (0..count).map(|index| format!("word{index}")).collect();
        let mut filters = Filters::default();
        let (indicator, text) = parse_q(&q.join(" "), &mut filters).expect("free text parses");
        assert!(indicator.is_none());
        assert_eq!(text.expect("free text").split(' ').count(), count);
    }
}
