//! Verifying the audit chain: every link, and the head against a checkpoint.
//!
//! The same code answers `GET /v1/audit/verify`, `POST /v1/audit/verify` (with a checkpoint an auditor kept) and
//! `accord audit verify --data-dir … --checkpoint FILE` (offline, on a stopped service's store or a copy of it).
//!
//! A checkpoint is checked in this order: its signature under the deployment's public key (else `bad_signature`:
//! it is not one Accord made with this key); the chain must reach its `seq` (else `truncated`); the record at `seq`
//! must have its `hash` (else `rewritten`: the chain was rebuilt, even if every link of the new one holds). Without a
//! checkpoint from the caller, the latest one stored beside the trail is used, which catches a truncation that left
//! the stored checkpoints alone; only one kept outside Accord catches an intruder who removed those too.

use ed25519_dalek::VerifyingKey;
use redb::{ReadableDatabase, ReadableTable, TableError};
use serde::Serialize;

use super::{
    AuditError, AuditRecord, CHECKPOINTS, GENESIS_HASH, RECORDS, chain_hash,
    checkpoint::{Checkpoint, signature_holds},
    store_error,
};

/// Where the checkpoint a verification used came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointSource {
    /// Sent by the caller (an auditor's kept copy).
    Given,
    /// The latest one stored beside the trail.
    Stored,
}

/// What a checkpoint says about the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointResult {
    /// The record at its `seq` has its hash.
    Holds,
    /// The chain ends before its `seq`.
    Truncated,
    /// The record at its `seq` has another hash.
    Rewritten,
    /// Its signature is not valid under the deployment's key.
    BadSignature,
}

/// The checkpoint part of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointCheck {
    /// The checkpoint's `seq`.
    pub seq: u64,
    /// Where it came from.
    pub source: CheckpointSource,
    /// What it says.
    pub result: CheckpointResult,
}

/// The result of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Whether every link holds and the checkpoint (if any) holds.
    pub ok: bool,
    /// Records checked.
    pub records: u64,
    /// The first record whose hash or link is wrong.
    pub first_bad: Option<u64>,
    /// The checkpoint checked, if there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointCheck>,
}

/// The chain's own verdict.
struct Links {
    records: u64,
    first_bad: Option<u64>,
}

/// Verifies every link of the chain in `db`, then `checkpoint` (the caller's, else the latest stored one).
///
/// # Errors
/// A storage error.
pub(crate) fn verify_db(
    db: &impl ReadableDatabase,
    public_key: &VerifyingKey,
    given: Option<&Checkpoint>,
) -> Result<Verification, AuditError> {
    let links = verify_links(db)?;
    let (checkpoint, source) = match given {
        Some(checkpoint) => (Some(checkpoint.clone()), CheckpointSource::Given),
        None => (latest_checkpoint(db)?, CheckpointSource::Stored),
    };
    let checkpoint = match checkpoint {
        Some(checkpoint) => Some(CheckpointCheck {
            seq: checkpoint.seq,
            source,
            result: check_checkpoint(db, public_key, &checkpoint)?,
        }),
        None => None,
    };
    let holds = checkpoint
        .as_ref()
        .is_none_or(|check| check.result == CheckpointResult::Holds);
    Ok(Verification {
        ok: links.first_bad.is_none() && holds,
        records: links.records,
        first_bad: links.first_bad,
        checkpoint,
    })
}

/// Recomputes every hash and link.
fn verify_links(db: &impl ReadableDatabase) -> Result<Links, AuditError> {
    let txn = db
        .begin_read()
        .map_err(|e| store_error("failed to begin read")(e.into()))?;
    let table = txn
        .open_table(RECORDS)
        .map_err(|e| store_error("failed to open audit table")(e.into()))?;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut records = 0;
    let range = table
        .range(0..)
        .map_err(|e| store_error("failed to read audit records")(e.into()))?;
    for (expected_seq, item) in (1_u64..).zip(range) {
        let (key, value) =
            item.map_err(|e| store_error("failed to read audit record")(e.into()))?;
        records += 1;
        let seq = key.value();
        let record = serde_json::from_slice::<AuditRecord>(value.value()).ok();
        let good = record.as_ref().is_some_and(|record| {
            record.seq == seq
                && seq == expected_seq
                && record.prev_hash == prev_hash
                && record.hash == chain_hash(seq, &record.entry, &prev_hash)
        });
        let Some(record) = record.filter(|_| good) else {
            return Ok(Links {
                records,
                first_bad: Some(seq),
            });
        };
        prev_hash = record.hash;
    }
    Ok(Links {
        records,
        first_bad: None,
    })
}

/// Checks one checkpoint against the chain (see the module documentation for the order).
///
/// # Errors
/// A storage error.
pub(crate) fn check_checkpoint(
    db: &impl ReadableDatabase,
    public_key: &VerifyingKey,
    checkpoint: &Checkpoint,
) -> Result<CheckpointResult, AuditError> {
    if !signature_holds(public_key, checkpoint) {
        return Ok(CheckpointResult::BadSignature);
    }
    if checkpoint.seq == 0 {
        return Ok(if checkpoint.hash == GENESIS_HASH {
            CheckpointResult::Holds
        } else {
            CheckpointResult::Rewritten
        });
    }
    let txn = db
        .begin_read()
        .map_err(|e| store_error("failed to begin read")(e.into()))?;
    let table = txn
        .open_table(RECORDS)
        .map_err(|e| store_error("failed to open audit table")(e.into()))?;
    let stored = table
        .get(checkpoint.seq)
        .map_err(|e| store_error("failed to read audit record")(e.into()))?;
    let Some(stored) = stored else {
        return Ok(CheckpointResult::Truncated);
    };
    let hash = serde_json::from_slice::<AuditRecord>(stored.value())
        .map(|record| record.hash)
        .unwrap_or_default();
    Ok(if hash == checkpoint.hash {
        CheckpointResult::Holds
    } else {
        CheckpointResult::Rewritten
    })
}

/// Returns the latest checkpoint stored beside the trail.
///
/// # Errors
/// A storage error.
pub(crate) fn latest_checkpoint(
    db: &impl ReadableDatabase,
) -> Result<Option<Checkpoint>, AuditError> {
    let txn = db
        .begin_read()
        .map_err(|e| store_error("failed to begin read")(e.into()))?;
    // A store written before checkpoints existed has no such table (the read-only open of the command line).
    let table = match txn.open_table(CHECKPOINTS) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(error) => return Err(store_error("failed to open checkpoint table")(error.into())),
    };
    let last = table
        .last()
        .map_err(|e| store_error("failed to read checkpoints")(e.into()))?;
    Ok(last.and_then(|(_, value)| serde_json::from_slice(value.value()).ok()))
}
