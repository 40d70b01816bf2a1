//! The settings of the Kafka clients, pinned: librdkafka's defaults lose records (`acks=1` without idempotence on
//! older versions, automatic offset store and commit of what was merely *delivered*), and its TLS and SASL settings
//! decide whether the broker is verified and who the client is. Each setting is read back twice: from the
//! configuration the bus builds, and from librdkafka's native configuration made from it (its effective, normalized
//! value). No broker is needed (`secure` runs them against one).

use accord_bus::{
    Bus, BusError,
    kafka::{KafkaBus, KafkaConfig, KafkaSecurity, Secret},
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

#[test]
fn librdkafka_is_built_with_tls_and_sasl() {
    let native = KafkaConfig::default()
        .producer_config()
        .create_native_config()
        .expect("a valid configuration");
    let features = native.get("builtin.features").expect("builtin.features");
    for feature in ["ssl", "sasl_plain", "sasl_scram"] {
        assert!(
            features.split(',').any(|found| found == feature),
            "librdkafka lacks `{feature}`: {features}"
        );
    }
}

#[test]
fn without_security_settings_clients_speak_plaintext() {
    let config = KafkaConfig::default();
    for client in [
        config.producer_config(),
        config.admin_config(),
        config.consumer_config(None),
    ] {
        assert_setting(&client, "security.protocol", "plaintext", "plaintext");
        assert_eq!(client.get("sasl.username"), None);
    }
}

#[test]
fn tls_and_sasl_reach_every_client_with_certificate_and_host_name_verification() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, "-----BEGIN CERTIFICATE-----\n").unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (ca, certificate, key) = (file("ca.pem"), file("client.pem"), file("client.key"));
    let url = format!(
        "kafka://broker.example:9093?security_protocol=sasl_ssl&sasl_mechanism=SCRAM-SHA-512\
         &sasl_username=accord-gateway&ssl_ca_location={ca}"
    );
    let settings = KafkaSecurity {
        sasl_password: Some(Secret::new("sasl-secret")),
        ssl_certificate_location: Some(certificate.clone().into()),
        ssl_key_location: Some(key.clone().into()),
        ssl_key_password: Some(Secret::new("key-secret")),
        ..KafkaSecurity::default()
    };
    let config = KafkaConfig::from_url(&url)
        .and_then(|config| config.with_security(&settings))
        .expect("valid settings");
    let clients = [
        config.producer_config(),
        config.consumer_config(Some("indexer")),
        config.consumer_config(None),
        config.admin_config(),
    ];
    for client in clients {
        assert_setting(&client, "security.protocol", "sasl_ssl", "sasl_ssl");
        assert_setting(&client, "sasl.mechanisms", "SCRAM-SHA-512", "SCRAM-SHA-512");
        assert_setting(&client, "sasl.username", "accord-gateway", "accord-gateway");
        assert_setting(&client, "ssl.ca.location", &ca, &ca);
        assert_setting(
            &client,
            "ssl.certificate.location",
            &certificate,
            &certificate,
        );
        assert_setting(&client, "ssl.key.location", &key, &key);
        assert_setting(
            &client,
            "enable.ssl.certificate.verification",
            "true",
            "true",
        );
        assert_setting(
            &client,
            "ssl.endpoint.identification.algorithm",
            "https",
            "https",
        );
        // The secrets reach librdkafka, and never a debug print of the configuration.
        assert_eq!(client.get("sasl.password"), Some("sasl-secret"));
        assert_eq!(client.get("ssl.key.password"), Some("key-secret"));
        let printed = format!("{client:?}");
        assert!(
            !printed.contains("sasl-secret") && !printed.contains("key-secret"),
            "{printed}"
        );
    }
}

#[test]
fn security_settings_that_do_not_fit_together_are_refused_before_connecting() {
    let config = KafkaConfig::from_url(
        "kafka://127.0.0.1:1?security_protocol=sasl_ssl&sasl_mechanism=PLAIN",
    )
    .expect("a valid url");
    let error = KafkaBus::connect(config).expect_err("no user, no password");
    assert!(matches!(error, BusError::InvalidConfig(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "invalid bus configuration: security_protocol `sasl_ssl` needs kafka.sasl_username"
    );
}
