//! One audit trail for the whole deployment (issue 18, decision 0080): every search process publishes its records to
//! the bus topic `audit.records` before it answers, and chains that topic, in order, into its own store.
//!
//! The contract:
//! - **Publishing.** [`AuditLog::append`] queues the entry; one task takes every queued entry (at most
//!   [`MAX_BATCH`], at most [`MAX_BATCH_BYTES`] of JSON) and publishes them as ONE bus record, a [`Batch`] `{ writer,
//!   epoch, batch, entries }`, keyed [`KEY`] (so it lands in one partition whatever the topic's partition count).
//!   The bus's publish returns once the record is durable (`acks=all` on Kafka, the commit on the embedded log). A
//!   failed publish fails every request of the batch (503, nothing released).
//! - **Who wrote it.** `writer` is the process's writer id, made once per store (table `audit_topic_meta`) and
//!   written into each entry's hashed `writer` field; `epoch` is drawn at random at each open of that store, and
//!   `batch` counts the publishes of one epoch from 1. (`writer`, `epoch`) therefore never reuses a `batch` number,
//!   even after a crash that lost what the process had published but not yet chained, or a store restored from a
//!   backup.
//! - **Chaining.** The materializer, a follower of `audit.records` in the consumer group
//!   `search-audit-chain-<writer id>` (a store lost with its volume gets a new id, hence a new group that reads from
//!   the start; a store found behind its group's committed offset, restored from a backup, switches to a new group
//!   `…-<epoch>` that reads from the start, kept in `audit_topic_meta`), hands each delivered batch to the log's
//!   writer thread, which chains its entries exactly as local appends were chained (same `seq`, `prev_hash`,
//!   `hash`, same tables) and stores, in the same transaction, the next offset to apply per partition
//!   (`audit_topic_applied`) and the last batch chained per (`writer`, `epoch`) (`audit_topic_writers`). A delivery below the applied offset (a redelivery after a crash between the store and
//!   the group commit) and a batch at or below its writer's last one (a duplicate publish) are skipped, so each
//!   record is chained once. Every process chains the same topic in the same order, so every store holds the same
//!   chain, record for record (after the records it held before it first chained the topic: an upgraded store keeps
//!   its local records first).
//! - **Durability.** The chaining transaction is not synced (the records are durable on the bus already); the
//!   materializer syncs the store (`Stage::durable`) before it commits the offsets of what it chained, so a crash
//!   loses only chained records whose offsets were not committed, which the bus delivers again.
//! - **Answering.** A request waits until its own process has chained its batch, and gets its record's `seq`: the
//!   response leaves after its record is durable on the bus and chained in its process's store, whose auditor reads
//!   it at once. A batch not chained within [`CHAIN_WAIT`] fails its requests (503).
//! - **Undecodable records** on the topic (not written by Accord) are logged and passed over: nothing can be chained
//!   from them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use accord_bus::{BusClient, Delivery, Position, Record};
use accord_domain::topics;
use accord_runtime::stage::{self, Stage, StageOptions};
use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{AuditEntry, AuditError, AuditLog, store_error, writer::Command};

/// The key of every record of `audit.records`.
pub const KEY: &str = "audit";

/// Entries published in one record at most.
pub const MAX_BATCH: usize = 4096;

/// The JSON of the entries of one record at most (a single larger entry is published alone, and refused by the
/// bus when over its record limit).
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// How long a request waits for its record to be chained by its own process before it is refused.
pub const CHAIN_WAIT: Duration = Duration::from_secs(60);

/// The writer id (`"writer"`) and the group chained in when it is not the default one (`"group"`).
const META: TableDefinition<'_, &str, &str> = TableDefinition::new("audit_topic_meta");
/// Partition → the next offset of `audit.records` to chain.
const APPLIED: TableDefinition<'_, u32, u64> = TableDefinition::new("audit_topic_applied");
/// `<writer>/<epoch>` → the last batch chained.
const WRITERS: TableDefinition<'_, &str, u64> = TableDefinition::new("audit_topic_writers");

/// One record of `audit.records`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The publishing process's writer id.
    pub writer: String,
    /// The open of the writer's store it was published in (random).
    pub epoch: u64,
    /// Its number within the epoch, from 1.
    pub batch: u64,
    /// The entries, in order.
    pub entries: Vec<AuditEntry>,
}

