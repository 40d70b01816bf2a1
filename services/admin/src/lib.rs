//! Admin: the coordinators' API for organizations, tokens and versioned MoUs.
//!
//! Tokens end: each is issued with an `expires_at` (given, or `token_default_lifetime_days` from now; never more
//! than `token_max_lifetime_days`), and `DELETE /v1/tokens/{id}` revokes one at once. The bootstrap token is
//! revoked with `DELETE /v1/tokens/bootstrap` ([`accord_runtime::auth::bootstrap_revocation`]).
//!
//! Admin owns no storage of its own: every change is published on a compacted topic ([`topics::ADMIN_DIRECTORY`]
//! for organizations and tokens, [`topics::POLICY_MOUS`] for MoU versions) and every service, admin included,
//! materializes those topics in its [`accord_runtime::Directory`]. A handler answers only once its own directory has
//! applied the change, so the change is in force for the next request.

mod mous;
mod orgs;
mod page;
mod tokens;

use accord_bus::Record;
use accord_runtime::telemetry::ErrorChain;
use accord_runtime::{ApiError, Authenticator, Deps, ServiceHost, service::at_least};
use anyhow::Context as _;
use axum::{
    Router,
    extract::FromRef,
    routing::{delete, get, post},
};
use serde::{Deserialize, Serialize};

/// Admin configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How long a token issued without `expires_at` lives, in days.
    pub token_default_lifetime_days: u32,
    /// The longest a token may live, in days: a later `expires_at` is refused (422).
    pub token_max_lifetime_days: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            token_default_lifetime_days: 90,
            token_max_lifetime_days: 365,
        }
    }
}

impl Config {
    /// Checks the values at start, naming the key of the first bad one.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        at_least(
            "admin.token_default_lifetime_days",
            self.token_default_lifetime_days.into(),
            1,
        )?;
        at_least(
            "admin.token_max_lifetime_days",
            self.token_max_lifetime_days.into(),
            self.token_default_lifetime_days.into(),
        )?;
        // chrono's durations end near 292 000 years; a century is plenty.
        if self.token_max_lifetime_days > 36_500 {
            return Err("admin.token_max_lifetime_days must be at most 36500".to_owned());
        }
        Ok(())
    }
}

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    pub(crate) deps: Deps,
    pub(crate) config: std::sync::Arc<Config>,
    /// The one MoU validation, shared with the enforcer's preview.
    pub(crate) mou_validator: std::sync::Arc<accord_domain::MouValidator>,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Authenticator {
        state.deps.auth.clone()
    }
}

impl AppState {
    /// Builds the state.
    ///
    /// # Errors
    /// Fails when the MoU schema does not compile.
    pub fn new(config: Config, deps: Deps) -> anyhow::Result<Self> {
        Ok(Self {
            deps,
            config: std::sync::Arc::new(config),
            mou_validator: std::sync::Arc::new(accord_domain::MouValidator::new()?),
        })
    }

    /// Publishes one record and waits until this process's directory has applied it.
    pub(crate) async fn publish_and_apply(
        &self,
        topic: &'static str,
        key: String,
        payload: Vec<u8>,
    ) -> Result<(), ApiError> {
        let positions = self
            .deps
            .bus
            .publish(topic, vec![Record::new(key, payload)])
            .await
            .map_err(|error| {
                tracing::error!(error = %ErrorChain(&error), topic, "failed to publish directory change");
                ApiError::Unavailable("the change could not be stored; retry later".to_owned())
            })?;
        let Some(position) = positions.first() else {
            return Err(ApiError::internal(anyhow::anyhow!(
                "the bus returned no position"
            )));
        };
        let wait = self.deps.directory.wait_applied(topic, position.offset);
        if tokio::time::timeout(std::time::Duration::from_secs(10), wait)
            .await
            .is_err()
        {
            return Err(ApiError::Unavailable(
                "the change was stored but is not in force yet; check again shortly".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Returns admin's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/organizations", post(orgs::create).get(orgs::list))
        .route("/v1/organizations/{id}", get(orgs::get).patch(orgs::update))
        .route("/v1/tokens", post(tokens::issue))
        .route("/v1/tokens/case", post(tokens::issue_case))
        .route("/v1/tokens/{id}", delete(tokens::revoke))
        .route("/v1/mous", post(mous::create).get(mous::list))
        .route("/v1/mous/{id}", get(mous::get).put(mous::update))
        .route("/v1/mous/{id}/history", get(mous::history))
        .route("/v1/mous/{id}/suspend", post(mous::suspend))
        .route("/v1/mous/{id}/revoke", post(mous::revoke))
        .with_state(state)
}

/// Starts admin in `host`: registers the operator organization, then mounts the coordinators' routes.
///
/// # Errors
/// Fails when the MoU schema does not compile or the operator cannot be registered.
pub async fn start(config: Config, host: &mut ServiceHost) -> anyhow::Result<()> {
    let state = AppState::new(config, host.deps().clone())?;
    orgs::ensure_operator(&state)
        .await
        .context("failed to register the operator organization")?;
    host.mount(router(state));
    Ok(())
}
