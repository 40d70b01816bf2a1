//! Live compaction of the keyed topics ([`crate::KEYED_TOPICS`]): the embedded log's counterpart of Kafka's log
//! cleaner on a topic with `cleanup.policy=compact`.
//!
//! The contract:
//! - **The last record of a key is the key's state.** Once the cleaner reaches a record, the earlier record with the
//!   same key is removed from the log. A report's records on `reports.raw`, `reports.normalized` and
//!   `reports.releasable` share its id as key, so after a retraction (a control record, content-free) or an
//!   amendment (a full new version) nothing of the earlier versions stays in the log. Records without a key, and
//!   records that cannot be read back (damaged: their readers dead-letter them), are kept and never supersede.
//! - **Consumers first.** The cleaner reaches a record only once every consumer group reading the topic has
//!   committed past it, so a stage that lags still reads every record in order (Kafka's cleaner does not wait for
//!   consumers; the Kafka bus gives these topics a `min.compaction.lag.ms` instead). A group that is behind and has
//!   not committed for [`IDLE_GROUP`] (a group no process uses any more, or a stage that cannot make progress) stops
//!   holding the cleaner back. A group counts from the moment one of its subscriptions opens (before it reads its
//!   committed offset), also when it has committed nothing yet. Groupless readers (refills, tools) read whatever is
//!   there.
//! - **Offsets stay.** A removed record leaves a gap; readers skip it. The log end never moves back.
//! - **In the writer's transactions.** Each write transaction cleans up to [`MAX_CLEANED_PER_TRANSACTION`] records
//!   of each keyed topic; while the cleaner is behind and no command waits, the writer runs transactions that only
//!   clean. Cleaning a range again is harmless (the key's last offset is the record itself), so a commit whose
//!   outcome was an error cannot remove a record twice or the wrong one.
//!
//! State, in the log's file: `compaction_marks` (topic → the offset cleaned up to) and `latest/<topic>` (key → the
//! offset of its last record the cleaner reached).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

use super::{
    codec,
    writer::{GROUP_OFFSETS, log_table, log_table_name},
};

/// Keyed topic → the offset the cleaner has reached (every record below it was cleaned).
pub(super) const MARKS: TableDefinition<'static, &str, u64> =
    TableDefinition::new("compaction_marks");

/// How long a group that is behind may go without committing before it stops holding the cleaner back.
pub(super) const IDLE_GROUP: Duration = Duration::from_secs(3600);

/// Most records of one topic the cleaner reaches in one transaction.
pub(super) const MAX_CLEANED_PER_TRANSACTION: u64 = 2048;

/// Returns the name of the table of `topic`'s keys and the offset of each key's last record.
fn latest_table_name(topic: &str) -> String {
    format!("latest/{topic}")
}

fn latest_table(name: &str) -> TableDefinition<'_, &'static str, u64> {
    TableDefinition::new(name)
}

/// A range of one topic to clean in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Clean {
    pub(super) topic: String,
    pub(super) from: u64,
    pub(super) to: u64,
}

/// Where a group stands on a topic.
#[derive(Debug, Clone, Copy)]
struct GroupMark {
    next: u64,
    /// When it last committed (or when the bus opened, for an offset loaded from the file).
    at: Instant,
}

/// The cleaner's view of the keyed topics and their groups; see the module documentation.
#[derive(Debug)]
pub(super) struct Cleaner {
    /// Keyed topic → the offset reached (committed).
    marks: HashMap<String, u64>,
    /// Keyed topic → group → where it stands.
    groups: HashMap<String, HashMap<String, GroupMark>>,
    idle: Duration,
}

impl Cleaner {
    /// Loads the marks and the groups' offsets of the keyed topics.
    ///
    /// # Errors
    /// When the file cannot be read or written (the tables are created when missing).
    pub(super) fn load(db: &Database) -> Result<Self, redb::Error> {
        let txn = db.begin_write()?;
        let mut cleaner = Self {
            marks: HashMap::new(),
            groups: HashMap::new(),
            idle: IDLE_GROUP,
        };
        {
            let marks = txn.open_table(MARKS)?;
            for entry in marks.iter()? {
                let (topic, mark) = entry?;
                cleaner.marks.insert(topic.value().to_owned(), mark.value());
            }
            let offsets = txn.open_table(GROUP_OFFSETS)?;
            let now = Instant::now();
            for entry in offsets.iter()? {
                let (key, next) = entry?;
                let (group, topic) = key.value();
                cleaner.committed(group, topic, next.value(), now);
            }
        }
        txn.commit()?;
        Ok(cleaner)
    }

    /// Notes a group's committed offset (after its transaction committed).
    pub(super) fn committed(&mut self, group: &str, topic: &str, next: u64, at: Instant) {
        if crate::KEYED_TOPICS.contains(&topic) {
            self.groups
                .entry(topic.to_owned())
                .or_default()
                .insert(group.to_owned(), GroupMark { next, at });
        }
    }

