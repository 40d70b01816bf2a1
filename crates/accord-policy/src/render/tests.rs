//! Unit tests of [`render`] and [`redactions`]: each content part, PII redaction of free text and the victim
//! block, invalid PII ranges, attribution, indicator-type filtering, and withheld indicators leaving no trace in the
//! text.

use std::collections::BTreeSet;

use accord_domain::{
    Attribution, ContentPart, NormalizedReport, ObservableType, PiiKind, PiiMatch, PiiRule,
    Profile, Scope, TextField,
};

use super::*;
use crate::testkit::{DESCRIPTION, TITLE, only, pii_at, report};

fn profile(
    content: &[ContentPart],
    pii: PiiRule,
    attribution: Attribution,
    types: Scope,
) -> Profile {
    Profile {
        content: content.iter().copied().collect(),
        pii,
        attribution,
        indicator_types: types,
    }
}

fn everything(pii: PiiRule) -> Profile {
    profile(
        &[
            ContentPart::Indicators,
            ContentPart::Narrative,
            ContentPart::Victim,
        ],
        pii,
        Attribution::Named,
        Scope::Any,
    )
}

/// The description with every located indicator withheld (no PII redaction).
const WITHHELD_DESCRIPTION: &str = "Contact jane.doe@bank-a.example or +49 30 1234567 (Jürgen Müller). \
    Lure domain [withheld:indicator], sender [withheld:indicator], payload from [withheld:indicator].";

const REDACTED_DESCRIPTION: &str = "Contact [redacted:email] or [redacted:phone] ([redacted:name]). \
    Lure domain login-bank-a.com, sender attacker@evil.example, payload from 45.155.205.172.";

#[test]
fn metadata_is_always_present_and_nothing_else_without_content() {
    let report = report();
    let content = render(
        &report,
        &profile(&[], PiiRule::Share, Attribution::Anonymous, Scope::Any),
    );
    assert_eq!(content.tlp, report.tlp);
    assert_eq!(content.occurred_at, report.occurred_at);
    assert_eq!(content.categories, report.categories);
    assert_eq!(content.sector, report.sector);
    assert_eq!(content.partner, "anonymous");
    assert_eq!(content.title, None);
    assert_eq!(content.description, None);
    assert_eq!(content.ttps, None);
    assert!(content.indicators.is_empty());
    assert_eq!(content.victim, None);
}

#[test]
fn narrative_alone_releases_title_description_and_ttps_only() {
    let report = report();
    let content = render(
        &report,
        &profile(
            &[ContentPart::Narrative],
            PiiRule::Share,
            Attribution::Named,
            Scope::Any,
        ),
    );
    assert_eq!(content.title.as_deref(), Some(TITLE));
    // Indicators are not released, so none of them stays in the text.
    assert_eq!(content.description.as_deref(), Some(WITHHELD_DESCRIPTION));
    assert_eq!(content.ttps, Some(report.ttps.clone()));
    assert!(content.indicators.is_empty());
    assert_eq!(content.victim, None);
}

#[test]
fn indicators_alone_release_every_indicator_and_no_text() {
    let report = report();
    let content = render(
        &report,
        &profile(
            &[ContentPart::Indicators],
            PiiRule::Share,
            Attribution::Named,
            Scope::Any,
        ),
    );
    assert_eq!(content.indicators, report.indicators);
    assert_eq!(content.title, None);
    assert_eq!(content.description, None);
    assert_eq!(content.ttps, None);
    assert_eq!(content.victim, None);
}

#[test]
fn victim_is_released_only_under_victim_and_share() {
    let report = report();
    let victim_share = profile(
        &[ContentPart::Victim],
        PiiRule::Share,
        Attribution::Named,
        Scope::Any,
    );
    assert_eq!(render(&report, &victim_share).victim, report.victim);
    let victim_redact = profile(
        &[ContentPart::Victim],
        PiiRule::Redact,
        Attribution::Named,
        Scope::Any,
    );
    assert_eq!(render(&report, &victim_redact).victim, None);
    let no_victim = profile(
        &[ContentPart::Narrative],
        PiiRule::Share,
        Attribution::Named,
        Scope::Any,
    );
    assert_eq!(render(&report, &no_victim).victim, None);
}

