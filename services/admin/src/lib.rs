//! Admin: the coordinators' API for organizations, tokens and versioned MoUs.
//!
//! The operations on organizations, tokens and MoUs are public functions ([`create_organization`], [`list_tokens`],
//! [`update_mou`], …): the HTTP handlers and the web console's in-process backend call the same ones, so there is
//! one path for each (docs/decisions/0025-console-as-a-client.md).
//!
//! Tokens end: each is issued with an `expires_at` (given, or `token_default_lifetime_days` from now; never more
//! than `token_max_lifetime_days`), and `DELETE /v1/tokens/{id}` revokes one at once. The bootstrap token is
//! revoked with `DELETE /v1/tokens/bootstrap` ([`accord_runtime::auth::bootstrap_revocation`]).
//!
//! Admin owns no storage of its own: every change is published on a compacted topic ([`accord_domain::topics::ADMIN_DIRECTORY`]
//! for organizations and tokens, [`accord_domain::topics::POLICY_MOUS`] for MoU versions) and every service, admin included,
//! materializes those topics in its [`accord_runtime::Directory`]. A handler answers only once its own directory has
//! applied the change, so the change is in force for the next request.
//!
//! Every record admin publishes is signed with its directory signing key ([`DirectorySigner`]), and every process
//! applies only signed records: the `directory` module has admin's part (the cut-over from unsigned records, MoU
//! versions moved under keys of their own, the genuine record published again after a refused one).

mod directory;
mod mous;
mod orgs;
mod page;
mod tokens;

pub use crate::{
    mous::{change_mou_status, create_mou, list_mous, mou, mou_history, update_mou},
    orgs::{create_organization, list_organizations, organization, update_organization},
    page::PageParams,
    tokens::{TokenQuery, issue_token, list_tokens, revoke_token},
};

use std::sync::Arc;

use accord_bus::{BusError, Record};
use accord_runtime::http::routes::Route;
use accord_runtime::{
    ApiError, Authenticator, Deps, ServiceHost,
    directory::signing::{DirectorySigner, encode_public_key},
    secret::{ConfigSecret, KeyError, decode_key},
    service::at_least,
    telemetry::ErrorChain,
};
use anyhow::Context as _;
use axum::{Router, extract::FromRef};
use serde::{Deserialize, Serialize};

