//! What an intruder with write access to a stopped search's data directory could do to the trail: only for tests
//! that prove a kept checkpoint detects it. Each opens the store in `dir` directly (it must not be open elsewhere)
//! and also removes the stored checkpoints the change would contradict, as a careful intruder would.

use std::path::Path;

use redb::{Database, ReadableTable};

use super::{AuditEntry, AuditRecord, CHECKPOINTS, GENESIS_HASH, RECORDS, STORE_FILE, chain_hash};

/// Keeps the first `keep` records and drops the rest, with every checkpoint past `keep`.
///
/// # Errors
/// A storage error.
pub fn truncate(dir: &Path, keep: u64) -> anyhow::Result<()> {
    let db = Database::open(dir.join(STORE_FILE))?;
    let txn = db.begin_write()?;
    {
        let mut records = txn.open_table(RECORDS)?;
        records.retain(|seq, _| seq <= keep)?;
        let mut checkpoints = txn.open_table(CHECKPOINTS)?;
        checkpoints.retain(|seq, _| seq <= keep)?;
    }
    txn.commit()?;
    Ok(())
}

/// Rewrites the whole chain from its first record with `edit` applied to every entry, recomputing every hash so
/// that every link of the new chain holds, and drops every stored checkpoint.
///
/// # Errors
/// A storage error.
pub fn rewrite(dir: &Path, edit: impl Fn(&mut AuditEntry)) -> anyhow::Result<()> {
    let db = Database::open(dir.join(STORE_FILE))?;
    let txn = db.begin_write()?;
    {
        let mut records = txn.open_table(RECORDS)?;
        let mut entries = Vec::new();
        for item in records.range(0..)? {
            let (_, value) = item?;
            let record: AuditRecord = serde_json::from_slice(value.value())?;
            entries.push(record.entry);
        }
        let mut prev_hash = GENESIS_HASH.to_owned();
        for (seq, mut entry) in (1_u64..).zip(entries) {
            edit(&mut entry);
            let hash = chain_hash(seq, &entry, &prev_hash);
            let record = AuditRecord {
                seq,
                entry,
                prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
                hash,
            };
            records.insert(seq, serde_json::to_vec(&record)?.as_slice())?;
        }
        let mut checkpoints = txn.open_table(CHECKPOINTS)?;
        checkpoints.retain(|_, _| false)?;
    }
    txn.commit()?;
    Ok(())
}
