//! The Kafka bus: [`Bus`] on Apache Kafka (or any broker speaking its protocol) through rdkafka/librdkafka.
//!
//! # Mapping
//! - A topic is a Kafka topic created by [`Bus::ensure_topics`] with [`KafkaConfig::partitions`] partitions and
//!   [`KafkaConfig::replication`] replicas; the compacted topics ([`KafkaConfig::compacted_topics`], `policy.mous`
//!   and `admin.directory`) get `cleanup.policy=compact` and a single partition (they are small, and their readers
//!   need one total order: an organization before its tokens, and one applied offset to wait for); the keyed topics
//!   ([`KafkaConfig::keyed_topics`], [`crate::KEYED_TOPICS`]) keep their partitions and get `cleanup.policy=compact`
//!   (`compact,delete` with a retention) with [`MIN_COMPACTION_LAG_MS`] and [`MAX_COMPACTION_LAG_MS`], so that a
//!   retracted or amended report's earlier records leave the log within a day; the log topics ([`LOG_TOPICS`]:
//!   `audit.records`) one partition and no retention (`retention.ms=-1`) whatever is configured; the others get
//!   `retention.ms` when configured; every one gets `max.message.bytes` from [`KafkaConfig::max_record_bytes`]
//!   (the producer's `message.max.bytes` is the same). Topics that exist are left as they are.
//! - A [`Position`] is (partition, offset). Records are partitioned by key, so the records of one report or one MoU
//!   stay in order; records without a key are spread by librdkafka.
//! - A consumer group of the [`Bus`] is a Kafka consumer group: members share the partitions, and the group resumes
//!   from its committed offsets (the `consumer` module tells the commit and rebalance story). A bus given a
//!   [`MemberIdentity`] makes its consumers static members (`group.instance.id`) when
//!   [`KafkaConfig::static_membership`] is on, and otherwise has them join only once a dead predecessor's session
//!   is over (the `membership` module).
//!
//! # Publishing
//! One idempotent producer (`enable.idempotence=true`, `acks=all`) per bus. [`Bus::publish`] enqueues every record
//! in order, then waits for *every* delivery report: it returns the positions only when all of them are on the
//! in-sync replicas, and otherwise the first error (records of the batch may have been written: a retry may
//! duplicate them, which at-least-once allows). A full local queue (`QueueFull`) is backpressure: the publish waits
//! and retries, up to the delivery timeout. A record the broker will never take (`MessageSizeTooLarge` and the like)
//! is [`BusError::Refused`]; see the `error` module.
//!
//! Publishing to a topic the bus has not seen yet first checks that it exists (one metadata request per topic and
//! process), so an unknown topic fails at once with [`BusError::UnknownTopic`] instead of after the delivery timeout.
//!
//! # Blocking calls
//! Metadata, watermark and admin calls of librdkafka block; they run in `spawn_blocking` with
//! [`KafkaConfig::request_timeout`].

mod config;
mod consumer;
mod error;
mod membership;
mod orphans;
mod reader;
mod security;
mod tracker;

use std::{
    collections::HashSet,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use rdkafka::{
    ClientContext, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    config::RDKafkaLogLevel,
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
    message::{Header, OwnedHeaders},
    producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer},
    types::RDKafkaErrorCode,
};
use tracing::{debug, info, instrument, warn};

pub use self::config::{
    COMPACTED_TOPICS, DEFAULT_MAX_RECORD_BYTES, FRAMING_BYTES, KafkaConfig, LOG_TOPICS,
    MAX_COMPACTION_LAG_MS, MAX_MAX_RECORD_BYTES, MIN_COMPACTION_LAG_MS,
};
pub use self::membership::{MIN_STATIC_SESSION_TIMEOUT, MemberIdentity};
pub use self::security::{KafkaSecurity, SaslMechanism, Secret, SecurityProtocol};
use self::{consumer::KafkaSubscription, error::AuthFailures};
use crate::{Bus, BusError, Position, Record, SubscribeOptions, Subscription};

