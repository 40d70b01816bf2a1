//! Agencies' feedback on a partner's reports, aggregated for that partner (issue 16 item 3, decision 0057).
//!
//! A follower of `reports.feedback` (consumer group `gateway-status`) folds every
//! [`FeedbackRecord`] into two aggregates in the status store: one for its report, and one for (report,
//! indicator) when it names an indicator. Both live in table `feedback`, keyed
//! `<partner> 0x1F <report id> 0x1F <type> 0x1F <value>` (type and value empty for the report's own aggregate), so
//! that a partner's aggregates are one range of keys that holds no other partner's. The record's id is written to
//! table `feedback_applied` in the same transaction: a record delivered twice (the bus is at-least-once) counts once.
//!
//! An aggregate counts distinct senders (an agency's id where the MoU names it, else its pseudonym towards this
//! partner), sightings (the sum of `count` of `sighted` feedback), distinct senders that flagged a false positive
//! or found it useful, and the first and last time it is about (`seen_at`, else when it was sent). It lists the
//! agencies named; pseudonyms are counted, never shown. An agency whose feedback was named under one MoU and
//! anonymous under another (the MoU changed, or another MoU released the report) counts as two senders, on purpose:
//! counting it once would tell the partner which named agency sent the anonymous feedback.

use std::collections::BTreeSet;

use accord_bus::Delivery;
use accord_domain::{
    ObservableType, Timestamp,
    feedback::{FeedbackIndicator, FeedbackKind, FeedbackRecord},
};
use accord_runtime::stage::Stage;
use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{StatusError, StatusStore, failed};

const FEEDBACK: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("feedback");
const APPLIED: TableDefinition<'_, &str, u8> = TableDefinition::new("feedback_applied");
const SEP: char = '\u{1f}';

/// The feedback on a report, or on one indicator of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// The report.
    pub report: String,
    /// The indicator, for an indicator's aggregate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator: Option<FeedbackIndicator>,
    /// Distinct senders: named agencies' ids and pseudonyms.
    pub senders: BTreeSet<String>,
    /// The agencies named (a subset of `senders`).
    pub named: BTreeSet<String>,
    /// Sum of sighting counts.
    pub sightings: u64,
    /// Senders that flagged a false positive.
    pub false_positive: BTreeSet<String>,
    /// Senders that found it useful.
    pub useful: BTreeSet<String>,
    /// The earliest time the feedback is about.
    pub first: Option<Timestamp>,
    /// The latest time the feedback is about.
    pub last: Option<Timestamp>,
    /// When the first feedback was sent.
    pub created: Option<Timestamp>,
    /// When the latest feedback was sent.
    pub modified: Option<Timestamp>,
}

impl Aggregate {
    fn add(&mut self, record: &FeedbackRecord) {
        let sender = record.sender().to_owned();
        if let Some(agency) = &record.agency {
            self.named.insert(agency.to_string());
        }
        match record.kind {
            FeedbackKind::Sighted => self.sightings = self.sightings.saturating_add(record.count),
            FeedbackKind::FalsePositive => {
                self.false_positive.insert(sender.clone());
            }
            FeedbackKind::Useful => {
                self.useful.insert(sender.clone());
            }
        }
        self.senders.insert(sender);
        let when = record.when();
        self.first = Some(self.first.map_or(when, |first| first.min(when)));
        self.last = Some(self.last.map_or(when, |last| last.max(when)));
        self.created = Some(self.created.map_or(record.at, |at| at.min(record.at)));
        self.modified = Some(self.modified.map_or(record.at, |at| at.max(record.at)));
    }

    /// Renders the aggregate as the partner reads it (`agencies`, `sightings`, `false_positive`, `useful`,
    /// `first`, `last`, and the agencies named).
    pub fn document(&self) -> Value {
        json!({
            "agencies": self.senders.len(),
            "named_agencies": self.named,
            "sightings": self.sightings,
            "false_positive": self.false_positive.len(),
            "useful": self.useful.len(),
            "first": self.first,
            "last": self.last,
        })
    }

