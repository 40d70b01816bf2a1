//! The records of one organization, and of one case, in order, without walking the rest of the trail: what lets the
//! audit console page through millions of records by `seq` (a keyset cursor) however selective its filter is.
//!
//! Tables `audit_by_org` and `audit_by_case` hold one key `(organization, seq)` and `(case, seq)` per record, written
//! by the writer in the same transaction as the record (as `audit_by_token`, module `mine`). A listing filtered by
//! case or by organization — or read by an agency's auditor, whose scope is its organization — walks that key's
//! range from the cursor on and reads only those records; the filter is still applied to each record read, so the
//! index only chooses which records to read, never what is shown. A case is indexed by its normalized form
//! ([`Case::parse`] of the stored one), as [`Case::matches`] compares. A trail written before these tables existed
//! gets them built once, when opened (the key `("", 0)` marks each built).

use accord_domain::Case;
use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::{AuditError, AuditLog, AuditRecord, RECORDS, store_error};

const BY_ORG: TableDefinition<'_, (&str, u64), ()> = TableDefinition::new("audit_by_org");
const BY_CASE: TableDefinition<'_, (&str, u64), ()> = TableDefinition::new("audit_by_case");

/// The key that says a table covers every record.
const BUILT: (&str, u64) = ("", 0);

/// Which records a keyed scan walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// The records of one organization.
    Organization(String),
    /// The records of one case (normalized).
    Case(String),
}

/// The normalized case a record is indexed under.
fn case_of(record: &AuditRecord) -> Option<String> {
    let stored = record.entry.case.as_ref()?;
    Case::parse(stored.as_str())
        .ok()
        .map(|case| case.as_str().to_owned())
}

/// Indexes `records` in the writer's transaction.
pub(super) fn index(txn: &WriteTransaction, records: &[AuditRecord]) -> Result<(), redb::Error> {
    let mut by_org = txn.open_table(BY_ORG)?;
    let mut by_case = txn.open_table(BY_CASE)?;
    for record in records {
        if let Some(org) = record
            .entry
            .organization
            .as_deref()
            .filter(|org| !org.is_empty())
        {
            by_org.insert((org, record.seq), ())?;
        }
        if let Some(case) = case_of(record) {
            by_case.insert((case.as_str(), record.seq), ())?;
        }
    }
    Ok(())
}

/// Creates the tables; on a trail written before them, indexes every record once.
pub(super) fn ensure(txn: &WriteTransaction) -> Result<(), redb::Error> {
    let built = txn.open_table(BY_ORG)?.get(BUILT)?.is_some()
        && txn.open_table(BY_CASE)?.get(BUILT)?.is_some();
    if built {
        return Ok(());
    }
    let records = txn.open_table(RECORDS)?;
    let mut batch = Vec::new();
    for item in records.iter()? {
        let (_, value) = item?;
        if let Ok(record) = serde_json::from_slice::<AuditRecord>(value.value()) {
            batch.push(record);
        }
        if batch.len() >= 4096 {
            index(txn, &std::mem::take(&mut batch))?;
        }
    }
    index(txn, &batch)?;
    txn.open_table(BY_ORG)?.insert(BUILT, ())?;
    txn.open_table(BY_CASE)?.insert(BUILT, ())?;
    Ok(())
}

