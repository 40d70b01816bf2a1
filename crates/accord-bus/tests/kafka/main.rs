//! Integration tests of the Kafka bus against a real broker (tansu in `scripts/test.sh`).
//!
//! The broker is named by `ACCORD_KAFKA_BOOTSTRAP` (`host:port`). Without it the broker tests print a notice and
//! pass, unless `ACCORD_REQUIRE_KAFKA=1`, when they fail: CI sets both (`scripts/tansu.sh start DIR` prints the
//! address). The pinned client configuration needs no broker and always runs.
//!
//! - `beacons`: the records a member writes into the partitions it does not own, taken but never delivered;
//! - `conformance`: the backend-neutral suite, on topics of three partitions;
//! - `groups`: commits, resume and redelivery per partition, and what a rebalance does to commits;
//! - `restart`: a broker of its own (started with `scripts/tansu.sh`) stopped and restarted mid-run;
//! - `secure`: a broker of its own that requires SASL behind TLS (`scripts/tansu.sh start-secure`): records go
//!   through, wrong credentials and untrusted certificates fail with [`accord_bus::BusError::Authentication`];
//! - `settings`: the delivery and security settings of the clients, read back from librdkafka;
//! - `topics`: topic creation (partitions, compaction, retention), `end_offsets`, refused records.

mod beacons;
mod conformance;
mod groups;
mod restart;
mod secure;
mod settings;
mod topics;

use std::{
    future::Ready,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use accord_bus::{
    BusClient, Delivery, Position, SubscribeOptions, Subscription,
    kafka::{KafkaBus, KafkaConfig},
};

/// Partitions of every topic the tests create: more than one, so that ordering and commits are per partition.
pub(crate) const PARTITIONS: u16 = 3;

/// How long a test waits for records before it fails (a group join and a rebalance take seconds).
pub(crate) const WAIT: Duration = Duration::from_secs(200);

/// Returns the broker address, or `None` (after a notice) when the broker tests are to be skipped.
///
/// # Panics
/// When `ACCORD_REQUIRE_KAFKA=1` and no broker is named.
pub(crate) fn bootstrap() -> Option<String> {
    init_logs();
    if let Ok(bootstrap) = std::env::var("ACCORD_KAFKA_BOOTSTRAP")
        && !bootstrap.is_empty()
    {
        return Some(bootstrap);
    }
    accord_testkit::available(
        accord_testkit::Component::Kafka,
        false,
        "ACCORD_KAFKA_BOOTSTRAP is not set",
        "`scripts/tansu.sh install && scripts/tansu.sh start DIR` prints an address",
    );
    None
}

/// Returns the path of `scripts/tansu.sh`.
pub(crate) fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tansu.sh")
}

/// Runs `scripts/tansu.sh COMMAND DIR` and returns its standard output, failing the test when it fails.
pub(crate) fn run_script(command: &str, dir: &Path) -> String {
    let output = Command::new("bash")
        .arg(script())
        .arg(command)
        .arg(dir)
        .output()
        .unwrap_or_else(|error| panic!("failed to run scripts/tansu.sh {command}: {error}"));
    assert!(
        output.status.success(),
        "scripts/tansu.sh {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Returns the test configuration for `bootstrap`.
pub(crate) fn config(bootstrap: &str) -> KafkaConfig {
    KafkaConfig {
        partitions: PARTITIONS,
        ..KafkaConfig::new(bootstrap)
    }
}

/// Returns a factory of clients on the broker at `bootstrap`, for the conformance suite.
pub(crate) fn factory(bootstrap: &str) -> impl Fn() -> Ready<BusClient> + Send + Sync + use<> {
    let config = config(bootstrap);
    move || std::future::ready(connect(&config))
}

pub(crate) fn connect(config: &KafkaConfig) -> BusClient {
    BusClient::new(KafkaBus::connect(config.clone()).expect("failed to create the kafka clients"))
}

/// Returns `name` with a suffix unique to this process and call (topic and group names on a shared broker).
pub(crate) fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("kafka-test.{name}.{}.{nanos:x}.{count}", std::process::id())
}

pub(crate) async fn subscribe(
    bus: &BusClient,
    topic: &str,
    group: Option<&str>,
) -> Box<dyn Subscription> {
    let options = SubscribeOptions {
        topic: topic.to_owned(),
        group: group.map(str::to_owned),
    };
    tokio::time::timeout(WAIT, bus.subscribe(options))
        .await
        .expect("subscribe hung")
        .unwrap_or_else(|error| panic!("failed to subscribe to `{topic}`: {error:?}"))
}

/// Reads until `num_records` records have been delivered, failing after [`WAIT`].
pub(crate) async fn collect(
    subscription: &mut Box<dyn Subscription>,
    num_records: usize,
) -> Vec<Delivery> {
    let mut deliveries = Vec::with_capacity(num_records);
    while deliveries.len() < num_records {
        let batch = tokio::time::timeout(
            WAIT,
            subscription.next_batch(num_records - deliveries.len()),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "only {} of {num_records} records arrived within {WAIT:?}",
                deliveries.len()
            )
        })
        .unwrap_or_else(|error| panic!("next_batch failed: {error:?}"));
        deliveries.extend(batch);
    }
    deliveries
}

/// Returns whatever arrives within `quiet` (used to check that nothing more comes).
pub(crate) async fn drain(
    subscription: &mut Box<dyn Subscription>,
    quiet: Duration,
) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    while let Ok(batch) = tokio::time::timeout(quiet, subscription.next_batch(1000)).await {
        deliveries.extend(batch.unwrap_or_else(|error| panic!("next_batch failed: {error:?}")));
    }
    deliveries
}

pub(crate) fn positions(deliveries: &[Delivery]) -> Vec<Position> {
    deliveries
        .iter()
        .map(|delivery| delivery.position)
        .collect()
}

/// Sends logs to the test output when `TEST_LOG` is set (an `EnvFilter` directive, e.g. `TEST_LOG=debug`).
fn init_logs() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}
