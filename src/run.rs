//! Runs a set of services in this process: all of them (`accord up`) or one (`accord gateway`, `accord indexer`…).
//!
//! Start-up: open the bus and create the topics → open the index (with its writer only in the process that runs the
//! indexer) → follow the directory topic and catch up → resolve the bootstrap token → start the stages of the
//! services run here (normalizer, enforcer, indexer, the gateway's status followers) → serve the HTTP APIs of the
//! services run here, and `/healthz`, `/readyz`, `/metrics` in every process.
//!
//! Shutdown (on the token): stop accepting HTTP and finish in-flight requests → each stage finishes its current
//! batch (its index commit or bus publish) and commits its offsets → exit.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use accord_bus::BusClient;
use accord_domain::topics;
use accord_index::IndexClient;
use accord_runtime::{Authenticator, Deps, Directory, auth, http};
use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// One of Accord's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Partners' API: accepts reports onto `reports.raw`, answers their status.
    Gateway,
    /// `reports.raw` → `reports.normalized` (or `reports.rejected`).
    Normalizer,
    /// `reports.normalized` + MoUs → `reports.releasable`; explain and preview.
    Enforcer,
    /// `reports.releasable` → the index.
    Indexer,
    /// Investigators' and auditors' API.
    Search,
    /// Coordinators' API: organizations, tokens, MoUs.
    Admin,
}

impl Service {
    /// Every service, in start order.
    pub const ALL: [Self; 6] = [
        Self::Admin,
        Self::Gateway,
        Self::Normalizer,
        Self::Enforcer,
        Self::Indexer,
        Self::Search,
    ];

    /// The service's name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Normalizer => "normalizer",
            Self::Enforcer => "enforcer",
            Self::Indexer => "indexer",
            Self::Search => "search",
            Self::Admin => "admin",
        }
    }

    /// The address the service listens on when none is configured (`accord up`: 8080). Distinct, so that every
    /// service can run as its own process on one host without flags.
    pub fn default_listen(self) -> SocketAddr {
        let port = match self {
            Self::Gateway => 8081,
            Self::Search => 8082,
            Self::Admin => 8083,
            Self::Enforcer => 8084,
            Self::Normalizer => 8085,
            Self::Indexer => 8086,
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`start`] needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The services to run in this process.
    pub services: Vec<Service>,
    /// The data directory: the embedded backends (`bus/`, `index/`) when they are used, and each service's local
    /// state (`gateway/`, `enforcer/`, `search/`), so that processes on one host may share it.
    pub data_dir: PathBuf,
    /// The bus URL (`embedded://DIR`, `kafka://host:port[,…][?…]`); default `embedded://<data_dir>/bus`.
    pub bus: Option<String>,
    /// The index URL (`tantivy://DIR`, `opensearch://host:port[?…]`); default `tantivy://<data_dir>/index`.
    pub index: Option<String>,
    /// The bootstrap coordinator token (`ACCORD_ADMIN_TOKEN`), if given.
    pub admin_token: Option<String>,
}

/// A running set of services.
#[derive(Debug)]
pub struct Running {
    /// Every task; wait on it after cancelling the shutdown token.
    pub tracker: TaskTracker,
    /// The admin token generated on this start (admin on a fresh data directory without `ACCORD_ADMIN_TOKEN`).
    pub generated_admin_token: Option<String>,
    /// The bus, for tests that look at what was (not) published.
    pub bus: BusClient,
}

/// The file holding the hash of a generated bootstrap token.
const ADMIN_HASH_FILE: &str = "admin-token.sha256";

/// A pipeline stage's run loop.
type StageFuture = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;

