//! A collection's objects in order, a page at a time, read from the index in bounded steps (decision 0062).
//!
//! The index walks the views of the collection's release filter in `(release time, view id)` order after the cursor
//! (`accord_index::SearchIndex::released`), a batch at a time; every view passes the query-time re-check
//! ([`Context::allows`]) before anything of it is served, and a view that fails it counts as absent. Each view is
//! rendered alone ([`accord_stix::export`]): its own objects (report, indicators, victim) and the objects it shares
//! with other reports (observables, vulnerabilities, the author identity, the TLP marking). A shared object is
//! served once, with the *latest* visible view that carries it (its `date_added` is that view's release time, as
//! TAXII's "latest version" asks): after each batch, term lookups of the index (`stix_id`) find which of the batch's
//! shared objects a later visible view carries, and those are left to it. A shared observable or vulnerability is
//! marked with the most restrictive TLP of the visible views that carry it (decision 0007), found the same way: one
//! term lookup per stricter label.
//! Retracted reports' objects ([`super::revoked`]) are merged in at their retraction time, unless a visible view
//! releases the same object now. Reads stop as soon as the page and one object beyond it (for `more`) are known.
//!
//! `match[id]` (and a read of one object) walks the other way: the latest visible views carrying the ids, by term,
//! until every id has its latest carrier. Neither path reads more of the index than its answer needs; what grows
//! with the collection is only tantivy's pass over fast columns of the matching views.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    ops::Bound,
};

use accord_domain::{Timestamp, View};
use accord_index::{MouChanges, Released, ReleasedQuery, Views};
use accord_runtime::{taxii::TaxiiError, telemetry::ErrorChain};
use accord_stix::export::{Release, StixObject, export, object_ids, own_objects};
use chrono::SubsecRound;

use super::selection::{Placed, Position, REVOKED_GROUP, Selection};
use crate::{AppState, request::Context};

/// Views read per term lookup of later carriers (and of the latest carriers of `match[id]`): the markings and
/// identities a batch shares are carried by the very next views, its observables mostly by none, so a few suffice.
const PROBE: usize = 8;
/// The most views one read examines; a read that reaches it answers what it found, with `more` and a cursor.
const EXAMINE_BUDGET: usize = 20_000;
/// An object id after every STIX id (they are ASCII below DEL): a position after all of a view's objects.
const PAST_EVERY_OBJECT: &str = "\u{7f}";

/// What a read found: the objects (at most `limit`, in order), whether more follow, and where to continue.
pub(crate) struct Walked {
    pub(crate) objects: Vec<Placed>,
    pub(crate) more: bool,
    pub(crate) next: Option<Position>,
}

/// Returns the change time of every MoU version the directory knows.
pub(crate) fn mou_changes(ctx: &Context) -> MouChanges {
    ctx.snapshot
        .mou_history
        .iter()
        .flat_map(|(mou, versions)| {
            versions
                .iter()
                .map(move |entry| ((mou.clone(), entry.version), entry.changed_at))
        })
        .collect()
}

fn index_error(error: &accord_index::IndexError) -> TaxiiError {
    tracing::error!(error = %ErrorChain(error), "index walk for a TAXII collection failed");
    TaxiiError::Unavailable("the index is unavailable; retry later".to_owned())
}

/// The state of one read.
struct Walker<'a> {
    state: &'a AppState,
    ctx: &'a Context,
    changes: MouChanges,
}

