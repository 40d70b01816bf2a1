//! What each partner's accepted submissions take, per UTC day: the counter its daily quota is checked against
//! (`gateway.max_partner_bytes_per_day`, [`crate::quota`]).
//!
//! Table `quota` holds one counter per `<partner> 0x1F <YYYY-MM-DD>`: the bytes of every submission and amendment
//! accepted that day (the body as sent plus the report once normalized). Each version of a report is counted once,
//! whoever counts it first: table `quota_charged` marks `<partner> 0x1F <day> 0x1F <report> 0x1F <version>` in the
//! transaction that adds it. The submit handler counts what it accepted at once; the status follower counts every
//! version it reads on `reports.raw` from the size the gateway wrote on it ([`topics::HEADER_QUOTA_BYTES`]). So every
//! gateway replica counts what every other accepted (each follows every partition, decision 0082), a status store
//! refilled from the bus counts the day again, and a replayed record counts nothing twice. Both tables keep only
//! today and yesterday: the days before are removed as the partner's next version is counted, and the follower
//! skips versions sent before yesterday.

use accord_domain::{Revision, Timestamp, report::version_of, topics};
use chrono::NaiveDate;
use redb::{ReadableTable, TableDefinition};

use super::{StatusError, StatusStore, failed};

const QUOTA: TableDefinition<'_, &str, u64> = TableDefinition::new("quota");
const CHARGED: TableDefinition<'_, &str, ()> = TableDefinition::new("quota_charged");

/// The separator between the parts of a key (organization ids cannot contain it).
const SEP: char = '\u{1f}';

fn key(partner: &str, day: NaiveDate) -> String {
    format!("{partner}{SEP}{}", day.format("%Y-%m-%d"))
}

/// Creates the tables.
pub(super) fn ensure(txn: &redb::WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(QUOTA)?;
    txn.open_table(CHARGED)?;
    Ok(())
}

/// One version of a report, counted against its partner's quota on the day it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The partner.
    pub partner: String,
    /// The day it was sent: a first version's reception, an amendment's revision.
    pub day: NaiveDate,
    /// The report.
    pub report: String,
    /// Its version (1 for the first).
    pub version: u32,
    /// What it takes: the body as sent plus the report once normalized.
    pub bytes: u64,
}

impl Charge {
    /// The charge of one version of a report, as the gateway wrote it on the bus: sent when it was received, or for an
    /// amendment when its revision was made.
    pub fn new(
        partner: &str,
        report: &str,
        received_at: Timestamp,
        revision: Option<&Revision>,
        bytes: u64,
    ) -> Self {
        Self {
            partner: partner.to_owned(),
            day: revision
                .map_or(received_at, |revision| revision.at)
                .date_naive(),
            report: report.to_owned(),
            version: version_of(revision),
            bytes,
        }
    }

    /// Returns the size the record's [`topics::HEADER_QUOTA_BYTES`] carries, if any (records written before it have
    /// none and are not counted by followers).
    pub fn bytes_of(headers: &[(String, String)]) -> Option<u64> {
        headers
            .iter()
            .find(|(name, _)| name == topics::HEADER_QUOTA_BYTES)
            .and_then(|(_, value)| value.parse().ok())
    }

    fn marker(&self) -> String {
        format!(
            "{}{SEP}{}{SEP}{}",
            key(&self.partner, self.day),
            self.report,
            self.version
        )
    }
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

