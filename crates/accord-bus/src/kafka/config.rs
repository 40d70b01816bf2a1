//! Configuration of the Kafka bus: the `kafka://` URL and the librdkafka client configurations built from it.
//!
//! The client configurations are the delivery contract, so they are built in one place and pinned by tests
//! (`producer_config`, `consumer_config`):
//! - producer: `enable.idempotence=true` and `acks=all`, so a delivery report means the record is on every in-sync
//!   replica, exactly once and in order per partition; `message.timeout.ms` bounds how long a publish may wait;
//! - consumer: `enable.auto.commit=false` and `enable.auto.offset.store=false`, so librdkafka never commits or stores
//!   an offset on its own: the only offsets committed are the watermarks [`Subscription::commit`] computes;
//!   `auto.offset.reset=earliest`, so a new group starts at the beginning of the topic;
//! - no client creates topics implicitly (`allow.auto.create.topics=false`): topics come from
//!   [`Bus::ensure_topics`](crate::Bus::ensure_topics), with their partitions, retention and cleanup policy;
//! - every client gets the same TLS and SASL settings ([`KafkaConfig::security`], the `security` module), with
//!   the broker's certificate and host name verified whenever TLS is on.
//!
//! [`Subscription::commit`]: crate::Subscription::commit

use std::time::Duration;

use rdkafka::{ClientConfig, config::RDKafkaLogLevel};

use super::membership::MIN_STATIC_SESSION_TIMEOUT;
use super::security::KafkaSecurity;
use crate::{BusError, mask_url};

/// The topics created compacted (`cleanup.policy=compact`), keyed by id: `policy.mous` and `admin.directory` (the
/// names of `accord_domain::topics`, which this crate does not depend on).
pub const COMPACTED_TOPICS: [&str; 2] = ["policy.mous", "admin.directory"];

/// The topics created as a log kept whole: one partition (its offsets are a total order), `cleanup.policy=delete`
/// with `retention.ms=-1` and `retention.bytes=-1` whatever [`KafkaConfig::retention_ms`] says: the deployment's
/// audit trail, `audit.records` (decision 0080), which a new search replica chains from its first record, and the
/// partners' indicator retractions, `indicators.retracted` (decision 0083), which a new enforcer replica applies from
/// the first.
pub const LOG_TOPICS: [&str; 2] = ["audit.records", "indicators.retracted"];

/// `min.compaction.lag.ms` of the keyed topics ([`KafkaConfig::keyed_topics`]): a record superseded by a newer one
/// with the same key stays readable at least this long (one hour), so a consumer that lags less still reads every
/// version in order (the embedded log's cleaner waits for the consumer groups instead).
pub const MIN_COMPACTION_LAG_MS: u64 = 3_600_000;

/// `max.compaction.lag.ms` of the keyed topics: the longest a superseded record (the content of a retracted or
/// amended report) may stay in the log before the broker's cleaner removes it (one day).
pub const MAX_COMPACTION_LAG_MS: u64 = 86_400_000;

/// How the Kafka bus connects and creates topics. `Default` is a single local broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `host:port` of the bootstrap brokers.
    pub bootstrap_servers: Vec<String>,
    /// Partitions of the topics [`Bus::ensure_topics`](crate::Bus::ensure_topics) creates (`?partitions=`).
    pub partitions: u16,
    /// Replication factor of the topics it creates (`?replication=`).
    pub replication: u16,
    /// `retention.ms` of the topics it creates, except the compacted ones (`?retention_ms=`; `-1` keeps forever);
    /// `None` leaves the broker's default.
    pub retention_ms: Option<i64>,
    /// Topics created with `cleanup.policy=compact` and a single partition.
    pub compacted_topics: Vec<String>,
    /// Topics keyed by report id, created with their partitions and `cleanup.policy=compact` (`compact,delete` with a
    /// retention), [`MIN_COMPACTION_LAG_MS`] and [`MAX_COMPACTION_LAG_MS`]: [`crate::KEYED_TOPICS`] by default.
    pub keyed_topics: Vec<String>,
    /// How long a publish may wait for its delivery reports before it fails (`?delivery_timeout_ms=`).
    pub delivery_timeout: Duration,
    /// Consumer group session timeout: how long a crashed member keeps its partitions (`?session_timeout_ms=`).
    pub session_timeout: Duration,
    /// Timeout of admin, metadata and watermark requests (`?request_timeout_ms=`).
    pub request_timeout: Duration,
    /// The largest record published, by [`Record::size`](crate::Record::size) (`?max_record_bytes=`, 1 KiB to
    /// 64 MiB): the producer's `message.max.bytes` and the `max.message.bytes` of the topics this bus creates allow
    /// it plus [`FRAMING_BYTES`]. Topics created by an operator need the same `max.message.bytes`.
    pub max_record_bytes: usize,
    /// TLS and SASL (`?security_protocol=…&sasl_mechanism=…`, and the `[kafka]` settings for secrets).
    pub security: KafkaSecurity,
    /// Whether the `accord` process joins its consumer groups as a static member (`?static_membership=true`,
    /// default `false`; the `membership` module, decisions 0073 and 0076). A static member needs a session of at
    /// least [`MIN_STATIC_SESSION_TIMEOUT`].
    pub static_membership: bool,
}

