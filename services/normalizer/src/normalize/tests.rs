//! Tests of [`normalize`]: the happy path and every rejection reason.

use accord_domain::{OrgId, PiiKind, ReportId, Tlp};
use serde_json::{Value, json};

use super::*;

/// The native report of api.md, with a few additions to exercise the normalization rules.
fn example_payload() -> Value {
    json!({
        "title": "Credential phishing against retail-banking customers",
        "description": "Free text. May contain defanged indicators such as hxxps://login-bank-a[.]com/verify or \
                        45.155.205[.]172. Contact: Jane Doe, jane.doe@bank-a.de, +49 30 1234567.",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "amber",
        "classification": "Unclassified",
        "categories": ["Phishing", "credential-theft", "phishing "],
        "sector": " Finance",
        "indicators": [
            { "type": "domain-name", "value": "Login-Bank-A[.]com" },
            { "value": "45.155.205.172" },
            { "type": "sha256", "value": "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855" }
        ],
        "ttps": ["t1566.002", "T1566.002", "T1078"],
        "victim": { "name": "Jane Doe", "email": "jane.doe@bank-a.de", "country": "DE" }
    })
}

fn raw(format: ReportFormat, default_tlp: Option<Tlp>, payload: Value) -> RawReport {
    RawReport {
        revision: None,
        id: ReportId::random(),
        partner: OrgId::parse("bank-a").unwrap(),
        received_at: chrono::Utc::now(),
        default_tlp,
        format,
        payload,
        objects: Vec::new(),
        warnings: Vec::new(),
    }
}

/// A report's indicators as (type, value, source), for comparison.
fn triples(report: &NormalizedReport) -> Vec<(&str, &str, IndicatorSource)> {
    report
        .indicators
        .iter()
        .map(|indicator| {
            (
                indicator.kind.as_str(),
                indicator.value.as_str(),
                indicator.source,
            )
        })
        .collect()
}

fn rejected(payload: Value) -> Rejection {
    let raw = raw(ReportFormat::Native, None, payload);
    let rejection = normalize(&raw).unwrap_err();
    assert_eq!(rejection.report_id, raw.id);
    assert_eq!(rejection.partner, Some(raw.partner));
    assert_eq!(rejection.stage, "normalizer");
    rejection
}

#[test]
fn the_api_example_is_normalized() {
    let raw = raw(ReportFormat::Native, None, example_payload());
    let report = normalize(&raw).unwrap();
    assert_eq!(report.id, raw.id);
    assert_eq!(report.tlp, Tlp::Amber);
    assert_eq!(report.categories, ["credential-theft", "phishing"]);
    assert_eq!(report.sector.as_deref(), Some("finance"));
    assert_eq!(report.ttps, ["T1566.002", "T1078"]);
    assert!(
        report
            .description
            .contains("hxxps://login-bank-a[.]com/verify"),
        "prose is kept as written"
    );

    let indicators = triples(&report);
    assert_eq!(
        indicators,
        [
            ("domain-name", "login-bank-a.com", IndicatorSource::Declared),
            ("ipv4-addr", "45.155.205.172", IndicatorSource::Declared),
            (
                "file",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                IndicatorSource::Declared
            ),
            (
                "url",
                "https://login-bank-a.com/verify",
                IndicatorSource::Text
            ),
            ("email-addr", "jane.doe@bank-a.de", IndicatorSource::Text),
        ]
    );
    // Python stix2: DomainName(value="login-bank-a.com").id
    assert_eq!(
        report.indicators[0].id,
        "domain-name--837e5570-9ed0-5329-ae74-000c1e5e29f0"
    );
    for indicator in &report.indicators {
        assert_eq!(
            indicator.id,
            accord_stix::observable_id(indicator.kind, &indicator.value)
        );
    }

    let pii: Vec<(PiiKind, TextField, &str)> = report
        .pii
        .iter()
        .map(|found| {
            (
                found.kind,
                found.field,
                &report.description[found.start..found.end],
            )
        })
        .collect();
    assert_eq!(
        pii,
        [
            (PiiKind::Name, TextField::Description, "Jane Doe"),
            (PiiKind::Email, TextField::Description, "jane.doe@bank-a.de"),
            (PiiKind::Phone, TextField::Description, "+49 30 1234567"),
        ]
    );
}

