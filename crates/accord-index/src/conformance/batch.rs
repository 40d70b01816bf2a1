//! Batch lookups answer, per key, what a search for that one indicator answers.

use accord_domain::{Alternate, Grant, ObservableType as T, Purpose};

use super::{
    MOU, OTHER_AGENCY, at, exact, key, mou_id, org, put, query, release, report, view,
    with_indicators,
};
use crate::{IndexClient, IndicatorMatch, Query, ReleaseFilter, Views};

/// Writes the views of [`batch_lookup_answers_as_searches_do`], one report per write (several segments where the
/// backend has them), one of them replaced (deleted documents).
async fn ingest(index: &IndexClient) {
    let day = |n: u32| at(&format!("2024-05-{n:02}T00:00:00Z"));
    let shared = (T::DomainName, "shared.example");
    let mut plain = Vec::new();
    for n in 0..6_u32 {
        // Two views per day, in different reports (and segments): ties are broken by view id.
        let mut held = with_indicators(view(&report(), &format!("p{n}")), &[shared]);
        held.content.occurred_at = day(n / 2 + 1);
        plain.push(held);
    }
    let mut block = with_indicators(
        view(&report(), "block"),
        &[
            (T::Ipv4Addr, "10.1.2.0/24"),
            (T::Ipv4Addr, "10.1.2.3"),
            shared,
        ],
    );
    block.content.occurred_at = day(9);
    let mut alternate = with_indicators(view(&report(), "alternate"), &[shared]);
    alternate.grants = vec![Grant {
        agency: org(OTHER_AGENCY),
        purpose: Purpose::Investigation,
    }];
    alternate.alternates = vec![Alternate {
        agency: org(super::AGENCY),
        purpose: Purpose::Investigation,
        rank: 1,
    }];
    let mut expired = with_indicators(view(&report(), "expired"), &[shared]);
    expired.valid_until = at("2024-12-01T00:00:00Z");
    let mut newer = with_indicators(
        view(&report(), "newer"),
        &[shared, (T::Ipv4Addr, "10.1.2.3")],
    );
    newer.mous = vec![(mou_id(MOU), 2)];
    for held in plain.into_iter().chain([block, alternate, expired, newer]) {
        put(index, &held.report_id.clone(), 1, vec![held]).await;
    }
    let replaced = report();
    let old = with_indicators(view(&replaced, "replaced-old"), &[shared]);
    put(index, &replaced, 1, vec![old]).await;
    let new = with_indicators(
        view(&replaced, "replaced-new"),
        &[(T::Ipv4Addr, "10.9.9.9")],
    );
    put(index, &replaced, 2, vec![new]).await;
}

/// A batch lookup answers, per key and in input order, the total and first `per_key` hits that a search for that
/// key answers, under every kind of release filter: shown views, alternates, stale views only, another time. An
/// address and a block containing it in the same view count once; repeated and unknown keys are answered too.
pub async fn batch_lookup_answers_as_searches_do(index: IndexClient) {
    ingest(&index).await;
    let keys: Vec<IndicatorMatch> = vec![
        exact(T::DomainName, "shared.example"),
        key(T::Ipv4Addr, "10.1.2.3"),
        exact(T::Ipv4Addr, "10.1.2.3"),
        key(T::Ipv4Addr, "10.1.2.0/24"),
        exact(T::DomainName, "unknown.example"),
        key(T::Ipv4Addr, "10.9.9.9"),
        exact(T::DomainName, "shared.example"),
    ];
    let releases = [
        release(),
        ReleaseFilter {
            views: Views::WithAlternates,
            ..release()
        },
        ReleaseFilter {
            views: Views::AlternatesOnly,
            ..release()
        },
        ReleaseFilter {
            mous: vec![(mou_id(MOU), 2)],
            stale_only: true,
            ..release()
        },
        ReleaseFilter {
            at: at("2024-11-01T00:00:00Z"),
            ..release()
        },
    ];
    let mut matched = 0;
    for release in releases {
        for per_key in [0, 1, 3, 100] {
            let pages = index
                .lookup(release.clone(), keys.clone(), per_key)
                .await
                .unwrap_or_else(|error| panic!("lookup failed: {error}"));
            assert_eq!(pages.len(), keys.len(), "one page per key");
            for (matcher, page) in keys.iter().zip(pages) {
                let search = Query {
                    release: release.clone(),
                    indicator: Some(matcher.clone()),
                    size: per_key,
                    ..query()
                };
                let searched = index
                    .search(search)
                    .await
                    .unwrap_or_else(|error| panic!("search failed: {error}"));
                let ids = |hits: Vec<accord_domain::View>| -> Vec<String> {
                    hits.into_iter().map(|hit| hit.id).collect()
                };
                let context = format!("{:?} per_key {per_key} {release:?}", matcher.key);
                assert_eq!(page.total, searched.total, "total of {context}");
                assert_eq!(ids(page.hits), ids(searched.hits), "hits of {context}");
                matched += searched.total;
            }
        }
    }
    // The cases above find something (shown 9 + 2 + ... ): the comparison is not between two empty answers.
    assert!(matched > 100, "the batch found views ({matched})");
}

/// Counts per `occurred_at` range answer, per range, the total of the same search narrowed to that range: with and
/// without an indicator, under every kind of release filter, with the query's own time filters, ranges that overlap
/// or hold nothing.
pub async fn range_counts_answer_as_searches_do(index: IndexClient) {
    ingest(&index).await;
    let day = |n: u32| at(&format!("2024-05-{n:02}T00:00:00Z"));
    let mut ranges: Vec<_> = (1..10).map(|n| (day(n), day(n + 1))).collect();
    ranges.push((day(1), day(4)));
    ranges.push((day(20), day(21)));
    ranges.push((at("2000-01-01T00:00:00Z"), at("2030-01-01T00:00:00Z")));
    let releases = [
        release(),
        ReleaseFilter {
            views: Views::WithAlternates,
            ..release()
        },
        ReleaseFilter {
            mous: vec![(mou_id(MOU), 2)],
            stale_only: true,
            ..release()
        },
        ReleaseFilter {
            at: at("2024-11-01T00:00:00Z"),
            ..release()
        },
    ];
    let mut counted = 0;
    for release in releases {
        for indicator in [None, Some(exact(T::DomainName, "shared.example"))] {
            for from in [None, Some(day(2))] {
                let mut search = Query {
                    release: release.clone(),
                    indicator: indicator.clone(),
                    size: 5,
                    ..query()
                };
                search.filters.from = from;
                let counts = index
                    .count_ranges(search.clone(), ranges.clone())
                    .await
                    .unwrap_or_else(|error| panic!("count failed: {error}"));
                assert_eq!(counts.len(), ranges.len(), "one count per range");
                for ((start, end), count) in ranges.iter().zip(counts) {
                    let mut narrowed = search.clone();
                    narrowed.size = 0;
                    narrowed.filters.from = Some(from.map_or(*start, |from| from.max(*start)));
                    narrowed.filters.to = Some(*end);
                    let total = index
                        .search(narrowed)
                        .await
                        .unwrap_or_else(|error| panic!("search failed: {error}"))
                        .total;
                    let context = format!("{start}..{end} from {from:?} {indicator:?} {release:?}");
                    assert_eq!(count, total, "count of {context}");
                    counted += count;
                }
            }
        }
    }
    assert!(counted > 20, "the ranges found views ({counted})");
}
