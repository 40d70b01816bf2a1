//! Totals over re-checked hits on a real tantivy index: the fast path in the steady state, the scan path right after
//! an MoU narrowed, and the re-check limit.

use std::collections::BTreeSet;

use accord_domain::{
    Attribution, ContentPart, DirectoryEvent, Indicator, IndicatorSource, Mou, MouId, MouStatus,
    MouVersion, NormalizedReport, ObservableType, OrgId, OrgKind, Organization, PiiRule, Purpose,
    ReportId, Scope, Timestamp, Tlp,
};
use accord_index::{IndexClient, ReplaceViews, tantivy_index::TantivyIndex};
use accord_runtime::{ApiError, Directory};
use serde_json::json;

use crate::{Config, request::Context, run_indicator, run_search};

fn at(value: &str) -> Timestamp {
    value.parse().unwrap()
}

fn org(id: &str, kind: OrgKind) -> Organization {
    Organization {
        id: OrgId::parse(id).unwrap(),
        name: id.to_owned(),
        kind,
        country: "DE".to_owned(),
        sector: None,
        default_tlp: None,
        created_at: at("2026-01-01T00:00:00Z"),
    }
}

fn mou(version: u32, categories: Scope) -> MouVersion {
    MouVersion {
        reason: None,
        mou: Mou {
            id: MouId::parse("m-x").unwrap(),
            title: "m-x".to_owned(),
            status: MouStatus::Active,
            providers: BTreeSet::from([OrgId::parse("bank-a").unwrap()]),
            recipients: BTreeSet::from([OrgId::parse("ncu-de").unwrap()]),
            effective_from: at("2026-01-01T00:00:00Z"),
            expires_at: at("2030-01-01T00:00:00Z"),
            max_tlp: Tlp::Amber,
            content: BTreeSet::from([ContentPart::Indicators, ContentPart::Narrative]),
            categories,
            sectors: Scope::Any,
            indicator_types: Scope::Any,
            purposes: BTreeSet::from([Purpose::Investigation]),
            pii: PiiRule::Share,
            attribution: Attribution::Named,
            feedback: Default::default(),
            recipient_countries: Scope::Any,
            retention_days: 3650,
        },
        version,
        changed_by: "test".to_owned(),
        changed_at: at("2026-01-01T00:00:00Z"),
    }
}

fn report(n: u8, category: &str) -> NormalizedReport {
    let indicator = |value: &str| Indicator {
        id: format!("ipv4-addr--{value}"),
        kind: ObservableType::Ipv4Addr,
        value: value.to_owned(),
        source: IndicatorSource::Declared,
    };
    NormalizedReport {
        revision: None,
        id: ReportId::random(),
        partner: OrgId::parse("bank-a").unwrap(),
        received_at: at("2026-06-01T00:00:00Z"),
        occurred_at: at(&format!("2026-05-{:02}T00:00:00Z", n + 1)),
        tlp: Tlp::Green,
        title: format!("Beacon {n}"),
        description: String::new(),
        categories: vec![category.to_owned()],
        sector: None,
        ttps: Vec::new(),
        victim: None,
        indicators: vec![
            indicator("192.0.2.1"),
            indicator(&format!("198.51.100.{n}")),
        ],
        pii: Vec::new(),
        indicator_spans: Some(Vec::new()),
        indicator_pii: Vec::new(),
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    index: IndexClient,
    directory: Directory,
    sightings: crate::Sightings,
    /// The reports' ids, in order.
    ids: Vec<ReportId>,
}

/// Three reports (two phishing, one fraud) released under m-x v1 and indexed.
async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let index = IndexClient::new(TantivyIndex::open(dir.path()).unwrap());
    let directory = Directory::new();
    directory.apply_directory_event(DirectoryEvent::Organization(org(
        "bank-a",
        OrgKind::Partner,
    )));
    directory.apply_directory_event(DirectoryEvent::Organization(org("ncu-de", OrgKind::Agency)));
    directory.apply_mou_version(mou(1, Scope::Any));
    let snapshot = directory.snapshot();
    let reports = [
        report(1, "phishing"),
        report(2, "phishing"),
        report(3, "fraud"),
    ];
    let ids = reports.iter().map(|report| report.id.clone()).collect();
    let writes = reports
        .iter()
        .map(|report| ReplaceViews {
            report_id: report.id.clone(),
            version: 1,
            views: accord_policy::release(report, now(), &snapshot.mous, &snapshot.orgs),
        })
        .collect();
    index.write(writes).await.unwrap();
    let sightings =
        crate::Sightings::open(&dir.path().join("sightings"), 1024 * 1024, None).unwrap();
    Setup {
        _dir: dir,
        index,
        directory,
        sightings,
        ids,
    }
}

