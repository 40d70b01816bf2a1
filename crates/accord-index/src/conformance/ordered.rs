//! Cases on the TAXII order ([`crate::SearchIndex::released`]).

use std::ops::Bound;

use accord_domain::{ReportId, Timestamp, View};

use super::{MOU, OTHER_AGENCY, at, mou_id, org, put, release, report, view, write};
use crate::{
    IndexClient, MouChanges, Released, ReleasedQuery, ReplaceViews, WriteOutcome, released_at,
};

/// Returns a view named `name` of a fresh report, received at `received`.
fn received(name: &str, received: &str) -> (ReportId, View) {
    let report_id = report();
    let mut view = view(&report_id, name);
    view.facts.received_at = at(received);
    (report_id, view)
}

fn walk(start: Bound<(Timestamp, String)>, descending: bool, size: usize) -> ReleasedQuery {
    ReleasedQuery {
        release: release(),
        stix_ids: Default::default(),
        changes: changes(),
        start,
        descending,
        size,
    }
}

/// Version 2 of the default MoU changed after every reception below.
fn changes() -> MouChanges {
    MouChanges::from([
        ((mou_id(MOU), 1), at("2024-01-01T00:00:00Z")),
        ((mou_id(MOU), 2), at("2024-09-01T00:00:00Z")),
    ])
}

async fn names(index: &IndexClient, query: ReleasedQuery) -> Vec<String> {
    let walked: Vec<Released> = index
        .released(query.clone())
        .await
        .unwrap_or_else(|error| panic!("walk failed: {error}"));
    for released in &walked {
        assert_eq!(
            released.at,
            released_at(&released.view, &query.changes),
            "the release time of {}",
            released.view.id
        );
    }
    walked
        .into_iter()
        .map(|released| released.view.id.trim_start_matches("view--").to_owned())
        .collect()
}

fn after(name: &str, at_text: &str) -> Bound<(Timestamp, String)> {
    Bound::Excluded((at(at_text), format!("view--{name}")))
}

/// Views come in `(release time, view id)` order, ascending or descending, after an inclusive or exclusive bound, a
/// page at a time; the release time counts the change of the MoU version a view was rendered under; a view added
/// behind a cursor comes after it; hidden views (another grant, outside their window) never come; the walk can be
/// restricted to views carrying given STIX objects.
pub async fn released_views_walk_in_release_order(index: IndexClient) {
    let (ra, a) = received("a", "2024-06-01T00:00:00Z");
    let (rc, c) = received("c", "2024-06-01T00:00:00Z");
    let (rb, b) = received("b", "2024-07-01T00:00:00Z");
    // Received first, but rendered under version 2 of the MoU, changed later than every reception.
    let (rd, mut d) = received("d", "2024-05-01T00:00:00Z");
    d.mous = vec![(mou_id(MOU), 2)];
    let (rh, mut hidden) = received("h", "2024-06-15T00:00:00Z");
    hidden.grants[0].agency = org(OTHER_AGENCY);
    let (rw, mut expired) = received("w", "2024-06-16T00:00:00Z");
    expired.valid_until = at("2024-12-01T00:00:00Z");
    for (report_id, view) in [
        (&ra, a),
        (&rc, c),
        (&rb, b),
        (&rd, d),
        (&rh, hidden),
        (&rw, expired),
    ] {
        put(&index, report_id, 1, vec![view]).await;
    }

    assert_eq!(
        names(&index, walk(Bound::Unbounded, false, 10)).await,
        ["a", "c", "b", "d"]
    );
    assert_eq!(
        names(&index, walk(Bound::Unbounded, false, 2)).await,
        ["a", "c"]
    );
    let from_c = Bound::Included((at("2024-06-01T00:00:00Z"), "view--c".to_owned()));
    assert_eq!(names(&index, walk(from_c, false, 2)).await, ["c", "b"]);
    let past_c = after("c", "2024-06-01T00:00:00Z");
    assert_eq!(
        names(&index, walk(past_c.clone(), false, 2)).await,
        ["b", "d"]
    );
    assert_eq!(
        names(&index, walk(Bound::Unbounded, true, 3)).await,
        ["d", "b", "c"]
    );
    let before_b = after("b", "2024-07-01T00:00:00Z");
    assert_eq!(names(&index, walk(before_b, true, 5)).await, ["c", "a"]);
    let past_d = after("d", "2024-09-01T00:00:00Z");
    assert!(names(&index, walk(past_d, false, 5)).await.is_empty());

    // A report received now comes after the cursor, not before it.
    let (re, e) = received("e", "2024-10-01T00:00:00Z");
    put(&index, &re, 1, vec![e]).await;
    assert_eq!(names(&index, walk(past_c, false, 5)).await, ["b", "d", "e"]);

    let mut carrying = walk(Bound::Unbounded, false, 10);
    carrying.stix_ids = [rb.to_string(), rh.to_string()].into_iter().collect();
    assert_eq!(
        names(&index, carrying).await,
        ["b"],
        "the hidden one never comes"
    );
    let mut none = walk(Bound::Unbounded, false, 0);
    none.size = 0;
    assert!(names(&index, none).await.is_empty());
}

/// Views written together (one segment on tantivy) at one release time come in view id order around a cursor whose
/// view id is none of theirs; views written apart, released wholly before or after the cursor, come only on their
/// side of it.
pub async fn released_views_walk_around_a_cursor_between_ids(index: IndexClient) {
    let (r_old, old) = received("m-old", "2024-03-01T00:00:00Z");
    put(&index, &r_old, 1, vec![old]).await;
    let same = ["p", "r", "t"]
        .into_iter()
        .map(|name| {
            let (report_id, view) = received(name, "2024-06-01T00:00:00Z");
            ReplaceViews {
                report_id,
                version: 1,
                views: vec![view],
            }
        })
        .collect();
    assert!(
        write(&index, same)
            .await
            .iter()
            .all(|outcome| *outcome == WriteOutcome::Written)
    );
    let (r_new, new) = received("a-new", "2024-08-01T00:00:00Z");
    put(&index, &r_new, 1, vec![new]).await;

    let between = after("q", "2024-06-01T00:00:00Z");
    assert_eq!(
        names(&index, walk(between.clone(), false, 10)).await,
        ["r", "t", "a-new"]
    );
    assert_eq!(names(&index, walk(between, true, 10)).await, ["p", "m-old"]);
    let before_all = Bound::Included((at("2024-06-01T00:00:00Z"), "view--o".to_owned()));
    assert_eq!(
        names(&index, walk(before_all.clone(), false, 2)).await,
        ["p", "r"]
    );
    assert_eq!(names(&index, walk(before_all, true, 5)).await, ["m-old"]);
    let past_all = after("z", "2024-06-01T00:00:00Z");
    assert_eq!(
        names(&index, walk(past_all.clone(), false, 5)).await,
        ["a-new"]
    );
    assert_eq!(
        names(&index, walk(past_all, true, 5)).await,
        ["t", "r", "p", "m-old"]
    );
    assert!(
        names(
            &index,
            walk(after("a-new", "2024-08-01T00:00:00Z"), false, 5)
        )
        .await
        .is_empty()
    );
    assert!(
        names(&index, walk(after("", "2024-02-01T00:00:00Z"), true, 5))
            .await
            .is_empty()
    );
}
