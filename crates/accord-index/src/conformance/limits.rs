//! Cases at the edges where backends differ most: IP families, tokenization, query size, deep pages, wide lookups.

use accord_domain::ObservableType as T;

use super::{ids, key, lookup_one, put, query, release, report, sorted_ids, view, with_indicators};
use crate::{IndexClient, IndexError, MAX_TEXT_WORDS, Query};

/// An IPv4-mapped IPv6 block is the IPv4 block it maps: it is written (never refused), and IPv4 lookups and mapped
/// lookups find it. IPv4 and IPv6 blocks otherwise never mix: a stored `::/0` holds no IPv4 address.
pub async fn mapped_ipv4_blocks_are_ipv4_blocks(index: IndexClient) {
    let report_id = report();
    let views = vec![
        with_indicators(
            view(&report_id, "mapped"),
            &[(T::Ipv6Addr, "::ffff:10.0.0.0/104")],
        ),
        with_indicators(
            view(&report_id, "mapped-all"),
            &[(T::Ipv6Addr, "::ffff:0:0/96")],
        ),
        with_indicators(view(&report_id, "all-v6"), &[(T::Ipv6Addr, "::/0")]),
        with_indicators(view(&report_id, "all-v4"), &[(T::Ipv4Addr, "0.0.0.0/0")]),
    ];
    put(&index, &report_id, 1, views).await;

    let (total, hits) = lookup_one(&index, release(), key(T::Ipv4Addr, "10.1.2.3")).await;
    assert_eq!(
        (total, super::sorted(hits)),
        (3, sorted_ids(&["mapped", "mapped-all", "all-v4"]))
    );
    let (total, hits) = lookup_one(&index, release(), key(T::Ipv6Addr, "::ffff:10.1.2.3")).await;
    assert_eq!(
        (total, super::sorted(hits)),
        (3, sorted_ids(&["mapped", "mapped-all", "all-v4"]))
    );
    let (total, hits) = lookup_one(&index, release(), key(T::Ipv4Addr, "192.168.0.1")).await;
    assert_eq!(
        (total, super::sorted(hits)),
        (2, sorted_ids(&["mapped-all", "all-v4"]))
    );
    let (total, hits) = lookup_one(&index, release(), key(T::Ipv6Addr, "2001:db8::1")).await;
    assert_eq!((total, hits), (1, sorted_ids(&["all-v6"])));
}

/// Free text finds a part of a dotted value (a domain, an address) as well as the whole of it.
pub async fn text_finds_parts_of_dotted_values(index: IndexClient) {
    let report_id = report();
    let mut dotted = view(&report_id, "dotted");
    dotted.content.title = Some("Beacon to evil.example".to_owned());
    dotted.content.description = Some("Callbacks from 10.1.2.3 every minute.".to_owned());
    put(&index, &report_id, 1, vec![dotted]).await;

    for text in [
        "example",
        "evil.example",
        "evil",
        "10.1.2.3",
        "2",
        "beacon example",
    ] {
        let search = Query {
            text: Some(text.to_owned()),
            ..query()
        };
        assert_eq!(
            ids(&index, search).await,
            (1, sorted_ids(&["dotted"])),
            "text `{text}`"
        );
    }
    let search = Query {
        text: Some("example.org".to_owned()),
        ..query()
    };
    assert_eq!(ids(&index, search).await.0, 0);
}

/// A free text of more than [`MAX_TEXT_WORDS`] words is an invalid query on every backend (never a 500, never
/// retried); one of exactly that many words runs.
pub async fn long_free_text_is_an_invalid_query(index: IndexClient) {
    let report_id = report();
    let mut titled = view(&report_id, "titled");
    titled.content.title = Some("word0 word1".to_owned());
    put(&index, &report_id, 1, vec![titled]).await;

    let words = |count: usize| {
        (0..count)
            .map(|n| format!("word{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let search = |text: String| Query {
        text: Some(text),
        ..query()
    };
    assert_eq!(ids(&index, search(words(MAX_TEXT_WORDS))).await.0, 0);
    assert_eq!(ids(&index, search(words(2))).await.0, 1);
    for text in [
        words(MAX_TEXT_WORDS + 1),
        words(2_000),
        "a.".repeat(MAX_TEXT_WORDS + 1),
    ] {
        let refused = index.search(search(text)).await;
        assert!(
            matches!(refused, Err(IndexError::InvalidQuery(_))),
            "{refused:?}"
        );
    }
}

/// Every hit is reachable, however deep: pages of any size at any offset match the whole list in order (a backend
/// with a result window pages past it), and the total is exact.
pub async fn paging_reaches_every_hit_past_the_result_window(index: IndexClient) {
    let report_id = report();
    let mut views = Vec::new();
    for n in 0..60_u32 {
        let mut dated = view(&report_id, &format!("d{n:02}"));
        // Ties on the day, so that the order within a day is by view id.
        dated.content.occurred_at = super::at(&format!("2024-05-{:02}T00:00:00Z", 1 + n % 9));
        views.push(dated);
    }
    put(&index, &report_id, 1, views).await;
    let page = |offset: usize, size: usize| Query {
        offset,
        size,
        ..query()
    };
    let (total, all) = ids(&index, page(0, 100)).await;
    assert_eq!((total, all.len()), (60, 60));
    for size in [1, 7, 25] {
        let mut paged = Vec::new();
        let mut offset = 0;
        while offset < 60 {
            let (total, hits) = ids(&index, page(offset, size)).await;
            assert_eq!(total, 60, "total at offset {offset}");
            assert_eq!(hits.len(), size.min(60 - offset), "page at offset {offset}");
            offset += hits.len();
            paged.extend(hits);
        }
        assert_eq!(paged, all, "pages of {size}");
    }
    assert_eq!(ids(&index, page(59, 10)).await, (60, all[59..].to_vec()));
    assert_eq!(ids(&index, page(60, 10)).await, (60, Vec::new()));
    assert_eq!(ids(&index, page(45, 0)).await, (60, Vec::new()));
}

/// A batch of keys that all find the same views answers each key in full (totals, `per_key` hits newest first),
/// however many keys share a view and however large `per_key` is.
pub async fn wide_lookups_answer_every_key_in_full(index: IndexClient) {
    let report_id = report();
    let domains: Vec<String> = (0..30).map(|n| format!("shared{n}.example")).collect();
    let indicators: Vec<(T, &str)> = domains
        .iter()
        .map(|domain| (T::DomainName, domain.as_str()))
        .collect();
    let mut views = Vec::new();
    for n in 0..15_u32 {
        let mut shared = with_indicators(view(&report_id, &format!("s{n:02}")), &indicators);
        shared.content.occurred_at = super::at(&format!("2024-04-{:02}T00:00:00Z", 1 + n));
        views.push(shared);
    }
    put(&index, &report_id, 1, views).await;
    let newest_first: Vec<String> = (0..15).rev().map(|n| format!("view--s{n:02}")).collect();
    let keys: Vec<_> = domains
        .iter()
        .map(|domain| key(T::DomainName, domain))
        .collect();
    for per_key in [3, 12, 15, 40] {
        let pages = index
            .lookup(release(), keys.clone(), per_key)
            .await
            .unwrap_or_else(|error| panic!("lookup failed: {error}"));
        assert_eq!(pages.len(), keys.len());
        for page in pages {
            let hits: Vec<String> = page.hits.into_iter().map(|view| view.id).collect();
            assert_eq!(page.total, 15);
            assert_eq!(
                hits,
                newest_first[..per_key.min(15)].to_vec(),
                "per_key {per_key}"
            );
        }
    }
}
