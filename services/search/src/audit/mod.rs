//! The audit trail: one record per investigator request, allowed or refused, in a SHA-256 hash chain.
//!
//! Each record carries the hash of the previous one; its own hash covers its canonical JSON (fixed field order)
//! including that previous hash, so changing, removing or reordering any record breaks every later link, and
//! [`AuditLog::verify`] names the first bad one. Appends are group-committed: one writer thread takes every queued
//! record, assigns sequence numbers, writes them in one redb transaction with immediate durability, and only then
//! answers the waiting requests — the response leaves after its record is on disk.

use std::{
    path::Path,
    sync::{Arc, mpsc},
    thread,
};

use accord_domain::Timestamp;
use accord_runtime::telemetry::ErrorChain;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

const RECORDS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("audit_records");

/// The hash that precedes the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a request was, before it is chained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the request was answered.
    pub at: Timestamp,
    /// The token's public id (`null` when no valid token was presented).
    pub token_id: Option<String>,
    /// The token's organization.
    pub organization: Option<String>,
    /// `GET /v1/indicators/{value}`, `POST /v1/search`, …
    pub endpoint: String,
    /// Stated purpose, as given.
    pub purpose: Option<String>,
    /// Stated case reference, as given.
    pub case: Option<String>,
    /// The query (value, values, q, filters).
    pub query: serde_json::Value,
    /// HTTP status answered.
    pub status: u16,
    /// How many results were returned.
    pub results: u64,
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
fn chain_hash(seq: u64, entry: &AuditEntry, prev_hash: &str) -> String {
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

fn store_error(context: &'static str) -> impl FnOnce(redb::Error) -> AuditError {
    move |error| AuditError::Store {
        context,
        source: Box::new(error),
    }
}

type Reply = oneshot::Sender<Result<u64, String>>;

/// The audit log handle.
#[derive(Clone)]
pub struct AuditLog {
    db: Arc<Database>,
    writer: Arc<Writer>,
}

/// The writer thread and its queue; dropping the last handle closes the queue and joins the thread, so the store
/// is released when the log is (a restart in the same process can reopen it at once).
struct Writer {
    tx: std::sync::Mutex<Option<mpsc::Sender<(AuditEntry, Reply)>>>,
    thread: std::sync::Mutex<Option<thread::JoinHandle<()>>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let handle = self.thread.lock().ok().and_then(|mut thread| thread.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
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

/// The result of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Whether every link holds.
    pub ok: bool,
    /// Records checked.
    pub records: u64,
    /// The first record whose hash or link is wrong.
    pub first_bad: Option<u64>,
}

impl AuditLog {
    /// Opens or creates the log in `dir` and starts its writer thread.
    ///
    /// # Errors
    /// Fails when the store cannot be opened.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        // A bounded page cache: appends touch only the tail; verification streams the whole file once.
        let db = Arc::new(
            Database::builder()
                .set_cache_size(32 * 1024 * 1024)
                .create(dir.join("audit.redb"))?,
        );
        let txn = db.begin_write()?;
        txn.open_table(RECORDS)?;
        txn.commit()?;
        let (last_seq, last_hash) = last(&db)?;
        let (tx, rx) = mpsc::channel();
        let writer_db = Arc::clone(&db);
        let thread = thread::Builder::new()
            .name("audit-writer".to_owned())
            .spawn(move || writer(writer_db, rx, last_seq, last_hash))?;
        let writer = Writer {
            tx: std::sync::Mutex::new(Some(tx)),
            thread: std::sync::Mutex::new(Some(thread)),
        };
        Ok(Self {
            db,
            writer: Arc::new(writer),
        })
    }

    /// Appends an entry and returns its receipt once it is durable.
    ///
    /// # Errors
    /// Fails when the store cannot write: the caller answers 503 and releases nothing.
    pub async fn append(&self, entry: AuditEntry) -> Result<AuditReceipt, AuditError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let tx = self
            .writer
            .tx
            .lock()
            .ok()
            .and_then(|tx| tx.clone())
            .ok_or(AuditError::Stopped)?;
        tx.send((entry, reply_tx))
            .map_err(|_| AuditError::Stopped)?;
        match reply_rx.await {
            Ok(Ok(seq)) => Ok(AuditReceipt { seq }),
            Ok(Err(message)) => Err(AuditError::Store {
                context: "failed to append audit record",
                source: message.into(),
            }),
            Err(_) => Err(AuditError::Stopped),
        }
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

    /// Recomputes every hash and link.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn verify(&self) -> Result<Verification, AuditError> {
        let txn = self
            .db
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
                return Ok(Verification {
                    ok: false,
                    records,
                    first_bad: Some(seq),
                });
            };
            prev_hash = record.hash;
        }
        Ok(Verification {
            ok: true,
            records,
            first_bad: None,
        })
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

