//! The follower of `indicators.retracted` ([`topics::INDICATORS_RETRACTED`]): every enforcer replica applies every
//! indicator retraction to the reports it stores, whichever replica read it on `reports.normalized`.
//!
//! Its consumer group is per data directory (`<group>-retractions@<replica>` on Kafka,
//! [`accord_runtime::Deps::store_group`]; `<group>-retractions` on the embedded log), so each replica reads the whole
//! topic, from its first record when the group is new: a replica added later learns every earlier retraction, and a
//! report of the partner it stores later, sent before one of them, is stripped when stored. Applying a retraction twice
//! changes nothing (at least once, as everywhere). A record that is not an indicator retraction is logged and skipped.

use accord_bus::Delivery;
use accord_domain::{Control, topics};
use accord_runtime::stage::{self, Stage, StageOptions};
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// Runs the follower until `shutdown` (started behind the store's refill, like the watcher).
///
/// # Errors
/// When the bus cannot be subscribed to.
pub(crate) async fn follow(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let options = StageOptions {
        name: "enforcer-retractions",
        topic: topics::INDICATORS_RETRACTED,
        group: state
            .deps
            .store_group(&format!("{}-retractions", state.config.group)),
        batch_size: 16,
        linger: std::time::Duration::ZERO,
    };
    let bus = state.deps.bus.clone();
    stage::run(bus, options, Follower { state }, shutdown).await
}

struct Follower {
    state: AppState,
}

#[async_trait]
impl Stage for Follower {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        for delivery in batch {
            match super::decode(delivery) {
                Some(Control::RetractIndicators(retraction)) => {
                    super::retract_indicators(&self.state, &retraction).await?;
                }
                Some(Control::RetractReport(retraction)) => {
                    tracing::error!(report_id = %retraction.report_id,
                        "a report retraction on the indicator retractions topic: skipped");
                }
                None => {}
            }
        }
        Ok(())
    }
}
