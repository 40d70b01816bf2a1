//! Submissions as JSON: native incident reports, STIX 2.1 bundles and MISP events, built from the other generators.
//! Mostly well-formed, so that the decoders get past their envelope checks; [`crate::json::mutate`] breaks them.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::{observables, pattern, text};

/// The TLP 2.0 marking definitions, and a TLP 1.0 one.
pub const TLP_MARKINGS: &[&str] = &[
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
];

/// Protective markings and texts that look like them but are not.
const CLASSIFICATIONS: &[&str] = &[
    "unclassified",
    "UNCLASSIFIED",
    "secret",
    "TOP SECRET//NOFORN",
    "confidential",
    "NATO SECRET",
    "restricted",
    "VS-NfD",
    "official",
    "Copyright 2026 Bank A",
    "not secret at all",
    "",
];

fn uuid() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|bits| {
        let hex = format!("{bits:032x}");
        format!(
            "{}-{}-4{}-8{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    })
}

fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (1990u32..2100, 1u32..13, 1u32..29, 0u32..24).prop_map(|(year, month, day, hour)| format!("{year}-{month:02}-{day:02}T{hour:02}:00:00Z")),
        1 => Just("2026-01-01T00:00:00.123456789+02:00".to_owned()),
        1 => Just("yesterday".to_owned()),
    ]
}

fn tlp() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "clear",
        "green",
        "amber",
        "amber+strict",
        "red",
        "white",
        "AMBER",
        "tlp:red",
    ])
    .prop_map(str::to_owned)
}

fn ttp() -> impl Strategy<Value = String> {
    prop_oneof![4 => "T[0-9]{4}(\\.[0-9]{3})?", 1 => "t[0-9]{3,5}(\\.[0-9]{1,4})?"]
}

/// A native incident report (`schemas/incident-report.schema.json`), indicators typed or not, patterns valid or not.
pub fn native() -> BoxedStrategy<Value> {
    let indicator = (
        prop::option::weighted(0.6, prop::sample::select(observables::TYPE_NAMES)),
        observables::wild_typed_value(),
    )
        .prop_map(|(declared, (generated, value))| match declared {
            Some(name) if name.len() % 3 == 0 => json!({ "type": generated, "value": value }),
            Some(name) => json!({ "type": name, "value": value }),
            None => json!({ "value": value }),
        });
    let pattern = (
        pattern::wild(2_000),
        prop::sample::select(vec!["stix", "stix", "sigma", "STIX"]),
        prop::option::of(uuid()),
    )
        .prop_map(|(pattern, kind, id)| {
            let mut object = json!({ "pattern": pattern, "pattern_type": kind });
            if let Some(id) = id {
                object["id"] = json!(format!("indicator--{id}"));
            }
            object
        });
    let head = (
        ".{1,40}",
        text::prose(60),
        timestamp(),
        prop::option::of(tlp()),
        prop::sample::select(CLASSIFICATIONS),
    );
    let body = (
        prop::collection::vec(indicator, 0..12),
        prop::collection::vec(pattern, 0..4),
        prop::collection::vec("[a-z ]{1,12}", 0..4),
        prop::collection::vec(ttp(), 0..4),
        prop::option::of(observables::email()),
    );
    (head, body)
        .prop_map(
            |(
                (title, description, occurred_at, tlp, classification),
                (indicators, patterns, categories, ttps, victim),
            )| {
                let mut report = json!({
                    "title": title,
                    "description": description,
                    "occurred_at": occurred_at,
                    "classification": classification,
                    "categories": categories,
                    "indicators": indicators,
                    "patterns": patterns,
                    "ttps": ttps,
                });
                if let Some(tlp) = tlp {
                    report["tlp"] = json!(tlp);
                }
                if let Some(email) = victim {
                    report["victim"] =
                        json!({ "name": "Jane Doe", "email": email, "country": "DE" });
                }
                report
            },
        )
        .boxed()
}

/// A STIX cyber-observable object with a value Accord indexes.
fn sco() -> impl Strategy<Value = Value> {
    let value = observables::wild_typed_value();
    (value, uuid(), observables::hash(), observables::file_name(), any::<u8>()).prop_map(|((kind, value), id, digest, name, shape)| {
        match kind {
            "file" => {
                let mut object = json!({ "type": "file", "id": format!("file--{id}") });
                if shape % 3 != 0 {
                    object["hashes"] = json!({ "SHA-256": digest, "MD5": value, "SSDEEP": "3:abc:def" });
                }
                if shape % 2 == 0 {
                    object["name"] = json!(name);
                }
                object
            }
            "x509-certificate" => json!({ "type": kind, "id": format!("{kind}--{id}"), "serial_number": value }),
            "vulnerability" => json!({ "type": "vulnerability", "id": format!("vulnerability--{id}"), "name": value,
                "external_references": [{ "source_name": "cve", "external_id": value }] }),
            _ => json!({ "type": kind, "id": format!("{kind}--{id}"), "value": value }),
        }
    })
}

