//! The whole partnership's reports counted per day of reception and stage, and the rejections (dead letters) per
//! day and reason, for the coordinators' pipeline health (`GET /v1/pipeline/counts`; decision 0042).
//!
//! Table `pipeline_by_day` holds one counter per `<YYYY-MM-DD> 0x1F stage 0x1F <stage>` — every partner's reports
//! together, moved exactly as each partner's own counters are ([`super::daily`]) — and one per `<YYYY-MM-DD> 0x1F
//! rejection 0x1F <reason>`, added when a report gains a rejection it did not have (the status store keeps each
//! rejection once, so a replayed dead letter is not counted twice). Both are written in the same transaction as the
//! records ([`super::StatusStore::apply`]); reading `days` days is one range scan of at most `days × (5 + reasons)`
//! counters, however many reports they count. A store written before this table existed gets it built once, when
//! opened (the key `built` marks it).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};

use super::{REPORTS, ReportStatus, StatusError, StatusStore, daily::STAGES, failed};

const PIPELINE: TableDefinition<'_, &str, u64> = TableDefinition::new("pipeline_by_day");

/// The separator between the parts of a key.
const SEP: char = '\u{1f}';

/// The key that says the table covers every record (sorts after every day).
const BUILT: &str = "built";

/// The partnership-wide counter a report is counted under (its partner's counter without the partner).
pub(super) fn key(status: &ReportStatus) -> Option<String> {
    super::daily::key(status)
        .and_then(|key| key.split_once(SEP).map(|(_, rest)| rest.to_owned()))
        .map(|rest| {
            let (day, stage) = rest.split_once(SEP).unwrap_or((rest.as_str(), ""));
            format!("{day}{SEP}stage{SEP}{stage}")
        })
}

/// The rejection counters of the rejections `next` has beyond the first `before`.
fn rejection_keys(next: &ReportStatus, before: usize) -> Vec<String> {
    let day = super::daily::key(next)
        .and_then(|key| key.split(SEP).nth(1).map(str::to_owned))
        .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string());
    next.rejections
        .iter()
        .skip(before)
        .map(|rejection| format!("{day}{SEP}rejection{SEP}{}", rejection.reason))
        .collect()
}

fn add(table: &mut Table<'_, &'static str, u64>, key: &str, up: bool) -> Result<(), StatusError> {
    let mut write = || -> Result<(), redb::Error> {
        let current = table.get(key)?.map_or(0, |value| value.value());
        let next = if up {
            current.saturating_add(1)
        } else {
            current.saturating_sub(1)
        };
        if next == 0 {
            table.remove(key)?;
        } else {
            table.insert(key, next)?;
        }
        Ok(())
    };
    write().map_err(failed("failed to update the pipeline counts"))
}

/// Opens the table in a write transaction.
pub(super) fn open(txn: &WriteTransaction) -> Result<Table<'_, &'static str, u64>, StatusError> {
    txn.open_table(PIPELINE)
        .map_err(|e| failed("failed to open the pipeline counts")(e.into()))
}

/// What a report was counted under before a change: its stage counter and how many rejections it had.
pub(super) fn before(previous: Option<&ReportStatus>) -> (Option<String>, usize) {
    (
        previous.and_then(key),
        previous.map_or(0, |p| p.rejections.len()),
    )
}

/// Counts a change: moves the report between stage counters, and counts the rejections it gained.
pub(super) fn update(
    counters: &mut Table<'_, &'static str, u64>,
    (before, rejections): (Option<String>, usize),
    next: &ReportStatus,
) -> Result<(), StatusError> {
    let after = key(next);
    if before != after {
        if let Some(before) = before {
            add(counters, &before, false)?;
        }
        if let Some(after) = after {
            add(counters, &after, true)?;
        }
    }
    for rejection in rejection_keys(next, rejections) {
        add(counters, &rejection, true)?;
    }
    Ok(())
}

/// Creates the table; on a store written before it existed, counts every record once.
pub(super) fn ensure(txn: &WriteTransaction) -> Result<(), StatusError> {
    let mut counters = open(txn)?;
    let built = counters
        .get(BUILT)
        .map_err(|e| failed("failed to read the pipeline counts")(e.into()))?
        .is_some();
    if built {
        return Ok(());
    }
    let reports = txn
        .open_table(REPORTS)
        .map_err(|e| failed("failed to open table")(e.into()))?;
    let items = reports
        .iter()
        .map_err(|e| failed("failed to read statuses")(e.into()))?;
    for item in items {
        let (_, value) = item.map_err(|e| failed("failed to read a status")(e.into()))?;
        if let Ok(status) = accord_runtime::packed::from_slice::<ReportStatus>(value.value()) {
            update(&mut counters, (None, 0), &status)?;
        }
    }
    counters
        .insert(BUILT, 1)
        .map_err(|e| failed("failed to mark the pipeline counts")(e.into()))?;
    Ok(())
}

/// The partnership's counts of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineDay {
    /// The UTC day of reception.
    pub day: NaiveDate,
    /// Reports received that day, per stage ([`STAGES`] order).
    pub counts: [u64; 5],
    /// Rejections of reports received that day, per reason.
    pub rejections: BTreeMap<String, u64>,
}

