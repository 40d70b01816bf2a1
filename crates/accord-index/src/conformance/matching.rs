//! Cases on what matches: exact indicators, CIDR containment, full text and the field filters.

use std::collections::BTreeSet;

use accord_domain::{ObservableType as T, ReportId, Tlp};

use super::{
    OTHER_AGENCY, at, exact, ids, key, lookup_one, org, put, query, release, report, sorted,
    sorted_ids, view, with_indicators,
};
use crate::{IndexClient, Query};

/// An exact lookup matches type and value both.
pub async fn exact_lookup_matches_type_and_value(index: IndexClient) {
    let report_id = report();
    let a = with_indicators(
        view(&report_id, "a"),
        &[
            (T::DomainName, "evil.example"),
            (T::Url, "http://evil.example/x"),
        ],
    );
    let b = with_indicators(view(&report_id, "b"), &[(T::DomainName, "other.example")]);
    put(&index, &report_id, 1, vec![a, b]).await;

    assert_eq!(
        lookup_one(&index, release(), exact(T::DomainName, "evil.example")).await,
        (1, sorted_ids(&["a"]))
    );
    assert_eq!(
        lookup_one(&index, release(), exact(T::Url, "http://evil.example/x"))
            .await
            .0,
        1
    );
    // Same value, other type; same type, other value; a prefix of a value.
    assert_eq!(
        lookup_one(&index, release(), exact(T::Url, "evil.example"))
            .await
            .0,
        0
    );
    assert_eq!(
        lookup_one(&index, release(), exact(T::DomainName, "nothing.example"))
            .await
            .0,
        0
    );
    assert_eq!(
        lookup_one(&index, release(), exact(T::DomainName, "evil"))
            .await
            .0,
        0
    );

    let search = Query {
        indicator: Some(exact(T::DomainName, "other.example")),
        ..query()
    };
    assert_eq!(ids(&index, search).await, (1, sorted_ids(&["b"])));
}

/// An IPv4 lookup matches the address itself and every stored block containing it, and no other block.
pub async fn ip_lookup_matches_containing_ipv4_blocks(index: IndexClient) {
    let report_id = report();
    let views = vec![
        with_indicators(view(&report_id, "wide"), &[(T::Ipv4Addr, "10.0.0.0/8")]),
        with_indicators(view(&report_id, "narrow"), &[(T::Ipv4Addr, "10.1.2.0/24")]),
        with_indicators(
            view(&report_id, "private"),
            &[(T::Ipv4Addr, "192.168.0.0/16")],
        ),
        with_indicators(view(&report_id, "host"), &[(T::Ipv4Addr, "10.1.2.3")]),
    ];
    put(&index, &report_id, 1, views).await;

    let (total, hits) = lookup_one(&index, release(), key(T::Ipv4Addr, "10.1.2.3")).await;
    assert_eq!(
        (total, sorted(hits)),
        (3, sorted_ids(&["wide", "narrow", "host"]))
    );
    let (total, hits) = lookup_one(&index, release(), key(T::Ipv4Addr, "10.200.0.1")).await;
    assert_eq!((total, hits), (1, sorted_ids(&["wide"])));
    let (total, hits) = lookup_one(&index, release(), key(T::Ipv4Addr, "192.168.7.7")).await;
    assert_eq!((total, hits), (1, sorted_ids(&["private"])));
    assert_eq!(
        lookup_one(&index, release(), key(T::Ipv4Addr, "11.0.0.1"))
            .await
            .0,
        0
    );
    // Without the address, only the exact value matches.
    let (total, hits) = lookup_one(&index, release(), exact(T::Ipv4Addr, "10.1.2.3")).await;
    assert_eq!((total, hits), (1, sorted_ids(&["host"])));

    let search = Query {
        indicator: Some(key(T::Ipv4Addr, "10.1.2.99")),
        ..query()
    };
    let (total, hits) = ids(&index, search).await;
    assert_eq!((total, sorted(hits)), (2, sorted_ids(&["wide", "narrow"])));
}