/// How long a publish waits before retrying when librdkafka's queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(10);
/// How often `ensure_topics` looks for the topics it created in the metadata.
const METADATA_RETRY: Duration = Duration::from_millis(100);

/// The producer's and the admin client's context: librdkafka's errors go to `tracing` at WARN (they are transient:
/// librdkafka reconnects on its own), except authentication failures, which are recorded for the bus's errors and
/// logged at ERROR (the `error` module).
#[derive(Clone, Default)]
pub struct BusContext {
    failures: Arc<AuthFailures>,
}

impl ClientContext for BusContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.failures.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if !self.failures.record(&error, reason) {
            warn!(%error, reason, "kafka client error");
        }
    }
}

/// The Kafka bus; see the module documentation.
pub struct KafkaBus {
    config: KafkaConfig,
    producer: FutureProducer<BusContext>,
    admin: AdminClient<BusContext>,
    /// The last authentication failure any client of this bus reported.
    failures: Arc<AuthFailures>,
    /// Topics known to exist.
    known_topics: Mutex<HashSet<String>>,
    /// This process's identity in its consumer groups, if it has one (the `membership` module).
    member: Option<Arc<MemberIdentity>>,
}

impl fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaBus")
            .field("bootstrap_servers", &self.config.bootstrap_servers)
            .finish_non_exhaustive()
    }
}

impl KafkaBus {
    /// Creates the producer and the admin client. Connecting is lazy: an unreachable broker shows in
    /// [`Bus::health`] and in the first calls, not here.
    ///
    /// # Errors
    /// Returns [`BusError::InvalidConfig`] when the TLS or SASL settings do not fit together or name a file that
    /// cannot be read, [`BusError::Unavailable`] when librdkafka refuses the configuration.
    pub fn connect(config: KafkaConfig) -> Result<Self, BusError> {
        config
            .security
            .validate()
            .map_err(BusError::InvalidConfig)?;
        let failures = Arc::new(AuthFailures::default());
        let context = BusContext {
            failures: failures.clone(),
        };
        let producer = config
            .producer_config()
            .create_with_context(context.clone())
            .map_err(|error| BusError::unavailable("failed to create the kafka producer", error))?;
        let admin = config
            .admin_config()
            .create_with_context(context)
            .map_err(|error| {
                BusError::unavailable("failed to create the kafka admin client", error)
            })?;
        info!(
            bootstrap_servers = %config.bootstrap_servers.join(","),
            security_protocol = config.security.protocol().as_str(),
            sasl_mechanism = config.security.sasl_mechanism.map(|mechanism| mechanism.as_str()),
            sasl_username = config.security.sasl_username.as_deref(),
            "opened kafka bus"
        );
        Ok(Self {
            config,
            producer,
            admin,
            failures,
            known_topics: Mutex::default(),
            member: None,
        })
    }

    /// Gives the consumers of this bus the process's identity `member` (the `membership` module), so that a process
    /// restarted at once after a crash gets its partitions back: under static membership at once (`group.instance.id`),
    /// otherwise once its dead predecessor's session is over.
    #[must_use]
    pub fn with_member(mut self, member: Option<Arc<MemberIdentity>>) -> Self {
        self.member = member;
        self
    }

