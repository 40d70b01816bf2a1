//! Views in the order of a TAXII collection: by the time each was released to its readers, then by view id, after
//! a cursor, a few at a time ([`SearchIndex::released`]).
//!
//! When a view was released ([`released_at`]) is the latest of the report's reception (or amendment), the view's
//! `valid_from` and the change time of every MoU version the view was rendered under. The first two are the view's
//! own and are indexed with it (its *release base*); MoU change times belong to the directory, so the caller passes
//! them with each walk ([`ReleasedQuery::changes`]) and the index combines both per view while it walks. A widened
//! MoU therefore moves the views rendered under its new version to the end of the order at once, as `added_after`
//! polling expects, without rewriting them.
//!
//! The order is total: `(released_at, view id)`, ascending or descending; a walk continues from a bound on that key
//! (inclusive or exclusive), so a cursor stays valid while views are added (they sort after it unless released
//! earlier, which cannot happen: a view is released no earlier than its report is received). Every view is released
//! under the same release filter as a search (grant, MoUs in force, validity window), and optionally restricted to
//! views carrying one of a set of STIX objects ([`ReleasedQuery::stix_ids`]).
//!
//! Backends: tantivy walks its fast columns (release base, MoU version terms, view id) and decodes only the views it
//! returns; [`scan`], the default, reads every matching view with [`SearchIndex::search`]
//! and sorts them (OpenSearch, until it sorts on a stored release time).

use std::{cmp::Ordering, collections::BTreeMap, collections::BTreeSet, ops::Bound};

use accord_domain::{MouId, Timestamp, View};
use chrono::SubsecRound;

use crate::{Filters, IndexError, Query, ReleaseFilter, SearchIndex};

/// The change time of every MoU version a walk may meet: `(MoU, version) → changed_at`. Versions not listed add
/// nothing to a view's release time.
pub type MouChanges = BTreeMap<(MouId, u32), Timestamp>;

/// A walk over the views of a release filter in the TAXII order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedQuery {
    /// The release filter (mandatory): only views a search would match.
    pub release: ReleaseFilter,
    /// Only views whose STIX export holds one of these objects (empty: every view); at most
    /// [`crate::MAX_OBJECT_IDS`].
    pub stix_ids: BTreeSet<String>,
    /// MoU version change times ([`released_at`]).
    pub changes: MouChanges,
    /// Where the walk starts: a bound on `(released_at, view id)`, a lower one ascending, an upper one descending.
    pub start: Bound<(Timestamp, String)>,
    /// Latest first.
    pub descending: bool,
    /// The most views returned (the caller bounds it).
    pub size: usize,
}

/// A view and when it was released to its readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// [`released_at`] of the view.
    pub at: Timestamp,
    /// The view.
    pub view: View,
}

impl Released {
    /// Returns the view's key in the TAXII order.
    pub fn key(&self) -> (Timestamp, &str) {
        (self.at, self.view.id.as_str())
    }
}

/// Returns a view's release base: the latest of its report's reception, its amendment and its `valid_from`.
pub fn release_base(view: &View) -> Timestamp {
    let received = view
        .facts
        .amended_at
        .map_or(view.facts.received_at, |amended| {
            amended.max(view.facts.received_at)
        });
    received.max(view.valid_from)
}

/// Returns when a view was released to its readers: its [`release_base`], or the latest change time of the MoU
/// versions it was rendered under when that is later (to the microsecond).
pub fn released_at(view: &View, changes: &MouChanges) -> Timestamp {
    let mut at = release_base(view);
    for (mou, version) in &view.mous {
        if let Some(changed) = changes.get(&(mou.clone(), *version)) {
            at = at.max(*changed);
        }
    }
    // Microseconds, the unit of the index's time columns.
    at.trunc_subsecs(6)
}

/// Returns whether `key` lies inside the walk's start bound.
pub(crate) fn after_start(query: &ReleasedQuery, key: (Timestamp, &str)) -> bool {
    let compare = |bound: &(Timestamp, String)| key.cmp(&(bound.0, bound.1.as_str()));
    match (&query.start, query.descending) {
        (Bound::Unbounded, _) => true,
        (Bound::Included(bound), false) => compare(bound) != Ordering::Less,
        (Bound::Excluded(bound), false) => compare(bound) == Ordering::Greater,
        (Bound::Included(bound), true) => compare(bound) != Ordering::Greater,
        (Bound::Excluded(bound), true) => compare(bound) == Ordering::Less,
    }
}

/// Sorts released views in the walk's order.
pub(crate) fn sort(views: &mut [Released], descending: bool) {
    views.sort_by(|a, b| {
        let order = a.key().cmp(&b.key());
        if descending { order.reverse() } else { order }
    });
}

/// Views read per search by [`scan`].
const SCAN_PAGE: usize = 1_000;

/// The default walk: every view the release filter matches (restricted to the STIX ids), read with
/// [`SearchIndex::search`], sorted, cut at the start bound and to `size`. Its cost grows with the views matched.
///
/// # Errors
/// The index's error.
pub async fn scan<I: SearchIndex + ?Sized>(
    index: &I,
    query: ReleasedQuery,
) -> Result<Vec<Released>, IndexError> {
    crate::check_stix_ids(&Filters {
        stix_ids: query.stix_ids.clone(),
        ..Filters::default()
    })?;
    let mut all: Vec<Released> = Vec::new();
    let mut offset = 0;
    loop {
        let page = index
            .search(Query {
                release: query.release.clone(),
                indicator: None,
                text: None,
                filters: Filters {
                    stix_ids: query.stix_ids.clone(),
                    ..Filters::default()
                },
                size: SCAN_PAGE,
                offset,
            })
            .await?;
        let fetched = page.hits.len();
        offset += fetched;
        all.extend(page.hits.into_iter().map(|view| Released {
            at: released_at(&view, &query.changes),
            view,
        }));
        if fetched == 0 || offset as u64 >= page.total {
            break;
        }
    }
    all.retain(|released| after_start(&query, released.key()));
    sort(&mut all, query.descending);
    all.truncate(query.size);
    Ok(all)
}