fn now() -> Timestamp {
    at("2026-07-01T00:00:00Z")
}

fn context(directory: &Directory) -> Context {
    Context::new(
        OrgId::parse("ncu-de").unwrap(),
        Purpose::Investigation,
        now(),
        directory.snapshot(),
    )
}

fn config(max_rechecked_views: usize) -> Config {
    Config {
        max_rechecked_views,
        ..Config::default()
    }
}

async fn page(setup: &Setup, max: usize, size: usize) -> Result<serde_json::Value, ApiError> {
    let body = serde_json::to_vec(&json!({ "q": "beacon", "size": size })).unwrap();
    let ctx = context(&setup.directory);
    run_search(&setup.index, &config(max), &ctx, &body)
        .await
        .map(|answer| answer.body().clone())
}

#[tokio::test]
async fn totals_and_cursors_count_reports_visible_now() {
    let setup = setup().await;
    // Steady state: the index's total is exact, whatever the re-check limit.
    let first = page(&setup, 1, 2).await.unwrap();
    assert_eq!(first["total"], 3);
    assert_eq!(first["hits"].as_array().unwrap().len(), 2);
    assert!(first["next"].is_string());

    // The MoU narrows to phishing; the index still holds v1's views.
    setup
        .directory
        .apply_mou_version(mou(2, Scope::Only(BTreeSet::from(["phishing".to_owned()]))));
    let narrowed = page(&setup, 10, 2).await.unwrap();
    assert_eq!(narrowed["total"], 2, "{narrowed}");
    assert_eq!(narrowed["hits"].as_array().unwrap().len(), 2);
    assert!(
        narrowed["next"].is_null(),
        "no more visible reports follow: {narrowed}"
    );
    let first_of_two = page(&setup, 10, 1).await.unwrap();
    assert_eq!(first_of_two["total"], 2);
    assert!(first_of_two["next"].is_string());

    // Feedback sightings on a report still visible count; those on the fraud report, hidden now, do not.
    setup
        .sightings
        .apply(&[
            sighting("f1", &setup.ids[0], 2),
            sighting("f2", &setup.ids[2], 5),
        ])
        .unwrap();
    let ctx = context(&setup.directory);
    let found = run_indicator(
        &setup.index,
        &config(10),
        &setup.sightings,
        &ctx,
        "192.0.2.1",
    )
    .await
    .unwrap();
    let found = found.body();
    assert_eq!(found["reports_total"], 2, "{found}");
    assert_eq!(found["sightings"], 2, "{found}");
    assert_eq!(found["reports"].as_array().unwrap().len(), 2);
}

/// A `sighted` feedback record of 192.0.2.1 in `report`.
fn sighting(id: &str, report: &ReportId, count: u64) -> accord_domain::feedback::FeedbackRecord {
    accord_domain::feedback::FeedbackRecord {
        id: id.to_owned(),
        report_id: report.clone(),
        partner: OrgId::parse("bank-a").unwrap(),
        indicator: Some(accord_domain::feedback::FeedbackIndicator {
            kind: ObservableType::Ipv4Addr,
            value: "192.0.2.1".to_owned(),
        }),
        kind: accord_domain::feedback::FeedbackKind::Sighted,
        count,
        seen_at: None,
        at: now(),
        agency: None,
        pseudonym: Some("agency-0011223344556677".to_owned()),
    }
}

#[tokio::test]
async fn more_views_than_can_be_rechecked_is_a_503_never_an_unchecked_count() {
    let setup = setup().await;
    let ctx = context(&setup.directory);
    let lookup = run_indicator(
        &setup.index,
        &config(2),
        &setup.sightings,
        &ctx,
        "192.0.2.1",
    )
    .await;
    assert!(
        matches!(lookup, Err(ApiError::Unavailable(_))),
        "{lookup:?}"
    );
    let found = run_indicator(
        &setup.index,
        &config(3),
        &setup.sightings,
        &ctx,
        "192.0.2.1",
    )
    .await
    .unwrap();
    let found = found.body();
    assert_eq!(found["reports_total"], 3);
    assert_eq!(found["sightings"], 0, "no feedback yet");

    setup
        .directory
        .apply_mou_version(mou(2, Scope::Only(BTreeSet::from(["phishing".to_owned()]))));
    let scanned = page(&setup, 2, 2).await;
    assert!(
        matches!(scanned, Err(ApiError::Unavailable(_))),
        "{scanned:?}"
    );
    assert_eq!(page(&setup, 3, 2).await.unwrap()["total"], 2);
}

