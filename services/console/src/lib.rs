//! The web console: Accord in a browser, for partners, investigators, coordinators and auditors (docs/console.md).
//!
//! Server-rendered HTML ([`maud`] templates, checked and escaped at compile time), progressive enhancement with htmx
//! (every form works without JavaScript), and a small vendored stylesheet: both served from the binary (`assets`).
//! The console is served at `/` on the API's own listener by `accord up` ([`start`]), or alone against a remote API
//! by `accord console --api URL` ([`run_remote`]).
//!
//! **No second path to data.** The console reads and writes nothing itself: every page calls one operation of a
//! [`Backend`] — in process, the same functions the HTTP handlers call ([`Local`]); remotely, the HTTP API itself
//! ([`Remote`]) — with the signed-in user's own token, so every answer carrying released data went through the
//! query-time re-check and has its audit record written before the page sees it, and the page shows that record's
//! number (decision 0025).
//!
//! **Sessions** (`session`): sign-in with an API token into a server-side session (`HttpOnly`, `SameSite=Strict`,
//! `Secure` over TLS; idle and absolute expiry; sign-out ends it; a revoked token ends it at the next request).
//! Every state-changing form carries the session's CSRF token and is refused without it (`form`). Every response
//! carries a strict Content-Security-Policy and the other security headers (`security`).
//!
//! Pages (`pages`) are grouped by role: partners, investigators, coordinators (organizations, tokens, MoUs) and
//! auditors (the audit trail), all on the same machinery.

mod assets;
mod backend;
mod charts;
pub mod docs;
mod extract;
mod form;
mod layout;
mod pages;
mod prometheus;
mod security;
mod session;

use std::{sync::Arc, time::Duration};

use accord_runtime::{
    ServiceHost,
    http::{HttpConfig, routes::Route},
    service::at_least,
};
use anyhow::Context as _;
use axum::{Router, middleware};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::session::SessionStore;
pub use crate::{
    backend::{Backend, Cited, Local, Remote},
    security::SecureCookies,
};

/// Console configuration (section `[console]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Whether `accord up` serves the console at `/`.
    pub enabled: bool,
    /// A session ends after this many minutes without a request.
    pub idle_timeout_minutes: u64,
    /// A session ends this many hours after sign-in, however active.
    pub absolute_timeout_hours: u64,
    /// The most sessions held at once; when full, the one idle longest ends.
    pub max_sessions: usize,
    /// When session cookies are `Secure`: `auto` (when the proxy in front says the request came over TLS),
    /// `always` or `never`.
    pub secure_cookies: SecureCookies,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_timeout_minutes: 30,
            absolute_timeout_hours: 12,
            max_sessions: 10_000,
            secure_cookies: SecureCookies::Auto,
        }
    }
}

impl Config {
    /// Checks the values at start, naming the key of the first bad one.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        at_least("console.idle_timeout_minutes", self.idle_timeout_minutes, 1)?;
        at_least(
            "console.absolute_timeout_hours",
            self.absolute_timeout_hours,
            1,
        )?;
        at_least("console.max_sessions", self.max_sessions as u64, 1)?;
        if self.idle_timeout_minutes > self.absolute_timeout_hours.saturating_mul(60) {
            return Err(
                "console.idle_timeout_minutes must not exceed console.absolute_timeout_hours"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// The console's shared state.
#[derive(Clone)]
pub struct AppState {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) sessions: Arc<SessionStore>,
    pub(crate) config: Arc<Config>,
}

impl AppState {
    /// Returns the state of a console whose pages call `backend`.
    pub fn new(config: Config, backend: Arc<dyn Backend>) -> Self {
        let sessions = SessionStore::new(
            Duration::from_secs(config.idle_timeout_minutes.saturating_mul(60)),
            Duration::from_secs(config.absolute_timeout_hours.saturating_mul(3600)),
            config.max_sessions,
        );
        Self {
            backend,
            sessions: Arc::new(sessions),
            config: Arc::new(config),
        }
    }
}

/// The routes [`router`] serves: the pages' and the assets' (`run_remote` adds `GET /healthz`; `accord up` serves
/// [`accord_runtime::http::routes::operational`] beside).
pub fn route_table() -> Vec<Route> {
    [pages::ROUTES, assets::ROUTES].concat()
}

/// Returns the console's routes (pages, forms, assets: [`route_table`]), with the security headers on every response.
pub fn router(state: AppState) -> Router {
    pages::routes()
        .merge(assets::routes())
        .with_state(state)
        .layer(middleware::from_fn(security::push_url))
        .layer(middleware::from_fn(security::headers))
}

/// Starts the console in `host` (`accord up`): its pages call the search and gateway services of this process,
/// which must have started before it.
///
/// # Errors
/// Fails when the configuration is invalid or search or the gateway does not run in this process.
pub async fn start(config: Config, host: &mut ServiceHost) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    if !config.enabled {
        return Ok(());
    }
    let search = host.provided::<accord_search::AppState>().context(
        "the console needs the search service in the same process (or run `accord console --api`)",
    )?;
    let gateway = host.provided::<accord_gateway::AppState>().context(
        "the console needs the gateway in the same process (or run `accord console --api`)",
    )?;
    let mut backend = Local::new(host.deps().auth.clone(), search, gateway);
    // Admin is optional: without it in this process, the coordinators' pages say so.
    if let Some(admin) = host.provided::<accord_admin::AppState>() {
        backend = backend.with_admin(admin);
    }
    if let Some(enforcer) = host.provided::<accord_enforcer::AppState>() {
        backend = backend.with_enforcer(enforcer);
    }
    host.mount(router(AppState::new(config, Arc::new(backend))));
    Ok(())
}

/// Runs the console alone on `listener` (`accord console --api URL`), its pages calling the Accord API at `api` with
/// each user's own token, until `shutdown` is cancelled. It serves `/healthz` too.
///
/// # Errors
/// Fails when the configuration is invalid or the server stops with an I/O error.
pub async fn run_remote(
    config: Config,
    http: HttpConfig,
    api: reqwest::Url,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let backend = Remote::new(api)?;
    let router = router(AppState::new(config, Arc::new(backend)))
        .route("/healthz", axum::routing::get(|| async { "ok" }));
    let router = accord_runtime::http::with_common_layers(router, &http, None);
    // Every connection is a task of this tracker: returning only once the last one is closed.
    let tracker = tokio_util::task::TaskTracker::new();
    accord_runtime::http::serve(listener, router, &http, shutdown, tracker.clone()).await?;
    tracker.close();
    tracker.wait().await;
    Ok(())
}
