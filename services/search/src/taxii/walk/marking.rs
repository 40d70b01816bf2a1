//! TLP markings of shared observables and vulnerabilities in a collection read a page at a time: the most
//! restrictive TLP of the visible views that carry each (decision 0007), found by term lookups of the index (ids × one
//! stricter TLP label at a time), so that a hidden view marks nothing.

use std::collections::{BTreeMap, BTreeSet};

use accord_domain::Tlp;
use accord_index::Views;
use accord_runtime::taxii::TaxiiError;
use accord_stix::export::{StixObject, object_ids, tlp_marking_id};
use serde_json::json;

use super::{PROBE, Walker, index_error};
use crate::taxii::selection::Placed;

impl Walker<'_> {
    /// Marks every shared observable and vulnerability of `placed` with the most restrictive TLP among the visible
    /// views that carry it (decision 0007): per stricter label, from TLP:RED down, one term lookup of the ids still
    /// marked below it.
    pub(super) async fn mark_strictest(&self, placed: &mut [Placed]) -> Result<(), TaxiiError> {
        let mut strictest: BTreeMap<String, Tlp> = placed
            .iter()
            .filter_map(|placed| Some((placed.object.id.clone(), shared_tlp(&placed.object)?)))
            .collect();
        if !self.any_stricter(&strictest).await? {
            return Ok(());
        }
        for level in Tlp::ALL.into_iter().rev() {
            let below: BTreeSet<String> = strictest
                .iter()
                .filter(|(_, tlp)| **tlp < level)
                .map(|(id, _)| id.clone())
                .collect();
            for id in self.carried_under(below, level).await? {
                strictest.insert(id, level);
            }
        }
        for placed in placed.iter_mut() {
            if let Some(tlp) = strictest.get(&placed.object.id)
                && shared_tlp(&placed.object).is_some_and(|current| current < *tlp)
            {
                placed.object.body["object_marking_refs"] = json!([tlp_marking_id(*tlp)]);
            }
        }
        Ok(())
    }

    /// Returns whether a visible view carries one of the ids under a TLP stricter than the id's own: one lookup per
    /// label the ids have (each id looked up once), which usually finds nothing (an observable is carried by its
    /// own report's views alone), where the label-by-label lookups below look each id up once per stricter label.
    /// When it finds something, those run.
    async fn any_stricter(&self, strictest: &BTreeMap<String, Tlp>) -> Result<bool, TaxiiError> {
        let mut by_level: BTreeMap<Tlp, Vec<String>> = BTreeMap::new();
        for (id, tlp) in strictest {
            by_level.entry(*tlp).or_default().push(id.clone());
        }
        for (level, ids) in by_level {
            let stricter: BTreeSet<Tlp> = Tlp::ALL.into_iter().filter(|tlp| *tlp > level).collect();
            if stricter.is_empty() {
                continue;
            }
            for chunk in ids.chunks(accord_index::MAX_OBJECT_IDS) {
                let page = self
                    .carriers(chunk.iter().cloned().collect(), stricter.clone(), 1, 0)
                    .await?;
                if page.total > 0 {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Returns a page of the views released to the reader that carry one of `ids` under one of the labels `tlp`.
    async fn carriers(
        &self,
        ids: BTreeSet<String>,
        tlp: BTreeSet<Tlp>,
        size: usize,
        offset: usize,
    ) -> Result<accord_index::Page, TaxiiError> {
        let query = accord_index::Query {
            release: self.ctx.release(Views::Shown, false),
            indicator: None,
            text: None,
            filters: accord_index::Filters {
                stix_ids: ids,
                tlp,
                ..accord_index::Filters::default()
            },
            size,
            offset,
        };
        self.state
            .deps
            .index
            .search(query)
            .await
            .map_err(|error| index_error(&error))
    }

    /// Returns which of `ids` a visible view of TLP `level` carries.
    async fn carried_under(
        &self,
        ids: BTreeSet<String>,
        level: Tlp,
    ) -> Result<BTreeSet<String>, TaxiiError> {
        let mut found = BTreeSet::new();
        let all: Vec<String> = ids.into_iter().collect();
        for chunk in all.chunks(accord_index::MAX_OBJECT_IDS) {
            let mut pending: BTreeSet<String> = chunk.iter().cloned().collect();
            let mut offset = 0;
            while !pending.is_empty() {
                let page = self
                    .carriers(pending.clone(), BTreeSet::from([level]), PROBE, offset)
                    .await?;
                for view in page.hits.iter().filter(|view| self.ctx.allows(view)) {
                    for id in object_ids(view) {
                        if pending.remove(&id) {
                            found.insert(id);
                        }
                    }
                }
                offset += page.hits.len();
                if page.hits.len() < PROBE || offset as u64 >= page.total {
                    break;
                }
            }
        }
        Ok(found)
    }
}

/// Returns the TLP marking of a shared observable or vulnerability (the shared objects that carry one), else `None`.
fn shared_tlp(object: &StixObject) -> Option<Tlp> {
    if matches!(
        object.kind.as_str(),
        "report" | "indicator" | "identity" | "marking-definition"
    ) {
        return None;
    }
    let marking = object.body["object_marking_refs"][0].as_str()?;
    Tlp::ALL
        .into_iter()
        .find(|tlp| tlp_marking_id(*tlp) == marking)
}
