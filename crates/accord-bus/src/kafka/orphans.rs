//! Partitions a group leaves to nobody, and the member that takes them back by joining again.
//!
//! A member that dies without leaving its group (SIGKILL, a host gone) and never comes back must lose its partitions
//! once its session is over: the coordinator drops it and makes the group rebalance, and the members left share its
//! partitions. tansu 0.6 does not always: when it finds the dead member's session over while answering another
//! member's heartbeat, it drops the member but keeps the group formed; the member left is told to rejoin, rejoins
//! with its member id, and is handed its old share again. The dead member's partitions are then read by nobody, for
//! good (measured: `kafka_pipeline lost_for_good`, two normalizers on four partitions, one killed: the reports of its
//! partitions never normalized).
//!
//! The watch: every [`interval`], at a phase of its own, the poll thread of a grouped subscription looks at the
//! partitions of its topic it is *not* assigned: their committed offset in the group (`OffsetFetch`) and their end
//! (`ListOffsets`). A partition with records past its committed offset, whose committed offset has not moved over
//! three checks in a row, is read by nobody (its owner commits after each batch). The member then leaves the group
//! and subscribes again: a new member id, which makes any coordinator form the group anew and hand out every
//! partition. Members check at different phases, so the first to act ends the stall before the others count it.
//! (Describing the group instead, `DescribeGroups`, is what a client would ask first; tansu 0.6 drops the connection
//! on it.) The interval is long enough that a live owner commits in it: a stage commits every batch, and a batch
//! that takes longer than the interval (a stage blocked by an outage downstream) costs one needless rebalance, which
//! at-least-once delivery absorbs.
//!
//! # Beacons: a partition with nothing to read
//! A partition whose records were all committed looks the same whether its owner is alive or gone, and an owner
//! may have work there without records: the enforcer re-evaluates the reports of the partitions it owns when an MoU
//! changes. So on a keyed topic ([`crate::KEYED_TOPICS`], compacted) the check writes a beacon
//! ([`crate::BEACON_HEADER`], key [`crate::BEACON_KEY`]) into each partition it is not assigned whose committed
//! offset is its end. A live owner's subscription takes the beacon without delivering it, marks it processed and
//! commits past it at once (the `consumer` module); a partition nobody reads keeps it uncommitted, and the checks
//! above count it like any record waiting. A beacon is written only into a partition with nothing waiting, so a
//! partition nobody reads gets one per member, and a healthy one at most one per member every two intervals;
//! compaction keeps one per partition.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant, SystemTime},
};

use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer, ConsumerContext},
    message::{Header, OwnedHeaders},
    producer::FutureRecord,
};
use tracing::{debug, warn};

use super::BusContext;

/// How long reading one set of offsets may take (it blocks the poll thread).
const TIMEOUT: Duration = Duration::from_secs(2);

/// Checks in a row, after the first, that must find the same partition stalled before the member joins again.
const STRIKES: u32 = 2;

/// How often a member checks: three session timeouts, at least 10 s, so that a dead member's session is over (and a
/// correct coordinator has rebalanced) and a live owner has committed before a stall counts.
pub(super) fn interval(session_timeout: Duration) -> Duration {
    session_timeout
        .saturating_mul(3)
        .max(Duration::from_secs(10))
}

/// One subscription's watch; see the module documentation.
pub(super) struct Watch {
    interval: Duration,
    next: Instant,
    /// What the last check found: per partition not assigned here with records past its committed offset, that
    /// offset.
    behind: HashMap<i32, i64>,
    strikes: u32,
}

impl Watch {
    /// A watch checking every `interval`, first after one interval plus a phase of its own (so that the members of
    /// a group do not check in step).
    pub(super) fn new(interval: Duration) -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let phase = interval.mul_f64(f64::from(nanos) / 1e9);
        Self {
            interval,
            next: Instant::now() + interval + phase,
            behind: HashMap::new(),
            strikes: 0,
        }
    }

    /// Whether a check is due now.
    pub(super) fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Records what a check found (`behind`: per partition not assigned here with records past its committed offset,
    /// that offset; `None` when the offsets could not be read); returns the partitions that made no progress since the
    /// last check, at [`STRIKES`] checks in a row, when the member should join again now (empty otherwise).
    ///
    /// A check that could not read the offsets counts neither way: the next one compares with the last read. A
    /// broker slow enough to time the reads out is when partitions are most likely left to nobody, so starting the
    /// count over there could keep a member from ever joining again.
    pub(super) fn observe(&mut self, behind: Option<HashMap<i32, i64>>) -> Vec<i32> {
        self.next = Instant::now() + self.interval;
        let Some(behind) = behind else {
            return Vec::new();
        };
        let mut stalled: Vec<i32> = behind
            .iter()
            .filter(|(partition, offset)| self.behind.get(partition) == Some(offset))
            .map(|(partition, _)| *partition)
            .collect();
        stalled.sort_unstable();
        self.behind = behind;
        if stalled.is_empty() {
            self.strikes = 0;
            return Vec::new();
        }
        self.strikes += 1;
        if self.strikes < STRIKES {
            return Vec::new();
        }
        self.strikes = 0;
        self.behind.clear();
        stalled
    }
}

