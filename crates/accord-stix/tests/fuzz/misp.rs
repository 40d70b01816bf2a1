//! The MISP importer: events with attributes of every type, objects and tags, then mutated structurally.

use accord_domain::{Tlp, classification};
use accord_fuzz::{documents, json, proptest::prelude::*};
use accord_stix::{is_misp_event, misp_event_to_report};
use serde_json::Value;

/// Returns every tag name of the event that names a protective marking.
fn classified_tags(event: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut collect = |owner: &Value| {
        for tag in owner
            .get("Tag")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = tag.get("name").and_then(Value::as_str)
                && classification::classified_marking(name).is_some()
                && !name.trim().to_ascii_lowercase().starts_with("tlp:")
                && !name.trim().to_ascii_lowercase().starts_with("misp-galaxy:")
            {
                names.push(name.to_owned());
            }
        }
    };
    let Some(event) = event.get("Event") else {
        return names;
    };
    collect(event);
    for attribute in event
        .get("Attribute")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        collect(attribute);
    }
    for object in event
        .get("Object")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for attribute in object
            .get("Attribute")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect(attribute);
        }
    }
    names
}

proptest! {
    #![proptest_config(accord_fuzz::config(2_000))]

    #[test]
    fn an_event_becomes_a_valid_report_or_a_named_error(
        event in json::mutate(documents::misp_event(), 4),
        default_tlp in prop::option::of(Just(Tlp::Green)),
    ) {
        let bytes = serde_json::to_vec(&event).expect("a value serializes").len();
        let _ = is_misp_event(&event);
        match misp_event_to_report(&event, default_tlp) {
            Ok(report) => {
                prop_assert!(classified_tags(&event).is_empty(), "a classified tag was accepted");
                prop_assert!(!report.title.trim().is_empty());
                crate::report::check(&report, bytes, 8)?;
            }
            Err(error) => {
                prop_assert!(error.pointer().starts_with("/Event"), "{error}");
                prop_assert!(!error.message().is_empty());
            }
        }
    }
}
