//! Topics on the broker: how `ensure_topics` creates them, what `end_offsets` reports, what a refused record does.

use std::{collections::BTreeMap, time::Duration};

use accord_bus::{
    Bus, BusError, Record,
    kafka::{KafkaBus, KafkaConfig},
};
use rdkafka::{
    ClientConfig,
    admin::{AdminClient, AdminOptions, ResourceSpecifier},
    client::DefaultClientContext,
};

use crate::{PARTITIONS, bootstrap, config, unique};

/// Returns the broker's configuration of `topic`.
async fn topic_config(bootstrap: &str, topic: &str) -> BTreeMap<String, Option<String>> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("failed to create an admin client");
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
        .await
        .expect("failed to describe the topic");
    let resource = results
        .into_iter()
        .next()
        .expect("one result per resource")
        .unwrap_or_else(|error| panic!("failed to describe `{topic}`: {error:?}"));
    resource
        .entries
        .into_iter()
        .map(|entry| (entry.name, entry.value))
        .collect()
}

/// The compacted topics get `cleanup.policy=compact` and one partition (their readers need one total order), the
/// keyed topics (a report's records, by report id) their partitions, compaction with the retention and the
/// compaction lags, the others the configured retention and partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_with_their_partitions_and_policies() {
    let Some(bootstrap) = bootstrap() else { return };
    let (compacted, retained, keyed) = (unique("compacted"), unique("retained"), unique("keyed"));
    let config = accord_bus::kafka::KafkaConfig {
        compacted_topics: vec![compacted.clone()],
        keyed_topics: vec![keyed.clone()],
        retention_ms: Some(3_600_000),
        ..config(&bootstrap)
    };
    let max_message_bytes = config.message_max_bytes().to_string();
    let bus = KafkaBus::connect(config).expect("failed to create the clients");
    bus.ensure_topics(&[&compacted, &retained, &keyed])
        .await
        .expect("failed to create the topics");
    for (topic, partitions) in [
        (&compacted, 1),
        (&retained, usize::from(PARTITIONS)),
        (&keyed, usize::from(PARTITIONS)),
    ] {
        let ends = bus
            .end_offsets(topic)
            .await
            .expect("failed to read the ends");
        assert_eq!(ends.len(), partitions, "partitions of `{topic}`");
    }
    let compacted_config = topic_config(&bootstrap, &compacted).await;
    assert_eq!(
        compacted_config.get("cleanup.policy"),
        Some(&Some("compact".to_owned())),
        "{compacted_config:?}"
    );
    let retained_config = topic_config(&bootstrap, &retained).await;
    assert_eq!(
        retained_config.get("retention.ms"),
        Some(&Some("3600000".to_owned())),
        "{retained_config:?}"
    );
    assert_ne!(
        retained_config.get("cleanup.policy"),
        Some(&Some("compact".to_owned()))
    );
    let keyed_config = topic_config(&bootstrap, &keyed).await;
    let setting = |name: &str| keyed_config.get(name).cloned().flatten();
    assert_eq!(
        (
            setting("cleanup.policy"),
            setting("retention.ms"),
            setting("min.compaction.lag.ms"),
            setting("max.compaction.lag.ms"),
        ),
        (
            Some("compact,delete".to_owned()),
            Some("3600000".to_owned()),
            Some(accord_bus::kafka::MIN_COMPACTION_LAG_MS.to_string()),
            Some(accord_bus::kafka::MAX_COMPACTION_LAG_MS.to_string()),
        ),
        "{keyed_config:?}"
    );
    // Every topic takes the bus's largest record.
    for topic_config in [&compacted_config, &retained_config, &keyed_config] {
        assert_eq!(
            topic_config.get("max.message.bytes"),
            Some(&Some(max_message_bytes.clone())),
            "{topic_config:?}"
        );
    }
}

/// `end_offsets` gives each partition's next offset: one past the last record published there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_offsets_are_the_next_offset_of_every_partition() {
    let Some(bootstrap) = bootstrap() else { return };
    let bus = KafkaBus::connect(config(&bootstrap)).expect("failed to create the clients");
    let topic = unique("ends");
    bus.ensure_topics(&[&topic])
        .await
        .expect("failed to create the topic");
    let empty = bus
        .end_offsets(&topic)
        .await
        .expect("failed to read the ends");
    assert!(empty.iter().all(|end| end.offset == 0), "{empty:?}");
    let records = (0..20)
        .map(|i| Record::new(format!("key-{i}"), "{}"))
        .collect();
    let positions = bus
        .publish(&topic, records)
        .await
        .expect("failed to publish");
    let mut expected: BTreeMap<u32, u64> = (0..u32::from(PARTITIONS)).map(|p| (p, 0)).collect();
    for position in positions {
        let end = expected.entry(position.partition).or_default();
        *end = (*end).max(position.offset + 1);
    }
    let ends: BTreeMap<u32, u64> = bus
        .end_offsets(&topic)
        .await
        .expect("failed to read the ends")
        .into_iter()
        .map(|end| (end.partition, end.offset))
        .collect();
    assert_eq!(ends, expected);
    let unknown = bus.end_offsets(&unique("missing")).await;
    assert!(
        matches!(unknown, Err(BusError::UnknownTopic(_))),
        "{unknown:?}"
    );
}

/// A record too large for the producer is refused at once, and the bus goes on publishing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_records_are_refused() {
    let Some(bootstrap) = bootstrap() else { return };
    let bus = KafkaBus::connect(KafkaConfig {
        max_record_bytes: 1024 * 1024,
        ..config(&bootstrap)
    })
    .expect("failed to create the clients");
    assert_eq!(bus.max_record_bytes(), 1024 * 1024);
    let topic = unique("oversized");
    bus.ensure_topics(&[&topic])
        .await
        .expect("failed to create the topic");
    let huge = Record::new("k", vec![b'x'; 2 * 1024 * 1024]);
    let refused = bus.publish(&topic, vec![huge]).await;
    assert!(matches!(refused, Err(BusError::Refused(_))), "{refused:?}");
    bus.publish(&topic, vec![Record::new("k", "{}")])
        .await
        .expect("the bus must go on after a refusal");
    let empty_name = bus.ensure_topics(&[""]).await;
    assert!(
        matches!(empty_name, Err(BusError::Refused(_))),
        "{empty_name:?}"
    );
}