/// An IPv6 lookup matches the address itself and every stored block containing it, and no other block.
pub async fn ip_lookup_matches_containing_ipv6_blocks(index: IndexClient) {
    let report_id = report();
    let views = vec![
        with_indicators(view(&report_id, "block"), &[(T::Ipv6Addr, "2001:db8::/32")]),
        with_indicators(view(&report_id, "host"), &[(T::Ipv6Addr, "2001:db8::1")]),
        with_indicators(view(&report_id, "v4"), &[(T::Ipv4Addr, "0.0.0.0/0")]),
    ];
    put(&index, &report_id, 1, views).await;

    let (total, hits) = lookup_one(&index, release(), key(T::Ipv6Addr, "2001:db8::1")).await;
    assert_eq!((total, sorted(hits)), (2, sorted_ids(&["block", "host"])));
    let (total, hits) = lookup_one(&index, release(), key(T::Ipv6Addr, "2001:db8:ffff::2")).await;
    assert_eq!((total, hits), (1, sorted_ids(&["block"])));
    assert_eq!(
        lookup_one(&index, release(), key(T::Ipv6Addr, "2001:db9::1"))
            .await
            .0,
        0
    );
    // An IPv4 lookup matches the IPv4 catch-all block only.
    let (total, hits) = lookup_one(&index, release(), key(T::Ipv4Addr, "203.0.113.9")).await;
    assert_eq!((total, hits), (1, sorted_ids(&["v4"])));
}

/// Full text matches words of the title or the description, all words required, case-insensitively.
pub async fn text_searches_title_and_description(index: IndexClient) {
    let report_id = report();
    let mut a = view(&report_id, "a");
    a.content.title = Some("Ransomware attack on payment gateway".to_owned());
    a.content.description = Some("Attackers encrypted the ledger servers.".to_owned());
    let mut b = view(&report_id, "b");
    b.content.title = Some("Phishing wave".to_owned());
    let c = view(&report_id, "c");
    put(&index, &report_id, 1, vec![a, b, c]).await;

    let text = |text: &str| Query {
        text: Some(text.to_owned()),
        ..query()
    };
    assert_eq!(
        ids(&index, text("ransomware")).await,
        (1, sorted_ids(&["a"]))
    );
    assert_eq!(ids(&index, text("LEDGER")).await, (1, sorted_ids(&["a"])));
    assert_eq!(
        ids(&index, text("ransomware ledger")).await,
        (1, sorted_ids(&["a"]))
    );
    assert_eq!(ids(&index, text("ransomware phishing")).await.0, 0);
    assert_eq!(ids(&index, text("phishing")).await, (1, sorted_ids(&["b"])));
    assert_eq!(ids(&index, text("ransomware -ledger")).await.0, 0);
    assert_eq!(ids(&index, text("ransomware -phishing")).await.0, 1);
    assert_eq!(ids(&index, text("\"payment gateway\"")).await.0, 1);
    assert_eq!(ids(&index, text("\"gateway payment\"")).await.0, 0);
    // Words of other fields (partner, sector, categories) are not full text.
    assert_eq!(ids(&index, text("finance")).await.0, 0);
    assert_eq!(ids(&index, text("partner:bank-a")).await.0, 0);
    // Blank text is no constraint.
    assert_eq!(ids(&index, text("  ")).await.0, 3);
}

/// Query syntax typed by mistake is searched as words, never rejected, and cannot reach other fields.
pub async fn odd_free_text_is_not_an_error(index: IndexClient) {
    let report_id = report();
    let mut a = view(&report_id, "a");
    a.content.title = Some("Beacon to hxxp://evil.example:8080/gate".to_owned());
    put(&index, &report_id, 1, vec![a]).await;

    for odd in [
        "title:(",
        "[a TO",
        "\"unbalanced",
        "a AND",
        "OR",
        "((",
        "\\",
        "*",
        "?",
        "~2",
        "^3",
        "grant:ncu|investigation",
        "-",
        "+",
        "{}",
        "evil.example:8080",
        "ünïcödé 日本",
        "a:b:c",
        "` ' !",
    ] {
        let result = index
            .search(Query {
                text: Some(odd.to_owned()),
                ..query()
            })
            .await;
        assert!(result.is_ok(), "free text `{odd}` failed: {result:?}");
    }
    let found = |text: &str| Query {
        text: Some(text.to_owned()),
        ..query()
    };
    assert_eq!(ids(&index, found("evil.example:8080")).await.0, 1);
    assert_eq!(ids(&index, found("beacon gate")).await.0, 1);
}

