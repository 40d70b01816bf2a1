//! The embedded log's single writer thread, which group-commits every write.
//!
//! Every write (topic creation, appends, group offsets) is a [`Command`] on an unbounded channel, answered on a
//! oneshot. The writer blocks for one command, then drains whatever else is queued (up to [`MAX_BATCH_COMMANDS`] and
//! [`MAX_BATCH_BYTES`]), applies all of it in one redb write transaction with [`Durability::Immediate`], commits once
//! (one fsync for the whole batch), and only then answers every waiter and wakes the subscriptions. While it syncs,
//! new commands queue up and form the next batch, so the batch size grows with the load and the fsync cost is shared.
//!
//! The channel is unbounded, but each caller waits for its answer, so at most one command per concurrent caller is
//! queued: the publishers themselves are the backpressure.
//!
//! If a transaction fails, every command of the batch gets [`BusError::Unavailable`] and nothing of it is visible: the
//! in-memory offsets only move after a successful commit. After a failure redb refuses every further write until the
//! file is reopened: the writer then closes and reopens it with backoff (the private `reopen` module) until writes
//! succeed again, answering every command in between at once with the cause.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, PoisonError},
};

use redb::{Database, Durability, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::debug;

use super::{
    Shared,
    cleaner::{self, Clean, Cleaner},
    reopen::Broken,
};
use crate::{BusError, Position, retry::Trouble};

/// Topic name → next offset to append (the log end).
pub(super) const TOPICS: TableDefinition<'static, &str, u64> = TableDefinition::new("topics");

/// (group, topic) → next offset the group reads.
pub(super) const GROUP_OFFSETS: TableDefinition<'static, (&str, &str), u64> =
    TableDefinition::new("group_offsets");

/// Most commands applied in one transaction.
const MAX_BATCH_COMMANDS: usize = 4096;

/// Most record bytes appended in one transaction (a soft limit: the command that crosses it is still included).
const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// Returns the name of the log table of `topic`, whose keys are offsets and values encoded records.
pub(super) fn log_table_name(topic: &str) -> String {
    format!("log/{topic}")
}

/// Returns the definition of a log table named by [`log_table_name`].
pub(super) fn log_table(name: &str) -> TableDefinition<'_, u64, &'static [u8]> {
    TableDefinition::new(name)
}

/// Where a command's outcome goes.
pub(super) type Reply<T> = oneshot::Sender<Result<T, BusError>>;

/// One write, queued for the writer.
pub(super) enum Command {
    /// Creates the topics that do not exist yet.
    EnsureTopics {
        topics: Vec<String>,
        reply: Reply<()>,
    },
    /// Appends encoded records to a topic.
    Publish {
        topic: String,
        records: Vec<Vec<u8>>,
        reply: Reply<Vec<Position>>,
    },
    /// Tells the cleaner that a subscription of `group` reads `topic` (the `cleaner` module): writes nothing.
    Join {
        group: String,
        topic: String,
        reply: Reply<()>,
    },
    /// Stores a group's next offset on a topic.
    CommitOffset {
        group: String,
        topic: String,
        next: u64,
        reply: Reply<()>,
    },
}

impl Command {
    fn num_bytes(&self) -> usize {
        match self {
            Command::Publish { records, .. } => records.iter().map(Vec::len).sum(),
            Command::EnsureTopics { .. } | Command::CommitOffset { .. } | Command::Join { .. } => 0,
        }
    }
}

/// What the writer knows about one topic.
pub(super) struct TopicState {
    /// The next offset to append.
    pub(super) next: u64,
    /// Tells subscriptions the committed log end.
    pub(super) end_tx: watch::Sender<u64>,
}

/// Appends to one topic within a batch.
struct Append {
    first: u64,
    records: Vec<Vec<u8>>,
    replies: Vec<(Reply<Vec<Position>>, Vec<Position>)>,
}

impl Append {
    fn end(&self) -> u64 {
        self.first + self.records.len() as u64
    }
}

struct OffsetCommit {
    group: String,
    topic: String,
    next: u64,
    reply: Reply<()>,
}

/// One batch of commands, validated and with offsets assigned, before it is written.
#[derive(Default)]
struct Plan {
    new_topics: Vec<String>,
    ensures: Vec<Reply<()>>,
    appends: HashMap<String, Append>,
    offsets: Vec<OffsetCommit>,
    /// Groups that opened a subscription: (group, topic, reply).
    joins: Vec<(String, String, Reply<()>)>,
    /// What the cleaner cleans in the same transaction.
    cleans: Vec<Clean>,
}

impl Plan {
    fn writes_nothing(&self) -> bool {
        self.new_topics.is_empty()
            && self.offsets.is_empty()
            && self.cleans.is_empty()
            && self
                .appends
                .values()
                .all(|append| append.records.is_empty())
    }
}

/// The single writer of the log: owns the log ends and the write side of the database.
pub(super) struct Writer {
    /// The open file (`None` only while it is being reopened).
    pub(super) db: Option<Arc<Database>>,
    /// Where the file is, to reopen it (`None`: an in-memory database, which cannot be).
    pub(super) path: Option<PathBuf>,
    /// The page cache the file is reopened with.
    pub(super) cache_bytes: usize,
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
    pub(super) topics: HashMap<String, TopicState>,
    pub(super) shared: Arc<Shared>,
    num_transactions: u64,
    /// Set after a failed write until one succeeds.
    pub(super) broken: Option<Broken>,
    /// When it last recovered, with the backoff it had reached (see the `reopen` module).
    pub(super) relapse: Option<(std::time::Instant, crate::retry::Backoff)>,
    pub(super) trouble: Trouble,
    /// Compacts the keyed topics (the `cleaner` module).
    cleaner: Cleaner,
}

impl Writer {
    /// Creates the fixed tables if needed and loads the topics and their log ends; registers each topic's end
    /// watch in `shared`.
    ///
    /// # Errors
    /// Returns [`BusError::Unavailable`] when the database cannot be read or written.
    pub(super) fn load(
        db: Arc<Database>,
        path: Option<PathBuf>,
        commands: mpsc::UnboundedReceiver<Command>,
        shared: Arc<Shared>,
    ) -> Result<Self, BusError> {
        let loaded = load_topics(&db).map_err(|error| {
            BusError::unavailable("failed to load the topics of the bus log", error)
        })?;
        let cleaner = Cleaner::load(&db).map_err(|error| {
            BusError::unavailable("failed to load the compaction state of the bus log", error)
        })?;
        *shared.db.lock().unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(&db);
        let mut topics = HashMap::with_capacity(loaded.len());
        let mut ends = shared.ends.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, next) in loaded {
            let (end_tx, end_rx) = watch::channel(next);
            ends.insert(name.clone(), end_rx);
            topics.insert(name, TopicState { next, end_tx });
        }
        drop(ends);
        let what = match &path {
            Some(path) => format!("bus log {}", path.display()),
            None => "bus log (in memory)".to_owned(),
        };
        Ok(Self {
            db: Some(db),
            path,
            cache_bytes: super::DEFAULT_CACHE_BYTES,
            commands,
            topics,
            shared,
            num_transactions: 0,
            broken: None,
            relapse: None,
            trouble: Trouble::new(what),
            cleaner,
        })
    }

    /// Serves commands until every sender is gone, then returns (dropping the end watches, which tells the
    /// subscriptions that the bus closed).
    pub(super) fn run(mut self) {
        debug!(num_topics = self.topics.len(), "bus writer started");
        while self.step() {}
        debug!(
            num_transactions = self.num_transactions,
            "bus writer stopped"
        );
    }

    /// Waits for a command, then applies it with everything queued behind it. Returns `false` once the channel is
    /// closed and empty.
    fn step(&mut self) -> bool {
        let first = if self.broken.is_some() {
            self.wait_while_broken()
        } else if self.cleaning_due() {
            match self.commands.try_recv() {
                Ok(command) => Some(command),
                Err(mpsc::error::TryRecvError::Empty) => {
                    // The cleaner is behind and nobody waits: a transaction that only cleans.
                    self.apply(Vec::new());
                    return true;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            }
        } else {
            self.commands.blocking_recv()
        };
        let Some(first) = first else {
            return false;
        };
        let mut num_bytes = first.num_bytes();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_COMMANDS && num_bytes < MAX_BATCH_BYTES {
            let Ok(command) = self.commands.try_recv() else {
                break;
            };
            num_bytes += command.num_bytes();
            batch.push(command);
        }
        self.apply(batch);
        true
    }

    /// Returns the ranges of the keyed topics the cleaner may clean now.
    fn cleaning(&self) -> Vec<Clean> {
        let ends = |topic: &str| self.topics.get(topic).map(|state| state.next);
        self.cleaner.due(ends, std::time::Instant::now())
    }

    fn cleaning_due(&self) -> bool {
        !self.cleaning().is_empty()
    }

    /// Applies one batch in one transaction and answers every command of it.
    fn apply(&mut self, batch: Vec<Command>) {
        let num_commands = batch.len();
        let mut plan = self.plan(batch);
        plan.cleans = self.cleaning();
        if plan.writes_nothing() {
            self.finish(plan);
            return;
        }
        if let Some(cause) = self.reopen_if_due() {
            self.fail(plan, cause);
            return;
        }
        match self.write(&plan) {
            Ok(()) => {
                self.num_transactions += 1;
                self.recovered();
                debug!(num_commands, "committed a batch to the bus log");
                self.finish(plan);
            }
            Err(error) => {
                let error: Arc<dyn std::error::Error + Send + Sync> = Arc::new(error);
                self.broke(&error);
                self.fail(plan, error);
            }
        }
    }

    /// Validates the batch in queue order and assigns offsets. Publishing to an unknown topic is answered at once.
    fn plan(&self, batch: Vec<Command>) -> Plan {
        let mut plan = Plan::default();
        for command in batch {
            match command {
                Command::EnsureTopics { topics, reply } => {
                    for topic in topics {
                        if !self.topics.contains_key(&topic) && !plan.new_topics.contains(&topic) {
                            plan.new_topics.push(topic);
                        }
                    }
                    plan.ensures.push(reply);
                }
                Command::Publish {
                    topic,
                    records,
                    reply,
                } => {
                    let first = match self.topics.get(&topic) {
                        Some(state) => state.next,
                        None if plan.new_topics.contains(&topic) => 0,
                        None => {
                            let _ = reply.send(Err(BusError::UnknownTopic(topic)));
                            continue;
                        }
                    };
                    let append = plan.appends.entry(topic).or_insert_with(|| Append {
                        first,
                        records: Vec::new(),
                        replies: Vec::new(),
                    });
                    let start = append.end();
                    let positions = (start..start + records.len() as u64)
                        .map(|offset| Position {
                            partition: 0,
                            offset,
                        })
                        .collect();
                    append.records.extend(records);
                    append.replies.push((reply, positions));
                }
                Command::Join {
                    group,
                    topic,
                    reply,
                } => plan.joins.push((group, topic, reply)),
                Command::CommitOffset {
                    group,
                    topic,
                    next,
                    reply,
                } => {
                    plan.offsets.push(OffsetCommit {
                        group,
                        topic,
                        next,
                        reply,
                    });
                }
            }
        }
        plan
    }

    /// Writes the plan in one durable transaction.
    fn write(&self, plan: &Plan) -> Result<(), redb::Error> {
        let Some(db) = &self.db else {
            return Err(redb::Error::DatabaseAlreadyOpen);
        };
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut topics = txn.open_table(TOPICS)?;
            for topic in &plan.new_topics {
                topics.insert(topic.as_str(), 0)?;
                txn.open_table(log_table(&log_table_name(topic)))?;
            }
            for (topic, append) in &plan.appends {
                if append.records.is_empty() {
                    continue;
                }
                let name = log_table_name(topic);
                let mut log = txn.open_table(log_table(&name))?;
                for (offset, record) in (append.first..).zip(&append.records) {
                    log.insert(offset, record.as_slice())?;
                }
                topics.insert(topic.as_str(), append.end())?;
            }
            if !plan.offsets.is_empty() {
                let mut offsets = txn.open_table(GROUP_OFFSETS)?;
                for commit in &plan.offsets {
                    offsets.insert((commit.group.as_str(), commit.topic.as_str()), commit.next)?;
                }
            }
        }
        for clean in &plan.cleans {
            let removed = cleaner::clean(&txn, clean)?;
            debug!(
                topic = clean.topic,
                removed,
                to = clean.to,
                "cleaned a keyed topic"
            );
        }
        txn.commit()?;
        Ok(())
    }

    /// Publishes a committed plan: moves the log ends, wakes the subscriptions, answers the waiters.
    fn finish(&mut self, plan: Plan) {
        for topic in plan.new_topics {
            let (end_tx, end_rx) = watch::channel(0);
            self.shared
                .ends
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(topic.clone(), end_rx);
            self.topics.insert(topic, TopicState { next: 0, end_tx });
        }
        for (topic, append) in plan.appends {
            if !append.records.is_empty()
                && let Some(state) = self.topics.get_mut(&topic)
            {
                state.next = append.end();
                state.end_tx.send_replace(state.next);
            }
            for (reply, positions) in append.replies {
                let _ = reply.send(Ok(positions));
            }
        }
        for reply in plan.ensures {
            let _ = reply.send(Ok(()));
        }
        self.cleaner.cleaned(&plan.cleans);
        let now = std::time::Instant::now();
        self.joined(plan.joins);
        for commit in plan.offsets {
            self.cleaner
                .committed(&commit.group, &commit.topic, commit.next, now);
            let _ = commit.reply.send(Ok(()));
        }
    }

    /// Notes the groups that opened a subscription (nothing to write, so also when the transaction failed).
    fn joined(&mut self, joins: Vec<(String, String, Reply<()>)>) {
        let now = std::time::Instant::now();
        for (group, topic, reply) in joins {
            self.cleaner.joined(&group, &topic, now);
            let _ = reply.send(Ok(()));
        }
    }

    /// Answers every waiter of a failed plan; nothing of it was committed.
    fn fail(&mut self, plan: Plan, error: Arc<dyn std::error::Error + Send + Sync>) {
        self.joined(plan.joins);
        for reply in plan.ensures {
            let _ = reply.send(Err(BusError::unavailable(
                "failed to create topics",
                error.clone(),
            )));
        }
        for (topic, append) in plan.appends {
            for (reply, _) in append.replies {
                let context = format!("failed to commit append to topic `{topic}`");
                let _ = reply.send(Err(BusError::unavailable(context, error.clone())));
            }
        }
        for commit in plan.offsets {
            let context = format!(
                "failed to commit offset of group `{}` on topic `{}`",
                commit.group, commit.topic
            );
            let _ = commit
                .reply
                .send(Err(BusError::unavailable(context, error.clone())));
        }
    }
}