#[test]
fn share_releases_free_text_verbatim() {
    let content = render(&report(), &everything(PiiRule::Share));
    assert_eq!(content.title.as_deref(), Some(TITLE));
    assert_eq!(content.description.as_deref(), Some(DESCRIPTION));
}

#[test]
fn redact_replaces_every_match_with_its_marker_around_multibyte_text() {
    let content = render(&report(), &everything(PiiRule::Redact));
    assert_eq!(
        content.title.as_deref(),
        Some("Invoice fraud reported by [redacted:name]")
    );
    assert_eq!(content.description.as_deref(), Some(REDACTED_DESCRIPTION));
    assert_eq!(content.victim, None);
}

#[test]
fn redact_handles_unsorted_matches_and_multibyte_neighbours() {
    let mut report = report();
    let text = "Grüße: 山田太郎 <yamada@例え.jp> 🙂 and ☎ 030-123 ✓";
    report.title = text.to_owned();
    report.pii = vec![
        pii_at(text, "030-123", PiiKind::Phone, TextField::Title),
        pii_at(text, "山田太郎", PiiKind::Name, TextField::Title),
        pii_at(text, "yamada@例え.jp", PiiKind::Email, TextField::Title),
    ];
    let content = render(&report, &everything(PiiRule::Redact));
    assert_eq!(
        content.title.as_deref(),
        Some("Grüße: [redacted:name] <[redacted:email]> 🙂 and ☎ [redacted:phone] ✓")
    );
    assert_eq!(
        content.description.as_deref(),
        Some(DESCRIPTION),
        "no description matches"
    );
}

#[test]
fn matches_at_the_very_start_and_end_are_redacted() {
    let mut report = report();
    report.title = "a@b.example".to_owned();
    report.pii = vec![PiiMatch {
        kind: PiiKind::Email,
        field: TextField::Title,
        start: 0,
        end: 11,
    }];
    let content = render(&report, &everything(PiiRule::Redact));
    assert_eq!(content.title.as_deref(), Some("[redacted:email]"));
}

/// Returns the report with its description matches replaced by `bad` (the title keeps its valid match).
fn with_description_match(bad: PiiMatch) -> NormalizedReport {
    let mut report = report();
    report.pii.retain(|found| found.field == TextField::Title);
    report.pii.push(pii_at(
        DESCRIPTION,
        "jane.doe@bank-a.example",
        PiiKind::Email,
        TextField::Description,
    ));
    report.pii.push(bad);
    report
}

#[test]
fn an_invalid_range_redacts_the_whole_field_and_only_that_field() {
    let umlaut = DESCRIPTION.find("ü").unwrap();
    let email = pii_at(
        DESCRIPTION,
        "jane.doe@bank-a.example",
        PiiKind::Email,
        TextField::Description,
    );
    let bad_ranges = [
        ("past the end", DESCRIPTION.len() - 2, DESCRIPTION.len() + 1),
        (
            "start past the end",
            DESCRIPTION.len() + 5,
            DESCRIPTION.len() + 9,
        ),
        ("inside a multibyte char", umlaut + 1, umlaut + 5),
        ("ending inside a multibyte char", umlaut - 3, umlaut + 1),
        ("empty", 10, 10),
        ("reversed", 20, 10),
        ("overlapping another", email.start + 3, email.end + 4),
    ];
    for (name, start, end) in bad_ranges {
        let report = with_description_match(PiiMatch {
            kind: PiiKind::Phone,
            field: TextField::Description,
            start,
            end,
        });
        let content = render(&report, &everything(PiiRule::Redact));
        assert_eq!(
            content.description.as_deref(),
            Some(WHOLE_FIELD_MARKER),
            "{name}"
        );
        assert_eq!(
            content.title.as_deref(),
            Some("Invoice fraud reported by [redacted:name]"),
            "{name}"
        );
        assert!(
            redactions(&report, &everything(PiiRule::Redact))
                .contains(&"description redacted entirely (invalid pii ranges)".to_owned()),
            "{name}"
        );
    }
}

#[test]
fn an_invalid_title_range_redacts_the_title() {
    let mut report = report();
    report.pii.push(PiiMatch {
        kind: PiiKind::Name,
        field: TextField::Title,
        start: 0,
        end: 500,
    });
    let content = render(&report, &everything(PiiRule::Redact));
    assert_eq!(content.title.as_deref(), Some(WHOLE_FIELD_MARKER));
    assert_eq!(content.description.as_deref(), Some(REDACTED_DESCRIPTION));
}