/// Admin configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How long a token issued without `expires_at` lives, in days.
    pub token_default_lifetime_days: u32,
    /// The longest a token may live, in days: a later `expires_at` is refused (422).
    pub token_max_lifetime_days: u32,
    /// The ed25519 key directory records are signed with: its 32-byte seed in base64 (a secret, never printed).
    /// Without it, the key file `admin/directory-signing.key` in the data directory, generated on first start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_signing_key: Option<ConfigSecret>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            token_default_lifetime_days: 90,
            token_max_lifetime_days: 365,
            directory_signing_key: None,
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
        if let Some(key) = &self.directory_signing_key {
            decode_key(key.expose(), "admin.directory_signing_key")
                .map_err(|error| error.to_string())?;
        }
        Ok(())
    }

    /// Returns admin's directory signer: the configured key, else the key file in `data_dir` (generated there on
    /// first start). The runtime calls it too, to verify with admin's key in a process that runs admin.
    ///
    /// # Errors
    /// A malformed key, or a key file that cannot be read or written.
    pub fn directory_signer(
        &self,
        data_dir: &std::path::Path,
    ) -> Result<DirectorySigner, KeyError> {
        DirectorySigner::load(self.directory_signing_key.as_ref(), data_dir)
    }
}

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    pub(crate) deps: Deps,
    pub(crate) config: Arc<Config>,
    /// Signs every record admin publishes.
    pub(crate) signer: Arc<DirectorySigner>,
    /// The one MoU validation, shared with the enforcer's preview.
    pub(crate) mou_validator: Arc<accord_domain::MouValidator>,
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
    /// Fails when the MoU schema does not compile or the signing key cannot be had.
    pub fn new(config: Config, deps: Deps) -> anyhow::Result<Self> {
        let signer = config
            .directory_signer(&deps.data_dir)
            .context("failed to load the directory signing key")?;
        Ok(Self {
            signer: Arc::new(signer),
            deps,
            config: Arc::new(config),
            mou_validator: Arc::new(accord_domain::MouValidator::new()?),
        })
    }

    /// Publishes one record and waits until this process's directory has applied it.
    pub(crate) async fn publish_and_apply(
        &self,
        topic: &'static str,
        key: String,
        payload: Vec<u8>,
    ) -> Result<(), ApiError> {
        let offset = self
            .publish_signed(topic, Record::new(key, payload))
            .await
            .map_err(|error| {
                tracing::error!(error = %ErrorChain(&error), topic, "failed to publish directory change");
                ApiError::Unavailable("the change could not be stored; retry later".to_owned())
            })?;
        let wait = self.deps.directory.wait_applied(topic, offset);
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

impl AppState {
    /// Signs `record` and publishes it on `topic`; returns its offset. The one way admin writes to the bus.
    pub(crate) async fn publish_signed(
        &self,
        topic: &'static str,
        record: Record,
    ) -> Result<u64, BusError> {
        self.signer.advance(self.deps.directory.latest_signed_at());
        let record = self.signer.sign(topic, record);
        let positions = self.deps.bus.publish(topic, vec![record]).await?;
        positions
            .first()
            .map(|position| position.offset)
            .ok_or_else(|| BusError::Unavailable {
                context: format!("publishing to topic `{topic}` returned no position"),
                source: None,
            })
    }
}

/// Returns admin's routes: [`route_table`].
pub fn router(state: AppState) -> Router {
    routes().with_state(state)
}

/// The routes [`router`] serves (besides [`accord_runtime::http::routes::operational`], which every process serves).
pub fn route_table() -> Vec<Route> {
    ROUTES.to_vec()
}

accord_runtime::route_table! {
    /// Admin's routes, as data.
    const ROUTES;
    /// Admin's routes, state-less.
    fn routes() -> Router<AppState>;
    POST "/v1/organizations" => orgs::create,
    GET "/v1/organizations" => orgs::list,
    GET "/v1/organizations/{id}" => orgs::get,
    PATCH "/v1/organizations/{id}" => orgs::update,
    POST "/v1/tokens" => tokens::issue,
    GET "/v1/tokens" => tokens::list,
    POST "/v1/tokens/case" => tokens::issue_case,
    DELETE "/v1/tokens/{id}" => tokens::revoke,
    POST "/v1/mous" => mous::create,
    GET "/v1/mous" => mous::list,
    GET "/v1/mous/{id}" => mous::get,
    PUT "/v1/mous/{id}" => mous::update,
    GET "/v1/mous/{id}/history" => mous::history,
    POST "/v1/mous/{id}/suspend" => mous::suspend,
    POST "/v1/mous/{id}/resume" => mous::resume,
    POST "/v1/mous/{id}/revoke" => mous::revoke,
}

/// Starts admin in `host`: registers the operator organization, then mounts the coordinators' routes.
///
/// # Errors
/// Fails when the MoU schema does not compile or the operator cannot be registered.
pub async fn start(config: Config, host: &mut ServiceHost) -> anyhow::Result<()> {
    let state = AppState::new(config, host.deps().clone())?;
    tracing::info!(
        public_key = %encode_public_key(&state.signer.public_key()),
        "directory records signed with this ed25519 key"
    );
    let rejections = state.deps.directory.rejections();
    directory::prepare(&state)
        .await
        .context("failed to prepare the signed directory")?;
    host.spawn_critical(
        "directory-restorer",
        directory::restore_refused(state.clone(), rejections, host.shutdown()),
    );
    orgs::ensure_operator(&state)
        .await
        .context("failed to register the operator organization")?;
    // The web console's in-process backend calls admin's functions on this state.
    host.provide(state.clone());
    host.mount(router(state));
    Ok(())
}
