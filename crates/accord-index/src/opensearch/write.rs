//! Replacing every view of a report, safely, with a marker claimed on what was read.
//!
//! A report's state lives in its marker (`<prefix>-reports`, `_id` = report id, see the `plan` module for positions):
//! the version `v` it is at (`ReplaceViews::version`), pending or committed, the document ids of its views and, while
//! pending, the ids it deletes. View documents carry `v` as their external version. A batch runs in four steps,
//! whatever its size (one `_mget`, then three `_bulk` requests, each split when larger than `bulk_max_bytes`):
//!
//! 1. **Read** the markers of the batch's reports with `_mget` (real time, no refresh needed), with their `_seq_no`
//!    and `_primary_term`, and plan (`plan` module): stale items are settled without writing.
//! 2. **Claim**: index the marker as *pending* for `v`, listing the ids of the new views and of every earlier view to
//!    delete (the read marker's views and, if it was pending, what it meant to delete), **conditional on the marker
//!    read**: `if_seq_no`/`if_primary_term` of the read marker, or `create` when there was none. A 409 means another
//!    writer changed the marker since it was read: the report is read and planned again (up to
//!    [`MAX_CLAIM_ROUNDS`] times), so a newer writer never overwrites a pending claim it did not see, and always
//!    deletes the views of the claim it replaces. A retry of the same version after a crash reads its own pending
//!    marker and claims it again.
//! 3. **Views**: index each new view (external version `v`) and delete each superseded one (external version `v`).
//!    A 409 on either means the document is already at `v` or newer (a retry of this very write, or a newer version
//!    of a view with the same id): fine.
//! 4. **Commit**: index the marker as *committed*, conditional on the claim's own `_seq_no`/`_primary_term`. Only
//!    then is the item `Written`. A 409 means another writer claimed the report after this one: this writer is
//!    **fenced off** — it re-reads the marker and, when a newer version holds it, deletes the views it wrote that
//!    the newer marker does not list (`external_gte` at `v`, so a newer document with the same id is never touched)
//!    and reports `Stale`. This matters because delete tombstones live only `index.gc_deletes` (60 s by default): a
//!    writer that lost its partition and writes its views more than a minute after a newer writer deleted them
//!    would otherwise resurrect them; the fence removes them again.
//!
//! Failure modes:
//! - A crash or failure after step 2 leaves a pending marker; the retry of the same version re-claims it and
//!   finishes, and a newer version reads the pending marker and deletes the views it lists as well, so a view
//!   written by an abandoned attempt is never orphaned.
//! - A timeout after OpenSearch applied a request is retried; view actions are idempotent under their external
//!   version, and a marker write that was applied comes back as a 409 and is resolved by reading the marker again.
//! - Items that keep failing (429 or 5xx beyond the retry policy, or any other item error) are `Failed`, the marker
//!   stays pending, and the indexer retries the batch without committing its offsets.
//! - A writer that is fenced off after its views landed but dies before its cleanup leaves those views behind until
//!   the report is written again (the next writer reads the marker, which does not list them): the window is one
//!   bulk request wide, where it used to be everything after a lost partition.
//! - Between steps 3 and 4 a search may see old and new views of a report together for up to a refresh interval:
//!   both are releasable to the caller (the release filter applies to each), only one version is stale.

use std::collections::{BTreeSet, HashMap};

use serde::Deserialize;

use super::{
    OpenSearchIndex,
    bulk::{Action, Bulk, ItemResult, SeqNo},
    client::Request,
    mapping::{Marker, MarkerState},
    plan::{Apply, Plan, Stored, plan},
};
use crate::{IndexError, ReplaceViews, WriteOutcome};

/// How many times a batch re-reads and re-plans the reports whose markers changed under it before it reports them
/// `Failed` (the indexer then retries the batch).
pub(crate) const MAX_CLAIM_ROUNDS: usize = 5;

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
    #[serde(rename = "_seq_no", default)]
    seq_no: Option<u64>,
    #[serde(rename = "_primary_term", default)]
    primary_term: Option<u64>,
    #[serde(rename = "_source", default)]
    source: Option<Marker>,
    #[serde(default)]
    error: Option<super::client::ErrorCause>,
}

/// A claimed report and its outcome so far (`None`: still live).
struct Live {
    apply: Apply,
    /// Where the claim landed: the commit is conditional on it.
    claim: Option<SeqNo>,
    settled: Option<WriteOutcome>,
}