#[test]
fn email_indicators_stay_under_redact() {
    let content = render(&report(), &everything(PiiRule::Redact));
    assert!(content.indicators.iter().any(|indicator| {
        indicator.kind == ObservableType::EmailAddr && indicator.value == "attacker@evil.example"
    }));
    assert_eq!(content.indicators.len(), 4);
}

#[test]
fn indicator_types_filter_the_released_indicators() {
    let report = report();
    let filtered = profile(
        &[ContentPart::Indicators],
        PiiRule::Redact,
        Attribution::Named,
        only(&["domain-name", "EMAIL-ADDR"]),
    );
    let kinds: Vec<ObservableType> = render(&report, &filtered)
        .indicators
        .iter()
        .map(|indicator| indicator.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![ObservableType::DomainName, ObservableType::EmailAddr]
    );
    let none = profile(
        &[ContentPart::Indicators],
        PiiRule::Redact,
        Attribution::Named,
        Scope::Only(BTreeSet::new()),
    );
    assert!(render(&report, &none).indicators.is_empty());
}

#[test]
fn attribution_names_or_hides_the_partner() {
    let report = report();
    let mut named = everything(PiiRule::Share);
    assert_eq!(render(&report, &named).partner, "bank-a");
    named.attribution = Attribution::Anonymous;
    assert_eq!(render(&report, &named).partner, "anonymous");
}

#[test]
fn redactions_are_empty_for_a_full_release() {
    assert!(redactions(&report(), &everything(PiiRule::Share)).is_empty());
}

#[test]
fn redactions_describe_a_redacted_anonymous_release() {
    let restricted = profile(
        &[
            ContentPart::Indicators,
            ContentPart::Narrative,
            ContentPart::Victim,
        ],
        PiiRule::Redact,
        Attribution::Anonymous,
        only(&["domain-name"]),
    );
    assert_eq!(
        redactions(&report(), &restricted),
        vec![
            "partner anonymized",
            "1 personal name redacted in title",
            "1 e-mail address redacted in description",
            "1 phone number redacted in description",
            "1 personal name redacted in description",
            "2 occurrences of withheld indicators replaced in description",
            "3 indicators of types not covered withheld",
            "victim withheld (pii: redact)",
        ]
    );
}

#[test]
fn redactions_describe_withheld_parts() {
    let mut report = report();
    report.pii.push(pii_at(
        DESCRIPTION,
        "attacker@evil.example",
        PiiKind::Email,
        TextField::Description,
    ));
    let nothing = profile(&[], PiiRule::Redact, Attribution::Named, Scope::Any);
    assert_eq!(
        redactions(&report, &nothing),
        vec![
            "narrative withheld",
            "4 indicators withheld",
            "victim withheld"
        ]
    );
    let narrative = profile(
        &[ContentPart::Narrative],
        PiiRule::Redact,
        Attribution::Named,
        only(&["url", "file"]),
    );
    assert_eq!(
        redactions(&report, &narrative),
        vec![
            "1 personal name redacted in title",
            "2 e-mail addresses redacted in description",
            "1 phone number redacted in description",
            "1 personal name redacted in description",
            "2 occurrences of withheld indicators replaced in description",
            "4 indicators withheld",
            "victim withheld",
        ]
    );
    report.indicators.truncate(1);
    let one_other = profile(
        &[ContentPart::Indicators],
        PiiRule::Share,
        Attribution::Named,
        only(&["url"]),
    );
    assert_eq!(
        redactions(&report, &one_other),
        vec![
            "narrative withheld",
            "1 indicator of a type not covered withheld",
            "victim withheld"
        ]
    );
}

#[test]
fn redactions_skip_parts_the_report_does_not_have() {
    let mut report = report();
    report.victim = None;
    report.indicators.clear();
    report.indicator_spans = Some(Vec::new());
    report.pii.clear();
    let nothing = profile(
        &[ContentPart::Narrative],
        PiiRule::Redact,
        Attribution::Named,
        Scope::Any,
    );
    assert!(redactions(&report, &nothing).is_empty());
}