/// Returns the bootstrap token hash. With `generate` (the process runs admin), a fresh data directory without a
/// given token gets a generated one, stored as its hash and returned once; otherwise the stored hash is used when
/// present (processes sharing a data directory on one host), else there is no bootstrap token in this process.
pub(crate) fn bootstrap(
    data_dir: &Path,
    given: Option<&str>,
    generate: bool,
) -> anyhow::Result<(Option<String>, Option<String>)> {
    if let Some(token) = given {
        // A blank token would let anyone act as coordinator with an empty bearer: refuse to start.
        if token.trim().len() < 16 {
            anyhow::bail!(
                "ACCORD_ADMIN_TOKEN must be at least 16 characters (unset it to have one generated)"
            );
        }
        return Ok((Some(auth::hash_secret(token)), None));
    }
    let path = data_dir.join(ADMIN_HASH_FILE);
    if let Ok(hash) = std::fs::read_to_string(&path) {
        return Ok((Some(hash.trim().to_owned()), None));
    }
    if !generate {
        return Ok((None, None));
    }
    let token = auth::generate_secret();
    let hash = auth::hash_secret(&token);
    std::fs::write(&path, &hash).with_context(|| format!("failed to write {}", path.display()))?;
    Ok((Some(hash), Some(token)))
}

/// Opens the backends, starts the stages of `options.services` and serves their HTTP APIs on `listener`, until
/// `shutdown` is cancelled.
///
/// # Errors
/// Fails when a backend cannot be opened or a service cannot start.
pub async fn start(
    options: RunOptions,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let RunOptions {
        services,
        data_dir,
        bus,
        index,
        admin_token,
    } = options;
    let runs = |service: Service| services.contains(&service);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("failed to create data directory {}", data_dir.display()))?;

    let bus_url =
        bus.unwrap_or_else(|| format!("embedded://{}", data_dir.join("bus").to_string_lossy()));
    let bus = BusClient::from_url(&bus_url)
        .await
        .with_context(|| format!("failed to open the bus `{}`", redact(&bus_url)))?;
    bus.ensure_topics(&topics::ALL)
        .await
        .context("failed to create topics")?;
    let index_url =
        index.unwrap_or_else(|| format!("tantivy://{}", data_dir.join("index").to_string_lossy()));
    let writes_index = runs(Service::Indexer);
    let index = {
        let url = index_url.clone();
        tokio::task::spawn_blocking(move || {
            if writes_index {
                IndexClient::from_url(&url)
            } else {
                IndexClient::from_url_read_only(&url)
            }
        })
        .await?
        .with_context(|| format!("failed to open the index `{}`", redact(&index_url)))?
    };

    let directory = Arc::new(Directory::new());
    directory
        .follow(&bus, shutdown.clone())
        .await
        .context("failed to follow the directory")?;
    directory
        .catch_up(&bus)
        .await
        .context("failed to load the directory")?;

    let (bootstrap_hash, generated_admin_token) =
        bootstrap(&data_dir, admin_token.as_deref(), runs(Service::Admin))?;
    let auth = Authenticator::new(Arc::clone(&directory), bootstrap_hash);
    let deps = Deps {
        bus: bus.clone(),
        index: index.clone(),
        directory: Arc::clone(&directory),
        auth,
        data_dir,
    };

    let tracker = TaskTracker::new();
    let mut router = Router::new();
    let mut stages: Vec<(&str, StageFuture)> = Vec::new();
    for service in Service::ALL.into_iter().filter(|service| runs(*service)) {
        match service {
            Service::Admin => {
                let admin =
                    accord_admin::AppState::new(accord_admin::Config::default(), deps.clone())?;
                accord_admin::orgs::ensure_operator(&admin)
                    .await
                    .map_err(|error| {
                        anyhow::anyhow!("failed to register the operator organization: {error}")
                    })?;
                router = router.merge(accord_admin::router(admin));
            }
            Service::Gateway => {
                let gateway =
                    accord_gateway::AppState::new(accord_gateway::Config::default(), deps.clone())?;
                accord_gateway::run_workers(gateway.clone(), &tracker, shutdown.clone()).await?;
                router = router.merge(accord_gateway::router(gateway));
            }
            Service::Normalizer => stages.push((
                "normalizer",
                Box::pin(accord_normalizer::run(
                    Default::default(),
                    bus.clone(),
                    shutdown.clone(),
                )),
            )),
            Service::Enforcer => {
                let enforcer = accord_enforcer::AppState::new(
                    accord_enforcer::Config::default(),
                    deps.clone(),
                )?;
                stages.push((
                    "enforcer",
                    Box::pin(accord_enforcer::run(enforcer.clone(), shutdown.clone())),
                ));
                router = router.merge(accord_enforcer::router(enforcer));
            }
            Service::Indexer => stages.push((
                "indexer",
                Box::pin(accord_indexer::run(
                    Default::default(),
                    bus.clone(),
                    index.clone(),
                    shutdown.clone(),
                )),
            )),
            Service::Search => {
                let search =
                    accord_search::AppState::new(accord_search::Config::default(), deps.clone())?;
                router = router.merge(accord_search::router(search));
            }
        }
    }
    for (name, stage) in stages {
        let stage_shutdown = shutdown.clone();
        tracker.spawn(async move {
            if let Err(error) = stage.await {
                tracing::error!(error = %format!("{error:#}"), stage = name, "stage stopped with an error");
                // A stage that stopped leaves its partitions unconsumed: stop the process rather than serve on
                // half-alive, so that a supervisor restarts it (and other members of its group take over).
                stage_shutdown.cancel();
            }
        });
    }

    let router = router.merge(http::ops_router(http::backends_ready(&deps)));
    let router = http::with_common_layers(router);
    let serve_shutdown = shutdown.clone();
    tracker.spawn(async move {
        if let Err(error) = http::serve(listener, router, serve_shutdown).await {
            tracing::error!(%error, "http server stopped with an error");
        }
    });
    tracker.close();
    let names: Vec<&str> = services.iter().map(|service| service.name()).collect();
    tracing::info!(services = ?names, bus = %redact(&bus_url), index = %redact(&index_url), "started");
    Ok(Running {
        tracker,
        generated_admin_token,
        bus,
    })
}

