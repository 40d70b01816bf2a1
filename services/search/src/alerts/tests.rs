//! The alert store: matches raised once, withdrawn when lost, nothing on replay, kept over a reopen.

use std::collections::BTreeMap;

use accord_domain::{ObservableType, OrgId, Purpose, ReportId, View};
use accord_index::conformance::{view, with_indicators};

use super::store::{AlertKind, AlertStore, Entry, Match, Watchlist};

/// A small page cache: the store works whatever its size.
const MIB: usize = 1024 * 1024;

fn list(id: &str, agency: &str) -> Watchlist {
    Watchlist {
        id: id.to_owned(),
        agency: OrgId::parse(agency).unwrap(),
        name: "test".to_owned(),
        purpose: Purpose::Investigation,
        case: accord_domain::Case::parse("CASE-1").unwrap(),
        created_at: chrono::Utc::now(),
        created_by: "token".to_owned(),
        entries: 0,
        webhook: None,
    }
}

fn entry(value: &str) -> Entry {
    Entry {
        kind: ObservableType::DomainName,
        value: value.to_owned(),
        include_subdomains: false,
    }
}

fn matched(list: &str, entry: &str, value: &str) -> Match {
    (list.into(), entry.into(), value.to_owned())
}

fn release(report: &ReportId, found: &[Match]) -> (ReportId, BTreeMap<Match, View>) {
    let view = with_indicators(
        view(report, "v"),
        &[(ObservableType::DomainName, "a.example")],
    );
    (
        report.clone(),
        found
            .iter()
            .map(|found| (found.clone(), view.clone()))
            .collect(),
    )
}

fn kinds(store: &AlertStore, agency: &str) -> Vec<(AlertKind, String)> {
    store
        .page(&OrgId::parse(agency).unwrap(), 0, 100)
        .unwrap()
        .into_iter()
        .map(|alert| (alert.kind, alert.value))
        .collect()
}

#[test]
fn a_match_is_raised_once_withdrawn_when_lost_and_nothing_on_replay() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::open(dir.path(), MIB, None).unwrap();
    store
        .create(
            list("w1", "ncu-de"),
            &[entry("a.example"), entry("b.example")],
        )
        .unwrap();
    let report = ReportId::random();
    let a = matched("w1", "a.example", "a.example");
    let b = matched("w1", "b.example", "b.example");
    let now = chrono::Utc::now();

    assert_eq!(
        store
            .record(vec![release(&report, std::slice::from_ref(&a))], now)
            .unwrap(),
        1
    );
    // The same release again (a replay, or a re-evaluation that changes nothing for the watchlist): nothing.
    assert_eq!(
        store
            .record(vec![release(&report, std::slice::from_ref(&a))], now)
            .unwrap(),
        0
    );
    // A release that adds b and keeps a: one new match.
    assert_eq!(
        store
            .record(vec![release(&report, &[a.clone(), b.clone()])], now)
            .unwrap(),
        1
    );
    // A release without either: both withdrawn.
    assert_eq!(store.record(vec![release(&report, &[])], now).unwrap(), 2);
    assert_eq!(
        kinds(&store, "ncu-de"),
        [
            (AlertKind::Match, "a.example".to_owned()),
            (AlertKind::Match, "b.example".to_owned()),
            (AlertKind::Withdrawn, "a.example".to_owned()),
            (AlertKind::Withdrawn, "b.example".to_owned()),
        ]
    );
    // Another agency's alerts are its own.
    assert!(kinds(&store, "ncu-fr").is_empty());
}

