//! Each partner's reports counted per day of reception and stage, for `GET /v1/reports/counts` (the partner's
//! dashboard), kept as statuses change so that reading a month costs the same however many reports it holds.
//!
//! Table `by_day` holds one counter per `<partner> 0x1F <YYYY-MM-DD, UTC day of reception> 0x1F <stage>`, written in
//! the same transaction as the records ([`super::StatusStore::apply`]): a change moves its report from the counter of
//! its previous (day, stage) to that of its new one. A report is counted once its partner and reception time are
//! known, under its [`stage`]. Reading `days` days is one range scan over at most `days × 5` counters. A store written
//! before this table existed gets it built once, when opened (decision 0035).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use redb::{ReadableTable, ReadableTableMetadata, Table, TableDefinition, WriteTransaction};

use super::{REPORTS, ReportStatus, StatusError, StatusStore, failed};

const BY_DAY: TableDefinition<'_, &str, u64> = TableDefinition::new("by_day");

/// The separator between the parts of a key (organization ids cannot contain it).
const SEP: char = '\u{1f}';

/// The stages a partner's report is shown in, in the order of a report's life.
pub const STAGES: [&str; 5] = ["accepted", "normalized", "released", "withheld", "rejected"];

/// Returns the stage a report is shown in: its status, except that a report evaluated and released to nobody
/// (`normalized` with an `evaluated_at`) is `withheld` (docs/api.md, `GET /v1/reports/{id}`).
pub fn stage(status: &ReportStatus) -> &'static str {
    match status.status.as_str() {
        "rejected" => "rejected",
        "released" => "released",
        // Released to no one, for good: its partner retracted it.
        "retracted" => "withheld",
        "normalized" if status.evaluated_at.is_some() => "withheld",
        "normalized" => "normalized",
        _ => "accepted",
    }
}

/// One day of a partner's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCounts {
    /// The UTC day of reception.
    pub day: NaiveDate,
    /// Reports received that day, per stage ([`STAGES`] order).
    pub counts: [u64; 5],
}

fn day_of(at: &str) -> Option<NaiveDate> {
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|at| at.with_timezone(&chrono::Utc).date_naive())
}

/// Returns the counter a report is counted under, or `None` while its partner or reception time is unknown.
pub(super) fn key(status: &ReportStatus) -> Option<String> {
    if status.partner.is_empty() {
        return None;
    }
    let day = day_of(&status.received_at)?;
    Some(format!(
        "{}{SEP}{}{SEP}{}",
        status.partner,
        day.format("%Y-%m-%d"),
        stage(status)
    ))
}

fn add(table: &mut Table<'_, &'static str, u64>, key: &str, up: bool) -> Result<(), redb::Error> {
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
}

/// Creates the table; on a store that has records but no counters yet, counts every record.
pub(super) fn ensure(txn: &WriteTransaction) -> Result<(), redb::Error> {
    let mut counters = txn.open_table(BY_DAY)?;
    if !counters.is_empty()? {
        return Ok(());
    }
    let reports = txn.open_table(REPORTS)?;
    for item in reports.iter()? {
        let (_, value) = item?;
        let Ok(status) = accord_runtime::packed::from_slice::<ReportStatus>(value.value()) else {
            continue;
        };
        if let Some(key) = key(&status) {
            add(&mut counters, &key, true)?;
        }
    }
    Ok(())
}

/// Opens the table in a write transaction.
pub(super) fn open(txn: &WriteTransaction) -> Result<Table<'_, &'static str, u64>, StatusError> {
    txn.open_table(BY_DAY)
        .map_err(|e| failed("failed to open the daily counts")(e.into()))
}

/// Moves a report from the counter it was counted under to its new one, when they differ.
pub(super) fn update(
    counters: &mut Table<'_, &'static str, u64>,
    previous: Option<String>,
    next: &ReportStatus,
) -> Result<(), StatusError> {
    let next = key(next);
    if previous == next {
        return Ok(());
    }
    let write = |counters: &mut Table<'_, &'static str, u64>, key: &str, up: bool| {
        add(counters, key, up).map_err(|e| failed("failed to update the daily counts")(e))
    };
    if let Some(previous) = previous {
        write(counters, &previous, false)?;
    }
    if let Some(next) = next {
        write(counters, &next, true)?;
    }
    Ok(())
}