impl Batch {
    fn source(&self) -> String {
        source(&self.writer, self.epoch)
    }
}

fn source(writer: &str, epoch: u64) -> String {
    format!("{writer}/{epoch}")
}

/// A delivered record of `audit.records`, decoded (`None`: undecodable).
pub(super) struct Published {
    pub(super) position: Position,
    pub(super) batch: Option<Batch>,
}

/// A batch the writer thread chained: the `seq` of its first entry.
pub(super) struct Chained {
    pub(super) source: String,
    pub(super) batch: u64,
    pub(super) first_seq: u64,
}

/// Creates the tables.
///
/// # Errors
/// A storage error.
pub(super) fn ensure(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(META)?;
    txn.open_table(APPLIED)?;
    txn.open_table(WRITERS)?;
    Ok(())
}

/// Returns the store's writer id (made on first use, stored durably) and a new random epoch.
///
/// # Errors
/// A storage error.
pub(super) fn claim_identity(db: &redb::Database) -> Result<(String, u64), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(redb::Durability::Immediate)?;
    let identity = {
        let mut meta = txn.open_table(META)?;
        let writer = match meta.get("writer")? {
            Some(writer) => writer.value().to_owned(),
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        // Random, not counted: a store restored from a backup must not reuse an epoch it used after the backup.
        let epoch = uuid::Uuid::new_v4().as_u64_pair().0;
        meta.insert("writer", writer.as_str())?;
        (writer, epoch)
    };
    txn.commit()?;
    Ok(identity)
}

/// Returns the group stored (if any) and the next offset to chain per partition.
///
/// # Errors
/// A storage error.
fn read_group(db: &redb::Database) -> Result<(Option<String>, HashMap<u32, u64>), redb::Error> {
    use redb::ReadableDatabase as _;
    let txn = db.begin_read()?;
    let group = txn
        .open_table(META)?
        .get("group")?
        .map(|group| group.value().to_owned());
    let mut applied = HashMap::new();
    for item in txn.open_table(APPLIED)?.iter()? {
        let (partition, next) = item?;
        applied.insert(partition.value(), next.value());
    }
    Ok((group, applied))
}

/// Decides, inside the chaining transaction, whether `published` is to be chained: `false` for a delivery below
/// the applied offset (a redelivery), an undecodable record and a duplicate batch; records what it decided.
///
/// # Errors
/// A storage error.
pub(super) fn admit(txn: &WriteTransaction, published: &Published) -> Result<bool, redb::Error> {
    let Position { partition, offset } = published.position;
    let mut applied = txn.open_table(APPLIED)?;
    let next = applied.get(partition)?.map_or(0, |next| next.value());
    if offset < next {
        return Ok(false);
    }
    applied.insert(partition, offset + 1)?;
    let Some(batch) = &published.batch else {
        tracing::error!(
            partition,
            offset,
            "an undecodable record on audit.records: nothing chained from it"
        );
        return Ok(false);
    };
    let mut writers = txn.open_table(WRITERS)?;
    let source = batch.source();
    let last = writers.get(source.as_str())?.map_or(0, |last| last.value());
    if batch.batch <= last {
        tracing::warn!(
            %source,
            batch = batch.batch,
            last,
            "a duplicate batch on audit.records: not chained again"
        );
        return Ok(false);
    }
    writers.insert(source.as_str(), batch.batch)?;
    Ok(true)
}

/// The requests waiting for their batch to be chained: batch number → their replies, in entry order.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<HashMap<u64, Vec<Reply>>>>);

type Reply = oneshot::Sender<Result<u64, String>>;

impl Pending {
    fn insert(&self, batch: u64, replies: Vec<Reply>) {
        if let Ok(mut pending) = self.0.lock() {
            pending.insert(batch, replies);
        }
    }

    fn take(&self, batch: u64) -> Vec<Reply> {
        self.0
            .lock()
            .ok()
            .and_then(|mut pending| pending.remove(&batch))
            .unwrap_or_default()
    }
}

/// The queue of a log whose appends go through `audit.records`.
pub(super) struct Publisher {
    queue: mpsc::UnboundedSender<(AuditEntry, Reply)>,
    writer: String,
}

