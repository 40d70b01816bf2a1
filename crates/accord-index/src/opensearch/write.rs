//! Replacing every view of a report, safely, with external versions.
//!
//! A report's state lives in its marker (`<prefix>-reports`, `_id` = report id), written with OpenSearch external
//! versions derived from the report version `v` (`ReplaceViews::version`): `2v` while version `v` is being written
//! (*pending*), `2v + 1` once it is complete (*committed*). View documents carry `v` itself as their external
//! version. A batch runs in four steps, whatever its size (one `_mget`, then three `_bulk` requests, each split
//! when larger than `bulk_max_bytes`):
//!
//! 1. **Read** the markers of the batch's reports with `_mget` (real time, no refresh needed). An item whose marker
//!    is at `2v + 1` or beyond (version `v` committed, or a newer version pending or committed) is `Stale`; so is an
//!    item not newer than an earlier item of the same report in the batch. Of several newer items of one report only
//!    the last is written, and the others share its outcome.
//! 2. **Claim**: index the marker at `2v` as *pending* with `version_type=external_gte`, listing the ids of the new
//!    views and of every earlier view to delete (the previous marker's views and, if it was pending, what it meant to
//!    delete). `external_gte` lets a retry of the same version (after a crash or a lost answer) claim again; a 409
//!    means a newer version got there first: `Stale`, and nothing of this item is written.
//! 3. **Views**: index each new view (external version `v`) and delete each superseded one (external version `v`).
//!    A 409 on either means the document is already at `v` or newer (a retry of this very write, or a newer version
//!    of a view with the same id): fine.
//! 4. **Commit**: index the marker at `2v + 1` as *committed* (`version_type=external`). A 409 means a newer
//!    version committed meanwhile: fine too. Only then is the item `Written`.
//!
//! Failure modes:
//! - A crash or failure after step 2 leaves a pending marker at `2v`; the retry of the same version re-claims it and
//!   finishes, and a newer version reads the pending marker and deletes the views it lists as well, so a view
//!   written by an abandoned attempt is never orphaned.
//! - A timeout after OpenSearch applied a request is retried; every action is idempotent under its external version
//!   (a 409 or a `not_found` delete), so nothing is duplicated and the item is still `Written`.
//! - Items that keep failing (429 or 5xx beyond the retry policy, or any other item error) are `Failed`, the marker
//!   stays pending, and the indexer retries the batch without committing its offsets.
//! - Two writers of one report at once (a consumer-group rebalance) are ordered by the marker: the older claim
//!   fails, or the newer claim lists the older one's views for deletion; a view indexed after a newer writer deleted
//!   it hits the delete's tombstone (409), kept for `index.gc_deletes` (60 s by default).
//! - Between steps 3 and 4 a search may see old and new views of a report together for up to a refresh interval:
//!   both are releasable to the caller (the release filter applies to each), only one version is stale.

use std::collections::{BTreeSet, HashMap};

use serde::Deserialize;

use super::{
    OpenSearchIndex,
    bulk::{Action, Bulk, ItemResult},
    client::Request,
    mapping::{MAX_ID_BYTES, Marker, MarkerState, view_doc_id, view_document},
};
use crate::{IndexError, ReplaceViews, WriteOutcome};

/// The largest report version whose marker versions (`2v`, `2v + 1`) fit OpenSearch's signed 64-bit versions.
pub(crate) const MAX_VERSION: u64 = (i64::MAX as u64 - 1) / 2;

/// A stored marker and its external version.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    /// The external version (`2v` pending, `2v + 1` committed).
    pub(crate) external: u64,
    /// The marker.
    pub(crate) marker: Marker,
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
}

