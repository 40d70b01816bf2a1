//! The Kafka bus over TLS and SASL against a real broker: tansu requiring SCRAM authentication, behind a TLS proxy
//! that requires a client certificate (`scripts/tansu.sh start-secure`, one broker per test; why a proxy:
//! `scripts/tls-proxy.py`).
//!
//! - Records are published and consumed, in a group and groupless, over `sasl_ssl` with SCRAM-SHA-512 and with
//!   SCRAM-SHA-256; the client verifies the broker's certificate and host name against the test CA and presents a
//!   certificate whose key is encrypted (`ssl_key_password`). Protocol, mechanism, user and CA come from the URL,
//!   secrets and the client certificate from the settings, as in production.
//! - A wrong password, an untrusted CA and a missing client certificate each fail with
//!   [`BusError::Authentication`] carrying librdkafka's reason, within the request timeout.
//!
//! Not covered by a broker test: `PLAIN`, because tansu 0.6 accepts any password with it (tansu-auth 0.6.0
//! `Callback::check` only checks that a password was sent), so a wrong-password test would fail for the broker's
//! reason; what librdkafka gets for it is pinned in `settings`.

use std::{collections::HashMap, path::PathBuf, process::Command, time::Duration};

use accord_bus::{
    BusError, Record,
    kafka::{KafkaConfig, KafkaSecurity, Secret},
};

use crate::{
    PARTITIONS, WAIT, bootstrap, collect, connect, positions, run_script, script, subscribe, unique,
};

/// The request timeout of these clients: how long a refused client waits before it reports why.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A broker requiring SASL behind TLS, stopped when dropped.
struct SecureBroker {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl SecureBroker {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("failed to create a temporary directory");
        let stdout = run_script("start-secure", dir.path());
        let env = stdout
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        Self { dir, env }
    }

    fn get(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("scripts/tansu.sh start-secure printed no {name}"))
    }

    fn file(&self, name: &str) -> PathBuf {
        PathBuf::from(self.get("KAFKA_TLS_DIR")).join(name)
    }

    /// Returns the URL a client with `mechanism` uses, trusting the CA file `ca`.
    fn url(&self, mechanism: &str, ca: &str) -> String {
        format!(
            "kafka://{}?security_protocol=sasl_ssl&sasl_mechanism={mechanism}&sasl_username={}\
             &ssl_ca_location={}&request_timeout_ms={}",
            self.get("KAFKA_SECURE_BOOTSTRAP"),
            self.get("KAFKA_SASL_USERNAME"),
            self.file(ca).display(),
            REQUEST_TIMEOUT.as_millis()
        )
    }

    /// Returns the settings that do not belong in a URL: the password, and the client certificate.
    fn secrets(&self, password: &str) -> KafkaSecurity {
        KafkaSecurity {
            sasl_password: Some(Secret::new(password)),
            ssl_certificate_location: Some(self.file("client.pem")),
            ssl_key_location: Some(self.file("client.key")),
            ssl_key_password: Some(Secret::new(self.get("KAFKA_CLIENT_KEY_PASSWORD"))),
            ..KafkaSecurity::default()
        }
    }

    fn config(&self, url: &str, secrets: &KafkaSecurity) -> KafkaConfig {
        let config = KafkaConfig::from_url(url).expect("a valid url");
        KafkaConfig {
            partitions: PARTITIONS,
            ..config
                .with_security(secrets)
                .expect("valid security settings")
        }
    }

    fn valid_config(&self, mechanism: &str) -> KafkaConfig {
        self.config(
            &self.url(mechanism, "ca.pem"),
            &self.secrets(self.get("KAFKA_SASL_PASSWORD")),
        )
    }
}

impl Drop for SecureBroker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// Publishes records over the secured connection and reads them back in a group and groupless.
async fn round_trip(config: &KafkaConfig) {
    let bus = connect(config);
    let topic = unique("secure");
    bus.ensure_topics(&[&topic])
        .await
        .unwrap_or_else(|error| panic!("failed to create a topic over sasl_ssl: {error:?}"));
    let records: Vec<Record> = (0..12)
        .map(|i| Record::new(format!("key-{}", i % 3), format!(r#"{{"n":{i}}}"#)))
        .collect();
    bus.publish(&topic, records.clone())
        .await
        .unwrap_or_else(|error| panic!("failed to publish over sasl_ssl: {error:?}"));
    let mut grouped = subscribe(&bus, &topic, Some(&unique("secure"))).await;
    let delivered = collect(&mut grouped, records.len()).await;
    grouped
        .commit(&positions(&delivered))
        .await
        .unwrap_or_else(|error| panic!("failed to commit over sasl_ssl: {error:?}"));
    let mut payloads: Vec<_> = delivered.iter().map(|d| d.record.payload.clone()).collect();
    let mut expected: Vec<_> = records.iter().map(|r| r.payload.clone()).collect();
    payloads.sort();
    expected.sort();
    assert_eq!(payloads, expected, "every record, once");
    let mut reader = subscribe(&bus, &topic, None).await;
    assert_eq!(
        collect(&mut reader, records.len()).await.len(),
        records.len()
    );
}

/// Asserts that creating a topic fails with [`BusError::Authentication`] whose reason contains `expected`.
async fn assert_refused(config: &KafkaConfig, expected: &str) {
    let bus = connect(config);
    let error = tokio::time::timeout(WAIT, bus.ensure_topics(&[&unique("refused")]))
        .await
        .expect("ensure_topics hung")
        .expect_err("the broker must refuse this client");
    let BusError::Authentication { reason, .. } = &error else {
        panic!("expected an authentication error, got {error:?}");
    };
    assert!(reason.contains(expected), "`{expected}` not in: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_go_through_sasl_ssl_with_scram_sha_512_and_a_client_certificate() {
    if bootstrap().is_none() {
        return;
    }
    let broker = SecureBroker::start();
    round_trip(&broker.valid_config("SCRAM-SHA-512")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_go_through_sasl_ssl_with_scram_sha_256() {
    if bootstrap().is_none() {
        return;
    }
    let broker = SecureBroker::start();
    round_trip(&broker.valid_config("SCRAM-SHA-256")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_with_an_authentication_error() {
    if bootstrap().is_none() {
        return;
    }
    let broker = SecureBroker::start();
    let config = broker.config(
        &broker.url("SCRAM-SHA-512", "ca.pem"),
        &broker.secrets("not-the-password"),
    );
    assert_refused(&config, "SASL authentication error").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_from_an_untrusted_ca_fails_with_an_authentication_error() {
    if bootstrap().is_none() {
        return;
    }
    let broker = SecureBroker::start();
    let config = broker.config(
        &broker.url("SCRAM-SHA-512", "other-ca.pem"),
        &broker.secrets(broker.get("KAFKA_SASL_PASSWORD")),
    );
    assert_refused(&config, "certificate verify failed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_certificate_fails_with_an_authentication_error() {
    if bootstrap().is_none() {
        return;
    }
    let broker = SecureBroker::start();
    let secrets = KafkaSecurity {
        sasl_password: Some(Secret::new(broker.get("KAFKA_SASL_PASSWORD"))),
        ..KafkaSecurity::default()
    };
    let config = broker.config(&broker.url("SCRAM-SHA-512", "ca.pem"), &secrets);
    assert_refused(&config, "SSL").await;
}
