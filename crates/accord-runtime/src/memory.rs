//! How much memory a process gives its caches (configuration section `[memory]`): the one place an operator sizes
//! them.
//!
//! Every cache here is bounded by its key, in MiB, whatever the size of the stores behind it; the stores hold
//! everything on disk, a cache only keeps their hot pages. A smaller cache costs reads from the page cache of the
//! operating system, never correctness. Each key bounds one cache of the process that opens it (a process that does
//! not run the service does not allocate it):
//! - `bus_cache_mib`: the embedded bus log's redb page cache (no effect on a Kafka bus);
//! - `enforcer_cache_mib`, `gateway_cache_mib`: the enforcer's report store, the gateway's status store;
//! - `audit_cache_mib`, `alerts_cache_mib`, `sightings_cache_mib`, `revocations_cache_mib`: search's stores;
//! - `index_writer_mib`: the embedded tantivy index writer's indexing budget (it flushes a segment when the budget
//!   is reached; no effect on OpenSearch). tantivy refuses less than 15 MB per indexing thread.
//!
//! The values are checked at start ([`MemoryConfig::validate`]); the stores are opened with them through
//! [`crate::Deps::memory`] (the services' stores) and the process's bus and index options (`src/run.rs`).

use serde::{Deserialize, Serialize};

use crate::service::at_least;

/// One MiB.
const MIB: usize = 1024 * 1024;

/// The largest value any key takes, in MiB (64 GiB): a typo must not reserve the host.
const MAX_MIB: u64 = 65_536;

/// The caches of a process, each in MiB (configuration section `[memory]`; see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// The embedded bus log's page cache.
    pub bus_cache_mib: u64,
    /// The enforcer's report store's page cache.
    pub enforcer_cache_mib: u64,
    /// The gateway's status store's page cache.
    pub gateway_cache_mib: u64,
    /// Search's audit store's page cache.
    pub audit_cache_mib: u64,
    /// Search's alerts store's page cache.
    pub alerts_cache_mib: u64,
    /// Search's sightings store's page cache.
    pub sightings_cache_mib: u64,
    /// Search's revocations store's page cache.
    pub revocations_cache_mib: u64,
    /// The embedded tantivy index writer's budget (at least 15).
    pub index_writer_mib: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            bus_cache_mib: 48,
            enforcer_cache_mib: 16,
            gateway_cache_mib: 8,
            audit_cache_mib: 8,
            alerts_cache_mib: 4,
            sightings_cache_mib: 2,
            revocations_cache_mib: 2,
            index_writer_mib: 32,
        }
    }
}

impl MemoryConfig {
    /// Checks the values, naming the key of the first bad one.
    ///
    /// # Errors
    /// A message naming the key (`memory.index_writer_mib must be at least 15 (is 8)`).
    pub fn validate(&self) -> Result<(), String> {
        let caches = [
            ("memory.bus_cache_mib", self.bus_cache_mib),
            ("memory.enforcer_cache_mib", self.enforcer_cache_mib),
            ("memory.gateway_cache_mib", self.gateway_cache_mib),
            ("memory.audit_cache_mib", self.audit_cache_mib),
            ("memory.alerts_cache_mib", self.alerts_cache_mib),
            ("memory.sightings_cache_mib", self.sightings_cache_mib),
            ("memory.revocations_cache_mib", self.revocations_cache_mib),
        ];
        for (key, value) in caches {
            at_least(key, value, 1)?;
            at_most(key, value, MAX_MIB)?;
        }
        let writer_min = accord_index::tantivy_index::MIN_WRITER_MIB;
        at_least("memory.index_writer_mib", self.index_writer_mib, writer_min)?;
        at_most(
            "memory.index_writer_mib",
            self.index_writer_mib,
            accord_index::tantivy_index::MAX_WRITER_MIB,
        )
    }

    /// The embedded bus log's page cache, in bytes.
    pub fn bus_cache_bytes(&self) -> usize {
        bytes(self.bus_cache_mib)
    }

    /// The enforcer's report store's page cache, in bytes.
    pub fn enforcer_cache_bytes(&self) -> usize {
        bytes(self.enforcer_cache_mib)
    }

    /// The gateway's status store's page cache, in bytes.
    pub fn gateway_cache_bytes(&self) -> usize {
        bytes(self.gateway_cache_mib)
    }

    /// Search's audit store's page cache, in bytes.
    pub fn audit_cache_bytes(&self) -> usize {
        bytes(self.audit_cache_mib)
    }

    /// Search's alerts store's page cache, in bytes.
    pub fn alerts_cache_bytes(&self) -> usize {
        bytes(self.alerts_cache_mib)
    }

    /// Search's sightings store's page cache, in bytes.
    pub fn sightings_cache_bytes(&self) -> usize {
        bytes(self.sightings_cache_mib)
    }

    /// Search's revocations store's page cache, in bytes.
    pub fn revocations_cache_bytes(&self) -> usize {
        bytes(self.revocations_cache_mib)
    }

    /// The embedded tantivy index writer's budget, in bytes.
    pub fn index_writer_bytes(&self) -> usize {
        bytes(self.index_writer_mib)
    }
}

/// `mib` in bytes (saturating: [`MemoryConfig::validate`] bounds every value far below).
fn bytes(mib: u64) -> usize {
    usize::try_from(mib).map_or(usize::MAX, |mib| mib.saturating_mul(MIB))
}

/// As [`at_least`], for an upper bound.
fn at_most(key: &str, value: u64, max: u64) -> Result<(), String> {
    if value > max {
        return Err(format!("{key} must be at most {max} (is {value})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_in_bytes() {
        let memory = MemoryConfig::default();
        memory.validate().unwrap();
        assert_eq!(memory.bus_cache_bytes(), 48 * MIB);
        assert_eq!(memory.index_writer_bytes(), 32 * MIB);
    }

    #[test]
    fn each_key_is_bounded_and_named() {
        let zero = MemoryConfig {
            sightings_cache_mib: 0,
            ..MemoryConfig::default()
        };
        let error = zero.validate().unwrap_err();
        assert!(
            error.contains("memory.sightings_cache_mib must be at least 1"),
            "{error}"
        );
        let huge = MemoryConfig {
            bus_cache_mib: MAX_MIB + 1,
            ..MemoryConfig::default()
        };
        let error = huge.validate().unwrap_err();
        assert!(
            error.contains("memory.bus_cache_mib must be at most"),
            "{error}"
        );
        let writer = MemoryConfig {
            index_writer_mib: 14,
            ..MemoryConfig::default()
        };
        let error = writer.validate().unwrap_err();
        assert!(
            error.contains("memory.index_writer_mib must be at least 15"),
            "{error}"
        );
    }
}
