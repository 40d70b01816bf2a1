use accord_domain::Tlp;
use serde_json::{Value, json};

use super::*;

fn fixture(name: &str) -> Value {
    let text = match name {
        "full-bundle" => include_str!("../../../../tests/fixtures/stix/full-bundle.json"),
        "bad-pattern" => include_str!("../../../../tests/fixtures/stix/bad-pattern.json"),
        "unmarked" => include_str!("../../../../tests/fixtures/stix/unmarked.json"),
        "classified-statement" => {
            include_str!("../../../../tests/fixtures/stix/classified-statement.json")
        }
        "tlp1-red" => include_str!("../../../../tests/fixtures/stix/tlp1-red.json"),
        "no-markings" => include_str!("../../../../tests/fixtures/stix/no-markings.json"),
        _ => panic!("no fixture {name}"),
    };
    serde_json::from_str(text).unwrap()
}

fn values(report: &IncidentReport) -> Vec<(String, String)> {
    report
        .indicators
        .iter()
        .map(|indicator| (indicator.kind.clone().unwrap(), indicator.value.clone()))
        .collect()
}

#[test]
fn the_full_bundle_becomes_one_report() {
    let report = bundle_to_report(&fixture("full-bundle"), None).unwrap();
    assert_eq!(
        report.title,
        "Invoice-themed credential phishing against Bank A customers"
    );
    assert!(
        report
            .description
            .starts_with("Kit at hxxps://login-bank-a[.]example/verify")
    );
    assert!(
        report
            .description
            .contains("Malware: InvoiceStealer — Steals banking credentials")
    );
    assert!(
        report
            .description
            .contains("Threat actor: Cash Harvest (aka TA-CH)")
    );
    for line in [
        "Campaign: Invoice Storm",
        "Tool: AnyDesk",
        "Course of action: Block the kit domains",
        "Vulnerability: CVE-2021-44228",
        "Attack pattern: Spearphishing Link",
    ] {
        assert!(report.description.contains(line), "{line}");
    }
    assert!(
        !report.description.contains("Bank A SOC"),
        "identities are not copied into text"
    );
    assert_eq!(report.occurred_at.to_rfc3339(), "2026-11-20T08:00:00+00:00");
    assert_eq!(
        report.tlp,
        Some(Tlp::Amber),
        "the report's AMBER beats the others' GREEN"
    );
    assert_eq!(report.classification, "unclassified");
    assert_eq!(
        report.categories,
        ["phishing", "malware"],
        "labels the vocabulary knows, canonical (trojan and spyware are malware); threat-report is not a category"
    );
    assert_eq!(report.ttps, ["T1566.002"]);
    let found = values(&report);
    for (kind, value) in [
        ("ipv4-addr", "203.0.113.10"),
        ("ipv4-addr", "198.51.100.0/24"),
        ("ipv6-addr", "2001:db8:abcd::/48"),
        ("domain-name", "login-bank-a.example"),
        ("url", "https://login-bank-a.example/verify"),
        ("email-addr", "billing@invoices-bank-a.example"),
        (
            "file",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ),
        ("file", "098f6bcd4621d373cade4e832627b4f6"),
        ("file", "a94a8fe5ccb19ba61c4c0879c1bef53ec6e3d6bd"),
        ("ipv4-addr", "192.0.2.1"),
        ("ipv4-addr", "192.0.2.2"),
        ("ipv4-addr", "203.0.113.77"),
        ("ipv6-addr", "2001:db8::77"),
        ("domain-name", "cdn.bank-a-login.example"),
        ("url", "https://cdn.bank-a-login.example/kit.zip"),
        ("email-addr", "support@bank-a-login.example"),
        ("vulnerability", "CVE-2021-44228"),
        // `file:name` and `x509-certificate:serial_number` in patterns, and the same in observables.
        ("file", "invoice.pdf.exe"),
        ("x509-certificate", "4c:0e:a5:1f:93:27:01:7a"),
        ("file", "kit.zip"),
    ] {
        assert!(
            found.contains(&(kind.to_owned(), value.to_owned())),
            "{kind} {value} missing from {found:?}"
        );
    }
    assert_eq!(found.len(), 21, "{found:?}");
    assert!(
        !found.iter().any(|(_, value)| value == "ok.exe"),
        "NOT = is not exact"
    );
    assert!(
        !found.iter().any(|(_, value)| value == "rundll32.exe"),
        "a process name is not a file name"
    );
    assert!(
        found
            .iter()
            .any(|(kind, value)| kind == "file" && value.len() == 128),
        "the SCO's SHA-512"
    );
    assert!(
        !found
            .iter()
            .any(|(_, value)| value.contains("bank-a-secure")),
        "LIKE is not exact"
    );
    assert!(
        !found.iter().any(|(_, value)| value.contains("kit.example")),
        "MATCHES is not exact"
    );
    assert!(
        !found.iter().any(|(_, value)| value == "203.0.113.0/24"),
        "ISSUBSET is not exact"
    );
    assert_eq!(
        report.patterns.len(),
        14,
        "every indicator's pattern is kept"
    );
    let sigma = report
        .patterns
        .iter()
        .find(|pattern| pattern.pattern_type == "sigma")
        .unwrap();
    assert_eq!(sigma.name.as_deref(), Some("Sigma rule"));
    assert!(report.patterns.iter().all(|pattern| {
        pattern
            .id
            .as_deref()
            .is_some_and(|id| id.starts_with("indicator--"))
    }));
}

