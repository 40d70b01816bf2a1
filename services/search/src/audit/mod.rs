//! The audit trail: one record per investigator request made with a valid token, allowed or refused, in a SHA-256
//! hash chain, with signed checkpoints of its head.
//!
//! Each record carries the hash of the previous one; its own hash covers its canonical JSON (fixed field order)
//! including that previous hash, so changing, removing or reordering any record breaks every later link, and
//! [`AuditLog::verify`] names the first bad one. Appends are group-committed: one writer thread takes every queued
//! record, assigns sequence numbers, writes them in one redb transaction with immediate durability, and only then
//! answers the waiting requests — the response leaves after its record is on disk.
//!
//! In the service the log runs [`AuditLog::on_bus`] (decision 0080, module [`topic`]): an append is published to the
//! deployment's topic `audit.records` (group-committed, durable on the bus) and every search process chains that
//! topic into its own store as above, so every replica holds the whole deployment's chain; the request is answered
//! once its own process has chained its record.
//!
//! The same thread signs [`checkpoint`]s of the head — every `search.audit_checkpoint_interval_secs` when the chain
//! grew, on demand (`GET /v1/audit/checkpoint`), and once more when the log closes at shutdown — and stores them
//! beside the records (table `audit_checkpoints`, keyed by `seq`, never overwritten). A checkpoint an auditor keeps
//! outside Accord is what detects a truncated chain or one rewritten from its first record ([`verify`]).
//!
//! Partners' amendments and retractions are recorded too, by a follower of the bus (`partners`): who, when and
//! why, never the content.
//!
//! What an auditor may read of the trail (its own organization's records, or all for the operator) is decided in
//! `crate::auditor`; requests without a valid token are counted (`accord_search_unauthenticated_total`), not
//! written here ([`crate::released`]).

pub mod checkpoint;
pub mod counts;
pub mod export;
pub mod keyed;
mod mine;
pub(crate) mod partners;
#[doc(hidden)]
pub mod tamper;
pub mod topic;
pub mod verify;
mod writer;

use std::{path::Path, sync::Arc, time::Duration};

use accord_domain::{Case, Timestamp};
use accord_runtime::{health::Health, memory::MemoryConfig, store::HealingDatabase};
use ed25519_dalek::VerifyingKey;
use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use self::{
    checkpoint::{Checkpoint, CheckpointSigner},
    verify::Verification,
    writer::{Command, Writer},
};
pub use self::{
    counts::DailyCounts,
    mine::{Brief, BriefRecord},
};

pub(crate) const RECORDS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("audit_records");
pub(crate) const CHECKPOINTS: TableDefinition<'_, u64, &[u8]> =
    TableDefinition::new("audit_checkpoints");

/// The store's file name in search's data directory.
pub const STORE_FILE: &str = "audit.redb";

/// The hash that precedes the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a request was, before it is chained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the request was answered.
    pub at: Timestamp,
    /// The token's public id (`null` only in records written before requests without a valid token stopped being
    /// recorded).
    pub token_id: Option<String>,
    /// The token's organization.
    pub organization: Option<String>,
    /// `GET /v1/indicators/{value}`, `POST /v1/search`, …
    pub endpoint: String,
    /// The stated purpose, normalized (`null` when none or an unknown one was stated).
    pub purpose: Option<String>,
    /// The stated case reference, normalized (`null` when none or an invalid one was stated).
    pub case: Option<Case>,
    /// The query (value, values, q, filters).
    pub query: serde_json::Value,
    /// HTTP status answered.
    pub status: u16,
    /// How many results were returned.
    pub results: u64,
    /// The search process that published the record to the deployment's trail (`audit.records`, decision 0080).
    /// Absent from records chained before that, and from a log without a bus; absent, it is not in the hashed form
    /// either, so those records keep their hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
}

/// A chained record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Sequence number, from 1.
    pub seq: u64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Hash of the previous record ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// Hash of this record.
    pub hash: String,
}

