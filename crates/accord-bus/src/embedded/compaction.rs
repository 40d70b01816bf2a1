//! Log compaction of the embedded log, the way Kafka's log cleaner compacts a topic with `cleanup.policy=compact`:
//! of the records sharing a key only the last one is kept, records without a key are kept, and the kept records keep
//! their offsets (a reader sees a gap where a record was removed). The embedded bus compacts only the keyed topics on
//! its own (the `cleaner` module, as they are consumed); this compacts any topic of a closed log at once, so that a
//! test, or an operator, can see what a compacted Kafka topic would hold.

use std::{collections::HashMap, path::Path};

use redb::{Database, ReadableTable};

use super::{
    FILE_NAME, codec,
    writer::{TOPICS, log_table, log_table_name},
};
use crate::BusError;

/// Compacts `topic` in the closed log of `dir` (no [`super::EmbeddedBus`] may have it open): keeps the last record
/// of each key and every record without a key. Returns how many records were removed.
///
/// # Errors
/// [`BusError::Unavailable`] when the file cannot be opened (another bus has it open), read or written;
/// [`BusError::UnknownTopic`] when the topic has no log.
pub fn compact(dir: impl AsRef<Path>, topic: &str) -> Result<usize, BusError> {
    let path = dir.as_ref().join(FILE_NAME);
    let unavailable = |error: redb::Error| {
        BusError::unavailable(
            format!("failed to compact topic `{topic}` of `{}`", path.display()),
            error,
        )
    };
    let db = Database::open(&path).map_err(|error| unavailable(error.into()))?;
    let txn = db
        .begin_write()
        .map_err(|error| unavailable(error.into()))?;
    let known = txn
        .open_table(TOPICS)
        .and_then(|topics| Ok(topics.get(topic)?.is_some()))
        .map_err(|error| unavailable(error.into()))?;
    if !known {
        return Err(BusError::UnknownTopic(topic.to_owned()));
    }
    let removed = {
        let name = log_table_name(topic);
        let mut table = match txn.open_table(log_table(&name)) {
            Ok(table) => table,
            Err(error) => return Err(unavailable(error.into())),
        };
        let mut last: HashMap<String, u64> = HashMap::new();
        let mut keyed: Vec<(u64, String)> = Vec::new();
        for entry in table.iter().map_err(|error| unavailable(error.into()))? {
            let (offset, bytes) = entry.map_err(|error| unavailable(error.into()))?;
            let offset = offset.value();
            // A damaged record is kept as it is: its readers dead-letter it.
            let Ok(record) = codec::decode(bytes.value()) else {
                continue;
            };
            if let Some(key) = record.key {
                last.insert(key.clone(), offset);
                keyed.push((offset, key));
            }
        }
        let mut removed = 0;
        for (offset, key) in keyed {
            if last.get(&key) != Some(&offset) {
                table
                    .remove(offset)
                    .map_err(|error| unavailable(error.into()))?;
                removed += 1;
            }
        }
        removed
    };
    txn.commit().map_err(|error| unavailable(error.into()))?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use crate::{Bus, Record, SubscribeOptions, embedded::EmbeddedBus};

    #[tokio::test]
    async fn only_the_last_record_of_each_key_stays_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EmbeddedBus::open(dir.path()).unwrap();
        bus.ensure_topics(&["t"]).await.unwrap();
        let mut unkeyed = Record::new("x", "none");
        unkeyed.key = None;
        let records = vec![
            Record::new("a", "a1"),
            Record::new("b", "b1"),
            Record::new("a", "a2"),
            unkeyed,
            Record::new("b", "b2"),
        ];
        bus.publish("t", records).await.unwrap();
        drop(bus);
        assert_eq!(super::compact(dir.path(), "t").unwrap(), 2);
        assert!(matches!(
            super::compact(dir.path(), "missing"),
            Err(crate::BusError::UnknownTopic(_))
        ));
        let bus = EmbeddedBus::open(dir.path()).unwrap();
        let mut subscription = bus
            .subscribe(SubscribeOptions {
                topic: "t".to_owned(),
                group: None,
            })
            .await
            .unwrap();
        let kept: Vec<(u64, String)> = subscription
            .next_batch(10)
            .await
            .unwrap()
            .into_iter()
            .map(|delivery| {
                let payload = String::from_utf8(delivery.record.payload.to_vec()).unwrap();
                (delivery.position.offset, payload)
            })
            .collect();
        assert_eq!(
            kept,
            [
                (2, "a2".to_owned()),
                (3, "none".to_owned()),
                (4, "b2".to_owned())
            ]
        );
    }
}