#[test]
fn one_report_twice_in_a_batch_raises_its_matches_once() {
    // A replayed evaluation next to the original (at-least-once after a crash) in the same batch.
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::open(dir.path(), MIB, None).unwrap();
    store
        .create(list("w1", "ncu-de"), &[entry("a.example")])
        .unwrap();
    let report = ReportId::random();
    let a = matched("w1", "a.example", "a.example");
    let now = chrono::Utc::now();
    let twice = vec![
        release(&report, std::slice::from_ref(&a)),
        release(&report, std::slice::from_ref(&a)),
    ];
    assert_eq!(store.record(twice, now).unwrap(), 1);
    // The last one counts: a batch that matched, then no longer, raises nothing for it.
    let other = ReportId::random();
    let gone = vec![
        release(&other, std::slice::from_ref(&a)),
        release(&other, &[]),
    ];
    assert_eq!(store.record(gone, now).unwrap(), 0);
}

#[test]
fn a_deleted_watchlist_raises_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::open(dir.path(), MIB, None).unwrap();
    store
        .create(list("w1", "ncu-de"), &[entry("a.example")])
        .unwrap();
    let report = ReportId::random();
    let a = matched("w1", "a.example", "a.example");
    let now = chrono::Utc::now();
    assert_eq!(
        store
            .record(vec![release(&report, std::slice::from_ref(&a))], now)
            .unwrap(),
        1
    );
    assert!(store.delete("w1").unwrap());
    assert_eq!(store.memory().watched.len(), 0);
    assert_eq!(store.record(vec![release(&report, &[])], now).unwrap(), 0);
    assert_eq!(store.record(vec![release(&report, &[a])], now).unwrap(), 0);
}

#[test]
fn watchlists_entries_and_numbering_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let report = ReportId::random();
    let now = chrono::Utc::now();
    {
        let store = AlertStore::open(dir.path(), MIB, None).unwrap();
        store
            .create(list("w1", "ncu-de"), &[entry("a.example")])
            .unwrap();
        store
            .add_entries("w1", &[entry("b.example"), entry("a.example")])
            .unwrap();
        store
            .record(
                vec![release(&report, &[matched("w1", "a.example", "a.example")])],
                now,
            )
            .unwrap();
    }
    let store = AlertStore::open(dir.path(), MIB, None).unwrap();
    assert_eq!(store.get("w1").unwrap().entries, 2);
    assert_eq!(store.memory().watched.len(), 2);
    let mut found = Vec::new();
    store
        .memory()
        .watched
        .matches(ObservableType::DomainName, "b.example", &mut |slot| {
            found.push(slot.entry.to_string());
            true
        });
    assert_eq!(found, ["b.example"]);
    store
        .record(
            vec![release(&report, &[matched("w1", "b.example", "b.example")])],
            now,
        )
        .unwrap();
    let seqs: Vec<u64> = store
        .page(&OrgId::parse("ncu-de").unwrap(), 0, 100)
        .unwrap()
        .iter()
        .map(|alert| alert.seq)
        .collect();
    // Numbering goes on after the reopen: a (1), then b gained (2) and a withdrawn (3).
    assert_eq!(seqs, [1, 2, 3]);
    // Resuming after 1 gives what followed it.
    assert_eq!(
        store
            .page(&OrgId::parse("ncu-de").unwrap(), 1, 100)
            .unwrap()
            .len(),
        2
    );
    let removed = store
        .remove_entries("w1", &["b.example".to_owned()])
        .unwrap()
        .unwrap();
    assert_eq!(removed.entries, 1);
}

#[test]
fn retention_deletes_the_oldest_alerts_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::open(dir.path(), MIB, None).unwrap();
    store
        .create(list("w1", "ncu-de"), &[entry("a.example")])
        .unwrap();
    let old = chrono::Utc::now() - chrono::Duration::days(40);
    let new = chrono::Utc::now();
    let one = ReportId::random();
    let two = ReportId::random();
    let a = matched("w1", "a.example", "a.example");
    store
        .record(vec![release(&one, std::slice::from_ref(&a))], old)
        .unwrap();
    store.record(vec![release(&two, &[a])], new).unwrap();
    assert_eq!(
        store.prune(new - chrono::Duration::days(30), 100).unwrap(),
        1
    );
    let left = store
        .page(&OrgId::parse("ncu-de").unwrap(), 0, 100)
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].report, two);
}
