//! Cases on the TAXII order ([`crate::SearchIndex::released`]).

use std::ops::Bound;

use accord_domain::{ReportId, Timestamp, View};

use super::{MOU, OTHER_AGENCY, at, mou_id, org, put, release, report, view};
use crate::{IndexClient, MouChanges, Released, ReleasedQuery, released_at};

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
