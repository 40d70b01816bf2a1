//! Each partner's reports in the order they were received, for `GET /v1/reports`.
//!
//! Table `by_partner` holds one key per report, `<partner> 0x1F <received_at in µs, 20 digits> 0x1F <report id>`
//! (organization ids cannot contain the separator), written in the same transaction as the record
//! ([`super::StatusStore::apply`]): a partner's keys are contiguous and ordered by reception, so listing newest first
//! is one reverse range scan, and a page ends at a key that the next page's range excludes. A store written before
//! this table existed gets it built once, when opened.

use accord_domain::Timestamp;
use redb::{ReadableTable, ReadableTableMetadata, Table, TableDefinition, WriteTransaction};

use super::{REPORTS, ReportStatus, StatusError, StatusStore, failed};

const BY_PARTNER: TableDefinition<'_, &str, ()> = TableDefinition::new("by_partner");

/// The separator between the parts of a key.
const SEP: char = '\u{1f}';

/// A page of a partner's reports, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The reports of the page.
    pub reports: Vec<ReportStatus>,
    /// Where the next page starts, when there is one.
    pub next: Option<ListingCursor>,
}

/// Where a page of a listing continues: opaque to clients (hex of the last key returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingCursor(String);

impl ListingCursor {
    /// Returns the cursor as clients see it.
    pub fn encode(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// Reads a cursor a client sent for `partner`'s listing; `None` when it is not one this store returned for
    /// that partner (another partner's cursor included).
    pub fn decode(partner: &str, text: &str) -> Option<Self> {
        let bytes = hex::decode(text).ok()?;
        let key = String::from_utf8(bytes).ok()?;
        key.starts_with(&prefix(partner)).then_some(Self(key))
    }
}

fn prefix(partner: &str) -> String {
    format!("{partner}{SEP}")
}

fn micros(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|at| at.timestamp_micros().max(0))
        .unwrap_or(0)
}

/// Returns the listing key of a report, or `None` while its partner is unknown.
pub(super) fn key(status: &ReportStatus) -> Option<String> {
    if status.partner.is_empty() {
        return None;
    }
    Some(format!(
        "{}{:020}{SEP}{}",
        prefix(&status.partner),
        micros(&status.received_at),
        status.id
    ))
}

/// Creates the table; on a store that has records but no listing yet, lists every record.
pub(super) fn ensure(txn: &WriteTransaction) -> Result<(), redb::Error> {
    let mut listing = txn.open_table(BY_PARTNER)?;
    if !listing.is_empty()? {
        return Ok(());
    }
    let reports = txn.open_table(REPORTS)?;
    for item in reports.iter()? {
        let (_, value) = item?;
        let Ok(status) = accord_runtime::packed::from_slice::<ReportStatus>(value.value()) else {
            continue;
        };
        if let Some(key) = key(&status) {
            listing.insert(key.as_str(), ())?;
        }
    }
    Ok(())
}

/// Opens the table in a write transaction.
pub(super) fn open(txn: &WriteTransaction) -> Result<Table<'_, &'static str, ()>, StatusError> {
    txn.open_table(BY_PARTNER)
        .map_err(|e| failed("failed to open the listing")(e.into()))
}

/// Moves a report's key when it changed (its partner or reception time became known).
pub(super) fn update(
    listing: &mut Table<'_, &'static str, ()>,
    previous: Option<String>,
    next: &ReportStatus,
) -> Result<(), StatusError> {
    let next = key(next);
    if previous == next {
        return Ok(());
    }
    if let Some(previous) = previous {
        listing
            .remove(previous.as_str())
            .map_err(|e| failed("failed to update the listing")(e.into()))?;
    }
    if let Some(next) = next {
        listing
            .insert(next.as_str(), ())
            .map_err(|e| failed("failed to update the listing")(e.into()))?;
    }
    Ok(())
}

