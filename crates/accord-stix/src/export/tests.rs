use std::collections::BTreeSet;

use accord_domain::{
    ContentPart, Grant, IndicatorSource, OrgId, PiiRule, Profile, Purpose, ReportFacts, ReportId,
    Scope, Victim, ViewContent,
};
use chrono::TimeZone;

use super::*;
use crate::observable_id;

fn ts(text: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn indicator(kind: ObservableType, value: &str) -> Indicator {
    Indicator {
        id: observable_id(kind, value),
        kind,
        value: value.to_owned(),
        source: IndicatorSource::Declared,
    }
}

fn view(report: &str, tlp: Tlp, attribution: Attribution, indicators: Vec<Indicator>) -> View {
    View {
        id: format!("view--{report}"),
        report_id: ReportId::parse(report).unwrap(),
        mous: vec![],
        grants: vec![Grant {
            agency: OrgId::parse("ncu-de").unwrap(),
            purpose: Purpose::Investigation,
        }],
        alternates: Vec::new(),
        valid_from: ts("2026-01-01T00:00:00Z"),
        valid_until: ts("2027-01-01T00:00:00Z"),
        profile: Profile {
            content: BTreeSet::from([ContentPart::Indicators, ContentPart::Narrative]),
            pii: PiiRule::Redact,
            attribution,
            indicator_types: Scope::Any,
        },
        facts: ReportFacts {
            partner: OrgId::parse("bank-a").unwrap(),
            tlp,
            categories: vec!["phishing".to_owned()],
            sector: Some("finance".to_owned()),
            received_at: ts("2026-11-20T09:00:00.123456Z"),
            num_indicators: None,
            amended_at: None,
        },
        content: ViewContent {
            partner: match attribution {
                Attribution::Anonymous => "anonymous".to_owned(),
                Attribution::Named => "bank-a".to_owned(),
            },
            tlp,
            occurred_at: ts("2026-11-20T08:00:00Z"),
            categories: vec!["phishing".to_owned()],
            sector: Some("finance".to_owned()),
            title: Some("Credential phishing".to_owned()),
            description: Some("Kit at https://login-bank-a.com/verify".to_owned()),
            ttps: Some(vec!["T1566.002".to_owned(), "not-a-ttp".to_owned()]),
            indicators,
            victim: None,
        },
    }
}

const REPORT_A: &str = "report--2f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const REPORT_B: &str = "report--7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d";

fn by_id<'a>(objects: &'a [StixObject], id: &str) -> &'a Value {
    &objects
        .iter()
        .find(|object| object.id == id)
        .unwrap_or_else(|| panic!("no object {id}"))
        .body
}

#[test]
fn patterns_escape_quotes_and_backslashes() {
    assert_eq!(
        pattern(ObservableType::Url, "http://e.com/a'b\\c").unwrap(),
        "[url:value = 'http://e.com/a\\'b\\\\c']"
    );
    assert_eq!(
        pattern(ObservableType::Ipv4Addr, "10.0.0.0/8").unwrap(),
        "[ipv4-addr:value = '10.0.0.0/8']"
    );
    assert_eq!(
        pattern(ObservableType::File, &"a".repeat(64)).unwrap(),
        format!("[file:hashes.'SHA-256' = '{}']", "a".repeat(64))
    );
    assert_eq!(
        pattern(ObservableType::File, "it's a\\b.exe").unwrap(),
        "[file:name = 'it\\'s a\\\\b.exe']"
    );
    assert_eq!(
        pattern(ObservableType::X509Certificate, "36:f7:d4:32").unwrap(),
        "[x509-certificate:serial_number = '36:f7:d4:32']"
    );
    assert_eq!(
        pattern(ObservableType::Vulnerability, "CVE-2021-44228"),
        None
    );
}

