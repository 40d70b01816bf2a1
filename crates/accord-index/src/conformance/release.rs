//! Cases on the release filter, paging and batch lookups.

use accord_domain::{Alternate, Grant, ObservableType as T, Purpose};

use super::{
    AGENCY, MOU, OTHER_AGENCY, at, exact, ids, lookup_one, mou_id, org, put, query, release,
    report, sorted_ids, view, with_indicators,
};
use crate::{IndexClient, IndicatorMatch, Query, ReleaseFilter, Views};

/// Only views granted to the caller's agency for the stated purpose, within their validity window, match.
pub async fn release_filter_hides_other_grants_and_windows(index: IndexClient) {
    let report_id = report();
    let mut shared = with_indicators(view(&report_id, "shared"), &[(T::DomainName, "c2.example")]);
    shared.grants.push(Grant {
        agency: org(AGENCY),
        purpose: Purpose::Prevention,
    });
    put(&index, &report_id, 1, vec![shared]).await;

    let under = |agency: &str, purpose: Purpose, when: &str| ReleaseFilter {
        agency: org(agency),
        purpose,
        at: at(when),
        mous: vec![(mou_id(MOU), 1)],
        ..release()
    };
    let matcher = || exact(T::DomainName, "c2.example");
    let total = |release: ReleaseFilter| {
        let index = index.clone();
        async move {
            let searched = ids(
                &index,
                Query {
                    release: release.clone(),
                    ..query()
                },
            )
            .await
            .0;
            let looked_up = lookup_one(&index, release, matcher()).await.0;
            assert_eq!(searched, looked_up, "search and lookup agree");
            searched
        }
    };
    let inside = "2025-01-01T00:00:00Z";
    assert_eq!(
        total(under(AGENCY, Purpose::Investigation, inside)).await,
        1
    );
    assert_eq!(total(under(AGENCY, Purpose::Prevention, inside)).await, 1);
    assert_eq!(
        total(under(OTHER_AGENCY, Purpose::Investigation, inside)).await,
        0,
        "other agency"
    );
    assert_eq!(
        total(under(AGENCY, Purpose::Research, inside)).await,
        0,
        "other purpose"
    );
    assert_eq!(
        total(under(
            AGENCY,
            Purpose::Investigation,
            "2023-12-31T23:59:59Z"
        ))
        .await,
        0,
        "before valid_from"
    );
    assert_eq!(
        total(under(
            AGENCY,
            Purpose::Investigation,
            "2024-01-01T00:00:00Z"
        ))
        .await,
        1,
        "at valid_from"
    );
    assert_eq!(
        total(under(
            AGENCY,
            Purpose::Investigation,
            "2025-12-31T23:59:59.999Z"
        ))
        .await,
        1,
        "before valid_until"
    );
    assert_eq!(
        total(under(
            AGENCY,
            Purpose::Investigation,
            "2026-01-01T00:00:00Z"
        ))
        .await,
        0,
        "at valid_until"
    );
}

/// Views outside the release filter do not count: totals, pages and per-key totals cover released views only.
pub async fn release_filter_bounds_totals(index: IndexClient) {
    let report_id = report();
    let mut views = Vec::new();
    for n in 0..3 {
        views.push(with_indicators(
            view(&report_id, &format!("mine-{n}")),
            &[(T::DomainName, "c2.example")],
        ));
    }
    for n in 0..5 {
        let mut theirs = with_indicators(
            view(&report_id, &format!("theirs-{n}")),
            &[(T::DomainName, "c2.example")],
        );
        theirs.grants = vec![Grant {
            agency: org(OTHER_AGENCY),
            purpose: Purpose::Investigation,
        }];
        views.push(theirs);
    }
    let mut expired = with_indicators(
        view(&report_id, "expired"),
        &[(T::DomainName, "c2.example")],
    );
    expired.valid_until = at("2024-12-31T00:00:00Z");
    views.push(expired);
    put(&index, &report_id, 1, views).await;

    let search = Query {
        indicator: Some(exact(T::DomainName, "c2.example")),
        size: 2,
        ..query()
    };
    let (total, hits) = ids(&index, search.clone()).await;
    assert_eq!((total, hits.len()), (3, 2));
    let (total, hits) = ids(
        &index,
        Query {
            offset: 2,
            ..search
        },
    )
    .await;
    assert_eq!((total, hits.len()), (3, 1));
    assert!(hits.iter().all(|id| id.starts_with("view--mine-")));
    let (total, hits) = lookup_one(&index, release(), exact(T::DomainName, "c2.example")).await;
    assert_eq!(
        (total, hits),
        (3, sorted_ids(&["mine-0", "mine-1", "mine-2"]))
    );
    assert_eq!(ids(&index, query()).await.0, 3);
}