/// Any object a bundle may carry.
fn stix_object() -> impl Strategy<Value = Value> {
    let indicator = (uuid(), pattern::wild(2_000), prop::sample::select(vec!["stix", "stix", "sigma", ""]), ".{0,20}")
        .prop_map(|(id, pattern, kind, name)| json!({
            "type": "indicator", "spec_version": "2.1", "id": format!("indicator--{id}"),
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
            "pattern": pattern, "pattern_type": kind, "valid_from": "2026-01-01T00:00:00Z", "name": name,
        }));
    let observed = (uuid(), prop::collection::vec(sco(), 1..4), timestamp()).prop_map(|(id, objects, first)| {
        let embedded: Map<String, Value> = objects.into_iter().enumerate().map(|(index, object)| (index.to_string(), object)).collect();
        json!({ "type": "observed-data", "id": format!("observed-data--{id}"), "first_observed": first, "objects": embedded })
    });
    let described = (uuid(), prop::sample::select(vec!["malware", "campaign", "threat-actor", "intrusion-set", "tool", "infrastructure", "course-of-action", "identity", "x-custom"]), ".{0,30}", text::prose(10))
        .prop_map(|(id, kind, name, description)| json!({
            "type": kind, "id": format!("{kind}--{id}"), "name": name, "description": description,
            "malware_types": ["ransomware", " Trojan "], "aliases": [name],
        }));
    let attack = (uuid(), ttp()).prop_map(|(id, technique)| {
        json!({
            "type": "attack-pattern", "id": format!("attack-pattern--{id}"), "name": "Phishing",
            "external_references": [{ "source_name": "mitre-attack", "external_id": technique }],
        })
    });
    let report = (uuid(), ".{0,40}", text::prose(30), timestamp(), prop::collection::vec("[a-z-]{1,12}", 0..4))
        .prop_map(|(id, name, description, published, labels)| json!({
            "type": "report", "id": format!("report--{id}"), "name": name, "description": description,
            "published": published, "report_types": labels, "labels": ["x"], "object_refs": [],
        }));
    let marking = (uuid(), prop::sample::select(CLASSIFICATIONS), tlp(), any::<bool>()).prop_map(|(id, statement, tlp, is_tlp)| {
        if is_tlp {
            json!({ "type": "marking-definition", "id": format!("marking-definition--{id}"), "definition_type": "tlp", "definition": { "tlp": tlp } })
        } else {
            json!({ "type": "marking-definition", "id": format!("marking-definition--{id}"), "definition_type": "statement", "definition": { "statement": statement } })
        }
    });
    prop_oneof![4 => indicator, 4 => sco(), 1 => observed, 2 => described, 1 => attack, 1 => report, 1 => marking]
}

/// A STIX 2.1 bundle: objects of every kind, each marked with a TLP marking (or not).
pub fn bundle() -> BoxedStrategy<Value> {
    let marked = (
        stix_object(),
        prop::option::weighted(0.7, prop::sample::select(TLP_MARKINGS)),
        any::<bool>(),
    )
        .prop_map(|(mut object, marking, granular)| {
            if let Some(marking) = marking {
                if granular {
                    object["granular_markings"] =
                        json!([{ "marking_ref": marking, "selectors": ["name"] }]);
                } else {
                    object["object_marking_refs"] = json!([marking]);
                }
            }
            object
        });
    (uuid(), prop::collection::vec(marked, 1..12))
        .prop_map(|(id, objects)| {
            json!({
                "type": "bundle", "id": format!("bundle--{id}"), "objects": objects,
            })
        })
        .boxed()
}

/// MISP attribute types: every one Accord maps, and some it leaves out.
const MISP_TYPES: &[&str] = &[
    "ip-src",
    "ip-dst",
    "ip-src|port",
    "ip-dst|port",
    "domain",
    "hostname",
    "hostname|port",
    "domain|ip",
    "url",
    "uri",
    "email",
    "email-src",
    "email-dst",
    "email-reply-to",
    "whois-registrant-email",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "filename|md5",
    "filename|sha256",
    "vulnerability",
    "link",
    "comment",
    "text",
    "target-user",
    "yara",
];

fn misp_tag() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => tlp().prop_map(|tlp| json!({ "name": format!("tlp:{tlp}") })),
        1 => ttp().prop_map(|technique| json!({ "name": format!("misp-galaxy:mitre-attack-pattern=\"Phishing - {technique}\"") })),
        1 => prop::sample::select(vec!["classification:secret", "nato:NATO SECRET", "PAP:AMBER", "misp-galaxy:x", "Copyright"])
            .prop_map(|name| json!({ "name": name })),
    ]
}

fn misp_attribute() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(MISP_TYPES),
        observables::wild_value(),
        observables::wild_value(),
        uuid(),
        prop::collection::vec(misp_tag(), 0..2),
    )
        .prop_map(|(kind, value, second, id, tags)| {
            let value = if kind.contains('|') {
                format!("{value}|{second}")
            } else {
                value
            };
            json!({ "type": kind, "value": value, "uuid": id, "Tag": tags, "to_ids": true })
        })
}

/// A MISP event (`{"Event": {…}}`) with attributes, objects and tags.
pub fn misp_event() -> BoxedStrategy<Value> {
    let date = prop_oneof![
        4 => (1990u32..2100, 1u32..13, 1u32..29).prop_map(|(year, month, day)| json!(format!("{year}-{month:02}-{day:02}"))),
        1 => Just(json!("2026-13-45")),
        1 => Just(json!(20260101)),
    ];
    (
        ".{0,40}",
        prop::option::of(date),
        prop::option::of(prop_oneof![any::<i64>().prop_map(|seconds| json!(seconds)), any::<i64>().prop_map(|seconds| json!(seconds.to_string()))]),
        prop::collection::vec(misp_tag(), 0..3),
        prop::collection::vec(misp_attribute(), 0..10),
        prop::collection::vec(prop::collection::vec(misp_attribute(), 0..3), 0..3),
        text::prose(20),
    )
        .prop_map(|(info, date, timestamp, tags, attributes, objects, description)| {
            let mut event = json!({
                "info": info, "Tag": tags, "Attribute": attributes, "description": description,
                "Object": objects.into_iter().map(|attributes| json!({ "name": "file", "Attribute": attributes })).collect::<Vec<_>>(),
            });
            if let Some(date) = date {
                event["date"] = date;
            }
            if let Some(timestamp) = timestamp {
                event["timestamp"] = timestamp;
            }
            json!({ "Event": event })
        })
    .boxed()
}
