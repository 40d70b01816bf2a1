//! Watchlists and alerts (issue 16): an agency learns of a release that concerns its case as it happens.
//!
//! An investigator keeps watchlists for its agency, each bound to a purpose and a case ([`api`]). The matcher
//! ([`follower`]) follows the enforcer's release sets on `reports.releasable` — so it runs wherever search runs, on
//! the embedded bus or on Kafka — and raises a `match` alert when a view released to the watchlist's agency and
//! purpose contains a watched value (a new report, or an older one an MoU change now releases), and a `withdrawn`
//! alert when such a release is withdrawn (revocation, suspension, narrowing, retraction, expiry of the grant seen
//! by a later evaluation). Matching one release costs what its indicators cost ([`watched`]), not what the
//! watchlists hold. Alerts are kept in `<data>/search/alerts.redb` ([`store`]) for `search.alert_retention_days`,
//! and delivered ([`delivery`]) paged or as Server-Sent Events, each re-checked and audited before it leaves: an
//! alert is a release like any other.

mod api;
mod delivery;
mod follower;
mod raised;
mod store;
#[cfg(test)]
mod tests;
mod watched;
mod webhook;

use std::time::Duration;

pub use delivery::alert_page;
pub(crate) use store::AlertStore;

use crate::AppState;

accord_runtime::route_table! {
    /// The watchlist and alert routes, as data.
    pub(crate) const ROUTES;
    /// The watchlist and alert routes.
    pub(crate) fn routes() -> Router<AppState>;
    POST "/v1/watchlists" => api::create,
    GET "/v1/watchlists" => api::list_all,
    GET "/v1/watchlists/{id}" => api::get_one,
    DELETE "/v1/watchlists/{id}" => api::delete,
    POST "/v1/watchlists/{id}/entries" => api::add_entries,
    DELETE "/v1/watchlists/{id}/entries" => api::remove_entries,
    GET "/v1/alerts" => delivery::list,
    GET "/v1/alerts/stream" => delivery::stream,
}

/// Runs the matcher until shutdown.
///
/// # Errors
/// When the bus cannot be subscribed to.
pub(crate) async fn run_matcher(state: AppState) -> anyhow::Result<()> {
    follower::run(
        state.deps.bus.clone(),
        state.deps.store_group("search-alerts"),
        state.alerts.clone(),
        state.deps.directory.clone(),
        state.config.max_alerts_per_report,
        state.shutdown.clone(),
    )
    .await
}

/// Delivers webhooks until shutdown.
///
/// # Errors
/// When the HTTP client cannot be built.
pub(crate) async fn run_webhooks(state: AppState) -> anyhow::Result<()> {
    webhook::run(state).await
}

/// Deletes alerts older than the retention, every few minutes, until shutdown.
///
/// # Errors
/// Never: a failed pass is logged and retried at the next.
pub(crate) async fn run_retention(state: AppState) -> anyhow::Result<()> {
    let retention = chrono::Duration::days(i64::from(state.config.alert_retention_days));
    loop {
        let before = chrono::Utc::now() - retention;
        let store = state.alerts.clone();
        match tokio::task::spawn_blocking(move || store.prune(before, 10_000)).await? {
            Ok(pruned) if pruned > 0 => {
                tracing::info!(pruned, "alerts past their retention deleted")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "failed to delete alerts past their retention"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(300)) => {}
            () = state.shutdown.cancelled() => return Ok(()),
        }
    }
}

/// The matcher alone, without its store, the bus or delivery, for in-process drivers (the differential policy test
/// holds its matches to a reference): one watchlist per (agency, purpose).
#[derive(Default)]
pub struct AlertMatcher {
    memory: store::Memory,
}

/// A match: what an alert would be raised for.
#[derive(Debug, Clone)]
pub struct AlertMatch {
    /// The watchlist's agency.
    pub agency: accord_domain::OrgId,
    /// The watchlist's purpose.
    pub purpose: accord_domain::Purpose,
    /// The watched value.
    pub entry: String,
    /// The released value.
    pub value: String,
    /// The view the alert shows (cut down).
    pub view: accord_domain::View,
}

impl AlertMatcher {
    /// Watches the canonical `value` of `kind` for `agency` and `purpose`.
    pub fn watch(
        &mut self,
        agency: &accord_domain::OrgId,
        purpose: accord_domain::Purpose,
        kind: accord_domain::ObservableType,
        value: &str,
    ) {
        let id = format!("{agency}|{purpose}");
        if !self.memory.lists.contains_key(id.as_str()) {
            self.memory.add_list(store::Watchlist {
                id: id.clone(),
                agency: agency.clone(),
                name: id.clone(),
                purpose,
                case: accord_domain::Case::parse("matcher").expect("a valid case"),
                created_at: chrono::Utc::now(),
                created_by: String::new(),
                entries: 0,
                webhook: None,
            });
        }
        let slot = watched::Slot {
            list: id.as_str().into(),
            entry: value.into(),
        };
        self.memory.watched.insert(kind, value, false, slot);
    }

    /// Returns what `release` matches when evaluated at `at` under `snapshot`, as the matcher raises it (no cap).
    pub fn matches(
        &self,
        release: &accord_domain::ReleaseSet,
        snapshot: &accord_runtime::directory::Snapshot,
        at: accord_domain::Timestamp,
    ) -> Vec<AlertMatch> {
        follower::matches_of(release, &self.memory, snapshot, at, usize::MAX)
            .into_iter()
            .filter_map(|((list, entry, value), view)| {
                let list = self.memory.lists.get(&list)?;
                Some(AlertMatch {
                    agency: list.agency.clone(),
                    purpose: list.purpose,
                    entry: entry.to_string(),
                    value,
                    view,
                })
            })
            .collect()
    }
}
