//! The delivery settings of the Kafka clients, pinned: librdkafka's defaults lose records (`acks=1` without
//! idempotence on older versions, automatic offset store and commit of what was merely *delivered*). Each setting is
//! read back twice: from the configuration the bus builds, and from librdkafka's native configuration made from it
//! (its effective, normalized value). No broker is needed.

use accord_bus::{
    Bus,
    kafka::{KafkaBus, KafkaConfig},
};
use rdkafka::ClientConfig;

/// Asserts that `key` is `built` in the bus's configuration and `effective` in librdkafka's.
fn assert_setting(config: &ClientConfig, key: &str, built: &str, effective: &str) {
    assert_eq!(config.get(key), Some(built), "`{key}` as built");
    let native = config
        .create_native_config()
        .unwrap_or_else(|error| panic!("librdkafka refused the configuration: {error}"));
    assert_eq!(
        native
            .get(key)
            .unwrap_or_else(|error| panic!("failed to read `{key}` back: {error}")),
        effective,
        "`{key}` as librdkafka applies it"
    );
}

#[test]
fn the_producer_is_idempotent_and_waits_for_all_replicas() {
    let config = KafkaConfig::new("127.0.0.1:1").producer_config();
    assert_setting(&config, "enable.idempotence", "true", "true");
    assert_setting(&config, "acks", "all", "-1");
    assert_setting(&config, "message.timeout.ms", "30000", "30000");
    assert_setting(&config, "allow.auto.create.topics", "false", "false");
    assert_setting(&config, "bootstrap.servers", "127.0.0.1:1", "127.0.0.1:1");
}

#[test]
fn consumers_store_and_commit_only_what_the_bus_commits() {
    let config = KafkaConfig::new("a:9092,b:9092");
    for group in [Some("indexer"), None] {
        let consumer = config.consumer_config(group);
        assert_setting(&consumer, "enable.auto.commit", "false", "false");
        assert_setting(&consumer, "enable.auto.offset.store", "false", "false");
        assert_setting(&consumer, "auto.offset.reset", "earliest", "smallest");
        assert_setting(&consumer, "allow.auto.create.topics", "false", "false");
        assert_setting(
            &consumer,
            "bootstrap.servers",
            "a:9092,b:9092",
            "a:9092,b:9092",
        );
    }
    let consumer = config.consumer_config(Some("indexer"));
    assert_setting(&consumer, "group.id", "indexer", "indexer");
    assert_setting(&consumer, "session.timeout.ms", "10000", "10000");
}

#[test]
fn url_parameters_reach_the_clients() {
    let config = KafkaConfig::from_url(
        "kafka://127.0.0.1:1?partitions=6&delivery_timeout_ms=7000&session_timeout_ms=8000",
    )
    .expect("a valid url");
    assert_eq!(config.partitions, 6);
    assert_setting(
        &config.producer_config(),
        "message.timeout.ms",
        "7000",
        "7000",
    );
    assert_setting(
        &config.consumer_config(Some("g")),
        "session.timeout.ms",
        "8000",
        "8000",
    );
}

#[tokio::test]
async fn clients_are_created_without_a_broker_and_report_it_unreachable() {
    let config = KafkaConfig {
        request_timeout: std::time::Duration::from_millis(500),
        ..KafkaConfig::new("127.0.0.1:1")
    };
    let bus = KafkaBus::connect(config).expect("creating the clients needs no broker");
    let error = bus.health().await.expect_err("nothing listens on port 1");
    assert!(
        error
            .to_string()
            .starts_with("bus unavailable: failed to reach the kafka cluster"),
        "{error}"
    );
}