    /// Renders the aggregate as one row of `GET /v1/feedback`.
    pub fn row(&self) -> Value {
        let mut row = self.document();
        row["report"] = json!(self.report);
        row["indicator"] = json!(self.indicator);
        row
    }
}

fn report_prefix(partner: &str, report: &str) -> String {
    format!("{partner}{SEP}{report}{SEP}")
}

fn key(partner: &str, report: &str, indicator: Option<&FeedbackIndicator>) -> String {
    let (kind, value) = indicator.map_or(("", ""), |indicator| {
        (indicator.kind.as_str(), indicator.value.as_str())
    });
    format!("{}{kind}{SEP}{value}", report_prefix(partner, report))
}

/// Creates the tables.
pub(super) fn ensure(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(FEEDBACK)?;
    txn.open_table(APPLIED)?;
    Ok(())
}

/// One page of a partner's aggregates.
#[derive(Debug, Default)]
pub struct FeedbackPage {
    /// The aggregates, by report then indicator.
    pub aggregates: Vec<Aggregate>,
    /// Where the next page starts (the last key returned), when there may be more.
    pub next: Option<String>,
}

impl StatusStore {
    /// Applies feedback records, each once however often it is delivered, durably.
    ///
    /// # Errors
    /// Fails on a storage error (nothing of the batch is applied).
    pub fn apply_feedback(&self, records: &[FeedbackRecord]) -> Result<(), StatusError> {
        let write = || -> Result<(), redb::Error> {
            let txn = self.db.begin_write()?;
            {
                let mut table = txn.open_table(FEEDBACK)?;
                let mut applied = txn.open_table(APPLIED)?;
                for record in records {
                    if applied.get(record.id.as_str())?.is_some() {
                        continue;
                    }
                    applied.insert(record.id.as_str(), 1)?;
                    let partner = record.partner.as_str();
                    let report = record.report_id.as_str();
                    let mut keys = vec![(key(partner, report, None), None)];
                    if let Some(indicator) = &record.indicator {
                        keys.push((
                            key(partner, report, Some(indicator)),
                            Some(indicator.clone()),
                        ));
                    }
                    for (key, indicator) in keys {
                        let mut aggregate = table
                            .get(key.as_str())?
                            .and_then(|value| {
                                serde_json::from_slice::<Aggregate>(value.value()).ok()
                            })
                            .unwrap_or_else(|| Aggregate {
                                report: report.to_owned(),
                                indicator,
                                ..Aggregate::default()
                            });
                        aggregate.add(record);
                        let bytes = serde_json::to_vec(&aggregate).unwrap_or_default();
                        table.insert(key.as_str(), bytes.as_slice())?;
                    }
                }
            }
            txn.commit()?;
            Ok(())
        };
        write().map_err(failed("failed to apply feedback"))
    }

    /// Returns the aggregate of a report's feedback as its partner sees it (`None` without feedback).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn report_feedback(
        &self,
        partner: &str,
        report: &str,
    ) -> Result<Option<Aggregate>, StatusError> {
        let read = || -> Result<Option<Aggregate>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(FEEDBACK)?;
            Ok(table
                .get(key(partner, report, None).as_str())?
                .and_then(|value| serde_json::from_slice(value.value()).ok()))
        };
        read().map_err(failed("failed to read feedback"))
    }

    /// Returns up to `limit` of `partner`'s aggregates (of one report only, with `report`) after the key `after`.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn list_feedback(
        &self,
        partner: &str,
        report: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<FeedbackPage, StatusError> {
        let start = match report {
            Some(report) => report_prefix(partner, report),
            None => format!("{partner}{SEP}"),
        };
        let end = format!("{}{}", &start[..start.len() - 1], char::from(SEP as u8 + 1));
        let read = || -> Result<FeedbackPage, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(FEEDBACK)?;
            let from = after.filter(|after| after.starts_with(&start) && *after < end.as_str());
            let range = match from {
                Some(after) => table.range::<&str>((
                    std::ops::Bound::Excluded(after),
                    std::ops::Bound::Excluded(end.as_str()),
                ))?,
                None => table.range::<&str>(start.as_str()..end.as_str())?,
            };
            let mut page = FeedbackPage::default();
            for entry in range {
                let (key, value) = entry?;
                if page.aggregates.len() == limit {
                    break;
                }
                if let Ok(aggregate) = serde_json::from_slice::<Aggregate>(value.value()) {
                    page.aggregates.push(aggregate);
                }
                page.next = Some(key.value().to_owned());
            }
            if page.aggregates.len() < limit {
                page.next = None;
            }
            Ok(page)
        };
        read().map_err(failed("failed to list feedback"))
    }
}