#[test]
fn the_partner_default_tlp_applies_when_none_is_declared() {
    let mut payload = example_payload();
    payload.as_object_mut().unwrap().remove("tlp");
    let report = normalize(&raw(ReportFormat::Native, Some(Tlp::Green), payload)).unwrap();
    assert_eq!(report.tlp, Tlp::Green);
    let declared = normalize(&raw(
        ReportFormat::Native,
        Some(Tlp::Green),
        example_payload(),
    ))
    .unwrap();
    assert_eq!(
        declared.tlp,
        Tlp::Amber,
        "a declared TLP wins over the default"
    );
}

#[test]
fn a_report_without_any_tlp_is_rejected() {
    let mut payload = example_payload();
    payload.as_object_mut().unwrap().remove("tlp");
    let rejection = rejected(payload);
    assert_eq!(rejection.reason, "missing-tlp");
    assert!(
        rejection.detail.starts_with("/tlp: "),
        "{}",
        rejection.detail
    );
}

#[test]
fn a_classified_report_is_rejected() {
    let mut payload = example_payload();
    payload["classification"] = json!("SECRET");
    let rejection = rejected(payload);
    assert_eq!(rejection.reason, "classified");
    assert_eq!(
        rejection.detail,
        "/classification: `SECRET` is not unclassified"
    );
}

#[test]
fn an_invalid_declared_indicator_is_rejected_with_its_pointer() {
    let mut payload = example_payload();
    payload["indicators"][1] = json!({ "type": "ipv4-addr", "value": "999.1.1.1" });
    let rejection = rejected(payload);
    assert_eq!(rejection.reason, "invalid-indicator");
    assert_eq!(
        rejection.detail,
        "/indicators/1/value: not a valid ipv4-addr value: octet `999` of `999.1.1.1` is greater than 255"
    );

    let mut payload = example_payload();
    payload["indicators"][2] = json!({ "value": "just some words" });
    let rejection = rejected(payload);
    assert_eq!(rejection.reason, "invalid-indicator");
    assert!(
        rejection
            .detail
            .starts_with("/indicators/2/value: cannot tell"),
        "{}",
        rejection.detail
    );
}

#[test]
fn an_unknown_indicator_type_is_rejected_with_its_pointer() {
    let mut payload = example_payload();
    payload["indicators"][0]["type"] = json!("mutex");
    let rejection = rejected(payload);
    assert_eq!(rejection.reason, "invalid-indicator");
    assert_eq!(
        rejection.detail,
        "/indicators/0/type: unknown indicator type `mutex`"
    );
}

#[test]
fn an_undecodable_payload_is_rejected() {
    let rejection = rejected(json!({ "title": 42 }));
    assert_eq!(rejection.reason, "undecodable");
}

#[test]
fn a_converted_bundle_keeps_its_patterns_and_marks_its_indicators_as_stix() {
    let payload = json!({
        "title": "From a bundle",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "amber",
        "classification": "unclassified",
        "indicators": [ { "type": "domain-name", "value": "a.example" } ],
        "patterns": [
            { "id": "indicator--6d4ad0d0-6c1a-4d24-a5c0-8f6f1a4c9a01", "pattern": "[domain-name:value = 'a.example'] FOLLOWEDBY [ipv4-addr:value = '10.0.0.0/8']" },
            { "pattern": "[url:value MATCHES '^http']" },
            { "pattern_type": "yara", "pattern": "rule x { condition: true }" }
        ]
    });
    let report = normalize(&raw(ReportFormat::Stix, None, payload)).unwrap();
    let indicators: Vec<(&str, IndicatorSource)> = report
        .indicators
        .iter()
        .map(|indicator| (indicator.value.as_str(), indicator.source))
        .collect();
    assert_eq!(
        indicators,
        [
            ("a.example", IndicatorSource::Stix),
            ("10.0.0.0/8", IndicatorSource::Stix)
        ]
    );
}

#[test]
fn a_native_pattern_yields_stix_indicators_after_declared_ones() {
    let payload = json!({
        "title": "Native with a pattern",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "indicators": [ { "value": "1.2.3.4" } ],
        "patterns": [ { "pattern": "[ipv4-addr:value = '1.2.3.4' OR file:hashes.MD5 = 'D41D8CD98F00B204E9800998ECF8427E']" } ]
    });
    let report = normalize(&raw(ReportFormat::Native, None, payload)).unwrap();
    let sources: Vec<IndicatorSource> = report
        .indicators
        .iter()
        .map(|indicator| indicator.source)
        .collect();
    assert_eq!(sources, [IndicatorSource::Declared, IndicatorSource::Stix]);
    assert_eq!(
        report.indicators[1].value,
        "d41d8cd98f00b204e9800998ecf8427e"
    );
}

