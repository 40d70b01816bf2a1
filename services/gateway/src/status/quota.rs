//! What each partner's accepted submissions take, per UTC day: the counter its daily quota is checked against
//! (`gateway.max_partner_bytes_per_day`, [`crate::quota`]).
//!
//! Table `quota` holds one counter per `<partner> 0x1F <YYYY-MM-DD>`: the bytes of every submission and amendment
//! the gateway accepted that day (the body as sent plus the report once normalized). Only the submit handlers write
//! it ([`StatusStore::charge`]), never the follower: a replay of the bus must not count a report twice. So the
//! counter is this gateway's, like the backlog (decision 0074 says what that leaves open). One counter per partner
//! and day; the days before yesterday are removed as the partner's next submission is counted.

use chrono::NaiveDate;
use redb::{ReadableTable, TableDefinition};

use super::{StatusError, StatusStore, failed};

const QUOTA: TableDefinition<'_, &str, u64> = TableDefinition::new("quota");

/// The separator between the parts of a key (organization ids cannot contain it).
const SEP: char = '\u{1f}';

fn key(partner: &str, day: NaiveDate) -> String {
    format!("{partner}{SEP}{}", day.format("%Y-%m-%d"))
}

/// Creates the table.
pub(super) fn ensure(txn: &redb::WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(QUOTA)?;
    Ok(())
}

impl StatusStore {
    /// Returns the bytes `partner`'s accepted submissions took on `day`.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn charged(&self, partner: &str, day: NaiveDate) -> Result<u64, StatusError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| failed("failed to begin read")(e.into()))?;
        let table = txn
            .open_table(QUOTA)
            .map_err(|e| failed("failed to open the quota counters")(e.into()))?;
        let value = table
            .get(key(partner, day).as_str())
            .map_err(|e| failed("failed to read the quota counters")(e.into()))?;
        Ok(value.map_or(0, |value| value.value()))
    }

    /// Adds `bytes` to what `partner`'s submissions took on `day`, and removes its counters of the days before
    /// yesterday. Not synced: a crash may forget the last submissions counted (the quota errs on admitting).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn charge(&self, partner: &str, day: NaiveDate, bytes: u64) -> Result<(), StatusError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| failed("failed to begin write")(e.into()))?;
        txn.set_durability(redb::Durability::None)
            .map_err(|e| failed("failed to set durability")(e.into()))?;
        {
            let mut table = txn
                .open_table(QUOTA)
                .map_err(|e| failed("failed to open the quota counters")(e.into()))?;
            let write =
                |e: redb::StorageError| failed("failed to write the quota counters")(e.into());
            let today = key(partner, day);
            let current = table
                .get(today.as_str())
                .map_err(write)?
                .map_or(0, |v| v.value());
            table
                .insert(today.as_str(), current.saturating_add(bytes))
                .map_err(write)?;
            if let Some(before) = day.pred_opt() {
                // Keys of one partner sort by day: everything below yesterday's is older.
                let lower = format!("{partner}{SEP}");
                let upper = key(partner, before);
                table
                    .retain_in(lower.as_str()..upper.as_str(), |_, _| false)
                    .map_err(write)?;
            }
        }
        txn.commit()
            .map_err(|e| failed("failed to commit the quota counters")(e.into()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn counts_per_partner_and_day_and_forgets_the_days_before_yesterday() {
        let dir = tempfile::tempdir().unwrap();
        let store = StatusStore::open(dir.path()).unwrap();
        store.charge("org-a", day("2026-12-01"), 100).unwrap();
        store.charge("org-a", day("2026-12-01"), 50).unwrap();
        store.charge("org-b", day("2026-12-01"), 7).unwrap();
        assert_eq!(store.charged("org-a", day("2026-12-01")).unwrap(), 150);
        assert_eq!(store.charged("org-b", day("2026-12-01")).unwrap(), 7);
        assert_eq!(store.charged("org-a", day("2026-12-02")).unwrap(), 0);
        // A partner whose name is another's prefix is counted apart.
        store.charge("org-a2", day("2026-12-01"), 1).unwrap();
        assert_eq!(store.charged("org-a", day("2026-12-01")).unwrap(), 150);

        store.charge("org-a", day("2026-12-02"), 1).unwrap();
        assert_eq!(
            store.charged("org-a", day("2026-12-01")).unwrap(),
            150,
            "yesterday is kept"
        );
        store.charge("org-a", day("2026-12-03"), 1).unwrap();
        assert_eq!(
            store.charged("org-a", day("2026-12-01")).unwrap(),
            0,
            "older days are removed"
        );
        assert_eq!(store.charged("org-a", day("2026-12-02")).unwrap(), 1);
        assert_eq!(
            store.charged("org-a2", day("2026-12-01")).unwrap(),
            1,
            "only the partner's own"
        );
        assert_eq!(store.charged("org-b", day("2026-12-01")).unwrap(), 7);

        // Kept across a reopen.
        drop(store);
        let store = StatusStore::open(dir.path()).unwrap();
        assert_eq!(store.charged("org-a", day("2026-12-03")).unwrap(), 1);
    }
}