#[test]
fn emails_found_only_in_free_text_are_withheld_under_redact_and_kept_under_share() {
    let mut report = report();
    report.indicators.push(accord_domain::Indicator {
        id: "email-addr--00000000-0000-5000-8000-000000000001".to_owned(),
        kind: ObservableType::EmailAddr,
        value: "victim.contact@bank.example".to_owned(),
        source: accord_domain::IndicatorSource::Text,
    });
    let redacted = render(&report, &everything(PiiRule::Redact));
    assert!(
        !redacted
            .indicators
            .iter()
            .any(|i| i.value == "victim.contact@bank.example")
    );
    assert!(
        redacted
            .indicators
            .iter()
            .any(|i| i.value == "attacker@evil.example")
    );
    let shared = render(&report, &everything(PiiRule::Share));
    assert!(
        shared
            .indicators
            .iter()
            .any(|i| i.value == "victim.contact@bank.example")
    );
}

/// The baseline report whose only indicator is a SHA-256 that the description also carries, in upper case
/// (issue 21: an ip/domain-only MoU released the description with the hash).
fn hash_report() -> NormalizedReport {
    let hash = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
    let mut report = report();
    report.description = format!("Dropper {hash} fetched by the loader.");
    report.pii.clear();
    report.indicators = vec![crate::testkit::indicator(
        ObservableType::File,
        &hash.to_ascii_lowercase(),
        accord_domain::IndicatorSource::Declared,
    )];
    report.indicator_spans = Some(vec![crate::testkit::span_at(
        &report.description,
        hash,
        ObservableType::File,
        &hash.to_ascii_lowercase(),
        TextField::Description,
    )]);
    report
}

#[test]
fn an_indicator_withheld_by_type_leaves_no_trace_in_the_text() {
    let report = hash_report();
    let network = profile(
        &[ContentPart::Indicators, ContentPart::Narrative],
        PiiRule::Redact,
        Attribution::Anonymous,
        only(&["ipv4-addr", "domain-name"]),
    );
    let content = render(&report, &network);
    assert!(content.indicators.is_empty());
    assert_eq!(
        content.description.as_deref(),
        Some("Dropper [withheld:indicator] fetched by the loader.")
    );
    let files = profile(
        &[ContentPart::Indicators, ContentPart::Narrative],
        PiiRule::Redact,
        Attribution::Anonymous,
        only(&["file"]),
    );
    assert_eq!(
        render(&report, &files).description,
        Some(report.description.clone())
    );
}

#[test]
fn unknown_indicator_positions_withhold_the_whole_field_only_when_something_is_withheld() {
    let mut report = hash_report();
    report.indicator_spans = None;
    let network = profile(
        &[ContentPart::Indicators, ContentPart::Narrative],
        PiiRule::Share,
        Attribution::Named,
        only(&["ipv4-addr"]),
    );
    let content = render(&report, &network);
    assert_eq!(content.title.as_deref(), Some(WHOLE_FIELD_MARKER));
    assert_eq!(content.description.as_deref(), Some(WHOLE_FIELD_MARKER));
    assert!(
        redactions(&report, &network)
            .contains(&"description redacted entirely (indicator positions unknown)".to_owned())
    );
    let everything = everything(PiiRule::Share);
    assert_eq!(
        render(&report, &everything).description,
        Some(report.description.clone())
    );
}

#[test]
fn an_invalid_indicator_position_withholds_the_whole_field() {
    let mut report = hash_report();
    let len = report.description.len();
    for (start, end) in [(len - 2, len + 4), (9, 9), (30, 20)] {
        report.indicator_spans.as_mut().unwrap()[0].start = start;
        report.indicator_spans.as_mut().unwrap()[0].end = end;
        let network = profile(
            &[ContentPart::Narrative],
            PiiRule::Share,
            Attribution::Named,
            Scope::Any,
        );
        assert_eq!(
            render(&report, &network).description.as_deref(),
            Some(WHOLE_FIELD_MARKER),
            "{start}..{end}"
        );
    }
}

#[test]
fn a_span_of_an_indicator_the_report_does_not_have_is_cut() {
    let mut report = hash_report();
    report.indicators.clear();
    let content = render(&report, &everything(PiiRule::Share));
    assert_eq!(
        content.description.as_deref(),
        Some("Dropper [withheld:indicator] fetched by the loader.")
    );
}