impl Apply {
    fn marker(&self, state: MarkerState) -> Marker {
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

/// Plans a batch against the stored markers (pure: no I/O).
pub(crate) fn plan(batch: &[ReplaceViews], stored: &HashMap<String, Stored>) -> Plan {
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
            .or_else(|| stored.get(report).map(|stored| stored.external));
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

/// The answer to `_mget` on the markers index.
#[derive(Debug, Deserialize)]
struct MgetResponse {
    docs: Vec<MgetDoc>,
}

#[derive(Debug, Deserialize)]
struct MgetDoc {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    found: bool,
    #[serde(rename = "_version", default)]
    version: Option<u64>,
    #[serde(rename = "_source", default)]
    source: Option<Marker>,
    #[serde(default)]
    error: Option<super::client::ErrorCause>,
}

impl OpenSearchIndex {
    /// Applies a batch (see the module docs): read the markers, plan, claim, write the views, commit.
    pub(crate) async fn write_batch(
        &self,
        batch: &[ReplaceViews],
    ) -> Result<Vec<WriteOutcome>, IndexError> {
        let reports: BTreeSet<&str> = batch.iter().map(|item| item.report_id.as_str()).collect();
        let stored = self.read_markers(reports.into_iter().collect()).await?;
        let Plan { outcomes, applies } = plan(batch, &stored);
        let bulk = Bulk {
            http: &self.http,
            max_bytes: self.config.bulk_max_bytes,
        };
        let mut live = self.claim(&bulk, &applies).await?;
        self.write_views(&bulk, &mut live).await?;
        self.commit(&bulk, &mut live).await?;
        Ok(settle(live, outcomes))
    }

    /// Step 2: claims each report's version with a pending marker. A claim that meets a newer version settles its
    /// report as stale; every other report stays live (`None`).
    async fn claim<'a>(
        &self,
        bulk: &Bulk<'_>,
        applies: &'a [Apply],
    ) -> Result<Vec<Live<'a>>, IndexError> {
        let reports_index = self.names.reports.as_str();
        let claims: Vec<Action> = applies
            .iter()
            .map(|apply| {
                Action::index(
                    reports_index,
                    &apply.report_id,
                    2 * apply.version,
                    "external_gte",
                    &serde_json::json!(apply.marker(MarkerState::Pending)),
                )
            })
            .collect();
        let mut live = Vec::with_capacity(applies.len());
        for (apply, result) in applies.iter().zip(bulk.execute(&claims).await?) {
            let settled = match result {
                ItemResult::Done => None,
                ItemResult::Conflict => Some(WriteOutcome::Stale),
                ItemResult::Failed(reason) | ItemResult::Refused(reason) => Some(
                    WriteOutcome::Failed(format!("failed to claim report version: {reason}")),
                ),
            };
            live.push((apply, settled));
        }
        Ok(live)
    }

    /// Step 3: writes the views and deletes the superseded ones of every live report.
    async fn write_views(&self, bulk: &Bulk<'_>, live: &mut [Live<'_>]) -> Result<(), IndexError> {
        let views_index = self.names.views.as_str();
        let mut actions = Vec::new();
        let mut owners = Vec::new();
        for (slot, (apply, settled)) in live.iter().enumerate() {
            if settled.is_some() {
                continue;
            }
            for (id, document) in &apply.views {
                actions.push(Action::index(
                    views_index,
                    id,
                    apply.version,
                    "external",
                    document,
                ));
                owners.push(slot);
            }
            for id in &apply.superseded {
                actions.push(Action::delete(views_index, id, apply.version));
                owners.push(slot);
            }
        }
        for (slot, result) in owners.into_iter().zip(bulk.execute(&actions).await?) {
            let outcome = match result {
                ItemResult::Failed(reason) => {
                    WriteOutcome::Failed(format!("failed to write views: {reason}"))
                }
                // A view the index will never take: the whole report is refused (the indexer withdraws it).
                ItemResult::Refused(reason) => {
                    WriteOutcome::Refused(format!("a view cannot be indexed: {reason}"))
                }
                ItemResult::Done | ItemResult::Conflict => continue,
            };
            if live[slot].1.is_none() || matches!(outcome, WriteOutcome::Refused(_)) {
                live[slot].1 = Some(outcome);
            }
        }
        Ok(())
    }

