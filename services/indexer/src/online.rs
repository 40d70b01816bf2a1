//! The online rebuild (decision 0066): a new generation of the index is filled from the bus while searches read the
//! current one, then searches are switched to it.
//!
//! A rebuild is asked for by `accord index rebuild --index URL` or by the start check when the index was lost
//! (`rebuild` module); the index keeps the request ([`SearchIndex::pending_rebuild`]: OpenSearch, a generation above
//! the current one), so it survives restarts. This task looks for one at start and every [`POLL`], and runs it:
//!
//! 1. `pending_rebuild` makes the live index write into the new generation as well (every write returning from then
//!    on is in both), then the end offsets `E` of `reports.releasable` are read: every release set the live stage
//!    wrote only into the old generation is below `E`.
//! 2. A second stage, group `<group>-rebuild-<generation>`, replays the topic from its start into the new generation
//!    (versioned by bus offset, as the live stage writes: whichever writes a version second finds it `Stale`).
//! 3. Once that group's committed offsets reach `E` on every partition ([`caught_up`], the rule the refill of a
//!    derived store follows too), everything below `E` is in the new generation, and everything the live stage
//!    wrote since step 1 too: the aliases are switched ([`Rebuilding::switch`]) and the old generation deleted; the
//!    rebuild stage stops. Its group is left behind
//!    (Kafka expires the offsets of a group without members after `offsets.retention.minutes`).
//!
//! A rebuild that fails (the stage ends, the switch is refused) is logged and tried again at the next poll; its group
//! resumes where it committed. `/readyz` says `index rebuilding (n of m)` while the rebuild runs when the index was
//! lost (searches read an index that is still filling up); a rebuild of an index searches still read in full only
//! logs its progress, so that a process serving searches is not taken out of rotation for it.
//!
//! [`SearchIndex::pending_rebuild`]: accord_index::SearchIndex::pending_rebuild

use std::{sync::Arc, time::Duration};

use accord_bus::BusClient;
use accord_index::{IndexClient, Rebuilding};
use accord_runtime::{
    health::Health,
    refill::caught_up,
    stage::{self, Fairness, StageOptions},
};
use tokio_util::sync::CancellationToken;

use crate::{Indexer, rebuild::Rebuild};

/// How often the indexer looks for a rebuild asked for.
pub(crate) const POLL: Duration = Duration::from_secs(5);

/// How often a running rebuild compares its group's committed offsets with the end offsets it started at.
const CHECK: Duration = Duration::from_millis(500);

/// Returns the consumer group of the rebuild of `generation`: `<group>-rebuild-<generation>`.
pub(crate) fn rebuild_group(group: &str, generation: u64) -> String {
    format!("{group}-rebuild-{generation}")
}

/// What the online rebuild needs.
#[derive(Clone)]
pub(crate) struct Online {
    pub(crate) bus: BusClient,
    pub(crate) index: IndexClient,
    pub(crate) health: Health,
    /// The live stage's options (the rebuild's are derived from them) and fairness.
    pub(crate) options: StageOptions,
    pub(crate) fairness: Fairness,
    /// Whether the first rebuild found was asked for because the index was lost.
    pub(crate) lost: bool,
}

impl Online {
    /// Looks for a rebuild at start and every [`POLL`] until shutdown, and runs each one found.
    ///
    /// # Errors
    /// Never: failures are logged and retried at the next poll.
    pub(crate) async fn watch(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        loop {
            match self.index.pending_rebuild().await {
                Ok(Some(rebuilding)) => {
                    let lost = std::mem::take(&mut self.lost);
                    if let Err(error) = self.run(rebuilding.as_ref(), lost, &shutdown).await {
                        tracing::warn!(
                            error = %accord_runtime::telemetry::ErrorChain(error.as_ref()),
                            generation = rebuilding.generation(),
                            "index rebuild interrupted; trying again"
                        );
                        self.lost = lost;
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(error = %error, "cannot look for an index rebuild now")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Runs one rebuild to its switch (see the module documentation).
    async fn run(
        &self,
        rebuilding: &dyn Rebuilding,
        lost: bool,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let generation = rebuilding.generation();
        let topic = self.options.topic;
        let group = rebuild_group(&self.options.group, generation);
        let ends = self.bus.end_offsets(topic).await?;
        let resumed: u64 = self
            .bus
            .committed_offsets(&group, topic)
            .await?
            .iter()
            .map(|position| position.offset)
            .sum();
        let target = ends.iter().map(|end| end.offset).sum::<u64>();
        tracing::info!(generation, group, target, resumed, "index rebuild started");
        // The new generation is not read before the switch: nothing to hold.
        let progress = Arc::new(Rebuild::new(
            target.saturating_sub(resumed),
            self.health.clone(),
            lost,
            None,
        ));
        let stop = shutdown.child_token();
        let _stop_on_return = stop.clone().drop_guard();
        let replay = Indexer {
            bus: self.bus.clone(),
            index: rebuilding.target(),
            rebuild: Some(Arc::clone(&progress)),
        };
        let options = StageOptions {
            name: "indexer-rebuild",
            group: group.clone(),
            ..self.options.clone()
        };
        let mut stage = tokio::spawn(stage::run_fair(
            self.bus.clone(),
            options,
            self.fairness.clone(),
            replay,
            stop.clone(),
        ));
        loop {
            tokio::select! {
                ended = &mut stage => {
                    progress.end();
                    anyhow::bail!("the rebuild stage ended: {:?}", ended.map(|outcome| outcome.err().map(|e| e.to_string())));
                }
                () = tokio::time::sleep(CHECK) => {}
            }
            if shutdown.is_cancelled() {
                return Ok(());
            }
            if caught_up(&self.bus.committed_offsets(&group, topic).await?, &ends) {
                break;
            }
        }
        let switched = rebuilding.switch().await;
        progress.end();
        stop.cancel();
        let _ = stage.await;
        switched?;
        tracing::info!(
            generation,
            group,
            "index rebuilt: searches read the new generation"
        );
        Ok(())
    }
}

#[cfg(test)]
#[path = "online_tests.rs"]
mod flow;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebuild_has_its_own_group_per_generation() {
        assert_eq!(rebuild_group("indexer", 3), "indexer-rebuild-3");
    }
}