    /// Counts each of `charges` that was not counted before (by this handler or by the follower) and removes, for
    /// each partner, the counters and marks of the days before the day before its charge. Not synced: a crash may
    /// forget the last versions counted (the quota errs on admitting; the follower counts them again).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn charge(&self, charges: &[Charge]) -> Result<(), StatusError> {
        if charges.is_empty() {
            return Ok(());
        }
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| failed("failed to begin write")(e.into()))?;
        txn.set_durability(redb::Durability::None)
            .map_err(|e| failed("failed to set durability")(e.into()))?;
        {
            let write = |e: redb::Error| failed("failed to write the quota counters")(e);
            let mut counters = txn.open_table(QUOTA).map_err(|e| write(e.into()))?;
            let mut charged = txn.open_table(CHARGED).map_err(|e| write(e.into()))?;
            for charge in charges {
                if charged
                    .insert(charge.marker().as_str(), ())
                    .map_err(|e| write(e.into()))?
                    .is_some()
                {
                    continue;
                }
                let today = key(&charge.partner, charge.day);
                let current = counters
                    .get(today.as_str())
                    .map_err(|e| write(e.into()))?
                    .map_or(0, |v| v.value());
                counters
                    .insert(today.as_str(), current.saturating_add(charge.bytes))
                    .map_err(|e| write(e.into()))?;
                if let Some(before) = charge.day.pred_opt() {
                    // Keys of one partner sort by day: everything below yesterday's is older.
                    let lower = format!("{}{SEP}", charge.partner);
                    let upper = key(&charge.partner, before);
                    let range = lower.as_str()..upper.as_str();
                    counters
                        .retain_in(range.clone(), |_, _| false)
                        .map_err(|e| write(e.into()))?;
                    charged
                        .retain_in(range, |_, _| false)
                        .map_err(|e| write(e.into()))?;
                }
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

    fn charge(partner: &str, on: &str, report: &str, version: u32, bytes: u64) -> Charge {
        Charge {
            partner: partner.to_owned(),
            day: day(on),
            report: report.to_owned(),
            version,
            bytes,
        }
    }

    #[test]
    fn counts_per_partner_and_day_and_forgets_the_days_before_yesterday() {
        let dir = tempfile::tempdir().unwrap();
        let store = StatusStore::open(dir.path()).unwrap();
        store
            .charge(&[
                charge("org-a", "2026-12-01", "r1", 1, 100),
                charge("org-a", "2026-12-01", "r2", 1, 50),
                charge("org-b", "2026-12-01", "r3", 1, 7),
            ])
            .unwrap();
        assert_eq!(store.charged("org-a", day("2026-12-01")).unwrap(), 150);
        assert_eq!(store.charged("org-b", day("2026-12-01")).unwrap(), 7);
        assert_eq!(store.charged("org-a", day("2026-12-02")).unwrap(), 0);
        // A partner whose name is another's prefix is counted apart.
        store
            .charge(&[charge("org-a2", "2026-12-01", "r4", 1, 1)])
            .unwrap();
        assert_eq!(store.charged("org-a", day("2026-12-01")).unwrap(), 150);

        store
            .charge(&[charge("org-a", "2026-12-02", "r5", 1, 1)])
            .unwrap();
        assert_eq!(
            store.charged("org-a", day("2026-12-01")).unwrap(),
            150,
            "yesterday is kept"
        );
        store
            .charge(&[charge("org-a", "2026-12-03", "r6", 1, 1)])
            .unwrap();
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

    #[test]
    fn each_version_counts_once_whoever_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = StatusStore::open(dir.path()).unwrap();
        // The handler counts what it accepted; the follower then reads the same versions on the bus, twice.
        store
            .charge(&[charge("org-a", "2026-12-01", "r1", 1, 100)])
            .unwrap();
        let from_bus = [
            charge("org-a", "2026-12-01", "r1", 1, 100),
            charge("org-a", "2026-12-01", "r1", 2, 30),
        ];
        store.charge(&from_bus).unwrap();
        store.charge(&from_bus).unwrap();
        assert_eq!(store.charged("org-a", day("2026-12-01")).unwrap(), 130);
    }

    #[test]
    fn an_amendment_counts_on_the_day_it_was_made() {
        let received: Timestamp = "2026-12-01T23:59:00Z".parse().unwrap();
        let revision = Revision {
            version: 2,
            by: "tok".to_owned(),
            at: "2026-12-02T00:01:00Z".parse().unwrap(),
        };
        let first = Charge::new("org-a", "r1", received, None, 10);
        assert_eq!((first.day, first.version), (day("2026-12-01"), 1));
        let amended = Charge::new("org-a", "r1", received, Some(&revision), 10);
        assert_eq!((amended.day, amended.version), (day("2026-12-02"), 2));
    }
}
