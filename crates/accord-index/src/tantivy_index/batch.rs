//! The batch lookup of the embedded index: every key of a batch in one pass over each segment.
//!
//! One key is the query `grant AND indicator`; run once per key, a batch of 10 000 values builds 10 000 queries and
//! opens the release filter's postings 10 000 times in every segment. Here the release filter's grant clause is
//! prepared once for the batch, and in each segment the postings of every key's terms ([`indicator_terms`]) are
//! read once, the (document, key) pairs sorted by document and deduplicated (an address and a block containing it
//! in the same view count once), and the grant clause walked once over them with `seek`. The page collector's
//! window, counts and order then apply per key ([`SegmentPages`]), and the views are read once each, however many
//! keys found them. The answers are those of one query per key (`search` with the indicator), which the conformance
//! suite checks (`batch_lookup_answers_as_searches_do`).
//!
//! Memory is bounded: pairs are admitted in chunks of [`CHUNK`] (a chunk ends between keys, so a key's pairs are
//! deduplicated together), and each key keeps at most `per_key` candidates per segment.

use std::{
    collections::{BTreeMap, HashMap, hash_map::Entry},
    sync::Arc,
};

use tantivy::{
    DocAddress, DocId, DocSet, InvertedIndexReader, SegmentOrdinal, SegmentReader, TERMINATED,
    Term,
    query::{EnableScoring, Query as _, Weight},
    schema::{Field, IndexRecordOption},
};

use super::{
    Inner,
    collector::{Collected, SegmentPages, order},
    query::{grant_clause, indicator_terms},
    schema::micros,
    unavailable,
};
use crate::{IndexError, IndicatorMatch, Page, ReleaseFilter};
use accord_domain::View;

/// The number of (document, key) pairs of a segment admitted at once.
const CHUNK: usize = 1 << 16;

/// What every segment of a batch shares.
struct Batch<'a> {
    grant: &'a dyn Weight,
    terms: &'a [Vec<Term>],
    at: i64,
    keep: usize,
}

impl Inner {
    /// Looks up every key of `keys` under `release`: per key (same order), the total number of matching views and
    /// the first `per_key` of them, newest `occurred_at` first, ties by ascending view id.
    pub(super) fn lookup(
        &self,
        release: &ReleaseFilter,
        keys: &[IndicatorMatch],
        per_key: usize,
    ) -> Result<Vec<Page>, IndexError> {
        let searcher = self.reader.searcher();
        let (_, grant) = grant_clause(&self.fields, release);
        let grant = grant
            .weight(EnableScoring::disabled_from_searcher(&searcher))
            .map_err(unavailable("failed to prepare lookup"))?;
        let terms: Vec<Vec<Term>> = keys
            .iter()
            .map(|matcher| indicator_terms(&self.fields, matcher))
            .collect();
        // No key matches more documents than the index holds: this bounds the collectors whatever `per_key` is.
        let keep = per_key.min(usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX));
        let batch = Batch {
            grant: grant.as_ref(),
            terms: &terms,
            at: micros(release.at),
            keep,
        };
        let mut collected: Vec<Collected> = keys.iter().map(|_| Collected::default()).collect();
        for (ordinal, reader) in searcher.segment_readers().iter().enumerate() {
            let ordinal = SegmentOrdinal::try_from(ordinal)
                .map_err(|source| IndexError::unavailable("too many index segments", source))?;
            if let Some(pages) = batch
                .segment(ordinal, reader)
                .map_err(unavailable("failed to run lookup"))?
            {
                pages.harvest(&mut collected);
            }
        }
        self.pages(&searcher, collected, keep)
    }

    /// Orders each key's candidates and reads its views, each view once.
    fn pages(
        &self,
        searcher: &tantivy::Searcher,
        collected: Vec<Collected>,
        keep: usize,
    ) -> Result<Vec<Page>, IndexError> {
        let mut ordered = Vec::with_capacity(collected.len());
        for page in collected {
            let addresses = if keep == 0 {
                Vec::new()
            } else {
                order(searcher, page.candidates, keep)
                    .map_err(unavailable("failed to order hits"))?
            };
            ordered.push((page.total, addresses));
        }
        // Each view is read once, in address order (views of one store block together), and moved into the last
        // page that holds it (cloned only for the others).
        let mut uses: BTreeMap<DocAddress, usize> = BTreeMap::new();
        for address in ordered.iter().flat_map(|(_, addresses)| addresses) {
            *uses.entry(*address).or_default() += 1;
        }
        let mut views = HashMap::with_capacity(uses.len());
        // A view that cannot be read back is skipped from every key it matches, the others answered.
        for (address, count) in uses {
            if let Some(view) = self.load_or_skip(searcher, address) {
                views.insert(address, (count, view));
            }
        }
        Ok(ordered
            .into_iter()
            .map(|(total, addresses)| {
                let hits = addresses
                    .iter()
                    .filter_map(|address| take_view(&mut views, *address))
                    .collect();
                Page { total, hits }
            })
            .collect())
    }
}

/// Returns the view read for `address`: moved out on its last use, cloned before; `None` for one that could not be
/// read back.
fn take_view(views: &mut HashMap<DocAddress, (usize, View)>, address: DocAddress) -> Option<View> {
    let Entry::Occupied(mut entry) = views.entry(address) else {
        return None;
    };
    let (left, view) = entry.get_mut();
    *left -= 1;
    if *left > 0 {
        return Some(view.clone());
    }
    Some(entry.remove().1)
}

impl Batch<'_> {
    /// Collects every key's matches in one segment; `None` when no key matches there.
    fn segment(
        &self,
        ordinal: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Option<SegmentPages>> {
        let alive = reader.alive_bitset();
        let mut inverted: HashMap<Field, Arc<InvertedIndexReader>> = HashMap::new();
        let mut pairs: Vec<(DocId, usize)> = Vec::new();
        let mut pages = None;
        for (key, terms) in self.terms.iter().enumerate() {
            for term in terms {
                let index = match inverted.entry(term.field()) {
                    Entry::Occupied(entry) => entry.into_mut(),
                    Entry::Vacant(entry) => entry.insert(reader.inverted_index(term.field())?),
                };
                let Some(mut postings) = index.read_postings(term, IndexRecordOption::Basic)?
                else {
                    continue;
                };
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    if alive.is_none_or(|alive| alive.is_alive(doc)) {
                        pairs.push((doc, key));
                    }
                    doc = postings.advance();
                }
            }
            if pairs.len() >= CHUNK {
                self.admit(ordinal, reader, &mut pairs, &mut pages)?;
            }
        }
        self.admit(ordinal, reader, &mut pairs, &mut pages)?;
        Ok(pages)
    }

    /// Collects the pairs whose document the release filter's grant clause matches, and empties `pairs`.
    fn admit(
        &self,
        ordinal: SegmentOrdinal,
        reader: &SegmentReader,
        pairs: &mut Vec<(DocId, usize)>,
        pages: &mut Option<SegmentPages>,
    ) -> tantivy::Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        pairs.sort_unstable();
        pairs.dedup();
        let pages = match pages {
            Some(pages) => pages,
            None => pages.insert(SegmentPages::open(ordinal, reader, self.at, self.keep)?),
        };
        let mut grant = self.grant.scorer(reader, 1.0)?;
        for &(doc, key) in pairs.iter() {
            let mut current = grant.doc();
            if current < doc {
                current = grant.seek(doc);
            }
            if current == doc {
                pages.collect(key, doc);
            }
        }
        pairs.clear();
        Ok(())
    }
}
