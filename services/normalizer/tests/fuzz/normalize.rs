//! The whole normalization of a raw report: native reports, with indicators and patterns of every kind, mutated.

use std::collections::HashSet;

use accord_domain::{OrgId, RawReport, ReportFormat, ReportId, Tlp, observable::canonicalize};
use accord_fuzz::{documents, json, proptest::prelude::*};
use accord_normalizer::normalize;
use serde_json::{Value, json};

fn raw(format: ReportFormat, default_tlp: Option<Tlp>, payload: Value) -> RawReport {
    RawReport {
        revision: None,
        id: ReportId::random(),
        partner: OrgId::parse("bank-a").expect("a valid id"),
        received_at: chrono::Utc::now(),
        default_tlp,
        format,
        payload,
        objects: Vec::new(),
        warnings: Vec::new(),
    }
}

proptest! {
    #![proptest_config(accord_fuzz::config(2_000))]

    #[test]
    fn a_report_normalizes_to_a_consistent_record_or_a_rejection(
        payload in json::mutate(documents::native(), 3),
        format in prop::sample::select(vec![ReportFormat::Native, ReportFormat::Stix, ReportFormat::Misp]),
        default_tlp in prop::option::of(Just(Tlp::Amber)),
    ) {
        let raw = raw(format, default_tlp, payload);
        match normalize(&raw) {
            Ok(record) => {
                let mut seen = HashSet::new();
                for indicator in &record.indicators {
                    prop_assert_eq!(canonicalize(Some(indicator.kind), &indicator.value), Ok((indicator.kind, indicator.value.clone())));
                    prop_assert_eq!(&indicator.id, &accord_stix::observable_id(indicator.kind, &indicator.value));
                    prop_assert!(seen.insert((indicator.kind, indicator.value.clone())), "{:?} twice", indicator);
                }
                let mut sorted = record.categories.clone();
                sorted.sort();
                sorted.dedup();
                prop_assert_eq!(&sorted, &record.categories);
                let ttps: HashSet<&String> = record.ttps.iter().collect();
                prop_assert_eq!(ttps.len(), record.ttps.len());
                for found in &record.pii {
                    let text = match found.field {
                        accord_domain::TextField::Title => &record.title,
                        accord_domain::TextField::Description => &record.description,
                    };
                    prop_assert!(found.start < found.end && text.get(found.start..found.end).is_some(), "{found:?}");
                }
            }
            Err(rejection) => {
                prop_assert_eq!(&rejection.report_id, &raw.id);
                prop_assert!(!rejection.reason.is_empty() && !rejection.detail.is_empty());
            }
        }
    }
}

/// A report with `n` distinct declared indicators, each declared twice, normalizes to exactly `n` indicators, at
/// 2 000 and at 8 000 (the deduplication is a hash set, docs/fuzzing.md; a list scan made this quadratic).
#[test]
fn declared_duplicates_collapse_whatever_the_count() {
    for count in [2_000u32, 8_000] {
        let indicators: Vec<Value> = (0..count)
            .chain(0..count)
            .map(|index| json!({ "value": format!("10.{}.{}.1", index / 256, index % 256) }))
            .collect();
        let payload = json!({
            "title": "t", "occurred_at": "2026-01-01T00:00:00Z", "classification": "unclassified", "tlp": "amber",
            "indicators": indicators,
        });
        let record = normalize(&raw(ReportFormat::Native, None, payload)).expect("normalizes");
        assert_eq!(record.indicators.len(), count as usize);
    }
}