/// The type filter matches views with an indicator of any listed type.
pub async fn type_filter_matches_any_listed_type(index: IndexClient) {
    let report_id = report();
    let views = vec![
        with_indicators(view(&report_id, "domain"), &[(T::DomainName, "a.example")]),
        with_indicators(view(&report_id, "ip"), &[(T::Ipv4Addr, "192.0.2.1")]),
        with_indicators(
            view(&report_id, "both"),
            &[(T::DomainName, "b.example"), (T::File, &"ab".repeat(32))],
        ),
        view(&report_id, "none"),
    ];
    put(&index, &report_id, 1, views).await;

    let types = |types: &[T]| {
        let mut search = query();
        search.filters.types = types.iter().copied().collect();
        search
    };
    let (total, hits) = ids(&index, types(&[T::DomainName])).await;
    assert_eq!((total, sorted(hits)), (2, sorted_ids(&["domain", "both"])));
    let (total, hits) = ids(&index, types(&[T::Ipv4Addr, T::File])).await;
    assert_eq!((total, sorted(hits)), (2, sorted_ids(&["ip", "both"])));
    assert_eq!(ids(&index, types(&[T::Vulnerability])).await.0, 0);
    assert_eq!(ids(&index, types(&[])).await.0, 4);
}

/// The TLP filter matches views with any listed label.
pub async fn tlp_filter_matches_any_listed_label(index: IndexClient) {
    let report_id = report();
    let mut views = Vec::new();
    for (name, tlp) in [
        ("clear", Tlp::Clear),
        ("green", Tlp::Green),
        ("strict", Tlp::AmberStrict),
    ] {
        let mut labelled = view(&report_id, name);
        labelled.content.tlp = tlp;
        views.push(labelled);
    }
    put(&index, &report_id, 1, views).await;

    let tlps = |labels: &[Tlp]| {
        let mut search = query();
        search.filters.tlp = labels.iter().copied().collect::<BTreeSet<_>>();
        search
    };
    let (total, hits) = ids(&index, tlps(&[Tlp::Clear, Tlp::AmberStrict])).await;
    assert_eq!((total, sorted(hits)), (2, sorted_ids(&["clear", "strict"])));
    assert_eq!(
        ids(&index, tlps(&[Tlp::Green])).await,
        (1, sorted_ids(&["green"]))
    );
    assert_eq!(ids(&index, tlps(&[Tlp::Amber, Tlp::Red])).await.0, 0);
}

/// The sector filter matches the released sector exactly.
pub async fn sector_filter_matches_exactly(index: IndexClient) {
    let report_id = report();
    let finance = view(&report_id, "finance");
    let mut energy = view(&report_id, "energy");
    energy.content.sector = Some("energy".to_owned());
    let mut unknown = view(&report_id, "unknown");
    unknown.content.sector = None;
    put(&index, &report_id, 1, vec![finance, energy, unknown]).await;

    let sector = |sector: &str| {
        let mut search = query();
        search.filters.sector = Some(sector.to_owned());
        search
    };
    assert_eq!(
        ids(&index, sector("energy")).await,
        (1, sorted_ids(&["energy"]))
    );
    assert_eq!(
        ids(&index, sector("finance")).await,
        (1, sorted_ids(&["finance"]))
    );
    assert_eq!(ids(&index, sector("fin")).await.0, 0);
}

/// The report filter keeps the views of one report, still under the release filter.
pub async fn report_filter_matches_only_that_report(index: IndexClient) {
    let first = report();
    let second = report();
    put(&index, &first, 1, vec![view(&first, "first")]).await;
    put(&index, &second, 1, vec![view(&second, "second")]).await;

    let of = |report_id: &ReportId| {
        let mut search = query();
        search.filters.report = Some(report_id.clone());
        search
    };
    assert_eq!(ids(&index, of(&first)).await, (1, sorted_ids(&["first"])));
    assert_eq!(ids(&index, of(&second)).await, (1, sorted_ids(&["second"])));
    assert_eq!(ids(&index, of(&report())).await.0, 0);
    let mut elsewhere = of(&first);
    elsewhere.release.agency = org(OTHER_AGENCY);
    assert_eq!(
        ids(&index, elsewhere).await.0,
        0,
        "the release filter still applies"
    );
}

