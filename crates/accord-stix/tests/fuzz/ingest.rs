//! STIX bundle ingest: bundles of every object kind, marked or not, then mutated structurally.

use accord_domain::{Tlp, classification};
use accord_fuzz::{documents, json, proptest::prelude::*};
use accord_stix::{IngestError, bundle_to_report};
use serde_json::Value;

/// Returns the statements of the bundle's marking definitions that name a protective marking.
fn classified_markings(bundle: &Value) -> Vec<String> {
    let Some(objects) = bundle.get("objects").and_then(Value::as_array) else {
        return Vec::new();
    };
    objects
        .iter()
        .filter(|object| object.get("type").and_then(Value::as_str) == Some("marking-definition"))
        .filter_map(|object| {
            object
                .pointer("/definition/statement")
                .and_then(Value::as_str)
        })
        .filter(|text| classification::classified_marking(text).is_some())
        .map(str::to_owned)
        .collect()
}

fn default_tlp() -> impl Strategy<Value = Option<Tlp>> {
    prop::option::of(prop::sample::select(vec![
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ]))
}

proptest! {
    #![proptest_config(accord_fuzz::config(2_000))]

    #[test]
    fn a_bundle_becomes_a_valid_report_or_a_named_error(
        bundle in json::mutate(documents::bundle(), 4),
        default_tlp in default_tlp(),
    ) {
        let bytes = serde_json::to_vec(&bundle).expect("a value serializes").len();
        match bundle_to_report(&bundle, default_tlp) {
            Ok(report) => {
                prop_assert!(classified_markings(&bundle).is_empty(), "a classified marking was accepted");
                crate::report::check(&report, bytes, 8)?;
            }
            Err(error) => {
                prop_assert!(error.pointer().starts_with('/'), "{error}");
                prop_assert!(!error.message().is_empty());
                if !classified_markings(&bundle).is_empty() && matches!(error, IngestError::Unmarked { .. }) {
                    // Classified markings are checked before anything else is judged.
                    prop_assert!(false, "a classified bundle was refused for another reason first: {error}");
                }
            }
        }
    }

    #[test]
    fn any_json_is_refused_or_converted(value in json::mutate(documents::native(), 6)) {
        if let Ok(report) = bundle_to_report(&value, Some(Tlp::Amber)) {
            crate::report::check(&report, serde_json::to_vec(&value).expect("serializes").len(), 8)?;
        }
    }
}
