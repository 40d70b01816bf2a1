//! Accord's message bus: the [`Bus`] trait behind the cloneable [`BusClient`] handle.
//!
//! Semantics every implementation keeps (architecture.md, style.md §3):
//! - [`Bus::publish`] returns only once the records are durable (the embedded log has committed and synced them; Kafka
//!   has sent the delivery report with `acks=all`). Acknowledged means durable.
//! - Consumers in a named group resume from the group's committed position; delivery is at least once: a record is
//!   delivered again unless its offset was committed after it was processed.
//! - A subscription without a group reads the whole topic from the beginning and commits nothing: services use it to
//!   materialize the compacted topics (MoUs, directory).
//! - A subscription tells which partitions it owns now ([`Subscription::ownership`]): in a group, the partitions
//!   assigned to this member, with a generation that changes at every assignment or revocation and, per partition,
//!   since when it has owned it; without a group, and on a backend with one partition and one process (the embedded
//!   log), every partition, for good ([`Owned::fixed`]). A record is only delivered while its partition is owned,
//!   and after the ownership shows it; a revocation waits for the [`Ownership::hold`] guards of the member.
//! - [`Bus::read_partition`] reads one partition of a topic from an offset up to the end taken when it opens, outside
//!   any group (nothing committed): what a member restores a newly owned partition's state from.
//!
//! Implementations: [`embedded`] (a durable log in the data directory, on redb) and `kafka` (Apache Kafka through
//! rdkafka, feature `kafka`, on by default). Every implementation passes the backend-neutral `conformance` suite
//! (feature `conformance`).

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
/// The header of a record delivered in place of a stored one that could not be read back (damaged bytes on the
/// embedded log): its value says where and why. The record has an empty payload, so every stage dead-letters it.
pub const HEADER_CORRUPT: &str = "accord-corrupt";

/// The topics whose records are keyed by report id and whose last record of a key is that report's state
/// (`reports.raw`, `reports.normalized`, `reports.releasable`: a new version, a retraction or a new evaluation replaces
/// what came before). Both backends compact them: the embedded log's cleaner (the `embedded` module's `cleaner`) and
/// Kafka's (`cleanup.policy=compact`), so that a retracted or amended report's earlier records leave the log. The
/// names of `accord_domain::topics`, which this crate does not depend on.
pub const KEYED_TOPICS: [&str; 3] = ["reports.raw", "reports.normalized", "reports.releasable"];

/// The header of a beacon: a record the Kafka bus writes into a partition of a keyed topic ([`KEYED_TOPICS`]) that
/// a member of a consumer group does not own and that has nothing left to read, to learn whether any member of the
/// group still reads it (the `kafka` module's `orphans`). Its key is [`BEACON_KEY`], so compaction keeps one per
/// partition. Grouped subscriptions never deliver one; a groupless reader of a keyed topic on Kafka sees them and
/// leaves them out ([`is_beacon`]).
pub const BEACON_HEADER: &str = "accord-beacon";

/// The key of every beacon ([`BEACON_HEADER`]): no report id has it.
pub const BEACON_KEY: &str = "accord-beacon";

/// Whether a record with these headers is a beacon ([`BEACON_HEADER`]).
pub fn is_beacon(headers: &[(String, String)]) -> bool {
    headers.iter().any(|(name, _)| name == BEACON_HEADER)
}

pub mod compression;
pub mod embedded;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod redb_file;
pub mod retry;
mod watermark;

use std::{collections::BTreeMap, fmt, sync::Arc};

use async_trait::async_trait;
use bytes::Bytes;

/// One record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Partitioning and compaction key (the report id, the MoU id).
    pub key: Option<String>,
    /// Headers (the record id for tracing).
    pub headers: Vec<(String, String)>,
    /// The payload (JSON).
    pub payload: Bytes,
}

impl Record {
    /// Returns a record with a key and a payload and no headers.
    pub fn new(key: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            key: Some(key.into()),
            headers: Vec::new(),
            payload: payload.into(),
        }
    }

    /// Returns the record's size as [`Bus::max_record_bytes`] counts it: key, headers and payload, with a few bytes
    /// of framing per field (the embedded log's encoding exactly; Kafka's framing is within the margin the Kafka
    /// bus adds to its producer limit).
    pub fn size(&self) -> usize {
        let key = self.key.as_ref().map_or(0, |key| 4 + key.len());
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| 8 + name.len() + value.len())
            .sum();
        2 + key + 4 + headers + self.payload.len()
    }
}

/// Where a delivered record sits: commit positions are built from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Partition (always 0 on the embedded log).
    pub partition: u32,
    /// Offset within the partition.
    pub offset: u64,
}

/// One delivered record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Topic it came from.
    pub topic: String,
    /// Where it sits.
    pub position: Position,
    /// The record.
    pub record: Record,
}

