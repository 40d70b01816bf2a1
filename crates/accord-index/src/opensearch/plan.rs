//! Planning a batch of replacements against the report markers as read (pure: no I/O; see the `write` module).
//!
//! A marker's *position* orders the states of a report: `2v` while version `v` is pending, `2v + 1` once it is
//! committed. An item of version `v` is `Stale` when the marker is at `2v + 1` or beyond, or when an earlier item of
//! the same report in the batch is as new; of several newer items of one report only the last is written, and the
//! others share its outcome.

use std::collections::{BTreeSet, HashMap};

use super::{
    bulk::SeqNo,
    mapping::{MAX_ID_BYTES, Marker, MarkerState, view_doc_id, view_document},
};
use crate::{ReplaceViews, WriteOutcome};

/// The largest report version: view documents carry it as their external version, and marker positions (`2v`,
/// `2v + 1`) must fit OpenSearch's signed 64-bit numbers.
pub(crate) const MAX_VERSION: u64 = (i64::MAX as u64 - 1) / 2;

/// A stored marker and where it was read.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    /// The marker.
    pub(crate) marker: Marker,
    /// Its `_seq_no`/`_primary_term` when read: the claim is conditional on them.
    pub(crate) read: Option<SeqNo>,
}

impl Stored {
    /// Returns the marker's position: `2v` pending, `2v + 1` committed.
    pub(crate) fn position(&self) -> u64 {
        let committed = u64::from(self.marker.state == MarkerState::Committed);
        self.marker
            .version
            .saturating_mul(2)
            .saturating_add(committed)
    }
}

/// The replacement of one report that a batch writes.
#[derive(Debug)]
pub(crate) struct Apply {
    /// The report.
    pub(crate) report_id: String,
    /// Its new version.
    pub(crate) version: u64,
    /// The batch positions that share this outcome (the written item and older items of the batch it replaces).
    pub(crate) items: Vec<usize>,
    /// The new view documents, by document id.
    pub(crate) views: Vec<(String, serde_json::Value)>,
    /// The document ids of earlier views to delete.
    pub(crate) superseded: Vec<String>,
    /// Where the marker this replacement was planned on was read (`None`: no marker existed).
    pub(crate) read: Option<SeqNo>,
}

impl Apply {
    /// Returns the marker of this replacement in `state`.
    pub(crate) fn marker(&self, state: MarkerState) -> Marker {
        Marker {
            report_id: self.report_id.clone(),
            version: self.version,
            state,
            views: self.views.iter().map(|(id, _)| id.clone()).collect(),
            superseded: match state {
                MarkerState::Pending => self.superseded.clone(),
                MarkerState::Committed => Vec::new(),
            },
        }
    }
}

/// The plan of a batch: what is already decided, and what to write.
#[derive(Debug)]
pub(crate) struct Plan {
    /// One slot per batch item: `Some` when decided without writing.
    pub(crate) outcomes: Vec<Option<WriteOutcome>>,
    /// The replacements to write, one per report.
    pub(crate) applies: Vec<Apply>,
}

/// Plans a batch against the stored markers: outcomes and [`Apply::items`] are positions in `batch`.
pub(crate) fn plan(batch: &[&ReplaceViews], stored: &HashMap<String, Stored>) -> Plan {
    let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; batch.len()];
    // Per report: the external version to beat, and the positions accepted so far.
    let mut floor: HashMap<&str, u64> = HashMap::new();
    let mut accepted: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (position, item) in batch.iter().enumerate() {
        let report = item.report_id.as_str();
        if item.version > MAX_VERSION {
            outcomes[position] = Some(WriteOutcome::Failed(format!(
                "report version {} is too large for opensearch external versions",
                item.version
            )));
            continue;
        }
        let beat = floor
            .get(report)
            .copied()
            .or_else(|| stored.get(report).map(Stored::position));
        if beat.is_some_and(|external| external > 2 * item.version) {
            outcomes[position] = Some(WriteOutcome::Stale);
            continue;
        }
        floor.insert(report, 2 * item.version + 1);
        let positions = accepted.entry(report).or_default();
        if positions.is_empty() {
            order.push(report);
        }
        positions.push(position);
    }
    let mut applies = Vec::with_capacity(order.len());
    for report in order {
        let items = accepted.remove(report).unwrap_or_default();
        let Some(&last) = items.last() else { continue };
        let item = &batch[last];
        match views(item) {
            Ok(views) => {
                let keep: BTreeSet<&str> = views.iter().map(|(id, _)| id.as_str()).collect();
                let superseded = stored
                    .get(report)
                    .map(|stored| {
                        let marker = &stored.marker;
                        marker
                            .views
                            .iter()
                            .chain(&marker.superseded)
                            .filter(|id| !keep.contains(id.as_str()))
                            .cloned()
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect()
                    })
                    .unwrap_or_default();
                applies.push(Apply {
                    report_id: report.to_owned(),
                    version: item.version,
                    items,
                    views,
                    superseded,
                    read: stored.get(report).and_then(|stored| stored.read),
                });
            }
            Err(reason) => {
                for position in items {
                    outcomes[position] = Some(WriteOutcome::Failed(reason.clone()));
                }
            }
        }
    }
    Plan { outcomes, applies }
}