#[test]
fn an_invalid_pattern_is_rejected_with_its_position() {
    let payload = json!({
        "title": "Bad pattern",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "patterns": [ { "pattern": "[ipv4-addr:value = ]" } ]
    });
    let rejection = normalize(&raw(ReportFormat::Native, None, payload)).unwrap_err();
    assert_eq!(rejection.reason, "invalid-indicator");
    assert_eq!(
        rejection.detail,
        "/patterns/0/pattern: invalid STIX pattern at character 19: expected a literal, found `]`"
    );
}

#[test]
fn declared_indicators_come_first_and_are_not_repeated() {
    let payload = json!({
        "title": "Beacon to evil.com",
        "description": "Seen evil[.]com and 1.2.3.4 twice: 1.2.3.4.",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "indicators": [ { "value": "1.2.3.4" }, { "value": "hxxp://x.evil.com" } ]
    });
    let report = normalize(&raw(ReportFormat::Native, None, payload)).unwrap();
    let indicators: Vec<(&str, IndicatorSource)> = report
        .indicators
        .iter()
        .map(|indicator| (indicator.value.as_str(), indicator.source))
        .collect();
    assert_eq!(
        indicators,
        [
            ("1.2.3.4", IndicatorSource::Declared),
            ("http://x.evil.com/", IndicatorSource::Declared),
            ("evil.com", IndicatorSource::Text),
        ]
    );
    assert!(report.categories.is_empty() && report.ttps.is_empty() && report.sector.is_none());
}

#[test]
fn file_names_and_certificate_serials_are_declared_or_come_from_patterns() {
    let payload = json!({
        "title": "Dropper evil.exe signed with serial 36:f7:d4:32",
        "description": "The file invoice.pdf.exe and certificate 0a:1b:2c:3d are never read from prose.",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "indicators": [
            { "type": "file", "value": "evil.exe" },
            { "type": "x509-certificate", "value": "36 F7 D4 32" },
            { "type": "md5", "value": "D41D8CD98F00B204E9800998ECF8427E" }
        ],
        "patterns": [ { "pattern": "[file:name = 'loader.dll' AND x509-certificate:serial_number = '0x0A1B'] \
                                    AND [file:name LIKE '%.scr' AND file:name = 'd41d8cd98f00b204e9800998ecf8427e']" } ]
    });
    let report = normalize(&raw(ReportFormat::Native, None, payload)).unwrap();
    let indicators = triples(&report);
    assert_eq!(
        indicators,
        [
            ("file", "evil.exe", IndicatorSource::Declared),
            ("x509-certificate", "36:f7:d4:32", IndicatorSource::Declared),
            (
                "file",
                "d41d8cd98f00b204e9800998ecf8427e",
                IndicatorSource::Declared
            ),
            ("file", "loader.dll", IndicatorSource::Stix),
            ("x509-certificate", "0a:1b", IndicatorSource::Stix),
        ]
    );
    assert_eq!(
        report.indicators[0].id,
        accord_stix::observable_id(ObservableType::File, "evil.exe")
    );
}

#[test]
fn a_digest_alias_refuses_a_file_name_and_a_pattern_checks_its_property() {
    let mut payload = example_payload();
    payload["indicators"][2]["value"] = json!("evil.exe");
    let rejection = rejected(payload);
    assert_eq!(rejection.reason, "invalid-indicator");
    assert_eq!(
        rejection.detail,
        "/indicators/2/value: not a valid file value: `evil.exe` is not a hexadecimal digest"
    );
    let payload = json!({
        "title": "Bad name",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "patterns": [ { "pattern": "[file:name = 'C:\\\\x\\\\evil.exe']" } ]
    });
    let rejection = normalize(&raw(ReportFormat::Native, None, payload)).unwrap_err();
    assert_eq!(rejection.reason, "invalid-indicator");
    assert!(
        rejection.detail.contains("a path is not a file name"),
        "{}",
        rejection.detail
    );
}
