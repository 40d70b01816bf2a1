//! `accord check`: the conservation law of the pipeline, read from the bus.
//!
//! Every report the gateway accepted (a record on `reports.raw`) ends in exactly one of: rejected (a record on
//! `reports.rejected`, the dead-letter topic), released (its latest release set on `reports.releasable` has views:
//! the indexer indexes them) or withheld (its latest release set has none: no MoU releases it). What is in none yet
//! is in flight. A report id found downstream but never accepted is unaccounted for, and so is one both rejected
//! and released. The law holds when nothing is in flight or unaccounted for:
//! accepted = released + rejected + withheld.

use std::collections::{BTreeMap, BTreeSet};

use accord_bus::{BusClient, SubscribeOptions};
use accord_domain::{ReleaseSet, topics};
use anyhow::Context as _;
use serde::Serialize;

/// The counts of distinct report ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Conservation {
    /// Accepted by the gateway.
    pub accepted: usize,
    /// Rejected by the normalizer.
    pub rejected: usize,
    /// Released to at least one agency (indexed).
    pub released: usize,
    /// Evaluated, released to no agency.
    pub withheld: usize,
    /// Accepted, not yet rejected or evaluated.
    pub in_flight: usize,
    /// Rejected or evaluated but never accepted, or both rejected and evaluated.
    pub unaccounted: usize,
}

impl Conservation {
    /// `accepted = released + rejected + withheld`, nothing in flight, nothing unaccounted for.
    pub fn holds(&self) -> bool {
        self.in_flight == 0
            && self.unaccounted == 0
            && self.accepted == self.released + self.rejected + self.withheld
    }
}

/// Reads the three topics to their current end and counts.
///
/// # Errors
/// When the bus cannot be read or a release set cannot be decoded.
pub async fn conservation(bus: &BusClient) -> anyhow::Result<Conservation> {
    let accepted: BTreeSet<String> = read_topic(bus, topics::REPORTS_RAW)
        .await?
        .into_iter()
        .filter_map(|(key, _)| key)
        .collect();
    let rejected: BTreeSet<String> = read_topic(bus, topics::REPORTS_REJECTED)
        .await?
        .into_iter()
        .filter_map(|(key, _)| key)
        .collect();
    // Records of one report share its key, hence its partition: the last one read is its latest release set.
    let mut latest: BTreeMap<String, bool> = BTreeMap::new();
    for (_, payload) in read_topic(bus, topics::REPORTS_RELEASABLE).await? {
        let set: ReleaseSet =
            serde_json::from_slice(&payload).context("undecodable release set")?;
        latest.insert(set.report_id.to_string(), !set.views.is_empty());
    }
    let mut counts = Conservation {
        accepted: accepted.len(),
        rejected: rejected.len(),
        ..Conservation::default()
    };
    for (id, released) in &latest {
        if *released {
            counts.released += 1;
        } else {
            counts.withheld += 1;
        }
        if !accepted.contains(id) || rejected.contains(id) {
            counts.unaccounted += 1;
        }
    }
    counts.unaccounted += rejected.difference(&accepted).count();
    counts.in_flight = accepted
        .iter()
        .filter(|id| !rejected.contains(*id) && !latest.contains_key(*id))
        .count();
    Ok(counts)
}

/// Returns the key and payload of every record of `topic` below its end offsets at the time of the call, control
/// records (`accord_domain::control`) left out except a report's retraction, and the Kafka bus's beacons left out.
async fn read_topic(
    bus: &BusClient,
    topic: &str,
) -> anyhow::Result<Vec<(Option<String>, bytes::Bytes)>> {
    let ends = bus
        .end_offsets(topic)
        .await
        .with_context(|| format!("failed to read the end offsets of {topic}"))?;
    let mut remaining: BTreeMap<u32, u64> = ends
        .iter()
        .filter(|end| end.offset > 0)
        .map(|end| (end.partition, end.offset))
        .collect();
    let mut records = Vec::new();
    if remaining.is_empty() {
        return Ok(records);
    }
    let mut subscription = bus
        .subscribe(SubscribeOptions {
            topic: topic.to_owned(),
            group: None,
        })
        .await
        .with_context(|| format!("failed to read {topic}"))?;
    while !remaining.is_empty() {
        let batch = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            subscription.next_batch(4096),
        )
        .await
        .with_context(|| format!("{topic} stopped delivering before its end offsets"))??;
        for delivery in batch {
            let partition = delivery.position.partition;
            let Some(end) = remaining.get(&partition).copied() else {
                continue;
            };
            // A partner's control is not a report, but a report's retraction stands for the report: once the
            // report's earlier records are compacted away (`accord_bus::KEYED_TOPICS`) it is all that is left of it
            // on `reports.raw`. An indicator retraction is keyed by no report and left out.
            let control = accord_domain::control::is_control(&delivery.record.headers);
            let report_key = delivery
                .record
                .key
                .as_deref()
                .is_some_and(|key| accord_domain::ReportId::parse(key).is_ok());
            // A beacon (`accord_bus::BEACON_HEADER`) is the Kafka bus's own, never a report.
            let beacon = accord_bus::is_beacon(&delivery.record.headers);
            if delivery.position.offset < end && (!control || report_key) && !beacon {
                records.push((delivery.record.key, delivery.record.payload));
            }
            if delivery.position.offset + 1 >= end {
                remaining.remove(&partition);
            }
        }
    }
    Ok(records)
}

/// `accord check` from the command line: prints the counts as JSON; fails when the law does not hold.
///
/// # Errors
/// When the bus cannot be read, or the law does not hold after `wait_secs`.
pub async fn main(args: crate::cli::CheckArgs) -> anyhow::Result<()> {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let options = accord_bus::BusOptions {
        kafka: crate::config::kafka_from_env(&env)?,
        ..accord_bus::BusOptions::default()
    };
    let bus = BusClient::from_url_with(&args.bus, &options)
        .await
        .context("failed to open the bus")?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(args.wait_secs);
    loop {
        let counts = conservation(&bus).await?;
        let done = counts.holds() || tokio::time::Instant::now() >= deadline;
        if done {
            println!("{}", serde_json::to_string(&counts)?);
            if counts.holds() {
                return Ok(());
            }
            anyhow::bail!(
                "conservation does not hold: accepted {} != released {} + rejected {} + withheld {} (in flight {}, \
                 unaccounted {})",
                counts.accepted,
                counts.released,
                counts.rejected,
                counts.withheld,
                counts.in_flight,
                counts.unaccounted
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