impl Walker<'_> {
    async fn released(
        &self,
        stix_ids: BTreeSet<String>,
        start: Bound<(Timestamp, String)>,
        descending: bool,
        size: usize,
    ) -> Result<Vec<Released>, TaxiiError> {
        let query = ReleasedQuery {
            release: self.ctx.release(Views::Shown, false),
            stix_ids,
            changes: self.changes.clone(),
            start,
            descending,
            size,
        };
        self.state
            .deps
            .index
            .released(query)
            .await
            .map_err(|error| index_error(&error))
    }

    /// Returns which of `ids` a visible view after `start` carries.
    async fn carried_after(
        &self,
        ids: BTreeSet<String>,
        start: &Bound<(Timestamp, String)>,
    ) -> Result<BTreeSet<String>, TaxiiError> {
        let mut found = BTreeSet::new();
        let all: Vec<String> = ids.into_iter().collect();
        for chunk in all.chunks(accord_index::MAX_OBJECT_IDS) {
            let mut pending: BTreeSet<String> = chunk.iter().cloned().collect();
            let mut start = start.clone();
            while !pending.is_empty() {
                let views = self.released(pending.clone(), start, false, PROBE).await?;
                for released in views.iter().filter(|r| self.ctx.allows(&r.view)) {
                    for id in object_ids(&released.view) {
                        if pending.remove(&id) {
                            found.insert(id);
                        }
                    }
                }
                match views.last() {
                    Some(last) if views.len() == PROBE => {
                        start = Bound::Excluded((last.at, last.view.id.clone()));
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// Returns the objects of a batch of visible views in order, each shared object only with its latest carrier
    /// (`end` is the key of the batch's last view, visible or not).
    async fn place(
        &self,
        views: &[Released],
        end: &(Timestamp, String),
    ) -> Result<Vec<Placed>, TaxiiError> {
        let mut last_carrier: HashMap<String, usize> = HashMap::new();
        let mut carriers: HashMap<String, usize> = HashMap::new();
        for (at, released) in views.iter().enumerate() {
            for id in shared_ids(&released.view) {
                last_carrier.insert(id.clone(), at);
                *carriers.entry(id).or_default() += 1;
            }
        }
        // The ids several views of the batch carry (the author, the marking) are carried by the very next views
        // too: probed on their own, they are found at once, and the many ids of one view each (most observables)
        // are then looked up in one probe, not again in a second one.
        let (common, single): (Vec<_>, Vec<_>) =
            carriers.into_iter().partition(|(_, count)| *count > 1);
        let ids = |carried: Vec<(String, usize)>| carried.into_iter().map(|(id, _)| id).collect();
        let after = Bound::Excluded(end.clone());
        let mut later = self.carried_after(ids(common), &after).await?;
        later.extend(self.carried_after(ids(single), &after).await?);
        let mut placed = Vec::new();
        for (at, released) in views.iter().enumerate() {
            for object in render(released) {
                let shared_elsewhere = last_carrier
                    .get(&object.object.id)
                    .is_some_and(|last| *last != at || later.contains(&object.object.id));
                if !shared_elsewhere {
                    placed.push(object);
                }
            }
        }
        self.mark_strictest(&mut placed).await?;
        Ok(placed)
    }
}

/// Returns the ids of the objects a view shares with other reports.
fn shared_ids(view: &View) -> Vec<String> {
    let own: BTreeSet<String> = own_objects(view).into_iter().map(|(_, id)| id).collect();
    object_ids(view)
        .into_iter()
        .filter(|id| !own.contains(id))
        .collect()
}

/// Renders one view's objects at their positions, in id order.
fn render(released: &Released) -> Vec<Placed> {
    export(&[Release {
        view: &released.view,
        released_at: released.at,
    }])
    .into_iter()
    .map(|object| Placed {
        position: Position {
            at: released.at,
            group: released.view.id.clone(),
            object: object.id.clone(),
        },
        object,
    })
    .collect()
}

/// Returns the revoked objects of the collection at their positions, in order.
async fn revoked(state: &AppState, ctx: &Context) -> Result<Vec<Placed>, TaxiiError> {
    let store = state.revocations.clone();
    let (agency, purpose) = (ctx.agency.clone(), ctx.purpose);
    let objects: Vec<StixObject> =
        tokio::task::spawn_blocking(move || store.objects(&agency, purpose))
            .await
            .map_err(|error| TaxiiError::Unavailable(format!("revocations: {error}")))?
            .map_err(|error| {
                tracing::error!(error = %ErrorChain(error.as_ref()), "failed to read revocations");
                TaxiiError::Unavailable(
                    "the revocation store is unavailable; retry later".to_owned(),
                )
            })?;
    let mut placed: Vec<Placed> = objects
        .into_iter()
        .map(|object| Placed {
            position: Position {
                at: object.date_added.trunc_subsecs(6),
                group: REVOKED_GROUP.to_owned(),
                object: object.id.clone(),
            },
            object,
        })
        .collect();
    placed.sort_by(|a, b| a.position.cmp(&b.position));
    Ok(placed)
}

/// Returns the page of a read of the whole collection (no `match[id]`).
pub(crate) async fn page(
    state: &AppState,
    ctx: &Context,
    selection: &Selection,
) -> Result<Walked, TaxiiError> {
    let walker = Walker {
        state,
        ctx,
        changes: mou_changes(ctx),
    };
    let revoked: Vec<Placed> = revoked(state, ctx)
        .await?
        .into_iter()
        .filter(|placed| selection.takes(placed))
        .collect();
    let mut released_again: BTreeSet<String> = BTreeSet::new();
    loop {
        let walked = walker.collect(selection, &revoked, &released_again).await?;
        // A revoked object that a visible view releases now is served as released, not revoked.
        let served: BTreeSet<String> = walked
            .objects
            .iter()
            .filter(|placed| placed.position.group == REVOKED_GROUP)
            .map(|placed| placed.object.id.clone())
            .filter(|id| !released_again.contains(id))
            .collect();
        if served.is_empty() {
            return Ok(walked);
        }
        let again = walker.carried_after(served, &Bound::Unbounded).await?;
        if again.is_empty() {
            return Ok(walked);
        }
        released_again.extend(again);
    }
}

impl Walker<'_> {
    /// Collects the page: views batch by batch from the cursor, merged with the revoked objects (except
    /// `released_again`), until `limit + 1` objects pass the selection, the views end, or the budget is spent.
    async fn collect(
        &self,
        selection: &Selection,
        revoked: &[Placed],
        released_again: &BTreeSet<String>,
    ) -> Result<Walked, TaxiiError> {
        let want = selection.limit + 1;
        // Collected first: an iterator adaptor holding a closure across the awaits below would not be `Send`.
        let revoked: Vec<&Placed> = revoked
            .iter()
            .filter(|placed| !released_again.contains(&placed.object.id))
            .collect();
        let mut revoked = revoked.into_iter().peekable();
        let mut out: Vec<Placed> = Vec::new();
        let mut start = start_bound(selection);
        let (mut examined, mut last_seen, mut ended) = (0, None::<Position>, false);
        let mut last_end = None;
        while out.len() < want && examined < EXAMINE_BUDGET {
            let size = batch_size(want - out.len(), examined, out.len());
            let batch = self
                .released(BTreeSet::new(), start.clone(), false, size)
                .await?;
            examined += batch.len();
            ended = batch.len() < size;
            let Some(end) = batch.last().map(|last| (last.at, last.view.id.clone())) else {
                break;
            };
            start = Bound::Excluded(end.clone());
            last_end = Some(end.clone());
            let visible: Vec<Released> = batch
                .into_iter()
                .filter(|released| self.ctx.allows(&released.view))
                .collect();
            for placed in self.place(&visible, &end).await? {
                while let Some(gone) = revoked.next_if(|gone| gone.position < placed.position) {
                    take(selection, &mut out, &mut last_seen, gone.clone());
                }
                take(selection, &mut out, &mut last_seen, placed);
            }
            if ended {
                break;
            }
        }
        if ended {
            for gone in revoked {
                take(selection, &mut out, &mut last_seen, gone.clone());
            }
        } else if out.len() < want
            && let Some((at, group)) = last_end
        {
            // The budget ran out: everything up to the last view examined was examined.
            let end = Position {
                at,
                group,
                object: PAST_EVERY_OBJECT.to_owned(),
            };
            while let Some(gone) = revoked.next_if(|gone| gone.position < end) {
                take(selection, &mut out, &mut last_seen, gone.clone());
            }
            last_seen = Some(end);
        }
        Ok(finish(selection, out, ended, last_seen))
    }
}

/// Returns how many views to read next for `missing` more objects, from the objects per view seen so far (at
/// first, a guess of eight: a report with a few indicators).
fn batch_size(missing: usize, examined: usize, taken: usize) -> usize {
    let per_view = if examined == 0 || taken == 0 {
        8
    } else {
        (taken / examined).max(1)
    };
    (missing / per_view + 1).clamp(4, 500)
}

/// Where the walk of views starts: at the cursor's view (its remaining objects), or at `added_after`.
fn start_bound(selection: &Selection) -> Bound<(Timestamp, String)> {
    match (&selection.after, selection.added_after) {
        (Some(after), Some(added)) if added > after.at => Bound::Included((added, String::new())),
        (Some(after), _) => Bound::Included((after.at, after.group.clone())),
        (None, Some(added)) => Bound::Included((added, String::new())),
        (None, None) => Bound::Unbounded,
    }
}

/// Adds an object to the page when the selection takes it (at most `limit + 1`), and remembers the last position
/// examined.
fn take(
    selection: &Selection,
    out: &mut Vec<Placed>,
    last_seen: &mut Option<Position>,
    placed: Placed,
) {
    if out.len() > selection.limit {
        return;
    }
    if selection
        .after
        .as_ref()
        .is_some_and(|after| placed.position <= *after)
    {
        return;
    }
    *last_seen = Some(placed.position.clone());
    if selection.takes(&placed) {
        out.push(placed);
    }
}

/// Cuts the collected objects to the page.
fn finish(
    selection: &Selection,
    mut out: Vec<Placed>,
    ended: bool,
    last_seen: Option<Position>,
) -> Walked {
    if out.len() > selection.limit {
        out.truncate(selection.limit);
        let next = out.last().map(|placed| placed.position.clone());
        return Walked {
            objects: out,
            more: true,
            next,
        };
    }
    if ended {
        return Walked {
            objects: out,
            more: false,
            next: None,
        };
    }
    // The budget ran out first: continue after the last object examined.
    let next = last_seen.or_else(|| selection.after.clone());
    Walked {
        objects: out,
        more: next.is_some(),
        next,
    }
}

/// Returns the objects with the given ids, each at its latest visible carrier (or revoked, when none releases it
/// now), in collection order; the caller pages them.
pub(crate) async fn by_ids(
    state: &AppState,
    ctx: &Context,
    ids: &BTreeSet<String>,
) -> Result<Vec<Placed>, TaxiiError> {
    let walker = Walker {
        state,
        ctx,
        changes: mou_changes(ctx),
    };
    let mut pending = ids.clone();
    let mut found: BTreeMap<Position, Placed> = BTreeMap::new();
    let mut start = Bound::Unbounded;
    while !pending.is_empty() {
        let views = walker.released(pending.clone(), start, true, PROBE).await?;
        for released in views.iter().filter(|r| ctx.allows(&r.view)) {
            for placed in render(released) {
                if pending.remove(&placed.object.id) {
                    found.insert(placed.position.clone(), placed);
                }
            }
        }
        match views.last() {
            Some(last) if views.len() == PROBE => {
                start = Bound::Excluded((last.at, last.view.id.clone()));
            }
            _ => break,
        }
    }
    let mut placed: Vec<Placed> = found.into_values().collect();
    walker.mark_strictest(&mut placed).await?;
    if !pending.is_empty() {
        for gone in revoked(state, ctx).await? {
            if pending.contains(&gone.object.id) {
                placed.push(gone);
            }
        }
        placed.sort_by(|a, b| a.position.cmp(&b.position));
    }
    Ok(placed)
}

mod marking;