impl Publisher {
    /// Queues `entry` and waits until its own process has chained it; returns its `seq`.
    pub(super) async fn append(&self, mut entry: AuditEntry) -> Result<u64, AuditError> {
        entry.writer = Some(self.writer.clone());
        let (reply_tx, reply_rx) = oneshot::channel();
        self.queue
            .send((entry, reply_tx))
            .map_err(|_| AuditError::Stopped)?;
        match tokio::time::timeout(CHAIN_WAIT, reply_rx).await {
            Ok(Ok(Ok(seq))) => Ok(seq),
            Ok(Ok(Err(message))) => Err(AuditError::Store {
                context: "failed to publish audit record",
                source: message.into(),
            }),
            Ok(Err(_)) => Err(AuditError::Stopped),
            Err(elapsed) => Err(AuditError::Store {
                context: "the audit record was not chained in time",
                source: Box::new(elapsed),
            }),
        }
    }
}

/// What runs a log on `audit.records`: its publisher and its materializer ([`Trail::run`]).
pub struct Trail {
    bus: BusClient,
    log: AuditLog,
    queue: mpsc::UnboundedReceiver<(AuditEntry, Reply)>,
    writer: String,
    epoch: u64,
}

impl std::fmt::Debug for Trail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trail")
            .field("writer", &self.writer)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Returns this log with its appends going through `audit.records` on `bus`, and the [`Trail`] to run (until it
    /// runs, appends wait and then fail). Claims a new epoch of the store's writer id.
    ///
    /// # Errors
    /// Fails when the store cannot be written.
    pub fn on_bus(mut self, bus: BusClient) -> Result<(Self, Trail), AuditError> {
        let db = self.database()?;
        let (writer, epoch) =
            claim_identity(&db).map_err(store_error("failed to claim the audit writer id"))?;
        drop(db);
        tracing::info!(%writer, epoch, "audit records go through audit.records");
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        self.publisher = Some(Arc::new(Publisher {
            queue: queue_tx,
            writer: writer.clone(),
        }));
        let trail = Trail {
            bus,
            log: self.clone(),
            queue: queue_rx,
            writer,
            epoch,
        };
        Ok((self, trail))
    }
}

impl Trail {
    /// The consumer group of the materializer.
    pub fn group(&self) -> String {
        format!("search-audit-chain-{}", self.writer)
    }

    /// Returns the group to chain in: the one stored (else [`Trail::group`]), unless it committed past what the
    /// store holds (a store restored from a backup), in which case a new one, stored, that reads from the start.
    ///
    /// # Errors
    /// A storage error, or the bus cannot tell the group's offsets.
    async fn choose_group(&self) -> anyhow::Result<String> {
        let db = self.log.database()?;
        let (stored, applied) = read_group(&db)?;
        let group = stored.unwrap_or_else(|| self.group());
        let committed = self
            .bus
            .committed_offsets(&group, topics::AUDIT_RECORDS)
            .await?;
        let behind = committed.iter().any(|position| {
            position.offset > applied.get(&position.partition).copied().unwrap_or(0)
        });
        if !behind {
            return Ok(group);
        }
        let fresh = format!("{}-{}", self.group(), self.epoch);
        tracing::warn!(
            %group,
            %fresh,
            "the audit store is behind its consumer group (restored from a backup?): chaining audit.records from \
             its start in a new group, skipping what the store holds"
        );
        let txn = db.begin_write()?;
        txn.open_table(META)?.insert("group", fresh.as_str())?;
        txn.commit()?;
        Ok(fresh)
    }

    /// Publishes the queued entries and chains `audit.records` into the store until `shutdown`.
    ///
    /// # Errors
    /// When the topic cannot be created or subscribed to.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.bus.ensure_topics(&[topics::AUDIT_RECORDS]).await?;
        let group = self.choose_group().await?;
        let pending = Pending::default();
        let options = StageOptions {
            name: "search-audit-chain",
            topic: topics::AUDIT_RECORDS,
            group,
            batch_size: 1024,
            linger: Duration::ZERO,
        };
        let materializer = Materializer {
            log: self.log.clone(),
            source: source(&self.writer, self.epoch),
            pending: pending.clone(),
        };
        let publisher = PublishLoop {
            bus: self.bus.clone(),
            writer: self.writer,
            epoch: self.epoch,
            pending,
            carry: None,
        };
        let chain = stage::run(self.bus, options, materializer, shutdown.clone());
        let publish = publisher.run(self.queue, shutdown);
        let (chained, ()) = tokio::join!(chain, publish);
        chained
    }
}