impl AuditLog {
    /// As [`AuditLog::scan`], walking only the records of `key`: records with `seq > after` that pass `keep`,
    /// oldest first, at most `limit`, reading at most `max_scan` of the key's records; also returns the last
    /// sequence number read and whether the key's records ended.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn scan_by(
        &self,
        key: &Key,
        after: u64,
        limit: usize,
        max_scan: usize,
        keep: impl Fn(&AuditRecord) -> bool,
    ) -> Result<(Vec<AuditRecord>, u64, bool), AuditError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| store_error("failed to begin read")(e.into()))?;
        let (table, name) = match key {
            Key::Organization(org) => (BY_ORG, org.as_str()),
            Key::Case(case) => (BY_CASE, case.as_str()),
        };
        let index = txn
            .open_table(table)
            .map_err(|e| store_error("failed to open an audit index")(e.into()))?;
        let records = txn
            .open_table(RECORDS)
            .map_err(|e| store_error("failed to open audit table")(e.into()))?;
        let range = index
            .range((name, after.saturating_add(1))..=(name, u64::MAX))
            .map_err(|e| store_error("failed to read an audit index")(e.into()))?;
        let mut found = Vec::new();
        let mut last_seen = after;
        let mut exhausted = true;
        for (scanned, item) in range.enumerate() {
            if scanned >= max_scan || found.len() >= limit {
                exhausted = false;
                break;
            }
            let (entry, ()) = item
                .map(|(key, value)| (key.value().1, value.value()))
                .map_err(|e| store_error("failed to read an audit index")(e.into()))?;
            last_seen = entry;
            let Some(value) = records
                .get(entry)
                .map_err(|e| store_error("failed to read audit record")(e.into()))?
            else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<AuditRecord>(value.value()) else {
                continue;
            };
            if keep(&record) {
                found.push(record);
            }
        }
        Ok((found, last_seen, exhausted))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::audit::{AuditEntry, checkpoint::CheckpointSigner};

    fn entry(index: usize) -> AuditEntry {
        AuditEntry {
            at: chrono::Utc::now(),
            token_id: Some("tok-1".into()),
            organization: Some(format!("ncu-{}", index % 3)),
            endpoint: "POST /v1/search".into(),
            purpose: Some("investigation".into()),
            case: Some(Case::parse(&format!("C-{}", index % 5)).unwrap()),
            query: serde_json::json!({}),
            status: 200,
            results: 0,
            writer: None,
        }
    }

    fn seqs(records: &[AuditRecord]) -> Vec<u64> {
        records.iter().map(|record| record.seq).collect()
    }

    #[tokio::test]
    async fn a_keyed_scan_reads_what_a_full_scan_finds_page_by_page_and_is_rebuilt_for_an_older_trail()
     {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            AuditLog::open(
                dir.path(),
                CheckpointSigner::from_seed([2; 32]),
                Duration::from_secs(3600),
            )
            .unwrap()
        };
        let log = open();
        for index in 0..60 {
            log.append(entry(index)).await.unwrap();
        }
        let check = |log: &AuditLog| {
            for (key, keep) in [
                (
                    Key::Case("C-2".into()),
                    Box::new(|r: &AuditRecord| r.entry.case.as_ref().unwrap().as_str() == "C-2")
                        as Box<dyn Fn(&AuditRecord) -> bool>,
                ),
                (
                    Key::Organization("ncu-1".into()),
                    Box::new(|r: &AuditRecord| r.entry.organization.as_deref() == Some("ncu-1")),
                ),
            ] {
                let (all, _, _) = log.scan(0, 1000, 1000, &keep).unwrap();
                // Pages of 4 by the keyset cursor: the same records, in order, each once.
                let mut paged = Vec::new();
                let mut after = 0;
                loop {
                    let (page, last, exhausted) = log.scan_by(&key, after, 4, 1000, &keep).unwrap();
                    paged.extend(page);
                    after = last;
                    if exhausted {
                        break;
                    }
                }
                assert_eq!(seqs(&paged), seqs(&all), "{key:?}");
                assert_eq!(all.len(), if matches!(key, Key::Case(_)) { 12 } else { 20 });
            }
            // The filter still decides: a keyed scan shows nothing it does not admit.
            let (none, _, _) = log
                .scan_by(&Key::Case("C-2".into()), 0, 100, 1000, |_| false)
                .unwrap();
            assert!(none.is_empty());
        };
        check(&log);
        let txn = log.db.begin_write().unwrap();
        txn.delete_table(BY_ORG).unwrap();
        txn.delete_table(BY_CASE).unwrap();
        txn.commit().unwrap();
        drop(log);
        let log = open();
        check(&log);
    }
}
