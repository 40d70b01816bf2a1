//! Watchlist alerts held to the reference (issue 16): every agency watches, for every purpose, every indicator value
//! of its world; the matcher (`accord_search::AlertMatcher`, what the alert service runs on each release set) must
//! raise an alert only for a value the reference says that agency receives for that purpose (soundness: a hidden
//! report changes nothing an agency is alerted to), show in it only released indicators, and raise one for every
//! value it receives (completeness).

use std::collections::BTreeSet;

use accord_domain::{OrgId, Purpose, ReleaseSet, Timestamp};
use accord_runtime::directory::Snapshot;

use crate::{check::Stats, reference, world::World};

/// An IP value as (v6, first address, prefix), for the containment both ways the matcher applies.
fn block(value: &str) -> Option<(bool, u128, u32)> {
    let (address, prefix) = match value.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix.parse::<u32>().ok()?)),
        None => (value, None),
    };
    let (v6, bits, max) = match address.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => (false, u128::from(u32::from(v4)), 32),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // A mapped IPv4 value is the IPv4 value it maps (as the index matches it).
            Some(v4) if prefix.is_none_or(|prefix| prefix >= 96) => {
                let prefix = prefix.map(|prefix| prefix - 96);
                return block_of(u128::from(u32::from(v4)), prefix, 32, false);
            }
            _ => (true, u128::from(v6), 128),
        },
    };
    block_of(bits, prefix, max, v6)
}

fn block_of(bits: u128, prefix: Option<u32>, max: u32, v6: bool) -> Option<(bool, u128, u32)> {
    let prefix = prefix.unwrap_or(max);
    if prefix > max {
        return None;
    }
    let host_bits = max - prefix;
    let start = if host_bits >= 128 {
        0
    } else {
        bits >> host_bits << host_bits
    };
    Some((v6, start, prefix))
}

fn contains(outer: &str, inner: &str) -> bool {
    let (Some((v6a, start_a, prefix_a)), Some((v6b, start_b, prefix_b))) =
        (block(outer), block(inner))
    else {
        return false;
    };
    let max = if v6a { 128 } else { 32 };
    let shift = max - prefix_a;
    v6a == v6b && prefix_a <= prefix_b && (shift >= 128 || start_a >> shift == start_b >> shift)
}

/// Checks the alerts `releases` raise at `at` under `snapshot`.
pub fn check(
    world: &World,
    snapshot: &Snapshot,
    releases: &[ReleaseSet],
    at: Timestamp,
    stats: &mut Stats,
) {
    let mut matcher = accord_search::AlertMatcher::default();
    let agencies: Vec<OrgId> = world.agencies().iter().map(|org| org.id.clone()).collect();
    for agency in &agencies {
        for purpose in Purpose::ALL {
            for (kind, value) in &world.pool {
                matcher.watch(agency, purpose, *kind, value);
            }
        }
    }
    let where_ = |report: &str| {
        format!(
            "world {} (ACCORD_DIFF_FIRST_WORLD={} ACCORD_DIFF_WORLDS=1), report {report}",
            world.number, world.number
        )
    };
    for release in releases {
        let Some(report) = world
            .reports
            .iter()
            .find(|report| report.id == release.report_id)
        else {
            continue;
        };
        let matches = matcher.matches(release, snapshot, at);
        let mut raised: BTreeSet<(String, Purpose, String)> = BTreeSet::new();
        for found in &matches {
            stats.alerts += 1;
            let received =
                reference::received(world, report, found.agency.as_str(), found.purpose, at);
            let released: BTreeSet<&str> = received
                .iter()
                .flat_map(|r| r.indicators.iter().map(|(_, value)| value.as_str()))
                .collect();
            if !released.contains(found.value.as_str()) {
                stats.violations.push(format!(
                    "{}: alert to {} for {} on {}, which the reference does not release to it",
                    where_(report.id.as_str()),
                    found.agency,
                    found.purpose,
                    found.value
                ));
            }
            if found.entry != found.value
                && !contains(&found.entry, &found.value)
                && !contains(&found.value, &found.entry)
            {
                stats.violations.push(format!(
                    "{}: {} matched {}",
                    where_(report.id.as_str()),
                    found.entry,
                    found.value
                ));
            }
            for shown in &found.view.content.indicators {
                if !released.contains(shown.value.as_str()) {
                    stats.violations.push(format!(
                        "{}: an alert to {} shows {}, not released to it",
                        where_(report.id.as_str()),
                        found.agency,
                        shown.value
                    ));
                }
            }
            if found.view.content.description.is_some() || found.view.content.victim.is_some() {
                stats.violations.push(format!(
                    "{}: an alert carries the narrative or victim",
                    where_(report.id.as_str())
                ));
            }
            if found.entry == found.value {
                raised.insert((found.agency.to_string(), found.purpose, found.value.clone()));
            }
        }
        for agency in &agencies {
            for purpose in Purpose::ALL {
                for received in reference::received(world, report, agency.as_str(), purpose, at) {
                    for (_, value) in &received.indicators {
                        if !raised.contains(&(agency.to_string(), purpose, value.clone())) {
                            stats.misses.push(format!(
                                "{}: no alert to {agency} for {purpose} on {value}, which it receives",
                                where_(report.id.as_str())
                            ));
                        }
                    }
                }
            }
        }
    }
}