/// The partner filter matches the displayed attribution: an anonymous view never matches its real partner.
pub async fn partner_filter_never_matches_anonymous_views(index: IndexClient) {
    let report_id = report();
    let named = view(&report_id, "named");
    let mut anonymous = view(&report_id, "anonymous");
    anonymous.content.partner = "anonymous".to_owned();
    let other_report = report();
    let mut other = view(&other_report, "other");
    other.content.partner = "bank-b".to_owned();
    put(&index, &report_id, 1, vec![named, anonymous]).await;
    put(&index, &other_report, 1, vec![other]).await;

    let partner = |partner: &str| {
        let mut search = query();
        search.filters.partner = Some(partner.to_owned());
        search
    };
    assert_eq!(
        ids(&index, partner(super::PARTNER)).await,
        (1, sorted_ids(&["named"]))
    );
    assert_eq!(
        ids(&index, partner("bank-b")).await,
        (1, sorted_ids(&["other"]))
    );
    assert_eq!(ids(&index, partner("bank-c")).await.0, 0);
}

/// `from` is inclusive and `to` exclusive on `occurred_at`.
pub async fn occurred_range_is_from_inclusive_to_exclusive(index: IndexClient) {
    let report_id = report();
    let mut views = Vec::new();
    for (name, occurred) in [
        ("jan", "2024-01-01T00:00:00Z"),
        ("feb", "2024-02-01T00:00:00Z"),
        ("mar", "2024-03-01T00:00:00Z"),
    ] {
        let mut dated = view(&report_id, name);
        dated.content.occurred_at = at(occurred);
        views.push(dated);
    }
    put(&index, &report_id, 1, views).await;

    let range = |from: Option<&str>, to: Option<&str>| {
        let mut search = query();
        search.filters.from = from.map(at);
        search.filters.to = to.map(at);
        search
    };
    let feb = "2024-02-01T00:00:00Z";
    let mar = "2024-03-01T00:00:00Z";
    assert_eq!(
        ids(&index, range(Some(feb), Some(mar))).await,
        (1, sorted_ids(&["feb"]))
    );
    assert_eq!(
        ids(&index, range(Some(feb), None)).await,
        (2, vec!["view--mar".to_owned(), "view--feb".to_owned()])
    );
    assert_eq!(
        ids(&index, range(None, Some(feb))).await,
        (1, sorted_ids(&["jan"]))
    );
    assert_eq!(
        ids(
            &index,
            range(Some("2024-02-01T00:00:00.000001Z"), Some(mar))
        )
        .await
        .0,
        0
    );
    assert_eq!(ids(&index, range(Some(mar), Some(feb))).await.0, 0);
}

/// The STIX id filter matches the views whose export holds one of the ids: a report's own objects match its views
/// only, a shared observable every view that carries it; the release filter still applies, and more ids than
/// [`crate::MAX_OBJECT_IDS`] are an invalid query.
pub async fn stix_id_filter_matches_views_carrying_the_objects(index: IndexClient) {
    let (first, second) = (report(), report());
    // Both views carry the same observable (same type and id): a shared object.
    let a = with_indicators(view(&first, "a"), &[(T::Ipv4Addr, "198.51.100.1")]);
    let b = with_indicators(view(&second, "b"), &[(T::Ipv4Addr, "198.51.100.1")]);
    let observable = a.content.indicators[0].id.clone();
    put(&index, &first, 1, vec![a]).await;
    put(&index, &second, 1, vec![b]).await;

    let of = |stix_ids: &[&str]| {
        let mut search = query();
        search.filters.stix_ids = stix_ids.iter().map(|id| (*id).to_owned()).collect();
        search
    };
    assert_eq!(
        ids(&index, of(&[first.as_str()])).await,
        (1, sorted_ids(&["a"]))
    );
    assert_eq!(
        ids(&index, of(&[first.as_str(), second.as_str()])).await,
        (2, sorted_ids(&["a", "b"]))
    );
    assert_eq!(
        ids(&index, of(&[&observable])).await.0,
        2,
        "a shared object"
    );
    assert_eq!(ids(&index, of(&["report--unknown"])).await.0, 0);
    let mut elsewhere = of(&[first.as_str()]);
    elsewhere.release.agency = org(OTHER_AGENCY);
    assert_eq!(
        ids(&index, elsewhere).await.0,
        0,
        "the release filter still applies"
    );

    let many: Vec<String> = (0..=crate::MAX_OBJECT_IDS)
        .map(|n| format!("indicator--{n}"))
        .collect();
    let mut too_many = query();
    too_many.filters.stix_ids = many.into_iter().collect();
    assert!(matches!(
        index.search(too_many).await,
        Err(crate::IndexError::InvalidQuery(_))
    ));
}