    /// Notes that a subscription of `group` reads `topic`: a group that has committed nothing yet holds the cleaner
    /// back from its start, and one that has counts as active again.
    pub(super) fn joined(&mut self, group: &str, topic: &str, at: Instant) {
        if crate::KEYED_TOPICS.contains(&topic) {
            let groups = self.groups.entry(topic.to_owned()).or_default();
            groups
                .entry(group.to_owned())
                .and_modify(|mark| mark.at = at)
                .or_insert(GroupMark { next: 0, at });
        }
    }

    /// Returns the ranges due for cleaning, given each keyed topic's log end.
    pub(super) fn due(&self, ends: impl Fn(&str) -> Option<u64>, now: Instant) -> Vec<Clean> {
        crate::KEYED_TOPICS
            .iter()
            .filter_map(|&topic| {
                let end = ends(topic)?;
                let from = self.marks.get(topic).copied().unwrap_or(0);
                let limit = self.limit(topic, end, now);
                let to = limit.min(from.saturating_add(MAX_CLEANED_PER_TRANSACTION));
                (to > from).then(|| Clean {
                    topic: topic.to_owned(),
                    from,
                    to,
                })
            })
            .collect()
    }

    /// The offset every group holding the cleaner back has committed, at most `end`.
    fn limit(&self, topic: &str, end: u64, now: Instant) -> u64 {
        self.groups
            .get(topic)
            .into_iter()
            .flat_map(HashMap::values)
            .filter(|mark| mark.next < end && now.duration_since(mark.at) < self.idle)
            .map(|mark| mark.next)
            .fold(end, u64::min)
    }

    /// Notes the ranges a committed transaction cleaned.
    pub(super) fn cleaned(&mut self, cleans: &[Clean]) {
        for clean in cleans {
            self.marks.insert(clean.topic.clone(), clean.to);
        }
    }
}

