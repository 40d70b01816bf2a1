//! The one writer of the trail: a thread that appends records in group commits, chains the batches of
//! `audit.records` the materializer hands it ([`super::topic`]), and signs checkpoints.
//!
//! Order, per batch of queued commands: every append of the batch is written in one transaction (immediate
//! durability) and answered; then every checkpoint request of the batch is answered with a checkpoint of the new
//! head, so a checkpoint asked for after an append covers it. A periodic checkpoint is made when the interval has
//! passed and the chain grew since the last one; a last one when every handle is dropped (shutdown), before the
//! thread ends and the store is released.

use std::{
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use accord_runtime::store::HealingDatabase;
use accord_runtime::telemetry::ErrorChain;
use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use tokio::sync::oneshot;

use super::{
    AuditEntry, AuditError, AuditRecord, CHECKPOINTS, GENESIS_HASH, RECORDS, chain_hash,
    checkpoint::{Checkpoint, CheckpointSigner},
    topic, verify,
};

/// Appends taken per transaction at most.
const MAX_BATCH: usize = 4096;

/// What the writer is asked to do.
pub(super) enum Command {
    /// Append one entry; answer its sequence number once durable (a log without a bus).
    Append(AuditEntry, oneshot::Sender<Result<u64, String>>),
    /// Chain what was delivered from `audit.records`, skipping redeliveries and duplicates, in one transaction with
    /// the applied offsets; answer what was chained.
    Chain(
        Vec<topic::Published>,
        oneshot::Sender<Result<Vec<topic::Chained>, String>>,
    ),
    /// Make every chained batch durable (the materializer, before its offsets are committed).
    Persist(oneshot::Sender<Result<(), String>>),
    /// Answer a signed checkpoint of the head.
    Checkpoint(oneshot::Sender<Result<Checkpoint, String>>),
    /// Answer a checkpoint of one stored record, not stored (an export's proof).
    SignRecord(u64, oneshot::Sender<Result<Option<Checkpoint>, String>>),
}

/// The writer thread and its queue; dropping it closes the queue and joins the thread, so the store is released
/// when the log is (a restart in the same process can reopen it at once).
pub(super) struct Writer {
    tx: Mutex<Option<mpsc::Sender<Command>>>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
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

impl Writer {
    /// Starts the thread on `db`, continuing the chain from its last record.
    ///
    /// # Errors
    /// Fails when the last record cannot be read or the thread cannot start.
    pub(super) fn start(
        db: Arc<HealingDatabase>,
        signer: CheckpointSigner,
        interval: Duration,
    ) -> anyhow::Result<Self> {
        let file = db.database()?;
        let (seq, hash) = last(&file)?;
        let latest = verify::latest_checkpoint(&*file)?;
        // Only the head against the latest checkpoint: a whole-chain verification is an auditor's request, not a
        // start-up cost.
        if let Some(latest) = &latest {
            let result = verify::check_checkpoint(&*file, &signer.public_key(), latest)?;
            if result != verify::CheckpointResult::Holds {
                tracing::error!(
                    checkpoint_seq = latest.seq,
                    head_seq = seq,
                    ?result,
                    "the audit trail does not match its latest stored checkpoint"
                );
            }
        }
        // The head is already covered when the latest stored checkpoint is of it and signed with this key.
        let checkpointed = latest
            .filter(|latest| {
                latest.seq == seq
                    && latest.hash == hash
                    && super::checkpoint::signature_holds(&signer.public_key(), latest)
            })
            .map(|latest| latest.seq);
        drop(file);
        let state = State {
            db,
            signer,
            seq,
            hash,
            checkpointed,
        };
        let (tx, rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("audit-writer".to_owned())
            .spawn(move || run(state, rx, interval))?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a command.
    ///
    /// # Errors
    /// [`AuditError::Stopped`] when the writer is gone.
    pub(super) fn send(&self, command: Command) -> Result<(), AuditError> {
        let tx = self
            .tx
            .lock()
            .ok()
            .and_then(|tx| tx.clone())
            .ok_or(AuditError::Stopped)?;
        tx.send(command).map_err(|_| AuditError::Stopped)
    }
}

/// Returns the sequence number and hash of the last record (0 and the genesis hash for an empty chain).
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

/// The writer's view of the chain.
struct State {
    db: Arc<HealingDatabase>,
    signer: CheckpointSigner,
    /// The head.
    seq: u64,
    hash: String,
    /// The head of the last checkpoint made or found, if it is still the head's.
    checkpointed: Option<u64>,
}

/// The thread: runs until every handle is dropped, then checkpoints the head once more.
fn run(mut state: State, rx: mpsc::Receiver<Command>, interval: Duration) {
    let mut due = Instant::now() + interval;
    loop {
        let wait = due.saturating_duration_since(Instant::now());
        let first = match rx.recv_timeout(wait) {
            Ok(command) => command,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                state.checkpoint_if_grown();
                due = Instant::now() + interval;
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                state.checkpoint_if_grown();
                return;
            }
        };
        let mut appends = Vec::new();
        let mut requests = Vec::new();
        let mut next = Some(first);
        while let Some(command) = next {
            match command {
                Command::Append(entry, reply) => appends.push((entry, reply)),
                Command::Chain(published, reply) => {
                    let _ = reply.send(state.chain(published).map_err(|error| error.to_string()));
                }
                Command::Persist(reply) => {
                    let _ = reply.send(state.persist().map_err(|error| error.to_string()));
                }
                Command::Checkpoint(reply) => requests.push(reply),
                Command::SignRecord(seq, reply) => {
                    let _ = reply.send(state.sign_record(seq).map_err(|error| error.to_string()));
                }
            }
            next = (appends.len() < MAX_BATCH)
                .then(|| rx.try_recv().ok())
                .flatten();
        }
        state.append(appends);
        for reply in requests {
            let _ = reply.send(state.checkpoint().map_err(|error| error.to_string()));
        }
        if Instant::now() >= due {
            state.checkpoint_if_grown();
            due = Instant::now() + interval;
        }
    }
}

impl State {
    /// Chains and writes `pending` in one transaction, then answers each.
    fn append(&mut self, pending: Vec<(AuditEntry, oneshot::Sender<Result<u64, String>>)>) {
        if pending.is_empty() {
            return;
        }
        let mut seq = self.seq;
        let mut hash = self.hash.clone();
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
        match write_records(&self.db, &records) {
            Ok(()) => {
                self.seq = seq;
                self.hash = hash;
                for ((_, reply), record) in pending.into_iter().zip(&records) {
                    let _ = reply.send(Ok(record.seq));
                }
            }
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "failed to write audit records; refusing the requests");
                for (_, reply) in pending {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
        }
    }

    /// Chains the admitted batches of `published` ([`topic::admit`]) after the head, in one transaction with the
    /// applied offsets; returns what was chained. The transaction is not synced: the records are durable on the bus
    /// already, and [`State::persist`] syncs before the materializer commits their offsets, so a crash loses only
    /// what the bus delivers again (decision 0080).
    fn chain(
        &mut self,
        published: Vec<topic::Published>,
    ) -> Result<Vec<topic::Chained>, redb::Error> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::None)?;
        let mut seq = self.seq;
        let mut hash = self.hash.clone();
        let mut records = Vec::new();
        let mut chained = Vec::new();
        for published in published {
            if !topic::admit(&txn, &published)? {
                continue;
            }
            let Some(batch) = published.batch else {
                continue;
            };
            chained.push(topic::Chained {
                source: format!("{}/{}", batch.writer, batch.epoch),
                batch: batch.batch,
                first_seq: seq + 1,
            });
            for entry in batch.entries {
                seq += 1;
                let record_hash = chain_hash(seq, &entry, &hash);
                records.push(AuditRecord {
                    seq,
                    entry,
                    prev_hash: std::mem::replace(&mut hash, record_hash.clone()),
                    hash: record_hash,
                });
            }
        }
        insert_records(&txn, &records)?;
        txn.commit()?;
        self.seq = seq;
        self.hash = hash;
        Ok(chained)
    }

    /// Makes every commit so far durable (an empty transaction with immediate durability).
    fn persist(&self) -> Result<(), redb::Error> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }

    /// Signs the stored record `seq` (its hash as stored), without storing the checkpoint.
    fn sign_record(&self, seq: u64) -> Result<Option<Checkpoint>, redb::Error> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(RECORDS)?;
        let Some(stored) = table.get(seq)? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice::<AuditRecord>(stored.value())
            .ok()
            .map(|record| self.signer.sign(seq, &record.hash)))
    }

    /// Signs the head when it moved since the last checkpoint (periodic and final checkpoints).
    fn checkpoint_if_grown(&mut self) {
        if self.checkpointed == Some(self.seq) {
            return;
        }
        if let Err(error) = self.checkpoint() {
            tracing::error!(error = %ErrorChain(&error), seq = self.seq, "failed to write audit checkpoint");
        }
    }

    /// Signs the head and stores the checkpoint (unless one of this `seq` is stored: never overwritten).
    fn checkpoint(&mut self) -> Result<Checkpoint, redb::Error> {
        let checkpoint = self.signer.sign(self.seq, &self.hash);
        let bytes = serde_json::to_vec(&checkpoint).unwrap_or_default();
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(CHECKPOINTS)?;
            if table.get(checkpoint.seq)?.is_none() {
                table.insert(checkpoint.seq, bytes.as_slice())?;
            }
        }
        txn.commit()?;
        self.checkpointed = Some(self.seq);
        tracing::debug!(seq = checkpoint.seq, "audit checkpoint signed");
        Ok(checkpoint)
    }
}

fn write_records(db: &HealingDatabase, records: &[AuditRecord]) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    insert_records(&txn, records)?;
    txn.commit()?;
    Ok(())
}

/// Stores chained records and their derived tables (mine, counts, keyed) in `txn`.
fn insert_records(
    txn: &redb::WriteTransaction,
    records: &[AuditRecord],
) -> Result<(), redb::Error> {
    {
        let mut table = txn.open_table(RECORDS)?;
        for record in records {
            let bytes = serde_json::to_vec(record).unwrap_or_default();
            table.insert(record.seq, bytes.as_slice())?;
        }
    }
    super::mine::index(txn, records)?;
    super::counts::count(txn, records)?;
    super::keyed::index(txn, records)?;
    Ok(())
}