/// How to subscribe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// The topic.
    pub topic: String,
    /// The consumer group; `None` reads from the beginning and commits nothing.
    pub group: Option<String>,
}

/// A bus failure. Display does not print the cause chain.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The backend cannot be reached or failed an I/O operation; retrying may help.
    #[error("bus unavailable: {context}")]
    Unavailable {
        /// What was attempted.
        context: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The record can never be published (too large, malformed); retrying will not help.
    #[error("record refused by the bus: {0}")]
    Refused(String),
    /// The topic does not exist.
    #[error("unknown topic `{0}`")]
    UnknownTopic(String),
    /// The bus URL is not understood: the URL (secrets masked) and why.
    #[error("invalid bus url {0}")]
    InvalidUrl(String),
    /// The bus's settings do not fit together or name a file that cannot be read; the message names the setting.
    #[error("invalid bus configuration: {0}")]
    InvalidConfig(String),
    /// The brokers refused this client's credentials, or the TLS handshake failed (an untrusted or mismatched
    /// certificate): retrying will not help until the configuration changes.
    #[error("bus authentication failed: {context}: {reason}")]
    Authentication {
        /// What was attempted.
        context: String,
        /// What the client library reported (no secret).
        reason: String,
    },
    /// The bus was closed (shutdown).
    #[error("bus closed")]
    Closed,
}

impl BusError {
    /// Returns an [`BusError::Unavailable`] wrapping `source`.
    pub fn unavailable(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        BusError::Unavailable {
            context: context.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// A message bus.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Creates the topics that do not exist yet.
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError>;

    /// Appends `records` to `topic` and returns once they are durable, with their positions, in order.
    async fn publish(&self, topic: &str, records: Vec<Record>) -> Result<Vec<Position>, BusError>;

    /// Opens a subscription.
    async fn subscribe(&self, options: SubscribeOptions)
    -> Result<Box<dyn Subscription>, BusError>;

    /// Returns, per partition, the offset the next published record will get (the end of the log): a reader that
    /// has applied everything below it has caught up with what was published before the call.
    async fn end_offsets(&self, topic: &str) -> Result<Vec<Position>, BusError>;

    /// Returns `Ok` when the bus is reachable (for `/readyz`).
    async fn health(&self) -> Result<(), BusError>;

    /// Sets `group`'s committed offset on `topic` back to the start, so that its next subscription reads the whole
    /// topic again (rebuilding derived state: the index), and returns the offset it had (the sum over partitions).
    /// Only while no subscription of the group is open.
    ///
    /// # Errors
    /// [`BusError::Refused`] when the bus cannot do it (the default: Kafka's groups are reset with its own tools),
    /// else as the other calls.
    async fn rewind_group(&self, group: &str, topic: &str) -> Result<u64, BusError> {
        let _ = (group, topic);
        Err(BusError::Refused(
            "this bus cannot rewind a consumer group".to_owned(),
        ))
    }

    /// Returns, per partition of `topic`, the offset `group` has committed (the next record it reads; 0 when it has
    /// committed nothing). Deciding when a replay has caught up with [`Bus::end_offsets`] taken earlier (the
    /// indexer's online rebuild), and whether a group ever processed anything.
    ///
    /// # Errors
    /// [`BusError::Refused`] when the bus cannot tell (the default), else as the other calls.
    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<Position>, BusError> {
        let _ = (group, topic);
        Err(BusError::Refused(
            "this bus cannot read a group's committed offsets".to_owned(),
        ))
    }

    /// Opens a reader of one partition of `topic` from offset `from` (the first record at or after it) up to the
    /// partition's end as it is now ([`PartitionReader::end`]): outside any group, committing nothing. A member
    /// restores the state of a partition it was just assigned from it (the enforcer's store, from the compacted
    /// `reports.normalized`). Beacons ([`BEACON_HEADER`]) are left out.
    ///
    /// # Errors
    /// [`BusError::UnknownTopic`], [`BusError::Refused`] for a partition the topic does not have (or a bus that
    /// cannot do it: the default), else as the other calls.
    async fn read_partition(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
    ) -> Result<Box<dyn PartitionReader>, BusError> {
        let _ = (topic, partition, from);
        Err(BusError::Refused(
            "this bus cannot read a single partition".to_owned(),
        ))
    }

    /// Returns the largest record, by [`Record::size`], that [`Bus::publish`] accepts: a larger one is
    /// [`BusError::Refused`]. Stages check their output against it to dead-letter what can never be published.
    fn max_record_bytes(&self) -> usize;
}

/// A stream of deliveries from one topic.
#[async_trait]
pub trait Subscription: Send {
    /// Waits until at least one record is available, then returns up to `max` of them in order. Records delivered
    /// but not committed are delivered again after a restart (or a rebalance).
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Delivery>, BusError>;

    /// Marks these deliveries as processed and commits, for each partition, the highest position below which every
    /// delivered record has been marked (a contiguous watermark). Without a group this does nothing.
    async fn commit(&mut self, processed: &[Position]) -> Result<(), BusError>;

    /// Returns the view of the partitions this subscription owns ([`Ownership`]). A record of a partition is
    /// delivered only after the assignment that gave it shows there; a revoked partition leaves it before the
    /// revocation returns to the broker (so before another member can be given it), and only once no
    /// [`Ownership::hold`] guard is held.
    fn ownership(&self) -> Ownership;

    /// Returns the partitions this subscription owns now ([`Ownership::owned`]).
    fn owned(&self) -> Owned {
        self.ownership().owned()
    }
}

/// The partitions a subscription owns ([`Subscription::owned`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owned {
    /// Changes at every assignment and revocation; 0 before the first assignment and for a fixed ownership.
    pub generation: u64,
    /// The partitions owned now (empty while a group member waits for its first assignment), each with the
    /// generation since which this subscription has owned it without a break in which another member could have
    /// been given it: a partition revoked and assigned back in the same rebalance keeps it, one that was away (or
    /// whose assignment was lost) gets the generation of its new assignment.
    pub partitions: BTreeMap<u32, u64>,
    /// `true` when ownership never changes: a groupless subscription and the embedded log (one partition, one
    /// process) own every partition for their whole life, so there is nothing to restore on assignment.
    pub fixed: bool,
    /// `true` from a revocation to the next assignment of the same rebalance: partitions missing from `partitions`
    /// now may come back with their generation, so whoever leaves a partition alone because it is not owned should
    /// wait until this is `false` (the enforcer's tasks do).
    pub settling: bool,
}

impl Owned {
    /// Every partition in `partitions`, for good.
    pub fn fixed(partitions: impl IntoIterator<Item = u32>) -> Self {
        Self {
            generation: 0,
            partitions: partitions
                .into_iter()
                .map(|partition| (partition, 0))
                .collect(),
            fixed: true,
            settling: false,
        }
    }