/// Pages follow newest `occurred_at` first, ties by ascending view id; they are stable across calls and the total
/// does not depend on the page.
pub async fn paging_is_stable_and_totals_ignore_the_page(index: IndexClient) {
    let report_id = report();
    let other_report = report();
    let mut expected = Vec::new();
    let mut first = Vec::new();
    let mut second = Vec::new();
    for n in 0..25_u32 {
        // Days repeat so that ties exist; names are written out of order across two reports.
        let name = format!("p{:02}", (n * 7) % 25);
        let day = 1 + (n % 5);
        let mut dated = view(
            if n % 2 == 0 {
                &report_id
            } else {
                &other_report
            },
            &name,
        );
        dated.content.occurred_at = at(&format!("2024-05-{day:02}T12:00:00Z"));
        expected.push((std::cmp::Reverse(day), format!("view--{name}")));
        if n % 2 == 0 {
            first.push(dated)
        } else {
            second.push(dated)
        }
    }
    put(&index, &report_id, 1, first).await;
    put(&index, &other_report, 1, second).await;
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    let page = |offset: usize, size: usize| Query {
        offset,
        size,
        ..query()
    };
    let (total, all) = ids(&index, page(0, 100)).await;
    assert_eq!((total, &all), (25, &expected));
    let mut paged = Vec::new();
    for offset in (0..25).step_by(10) {
        let (total, hits) = ids(&index, page(offset, 10)).await;
        assert_eq!(total, 25, "total at offset {offset}");
        assert_eq!(
            ids(&index, page(offset, 10)).await.1,
            hits,
            "same page twice at offset {offset}"
        );
        paged.extend(hits);
    }
    assert_eq!(paged, expected);
    assert_eq!(ids(&index, page(7, 3)).await.1, expected[7..10].to_vec());
    assert_eq!(ids(&index, page(25, 10)).await, (25, Vec::new()));
    assert_eq!(ids(&index, page(usize::MAX, 10)).await, (25, Vec::new()));
    assert_eq!(ids(&index, page(0, 0)).await, (25, Vec::new()));
}

/// A batch lookup answers one page per key in input order, with per-key totals, at most `per_key` hits newest
/// first, and a zero total for unknown keys.
pub async fn lookup_answers_each_key_in_input_order(index: IndexClient) {
    let report_id = report();
    let mut views = Vec::new();
    // Domain d<k> appears in k views (k = 0..20), each view on another day.
    for k in 0..20_u32 {
        for copy in 0..k {
            let mut holder = with_indicators(
                view(&report_id, &format!("d{k}-{copy}")),
                &[(T::DomainName, &format!("d{k}.example"))],
            );
            holder.content.occurred_at = at(&format!("2024-03-{:02}T00:00:00Z", copy + 1));
            views.push(holder);
        }
    }
    put(&index, &report_id, 1, views).await;

    let mut keys: Vec<IndicatorMatch> = Vec::new();
    let mut expected_totals = Vec::new();
    for n in 0..600_u32 {
        // Known keys in a scrambled order, interleaved with unknown ones and repeats.
        let k = (n * 13) % 23;
        keys.push(exact(T::DomainName, &format!("d{k}.example")));
        expected_totals.push(u64::from(if k < 20 { k } else { 0 }));
    }
    let per_key = 3;
    let pages = index
        .lookup(release(), keys.clone(), per_key)
        .await
        .unwrap_or_else(|error| panic!("lookup failed: {error}"));
    assert_eq!(pages.len(), keys.len());
    for ((matcher, page), expected) in keys.iter().zip(&pages).zip(&expected_totals) {
        assert_eq!(page.total, *expected, "total of {}", matcher.key.value);
        let shown = usize::try_from(*expected)
            .unwrap_or(usize::MAX)
            .min(per_key);
        assert_eq!(page.hits.len(), shown, "hits of {}", matcher.key.value);
        assert!(
            page.hits
                .windows(2)
                .all(|pair| pair[0].content.occurred_at >= pair[1].content.occurred_at),
            "newest first"
        );
        let value = &matcher.key.value;
        assert!(page.hits.iter().all(|hit| {
            hit.content
                .indicators
                .iter()
                .any(|indicator| &indicator.value == value)
        }));
    }
    let none = index
        .lookup(release(), keys, 0)
        .await
        .unwrap_or_else(|error| panic!("lookup failed: {error}"));
    assert!(
        none.iter()
            .zip(&expected_totals)
            .all(|(page, total)| page.hits.is_empty() && page.total == *total)
    );
}

/// Only views rendered under one of the MoUs in force match: a suspended or revoked MoU drops out of totals at once.
pub async fn release_filter_keeps_only_views_of_mous_in_force(index: IndexClient) {
    let first = report();
    let second = report();
    let mut other = with_indicators(view(&second, "other-mou"), &[(T::DomainName, "c2.example")]);
    other.mous = vec![(mou_id("mou-other"), 3)];
    put(
        &index,
        &first,
        1,
        vec![with_indicators(
            view(&first, "default-mou"),
            &[(T::DomainName, "c2.example")],
        )],
    )
    .await;
    put(&index, &second, 1, vec![other]).await;

    let with = |mous: Vec<&str>| ReleaseFilter {
        mous: mous.into_iter().map(|mou| (mou_id(mou), 1)).collect(),
        ..release()
    };
    let count = |release: ReleaseFilter| {
        let index = index.clone();
        async move {
            let searched = ids(
                &index,
                Query {
                    release: release.clone(),
                    ..query()
                },
            )
            .await
            .0;
            let looked_up = lookup_one(&index, release, exact(T::DomainName, "c2.example"))
                .await
                .0;
            assert_eq!(searched, looked_up, "search and lookup agree");
            searched
        }
    };
    assert_eq!(count(with(vec![MOU, "mou-other"])).await, 2);
    assert_eq!(count(with(vec![MOU])).await, 1);
    assert_eq!(count(with(vec!["mou-other"])).await, 1);
    assert_eq!(count(with(vec!["mou-unrelated"])).await, 0);
    assert_eq!(
        count(with(vec![])).await,
        0,
        "no MoU in force matches nothing"
    );
}