/// Returns the hash of a record from its sequence number, entry and previous hash.
pub(crate) fn chain_hash(seq: u64, entry: &AuditEntry, prev_hash: &str) -> String {
    #[derive(Serialize)]
    struct Hashed<'a> {
        seq: u64,
        entry: &'a AuditEntry,
        prev_hash: &'a str,
    }
    let canonical = serde_json::to_vec(&Hashed {
        seq,
        entry,
        prev_hash,
    })
    .unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

/// An audit failure: the request it belongs to must not be answered with results.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error("audit store failed: {context}")]
    Store {
        /// What was attempted.
        context: &'static str,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The writer is gone (shutdown).
    #[error("audit writer stopped")]
    Stopped,
}

pub(crate) fn store_error(context: &'static str) -> impl FnOnce(redb::Error) -> AuditError {
    move |error| AuditError::Store {
        context,
        source: Box::new(error),
    }
}

/// The audit log handle.
#[derive(Clone)]
pub struct AuditLog {
    db: Arc<HealingDatabase>,
    writer: Arc<Writer>,
    public_key: VerifyingKey,
    /// Set by [`AuditLog::on_bus`]: appends go through `audit.records`.
    publisher: Option<Arc<topic::Publisher>>,
}

/// Proof that one audit record is durable: returned only by [`AuditLog::append`], consumed by the one helper that
/// turns released data into a response ([`crate::released`]). Neither `Clone` nor constructible elsewhere.
#[derive(Debug)]
pub struct AuditReceipt {
    seq: u64,
}

impl AuditReceipt {
    /// Returns the sequence number of the record.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl AuditLog {
    /// Opens or creates the log in `dir` and starts its writer thread, which signs a checkpoint with `signer` every
    /// `interval` while the chain grows, and once more when the log is closed.
    ///
    /// # Errors
    /// Fails when the store cannot be opened.
    pub fn open(dir: &Path, signer: CheckpointSigner, interval: Duration) -> anyhow::Result<Self> {
        let cache_bytes = MemoryConfig::default().audit_cache_bytes();
        Self::open_with(dir, signer, interval, cache_bytes, None)
    }

    /// As [`AuditLog::open`], reporting the store's failures and recoveries to `health`: after an I/O error (a full
    /// disk) it reopens itself with backoff ([`accord_runtime::store`]); until then every append is refused, so
    /// nothing is released without its audit record.
    ///
    /// # Errors
    /// Fails when the store cannot be opened.
    pub fn open_with(
        dir: &Path,
        signer: CheckpointSigner,
        interval: Duration,
        cache_bytes: usize,
        health: Option<Health>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        // A bounded page cache: appends touch only the tail; verification streams the whole file once.
        let db = HealingDatabase::open(
            "search audit store",
            &dir.join(STORE_FILE),
            cache_bytes,
            health,
        )?;
        let txn = db.begin_write()?;
        txn.open_table(RECORDS)?;
        txn.open_table(CHECKPOINTS)?;
        mine::ensure(&txn)?;
        counts::ensure(&txn)?;
        keyed::ensure(&txn)?;
        topic::ensure(&txn)?;
        txn.commit()?;
        let public_key = signer.public_key();
        let writer = Writer::start(Arc::clone(&db), signer, interval)?;
        Ok(Self {
            db,
            writer: Arc::new(writer),
            public_key,
            publisher: None,
        })
    }

