//! Durability of the embedded log across restarts (drop and reopen of the same directory).
//!
//! A real crash (`kill -9`) cannot be staged from here; the log relies on redb's atomic, synced commits for that
//! (see the `embedded` module documentation), and these tests check that everything acknowledged is read back from
//! the file rather than from memory.

use accord_bus::{Bus, Position, Record, SubscribeOptions, embedded::EmbeddedBus};

use crate::TestDir;

fn record(i: usize) -> Record {
    Record::new("k", format!(r#"{{"n":{i}}}"#))
}

fn offsets(positions: &[Position]) -> Vec<u64> {
    positions.iter().map(|position| position.offset).collect()
}

async fn read_all(bus: &EmbeddedBus, topic: &str, num_records: usize) -> Vec<Record> {
    let options = SubscribeOptions {
        topic: topic.to_owned(),
        group: None,
    };
    let mut subscription = bus.subscribe(options).await.unwrap();
    let mut records = Vec::new();
    while records.len() < num_records {
        let batch = subscription
            .next_batch(num_records - records.len())
            .await
            .unwrap();
        for delivery in batch {
            assert_eq!(
                delivery.position.offset,
                records.len() as u64,
                "offsets must be dense and in order"
            );
            records.push(delivery.record);
        }
    }
    records
}

#[tokio::test]
async fn topics_records_and_offsets_survive_restarts() {
    let dir = TestDir::new();
    let mut expected = Vec::new();
    for restart in 0..5 {
        let bus = dir.open();
        if restart == 0 {
            bus.ensure_topics(&["reports.rejected"]).await.unwrap();
        }
        // The topic exists after a restart without ensuring it again, and offsets continue where they were.
        let batch: Vec<Record> = (restart * 10..restart * 10 + 10).map(record).collect();
        let positions = bus
            .publish("reports.rejected", batch.clone())
            .await
            .unwrap();
        assert_eq!(
            offsets(&positions),
            (restart as u64 * 10..restart as u64 * 10 + 10).collect::<Vec<_>>()
        );
        expected.extend(batch);
    }
    let bus = dir.open();
    assert_eq!(read_all(&bus, "reports.rejected", 50).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_publish_of_a_concurrent_burst_is_on_disk() {
    let dir = TestDir::new();
    let bus = std::sync::Arc::new(dir.open());
    bus.ensure_topics(&["t"]).await.unwrap();
    let mut publishers = Vec::new();
    for task in 0..20 {
        let bus = bus.clone();
        publishers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for seq in 0..25 {
                let record = Record::new(format!("task-{task}"), format!("{task}/{seq}"));
                let position = bus.publish("t", vec![record.clone()]).await.unwrap()[0];
                acknowledged.push((position.offset, record));
            }
            acknowledged
        }));
    }
    let mut acknowledged = Vec::new();
    for publisher in publishers {
        acknowledged.extend(publisher.await.unwrap());
    }
    drop(std::sync::Arc::into_inner(bus).expect("every publisher is done"));

    acknowledged.sort_by_key(|(offset, _)| *offset);
    assert_eq!(
        acknowledged
            .iter()
            .map(|(offset, _)| *offset)
            .collect::<Vec<_>>(),
        (0..500).collect::<Vec<_>>()
    );
    let bus = dir.open();
    let stored = read_all(&bus, "t", 500).await;
    let expected: Vec<Record> = acknowledged.into_iter().map(|(_, record)| record).collect();
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn group_offsets_survive_restarts_and_only_move_on_commit() {
    let dir = TestDir::new();
    let options = SubscribeOptions {
        topic: "t".into(),
        group: Some("indexer".into()),
    };
    {
        let bus = dir.open();
        bus.ensure_topics(&["t"]).await.unwrap();
        bus.publish("t", (0..5).map(record).collect())
            .await
            .unwrap();
        let mut subscription = bus.subscribe(options.clone()).await.unwrap();
        let batch = subscription.next_batch(2).await.unwrap();
        assert_eq!(batch.len(), 2);
        // Only delivered positions count: 2..5 were not delivered yet, so the commit stores 2.
        let all: Vec<Position> = (0..5)
            .map(|offset| Position {
                partition: 0,
                offset,
            })
            .collect();
        subscription.commit(&all).await.unwrap();
    }
    let bus = dir.open();
    let mut subscription = bus.subscribe(options).await.unwrap();
    let batch = subscription.next_batch(10).await.unwrap();
    assert_eq!(
        batch.first().map(|delivery| delivery.position.offset),
        Some(2)
    );
}

#[tokio::test]
async fn a_damaged_record_is_delivered_as_corrupt_in_its_place_and_the_rest_flows() {
    let dir = TestDir::new();
    {
        let bus = dir.open();
        bus.ensure_topics(&["reports.rejected"]).await.unwrap();
        let batch: Vec<Record> = (0..3)
            .map(|i| Record::new(format!("report--{i}"), format!(r#"{{"n":{i}}}"#)))
            .collect();
        bus.publish("reports.rejected", batch).await.unwrap();
    }
    // Damage one byte of the payload of the record at offset 1, as a failing disk would, behind the bus's back.
    {
        let db = redb::Database::open(dir.path().join(accord_bus::embedded::FILE_NAME)).unwrap();
        let table: redb::TableDefinition<'_, u64, &[u8]> =
            redb::TableDefinition::new("log/reports.rejected");
        let txn = db.begin_write().unwrap();
        {
            use redb::ReadableTable as _;
            let mut log = txn.open_table(table).unwrap();
            let mut bytes = log.get(1).unwrap().unwrap().value().to_vec();
            let last = bytes.len() - 2;
            bytes[last] ^= 0x20;
            log.insert(1, bytes.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let bus = dir.open();
    let records = read_all(&bus, "reports.rejected", 3).await;
    assert_eq!(records[0], Record::new("report--0", r#"{"n":0}"#));
    assert_eq!(records[2], Record::new("report--2", r#"{"n":2}"#));
    let damaged = &records[1];
    assert_eq!(
        damaged.key.as_deref(),
        Some("report--1"),
        "the key is salvaged for the dead letter"
    );
    assert!(damaged.payload.is_empty());
    let reason = damaged
        .headers
        .iter()
        .find(|(name, _)| name == accord_bus::HEADER_CORRUPT)
        .map(|(_, value)| value.clone())
        .expect("marked corrupt");
    assert!(
        reason.contains("reports.rejected offset 1") && reason.contains("checksum"),
        "{reason}"
    );
}
