use accord_domain::Tlp;
use serde_json::{Value, json};

use super::*;

fn event() -> Value {
    serde_json::from_str(include_str!("../../../../tests/fixtures/misp/event.json")).unwrap()
}

#[test]
fn an_event_becomes_one_report() {
    let document = event();
    assert!(is_misp_event(&document));
    let report = misp_event_to_report(&document, None).unwrap();
    assert_eq!(report.title, "Invoice phishing wave seen by Bank A");
    assert_eq!(report.occurred_at.to_rfc3339(), "2026-11-21T00:00:00+00:00");
    assert_eq!(report.tlp, Some(Tlp::Amber));
    assert_eq!(report.ttps, ["T1566.002"]);
    let found: Vec<(String, String)> = report
        .indicators
        .iter()
        .map(|indicator| (indicator.kind.clone().unwrap(), indicator.value.clone()))
        .collect();
    let expected = [
        ("ipv4-addr", "203.0.113.99"),
        ("ipv6-addr", "2001:db8::99"),
        ("domain-name", "misp-kit.example"),
        ("ipv4-addr", "198.51.100.99"),
        ("domain-name", "cdn.misp-kit.example"),
        ("url", "https://misp-kit.example/login"),
        ("email-addr", "billing@misp-kit.example"),
        (
            "file",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        ("file", "d41d8cd98f00b204e9800998ecf8427e"),
        ("vulnerability", "CVE-2023-23397"),
        ("file", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(kind, value)| ((*kind).to_owned(), (*value).to_owned()))
        .collect();
    assert_eq!(found, expected, "links and comments are not indicators");
}

#[test]
fn the_most_restrictive_tlp_tag_wins_and_tlp_white_is_clear() {
    let mut document = event();
    document["Event"]["Attribute"][0]["Tag"] = json!([{ "name": "tlp:red" }]);
    assert_eq!(
        misp_event_to_report(&document, None).unwrap().tlp,
        Some(Tlp::Red)
    );
    document["Event"]["Attribute"][0]["Tag"] = json!([]);
    document["Event"]["Tag"] = json!([{ "name": "TLP:WHITE" }]);
    assert_eq!(
        misp_event_to_report(&document, None).unwrap().tlp,
        Some(Tlp::Clear)
    );
}

#[test]
fn an_untagged_event_takes_the_default_or_is_refused() {
    let mut document = event();
    document["Event"]["Tag"] = json!([]);
    assert_eq!(
        misp_event_to_report(&document, Some(Tlp::Green))
            .unwrap()
            .tlp,
        Some(Tlp::Green)
    );
    let error = misp_event_to_report(&document, None).unwrap_err();
    assert!(matches!(error, IngestError::Unmarked { .. }), "{error:?}");
    assert_eq!(error.pointer(), "/Event/Tag");
}

#[test]
fn a_classification_tag_is_refused() {
    let mut document = event();
    document["Event"]["Tag"] =
        json!([{ "name": "tlp:green" }, { "name": "classification:\"RESTREINT UE\"" }]);
    let error = misp_event_to_report(&document, None).unwrap_err();
    assert!(
        matches!(error, IngestError::Classified { ref marking, .. } if marking == "RESTREINT UE"),
        "{error:?}"
    );
    assert_eq!(error.pointer(), "/Event/Tag/1/name");
}

#[test]
fn invalid_attributes_and_events_name_the_field() {
    let mut document = event();
    document["Event"]["Attribute"][3]["value"] = json!("not a hostname!");
    assert_eq!(
        misp_event_to_report(&document, None).unwrap_err().pointer(),
        "/Event/Attribute/3/value"
    );
    let mut document = event();
    document["Event"]["Attribute"][0]["value"] = json!("evil.example");
    let error = misp_event_to_report(&document, None).unwrap_err();
    assert_eq!(
        error.pointer(),
        "/Event/Attribute/0/value",
        "an ip-dst must be an IP"
    );
    let mut document = event();
    document["Event"]["Object"][0]["Attribute"][0]["value"] = json!("xyz");
    assert_eq!(
        misp_event_to_report(&document, None).unwrap_err().pointer(),
        "/Event/Object/0/Attribute/0/value"
    );
    let mut document = event();
    document["Event"]["info"] = json!(" ");
    assert_eq!(
        misp_event_to_report(&document, None).unwrap_err().pointer(),
        "/Event/info"
    );
    let mut document = event();
    document["Event"]["date"] = json!("21/11/2026");
    assert_eq!(
        misp_event_to_report(&document, None).unwrap_err().pointer(),
        "/Event/date"
    );
    assert_eq!(
        misp_event_to_report(&json!({}), None)
            .unwrap_err()
            .pointer(),
        "/Event"
    );
    assert!(!is_misp_event(&json!({ "Event": {}, "title": "x" })));
}

#[test]
fn techniques_are_found_in_galaxy_tags() {
    assert_eq!(
        technique_in("misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\""),
        Some("T1566".to_owned())
    );
    assert_eq!(
        technique_in("misp-galaxy:mitre-attack-pattern=\"Link - T1566.002\""),
        Some("T1566.002".to_owned())
    );
    assert_eq!(
        technique_in("misp-galaxy:threat-actor=\"APT T12345\""),
        None
    );
    assert_eq!(technique_in("misp-galaxy:threat-actor=\"Turla\""), None);
}

#[test]
fn classification_taxonomy_tags_and_known_bare_tags_are_categories() {
    let mut document = event();
    document["Event"]["Tag"] = json!([
        { "name": "tlp:amber" },
        { "name": "rsit:fraud=\"phishing\"" },
        { "name": "ecsirt:malicious-code=\"ransomware\"" },
        { "name": "Ransomware" },
        { "name": "customer:Anna Kowalski" },
        { "name": "osint:source-type=\"blog-post\"" },
        { "name": "John Smith" },
    ]);
    let report = misp_event_to_report(&document, None).unwrap();
    assert_eq!(report.categories, ["phishing", "ransomware"]);
}

fn untagged(distribution: Value) -> Value {
    let mut document = event();
    document["Event"]["Tag"] = json!([]);
    for attribute in document["Event"]["Attribute"].as_array_mut().unwrap() {
        attribute["Tag"] = json!([]);
    }
    for object in document["Event"]["Object"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        for attribute in object["Attribute"].as_array_mut().into_iter().flatten() {
            attribute["Tag"] = json!([]);
        }
    }
    document["Event"]["distribution"] = distribution;
    document
}

#[test]
fn without_a_tlp_tag_the_distribution_decides_before_the_default() {
    let cases = [
        (json!("0"), Tlp::Red),
        (json!(1), Tlp::Amber),
        (json!("2"), Tlp::Green),
        (json!(3), Tlp::Green),
        (json!("4"), Tlp::Amber),
    ];
    for (distribution, expected) in cases {
        let report =
            misp_event_to_report(&untagged(distribution.clone()), Some(Tlp::Clear)).unwrap();
        assert_eq!(report.tlp, Some(expected), "distribution {distribution}");
    }
    let report = misp_event_to_report(&untagged(json!("5")), Some(Tlp::Clear)).unwrap();
    assert_eq!(report.tlp, Some(Tlp::Clear), "inherit: the default");
    let mut tagged = untagged(json!("0"));
    tagged["Event"]["Tag"] = json!([{ "name": "tlp:green" }]);
    assert_eq!(
        misp_event_to_report(&tagged, None).unwrap().tlp,
        Some(Tlp::Green),
        "a tlp tag is the originator's own marking and wins over the distribution"
    );
}

#[test]
fn pap_red_and_amber_are_a_floor() {
    let mut document = untagged(json!(3));
    document["Event"]["Tag"] = json!([{ "name": "tlp:clear" }, { "name": "PAP:RED" }]);
    assert_eq!(
        misp_event_to_report(&document, None).unwrap().tlp,
        Some(Tlp::Red)
    );
    document["Event"]["Tag"] = json!([{ "name": "tlp:green" }, { "name": "pap:amber" }]);
    assert_eq!(
        misp_event_to_report(&document, None).unwrap().tlp,
        Some(Tlp::Amber)
    );
    document["Event"]["Tag"] = json!([{ "name": "tlp:amber" }, { "name": "PAP:GREEN" }]);
    assert_eq!(
        misp_event_to_report(&document, None).unwrap().tlp,
        Some(Tlp::Amber)
    );
    document["Event"]["Tag"] = json!([{ "name": "PAP:AMBER" }]);
    document["Event"]["distribution"] = json!(null);
    assert_eq!(
        misp_event_to_report(&document, None).unwrap().tlp,
        Some(Tlp::Amber),
        "a PAP floor alone marks the event"
    );
}

#[test]
fn a_sharing_group_named_as_a_classification_is_refused() {
    let mut document = untagged(json!(4));
    document["Event"]["SharingGroup"] = json!({ "name": "NATO SECRET exchange" });
    let error = misp_event_to_report(&document, Some(Tlp::Amber)).unwrap_err();
    assert!(matches!(error, IngestError::Classified { .. }), "{error:?}");
    assert_eq!(error.pointer(), "/Event/SharingGroup/name");
    document["Event"]["SharingGroup"] = json!({ "name": "Finance ISAC" });
    assert_eq!(
        misp_event_to_report(&document, None).unwrap().tlp,
        Some(Tlp::Amber)
    );
}
