//! Lenient handling: invalid objects are left out whole, the rest is one report; what is never lenient stays strict.

use accord_domain::Tlp;
use serde_json::{Value, json};

use super::*;

const MARKING: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";

fn indicator(uuid_tail: u32, pattern: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{uuid_tail:012}"),
        "created": "2026-11-20T09:00:00.000Z", "modified": "2026-11-20T09:00:00.000Z",
        "name": format!("Indicator {uuid_tail}"),
        "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-11-19T00:00:00Z",
    })
}

fn bundle(objects: Vec<Value>) -> Value {
    json!({ "type": "bundle", "id": "bundle--198a0fd7-7b2c-41ee-bd81-73e63cf9ee9d", "objects": objects })
}

fn lenient(bundle: &Value) -> Result<Converted, IngestError> {
    bundle_to_report_with(bundle, Some(Tlp::Green), Handling::Lenient)
}

#[test]
fn invalid_objects_are_left_out_whole_and_named() {
    let objects = vec![
        indicator(1, "[domain-name:value = 'fine.example']"),
        // Valid first comparison, invalid second: nothing of the object is kept.
        indicator(
            2,
            "[ipv4-addr:value = '203.0.113.10'] OR [domain-name:value = 'not a domain!']",
        ),
        indicator(
            3,
            "[ipv4-addr:value = '203.0.113.11' AND domain-name:value = ]",
        ),
        json!({ "type": "campaing", "id": "campaing--00000000-0000-4000-8000-000000000004", "name": "Typo" }),
        json!({ "type": "ipv4-addr", "id": "ipv4-addr--00000000-0000-4000-8000-000000000005", "value": "999.1.1.1" }),
        json!({ "type": "x-acme-note", "id": "x-acme-note--00000000-0000-4000-8000-000000000006" }),
        json!({ "type": "indicator", "id": "not-an-id" }),
    ];
    let bundle = bundle(objects);
    let strict = bundle_to_report(&bundle, Some(Tlp::Green)).unwrap_err();
    assert_eq!(
        strict.pointer(),
        "/objects/6/id",
        "strict: the first invalid envelope"
    );

    let converted = lenient(&bundle).unwrap();
    let pointers: Vec<&str> = converted.skipped.iter().map(IngestError::pointer).collect();
    assert_eq!(
        pointers,
        [
            "/objects/1/pattern",
            "/objects/2/pattern",
            "/objects/3/type",
            "/objects/4/value",
            "/objects/6/id"
        ]
    );
    assert!(converted.skipped[0].message().contains("not a domain!"));
    assert!(converted.skipped[0].message().starts_with("indicator--"));
    let values: Vec<&str> = converted
        .report
        .indicators
        .iter()
        .map(|indicator| indicator.value.as_str())
        .collect();
    assert_eq!(values, ["fine.example"]);
    assert_eq!(converted.report.patterns.len(), 1);
    assert_eq!(converted.report.title, "Indicator 1");
}

#[test]
fn a_skipped_report_object_leaves_no_title_and_a_valid_one_is_whole() {
    let report = |tail: u32, published: &str| {
        json!({ "type": "report", "id": format!("report--00000000-0000-4000-8000-{tail:012}"),
                "name": format!("Report {tail}"), "description": "d", "published": published })
    };
    let converted = lenient(&bundle(vec![
        report(1, "yesterday"),
        report(2, "2026-11-20T00:00:00Z"),
        indicator(3, "[domain-name:value = 'fine.example']"),
    ]))
    .unwrap();
    assert_eq!(converted.skipped[0].pointer(), "/objects/0/published");
    assert_eq!(converted.report.title, "Report 2");
    assert_eq!(
        converted.report.occurred_at.to_rfc3339(),
        "2026-11-20T00:00:00+00:00"
    );
}

#[test]
fn what_is_never_lenient_stays_strict() {
    let classified = json!({
        "type": "marking-definition", "spec_version": "2.1", "id": MARKING,
        "created": "2026-11-20T09:00:00.000Z", "definition_type": "statement",
        "definition": { "statement": "SECRET" },
    });
    let error = lenient(&bundle(vec![
        classified,
        indicator(1, "[domain-name:value = 'fine.example']"),
    ]))
    .unwrap_err();
    assert!(matches!(error, IngestError::Classified { .. }), "{error}");

    let error = lenient(&bundle(vec![indicator(
        1,
        "[domain-name:value = 'bad value']",
    )]))
    .unwrap_err();
    assert_eq!(
        error.pointer(),
        "/objects/0/pattern",
        "no valid object: the first named"
    );
    assert!(lenient(&json!({ "type": "bundle", "objects": [] })).is_err());

    // A skipped object's missing TLP does not refuse the bundle; a kept one's does.
    let unmarked = bundle(vec![
        indicator(1, "[domain-name:value = 'fine.example']"),
        indicator(2, "[domain-name:value = 'bad value']"),
    ]);
    let converted = bundle_to_report_with(&unmarked, None, Handling::Lenient);
    assert!(matches!(converted, Err(IngestError::Unmarked { .. })));
}

#[test]
fn an_invalid_misp_attribute_is_left_out() {
    let document = json!({ "Event": {
        "info": "Phishing", "date": "2026-11-20",
        "Tag": [{ "name": "tlp:amber" }],
        "Attribute": [
            { "type": "domain", "value": "fine.example" },
            { "type": "domain|ip", "value": "also-fine.example|not-an-ip" },
            { "type": "ip-dst", "value": "198.51.100.7" },
        ],
    }});
    assert_eq!(
        crate::misp_event_to_report(&document, None)
            .unwrap_err()
            .pointer(),
        "/Event/Attribute/1/value"
    );
    let converted =
        crate::misp::misp_event_to_report_with(&document, None, Handling::Lenient).unwrap();
    assert_eq!(converted.skipped.len(), 1);
    assert_eq!(converted.skipped[0].pointer(), "/Event/Attribute/1/value");
    let values: Vec<&str> = converted
        .report
        .indicators
        .iter()
        .map(|indicator| indicator.value.as_str())
        .collect();
    assert_eq!(values, ["fine.example", "198.51.100.7"]);

    let mut classified = document.clone();
    classified["Event"]["Attribute"][1]["Tag"] = json!([{ "name": "classification:secret" }]);
    let error =
        crate::misp::misp_event_to_report_with(&classified, None, Handling::Lenient).unwrap_err();
    assert!(matches!(error, IngestError::Classified { .. }), "{error}");
}