    /// Step 4: commits the marker of every report still live.
    async fn commit(&self, bulk: &Bulk<'_>, live: &mut [Live<'_>]) -> Result<(), IndexError> {
        let reports_index = self.names.reports.as_str();
        let pending: Vec<usize> = (0..live.len())
            .filter(|slot| live[*slot].1.is_none())
            .collect();
        let commits: Vec<Action> = pending
            .iter()
            .map(|slot| {
                let apply = live[*slot].0;
                Action::index(
                    reports_index,
                    &apply.report_id,
                    2 * apply.version + 1,
                    "external",
                    &serde_json::json!(apply.marker(MarkerState::Committed)),
                )
            })
            .collect();
        for (slot, result) in pending.into_iter().zip(bulk.execute(&commits).await?) {
            live[slot].1 = Some(match result {
                ItemResult::Done | ItemResult::Conflict => WriteOutcome::Written,
                ItemResult::Failed(reason) | ItemResult::Refused(reason) => {
                    WriteOutcome::Failed(format!("failed to commit report version: {reason}"))
                }
            });
        }
        Ok(())
    }

    /// Reads the markers of `reports` (real time).
    async fn read_markers(
        &self,
        reports: Vec<&str>,
    ) -> Result<HashMap<String, Stored>, IndexError> {
        if reports.is_empty() {
            return Ok(HashMap::new());
        }
        let request = Request::Mget {
            index: self.names.reports.clone(),
            body: serde_json::json!({ "ids": reports }),
        };
        let response: MgetResponse = self.http.call(&request).await?.decode(request.what())?;
        let mut stored = HashMap::new();
        for doc in response.docs {
            if let Some(error) = doc.error {
                return Err(IndexError::Unavailable {
                    context: format!("failed to read report marker: {}", error.describe()),
                    source: None,
                });
            }
            if !doc.found {
                continue;
            }
            match (doc.version, doc.source) {
                (Some(external), Some(marker)) => {
                    stored.insert(doc.id, Stored { external, marker });
                }
                _ => {
                    return Err(IndexError::Unavailable {
                        context: format!("report marker `{}` has no version or source", doc.id),
                        source: None,
                    });
                }
            }
        }
        Ok(stored)
    }
}

/// A planned report and its outcome so far (`None`: still live).
type Live<'a> = (&'a Apply, Option<WriteOutcome>);

/// Gives every item of the batch the outcome of its report (a report still live at the end was written).
fn settle(live: Vec<Live<'_>>, mut outcomes: Vec<Option<WriteOutcome>>) -> Vec<WriteOutcome> {
    for (apply, settled) in live {
        let outcome = settled.unwrap_or(WriteOutcome::Written);
        if let WriteOutcome::Failed(reason) | WriteOutcome::Refused(reason) = &outcome {
            tracing::warn!(report_id = %apply.report_id, version = apply.version, %reason, "failed to write report views");
        }
        for position in &apply.items {
            outcomes[*position] = Some(outcome.clone());
        }
    }
    outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap_or_else(|| WriteOutcome::Failed("not planned".to_owned())))
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
            external,
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
        let batch = vec![
            item(&committed, 5),
            item(&committed, 4),
            item(&pending, 7),
            item(&pending, 6),
        ];
        let plan = plan(&batch, &markers);
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
        // The resumed claim deletes what the pending attempt wrote and what it meant to delete.
        assert_eq!(
            plan.applies[0].superseded,
            vec!["b".to_owned(), "c".to_owned()]
        );
    }

    #[test]
    fn newer_items_of_one_report_collapse_into_the_last() {
        let report = ReportId::random();
        let batch = vec![
            item(&report, 1),
            item(&report, 3),
            item(&report, 3),
            item(&report, 2),
            item(&report, 4),
        ];
        let plan = plan(&batch, &HashMap::new());
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
        let plan = plan(
            &[item(&report, MAX_VERSION + 1), item(&report, MAX_VERSION)],
            &HashMap::new(),
        );
        assert!(matches!(plan.outcomes[0], Some(WriteOutcome::Failed(_))));
        assert_eq!(plan.applies[0].version, MAX_VERSION);
        assert!(2 * MAX_VERSION < i64::MAX as u64);
    }
}