impl StatusStore {
    /// Returns `partner`'s reports received at or after `since`, newest first, at most `limit` of them, continuing
    /// after `cursor`.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn list(
        &self,
        partner: &str,
        since: Option<Timestamp>,
        cursor: Option<&ListingCursor>,
        limit: usize,
    ) -> Result<Listed, StatusError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| failed("failed to begin read")(e.into()))?;
        let listing = txn
            .open_table(BY_PARTNER)
            .map_err(|e| failed("failed to open the listing")(e.into()))?;
        let reports = txn
            .open_table(REPORTS)
            .map_err(|e| failed("failed to open table")(e.into()))?;
        let since = since.map_or(0, |at| at.timestamp_micros().max(0));
        let lower = format!("{}{since:020}", prefix(partner));
        // Every key of the partner sorts below its prefix with the separator's successor.
        let upper = match cursor {
            Some(ListingCursor(key)) => key.clone(),
            None => format!("{partner}\u{20}"),
        };
        if upper <= lower {
            return Ok(Listed {
                reports: Vec::new(),
                next: None,
            });
        }
        let range = listing
            .range(lower.as_str()..upper.as_str())
            .map_err(|e| failed("failed to read the listing")(e.into()))?;
        let mut listed = Listed {
            reports: Vec::new(),
            next: None,
        };
        let mut last_key = None;
        for item in range.rev() {
            let (key, ()) = item
                .map(|(key, value)| (key, value.value()))
                .map_err(|e| failed("failed to read the listing")(e.into()))?;
            let key = key.value().to_owned();
            if listed.reports.len() == limit {
                listed.next = last_key.map(ListingCursor);
                break;
            }
            let Some(id) = key.rsplit(SEP).next() else {
                continue;
            };
            let record = reports
                .get(id)
                .map_err(|e| failed("failed to read status")(e.into()))?;
            if let Some(status) = record.and_then(|value| {
                accord_runtime::packed::from_slice::<ReportStatus>(value.value()).ok()
            }) {
                listed.reports.push(status);
            }
            last_key = Some(key);
        }
        Ok(listed)
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

    fn ids(listed: &Listed) -> Vec<&str> {
        listed
            .reports
            .iter()
            .map(|status| status.id.as_str())
            .collect()
    }

    #[test]
    fn a_partner_lists_its_own_reports_newest_first_in_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = StatusStore::open(dir.path()).unwrap();
        store
            .apply(
                vec![
                    accepted("r1", "bank", "2026-01-01T00:00:00Z"),
                    accepted("r2", "bank", "2026-01-02T00:00:00Z"),
                    accepted("r3", "bank", "2026-01-03T00:00:00Z"),
                    accepted("x1", "bank-a", "2026-01-04T00:00:00Z"),
                ],
                false,
            )
            .unwrap();
        // The same reception written in another form moves nothing.
        store
            .apply(
                vec![accepted("r2", "bank", "2026-01-02T00:00:00.000+00:00")],
                false,
            )
            .unwrap();
        let first = store.list("bank", None, None, 2).unwrap();
        assert_eq!(ids(&first), ["r3", "r2"]);
        let cursor = first.next.clone().unwrap();
        let decoded = ListingCursor::decode("bank", &cursor.encode()).unwrap();
        let second = store.list("bank", None, Some(&decoded), 2).unwrap();
        assert_eq!(ids(&second), ["r1"]);
        assert!(second.next.is_none());
        assert!(
            ListingCursor::decode("bank-a", &cursor.encode()).is_none(),
            "another partner's cursor is refused"
        );
        let since = chrono::DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            ids(&store.list("bank", Some(since), None, 10).unwrap()),
            ["r3", "r2"]
        );
        assert_eq!(ids(&store.list("bank-a", None, None, 10).unwrap()), ["x1"]);
        drop(store);
        // Reopening keeps the listing; an old store without one gets it built (here: nothing to rebuild).
        let store = StatusStore::open(dir.path()).unwrap();
        assert_eq!(store.list("bank", None, None, 10).unwrap().reports.len(), 3);
    }
}