    /// Whether `partition` is owned.
    pub fn owns(&self, partition: u32) -> bool {
        self.partitions.contains_key(&partition)
    }
}

/// A cloneable view of a subscription's ownership ([`Subscription::ownership`]), readable by any task while another
/// uses the subscription, and the gate that orders acting on owned partitions before their revocation.
#[derive(Clone)]
pub struct Ownership {
    view: Arc<dyn Fn() -> Owned + Send + Sync>,
    gate: Arc<tokio::sync::RwLock<()>>,
    /// The generation, sent at every change; `None` for a fixed ownership.
    generations: Option<tokio::sync::watch::Receiver<u64>>,
}

impl fmt::Debug for Ownership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ownership").field(&self.owned()).finish()
    }
}

/// Held while acting on owned partitions ([`Ownership::hold`]): no partition is revoked meanwhile.
pub type OwnershipGuard = tokio::sync::OwnedRwLockReadGuard<()>;

impl Ownership {
    /// Every partition in `partitions`, for good ([`Owned::fixed`]); holding it never waits.
    pub fn fixed(partitions: impl IntoIterator<Item = u32>) -> Self {
        let owned = Owned::fixed(partitions);
        Self {
            view: Arc::new(move || owned.clone()),
            gate: Arc::default(),
            generations: None,
        }
    }

    /// An ownership read through `view`, whose revocations take `gate`'s write side before the revoked partitions
    /// leave the view, and whose every change sends its new generation on `generations` (a backend's subscription
    /// builds it).
    pub fn new(
        view: impl Fn() -> Owned + Send + Sync + 'static,
        gate: Arc<tokio::sync::RwLock<()>>,
        generations: tokio::sync::watch::Receiver<u64>,
    ) -> Self {
        Self {
            view: Arc::new(view),
            gate,
            generations: Some(generations),
        }
    }

    /// Returns once the generation is no longer `generation` (at once if it already moved); never for a fixed
    /// ownership. Cancel safe: a subscription's reader waits for it beside its next batch, so that it notices an
    /// assignment or a revocation while no record arrives.
    pub async fn changed_from(&self, generation: u64) {
        let Some(generations) = &self.generations else {
            return std::future::pending().await;
        };
        let mut generations = generations.clone();
        if generations
            .wait_for(|current| *current != generation)
            .await
            .is_err()
        {
            // The subscription is gone: its ownership never changes again.
            std::future::pending::<()>().await;
        }
    }

    /// The partitions owned now.
    pub fn owned(&self) -> Owned {
        (self.view)()
    }