    /// Returns the configuration.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Returns the partition ids of `topic`, or [`BusError::UnknownTopic`].
    async fn partitions(&self, topic: &str) -> Result<Vec<i32>, BusError> {
        let producer = self.producer.clone();
        let failures = self.failures.clone();
        let (name, timeout) = (topic.to_owned(), self.config.request_timeout);
        let partitions = tokio::task::spawn_blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(Some(&name), timeout)
                .map_err(|error| {
                    failures
                        .unavailable(format!("failed to fetch metadata of topic `{name}`"), error)
                })?;
            failures.clear();
            let Some(found) = metadata.topics().iter().find(|found| found.name() == name) else {
                return Err(BusError::UnknownTopic(name));
            };
            match found.error() {
                Some(code) if self::error::is_unknown_topic(code.into()) => {
                    Err(BusError::UnknownTopic(name))
                }
                Some(code) => Err(BusError::Unavailable {
                    context: format!(
                        "failed to fetch metadata of topic `{name}`: {}",
                        RDKafkaErrorCode::from(code)
                    ),
                    source: None,
                }),
                None if found.partitions().is_empty() => Err(BusError::UnknownTopic(name)),
                None => Ok(found
                    .partitions()
                    .iter()
                    .map(|partition| partition.id())
                    .collect()),
            }
        })
        .await
        .map_err(|error| BusError::unavailable("failed to run a metadata request", error))??;
        known(&self.known_topics).insert(topic.to_owned());
        Ok(partitions)
    }

    /// Fails with [`BusError::UnknownTopic`] unless `topic` is known to exist.
    async fn check_topic(&self, topic: &str) -> Result<(), BusError> {
        if known(&self.known_topics).contains(topic) {
            return Ok(());
        }
        self.partitions(topic).await.map(drop)
    }

    /// Enqueues one record, waiting while librdkafka's queue is full.
    async fn enqueue(&self, topic: &str, record: &Record) -> Result<DeliveryFuture, BusError> {
        let started = Instant::now();
        loop {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for (key, value) in &record.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                });
            }
            let mut message = FutureRecord::to(topic)
                .payload(&record.payload[..])
                .headers(headers);
            if let Some(key) = &record.key {
                message = message.key(key.as_str());
            }
            match self.producer.send_result(message) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if started.elapsed() >= self.config.delivery_timeout {
                        return Err(BusError::Unavailable {
                            context: format!(
                                "the producer queue stayed full while publishing to topic `{topic}`"
                            ),
                            source: None,
                        });
                    }
                    debug!(topic, "producer queue full, waiting");
                    tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                }
                Err((error, _)) => {
                    return Err(self::error::publish_error(&self.failures, topic, error));
                }
            }
        }
    }

    /// Waits until every topic of `topics` shows in the metadata with its partitions.
    async fn wait_for_topics(&self, topics: &[String]) -> Result<(), BusError> {
        let deadline = Instant::now() + self.config.request_timeout;
        for topic in topics {
            loop {
                match self.partitions(topic).await {
                    Ok(_) => break,
                    Err(BusError::UnknownTopic(_)) if Instant::now() < deadline => {
                        tokio::time::sleep(METADATA_RETRY).await;
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(())
    }
}

fn known(topics: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    topics.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl Bus for KafkaBus {
    /// Creates the missing topics (compacted or with the configured retention) and waits until they are visible.
    ///
    /// Topic names must not be empty ([`BusError::Refused`]); a name or setting the broker rejects is refused too. A
    /// principal that may not create topics (no `Create` ACL) gets no error for that: the topics must then exist.
    #[instrument(skip_all, fields(num_topics = topics.len()))]
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        if topics.iter().any(|topic| topic.is_empty()) {
            return Err(BusError::Refused("topic name must not be empty".to_owned()));
        }
        let mut names: Vec<String> = Vec::with_capacity(topics.len());
        for topic in topics {
            if !names.iter().any(|name| name == topic) {
                names.push((*topic).to_owned());
            }
        }
        let specs: Vec<(&String, i32, Vec<(&'static str, String)>)> = names
            .iter()
            .map(|name| {
                let (partitions, settings) = self.config.topic_settings(name);
                (name, partitions, settings)
            })
            .collect();
        let new_topics: Vec<NewTopic<'_>> = specs
            .iter()
            .map(|(name, partitions, settings)| {
                let replication = TopicReplication::Fixed(i32::from(self.config.replication));
                settings.iter().fold(
                    NewTopic::new(name, *partitions, replication),
                    |topic, (key, value)| topic.set(key, value),
                )
            })
            .collect();
        let options = AdminOptions::new()
            .operation_timeout(Some(self.config.request_timeout))
            .request_timeout(Some(self.config.request_timeout));
        let results = self
            .admin
            .create_topics(&new_topics, &options)
            .await
            .map_err(|error| self.failures.unavailable("failed to create topics", error))?;
        for result in results {
            match result {
                Ok(topic) => info!(topic, "created topic"),
                Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => debug!(topic, "topic exists"),
                // A principal without the Create ACL (every service but the one that sets the cluster up): the
                // topic must exist already, which `wait_for_topics` checks below.
                Err((
                    topic,
                    RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed,
                )) => debug!(topic, "not allowed to create the topic; it must exist"),
                Err((topic, code))
                    if self::error::is_refusal(code)
                        || matches!(
                            code,
                            RDKafkaErrorCode::InvalidPartitions
                                | RDKafkaErrorCode::InvalidReplicationFactor
                                | RDKafkaErrorCode::InvalidConfig
                        ) =>
                {
                    return Err(BusError::Refused(format!(
                        "failed to create topic `{topic}`: {code}"
                    )));
                }
                Err((topic, code)) => {
                    return Err(self.failures.unavailable_without_source(format!(
                        "failed to create topic `{topic}`: {code}"
                    )));
                }
            }
        }
        self.wait_for_topics(&names).await
    }

    /// Publishes every record (keyed by [`Record::key`]) and returns once every delivery report succeeded.
    #[instrument(level = "debug", skip_all, fields(topic = %topic, num_records = records.len()))]
    async fn publish(&self, topic: &str, records: Vec<Record>) -> Result<Vec<Position>, BusError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        // The same contract as the embedded log: a record over the limit is refused before anything is sent.
        if let Some(record) = records
            .iter()
            .find(|record| record.size() > self.config.max_record_bytes)
        {
            return Err(BusError::Refused(format!(
                "record of {} bytes exceeds the bus's limit of {} bytes (`max_record_bytes`)",
                record.size(),
                self.config.max_record_bytes
            )));
        }
        self.check_topic(topic).await?;
        let mut deliveries = Vec::with_capacity(records.len());
        for record in &records {
            deliveries.push(self.enqueue(topic, record).await?);
        }
        // Every report is awaited, even after a failure, so that none is left behind.
        let mut positions = Vec::with_capacity(deliveries.len());
        let mut first_error = None;
        for delivery in deliveries {
            let outcome = match delivery.await {
                Ok(Ok(delivery)) => match (
                    u32::try_from(delivery.partition),
                    u64::try_from(delivery.offset),
                ) {
                    (Ok(partition), Ok(offset)) => Ok(Position { partition, offset }),
                    _ => Err(BusError::Unavailable {
                        context: format!(
                            "the broker returned an invalid position for topic `{topic}`"
                        ),
                        source: None,
                    }),
                },
                Ok(Err((error, _))) => {
                    Err(self::error::publish_error(&self.failures, topic, error))
                }
                Err(_canceled) => Err(BusError::Closed),
            };
            match outcome {
                Ok(position) => positions.push(position),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Some(error) = first_error {
            warn!(%error, topic, "failed to publish records");
            return Err(error);
        }
        Ok(positions)
    }

    /// Opens a consumer in the group, or a groupless reader of every partition from the beginning.
    ///
    /// # Errors
    /// Returns [`BusError::UnknownTopic`] when the topic does not exist.
    #[instrument(skip_all, fields(topic = %options.topic, group = ?options.group))]
    async fn subscribe(
        &self,
        options: SubscribeOptions,
    ) -> Result<Box<dyn Subscription>, BusError> {
        let partitions = self.partitions(&options.topic).await?;
        let member = match (&self.member, &options.group) {
            (Some(identity), Some(group)) => Some(identity.member(group, &options.topic)),
            _ => None,
        };
        let beacons = options
            .group
            .as_deref()
            .filter(|_| self.config.keyed_topics.contains(&options.topic))
            .map(|group| orphans::Beacons::new(self.producer.clone(), &options.topic, group));
        let subscription = KafkaSubscription::start(
            &self.config,
            options,
            &partitions,
            self.failures.clone(),
            member,
            beacons,
        )?;
        Ok(Box::new(subscription))
    }

    /// Opens a reader of one partition (the `reader` module) up to its high watermark now.
    #[instrument(level = "debug", skip_all, fields(topic = %topic, partition))]
    async fn read_partition(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
    ) -> Result<Box<dyn crate::PartitionReader>, BusError> {
        let ends = self.end_offsets(topic).await?;
        let Some(end) = ends.iter().find(|end| end.partition == partition) else {
            return Err(BusError::Refused(format!(
                "topic `{topic}` has no partition {partition}"
            )));
        };
        let (config, topic, end) = (self.config.clone(), topic.to_owned(), end.offset);
        let partition = i32::try_from(partition).unwrap_or(i32::MAX);
        tokio::task::spawn_blocking(move || {
            reader::KafkaPartitionReader::open(&config, &topic, partition, from, end)
        })
        .await
        .map_err(|error| BusError::unavailable("failed to open a partition reader", error))?
        .map(|reader| Box::new(reader) as Box<dyn crate::PartitionReader>)
    }

    /// Returns each partition's high watermark (the offset the next record will get).
    #[instrument(level = "debug", skip_all, fields(topic = %topic))]
    async fn end_offsets(&self, topic: &str) -> Result<Vec<Position>, BusError> {
        let partitions = self.partitions(topic).await?;
        let producer = self.producer.clone();
        let failures = self.failures.clone();
        let (name, timeout) = (topic.to_owned(), self.config.request_timeout);
        tokio::task::spawn_blocking(move || {
            let mut ends = Vec::with_capacity(partitions.len());
            for partition in partitions {
                let (_low, high) = producer
                    .client()
                    .fetch_watermarks(&name, partition, timeout)
                    .map_err(|error| {
                        failures.unavailable(
                            format!("failed to fetch the end of topic `{name}`"),
                            error,
                        )
                    })?;
                ends.push(Position {
                    partition: u32::try_from(partition).unwrap_or_default(),
                    offset: u64::try_from(high).unwrap_or_default(),
                });
            }
            Ok(ends)
        })
        .await
        .map_err(|error| BusError::unavailable("failed to run a watermark request", error))?
    }

    /// Reads the group's committed offsets with a consumer that never joins the group (an `OffsetFetch`).
    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<Position>, BusError> {
        let partitions = self.partitions(topic).await?;
        let config = self.config.consumer_config(Some(group));
        let failures = self.failures.clone();
        let (name, timeout) = (topic.to_owned(), self.config.request_timeout);
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = config.create().map_err(|error| {
                BusError::unavailable("failed to create a kafka consumer", error)
            })?;
            let mut wanted = TopicPartitionList::new();
            for partition in &partitions {
                wanted.add_partition(&name, *partition);
            }
            let committed = consumer
                .committed_offsets(wanted, timeout)
                .map_err(|error| {
                    failures.unavailable(
                        format!("failed to read the committed offsets of a group on `{name}`"),
                        error,
                    )
                })?;
            Ok(committed
                .elements()
                .iter()
                .map(|element| Position {
                    partition: u32::try_from(element.partition()).unwrap_or_default(),
                    offset: match element.offset() {
                        Offset::Offset(offset) => u64::try_from(offset).unwrap_or_default(),
                        _ => 0,
                    },
                })
                .collect())
        })
        .await
        .map_err(|error| BusError::unavailable("failed to run an offset request", error))?
    }

    /// Returns `Ok` when a broker answers a metadata request within the request timeout.
    async fn health(&self) -> Result<(), BusError> {
        let producer = self.producer.clone();
        let failures = self.failures.clone();
        let timeout = self.config.request_timeout;
        tokio::task::spawn_blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(None, timeout)
                .map_err(|error| {
                    failures.unavailable("failed to reach the kafka cluster", error)
                })?;
            failures.clear();
            if metadata.brokers().is_empty() {
                return Err(BusError::Unavailable {
                    context: "the kafka cluster has no broker".to_owned(),
                    source: None,
                });
            }
            Ok(())
        })
        .await
        .map_err(|error| BusError::unavailable("failed to run a metadata request", error))?
    }

    /// [`KafkaConfig::max_record_bytes`]: the producer's `message.max.bytes` and the `max.message.bytes` of the topics
    /// this bus creates allow it (with room for Kafka's framing).
    fn max_record_bytes(&self) -> usize {
        self.config.max_record_bytes
    }
}