/// What a check found in the partitions of a topic not assigned here.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Others {
    /// Per partition with records past the group's committed offset, that offset (-1 when the group committed none).
    pub(super) behind: HashMap<i32, i64>,
    /// The partitions with records, all of them committed by the group.
    pub(super) idle: Vec<i32>,
}

/// What the partitions of `topic` (`0..partitions`) not in `mine` hold past the group's committed offsets; `None`
/// when the offsets cannot be read.
pub(super) fn others<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: usize,
    mine: &HashSet<i32>,
) -> Option<Others> {
    let others: Vec<i32> = (0..i32::try_from(partitions).ok()?)
        .filter(|partition| !mine.contains(partition))
        .collect();
    let mut found = Others::default();
    if others.is_empty() {
        return Some(found);
    }
    let mut wanted = TopicPartitionList::new();
    for &partition in &others {
        wanted.add_partition(topic, partition);
    }
    let committed = consumer.committed_offsets(wanted, TIMEOUT).ok()?;
    for element in committed.elements() {
        let offset = match element.offset() {
            Offset::Offset(offset) => offset,
            _ => -1,
        };
        let (_, end) = consumer
            .fetch_watermarks(topic, element.partition(), TIMEOUT)
            .ok()?;
        if end > offset.max(0) {
            found.behind.insert(element.partition(), offset);
        } else if end > 0 {
            found.idle.push(element.partition());
        }
    }
    Some(found)
}

/// Writes beacons (see the module documentation) into partitions of one keyed topic, for one group.
pub(super) struct Beacons {
    producer: rdkafka::producer::FutureProducer<BusContext>,
    topic: String,
    group: String,
}

impl Beacons {
    /// Beacons of `group` on `topic`, written with the bus's producer.
    pub(super) fn new(
        producer: rdkafka::producer::FutureProducer<BusContext>,
        topic: &str,
        group: &str,
    ) -> Self {
        Self {
            producer,
            topic: topic.to_owned(),
            group: group.to_owned(),
        }
    }

    /// Enqueues one beacon per partition, without waiting for its delivery: a beacon lost is written again at a
    /// later check.
    pub(super) fn send(&self, partitions: &[i32]) {
        for &partition in partitions {
            let headers = OwnedHeaders::new().insert(Header {
                key: crate::BEACON_HEADER,
                value: Some(self.group.as_bytes()),
            });
            let record = FutureRecord::to(&self.topic)
                .partition(partition)
                .key(crate::BEACON_KEY)
                .payload(self.group.as_bytes())
                .headers(headers);
            match self.producer.send_result(record) {
                Ok(_delivery) => {
                    debug!(topic = %self.topic, group = %self.group, partition, "beacon written")
                }
                Err((error, _)) => {
                    warn!(%error, topic = %self.topic, group = %self.group, partition, "failed to write a beacon")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_without_progress_over_three_checks_makes_the_member_join_again() {
        let mut watch = Watch::new(Duration::from_secs(10));
        assert!(!watch.due(), "the first check waits an interval");
        let at = |offset: i64| Some(HashMap::from([(1, offset), (3, 7)]));
        assert!(watch.observe(at(5)).is_empty(), "first sight");
        assert!(
            watch.observe(at(6)).is_empty(),
            "partition 1 moved, partition 3 did not: one strike"
        );
        assert!(
            watch.observe(None).is_empty(),
            "offsets not read: the check counts neither way"
        );
        assert_eq!(
            watch.observe(at(6)),
            [1, 3],
            "two strikes, across a check that could not read"
        );
        assert!(
            watch.observe(at(6)).is_empty(),
            "counting starts over after acting"
        );
        assert!(
            watch.observe(Some(HashMap::new())).is_empty(),
            "nothing behind"
        );
        let one = |offset: i64| Some(HashMap::from([(1, offset)]));
        assert!(watch.observe(one(6)).is_empty(), "first sight");
        assert!(watch.observe(None).is_empty(), "not read");
        assert!(
            watch.observe(one(7)).is_empty(),
            "progress since the last read"
        );
        assert!(watch.observe(one(7)).is_empty(), "one strike");
        assert_eq!(watch.observe(one(7)), [1], "two strikes");
    }
}