/// The task that publishes queued entries, one record per batch.
struct PublishLoop {
    bus: BusClient,
    writer: String,
    epoch: u64,
    pending: Pending,
    /// An entry taken that did not fit the last batch.
    carry: Option<(Vec<u8>, Reply)>,
}

impl PublishLoop {
    async fn run(
        mut self,
        mut queue: mpsc::UnboundedReceiver<(AuditEntry, Reply)>,
        shutdown: CancellationToken,
    ) {
        let mut number = 0;
        loop {
            if self.carry.is_none() {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return,
                    next = queue.recv() => next,
                };
                let Some((entry, reply)) = next else { return };
                self.carry = Some((serde_json::to_vec(&entry).unwrap_or_default(), reply));
            }
            let (payload, replies) = self.gather(&mut queue);
            number += 1;
            self.publish(number, payload, replies).await;
        }
    }

    /// Takes the carried entry and every queued one that fits: the entries' JSON and their replies.
    fn gather(
        &mut self,
        queue: &mut mpsc::UnboundedReceiver<(AuditEntry, Reply)>,
    ) -> (Vec<Vec<u8>>, Vec<Reply>) {
        let mut entries = Vec::new();
        let mut replies = Vec::new();
        let mut bytes = 0;
        while let Some((json, reply)) = self.carry.take() {
            if !entries.is_empty() && bytes + json.len() > MAX_BATCH_BYTES {
                self.carry = Some((json, reply));
                break;
            }
            bytes += json.len();
            entries.push(json);
            replies.push(reply);
            if entries.len() >= MAX_BATCH {
                break;
            }
            self.carry = queue
                .try_recv()
                .ok()
                .map(|(entry, reply)| (serde_json::to_vec(&entry).unwrap_or_default(), reply));
        }
        (entries, replies)
    }

    /// Publishes batch `number`; its requests are answered by the materializer, or now when the publish failed.
    async fn publish(&self, number: u64, entries: Vec<Vec<u8>>, replies: Vec<Reply>) {
        let head =
            serde_json::json!({ "writer": self.writer, "epoch": self.epoch, "batch": number });
        let mut payload = serde_json::to_vec(&head).unwrap_or_default();
        payload.pop();
        payload.extend_from_slice(b",\"entries\":[");
        payload.extend_from_slice(&entries.join(&b','));
        payload.extend_from_slice(b"]}");
        // Registered before the publish: the materializer may chain it before the publish returns.
        self.pending.insert(number, replies);
        let record = Record::new(KEY, payload);
        if let Err(error) = self.bus.publish(topics::AUDIT_RECORDS, vec![record]).await {
            tracing::error!(
                error = %accord_runtime::telemetry::ErrorChain(&error),
                batch = number,
                "failed to publish audit records; refusing the requests"
            );
            for reply in self.pending.take(number) {
                let _ = reply.send(Err(error.to_string()));
            }
        }
    }
}

/// The follower that chains `audit.records` into the store.
struct Materializer {
    log: AuditLog,
    /// This process's `<writer>/<epoch>`: its batches answer waiting requests.
    source: String,
    pending: Pending,
}

#[async_trait]
impl Stage for Materializer {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let published = batch
            .iter()
            .map(|delivery| Published {
                position: delivery.position,
                batch: serde_json::from_slice(&delivery.record.payload).ok(),
            })
            .collect();
        let (reply_tx, reply_rx) = oneshot::channel();
        self.log.writer.send(Command::Chain(published, reply_tx))?;
        let chained = reply_rx
            .await
            .map_err(|_| AuditError::Stopped)?
            .map_err(|message| anyhow::anyhow!("failed to chain audit records: {message}"))?;
        for chained in chained
            .iter()
            .filter(|chained| chained.source == self.source)
        {
            for (seq, reply) in (chained.first_seq..).zip(self.pending.take(chained.batch)) {
                let _ = reply.send(Ok(seq));
            }
        }
        Ok(())
    }

    /// Syncs the store before the offsets of what it chained are committed.
    async fn durable(&mut self) -> anyhow::Result<()> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.log.writer.send(Command::Persist(reply_tx))?;
        reply_rx
            .await
            .map_err(|_| AuditError::Stopped)?
            .map_err(|message| anyhow::anyhow!("failed to sync the audit store: {message}"))
    }
}