impl StatusStore {
    /// Returns `partner`'s reports counted per day of reception and stage, for each of the `days` UTC days ending
    /// with `today`, oldest first (days without a report included, as zeros).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn daily_counts(
        &self,
        partner: &str,
        today: NaiveDate,
        days: u32,
    ) -> Result<Vec<DayCounts>, StatusError> {
        let first = today - Duration::days(i64::from(days.max(1)) - 1);
        let mut counted: BTreeMap<NaiveDate, [u64; 5]> = (0..days.max(1))
            .map(|offset| (first + Duration::days(i64::from(offset)), [0; 5]))
            .collect();
        let txn = self
            .db
            .begin_read()
            .map_err(|e| failed("failed to begin read")(e.into()))?;
        let counters = txn
            .open_table(BY_DAY)
            .map_err(|e| failed("failed to open the daily counts")(e.into()))?;
        let lower = format!("{partner}{SEP}{}", first.format("%Y-%m-%d"));
        // Every counter of the partner sorts below its name with the separator's successor.
        let upper = format!("{partner}\u{20}");
        let range = counters
            .range(lower.as_str()..upper.as_str())
            .map_err(|e| failed("failed to read the daily counts")(e.into()))?;
        for item in range {
            let (key, value) =
                item.map_err(|e| failed("failed to read the daily counts")(e.into()))?;
            let key = key.value();
            let mut parts = key.rsplit(SEP);
            let (Some(stage), Some(day)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Ok(day) = NaiveDate::parse_from_str(day, "%Y-%m-%d") else {
                continue;
            };
            let (Some(counts), Some(index)) = (
                counted.get_mut(&day),
                STAGES.iter().position(|known| *known == stage),
            ) else {
                continue;
            };
            counts[index] += value.value();
        }
        Ok(counted
            .into_iter()
            .map(|(day, counts)| DayCounts { day, counts })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Change;
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

    fn released(id: &str, to: &[&str]) -> Change {
        Change::Released {
            id: id.into(),
            partner: "bank".into(),
            indicators: 1,
            released_to: to.iter().map(|agency| (*agency).to_owned()).collect(),
            at: "2026-01-03T00:00:00Z".into(),
            trigger: "report received".into(),
            revoked_from: Vec::new(),
        }
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    /// The counts as `(day, [accepted, normalized, released, withheld, rejected])`, days with a report only.
    fn nonzero(store: &StatusStore, partner: &str) -> Vec<(String, [u64; 5])> {
        store
            .daily_counts(partner, date("2026-01-03"), 3)
            .unwrap()
            .into_iter()
            .filter(|day| day.counts.iter().any(|count| *count > 0))
            .map(|day| (day.day.to_string(), day.counts))
            .collect()
    }

    #[test]
    fn counts_follow_each_report_from_stage_to_stage_and_survive_a_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let store = StatusStore::open(dir.path()).unwrap();
        store
            .apply(
                vec![
                    accepted("r1", "bank", "2026-01-01T10:00:00Z"),
                    accepted("r2", "bank", "2026-01-01T23:59:59+00:00"),
                    accepted("r3", "bank", "2026-01-02T00:30:00+01:00"),
                    accepted("old", "bank", "2025-12-31T12:00:00Z"),
                    accepted("x1", "bank-a", "2026-01-02T00:00:00Z"),
                ],
                false,
            )
            .unwrap();
        // r3 was received on 2026-01-01 in UTC.
        assert_eq!(
            nonzero(&store, "bank"),
            [("2026-01-01".to_owned(), [3, 0, 0, 0, 0])]
        );
        store
            .apply(
                vec![
                    released("r1", &["ncu"]),
                    released("r2", &[]),
                    accepted("r1", "bank", "2026-01-01T10:00:00.000Z"),
                ],
                false,
            )
            .unwrap();
        let expected = [("2026-01-01".to_owned(), [1, 0, 1, 1, 0])];
        assert_eq!(nonzero(&store, "bank"), expected);
        assert_eq!(
            nonzero(&store, "bank-a"),
            [("2026-01-02".to_owned(), [1, 0, 0, 0, 0])]
        );
        let month = store.daily_counts("bank", date("2026-01-03"), 3).unwrap();
        assert_eq!(month.len(), 3, "every day of the range, zeros included");
        assert_eq!(month[0].day, date("2026-01-01"));

        // A store whose counters were lost (an older store) gets them rebuilt once, from the records.
        drop(store);
        let db = redb::Database::open(dir.path().join("status.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(BY_DAY).unwrap();
        txn.commit().unwrap();
        drop(db);
        let store = StatusStore::open(dir.path()).unwrap();
        assert_eq!(nonzero(&store, "bank"), expected);
    }
}
