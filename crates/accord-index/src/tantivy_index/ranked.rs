//! Candidates of many segments in one order: by a numeric key, then by view id, read only where it decides.
//!
//! A segment collector keeps its best documents by `(key, view id ordinal, doc)`: within a segment, the ordinal
//! order of the `view_id` column is the string order, so it reads no string. Across segments ordinals are not
//! comparable: [`order`] reads the view ids only of candidates of different segments that share a key, and then
//! each segment's ids in one sorted pass over its dictionary. Reading an id alone decompresses a block of the
//! column's dictionary, so a collector that read the ids of all its kept candidates paid that for each of them, in
//! every segment, to keep a few.

use std::{collections::HashMap, ops::Range};

use tantivy::{DocAddress, Searcher, SegmentOrdinal, TantivyError};

use super::schema::VIEW_ID;

/// A kept document: its sort key (smallest first), its view id's ordinal in its segment, and its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ranked {
    pub(crate) key: i128,
    pub(crate) id_ord: u64,
    pub(crate) address: DocAddress,
}

/// How equal keys are ordered by view id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ids {
    Ascending,
    Descending,
}

impl Ids {
    fn apply(self, order: std::cmp::Ordering) -> std::cmp::Ordering {
        match self {
            Ids::Ascending => order,
            Ids::Descending => order.reverse(),
        }
    }
}

/// Returns the first `end` candidates: by key, then view id (in the direction `ids`), then address.
///
/// # Errors
/// Returns the tantivy error when a view id column cannot be read to break a tie across segments.
pub(crate) fn order(
    searcher: &Searcher,
    mut candidates: Vec<Ranked>,
    end: usize,
    ids: Ids,
) -> tantivy::Result<Vec<Ranked>> {
    candidates.sort_unstable_by(|a, b| {
        (a.key, a.address.segment_ord)
            .cmp(&(b.key, b.address.segment_ord))
            .then_with(|| ids.apply(a.id_ord.cmp(&b.id_ord)))
            .then_with(|| a.address.doc_id.cmp(&b.address.doc_id))
    });
    let mut start = 0;
    while start < candidates.len() && start < end {
        let key = candidates[start].key;
        let len = candidates[start..]
            .iter()
            .take_while(|candidate| candidate.key == key)
            .count();
        let run = start..start + len;
        let first_segment = candidates[start].address.segment_ord;
        if candidates[run.clone()]
            .iter()
            .any(|candidate| candidate.address.segment_ord != first_segment)
        {
            order_by_id(searcher, &mut candidates, run, ids)?;
        }
        start += len;
    }
    candidates.truncate(end);
    Ok(candidates)
}

/// Orders `candidates[run]` (one key, several segments) by view id, then address.
fn order_by_id(
    searcher: &Searcher,
    candidates: &mut [Ranked],
    run: Range<usize>,
    ids: Ids,
) -> tantivy::Result<()> {
    let run = &mut candidates[run];
    let mut by_segment: HashMap<SegmentOrdinal, Vec<u64>> = HashMap::new();
    for candidate in run.iter() {
        by_segment
            .entry(candidate.address.segment_ord)
            .or_default()
            .push(candidate.id_ord);
    }
    let mut names: HashMap<(SegmentOrdinal, u64), Vec<u8>> = HashMap::new();
    for (segment, mut ords) in by_segment {
        ords.sort_unstable();
        ords.dedup();
        let Some(column) = searcher
            .segment_reader(segment)
            .fast_fields()
            .str(VIEW_ID)?
        else {
            continue;
        };
        let mut found = ords.iter();
        column
            .dictionary()
            .sorted_ords_to_term_cb(&ords, |term| {
                if let Some(ord) = found.next() {
                    names.insert((segment, *ord), term.to_vec());
                }
            })
            .map_err(|error| TantivyError::IoError(error.into()))?;
    }
    let empty = Vec::new();
    let name = |candidate: &Ranked| {
        names
            .get(&(candidate.address.segment_ord, candidate.id_ord))
            .unwrap_or(&empty)
    };
    run.sort_by(|a, b| {
        ids.apply(name(a).cmp(name(b)))
            .then_with(|| a.address.cmp(&b.address))
    });
    Ok(())
}
