//! Accord's message bus: the [`Bus`] trait behind the cloneable [`BusClient`] handle.
//!
//! Semantics every implementation keeps (architecture.md, style.md §3):
//! - [`Bus::publish`] returns only once the records are durable (the embedded log has committed and synced them; Kafka
//!   has sent the delivery report with `acks=all`). Acknowledged means durable.
//! - Consumers in a named group resume from the group's committed position; delivery is at least once: a record is
//!   delivered again unless its offset was committed after it was processed.
//! - A subscription without a group reads the whole topic from the beginning and commits nothing: services use it to
//!   materialize the compacted topics (MoUs, directory).
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

use std::{fmt, sync::Arc};

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