/// What Kafka adds to a record on the wire (batch header, varints, timestamps): the producer and topic limits are
/// this much above [`KafkaConfig::max_record_bytes`].
pub const FRAMING_BYTES: usize = 64 * 1024;

/// The default of [`KafkaConfig::max_record_bytes`]: the embedded log's limit, so that both backends carry the same
/// records.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// The largest [`KafkaConfig::max_record_bytes`] accepted: a fetch returns a record this large within librdkafka's
/// default `receive.message.max.bytes`.
pub const MAX_MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: vec!["127.0.0.1:9092".to_owned()],
            partitions: 3,
            replication: 1,
            retention_ms: None,
            compacted_topics: COMPACTED_TOPICS
                .iter()
                .map(|&topic| topic.to_owned())
                .collect(),
            keyed_topics: crate::KEYED_TOPICS
                .iter()
                .map(|&topic| topic.to_owned())
                .collect(),
            delivery_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            security: KafkaSecurity::default(),
            static_membership: false,
        }
    }
}

impl KafkaConfig {
    /// Returns the partitions and the settings a topic named `name` is created with: the compacted topics one
    /// partition and `cleanup.policy=compact`; the [`LOG_TOPICS`] one partition and no retention; the keyed topics compaction (with deletion when a retention is set)
    /// and the compaction lags; every topic but the compacted ones the retention when set; every topic
    /// `max.message.bytes`.
    pub fn topic_settings(&self, name: &str) -> (i32, Vec<(&'static str, String)>) {
        let compacted = self.compacted_topics.iter().any(|topic| topic == name);
        let keyed = self.keyed_topics.iter().any(|topic| topic == name);
        let mut settings = vec![("max.message.bytes", self.message_max_bytes().to_string())];
        if compacted {
            settings.push(("cleanup.policy", "compact".to_owned()));
            return (1, settings);
        }
        if LOG_TOPICS.contains(&name) {
            settings.push(("cleanup.policy", "delete".to_owned()));
            settings.push(("retention.ms", "-1".to_owned()));
            settings.push(("retention.bytes", "-1".to_owned()));
            return (1, settings);
        }
        if keyed {
            let policy = match self.retention_ms {
                Some(_) => "compact,delete",
                None => "compact",
            };
            settings.push(("cleanup.policy", policy.to_owned()));
            settings.push(("min.compaction.lag.ms", MIN_COMPACTION_LAG_MS.to_string()));
            settings.push(("max.compaction.lag.ms", MAX_COMPACTION_LAG_MS.to_string()));
        }
        if let Some(retention) = self.retention_ms {
            settings.push(("retention.ms", retention.to_string()));
        }
        (i32::from(self.partitions), settings)
    }

    /// Returns the configuration for `bootstrap` (`host:port[,host:port…]`) with the other fields at their defaults.
    pub fn new(bootstrap: &str) -> Self {
        Self {
            bootstrap_servers: bootstrap.split(',').map(str::to_owned).collect(),
            ..Self::default()
        }
    }

    /// Parses `kafka://host:port[,host:port…][?partitions=N&replication=N&retention_ms=N&delivery_timeout_ms=N&
    /// session_timeout_ms=N&request_timeout_ms=N&max_record_bytes=N&static_membership=true|false&security_protocol=P&sasl_mechanism=M&sasl_username=U&
    /// ssl_ca_location=PATH&ssl_certificate_location=PATH&ssl_key_location=PATH]`. Passwords are never read from
    /// the URL (it is logged): they come from [`KafkaConfig::with_security`].
    ///
    /// # Errors
    /// Returns [`BusError::InvalidUrl`] for another scheme, a missing or malformed `host:port`, credentials before
    /// the host, an unknown parameter, a secret, a value out of range, or static membership with a session shorter
    /// than [`MIN_STATIC_SESSION_TIMEOUT`]; the error shows the URL with secrets masked.
    pub fn from_url(url: &str) -> Result<Self, BusError> {
        let invalid = |reason: &str| BusError::InvalidUrl(format!("`{}`: {reason}", mask_url(url)));
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| invalid("expected kafka://"))?;
        let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
        let hosts = hosts.strip_suffix('/').unwrap_or(hosts);
        let mut config = Self {
            bootstrap_servers: Vec::new(),
            ..Self::default()
        };
        if hosts.contains('@') {
            return Err(invalid(
                "credentials do not belong in the bus url: set sasl_username in the url or [kafka], and \
                 sasl_password in [kafka] or ACCORD_KAFKA__SASL_PASSWORD",
            ));
        }
        for host in hosts.split(',') {
            let Some((name, port)) = host.rsplit_once(':') else {
                return Err(invalid("expected host:port"));
            };
            if name.is_empty() || name.contains('/') || port.parse::<u16>().is_err() {
                return Err(invalid("expected host:port"));
            }
            config.bootstrap_servers.push(host.to_owned());
        }
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid("expected name=value parameters"))?;
            config
                .set_parameter(name, value)
                .map_err(|reason| invalid(&reason))?;
        }
        if config.partitions == 0 || config.replication == 0 {
            return Err(invalid("partitions and replication must be at least 1"));
        }
        if config.static_membership && config.session_timeout < MIN_STATIC_SESSION_TIMEOUT {
            return Err(invalid(&format!(
                "static membership needs session_timeout_ms of at least {} (the broker may hold a static member's \
                 JoinGroup and SyncGroup for 3 s each before its first heartbeat; decision 0076)",
                MIN_STATIC_SESSION_TIMEOUT.as_millis()
            )));
        }
        Ok(config)
    }

    /// Applies one URL parameter.
    fn set_parameter(&mut self, name: &str, value: &str) -> Result<(), String> {
        let bad = || format!("`{name}` has an invalid value `{value}`");
        let millis = || {
            value
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| bad())
        };
        match name {
            "partitions" => self.partitions = value.parse().map_err(|_| bad())?,
            "replication" => self.replication = value.parse().map_err(|_| bad())?,
            "retention_ms" => self.retention_ms = Some(value.parse().map_err(|_| bad())?),
            "delivery_timeout_ms" => self.delivery_timeout = millis()?,
            "session_timeout_ms" => self.session_timeout = millis()?,
            "request_timeout_ms" => self.request_timeout = millis()?,
            "static_membership" => self.static_membership = value.parse().map_err(|_| bad())?,
            "max_record_bytes" => {
                self.max_record_bytes = value.parse().map_err(|_| bad())?;
                if !(1024..=MAX_MAX_RECORD_BYTES).contains(&self.max_record_bytes) {
                    return Err(format!(
                        "`max_record_bytes` must be between 1024 and {MAX_MAX_RECORD_BYTES}"
                    ));
                }
            }
            _ => {
                if !self.security.set_from_url(name, value)? {
                    return Err(format!("unknown parameter `{name}`"));
                }
            }
        }
        Ok(())
    }

    /// Returns this configuration with the `[kafka]` settings merged into the URL's, checked (see the `security`
    /// module).
    ///
    /// # Errors
    /// Returns [`BusError::InvalidConfig`] naming the setting when both give a setting with different values, or
    /// when the merged settings do not fit together or name a file that cannot be read.
    pub fn with_security(mut self, settings: &KafkaSecurity) -> Result<Self, BusError> {
        self.security
            .merge(settings)
            .and_then(|()| self.security.validate())
            .map_err(BusError::InvalidConfig)?;
        Ok(self)
    }

    /// Returns the settings every client shares.
    fn common(&self, client_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap_servers.join(","))
            .set("client.id", client_id)
            .set("allow.auto.create.topics", "false")
            .set("socket.keepalive.enable", "true");
        // librdkafka reports some refusals by the broker only as INFO log lines ("SSL connection closed by peer"
        // before the connection is up, see the `error` module), so the clients log at least that much, whatever the
        // subscriber's level (rdkafka derives it from the subscriber otherwise); `tracing` filters as usual.
        if !matches!(
            config.log_level,
            RDKafkaLogLevel::Debug | RDKafkaLogLevel::Info
        ) {
            config.set_log_level(RDKafkaLogLevel::Info);
        }
        self.security.apply(&mut config);
        config
    }

    /// Returns the producer configuration: idempotent, `acks=all`, delivery bounded by the delivery timeout.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = self.common("accord-producer");
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", millis(self.delivery_timeout))
            .set("linger.ms", "5")
            .set("message.max.bytes", self.message_max_bytes().to_string());
        config
    }

    /// Returns the producer's `message.max.bytes` and the created topics' `max.message.bytes`: the record limit plus
    /// Kafka's framing.
    pub fn message_max_bytes(&self) -> usize {
        self.max_record_bytes + FRAMING_BYTES
    }

    /// Returns the configuration of a consumer in `group`, or of a groupless reader (`None`): no automatic commit
    /// and no automatic offset store; new groups start at the earliest offset.
    ///
    /// librdkafka needs a `group.id` to `assign()` partitions, so a groupless reader gets a throwaway one that is
    /// never joined (it assigns instead of subscribing) and never committed to.
    pub fn consumer_config(&self, group: Option<&str>) -> ClientConfig {
        let (client_id, group_id) = match group {
            Some(group) => (format!("accord-{group}"), group.to_owned()),
            None => ("accord-reader".to_owned(), throwaway_group_id()),
        };
        let mut config = self.common(&client_id);
        config
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", millis(self.session_timeout))
            .set("heartbeat.interval.ms", millis(self.session_timeout / 4))
            // Bounds what one consumer prefetches (the subscription buffers up to `MAX_BUFFERED` more); room for two
            // of the largest records.
            .set(
                "queued.max.messages.kbytes",
                (2 * self.message_max_bytes() / 1024).max(16384).to_string(),
            );
        config
    }

    /// Returns the admin client configuration.
    pub fn admin_config(&self) -> ClientConfig {
        self.common("accord-admin")
    }
}

