//! Cases on writes: replacement, versions, per-item outcomes and durability across a restart.

use std::future::Future;

use accord_domain::ObservableType as T;

use super::{
    exact, ids, lookup_one, put, query, release, report, sorted, sorted_ids, view, with_indicators,
    write,
};
use crate::{IndexClient, ReplaceViews, WriteOutcome};

fn replace(
    report_id: &accord_domain::ReportId,
    version: u64,
    views: Vec<accord_domain::View>,
) -> ReplaceViews {
    ReplaceViews {
        report_id: report_id.clone(),
        version,
        views,
    }
}

/// A replacement removes every earlier view of the report, an empty one removes the report, others stay.
pub async fn replacement_removes_earlier_views(index: IndexClient) {
    let report_id = report();
    let bystander = report();
    let old =
        |name: &str| with_indicators(view(&report_id, name), &[(T::DomainName, "old.example")]);
    put(&index, &report_id, 1, vec![old("old-1"), old("old-2")]).await;
    put(
        &index,
        &bystander,
        1,
        vec![with_indicators(
            view(&bystander, "bystander"),
            &[(T::DomainName, "old.example")],
        )],
    )
    .await;
    assert_eq!(ids(&index, query()).await.0, 3);

    let new = with_indicators(view(&report_id, "new"), &[(T::DomainName, "new.example")]);
    put(&index, &report_id, 2, vec![new]).await;
    let (total, hits) = ids(&index, query()).await;
    assert_eq!(
        (total, sorted(hits)),
        (2, sorted_ids(&["new", "bystander"]))
    );
    assert_eq!(
        lookup_one(&index, release(), exact(T::DomainName, "old.example")).await,
        (1, sorted_ids(&["bystander"]))
    );
    assert_eq!(
        lookup_one(&index, release(), exact(T::DomainName, "new.example"))
            .await
            .0,
        1
    );

    put(&index, &report_id, 3, Vec::new()).await;
    assert_eq!(ids(&index, query()).await, (1, sorted_ids(&["bystander"])));
    assert_eq!(
        lookup_one(&index, release(), exact(T::DomainName, "new.example"))
            .await
            .0,
        0
    );
}

/// A write at an older or the same version is `Stale` and changes nothing, also after a removal.
pub async fn older_and_replayed_versions_are_stale(index: IndexClient) {
    let report_id = report();
    put(&index, &report_id, 5, vec![view(&report_id, "v5")]).await;

    let stale = write(
        &index,
        vec![replace(&report_id, 3, vec![view(&report_id, "v3")])],
    )
    .await;
    assert_eq!(stale, vec![WriteOutcome::Stale], "older version");
    let replay = write(
        &index,
        vec![replace(&report_id, 5, vec![view(&report_id, "v5-replay")])],
    )
    .await;
    assert_eq!(replay, vec![WriteOutcome::Stale], "same version");
    assert_eq!(ids(&index, query()).await, (1, sorted_ids(&["v5"])));

    put(&index, &report_id, 6, Vec::new()).await;
    let after_removal = write(
        &index,
        vec![replace(&report_id, 5, vec![view(&report_id, "v5")])],
    )
    .await;
    assert_eq!(
        after_removal,
        vec![WriteOutcome::Stale],
        "older than the removal"
    );
    assert_eq!(ids(&index, query()).await.0, 0);

    put(&index, &report_id, 7, vec![view(&report_id, "v7")]).await;
    assert_eq!(ids(&index, query()).await, (1, sorted_ids(&["v7"])));
}

/// A batch answers one outcome per item in order; items of the same report within a batch apply in order.
pub async fn batch_outcomes_follow_item_order(index: IndexClient) {
    let a = report();
    let b = report();
    let c = report();
    put(&index, &c, 10, vec![view(&c, "c10")]).await;

    let batch = vec![
        replace(&a, 1, vec![view(&a, "a1")]),
        replace(&c, 9, vec![view(&c, "c9")]),
        replace(&b, 1, vec![view(&b, "b1"), view(&b, "b1-bis")]),
        replace(&a, 2, vec![view(&a, "a2")]),
        replace(&a, 2, vec![view(&a, "a2-replay")]),
        replace(&b, 1, Vec::new()),
    ];
    let outcomes = write(&index, batch).await;
    use WriteOutcome::{Stale, Written};
    assert_eq!(
        outcomes,
        vec![Written, Stale, Written, Written, Stale, Stale]
    );
    let (total, hits) = ids(&index, query()).await;
    assert_eq!(
        (total, sorted(hits)),
        (4, sorted_ids(&["a2", "b1", "b1-bis", "c10"]))
    );

    let empty = index
        .write(Vec::new())
        .await
        .unwrap_or_else(|error| panic!("empty write failed: {error}"));
    assert!(empty.is_empty());
}

/// Views and versions survive closing and reopening the index: `reopen` receives the first handle (to drop or
/// close it) and returns a handle to the same index.
pub async fn restart_keeps_views_and_versions<F, Fut>(index: IndexClient, reopen: F)
where
    F: FnOnce(IndexClient) -> Fut,
    Fut: Future<Output = IndexClient>,
{
    let kept = report();
    let removed = report();
    put(
        &index,
        &kept,
        4,
        vec![with_indicators(
            view(&kept, "kept"),
            &[(T::Ipv4Addr, "10.0.0.0/8")],
        )],
    )
    .await;
    put(&index, &removed, 1, vec![view(&removed, "removed")]).await;
    put(&index, &removed, 2, Vec::new()).await;

    let index = reopen(index).await;
    index.refresh().await.unwrap_or_else(|error| {
        panic!(
            "refresh failed: {error}: {:?}",
            std::error::Error::source(&error)
        )
    });
    assert_eq!(ids(&index, query()).await, (1, sorted_ids(&["kept"])));
    assert_eq!(
        lookup_one(&index, release(), super::key(T::Ipv4Addr, "10.9.9.9"))
            .await
            .0,
        1
    );
    let outcomes = write(
        &index,
        vec![
            replace(&kept, 4, Vec::new()),
            replace(&removed, 2, vec![view(&removed, "back")]),
            replace(&kept, 5, vec![view(&kept, "kept-5")]),
        ],
    )
    .await;
    assert_eq!(
        outcomes,
        vec![
            WriteOutcome::Stale,
            WriteOutcome::Stale,
            WriteOutcome::Written
        ]
    );
    assert_eq!(ids(&index, query()).await, (1, sorted_ids(&["kept-5"])));
}
