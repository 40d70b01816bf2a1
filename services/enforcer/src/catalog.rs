//! The catalog: every report of the deployment, for the calls that read reports without acting on them
//! (`/v1/explain`, `/v1/mous/preview`; decision 0086).
//!
//! With several enforcer replicas on Kafka, a replica's store holds the reports of the partitions it owns, kept
//! current, and stale copies of partitions it owned before (`crate::owned`). An explanation or a preview answered
//! from it would miss reports, or read an older version of one, depending on the replica the load balancer picked.
//! The contract:
//!
//! - **Whole in every replica.** On a shared bus (Kafka) each replica keeps a second store, `<data>/enforcer/catalog`,
//!   following every partition of `reports.normalized` in a consumer group of its data directory
//!   (`<group>-catalog@<replica>`, [`accord_runtime::Deps::store_group`]), store only, exactly like the refill
//!   (`crate::refill`: amendments replace, controls apply, nothing published). A report is always in the same
//!   partition and one follower reads each partition in order, so a version is never replaced by an older one.
//! - **Read only elsewhere.** Nothing else writes it but the retention sweep, which removes what it removes from the
//!   store ([`crate::retention`]): a report past every retention is in neither.
//! - **One store on the embedded log.** `accord up` has one enforcer, which owns every partition for good: its store
//!   is whole, and the catalog is that store (no second copy, no follower).
//! - **Behind, never ahead.** The catalog lags `reports.normalized` by the follower's delay (milliseconds when it
//!   keeps up); a replica on a new data directory reads the topic from its start before its catalog is whole, and
//!   `/readyz` does not wait for it (the stage does not need it).
//! - **A damaged file** is set aside and refilled from the start, like every derived store (decision 0071).

use std::sync::Arc;

use accord_bus::Delivery;
use accord_domain::topics;
use accord_runtime::stage::{Stage, StageOptions};
use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{AppState, store::ReportStore};

/// The name of the catalog's follower (logs, metrics).
const NAME: &str = "enforcer-catalog";

/// Opens the catalog of a replica on a shared bus (`<data>/enforcer/catalog`), or returns `store` itself on the
/// embedded log.
///
/// # Errors
/// When the catalog cannot be opened.
pub(crate) fn open(
    deps: &accord_runtime::Deps,
    store: &ReportStore,
) -> anyhow::Result<ReportStore> {
    if !separate(deps) {
        return Ok(store.clone());
    }
    ReportStore::open_catalog(
        &deps.data_dir.join("enforcer").join("catalog"),
        deps.memory.enforcer_cache_bytes(),
        Some(deps.health.clone()),
    )
}

/// Runs the follower of a catalog of its own ([`separate`]) until `shutdown`, refilling a damaged catalog first.
///
/// # Errors
/// When the bus cannot be subscribed to, or the catalog fails.
pub(crate) async fn follow(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let options = StageOptions {
        name: NAME,
        topic: topics::REPORTS_NORMALIZED,
        group: state
            .deps
            .store_group(&format!("{}-catalog", state.config.group)),
        batch_size: state.config.batch_size,
        linger: std::time::Duration::ZERO,
    };
    let (catalog, stored) = (state.catalog.clone(), Arc::clone(&state.stored));
    accord_runtime::refill::follow(
        state.deps.bus.clone(),
        options,
        "enforcer-catalog-refill",
        catalog.pending(),
        &state.deps.health,
        move || Follower {
            catalog: catalog.clone(),
            stored: Arc::clone(&stored),
        },
        shutdown,
    )
    .await
}

/// Whether the catalog is a store of its own: on a shared bus, where partitions move between replicas.
pub(crate) fn separate(deps: &accord_runtime::Deps) -> bool {
    deps.replica.is_some()
}

/// Applies batches of `reports.normalized` to the catalog, store only, and wakes the retention sweep: a report
/// read from the topic's start may be past its retention already.
struct Follower {
    catalog: ReportStore,
    stored: Arc<Notify>,
}

#[async_trait]
impl Stage for Follower {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let (catalog, batch) = (self.catalog.clone(), batch.to_vec());
        tokio::task::spawn_blocking(move || crate::refill::apply(&catalog, &batch)).await??;
        self.stored.notify_one();
        Ok(())
    }
}