/// Returns whether `cursor` (a key a listing returned) belongs to `partner`'s aggregates.
pub fn cursor_belongs(partner: &str, cursor: &str) -> bool {
    cursor.starts_with(&format!("{partner}{SEP}"))
}

/// Returns the STIX 2.1 `sighting` of an aggregate with sightings (`None` without): of the report's `indicator`
/// for an indicator's aggregate, else of the `report`; `count`, `first_seen` and `last_seen` from the aggregate;
/// `where_sighted_refs` the identities of the agencies named, when there are any (never a pseudonym). Deterministic
/// id per (report, indicator), `modified` when the latest feedback was sent.
pub fn stix_sighting(aggregate: &Aggregate) -> Option<Value> {
    if aggregate.sightings == 0 {
        return None;
    }
    let (of, name) = match &aggregate.indicator {
        // A CVE is exported as a `vulnerability` (a domain object a sighting may refer to), not as an indicator.
        Some(indicator) if indicator.kind == ObservableType::Vulnerability => (
            accord_stix::observable_id(indicator.kind, &indicator.value),
            format!(
                "accord|sighting|{}|{}|{}",
                aggregate.report, indicator.kind, indicator.value
            ),
        ),
        Some(indicator) => (
            accord_stix::export::indicator_id(&aggregate.report, indicator.kind, &indicator.value),
            format!(
                "accord|sighting|{}|{}|{}",
                aggregate.report, indicator.kind, indicator.value
            ),
        ),
        None => (
            aggregate.report.clone(),
            format!("accord|sighting|{}", aggregate.report),
        ),
    };
    let timestamp = accord_stix::export::timestamp;
    let created = aggregate.created.or(aggregate.first)?;
    let modified = aggregate.modified.unwrap_or(created);
    let mut sighting = json!({
        "type": "sighting",
        "spec_version": "2.1",
        "id": accord_stix::export::accord_id("sighting", &name),
        "created": timestamp(created),
        "modified": timestamp(modified.max(created)),
        "sighting_of_ref": of,
        "count": aggregate.sightings.min(999_999_999),
    });
    if let (Some(first), Some(last)) = (aggregate.first, aggregate.last) {
        sighting["first_seen"] = json!(timestamp(first));
        sighting["last_seen"] = json!(timestamp(last.max(first)));
    }
    if !aggregate.named.is_empty() {
        sighting["where_sighted_refs"] = json!(
            aggregate
                .named
                .iter()
                .map(|agency| agency_identity_id(agency))
                .collect::<Vec<_>>()
        );
    }
    Some(sighting)
}

/// Returns the id of a named agency's STIX `identity`.
pub fn agency_identity_id(agency: &str) -> String {
    accord_stix::export::accord_id("identity", &format!("accord|agency|{agency}"))
}

/// Returns the STIX `identity` of a named agency (one version: `created` fixed, so every page renders it alike).
pub fn agency_identity(agency: &str) -> Value {
    let at = accord_stix::export::timestamp(chrono::DateTime::UNIX_EPOCH);
    json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": agency_identity_id(agency),
        "created": at,
        "modified": at,
        "name": agency,
        "identity_class": "organization",
    })
}

/// Follows `reports.feedback` into the store.
pub(crate) struct FeedbackFollower {
    store: StatusStore,
}

impl FeedbackFollower {
    pub(crate) fn new(store: StatusStore) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Stage for FeedbackFollower {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let records: Vec<FeedbackRecord> = batch
            .iter()
            .filter_map(|delivery| serde_json::from_slice(&delivery.record.payload).ok())
            .collect();
        if records.is_empty() {
            return Ok(());
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.apply_feedback(&records)).await??;
        Ok(())
    }
}