fn last(db: &Database) -> anyhow::Result<(u64, String)> {
    let txn = db.begin_read()?;
    let table = txn.open_table(RECORDS)?;
    let Some(entry) = table.last()? else {
        return Ok((0, GENESIS_HASH.to_owned()));
    };
    let (key, value) = entry;
    let record: AuditRecord = serde_json::from_slice(value.value())?;
    Ok((key.value(), record.hash))
}

/// The group-commit writer: runs until every handle is dropped.
fn writer(
    db: Arc<Database>,
    rx: mpsc::Receiver<(AuditEntry, Reply)>,
    mut seq: u64,
    mut hash: String,
) {
    while let Ok(first) = rx.recv() {
        let mut pending = vec![first];
        while pending.len() < 4096 {
            let Ok(next) = rx.try_recv() else { break };
            pending.push(next);
        }
        let start_seq = seq;
        let start_hash = hash.clone();
        let mut records = Vec::with_capacity(pending.len());
        for (entry, _) in &pending {
            seq += 1;
            let record_hash = chain_hash(seq, entry, &hash);
            records.push(AuditRecord {
                seq,
                entry: entry.clone(),
                prev_hash: std::mem::replace(&mut hash, record_hash.clone()),
                hash: record_hash,
            });
        }
        match write_batch(&db, &records) {
            Ok(()) => {
                for ((_, reply), record) in pending.into_iter().zip(&records) {
                    let _ = reply.send(Ok(record.seq));
                }
            }
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "failed to write audit records; refusing the requests");
                seq = start_seq;
                hash = start_hash;
                for (_, reply) in pending {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
        }
    }
}

fn write_batch(db: &Database, records: &[AuditRecord]) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut table = txn.open_table(RECORDS)?;
        for record in records {
            let bytes = serde_json::to_vec(record).unwrap_or_default();
            table.insert(record.seq, bytes.as_slice())?;
        }
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(case: &str) -> AuditEntry {
        AuditEntry {
            at: chrono::Utc::now(),
            token_id: Some("tok-1".into()),
            organization: Some("ncu-de".into()),
            endpoint: "GET /v1/indicators/{value}".into(),
            purpose: Some("investigation".into()),
            case: Some(case.into()),
            query: serde_json::json!({"value": "1.2.3.4"}),
            status: 200,
            results: 1,
        }
    }

    #[tokio::test]
    async fn chain_verifies_survives_reopen_and_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        for index in 0..20 {
            log.append(entry(&format!("case-{index}"))).await.unwrap();
        }
        assert_eq!(
            log.verify().unwrap(),
            Verification {
                ok: true,
                records: 20,
                first_bad: None
            }
        );
        drop(log);
        let log = AuditLog::open(dir.path()).unwrap();
        assert_eq!(log.append(entry("after-restart")).await.unwrap().seq(), 21);
        assert!(log.verify().unwrap().ok);

        let (records, _, _) = log.scan(0, 100, 1000, |_| true).unwrap();
        let mut forged = records[6].clone();
        forged.entry.case = Some("forged".into());
        log.tamper_for_tests(7, &serde_json::to_vec(&forged).unwrap())
            .unwrap();
        let verification = log.verify().unwrap();
        assert!(!verification.ok);
        assert_eq!(verification.first_bad, Some(7));
    }

    #[tokio::test]
    async fn concurrent_appends_get_distinct_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        let mut handles = Vec::new();
        for index in 0..200 {
            let log = log.clone();
            handles.push(tokio::spawn(async move {
                log.append(entry(&index.to_string())).await
            }));
        }
        let mut seqs = Vec::new();
        for handle in handles {
            seqs.push(handle.await.unwrap().unwrap().seq());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        assert_eq!(log.verify().unwrap().records, 200);
    }
}