    /// Appends an entry and returns its receipt once it is durable: on a log [`AuditLog::on_bus`], once it is on
    /// `audit.records` and chained into this process's store ([`topic`]).
    ///
    /// # Errors
    /// Fails when the store cannot write, or the bus cannot publish: the caller answers 503 and releases nothing.
    pub async fn append(&self, entry: AuditEntry) -> Result<AuditReceipt, AuditError> {
        if let Some(publisher) = &self.publisher {
            let seq = publisher.append(entry).await?;
            return Ok(AuditReceipt { seq });
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        self.writer.send(Command::Append(entry, reply_tx))?;
        match reply_rx.await {
            Ok(Ok(seq)) => Ok(AuditReceipt { seq }),
            Ok(Err(message)) => Err(AuditError::Store {
                context: "failed to append audit record",
                source: message.into(),
            }),
            Err(_) => Err(AuditError::Stopped),
        }
    }

    /// Returns a signed checkpoint of the chain's head as it is now (every record appended before the call
    /// included), stored beside the trail.
    ///
    /// # Errors
    /// Fails when the store cannot write or the writer stopped.
    pub async fn checkpoint(&self) -> Result<Checkpoint, AuditError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.writer.send(Command::Checkpoint(reply_tx))?;
        match reply_rx.await {
            Ok(Ok(checkpoint)) => Ok(checkpoint),
            Ok(Err(message)) => Err(AuditError::Store {
                context: "failed to write audit checkpoint",
                source: message.into(),
            }),
            Err(_) => Err(AuditError::Stopped),
        }
    }

    /// Returns a checkpoint of record `seq` (its stored hash), signed now and not stored: the proof that ends an
    /// export ([`export`]). `None` when the trail has no such record.
    ///
    /// # Errors
    /// Fails when the store cannot be read or the writer stopped.
    pub async fn sign_record(&self, seq: u64) -> Result<Option<Checkpoint>, AuditError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.writer.send(Command::SignRecord(seq, reply_tx))?;
        match reply_rx.await {
            Ok(Ok(checkpoint)) => Ok(checkpoint),
            Ok(Err(message)) => Err(AuditError::Store {
                context: "failed to sign an audit record",
                source: message.into(),
            }),
            Err(_) => Err(AuditError::Stopped),
        }
    }

    /// Reads the range of an export: records with `seq > after`, whole when `keep` admits them and as links
    /// otherwise, from the first admitted one to the last, scanning at most `max_scan` records or until `max_records`
    /// are admitted.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub(crate) fn export_range(
        &self,
        after: u64,
        max_scan: usize,
        max_records: usize,
        keep: impl Fn(&AuditRecord) -> bool,
    ) -> Result<export::Range, AuditError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| store_error("failed to begin read")(e.into()))?;
        let table = txn
            .open_table(RECORDS)
            .map_err(|e| store_error("failed to open audit table")(e.into()))?;
        let range = table
            .range(after.saturating_add(1)..)
            .map_err(|e| store_error("failed to read audit records")(e.into()))?;
        let mut out = export::Range {
            scanned: after,
            exhausted: true,
            ..export::Range::default()
        };
        let mut admitted = 0;
        for (scanned, item) in range.enumerate() {
            if scanned >= max_scan || admitted >= max_records {
                out.exhausted = false;
                break;
            }
            let (key, value) =
                item.map_err(|e| store_error("failed to read audit record")(e.into()))?;
            out.scanned = key.value();
            let record = serde_json::from_slice::<AuditRecord>(value.value()).map_err(|error| {
                AuditError::Store {
                    context: "an audit record is unreadable",
                    source: Box::new(error),
                }
            })?;
            let keep = keep(&record);
            admitted += usize::from(keep);
            out.push(record, keep);
        }
        out.finish();
        Ok(out)
    }

    /// Returns the latest checkpoint stored beside the trail (the one of the highest `seq`).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        verify::latest_checkpoint(&*self.database()?)
    }

    /// The open store file, for a verification.
    fn database(&self) -> Result<Arc<redb::Database>, AuditError> {
        self.db
            .database()
            .map_err(|error| store_error("failed to open the audit store")(error.into()))
    }

    /// Returns the public key checkpoints are signed with.
    pub fn public_key(&self) -> VerifyingKey {
        self.public_key
    }

    /// Returns records with `seq > after`, oldest first, that pass `keep`, at most `limit`, scanning at most
    /// `max_scan` records; also returns the last sequence number scanned.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn scan(
        &self,
        after: u64,
        limit: usize,
        max_scan: usize,
        keep: impl Fn(&AuditRecord) -> bool,
    ) -> Result<(Vec<AuditRecord>, u64, bool), AuditError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| store_error("failed to begin read")(e.into()))?;
        let table = txn
            .open_table(RECORDS)
            .map_err(|e| store_error("failed to open audit table")(e.into()))?;
        let range = table
            .range(after.saturating_add(1)..)
            .map_err(|e| store_error("failed to read audit records")(e.into()))?;
        let mut records = Vec::new();
        let mut last_seen = after;
        let mut exhausted = true;
        for (scanned, item) in range.enumerate() {
            if scanned >= max_scan || records.len() >= limit {
                exhausted = false;
                break;
            }
            let (key, value) =
                item.map_err(|e| store_error("failed to read audit record")(e.into()))?;
            last_seen = key.value();
            let Ok(record) = serde_json::from_slice::<AuditRecord>(value.value()) else {
                continue;
            };
            if keep(&record) {
                records.push(record);
            }
        }
        Ok((records, last_seen, exhausted))
    }

    /// Returns the newest records that pass `keep`, newest first, at most `limit`, among the last `max_scan`
    /// records of the trail.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn scan_back(
        &self,
        limit: usize,
        max_scan: usize,
        keep: impl Fn(&AuditRecord) -> bool,
    ) -> Result<Vec<AuditRecord>, AuditError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| store_error("failed to begin read")(e.into()))?;
        let table = txn
            .open_table(RECORDS)
            .map_err(|e| store_error("failed to open audit table")(e.into()))?;
        let range = table
            .range(0..)
            .map_err(|e| store_error("failed to read audit records")(e.into()))?;
        let mut records = Vec::new();
        for item in range.rev().take(max_scan) {
            if records.len() >= limit {
                break;
            }
            let (_, value) =
                item.map_err(|e| store_error("failed to read audit record")(e.into()))?;
            let Ok(record) = serde_json::from_slice::<AuditRecord>(value.value()) else {
                continue;
            };
            if keep(&record) {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// Recomputes every hash and link, then checks `checkpoint` (an auditor's kept copy), else the latest one stored.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn verify(&self, checkpoint: Option<&Checkpoint>) -> Result<Verification, AuditError> {
        verify::verify_db(&*self.database()?, &self.public_key, checkpoint)
    }

    /// Overwrites a stored record's raw bytes: only for tests that prove tampering is detected.
    #[doc(hidden)]
    pub fn tamper_for_tests(&self, seq: u64, bytes: &[u8]) -> anyhow::Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(RECORDS)?;
            table.insert(seq, bytes)?;
        }
        txn.commit()?;
        Ok(())
    }
}

