//! Synthetic incident reports. Every report is a pure function of (seed, run id, report index), so the load
//! generator can regenerate any report's indicators for lookups instead of keeping a million strings in memory.
//!
//! Indicators are unique per run: domains, URLs and e-mail addresses carry the run id and a global counter, hashes
//! are 256 random bits. IPv4 addresses are random public addresses and may (rarely) repeat, so latency samples
//! never use them. The first indicator of every report is never an IPv4 address.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

const CATEGORIES: [&str; 5] = ["phishing", "malware", "ransomware", "fraud", "ddos"];
const SECTORS: [&str; 4] = ["finance", "energy", "health", "telecom"];
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// One synthetic indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Indicator {
    /// The STIX cyber-observable type it is sent with (when `typed`).
    pub(crate) kind: &'static str,
    /// The value, already in canonical (lower-case) form.
    pub(crate) value: String,
    /// Whether the report states the type (otherwise the server detects it).
    pub(crate) typed: bool,
}

/// Generates the reports of one run.
#[derive(Debug, Clone)]
pub(crate) struct Synth {
    seed: u64,
    run_id: String,
    per_report: usize,
    base_time: DateTime<Utc>,
}

/// SplitMix64: a good 64-bit mixer for deriving per-report seeds.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn label(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(ALNUM[rng.random_range(0..ALNUM.len())]))
        .collect()
}

/// Whether an IPv4 address is publicly routable enough to look like a real indicator.
fn is_public(octets: [u8; 4]) -> bool {
    let [a, b, _, _] = octets;
    !(a == 0
        || a == 10
        || a == 127
        || a >= 224
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0)
        || (a == 198 && (18..20).contains(&b)))
}

impl Synth {
    /// A generator for `per_report` indicators per report; `base_time` anchors `occurred_at`.
    pub(crate) fn new(
        seed: u64,
        run_id: String,
        per_report: usize,
        base_time: DateTime<Utc>,
    ) -> Self {
        Self {
            seed,
            run_id,
            per_report,
            base_time,
        }
    }

    fn rng(&self, report: u64) -> StdRng {
        StdRng::seed_from_u64(mix(self.seed ^ mix(report)))
    }

    fn domain(&self, rng: &mut StdRng, n: u64) -> String {
        format!("{}-{n:x}.evil-{}.com", label(rng, 5), self.run_id)
    }

    fn indicator(&self, rng: &mut StdRng, n: u64, first: bool) -> Indicator {
        let roll = if first {
            rng.random_range(25..100)
        } else {
            rng.random_range(0..100)
        };
        let (kind, value) = match roll {
            0..25 => loop {
                let octets: [u8; 4] = rng.random();
                if is_public(octets) {
                    let [a, b, c, d] = octets;
                    break ("ipv4-addr", format!("{a}.{b}.{c}.{d}"));
                }
            },
            25..50 => ("domain-name", self.domain(rng, n)),
            50..70 => ("url", format!("https://{}/login/{n}", self.domain(rng, n))),
            70..90 => {
                let bytes: [u8; 32] = rng.random();
                (
                    "file",
                    bytes.iter().map(|byte| format!("{byte:02x}")).collect(),
                )
            }
            _ => (
                "email-addr",
                format!("ops{n}@{}.evil-{}.com", label(rng, 5), self.run_id),
            ),
        };
        Indicator {
            kind,
            value,
            typed: rng.random_bool(0.8),
        }
    }

    /// The indicators of report `report`.
    pub(crate) fn indicators(&self, report: u64) -> Vec<Indicator> {
        let mut rng = self.rng(report);
        self.indicators_with(&mut rng, report)
    }

    fn indicators_with(&self, rng: &mut StdRng, report: u64) -> Vec<Indicator> {
        let mut out: Vec<Indicator> = Vec::with_capacity(self.per_report);
        let mut j = 0u64;
        while out.len() < self.per_report {
            let n = report * self.per_report as u64 + j;
            let indicator = self.indicator(rng, n, out.is_empty());
            j += 1;
            if !out.iter().any(|other| other.value == indicator.value) {
                out.push(indicator);
            }
        }
        out
    }

    /// The native report body of report `report` (its indicators are [`Synth::indicators`]).
    pub(crate) fn report(&self, report: u64) -> Value {
        let mut rng = self.rng(report);
        let indicators = self.indicators_with(&mut rng, report);
        let category = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
        let sector = SECTORS[rng.random_range(0..SECTORS.len())];
        let minutes_ago = rng.random_range(5..60 * 24 * 30);
        let occurred = self.base_time - chrono::Duration::minutes(minutes_ago);
        let indicators: Vec<Value> = indicators
            .iter()
            .map(|indicator| {
                if indicator.typed {
                    json!({ "type": indicator.kind, "value": indicator.value })
                } else {
                    json!({ "value": indicator.value })
                }
            })
            .collect();
        json!({
            "title": format!("Loadgen {} #{report}: {category} campaign against {sector} customers", self.run_id),
            "description": format!(
                "Synthetic {category} incident generated by accord loadgen (run {}). Customers of the {sector} \
                 sector received lures; the SOC collected the infrastructure listed as indicators.",
                self.run_id
            ),
            "occurred_at": occurred.to_rfc3339_opts(SecondsFormat::Secs, true),
            "tlp": "amber",
            "classification": "unclassified",
            "categories": [category],
            "sector": sector,
            "indicators": indicators,
        })
    }

    /// A value that no report of any run contains (for the 404 path).
    pub(crate) fn unknown(&self, rng: &mut StdRng, n: u64) -> String {
        if n.is_multiple_of(2) {
            format!("{}-{n:x}.never-{}.net", label(rng, 8), self.run_id)
        } else {
            let bytes: [u8; 32] = rng.random();
            bytes.iter().map(|byte| format!("{byte:02x}")).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synth() -> Synth {
        Synth::new(7, "abc123".to_owned(), 10, Utc::now())
    }

    #[test]
    fn reports_are_deterministic_and_match_their_indicators() {
        let synth = synth();
        let body = synth.report(42);
        let values: Vec<&str> = body["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["value"].as_str().unwrap())
            .collect();
        let expected = synth.indicators(42);
        assert_eq!(
            values,
            expected
                .iter()
                .map(|i| i.value.as_str())
                .collect::<Vec<_>>()
        );
        assert_eq!(synth.report(42), body);
        assert_ne!(expected[0].kind, "ipv4-addr");
    }

    #[test]
    fn indicators_are_unique_across_reports() {
        let synth = synth();
        let mut seen = std::collections::HashSet::new();
        for report in 0..500 {
            for indicator in synth.indicators(report) {
                if indicator.kind != "ipv4-addr" {
                    assert!(seen.insert(indicator.value));
                }
            }
        }
    }

    #[test]
    fn private_ranges_are_avoided() {
        assert!(!is_public([10, 1, 2, 3]));
        assert!(!is_public([192, 168, 0, 1]));
        assert!(!is_public([172, 20, 0, 1]));
        assert!(is_public([45, 155, 205, 172]));
    }
}