#[test]
fn file_names_and_serials_become_their_own_observables_and_patterns() {
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let indicators = vec![
        indicator(ObservableType::File, "evil.exe"),
        indicator(ObservableType::File, md5),
        indicator(ObservableType::X509Certificate, "36:f7:d4:32"),
    ];
    let view = view(REPORT_A, Tlp::Green, Attribution::Named, indicators);
    let objects = export(&[Release {
        view: &view,
        released_at: ts("2026-11-20T10:00:00Z"),
    }]);
    let name = by_id(&objects, &observable_id(ObservableType::File, "evil.exe"));
    assert_eq!(name["type"], "file");
    assert_eq!(name["name"], "evil.exe");
    assert!(name.get("hashes").is_none());
    let hash = by_id(&objects, &observable_id(ObservableType::File, md5));
    assert_eq!(hash["hashes"], json!({ "MD5": md5 }));
    assert!(hash.get("name").is_none());
    let serial_id = observable_id(ObservableType::X509Certificate, "36:f7:d4:32");
    assert!(serial_id.starts_with("x509-certificate--"));
    let serial = by_id(&objects, &serial_id);
    assert_eq!(serial["type"], "x509-certificate");
    assert_eq!(serial["serial_number"], "36:f7:d4:32");
    assert!(serial.get("value").is_none());
    let patterns: BTreeSet<&str> = objects
        .iter()
        .filter(|object| object.kind == "indicator")
        .filter_map(|object| object.body["pattern"].as_str())
        .collect();
    assert_eq!(
        patterns,
        BTreeSet::from([
            "[file:name = 'evil.exe']",
            "[file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e']",
            "[x509-certificate:serial_number = '36:f7:d4:32']",
        ])
    );
}

#[test]
fn a_view_becomes_report_indicators_observables_identity_and_marking() {
    let indicators = vec![
        indicator(ObservableType::Ipv4Addr, "45.155.205.172"),
        indicator(ObservableType::Vulnerability, "CVE-2021-44228"),
    ];
    let view = view(REPORT_A, Tlp::Amber, Attribution::Named, indicators);
    let released_at = ts("2026-11-20T10:00:00Z");
    let objects = export(&[Release {
        view: &view,
        released_at,
    }]);
    let kinds: BTreeSet<&str> = objects.iter().map(|object| object.kind.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "report",
            "indicator",
            "ipv4-addr",
            "vulnerability",
            "identity",
            "marking-definition"
        ])
    );
    let report = by_id(&objects, REPORT_A);
    assert_eq!(report["created"], "2026-11-20T09:00:00.123Z");
    assert_eq!(report["modified"], "2026-11-20T10:00:00.000Z");
    assert_eq!(
        report["object_marking_refs"],
        json!([tlp_marking_id(Tlp::Amber)])
    );
    assert_eq!(report["labels"], json!(["phishing", "sector:finance"]));
    assert_eq!(
        report["external_references"][0]["url"],
        "https://attack.mitre.org/techniques/T1566/002/"
    );
    assert!(report["external_references"][1].get("url").is_none());
    let refs: Vec<&str> = report["object_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    for object in &objects {
        if matches!(
            object.kind.as_str(),
            "indicator" | "ipv4-addr" | "vulnerability"
        ) {
            assert!(
                refs.contains(&object.id.as_str()),
                "{} is referenced",
                object.id
            );
            assert_eq!(
                object.body["object_marking_refs"],
                json!([tlp_marking_id(Tlp::Amber)])
            );
        }
    }
    let author = by_id(&objects, report["created_by_ref"].as_str().unwrap());
    assert_eq!(author["name"], "bank-a");
    let marking = by_id(&objects, tlp_marking_id(Tlp::Amber));
    assert_eq!(marking["extensions"][TLP_EXTENSION_ID]["tlp_2_0"], "amber");
    assert!(
        objects
            .iter()
            .all(|object| object.date_added == released_at)
    );
    assert_eq!(
        bundle(&[Release {
            view: &view,
            released_at
        }])["type"],
        "bundle"
    );
}

#[test]
fn anonymous_attribution_never_names_the_partner() {
    let view = view(
        REPORT_A,
        Tlp::Green,
        Attribution::Anonymous,
        vec![indicator(ObservableType::DomainName, "login-bank-a.com")],
    );
    let bundle = bundle(&[Release {
        view: &view,
        released_at: ts("2026-11-20T10:00:00Z"),
    }]);
    let text = bundle.to_string();
    assert!(
        !text.contains("bank-a\""),
        "the partner id never appears: {text}"
    );
    let identity = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|object| object["type"] == "identity")
        .unwrap();
    assert_eq!(identity["name"], "anonymous partner");
    // Every anonymous partner is the same identity.
    let mut other = view.clone();
    other.facts.partner = OrgId::parse("telco-b").unwrap();
    assert_eq!(author_id(&other), author_id(&view));
}

