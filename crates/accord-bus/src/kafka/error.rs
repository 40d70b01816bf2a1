//! How librdkafka errors map onto [`BusError`].
//!
//! The distinction that matters to callers is whether retrying can help:
//! - a record the broker or the client will never accept (too large, invalid, a policy violation) is
//!   [`BusError::Refused`]: retrying the same record fails the same way (vector `sinks/kafka/service.rs` does the same);
//! - a topic that does not exist is [`BusError::UnknownTopic`];
//! - everything else (timeouts, brokers down, coordinator moves, a fatal idempotence error) is
//!   [`BusError::Unavailable`] with the librdkafka error as its source.
//!
//! `QueueFull` never gets here: the producer treats it as backpressure and retries.

use rdkafka::{error::KafkaError, types::RDKafkaErrorCode};

use crate::BusError;

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
pub(super) fn publish_error(topic: &str, error: KafkaError) -> BusError {
    match error.rdkafka_error_code() {
        Some(code) if is_unknown_topic(code) => BusError::UnknownTopic(topic.to_owned()),
        Some(code) if is_refusal(code) => {
            BusError::Refused(format!("topic `{topic}` refused the record: {code}"))
        }
        _ => BusError::unavailable(format!("failed to publish to topic `{topic}`"), error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_publish_errors_by_whether_retrying_helps() {
        let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(matches!(
            publish_error("t", too_large),
            BusError::Refused(_)
        ));
        let unknown = KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert!(
            matches!(publish_error("t", unknown), BusError::UnknownTopic(topic) if topic == "t")
        );
        let timed_out = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        let error = publish_error("t", timed_out);
        assert!(matches!(error, BusError::Unavailable { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "bus unavailable: failed to publish to topic `t`"
        );
        let canceled = KafkaError::Canceled;
        assert!(matches!(
            publish_error("t", canceled),
            BusError::Unavailable { .. }
        ));
    }
}