/// A report's alternate views for a grant match only filters that ask for them; the shown view matches every filter
/// but [`Views::AlternatesOnly`]. Searches and lookups agree.
pub async fn alternates_match_only_when_asked_for(index: IndexClient) {
    let report_id = report();
    let shown = with_indicators(view(&report_id, "shown"), &[(T::DomainName, "c2.example")]);
    let mut alternate = with_indicators(
        view(&report_id, "alternate"),
        &[(T::DomainName, "c2.example"), (T::Ipv4Addr, "192.0.2.7")],
    );
    alternate.grants = vec![Grant {
        agency: org(OTHER_AGENCY),
        purpose: Purpose::Investigation,
    }];
    alternate.alternates = vec![Alternate {
        agency: org(AGENCY),
        purpose: Purpose::Investigation,
        rank: 1,
    }];
    put(&index, &report_id, 1, vec![shown, alternate]).await;

    let selecting = |views: Views| ReleaseFilter { views, ..release() };
    let found = |release: ReleaseFilter, value: &'static str, kind: T| {
        let index = index.clone();
        async move {
            let searched = ids(
                &index,
                Query {
                    release: release.clone(),
                    indicator: Some(exact(kind, value)),
                    ..query()
                },
            )
            .await;
            let looked_up = lookup_one(&index, release, exact(kind, value)).await;
            assert_eq!(searched.0, looked_up.0, "search and lookup agree");
            searched
        }
    };
    assert_eq!(
        found(selecting(Views::Shown), "c2.example", T::DomainName).await,
        (1, sorted_ids(&["shown"]))
    );
    assert_eq!(
        found(selecting(Views::Shown), "192.0.2.7", T::Ipv4Addr)
            .await
            .0,
        0
    );
    assert_eq!(
        found(
            selecting(Views::WithAlternates),
            "c2.example",
            T::DomainName
        )
        .await,
        (2, sorted_ids(&["alternate", "shown"]))
    );
    assert_eq!(
        found(selecting(Views::WithAlternates), "192.0.2.7", T::Ipv4Addr).await,
        (1, sorted_ids(&["alternate"]))
    );
    assert_eq!(
        found(
            selecting(Views::AlternatesOnly),
            "c2.example",
            T::DomainName
        )
        .await,
        (1, sorted_ids(&["alternate"]))
    );
    // For the other agency the alternate is its shown view.
    let theirs = ReleaseFilter {
        agency: org(OTHER_AGENCY),
        ..release()
    };
    assert_eq!(
        ids(
            &index,
            Query {
                release: theirs,
                ..query()
            }
        )
        .await
        .0,
        1
    );
}

/// A view is stale for a filter when it carries none of the filter's current MoU versions: it was rendered under an
/// older (or newer) version of an MoU in force.
pub async fn stale_views_are_those_of_no_current_version(index: IndexClient) {
    let report_id = report();
    let mut old = view(&report_id, "old");
    old.mous = vec![(mou_id(MOU), 1)];
    let mut both = view(&report_id, "both");
    both.mous = vec![(mou_id(MOU), 1), (mou_id("mou-second"), 2)];
    put(&index, &report_id, 1, vec![old, both]).await;

    let at_versions = |versions: &[(&str, u32)], stale_only: bool| ReleaseFilter {
        mous: versions
            .iter()
            .map(|(mou, version)| (mou_id(mou), *version))
            .collect(),
        stale_only,
        ..release()
    };
    let count = |release: ReleaseFilter| {
        let index = index.clone();
        async move { ids(&index, Query { release, ..query() }).await }
    };
    assert_eq!(count(at_versions(&[(MOU, 1)], true)).await.0, 0, "current");
    assert_eq!(
        count(at_versions(&[(MOU, 2)], true)).await,
        (2, sorted_ids(&["both", "old"])),
        "{MOU} changed since"
    );
    assert_eq!(
        count(at_versions(&[(MOU, 2), ("mou-second", 2)], true)).await,
        (1, sorted_ids(&["old"])),
        "the second MoU still justifies `both` at its version"
    );
    assert_eq!(count(at_versions(&[(MOU, 2)], false)).await.0, 2);
    let looked_up = lookup_one(&index, at_versions(&[(MOU, 2)], true), exact(T::File, "x")).await;
    assert_eq!(looked_up.0, 0);
}
