//! The process's allocator, and its figures on `/metrics`.
//!
//! On Linux every `accord` process allocates with jemalloc ([`tikv_jemallocator`]), with its background thread on
//! ([`init`]): pages freed by a burst (a few large TAXII pages, a bulk lookup of 10 000 values, a replay) go back to
//! the system after jemalloc's decay time (10 s by default) even when the process is idle. The system allocator
//! (glibc) kept them in per-thread arenas: under a steady load its resident size kept growing with the number of
//! threads that had ever allocated, well above what the process held (docs/performance.md, "Memory under steady
//! load"). jemalloc's own settings (`_RJEM_MALLOC_CONF`, e.g. `dirty_decay_ms:5000`) still apply.
//!
//! [`report`] publishes, every few seconds, what the allocator holds:
//! - `accord_memory_allocated_bytes`: the live objects;
//! - `accord_memory_resident_bytes`: the allocator's pages in memory (live objects, its metadata and the freed pages
//!   it keeps for reuse until they decay).
//!
//! The store caches, the index writer's budget and the stage windows are bounded by their own settings
//! (docs/deployment.md); these two figures show whether anything else grows.
//!
//! Elsewhere (not Linux) the system allocator is used and nothing is reported.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The allocator of every `accord` process on Linux.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The gauge of the live objects, in bytes.
pub const ALLOCATED: &str = "accord_memory_allocated_bytes";
/// The gauge of the allocator's resident pages, in bytes.
pub const RESIDENT: &str = "accord_memory_resident_bytes";

/// How often [`report`] reads the allocator's figures.
const EVERY: Duration = Duration::from_secs(5);

/// Turns the allocator's background thread on, so that freed pages are returned to the system on time even in a
/// process with nothing to do. Logs once when it cannot (the pages are then returned on the next allocations).
pub fn init() {
    #[cfg(target_os = "linux")]
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(%error, "the allocator's background thread could not be started");
    }
}

/// The allocator's figures now: (allocated, resident) bytes; `None` where they are not known.
#[must_use]
pub fn figures() -> Option<(u64, u64)> {
    #[cfg(target_os = "linux")]
    {
        // The statistics are a snapshot taken at each epoch.
        tikv_jemalloc_ctl::epoch::advance().ok()?;
        let allocated = tikv_jemalloc_ctl::stats::allocated::read().ok()?;
        let resident = tikv_jemalloc_ctl::stats::resident::read().ok()?;
        Some((allocated as u64, resident as u64))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Publishes [`figures`] as the gauges [`ALLOCATED`] and [`RESIDENT`] every few seconds, until `shutdown`.
pub async fn report(shutdown: CancellationToken) {
    loop {
        if let Some((allocated, resident)) = figures() {
            metrics::gauge!(ALLOCATED).set(allocated as f64);
            metrics::gauge!(RESIDENT).set(resident as f64);
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Other tests of this binary allocate at the same time: the margins are far wider than what they hold.
    #[test]
    fn jemalloc_is_the_allocator_and_reports_what_is_held_and_freed() {
        const BLOCK: usize = 256 << 20;
        init();
        let (before, _) = figures().expect("jemalloc is this process's allocator");
        let block = vec![1u8; BLOCK];
        let (during, resident) = figures().unwrap();
        assert!(
            during >= before + (BLOCK as u64) / 2,
            "256 MiB more is allocated: {before} → {during}"
        );
        assert!(
            resident >= (BLOCK as u64) / 2,
            "the block is resident: {resident}"
        );
        drop(block);
        let (after, _) = figures().unwrap();
        assert!(
            after + (BLOCK as u64) / 2 < during,
            "freed: {during} → {after}"
        );
    }
}