/// Creates the fixed tables if needed and returns every topic with its log end.
pub(super) fn load_topics(db: &Database) -> Result<Vec<(String, u64)>, redb::Error> {
    let txn = db.begin_write()?;
    let mut loaded = Vec::new();
    {
        txn.open_table(GROUP_OFFSETS)?;
        let topics = txn.open_table(TOPICS)?;
        for entry in topics.iter()? {
            let (name, next) = entry?;
            loaded.push((name.value().to_owned(), next.value()));
        }
    }
    txn.commit()?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use redb::backends::InMemoryBackend;

    use super::*;

    fn writer() -> (Writer, mpsc::UnboundedSender<Command>) {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Writer::load(Arc::new(db), None, rx, Arc::new(Shared::default())).unwrap(),
            tx,
        )
    }

    fn publish(
        tx: &mpsc::UnboundedSender<Command>,
        topic: &str,
        n: usize,
    ) -> oneshot::Receiver<Result<Vec<Position>, BusError>> {
        let (reply, rx) = oneshot::channel();
        let records = (0..n).map(|i| vec![i as u8]).collect();
        tx.send(Command::Publish {
            topic: topic.into(),
            records,
            reply,
        })
        .unwrap();
        rx
    }

    fn offsets(result: Result<Vec<Position>, BusError>) -> Vec<u64> {
        result
            .unwrap()
            .into_iter()
            .map(|position| position.offset)
            .collect()
    }

    #[test]
    fn applies_everything_queued_in_one_transaction() {
        let (mut writer, tx) = writer();
        let (reply, mut ensured) = oneshot::channel();
        tx.send(Command::EnsureTopics {
            topics: vec!["a".into(), "b".into(), "a".into()],
            reply,
        })
        .unwrap();
        let first = publish(&tx, "a", 2);
        let unknown = publish(&tx, "nope", 1);
        let second = publish(&tx, "b", 1);
        let third = publish(&tx, "a", 3);
        let empty = publish(&tx, "a", 0);

        assert!(writer.step());

        assert_eq!(writer.num_transactions, 1);
        ensured.try_recv().unwrap().unwrap();
        assert_eq!(offsets(first.blocking_recv().unwrap()), [0, 1]);
        assert!(
            matches!(unknown.blocking_recv().unwrap(), Err(BusError::UnknownTopic(topic)) if topic == "nope")
        );
        assert_eq!(offsets(second.blocking_recv().unwrap()), [0]);
        assert_eq!(offsets(third.blocking_recv().unwrap()), [2, 3, 4]);
        assert!(offsets(empty.blocking_recv().unwrap()).is_empty());
        let ends = writer.shared.ends.lock().unwrap();
        assert_eq!(*ends["a"].borrow(), 5);
        assert_eq!(*ends["b"].borrow(), 1);
    }

    #[test]
    fn answers_without_a_transaction_when_nothing_changes() {
        let (mut writer, tx) = writer();
        let (reply, _ensured) = oneshot::channel();
        tx.send(Command::EnsureTopics {
            topics: vec!["a".into()],
            reply,
        })
        .unwrap();
        assert!(writer.step());
        let (reply, mut ensured) = oneshot::channel();
        tx.send(Command::EnsureTopics {
            topics: vec!["a".into()],
            reply,
        })
        .unwrap();
        let unknown = publish(&tx, "nope", 1);
        assert!(writer.step());
        assert_eq!(writer.num_transactions, 1);
        ensured.try_recv().unwrap().unwrap();
        assert!(matches!(
            unknown.blocking_recv().unwrap(),
            Err(BusError::UnknownTopic(_))
        ));
    }

    #[test]
    fn stops_when_every_sender_is_gone() {
        let (mut writer, tx) = writer();
        let pending = publish(&tx, "nope", 1);
        drop(tx);
        assert!(writer.step());
        assert!(pending.blocking_recv().unwrap().is_err());
        assert!(!writer.step());
    }
}
