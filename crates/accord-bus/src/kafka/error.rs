//! How librdkafka errors map onto [`BusError`].
//!
//! The distinction that matters to callers is whether retrying can help:
//! - a record the broker or the client will never accept (too large, invalid, a policy violation) is
//!   [`BusError::Refused`]: retrying the same record fails the same way (vector `sinks/kafka/service.rs` does the same);
//! - a topic that does not exist is [`BusError::UnknownTopic`];
//! - everything else (timeouts, brokers down, coordinator moves, a fatal idempotence error) is
//!   [`BusError::Unavailable`] with the librdkafka error as its source;
//! - unless the clients have seen an authentication failure: librdkafka does not fail a request when the broker
//!   refuses the credentials or the TLS handshake fails; it reports the failure to the client's error callback,
//!   keeps reconnecting, and the request times out. So the callbacks of every client of a bus record the last such
//!   failure in one [`AuthFailures`] (logging it at ERROR, at most once a minute per kind), and a request that
//!   failed meanwhile is [`BusError::Authentication`] carrying librdkafka's reason ("SASL authentication error:
//!   … invalid credentials …", "SSL handshake failed: … certificate verify failed …") instead of a bare timeout.
//!   A request that succeeds clears the record. One refusal reaches no error callback: a broker that refuses the
//!   client's certificate under TLS 1.3 does so after the client finished its handshake, and librdkafka only logs
//!   "Disconnected: SSL connection closed by peer (… in state APIVERSION_QUERY)" at INFO level; so a TLS disconnection logged
//!   before the connection was up (states `SSL_HANDSHAKE`, `APIVERSION_QUERY`, `AUTH_*`) counts as one too.
//!
//! `QueueFull` never gets here: the producer treats it as backpressure and retries.

use std::{
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use rdkafka::{config::RDKafkaLogLevel, error::KafkaError, types::RDKafkaErrorCode};
use tracing::{debug, error, info, warn};

use crate::BusError;

/// How often the same kind of authentication failure is logged again while it persists.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Returns whether `code` says the broker refused the client's credentials or the TLS handshake failed.
pub(super) fn is_authentication_failure(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Authentication
            | RDKafkaErrorCode::SSL
            | RDKafkaErrorCode::SaslAuthenticationFailed
    )
}

/// The last authentication failure the clients of one bus reported; see the module documentation.
#[derive(Debug, Default)]
pub(super) struct AuthFailures {
    last: Mutex<Option<Failure>>,
}

#[derive(Debug)]
struct Failure {
    code: RDKafkaErrorCode,
    reason: String,
    logged_at: Instant,
}

impl AuthFailures {
    /// Records `error` when it is an authentication failure and returns whether it was one.
    pub(super) fn record(&self, error: &KafkaError, reason: &str) -> bool {
        let Some(code) = error.rdkafka_error_code() else {
            return false;
        };
        if !is_authentication_failure(code) {
            return false;
        }
        self.note(code, reason);
        true
    }

    /// Forwards a librdkafka log line to `tracing` and records a TLS disconnection before the connection was up
    /// (see the module documentation).
    pub(super) fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                error!(target: "librdkafka", facility, message, "librdkafka")
            }
            RDKafkaLogLevel::Warning => {
                warn!(target: "librdkafka", facility, message, "librdkafka")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                info!(target: "librdkafka", facility, message, "librdkafka")
            }
            RDKafkaLogLevel::Debug => debug!(target: "librdkafka", facility, message, "librdkafka"),
        }
        let before_up = [
            "state SSL_HANDSHAKE",
            "state APIVERSION_QUERY",
            "state AUTH",
        ]
        .iter()
        .any(|state| message.contains(state));
        if facility == "FAIL" && message.contains("SSL") && before_up {
            let reason = format!(
                "{message} (the broker closed the TLS connection before it was up: does it require a client \
                 certificate, or refuse this one?)"
            );
            self.note(RDKafkaErrorCode::SSL, &reason);
        }
    }

    fn note(&self, code: RDKafkaErrorCode, reason: &str) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let log = last
            .as_ref()
            .is_none_or(|last| last.code != code || last.logged_at.elapsed() >= LOG_EVERY);
        let logged_at = match last.as_ref() {
            Some(last) if !log => last.logged_at,
            _ => Instant::now(),
        };
        if log {
            error!(%code, reason, "kafka authentication failed: check the bus's TLS and SASL settings");
        }
        *last = Some(Failure {
            code,
            reason: reason.to_owned(),
            logged_at,
        });
    }

    /// Forgets the last failure (a request succeeded).
    pub(super) fn clear(&self) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Returns the error for a request that failed with `source`: [`BusError::Authentication`] when an
    /// authentication failure was recorded, else [`BusError::Unavailable`].
    pub(super) fn unavailable(
        &self,
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> BusError {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match last.as_ref() {
            Some(failure) => BusError::Authentication {
                context: context.into(),
                reason: failure.reason.clone(),
            },
            None => BusError::unavailable(context, source),
        }
    }

    /// As [`AuthFailures::unavailable`], for an error that has no source.
    pub(super) fn unavailable_without_source(&self, context: String) -> BusError {
        #[derive(Debug, thiserror::Error)]
        #[error("no further detail")]
        struct NoDetail;
        match self.unavailable(context, NoDetail) {
            BusError::Unavailable { context, .. } => BusError::Unavailable {
                context,
                source: None,
            },
            other => other,
        }
    }
}