#[test]
fn shared_observables_appear_once_with_the_most_restrictive_tlp_and_latest_date() {
    let shared = indicator(ObservableType::Ipv4Addr, "1.2.3.4");
    let green = view(
        REPORT_A,
        Tlp::Green,
        Attribution::Named,
        vec![shared.clone()],
    );
    let red = view(REPORT_B, Tlp::Red, Attribution::Named, vec![shared.clone()]);
    let later = ts("2026-11-21T00:00:00Z");
    let objects = export(&[
        Release {
            view: &green,
            released_at: ts("2026-11-20T10:00:00Z"),
        },
        Release {
            view: &red,
            released_at: later,
        },
    ]);
    let copies: Vec<&StixObject> = objects
        .iter()
        .filter(|object| object.id == shared.id)
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(
        copies[0].body["object_marking_refs"],
        json!([tlp_marking_id(Tlp::Red)])
    );
    assert_eq!(copies[0].date_added, later);
    assert_eq!(
        objects
            .iter()
            .filter(|object| object.kind == "report")
            .count(),
        2
    );
    assert_eq!(
        objects
            .iter()
            .filter(|object| object.kind == "marking-definition")
            .count(),
        2
    );
    // TAXII order: by date_added, then id.
    assert!(
        objects
            .windows(2)
            .all(|pair| (pair[0].date_added, &pair[0].id) <= (pair[1].date_added, &pair[1].id))
    );
}

#[test]
fn a_view_without_indicators_or_narrative_is_still_a_valid_report() {
    let mut view = view(REPORT_A, Tlp::Clear, Attribution::Named, vec![]);
    view.content.title = None;
    view.content.description = None;
    view.content.ttps = None;
    view.content.victim = Some(Victim {
        name: None,
        email: Some("jane@example.com".to_owned()),
        ..Victim::default()
    });
    let objects = export(&[Release {
        view: &view,
        released_at: chrono::Utc
            .with_ymd_and_hms(2026, 11, 20, 10, 0, 0)
            .unwrap(),
    }]);
    let report = by_id(&objects, REPORT_A);
    assert!(
        report["name"]
            .as_str()
            .unwrap()
            .starts_with("Incident report report--")
    );
    let refs = report["object_refs"].as_array().unwrap();
    assert_eq!(refs.len(), 1);
    let victim = by_id(&objects, refs[0].as_str().unwrap());
    assert_eq!(victim["contact_information"], "email: jane@example.com");
}

#[test]
fn bundles_of_the_same_content_have_the_same_id() {
    let view = view(REPORT_A, Tlp::Amber, Attribution::Named, vec![]);
    let release = Release {
        view: &view,
        released_at: ts("2026-11-20T10:00:00Z"),
    };
    assert_eq!(bundle(&[release])["id"], bundle(&[release])["id"]);
    let later = Release {
        released_at: ts("2026-11-22T10:00:00Z"),
        ..release
    };
    assert_ne!(bundle(&[release])["id"], bundle(&[later])["id"]);
}

#[test]
fn urls_are_exported_as_rfc3986_uris_with_the_id_of_that_form() {
    assert_eq!(uri_form("https://e.com/a?q=1"), "https://e.com/a?q=1");
    assert_eq!(
        uri_form("https://[::1]/a[b]?q=|x#f#g%zz%41"),
        "https://[::1]/a%5Bb%5D?q=%7Cx#f%23g%25zz%41"
    );
    assert_eq!(uri_form("http://e.com/é"), "http://e.com/%C3%A9");
    let raw = indicator(ObservableType::Url, "https://e.com/?q=[1]");
    let view = view(REPORT_A, Tlp::Green, Attribution::Named, vec![raw]);
    let objects = export(&[Release {
        view: &view,
        released_at: ts("2026-11-20T10:00:00Z"),
    }]);
    let url = objects.iter().find(|object| object.kind == "url").unwrap();
    assert_eq!(url.body["value"], "https://e.com/?q=%5B1%5D");
    assert_eq!(
        url.id,
        observable_id(ObservableType::Url, "https://e.com/?q=%5B1%5D")
    );
}

#[test]
fn object_ids_are_the_ids_of_the_export_of_a_view() {
    let indicators = vec![
        indicator(ObservableType::Ipv4Addr, "45.155.205.172"),
        indicator(ObservableType::Vulnerability, "CVE-2021-44228"),
        indicator(ObservableType::Url, "https://e.com/?q=[1]"),
        indicator(ObservableType::File, "invoice.pdf.exe"),
    ];
    for attribution in [Attribution::Named, Attribution::Anonymous] {
        let mut view = view(REPORT_A, Tlp::Amber, attribution, indicators.clone());
        view.content.victim = Some(Victim {
            name: Some("Victim".to_owned()),
            ..Victim::default()
        });
        let exported: Vec<String> = export(&[Release {
            view: &view,
            released_at: ts("2026-11-20T10:00:00Z"),
        }])
        .into_iter()
        .map(|object| object.id)
        .collect();
        let exported: BTreeSet<String> = exported.into_iter().collect();
        let listed: BTreeSet<String> = object_ids(&view).into_iter().collect();
        assert_eq!(listed, exported);
    }
}