/// Verifies the trail of a stopped search (or a copy of its store) in `dir` against a checkpoint an auditor kept,
/// without starting anything: `accord audit verify`. Opens the store read-only.
///
/// # Errors
/// Fails when the store cannot be opened (missing, or in use by a running search) or read.
pub fn verify_offline(
    dir: &Path,
    checkpoint: &Checkpoint,
    public_key: &VerifyingKey,
) -> anyhow::Result<Verification> {
    let path = dir.join(STORE_FILE);
    // A damaged file (decision 0069) is an error naming it, never a crash: redb 4.6 panics on some damaged pages.
    let damaged = |why: String| {
        anyhow::anyhow!(
            "`{}` is damaged ({why}): the trail cannot be verified from this file; see \"A damaged store file\" in \
             docs/runbook.md",
            path.display()
        )
    };
    let verified = std::panic::catch_unwind(|| {
        let db = redb::ReadOnlyDatabase::open(&path).map_err(|error| match error {
            redb::DatabaseError::DatabaseAlreadyOpen
            | redb::DatabaseError::Storage(redb::StorageError::Io(_)) => {
                anyhow::anyhow!("failed to open {}: {error}", path.display())
            }
            error => damaged(error.to_string()),
        })?;
        verify::verify_db(&db, public_key, Some(checkpoint)).map_err(|error| match error {
            AuditError::Store { context, source } => damaged(format!("{context}: {source}")),
            error => error.into(),
        })
    });
    verified.unwrap_or_else(|_| Err(damaged(String::from("redb failed while reading it"))))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod topic_tests;
