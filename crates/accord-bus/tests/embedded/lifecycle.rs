//! Opening, closing and the embedded-only semantics of the bus.

use std::time::Duration;

use accord_bus::{
    Bus, BusClient, BusError, Position, Record, SubscribeOptions, embedded::EmbeddedBus,
};

use crate::TestDir;

fn options(topic: &str, group: Option<&str>) -> SubscribeOptions {
    SubscribeOptions {
        topic: topic.to_owned(),
        group: group.map(str::to_owned),
    }
}

#[tokio::test]
async fn opens_one_file_in_the_data_directory_creating_it() {
    let dir = TestDir::new();
    let bus = dir.open();
    assert_eq!(bus.path(), dir.path().join("bus.redb"));
    assert!(bus.path().is_file());
    bus.health().await.unwrap();
}

#[tokio::test]
async fn from_url_opens_the_embedded_bus() {
    let dir = TestDir::new();
    let url = format!("embedded://{}", dir.path().display());
    let bus = BusClient::from_url(&url).await.unwrap();
    bus.ensure_topics(&["t"]).await.unwrap();
    drop(bus);
    // A plain path names the same log.
    let bus = BusClient::from_url(&dir.path().display().to_string())
        .await
        .unwrap();
    bus.publish("t", vec![Record::new("k", "{}")])
        .await
        .unwrap();
    let error = BusClient::from_url("nats://localhost:4222")
        .await
        .unwrap_err();
    assert!(matches!(error, BusError::InvalidUrl(_)), "{error:?}");
}

#[tokio::test]
async fn a_directory_is_open_by_one_bus_at_a_time() {
    let dir = TestDir::new();
    let bus = dir.open();
    let error = EmbeddedBus::open(dir.path()).unwrap_err();
    assert!(matches!(error, BusError::Unavailable { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("bus unavailable: failed to open the bus log"),
        "{error}"
    );
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(
        cause.contains("is in use: another Accord process holds") && cause.contains("bus.redb"),
        "{cause}"
    );
    drop(bus);
    dir.open();
}

#[tokio::test]
async fn refuses_bad_topics_and_oversized_records() {
    let dir = TestDir::new();
    let bus = dir.open();
    assert!(matches!(
        bus.ensure_topics(&["ok", ""]).await,
        Err(BusError::Refused(_))
    ));
    let error = bus
        .subscribe(options("ok", None))
        .await
        .err()
        .expect("no topic was created");
    assert!(
        matches!(&error, BusError::UnknownTopic(topic) if topic == "ok"),
        "{error:?}"
    );
    bus.ensure_topics(&["ok"]).await.unwrap();
    let huge = Record::new("k", vec![b'x'; 17 * 1024 * 1024]);
    assert!(matches!(
        bus.publish("ok", vec![huge]).await,
        Err(BusError::Refused(_))
    ));
    // Nothing of the refused publish was written.
    let positions = bus
        .publish("ok", vec![Record::new("k", "{}")])
        .await
        .unwrap();
    assert_eq!(
        positions,
        [Position {
            partition: 0,
            offset: 0
        }]
    );
}

#[tokio::test]
async fn subscriptions_in_one_group_read_independently() {
    let dir = TestDir::new();
    let bus = dir.open();
    bus.ensure_topics(&["t"]).await.unwrap();
    bus.publish(
        "t",
        (0..3).map(|i| Record::new("k", format!("{i}"))).collect(),
    )
    .await
    .unwrap();
    let mut first = bus.subscribe(options("t", Some("g"))).await.unwrap();
    let batch = first.next_batch(1).await.unwrap();
    first.commit(&[batch[0].position]).await.unwrap();
    // A second subscription of the group starts at the committed offset and reads on its own.
    let mut second = bus.subscribe(options("t", Some("g"))).await.unwrap();
    let batch = second.next_batch(10).await.unwrap();
    assert_eq!(
        batch
            .iter()
            .map(|delivery| delivery.position.offset)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    let batch = first.next_batch(10).await.unwrap();
    assert_eq!(
        batch
            .iter()
            .map(|delivery| delivery.position.offset)
            .collect::<Vec<_>>(),
        [1, 2]
    );
}

#[tokio::test]
async fn open_subscriptions_report_closed_and_do_not_keep_the_file_open() {
    let dir = TestDir::new();
    let bus = dir.open();
    bus.ensure_topics(&["t"]).await.unwrap();
    bus.publish("t", vec![Record::new("k", "{}")])
        .await
        .unwrap();
    let mut reader = bus.subscribe(options("t", Some("g"))).await.unwrap();
    let delivered = reader.next_batch(10).await.unwrap();
    let waiter = tokio::spawn(async move {
        let outcome = reader.next_batch(10).await;
        (reader, outcome)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !waiter.is_finished(),
        "next_batch must wait while there is nothing to deliver"
    );

    drop(bus);
    let (mut reader, outcome) = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(outcome, Err(BusError::Closed)), "{outcome:?}");
    let outcome = reader.commit(&[delivered[0].position]).await;
    assert!(matches!(outcome, Err(BusError::Closed)), "{outcome:?}");
    // The old subscription does not keep the file open, and nothing was committed through it.
    let bus = dir.open();
    let mut reader = bus.subscribe(options("t", Some("g"))).await.unwrap();
    assert_eq!(reader.next_batch(10).await.unwrap()[0].position.offset, 0);
}