#[test]
fn an_invalid_pattern_names_the_object_and_the_character() {
    let bundle = fixture("bad-pattern");
    let error = bundle_to_report(&bundle, Some(Tlp::Green)).unwrap_err();
    let id = bundle["objects"][1]["id"].as_str().unwrap();
    let IngestError::InvalidPattern {
        pointer,
        object_id,
        error: pattern_error,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(pointer, "/objects/1/pattern");
    assert_eq!(object_id, id);
    assert_eq!(pattern_error.position, 58);
    assert_eq!(
        error.to_string(),
        format!(
            "/objects/1/pattern: {id}: invalid STIX pattern at character 58: expected a literal, found `]`"
        )
    );
    assert_eq!(error.pointer(), "/objects/1/pattern");
}

#[test]
fn an_unmarked_object_is_refused_without_a_default_tlp() {
    let bundle = fixture("unmarked");
    let error = bundle_to_report(&bundle, None).unwrap_err();
    assert_eq!(
        error,
        IngestError::Unmarked {
            pointer: "/objects/1".to_owned(),
            object_id: bundle["objects"][1]["id"].as_str().unwrap().to_owned(),
        }
    );
}

#[test]
fn the_default_tlp_covers_unmarked_objects_and_the_most_restrictive_wins() {
    let report = bundle_to_report(&fixture("unmarked"), Some(Tlp::Clear)).unwrap();
    assert_eq!(
        report.tlp,
        Some(Tlp::Green),
        "the marked GREEN beats the default CLEAR"
    );
    let report = bundle_to_report(&fixture("unmarked"), Some(Tlp::Red)).unwrap();
    assert_eq!(
        report.tlp,
        Some(Tlp::Red),
        "the default RED of the unmarked object beats GREEN"
    );
    let report = bundle_to_report(&fixture("no-markings"), Some(Tlp::AmberStrict)).unwrap();
    assert_eq!(report.tlp, Some(Tlp::AmberStrict));
}

#[test]
fn tlp_1_markings_count_and_red_wins() {
    let report = bundle_to_report(&fixture("tlp1-red"), None).unwrap();
    assert_eq!(report.tlp, Some(Tlp::Red));
}

#[test]
fn every_standard_tlp_marking_maps_to_its_label() {
    for (id, tlp) in TLP2_MARKINGS.iter().chain(TLP1_MARKINGS.iter()) {
        let bundle = json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [
            { "type": "domain-name", "spec_version": "2.1", "id": "domain-name--1f2c3a60-5a1c-5f6e-9a57-1c3f4b0c8e11",
              "value": "x.example", "object_marking_refs": [id] } ] });
        assert_eq!(
            bundle_to_report(&bundle, None).unwrap().tlp,
            Some(*tlp),
            "{id}"
        );
    }
}

#[test]
fn custom_tlp_definitions_and_granular_markings_count() {
    let bundle = json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [
        { "type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--0b4b3a8a-1c0d-4e8e-9f4e-3d1f1d1e2a01",
          "created": "2026-01-01T00:00:00Z", "definition_type": "tlp", "definition": { "tlp": "amber" } },
        { "type": "domain-name", "spec_version": "2.1", "id": "domain-name--1f2c3a60-5a1c-5f6e-9a57-1c3f4b0c8e11", "value": "x.example",
          "granular_markings": [ { "marking_ref": "marking-definition--0b4b3a8a-1c0d-4e8e-9f4e-3d1f1d1e2a01", "selectors": ["value"] } ] } ] });
    assert_eq!(
        bundle_to_report(&bundle, None).unwrap().tlp,
        Some(Tlp::Amber)
    );
}