/// Returns whether `code` says the record itself is unacceptable, so that retrying cannot help.
pub(super) fn is_refusal(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::MessageBatchTooLarge
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::InvalidTimestamp
            | RDKafkaErrorCode::InvalidTopic
            | RDKafkaErrorCode::InvalidArgument
            | RDKafkaErrorCode::BadMessage
            | RDKafkaErrorCode::PolicyViolation
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::UnsupportedForMessageFormat
    )
}

/// Returns whether `code` says the topic (or its partition) does not exist.
pub(super) fn is_unknown_topic(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownPartition
    )
}

/// Maps an error of a publish to `topic`.
pub(super) fn publish_error(failures: &AuthFailures, topic: &str, error: KafkaError) -> BusError {
    match error.rdkafka_error_code() {
        Some(code) if is_unknown_topic(code) => BusError::UnknownTopic(topic.to_owned()),
        Some(code) if is_refusal(code) => {
            BusError::Refused(format!("topic `{topic}` refused the record: {code}"))
        }
        _ => failures.unavailable(format!("failed to publish to topic `{topic}`"), error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_authentication_failure_explains_a_failed_request() {
        let failures = AuthFailures::default();
        let timeout = KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut);
        assert!(!failures.record(
            &KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "down"
        ));
        let error = failures.unavailable("failed to reach the kafka cluster", timeout.clone());
        assert!(matches!(error, BusError::Unavailable { .. }), "{error:?}");
        assert!(failures.record(
            &KafkaError::Global(RDKafkaErrorCode::Authentication),
            "SASL authentication error: invalid credentials"
        ));
        let error = failures.unavailable("failed to reach the kafka cluster", timeout.clone());
        assert_eq!(
            error.to_string(),
            "bus authentication failed: failed to reach the kafka cluster: SASL authentication error: invalid \
             credentials"
        );
        failures.clear();
        failures.log(
            RDKafkaLogLevel::Notice,
            "FAIL",
            "sasl_ssl://b:9093/bootstrap: Disconnected: SSL connection closed by peer (after 10ms in state UP)",
        );
        let error = failures.unavailable_without_source("no broker".to_owned());
        assert!(
            matches!(error, BusError::Unavailable { source: None, .. }),
            "{error:?}"
        );
        failures.log(
            RDKafkaLogLevel::Notice,
            "FAIL",
            "sasl_ssl://b:9093/bootstrap: Disconnected: SSL connection closed by peer (after 10ms in state \
             APIVERSION_QUERY)",
        );
        let error = failures.unavailable("failed to create topics", timeout);
        assert!(
            matches!(&error, BusError::Authentication { reason, .. } if reason.contains("closed by peer")),
            "{error:?}"
        );
    }

    #[test]
    fn maps_publish_errors_by_whether_retrying_helps() {
        let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(matches!(
            publish_error(&AuthFailures::default(), "t", too_large),
            BusError::Refused(_)
        ));
        let unknown = KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert!(
            matches!(publish_error(&AuthFailures::default(), "t", unknown), BusError::UnknownTopic(topic) if topic == "t")
        );
        let timed_out = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        let error = publish_error(&AuthFailures::default(), "t", timed_out);
        assert!(matches!(error, BusError::Unavailable { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "bus unavailable: failed to publish to topic `t`"
        );
        let canceled = KafkaError::Canceled;
        assert!(matches!(
            publish_error(&AuthFailures::default(), "t", canceled),
            BusError::Unavailable { .. }
        ));
    }
}