/// Returns the documents of an item's views.
fn views(item: &ReplaceViews) -> Result<Vec<(String, serde_json::Value)>, String> {
    let report = item.report_id.as_str();
    item.views
        .iter()
        .map(|view| {
            let id = view_doc_id(report, &view.id);
            if id.len() > MAX_ID_BYTES {
                return Err(format!(
                    "view id `{}` is too long for a document id",
                    view.id
                ));
            }
            let document = view_document(report, item.version, view)
                .map_err(|error| format!("failed to serialize view: {error}"))?;
            Ok((id, document))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use accord_domain::ReportId;

    use super::*;

    fn item(report_id: &ReportId, version: u64) -> ReplaceViews {
        ReplaceViews {
            report_id: report_id.clone(),
            version,
            views: Vec::new(),
        }
    }

    fn stored(report_id: &ReportId, external: u64, views: &[&str], superseded: &[&str]) -> Stored {
        Stored {
            read: Some(SeqNo {
                seq_no: external,
                primary_term: 1,
            }),
            marker: Marker {
                report_id: report_id.to_string(),
                version: external / 2,
                state: if external.is_multiple_of(2) {
                    MarkerState::Pending
                } else {
                    MarkerState::Committed
                },
                views: views.iter().map(|id| (*id).to_owned()).collect(),
                superseded: superseded.iter().map(|id| (*id).to_owned()).collect(),
            },
        }
    }

    #[test]
    fn committed_or_newer_versions_make_items_stale_and_pending_ones_resume() {
        let committed = ReportId::random();
        let pending = ReportId::random();
        let markers = HashMap::from([
            (
                committed.to_string(),
                stored(&committed, 2 * 5 + 1, &["a"], &[]),
            ),
            (pending.to_string(), stored(&pending, 2 * 7, &["b"], &["c"])),
        ]);
        let batch = [
            item(&committed, 5),
            item(&committed, 4),
            item(&pending, 7),
            item(&pending, 6),
        ];
        let plan = plan(&batch.iter().collect::<Vec<_>>(), &markers);
        assert_eq!(
            plan.outcomes,
            vec![
                Some(WriteOutcome::Stale),
                Some(WriteOutcome::Stale),
                None,
                Some(WriteOutcome::Stale)
            ]
        );
        assert_eq!(plan.applies.len(), 1);
        assert_eq!(plan.applies[0].version, 7);
        assert_eq!(
            plan.applies[0].read.map(|read| read.seq_no),
            Some(14),
            "the claim names what was read"
        );
        // The resumed claim deletes what the pending attempt wrote and what it meant to delete.
        assert_eq!(
            plan.applies[0].superseded,
            vec!["b".to_owned(), "c".to_owned()]
        );
    }

    #[test]
    fn newer_items_of_one_report_collapse_into_the_last() {
        let report = ReportId::random();
        let batch = [
            item(&report, 1),
            item(&report, 3),
            item(&report, 3),
            item(&report, 2),
            item(&report, 4),
        ];
        let plan = plan(&batch.iter().collect::<Vec<_>>(), &HashMap::new());
        assert_eq!(
            plan.outcomes,
            vec![
                None,
                None,
                Some(WriteOutcome::Stale),
                Some(WriteOutcome::Stale),
                None
            ]
        );
        assert_eq!(plan.applies.len(), 1);
        assert_eq!(plan.applies[0].version, 4);
        assert_eq!(plan.applies[0].items, vec![0, 1, 4]);
    }

    #[test]
    fn versions_beyond_external_range_fail() {
        let report = ReportId::random();
        let items = [item(&report, MAX_VERSION + 1), item(&report, MAX_VERSION)];
        let plan = plan(&[&items[0], &items[1]], &HashMap::new());
        assert!(matches!(plan.outcomes[0], Some(WriteOutcome::Failed(_))));
        assert_eq!(plan.applies[0].version, MAX_VERSION);
        assert!(2 * MAX_VERSION < i64::MAX as u64);
    }
}