#[test]
fn a_classified_statement_marking_is_refused() {
    let bundle = fixture("classified-statement");
    let error = bundle_to_report(&bundle, Some(Tlp::Green)).unwrap_err();
    assert_eq!(
        error,
        IngestError::Classified {
            pointer: "/objects/0/definition/statement".to_owned(),
            object_id: bundle["objects"][0]["id"].as_str().unwrap().to_owned(),
            marking: "NATO SECRET".to_owned(),
        }
    );
    for statement in [
        "SECRET",
        "Top Secret",
        "CONFIDENTIAL",
        "RESTRICTED",
        "NOFORN",
        "EU RESTRICTED",
        "VS-NUR FÜR DEN DIENSTGEBRAUCH",
        "DIFFUSION RESTREINTE",
        "RESTREINT UE",
    ] {
        let mut changed = bundle.clone();
        changed["objects"][0]["definition"]["statement"] = json!(statement);
        assert!(
            matches!(
                bundle_to_report(&changed, Some(Tlp::Green)),
                Err(IngestError::Classified { .. })
            ),
            "{statement}"
        );
    }
}

#[test]
fn malformed_bundles_name_the_field() {
    let cases = [
        (json!([]), "/"),
        (json!({ "type": "report" }), "/type"),
        (
            json!({ "type": "bundle", "id": "bundle--nope", "objects": [] }),
            "/id",
        ),
        (
            json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01" }),
            "/objects",
        ),
        (
            json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [] }),
            "/objects",
        ),
        (
            json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [ 7 ] }),
            "/objects/0",
        ),
        (
            json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [ { "id": "x" } ] }),
            "/objects/0/type",
        ),
        (
            json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [ { "type": "url", "id": "domain-name--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01" } ] }),
            "/objects/0/id",
        ),
        (
            json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [ { "type": "url", "spec_version": "2.0", "id": "url--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01" } ] }),
            "/objects/0/spec_version",
        ),
        (
            json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [ { "type": "indicator", "id": "indicator--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "created": "yesterday" } ] }),
            "/objects/0/created",
        ),
        (
            json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [ { "type": "indicator", "id": "indicator--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01" } ] }),
            "/objects/0/pattern",
        ),
    ];
    for (bundle, pointer) in cases {
        let error = bundle_to_report(&bundle, Some(Tlp::Green)).unwrap_err();
        assert!(
            matches!(error, IngestError::Malformed { .. }),
            "{bundle}: {error:?}"
        );
        assert_eq!(error.pointer(), pointer, "{bundle}");
    }
}

#[test]
fn an_invalid_observable_names_the_object_and_field() {
    let bundle = json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [
        { "type": "indicator", "spec_version": "2.1", "id": "indicator--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a02", "created": "2026-01-01T00:00:00Z",
          "pattern": "[ipv4-addr:value = '999.1.1.1']", "pattern_type": "stix" },
        { "type": "file", "id": "file--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a03", "hashes": { "SHA-256": "abc" } } ] });
    let error = bundle_to_report(&bundle, Some(Tlp::Green)).unwrap_err();
    assert_eq!(error.pointer(), "/objects/0/pattern");
    assert!(
        error
            .to_string()
            .contains("indicator--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a02: `999.1.1.1`"),
        "{error}"
    );
    let mut only_file = bundle.clone();
    only_file["objects"].as_array_mut().unwrap().remove(0);
    assert_eq!(
        bundle_to_report(&only_file, Some(Tlp::Green))
            .unwrap_err()
            .pointer(),
        "/objects/0/hashes/SHA-256"
    );
}

