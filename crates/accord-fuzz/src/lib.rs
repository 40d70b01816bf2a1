//! Structure-aware generators for Accord's property-based fuzz targets (docs/fuzzing.md).
//!
//! Every parser and decoder that reads partner or investigator input has a fuzz target next to it, written with
//! [`proptest`]. The targets share the generators of this crate, which build *valid-ish* inputs — real indicator
//! shapes, STIX patterns from a grammar, bundles, MISP events, native reports, incident prose — and then mutate them,
//! so that the cases reach deep into each parser instead of stopping at its first byte:
//!
//! - [`observables`]: values of every indicator type (IPv4/6 and CIDR blocks, domains with IDNA labels, URLs,
//!   e-mail addresses, digests, file names, certificate serials, CVE ids), defanged ([`observables::defang`]) and
//!   mutated ([`mutate`]).
//! - [`pattern`]: STIX 2.1 patterns generated from the grammar with every operator and qualifier, together with the
//!   exact observables the pattern names (an oracle for the parser), plus pathological shapes (deep nesting, long
//!   chains, unbalanced brackets).
//! - [`text`]: incident prose mixing indicators (plain and defanged), personal data and traps.
//! - [`documents`]: native reports, STIX bundles and MISP events as JSON, and [`json::mutate`] to break them.
//!
//! [`config`] sets the number of cases of a target: the value it is given (what `cargo test` runs), unless the
//! `PROPTEST_CASES` environment variable says otherwise (what `scripts/fuzz.sh` does for long runs).
//!
//! This crate is a dev-dependency only: it depends on no Accord crate, so every crate can use it in its tests.

pub mod documents;
pub mod json;
pub mod observables;
pub mod pattern;
pub mod text;

mod mutate;

pub use mutate::{Edit, apply_edits, edits, mutate};
pub use proptest;

use proptest::test_runner::Config;

/// Returns the configuration of a fuzz target: `cases` cases, or `PROPTEST_CASES` when the environment sets it.
/// Failures are not persisted to files: a failing case is printed (with the seed to replay it) and becomes a unit
/// test once fixed.
pub fn config(cases: u32) -> Config {
    let from_env = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse::<u32>().ok());
    Config {
        cases: from_env.unwrap_or(cases),
        failure_persistence: None,
        ..Config::default()
    }
}