#[tokio::test]
async fn a_batch_lookup_reads_again_only_the_values_in_more_reports_than_its_first_pass_lists() {
    let setup = setup().await;
    let ctx = context(&setup.directory);
    let key = |value: &str| accord_index::IndicatorMatch {
        key: accord_index::IndicatorKey {
            kind: ObservableType::Ipv4Addr,
            value: value.to_owned(),
        },
        ip: value.parse().ok(),
    };
    let keys = vec![key("192.0.2.1"), key("203.0.113.250")];
    let narrow = Config {
        max_reports_per_indicator: 1,
        max_rechecked_views: 10,
        ..Config::default()
    };
    let found = super::lookup(&setup.index, &narrow, &ctx, keys.clone())
        .await
        .unwrap();
    assert_eq!(found.len(), 2, "one answer per key, in order");
    assert_eq!(
        found[0].len(),
        3,
        "every report, though the first pass listed one"
    );
    assert!(found[1].is_empty());
    let wide = super::lookup(&setup.index, &Config::default(), &ctx, keys.clone())
        .await
        .unwrap();
    let ids = |views: &[accord_domain::View]| {
        views.iter().map(|view| view.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&found[0]),
        ids(&wide[0]),
        "the same views in the same order"
    );
    let bounded = Config {
        max_reports_per_indicator: 1,
        max_rechecked_views: 2,
        ..Config::default()
    };
    let refused = super::lookup(&setup.index, &bounded, &ctx, keys).await;
    assert!(
        matches!(refused, Err(ApiError::Unavailable(_))),
        "{refused:?}"
    );
}

async fn per_day(setup: &Setup, body: serde_json::Value) -> Result<serde_json::Value, ApiError> {
    let body = serde_json::to_vec(&body).unwrap();
    let ctx = context(&setup.directory);
    run_search(&setup.index, &config(10), &ctx, &body)
        .await
        .map(|answer| answer.body().clone())
}

fn counts(answer: &serde_json::Value) -> Vec<(String, u64)> {
    answer["per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|day| {
            (
                day["day"].as_str().unwrap().to_owned(),
                day["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn counts_per_day_count_only_what_the_recheck_admits() {
    let setup = setup().await;
    let body = json!({
        "q": "beacon", "size": 1, "per_day": true,
        "filters": { "from": "2026-05-02T12:00:00Z", "to": "2026-05-05T00:00:00Z" },
    });
    // Fast path: the index's counts per day (the first day starts at noon: its report, at midnight, is outside).
    let steady = per_day(&setup, body.clone()).await.unwrap();
    assert_eq!(
        counts(&steady),
        [
            ("2026-05-02".to_owned(), 0),
            ("2026-05-03".to_owned(), 1),
            ("2026-05-04".to_owned(), 1)
        ]
    );
    assert_eq!(steady["total"], 2);
    // The MoU narrows to phishing: the fraud report of 05-04 is hidden, from the counts too (scan path).
    setup
        .directory
        .apply_mou_version(mou(2, Scope::Only(BTreeSet::from(["phishing".to_owned()]))));
    let narrowed = per_day(&setup, body.clone()).await.unwrap();
    assert_eq!(
        counts(&narrowed),
        [
            ("2026-05-02".to_owned(), 0),
            ("2026-05-03".to_owned(), 1),
            ("2026-05-04".to_owned(), 0)
        ]
    );
    assert_eq!(narrowed["total"], 1);
    // Without per_day, nothing changes in the answer.
    let plain = per_day(&setup, json!({ "q": "beacon" })).await.unwrap();
    assert!(plain.get("per_day").is_none());
    // Counts need a start, and cover at most 92 days.
    let unbounded = per_day(&setup, json!({ "q": "beacon", "per_day": true })).await;
    assert!(
        matches!(&unbounded, Err(ApiError::Unprocessable { detail, .. }) if detail.starts_with("/per_day")),
        "{unbounded:?}"
    );
    let long = json!({ "per_day": true, "filters": { "from": "2026-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z" } });
    assert!(per_day(&setup, long).await.is_err());
}