    /// Waits until no revocation is under way and returns a guard: while it is held, no partition that
    /// [`Ownership::owned`] shows is revoked (the revocation, and so the rebalance, waits for the guard). A member
    /// that publishes on behalf of its partitions (the enforcer's release sets) holds it from reading `owned` to the
    /// end of the publication, so that nothing it publishes for a partition follows what the partition's next owner
    /// published. Hold it briefly (a batch, a chunk) and never twice in one task: a revocation waiting between the
    /// two holds would wait for ever.
    pub async fn hold(&self) -> OwnershipGuard {
        self.gate.clone().read_owned().await
    }
}
/// A reader of one partition up to the end it had when opened ([`Bus::read_partition`]). Not cancel safe: a
/// [`PartitionReader::next_batch`] dropped before it returns may lose records, so the reader must be dropped too.
#[async_trait]
pub trait PartitionReader: Send {
    /// The offset the partition's next record would have got when the reader opened: it delivers records below it
    /// only.
    fn end(&self) -> u64;

    /// Returns up to `max` (at least one) of the next records in offset order, or an empty batch once every record
    /// below [`PartitionReader::end`] was returned (compaction leaves gaps: offsets are increasing, not dense).
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Delivery>, BusError>;
}

/// Settings of a bus that do not belong in its URL: the `[kafka]` section (TLS and SASL, with their secrets) and the
/// embedded log's page cache (`[memory] bus_cache_mib`).
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// TLS and SASL of the Kafka bus, merged with the URL's parameters.
    #[cfg(feature = "kafka")]
    pub kafka: kafka::KafkaSecurity,
    /// The embedded log's page cache in bytes; no effect on Kafka.
    pub embedded_cache_bytes: usize,
    /// The process's identity in Kafka consumer groups (`kafka::MemberIdentity`), so that a restart right after a
    /// crash resumes: at once under static membership (`group.instance.id`, KIP-345), otherwise once the dead
    /// predecessor's session is over. `None`: dynamic membership, joining at once. No effect on the embedded log.
    #[cfg(feature = "kafka")]
    pub member: Option<Arc<kafka::MemberIdentity>>,
}

impl Default for BusOptions {
    fn default() -> Self {
        Self {
            #[cfg(feature = "kafka")]
            kafka: kafka::KafkaSecurity::default(),
            embedded_cache_bytes: embedded::DEFAULT_CACHE_BYTES,
            #[cfg(feature = "kafka")]
            member: None,
        }
    }
}

/// The cloneable handle every service holds.
#[derive(Clone)]
pub struct BusClient(Arc<dyn Bus>);

impl fmt::Debug for BusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BusClient")
    }
}

impl BusClient {
    /// Wraps an implementation.
    pub fn new(bus: impl Bus) -> Self {
        Self(Arc::new(bus))
    }

    /// Opens the bus named by `url`: `embedded://DIR` (or a plain path), or, with the `kafka` feature,
    /// `kafka://host:port[,host:port…][?partitions=N&replication=N…]` (see `kafka::KafkaConfig::from_url`), with
    /// default [`BusOptions`].
    ///
    /// # Errors
    /// As [`BusClient::from_url_with`].
    pub async fn from_url(url: &str) -> Result<Self, BusError> {
        Self::from_url_with(url, &BusOptions::default()).await
    }

    /// Opens the bus named by `url` with `options` (a Kafka bus's TLS and SASL settings).
    ///
    /// # Errors
    /// Returns [`BusError::InvalidUrl`] for an unknown scheme or a malformed URL, [`BusError::InvalidConfig`] for
    /// settings that do not fit together, or the implementation's error when it cannot open.
    pub async fn from_url_with(url: &str, options: &BusOptions) -> Result<Self, BusError> {
        #[cfg(feature = "kafka")]
        if url.starts_with("kafka://") {
            let config = kafka::KafkaConfig::from_url(url)?.with_security(&options.kafka)?;
            let bus = kafka::KafkaBus::connect(config)?.with_member(options.member.clone());
            return Ok(Self::new(bus));
        }
        let embedded =
            |dir: &str| embedded::EmbeddedBus::open_sized(dir, options.embedded_cache_bytes);
        if let Some(dir) = url.strip_prefix("embedded://") {
            return Ok(Self::new(embedded(dir)?));
        }
        if !url.contains("://") {
            return Ok(Self::new(embedded(url)?));
        }
        Err(BusError::InvalidUrl(format!(
            "`{}`: unknown scheme",
            mask_url(url)
        )))
    }
}

/// Returns `url` with the values of secret parameters and the password of a `user:password@` part masked, for errors
/// about a URL that should not have held them.
pub(crate) fn mask_url(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &base[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..scheme_end + 3], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if query.is_empty() {
        return base;
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.contains("password") => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

impl std::ops::Deref for BusClient {
    type Target = dyn Bus;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}