/// Cleans `clean` within `txn`: for each keyed record of the range, removes the earlier record of its key. Returns
/// how many records were removed.
///
/// # Errors
/// When the log cannot be read or written.
pub(super) fn clean(txn: &WriteTransaction, clean: &Clean) -> Result<usize, redb::Error> {
    let name = log_table_name(&clean.topic);
    let mut log = txn.open_table(log_table(&name))?;
    let keyed: Vec<(u64, String)> = log
        .range(clean.from..clean.to)?
        .filter_map(|entry| {
            let (offset, bytes) = entry.ok()?;
            let key = codec::key(bytes.value()).ok()??;
            Some((offset.value(), key))
        })
        .collect();
    let latest_name = latest_table_name(&clean.topic);
    let mut latest = txn.open_table(latest_table(&latest_name))?;
    let mut removed = 0;
    for (offset, key) in keyed {
        let previous = latest.insert(key.as_str(), offset)?.map(|old| old.value());
        if let Some(previous) = previous
            && previous < offset
            && log.remove(previous)?.is_some()
        {
            removed += 1;
        }
    }
    txn.open_table(MARKS)?
        .insert(clean.topic.as_str(), clean.to)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bus, Record, SubscribeOptions, embedded::EmbeddedBus};

    /// Reads `topic` from the start, groupless: (offset, payload) of every record there.
    async fn contents(bus: &EmbeddedBus, topic: &str) -> Vec<(u64, String)> {
        let end = bus.end_offsets(topic).await.unwrap()[0].offset;
        let options = SubscribeOptions {
            topic: topic.to_owned(),
            group: None,
        };
        let mut subscription = bus.subscribe(options).await.unwrap();
        let mut records = Vec::new();
        while records.last().is_none_or(|(offset, _)| offset + 1 < end) {
            let batch = tokio::time::timeout(Duration::from_secs(5), subscription.next_batch(100));
            let batch = batch.await.unwrap().unwrap();
            records.extend(batch.into_iter().map(|delivery| {
                let payload = String::from_utf8(delivery.record.payload.to_vec()).unwrap();
                (delivery.position.offset, payload)
            }));
        }
        records
    }

    /// Waits until `topic` holds exactly `wanted` (the cleaner runs on the writer thread, after the commits).
    async fn wait_contents(bus: &EmbeddedBus, topic: &str, wanted: &[(u64, &str)]) {
        let wanted: Vec<(u64, String)> = wanted
            .iter()
            .map(|(offset, payload)| (*offset, (*payload).to_owned()))
            .collect();
        for _ in 0..500 {
            if contents(bus, topic).await == wanted {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(contents(bus, topic).await, wanted);
    }

    #[tokio::test]
    async fn a_superseded_record_leaves_the_log_once_every_group_has_passed_its_successor() {
        let topic = crate::KEYED_TOPICS[0];
        let dir = tempfile::tempdir().unwrap();
        let bus = EmbeddedBus::open(dir.path()).unwrap();
        bus.ensure_topics(&[topic, "other"]).await.unwrap();
        let mut unkeyed = Record::new("-", "none");
        unkeyed.key = None;
        let records = vec![
            Record::new("a", "a1"),
            Record::new("b", "b1"),
            unkeyed,
            Record::new("a", "a2"),
            Record::new("b", "b2"),
        ];
        let group = |name: &str| SubscribeOptions {
            topic: topic.to_owned(),
            group: Some(name.to_owned()),
        };
        // Both groups read the topic before anything is published: neither has committed.
        let mut fast = bus.subscribe(group("fast")).await.unwrap();
        let mut slow = bus.subscribe(group("slow")).await.unwrap();
        bus.publish(topic, records.clone()).await.unwrap();
        bus.publish("other", records).await.unwrap();
        let delivered = fast.next_batch(10).await.unwrap();
        let positions: Vec<_> = delivered.iter().map(|delivery| delivery.position).collect();
        fast.commit(&positions).await.unwrap();
        // The slow group has read up to `a2` (offset 3) only: `a1` goes, `b1` stays for it.
        let delivered = slow.next_batch(10).await.unwrap();
        let read: Vec<_> = delivered[..4]
            .iter()
            .map(|delivery| delivery.position)
            .collect();
        slow.commit(&read).await.unwrap();
        wait_contents(&bus, topic, &[(1, "b1"), (2, "none"), (3, "a2"), (4, "b2")]).await;
        slow.commit(&[delivered[4].position]).await.unwrap();
        wait_contents(&bus, topic, &[(2, "none"), (3, "a2"), (4, "b2")]).await;
        // A group that reads the compacted topic later commits past the gaps.
        let mut late = bus.subscribe(group("late")).await.unwrap();
        let delivered = late.next_batch(10).await.unwrap();
        let read: Vec<_> = delivered.iter().map(|delivery| delivery.position).collect();
        assert_eq!(read.iter().map(|p| p.offset).collect::<Vec<_>>(), [2, 3, 4]);
        late.commit(&read).await.unwrap();
        assert_eq!(
            bus.committed_offsets("late", topic).await.unwrap()[0].offset,
            5
        );
        drop(late);
        // A topic that is not keyed keeps everything.
        assert_eq!(contents(&bus, "other").await.len(), 5);
        // After a restart the cleaner goes on from its mark: a new version of `a` replaces `a2`.
        drop((fast, slow, bus));
        let bus = EmbeddedBus::open(dir.path()).unwrap();
        bus.publish(topic, vec![Record::new("a", "a3")])
            .await
            .unwrap();
        let mut fast = bus.subscribe(group("fast")).await.unwrap();
        let mut slow = bus.subscribe(group("slow")).await.unwrap();
        let mut late = bus.subscribe(group("late")).await.unwrap();
        for subscription in [&mut fast, &mut slow, &mut late] {
            let delivered = subscription.next_batch(10).await.unwrap();
            assert_eq!(delivered.len(), 1);
            subscription.commit(&[delivered[0].position]).await.unwrap();
        }
        wait_contents(&bus, topic, &[(2, "none"), (4, "b2"), (5, "a3")]).await;
    }

    fn cleaner() -> Cleaner {
        Cleaner {
            marks: HashMap::new(),
            groups: HashMap::new(),
            idle: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_slowest_active_group_bounds_the_range() {
        let topic = crate::KEYED_TOPICS[0];
        let now = Instant::now();
        let mut cleaner = cleaner();
        let ends = |name: &str| (name == topic).then_some(10);
        assert_eq!(
            cleaner.due(ends, now),
            [Clean {
                topic: topic.into(),
                from: 0,
                to: 10
            }],
            "no group: everything published"
        );
        cleaner.committed("fast", topic, 10, now);
        cleaner.committed("slow", topic, 4, now);
        assert_eq!(cleaner.due(ends, now)[0].to, 4);
        // A group behind that has not committed for longer than the idle time no longer holds it back.
        assert_eq!(cleaner.due(ends, now + Duration::from_secs(61))[0].to, 10);
        cleaner.cleaned(&cleaner.due(ends, now));
        assert!(
            cleaner.due(ends, now).is_empty(),
            "cleaned up to the slow group"
        );
        cleaner.committed("other", "not-keyed", 0, now);
        assert!(!cleaner.groups.contains_key("not-keyed"));
    }

    #[test]
    fn a_range_is_bounded_per_transaction() {
        let topic = crate::KEYED_TOPICS[1];
        let due = cleaner().due(|_| Some(MAX_CLEANED_PER_TRANSACTION * 3), Instant::now());
        let clean = due.iter().find(|clean| clean.topic == topic).unwrap();
        assert_eq!((clean.from, clean.to), (0, MAX_CLEANED_PER_TRANSACTION));
    }
}