/// Returns a group id no other reader uses: a groupless reader needs one, but never joins or commits to it.
fn throwaway_group_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("accord-reader-{}-{nanos:x}-{count}", std::process::id())
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_topic_gets_its_partitions_and_policy() {
        let config = KafkaConfig {
            retention_ms: Some(1_000),
            ..KafkaConfig::default()
        };
        let policy = |name: &str| {
            let (partitions, settings) = config.topic_settings(name);
            let get = |key: &str| {
                settings
                    .iter()
                    .find(|(name, _)| *name == key)
                    .map(|(_, value)| value.clone())
            };
            (partitions, get("cleanup.policy"), get("retention.ms"))
        };
        assert_eq!(policy("policy.mous"), (1, Some("compact".into()), None));
        assert_eq!(
            policy("reports.raw"),
            (3, Some("compact,delete".into()), Some("1000".into()))
        );
        assert_eq!(policy("reports.rejected"), (3, None, Some("1000".into())));
        assert_eq!(
            policy("audit.records"),
            (1, Some("delete".into()), Some("-1".into()))
        );
        assert_eq!(
            policy("indicators.retracted"),
            (1, Some("delete".into()), Some("-1".into()))
        );
        let (_, unretained) = KafkaConfig::default().topic_settings("reports.releasable");
        assert!(unretained.contains(&("cleanup.policy", "compact".to_owned())));
        assert!(unretained.contains(&("max.compaction.lag.ms", MAX_COMPACTION_LAG_MS.to_string())));
    }

    #[test]
    fn parses_hosts_and_parameters() {
        let config = KafkaConfig::from_url(
            "kafka://a:9092,b.example:19092?partitions=6&replication=3&retention_ms=-1&delivery_timeout_ms=5000",
        )
        .unwrap();
        assert_eq!(config.bootstrap_servers, ["a:9092", "b.example:19092"]);
        assert_eq!((config.partitions, config.replication), (6, 3));
        assert_eq!(config.retention_ms, Some(-1));
        assert_eq!(config.delivery_timeout, Duration::from_secs(5));
        assert_eq!(config.compacted_topics, ["policy.mous", "admin.directory"]);
        assert_eq!(
            config.keyed_topics,
            ["reports.raw", "reports.normalized", "reports.releasable"]
        );
        assert_eq!(config.max_record_bytes, DEFAULT_MAX_RECORD_BYTES);
        let small = KafkaConfig::from_url("kafka://a:9092?max_record_bytes=1048576").unwrap();
        assert_eq!(small.max_record_bytes, 1024 * 1024);
        assert_eq!(
            small.producer_config().get("message.max.bytes"),
            Some("1114112")
        );
        let plain = KafkaConfig::from_url("kafka://127.0.0.1:9092/").unwrap();
        assert_eq!(plain, KafkaConfig::default());
        assert!(!plain.static_membership, "static membership is opt-in");
        let dynamic = KafkaConfig::from_url("kafka://a:9092?session_timeout_ms=3000").unwrap();
        assert_eq!(dynamic.session_timeout, Duration::from_secs(3));
        let shortest =
            KafkaConfig::from_url("kafka://a:9092?static_membership=true&session_timeout_ms=8000")
                .unwrap();
        assert!(shortest.static_membership);
        assert_eq!(shortest.session_timeout, MIN_STATIC_SESSION_TIMEOUT);
    }

    #[test]
    fn refuses_malformed_urls() {
        for url in [
            "kafka://",
            "kafka://host",
            "kafka://host:port",
            "kafka://:9092",
            "kafka://a:9092,",
            "kafka://a:9092?partitions=0",
            "kafka://a:9092?partitions=x",
            "kafka://a:9092?unknown=1",
            "kafka://a:9092?partitions",
            "kafka://a:9092?max_record_bytes=10",
            "kafka://a:9092?max_record_bytes=1000000000",
            "kafka://a:9092/path",
            "http://a:9092",
            "kafka://user:secret@a:9092",
            "kafka://a:9092?security_protocol=tls",
            "kafka://a:9092?sasl_mechanism=GSSAPI",
            "kafka://a:9092?sasl_password=secret",
            "kafka://a:9092?static_membership=true&session_timeout_ms=3000",
            "kafka://a:9092?static_membership=true&session_timeout_ms=7999",
        ] {
            let error = KafkaConfig::from_url(url).unwrap_err();
            assert!(matches!(error, BusError::InvalidUrl(_)), "{url}: {error:?}");
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }

    #[test]
    fn security_parameters_are_read_from_the_url_and_merged_with_the_settings() {
        use crate::kafka::security::{SaslMechanism, Secret, SecurityProtocol};
        let config = KafkaConfig::from_url(
            "kafka://a:9093?security_protocol=sasl_ssl&sasl_mechanism=SCRAM-SHA-512&sasl_username=gateway\
             &ssl_ca_location=/etc/hosts",
        )
        .unwrap();
        assert_eq!(config.security.protocol(), SecurityProtocol::SaslSsl);
        assert_eq!(
            config.security.sasl_mechanism,
            Some(SaslMechanism::ScramSha512)
        );
        let error = config
            .clone()
            .with_security(&KafkaSecurity::default())
            .unwrap_err();
        assert!(
            error.to_string().contains("needs kafka.sasl_password"),
            "{error}"
        );
        let settings = KafkaSecurity {
            sasl_password: Some(Secret::new("pw")),
            ..KafkaSecurity::default()
        };
        let merged = config.with_security(&settings).unwrap();
        assert_eq!(merged.security.sasl_password, Some(Secret::new("pw")));
    }

    #[test]
    fn masks_secrets_in_urls() {
        assert_eq!(
            mask_url("kafka://u:pw@a:1?sasl_password=pw&partitions=3"),
            "kafka://u:***@a:1?sasl_password=***&partitions=3"
        );
        assert_eq!(mask_url("kafka://a:1"), "kafka://a:1");
    }

    #[test]
    fn groupless_readers_get_distinct_throwaway_groups() {
        let config = KafkaConfig::default();
        let first = config.consumer_config(None);
        let second = config.consumer_config(None);
        assert_ne!(first.get("group.id"), second.get("group.id"));
        assert_eq!(
            config.consumer_config(Some("indexer")).get("group.id"),
            Some("indexer")
        );
    }
}