#[test]
fn a_withheld_indicator_that_is_also_pii_keeps_the_pii_marker() {
    let mut report = report();
    report.indicators.push(crate::testkit::indicator(
        ObservableType::EmailAddr,
        "jane.doe@bank-a.example",
        accord_domain::IndicatorSource::Text,
    ));
    report
        .indicator_spans
        .as_mut()
        .unwrap()
        .push(crate::testkit::span_at(
            DESCRIPTION,
            "jane.doe@bank-a.example",
            ObservableType::EmailAddr,
            "jane.doe@bank-a.example",
            TextField::Description,
        ));
    let content = render(&report, &everything(PiiRule::Redact));
    assert_eq!(content.description.as_deref(), Some(REDACTED_DESCRIPTION));
    // Under share the address is released as an indicator and stays in the text.
    let shared = render(&report, &everything(PiiRule::Share));
    assert_eq!(shared.description.as_deref(), Some(DESCRIPTION));
}

#[test]
fn overlapping_withheld_spans_become_one_marker() {
    let mut report = hash_report();
    report.description = "see https://evil.example/x now".to_owned();
    report.indicators = vec![
        crate::testkit::indicator(
            ObservableType::Url,
            "https://evil.example/x",
            accord_domain::IndicatorSource::Text,
        ),
        crate::testkit::indicator(
            ObservableType::DomainName,
            "evil.example",
            accord_domain::IndicatorSource::Text,
        ),
    ];
    report.indicator_spans = Some(vec![
        crate::testkit::span_at(
            &report.description,
            "https://evil.example/x",
            ObservableType::Url,
            "https://evil.example/x",
            TextField::Description,
        ),
        crate::testkit::span_at(
            &report.description,
            "evil.example",
            ObservableType::DomainName,
            "evil.example",
            TextField::Description,
        ),
    ]);
    let none = profile(
        &[ContentPart::Narrative],
        PiiRule::Share,
        Attribution::Named,
        Scope::Any,
    );
    assert_eq!(
        render(&report, &none).description.as_deref(),
        Some("see [withheld:indicator] now")
    );
    // The domain released, the URL withheld: the URL goes, domain and all.
    let domains = profile(
        &[ContentPart::Narrative, ContentPart::Indicators],
        PiiRule::Share,
        Attribution::Named,
        only(&["domain-name"]),
    );
    assert_eq!(
        render(&report, &domains).description.as_deref(),
        Some("see [withheld:indicator] now")
    );
    // The URL released, the domain withheld: the domain inside the URL goes.
    let urls = profile(
        &[ContentPart::Narrative, ContentPart::Indicators],
        PiiRule::Share,
        Attribution::Named,
        only(&["url"]),
    );
    assert_eq!(
        render(&report, &urls).description.as_deref(),
        Some("see https://[withheld:indicator]/x now")
    );
}

#[test]
fn an_indicator_with_personal_data_is_released_redacted_only_under_redact() {
    let mut report = report();
    let url = accord_domain::Indicator {
        id: "url--original".to_owned(),
        kind: ObservableType::Url,
        value: "https://evil.example/login?email=jane.doe@bank-a.example".to_owned(),
        source: accord_domain::IndicatorSource::Declared,
    };
    let redacted = accord_domain::Indicator {
        id: "url--redacted".to_owned(),
        value: "https://evil.example/login?email=[redacted:email]".to_owned(),
        ..url.clone()
    };
    report.indicators.push(url.clone());
    report.indicator_pii.push(accord_domain::IndicatorPii {
        indicator: url.id.clone(),
        kinds: vec![PiiKind::Email],
        redacted: redacted.clone(),
    });
    let under_redact = render(&report, &everything(PiiRule::Redact));
    assert!(under_redact.indicators.contains(&redacted));
    assert!(
        !under_redact
            .indicators
            .iter()
            .any(|found| found.id == url.id || found.value == url.value)
    );
    assert!(
        redactions(&report, &everything(PiiRule::Redact))
            .contains(&"1 indicator released with personal data redacted (pii: redact)".to_owned())
    );
    let under_share = render(&report, &everything(PiiRule::Share));
    assert!(under_share.indicators.contains(&url));
    assert!(!under_share.indicators.contains(&redacted));
}
