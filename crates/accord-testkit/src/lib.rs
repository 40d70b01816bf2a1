//! What Accord's tests share: how a test that needs an optional component — a Kafka broker, the OASIS Python
//! interop packages, a browser, an OpenSearch cluster — runs, skips or fails.
//!
//! A test asks [`available`] before it uses the component. When the component is there, the test runs. When it is
//! not, the test fails if the component's `ACCORD_REQUIRE_*` variable is `1` (`scripts/test.sh` sets every one but
//! OpenSearch's, so CI never passes a test that did not run); otherwise it says so — a `SKIPPED` line written to the
//! process's standard error, which the test harness does not capture, so the skip shows in every run — and passes
//! without running. Nothing skips silently.

use std::io::Write as _;

/// An optional component some tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// A Kafka-protocol broker (tansu; `ACCORD_KAFKA_BOOTSTRAP`).
    Kafka,
    /// The OASIS Python packages `stix2`, `stix2-validator`, `taxii2-client` (in `.venv`).
    Interop,
    /// Chromium driven by Playwright for Python.
    Browser,
    /// An OpenSearch cluster (`OPENSEARCH_URL`).
    OpenSearch,
    /// The Caddy web server (`caddy` on the PATH), the front door's proxy.
    Caddy,
}

impl Component {
    /// Returns the variable that makes a missing component a failure.
    pub fn require_variable(self) -> &'static str {
        match self {
            Component::Kafka => "ACCORD_REQUIRE_KAFKA",
            Component::Interop => "ACCORD_REQUIRE_INTEROP",
            Component::Browser => "ACCORD_REQUIRE_BROWSER",
            Component::OpenSearch => "ACCORD_REQUIRE_OPENSEARCH",
            Component::Caddy => "ACCORD_REQUIRE_CADDY",
        }
    }

    /// Returns whether the component is required in this run.
    pub fn required(self) -> bool {
        std::env::var(self.require_variable()).is_ok_and(|value| value == "1")
    }
}

/// Returns `present`, after dealing with an absent component: fails the test when the component is required,
/// else writes `SKIPPED <test>: <missing> (<how>)` to the real standard error. `missing` says what is not there,
/// `how` how to provide it.
///
/// # Panics
/// When the component is absent and required.
pub fn available(component: Component, present: bool, missing: &str, how: &str) -> bool {
    if present {
        return true;
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    assert!(
        !component.required(),
        "{}=1 but {missing}: {how}",
        component.require_variable()
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {missing} ({how}; {}=1 makes this a failure)",
        component.require_variable()
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_component_runs() {
        assert!(available(Component::OpenSearch, true, "x", "y"));
    }

    #[test]
    fn an_absent_component_skips_unless_required() {
        // OpenSearch is never required by scripts/test.sh, so this run reports a skip.
        if !Component::OpenSearch.required() {
            assert!(!available(
                Component::OpenSearch,
                false,
                "no cluster",
                "set OPENSEARCH_URL"
            ));
        }
    }
}

/// SplitMix64: a tiny deterministic generator for property tests, differential worlds and benchmarks — the same
/// seed always gives the same inputs, so a printed seed replays a failure.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Returns a generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a value in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// Returns an index into a slice of `len` items (`len > 0`).
    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).unwrap_or(0)
    }

    /// Returns true with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