#[test]
fn file_names_and_serials_are_checked_where_they_are_written() {
    let bundle_of = |objects: Value| json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": objects });
    let indicator = |pattern: &str| {
        json!({ "type": "indicator", "spec_version": "2.1", "id": "indicator--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a02",
                "created": "2026-01-01T00:00:00Z", "pattern": pattern, "pattern_type": "stix" })
    };
    let refused = [
        (
            bundle_of(json!([indicator("[file:name = 'C:\\\\evil.exe']")])),
            "/objects/0/pattern",
            "a path is not a file name",
        ),
        (
            bundle_of(json!([indicator("[file:hashes.MD5 = 'evil.exe']")])),
            "/objects/0/pattern",
            "not a hexadecimal digest",
        ),
        (
            bundle_of(json!([indicator(
                "[x509-certificate:serial_number = 'zz']"
            )])),
            "/objects/0/pattern",
            "not a hexadecimal digit",
        ),
        (
            bundle_of(
                json!([{ "type": "file", "id": "file--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a03", "name": "/tmp/x" }]),
            ),
            "/objects/0/name",
            "a path is not a file name",
        ),
        (
            bundle_of(
                json!([{ "type": "file", "id": "file--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a03", "name": 7 }]),
            ),
            "/objects/0/name",
            "a file name is a string",
        ),
        (
            bundle_of(
                json!([{ "type": "x509-certificate", "id": "x509-certificate--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a03",
                               "serial_number": "12:3:45" }]),
            ),
            "/objects/0/serial_number",
            "not whole octets",
        ),
    ];
    for (bundle, pointer, message) in refused {
        let error = bundle_to_report(&bundle, Some(Tlp::Green)).unwrap_err();
        assert_eq!(error.pointer(), pointer, "{bundle}");
        assert!(error.to_string().contains(message), "{error}");
    }

    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let accepted = bundle_of(json!([
        indicator(&format!("[file:name = '{md5}'] OR [file:name = 'Evil[.]exe']")),
        { "type": "file", "id": "file--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a03", "name": md5 },
        { "type": "x509-certificate", "id": "x509-certificate--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a04",
          "serial_number": "00:B3:5C", "issuer": "CN=Evil CA" },
        { "type": "x509-certificate", "id": "x509-certificate--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a05",
          "hashes": { "SHA-256": "ab" } },
    ]));
    let report = bundle_to_report(&accepted, Some(Tlp::Green)).unwrap();
    assert_eq!(
        values(&report),
        [
            ("file".to_owned(), "Evil.exe".to_owned()),
            ("x509-certificate".to_owned(), "b3:5c".to_owned()),
        ],
        "a name that reads as a digest is left out; a certificate without a serial gives nothing"
    );
}

#[test]
fn without_a_report_object_a_name_and_the_earliest_sighting_stand_in() {
    let bundle = json!({ "type": "bundle", "id": "bundle--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "objects": [
        { "type": "malware", "spec_version": "2.1", "id": "malware--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a02", "created": "2026-03-01T00:00:00Z",
          "modified": "2026-03-01T00:00:00Z", "name": "Loader X", "is_family": true },
        { "type": "sighting", "spec_version": "2.1", "id": "sighting--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a03", "created": "2026-03-01T00:00:00Z",
          "modified": "2026-03-01T00:00:00Z", "first_seen": "2026-02-10T10:00:00Z", "sighting_of_ref": "malware--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a02" } ] });
    let report = bundle_to_report(&bundle, Some(Tlp::Green)).unwrap();
    assert_eq!(report.title, "Malware: Loader X");
    assert_eq!(report.occurred_at.to_rfc3339(), "2026-02-10T10:00:00+00:00");
    assert!(report.indicators.is_empty());
}

/// Found by the fuzz target `a_bundle_becomes_a_valid_report_or_a_named_error` (docs/fuzzing.md): a bundle whose
/// only named object was an indicator with a blank name became a report with an empty title, which the gateway then
/// refused with a 422 about a `/title` the partner never wrote.
#[test]
fn a_blank_indicator_name_is_no_title() {
    let bundle = json!({
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
        "objects": [{
            "type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-000000000000",
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "  ",
            "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        }],
    });
    let report = bundle_to_report(&bundle, Some(Tlp::Amber)).unwrap();
    assert_eq!(report.title, "STIX 2.1 bundle");
}

/// Found by the fuzz target `a_bundle_becomes_a_valid_report_or_a_named_error`: an indicator with a pattern type of
/// more than 64 characters was converted, then refused by the native schema with a pointer (`/patterns/0/
/// pattern_type`) into a document the partner never sent. It is refused naming the indicator's own field.
#[test]
fn an_overlong_pattern_type_is_refused_at_its_field() {
    let bundle = json!({
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
        "objects": [{
            "type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-000000000000",
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
            "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "x".repeat(65),
            "valid_from": "2026-01-01T00:00:00Z",
        }],
    });
    let error = bundle_to_report(&bundle, Some(Tlp::Amber)).unwrap_err();
    assert_eq!(error.pointer(), "/objects/0/pattern_type");
    let mut bundle = bundle;
    bundle["objects"][0]["pattern_type"] = json!("x".repeat(64));
    assert!(bundle_to_report(&bundle, Some(Tlp::Amber)).is_ok());
}