impl StatusStore {
    /// Returns the partnership's reports per day of reception and stage, and their rejections per reason, for each
    /// of the `days` UTC days ending with `today`, oldest first (days without a report included, as zeros); and the
    /// same for every day before them together (`before`), so that totals cover the whole store.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn pipeline_counts(
        &self,
        today: NaiveDate,
        days: u32,
    ) -> Result<(Vec<PipelineDay>, [u64; 5]), StatusError> {
        let first = today - Duration::days(i64::from(days.max(1)) - 1);
        let mut counted: BTreeMap<NaiveDate, PipelineDay> = (0..days.max(1))
            .map(|offset| first + Duration::days(i64::from(offset)))
            .map(|day| {
                (
                    day,
                    PipelineDay {
                        day,
                        counts: [0; 5],
                        rejections: BTreeMap::new(),
                    },
                )
            })
            .collect();
        let mut before = [0; 5];
        let txn = self
            .db
            .begin_read()
            .map_err(|e| failed("failed to begin read")(e.into()))?;
        let counters = txn
            .open_table(PIPELINE)
            .map_err(|e| failed("failed to open the pipeline counts")(e.into()))?;
        let range = counters
            .range::<&str>(..BUILT)
            .map_err(|e| failed("failed to read the pipeline counts")(e.into()))?;
        for item in range {
            let (key, value) =
                item.map_err(|e| failed("failed to read the pipeline counts")(e.into()))?;
            let key = key.value();
            let mut parts = key.splitn(3, SEP);
            let (Some(day), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(day) = NaiveDate::parse_from_str(day, "%Y-%m-%d") else {
                continue;
            };
            let stage = STAGES.iter().position(|known| *known == name);
            match (counted.get_mut(&day), kind, stage) {
                (Some(counts), "stage", Some(index)) => counts.counts[index] += value.value(),
                (Some(counts), "rejection", _) => {
                    *counts.rejections.entry(name.to_owned()).or_default() += value.value();
                }
                (None, "stage", Some(index)) if day < first => before[index] += value.value(),
                _ => {}
            }
        }
        Ok((counted.into_values().collect(), before))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Change, RejectionView};
    use super::*;

    fn accepted(id: &str, partner: &str, at: &str) -> Change {
        Change::Accepted {
            id: id.into(),
            partner: partner.into(),
            title: String::new(),
            body_sha256: String::new(),
            received_at: at.into(),
            objects: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn rejected(id: &str, reason: &str) -> Change {
        Change::Rejected {
            id: id.into(),
            partner: None,
            rejection: RejectionView {
                reason: reason.into(),
                detail: "why".into(),
            },
            rejects: true,
        }
    }

    fn released(id: &str, partner: &str, to: &[&str]) -> Change {
        Change::Released {
            id: id.into(),
            partner: partner.into(),
            indicators: 1,
            released_to: to.iter().map(|agency| (*agency).to_owned()).collect(),
            at: "2026-01-03T00:00:00Z".into(),
            trigger: "report received".into(),
            revoked_from: Vec::new(),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 3).unwrap()
    }

    /// A day as `(day, stage counts, rejections)`.
    type Day = (String, [u64; 5], BTreeMap<String, u64>);

    /// The days with anything, and the counts before them.
    fn counted(store: &StatusStore) -> (Vec<Day>, [u64; 5]) {
        let (days, before) = store.pipeline_counts(today(), 2).unwrap();
        let days = days
            .into_iter()
            .filter(|day| day.counts.iter().any(|count| *count > 0) || !day.rejections.is_empty())
            .map(|day| (day.day.to_string(), day.counts, day.rejections))
            .collect();
        (days, before)
    }

    #[test]
    fn every_partners_reports_and_each_rejection_once_and_rebuilt_for_an_older_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = StatusStore::open(dir.path()).unwrap();
        let changes = vec![
            accepted("a1", "bank-a", "2026-01-02T10:00:00Z"),
            accepted("b1", "bank-b", "2026-01-02T11:00:00Z"),
            accepted("b2", "bank-b", "2026-01-03T09:00:00Z"),
            accepted("old", "bank-a", "2025-12-01T09:00:00Z"),
            released("a1", "bank-a", &["ncu"]),
            released("b1", "bank-b", &[]),
            rejected("b2", "invalid"),
            // A dead letter read again (a replay after a crash) is the same rejection: counted once.
            rejected("b2", "invalid"),
        ];
        store.apply(changes, false).unwrap();
        let mut reasons = BTreeMap::new();
        reasons.insert("invalid".to_owned(), 1);
        let expected = (
            vec![
                ("2026-01-02".to_owned(), [0, 0, 1, 1, 0], BTreeMap::new()),
                ("2026-01-03".to_owned(), [0, 0, 0, 0, 1], reasons),
            ],
            [1, 0, 0, 0, 0],
        );
        assert_eq!(counted(&store), expected);

        drop(store);
        let db = redb::Database::open(dir.path().join("status.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(PIPELINE).unwrap();
        txn.commit().unwrap();
        drop(db);
        let store = StatusStore::open(dir.path()).unwrap();
        assert_eq!(counted(&store), expected, "rebuilt from the records");
        drop(store);
        let store = StatusStore::open(dir.path()).unwrap();
        assert_eq!(counted(&store), expected, "and only once");
    }
}