/// Returns `url` without the password of its `user:password@` part, for logs and errors.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Runs until SIGINT/SIGTERM, then shuts down; a second signal exits at once.
pub(crate) async fn until_signal(running: Running, shutdown: CancellationToken) {
    tokio::select! {
        () = wait_for_signal() => {
            tracing::info!("shutting down: finishing requests and batches (signal again to exit now)");
        }
        () = shutdown.cancelled() => {
            tracing::warn!("shutting down: a service stopped");
        }
    }
    shutdown.cancel();
    tokio::select! {
        () = running.tracker.wait() => tracing::info!("stopped cleanly"),
        () = wait_for_signal() => tracing::warn!("second signal: exiting now"),
        () = tokio::time::sleep(std::time::Duration::from_secs(30)) => tracing::warn!("grace period over: exiting now"),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_refuses_blank_tokens_and_generates_one_only_once() {
        let dir = tempfile::tempdir().unwrap();
        assert!(bootstrap(dir.path(), Some(""), true).is_err());
        assert!(bootstrap(dir.path(), Some("   short   "), true).is_err());
        let (hash, generated) = bootstrap(dir.path(), Some("a-long-enough-secret"), true).unwrap();
        assert_eq!(hash, Some(auth::hash_secret("a-long-enough-secret")));
        assert!(generated.is_none());
        // A process without admin generates nothing on a fresh directory.
        assert_eq!(bootstrap(dir.path(), None, false).unwrap(), (None, None));
        let (first_hash, first) = bootstrap(dir.path(), None, true).unwrap();
        let token = first.expect("a fresh data directory generates a token");
        assert_eq!(first_hash, Some(auth::hash_secret(&token)));
        let (second_hash, second) = bootstrap(dir.path(), None, true).unwrap();
        assert_eq!(second_hash, first_hash);
        assert!(second.is_none(), "the token is shown once");
        // Another process on the same data directory finds the stored hash.
        assert_eq!(bootstrap(dir.path(), None, false).unwrap().0, first_hash);
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("opensearch+https://admin:secret@os:9200?prefix=a"),
            "opensearch+https://admin:***@os:9200?prefix=a"
        );
        assert_eq!(redact("kafka://a:9092,b:9092"), "kafka://a:9092,b:9092");
        assert_eq!(redact("/var/lib/accord/bus"), "/var/lib/accord/bus");
    }
}
