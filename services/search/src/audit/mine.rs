//! Each token's own records, newest first, without walking the rest of the trail: `GET /v1/audit/mine` and the
//! investigator's dashboard.
//!
//! Table `audit_by_token` holds one key `(token id, seq)` per record made with a token, written by the writer in the
//! same transaction as the record: a token's keys are contiguous and ordered by `seq`, so its newest `limit` records
//! are one reverse range scan of `limit` keys and `limit` record reads, however many records other tokens made in
//! between (decision 0036). The record read is the chained one, and is kept only if it still names the token. A
//! trail written before this table existed gets it built once, when opened (the key `("", 0)` marks it built: token
//! ids are never empty).

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{AuditError, AuditLog, AuditRecord, RECORDS, store_error};

pub(crate) const BY_TOKEN: TableDefinition<'_, (&str, u64), ()> =
    TableDefinition::new("audit_by_token");

/// The key that says the table covers every record (written once, when it was built or created).
const BUILT: (&str, u64) = ("", 0);

/// Creates the table; on a trail written before it existed, indexes every record once.
pub(super) fn ensure(txn: &WriteTransaction) -> Result<(), redb::Error> {
    let mut index = txn.open_table(BY_TOKEN)?;
    if index.get(BUILT)?.is_some() {
        return Ok(());
    }
    let records = txn.open_table(RECORDS)?;
    for item in records.iter()? {
        let (seq, value) = item?;
        let Ok(record) = serde_json::from_slice::<AuditRecord>(value.value()) else {
            continue;
        };
        if let Some(token) = record.entry.token_id.as_deref().filter(|id| !id.is_empty()) {
            index.insert((token, seq.value()), ())?;
        }
    }
    index.insert(BUILT, ())?;
    Ok(())
}

/// Indexes `records` in the writer's transaction.
pub(super) fn index(txn: &WriteTransaction, records: &[AuditRecord]) -> Result<(), redb::Error> {
    let mut index = txn.open_table(BY_TOKEN)?;
    for record in records {
        if let Some(token) = record.entry.token_id.as_deref().filter(|id| !id.is_empty()) {
            index.insert((token, record.seq), ())?;
        }
    }
    Ok(())
}

impl AuditLog {
    /// Returns the newest records made with token `token_id`, newest first, at most `limit`: reads `limit` keys and
    /// records, whatever the size of the trail.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn recent_of_token(
        &self,
        token_id: &str,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, AuditError> {
        if token_id.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self
            .db
            .begin_read()
            .map_err(|e| store_error("failed to begin read")(e.into()))?;
        let index = txn
            .open_table(BY_TOKEN)
            .map_err(|e| store_error("failed to open the token index")(e.into()))?;
        let table = txn
            .open_table(RECORDS)
            .map_err(|e| store_error("failed to open audit table")(e.into()))?;
        let range = index
            .range((token_id, 0)..=(token_id, u64::MAX))
            .map_err(|e| store_error("failed to read the token index")(e.into()))?;
        let mut records = Vec::new();
        for item in range.rev() {
            if records.len() >= limit {
                break;
            }
            let (key, ()) = item
                .map(|(key, value)| (key, value.value()))
                .map_err(|e| store_error("failed to read the token index")(e.into()))?;
            let seq = key.value().1;
            let Some(value) = table
                .get(seq)
                .map_err(|e| store_error("failed to read audit record")(e.into()))?
            else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<AuditRecord>(value.value()) else {
                continue;
            };
            if record.entry.token_id.as_deref() == Some(token_id) {
                records.push(record);
            }
        }
        Ok(records)
    }
}