impl OpenSearchIndex {
    /// Applies a batch (see the module docs): read the markers, plan, claim, write the views, commit; reports whose
    /// markers changed since they were read are read and planned again.
    pub(crate) async fn write_batch(
        &self,
        batch: &[ReplaceViews],
    ) -> Result<Vec<WriteOutcome>, IndexError> {
        let bulk = Bulk {
            http: &self.http,
            max_bytes: self.config.bulk_max_bytes,
        };
        let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; batch.len()];
        let mut todo: Vec<usize> = (0..batch.len()).collect();
        for round in 1..=MAX_CLAIM_ROUNDS {
            let items: Vec<&ReplaceViews> = todo.iter().map(|position| &batch[*position]).collect();
            let reports: BTreeSet<&str> =
                items.iter().map(|item| item.report_id.as_str()).collect();
            let stored = self.read_markers(reports.into_iter().collect()).await?;
            let Plan {
                outcomes: planned,
                mut applies,
            } = plan(&items, &stored);
            for (slot, outcome) in planned.into_iter().enumerate() {
                if outcome.is_some() {
                    outcomes[todo[slot]] = outcome;
                }
            }
            for apply in &mut applies {
                apply.items = apply.items.iter().map(|slot| todo[*slot]).collect();
            }
            let (mut live, contended) = self.claim(&bulk, applies).await?;
            self.write_views(&bulk, &mut live).await?;
            self.commit(&bulk, &mut live).await?;
            settle(live, &mut outcomes);
            todo = contended
                .into_iter()
                .flat_map(|apply| apply.items)
                .collect();
            if todo.is_empty() {
                break;
            }
            tracing::debug!(
                round,
                items = todo.len(),
                "report markers changed since they were read; planning again"
            );
        }
        for position in todo {
            outcomes[position] = Some(WriteOutcome::Failed(
                "the report's marker kept changing under concurrent writers".to_owned(),
            ));
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| WriteOutcome::Failed("not planned".to_owned()))
            })
            .collect())
    }

    /// Step 2: claims each report's version with a pending marker, conditional on the marker read. Returns the
    /// claimed (or failed) reports, and the ones whose marker changed since it was read.
    async fn claim(
        &self,
        bulk: &Bulk<'_>,
        applies: Vec<Apply>,
    ) -> Result<(Vec<Live>, Vec<Apply>), IndexError> {
        let reports_index = self.names.reports.as_str();
        let claims: Vec<Action> = applies
            .iter()
            .map(|apply| {
                let marker = serde_json::json!(apply.marker(MarkerState::Pending));
                Action::index_if(reports_index, &apply.report_id, apply.read, &marker)
            })
            .collect();
        let results = bulk.execute(&claims).await?;
        let mut live = Vec::with_capacity(applies.len());
        let mut contended = Vec::new();
        for (apply, result) in applies.into_iter().zip(results) {
            let (claim, settled) = match result {
                ItemResult::Conflict => {
                    contended.push(apply);
                    continue;
                }
                ItemResult::Done(Some(claim)) => (Some(claim), None),
                ItemResult::Done(None) => (
                    None,
                    Some(WriteOutcome::Failed(
                        "the claim's answer carries no _seq_no".to_owned(),
                    )),
                ),
                ItemResult::Failed(reason) | ItemResult::Refused(reason) => (
                    None,
                    Some(WriteOutcome::Failed(format!(
                        "failed to claim report version: {reason}"
                    ))),
                ),
            };
            live.push(Live {
                apply,
                claim,
                settled,
            });
        }
        Ok((live, contended))
    }

    /// Step 3: writes the views and deletes the superseded ones of every live report.
    async fn write_views(&self, bulk: &Bulk<'_>, live: &mut [Live]) -> Result<(), IndexError> {
        let views_index = self.names.views.as_str();
        let mut actions = Vec::new();
        let mut owners = Vec::new();
        for (slot, report) in live.iter().enumerate() {
            if report.settled.is_some() {
                continue;
            }
            let apply = &report.apply;
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
                actions.push(Action::delete(views_index, id, apply.version, "external"));
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
                ItemResult::Done(_) | ItemResult::Conflict => continue,
            };
            if live[slot].settled.is_none() || matches!(outcome, WriteOutcome::Refused(_)) {
                live[slot].settled = Some(outcome);
            }
        }
        Ok(())
    }

    /// Step 4: commits the marker of every report still live, conditional on its claim; fences off the writers
    /// whose claim was taken over.
    async fn commit(&self, bulk: &Bulk<'_>, live: &mut [Live]) -> Result<(), IndexError> {
        let reports_index = self.names.reports.as_str();
        let pending: Vec<usize> = (0..live.len())
            .filter(|slot| live[*slot].settled.is_none())
            .collect();
        let commits: Vec<Action> = pending
            .iter()
            .map(|slot| {
                let report = &live[*slot];
                let marker = serde_json::json!(report.apply.marker(MarkerState::Committed));
                Action::index_if(
                    reports_index,
                    &report.apply.report_id,
                    report.claim,
                    &marker,
                )
            })
            .collect();
        let mut fenced = Vec::new();
        for (slot, result) in pending.into_iter().zip(bulk.execute(&commits).await?) {
            live[slot].settled = match result {
                ItemResult::Done(_) => Some(WriteOutcome::Written),
                ItemResult::Conflict => {
                    fenced.push(slot);
                    None
                }
                ItemResult::Failed(reason) | ItemResult::Refused(reason) => Some(
                    WriteOutcome::Failed(format!("failed to commit report version: {reason}")),
                ),
            };
        }
        if !fenced.is_empty() {
            self.fence(bulk, live, &fenced).await?;
        }
        Ok(())
    }

    /// Fences off the writers of `fenced` (their claim was taken over, see the module docs): deletes the views they
    /// wrote that a newer marker does not list, and settles them `Stale`.
    async fn fence(
        &self,
        bulk: &Bulk<'_>,
        live: &mut [Live],
        fenced: &[usize],
    ) -> Result<(), IndexError> {
        let reports: Vec<&str> = fenced
            .iter()
            .map(|slot| live[*slot].apply.report_id.as_str())
            .collect();
        let stored = self.read_markers(reports).await?;
        let views_index = self.names.views.as_str();
        let mut actions = Vec::new();
        for slot in fenced {
            let apply = &live[*slot].apply;
            let Some(newer) = stored
                .get(&apply.report_id)
                .filter(|stored| stored.marker.version > apply.version)
            else {
                // The same version was claimed again by another writer: it writes these very views.
                continue;
            };
            let kept: BTreeSet<&str> = newer.marker.views.iter().map(String::as_str).collect();
            for (id, _) in &apply.views {
                if !kept.contains(id.as_str()) {
                    actions.push(Action::delete(
                        views_index,
                        id,
                        apply.version,
                        "external_gte",
                    ));
                }
            }
            tracing::warn!(report_id = %apply.report_id, version = apply.version, newer = newer.marker.version, "a newer writer claimed the report meanwhile: this write is fenced off");
        }
        for result in bulk.execute(&actions).await? {
            if let ItemResult::Failed(reason) | ItemResult::Refused(reason) = result {
                return Err(IndexError::Unavailable {
                    context: format!("failed to remove the views of a fenced-off write: {reason}"),
                    source: None,
                });
            }
        }
        for slot in fenced {
            live[*slot].settled = Some(WriteOutcome::Stale);
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
            let Some(marker) = doc.source else {
                return Err(IndexError::Unavailable {
                    context: format!("report marker `{}` has no source", doc.id),
                    source: None,
                });
            };
            let read = match (doc.seq_no, doc.primary_term) {
                (Some(seq_no), Some(primary_term)) => Some(SeqNo {
                    seq_no,
                    primary_term,
                }),
                _ => None,
            };
            stored.insert(doc.id, Stored { marker, read });
        }
        Ok(stored)
    }
}

/// Gives every item of the batch the outcome of its report (a report still live at the end was written).
fn settle(live: Vec<Live>, outcomes: &mut [Option<WriteOutcome>]) {
    for report in live {
        let outcome = report.settled.unwrap_or(WriteOutcome::Written);
        if let WriteOutcome::Failed(reason) | WriteOutcome::Refused(reason) = &outcome {
            tracing::warn!(report_id = %report.apply.report_id, version = report.apply.version, %reason, "failed to write report views");
        }
        for position in &report.apply.items {
            outcomes[*position] = Some(outcome.clone());
        }
    }
}
