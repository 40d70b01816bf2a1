//! Runs a set of services in this process: all of them (`accord up`) or one (`accord gateway`, `accord indexer`…).
//!
//! This module only chooses backends and starts services: open the bus and create the topics, and check that the
//! gateway's report limits fit the bus's record limit → open the index (with
//! its writer only in the process that runs the indexer) → follow the directory topics (verifying admin's
//! signatures with the keys `directory_keys` finds) and catch up → resolve the
//! bootstrap token → call each service crate's own `start(config, &mut host)`, which mounts its routes and spawns
//! its supervised tasks ([`accord_runtime::service`]) → serve every mounted API, with `/healthz`, `/readyz` and
//! `/metrics`, on one listener.
//!
//! Shutdown (on the token, or when any critical task fails): stop accepting HTTP and finish in-flight requests →
//! each stage finishes its current batch (its index commit or bus publish) and commits its offsets → exit.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::config::{ServicesConfig, redact};

use accord_bus::{BusClient, BusOptions};
use accord_domain::topics;
use accord_index::IndexClient;
use accord_runtime::{
    Authenticator, Deps, Directory, ServiceHost, auth, directory::signing::DirectoryKeys,
};
use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};
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
    /// The web console at `/`: pages calling search and the gateway of the same process (started after them).
    Console,
}

impl Service {
    /// Every service, in start order (the console last: it uses the state of search and the gateway).
    pub const ALL: [Self; 7] = [
        Self::Admin,
        Self::Gateway,
        Self::Normalizer,
        Self::Enforcer,
        Self::Indexer,
        Self::Search,
        Self::Console,
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
            Self::Console => "console",
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
            Self::Console => 8087,
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
    pub bus: Option<SecretString>,
    /// The index URL (`tantivy://DIR`, `opensearch://host:port[?…]`); default `tantivy://<data_dir>/index`.
    pub index: Option<SecretString>,
    /// The bootstrap coordinator token (`ACCORD_ADMIN_TOKEN` or its file), if given.
    pub admin_token: Option<SecretString>,
    /// The services' settings.
    pub config: ServicesConfig,
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
    /// How long a shutdown may take before the process exits anyway (non-zero).
    pub shutdown_grace: std::time::Duration,
    /// The process's identity in its Kafka consumer groups, on Kafka: released once every task has stopped, which
    /// removes its liveness mark, so that the next start does not wait (`accord_bus::kafka::MemberIdentity`).
    pub member: Option<Arc<accord_bus::kafka::MemberIdentity>>,
}

/// The file holding the hash of a generated bootstrap token.
const ADMIN_HASH_FILE: &str = "admin-token.sha256";

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
                "the bootstrap admin token (ACCORD_ADMIN_TOKEN or its file) must be at least 16 characters \
                 (unset it to have one generated)"
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

/// Opens the backends, starts every service of `options.services` through its own `start` and serves their HTTP
/// APIs on `listener`, until `shutdown` is cancelled.
///
/// # Errors
/// Fails when a backend cannot be opened or a service cannot start.
pub async fn start(
    options: RunOptions,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let runs = |service: Service| options.services.contains(&service);
    let data_dir = options.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("failed to create data directory {}", data_dir.display()))?;
    let (bus, bus_url, member) = open_bus(&options).await?;
    if runs(Service::Gateway) || runs(Service::Normalizer) {
        // The gateway's limits and the bus's record limit are one contract: what the gateway accepts, the bus carries.
        options
            .config
            .gateway
            .check_bus(bus.max_record_bytes())
            .map_err(|message| anyhow::anyhow!("invalid configuration: {message}"))?;
    }
    let (index, index_url) = open_index(&options, runs(Service::Indexer)).await?;
    let directory = Arc::new(Directory::new());
    directory
        .follow(&bus, directory_keys(&options, &data_dir)?, shutdown.clone())
        .await
        .context("failed to follow the directory")?;
    directory
        .catch_up(&bus)
        .await
        .context("failed to load the directory")?;
    let admin_token = options
        .admin_token
        .as_ref()
        .map(|token| token.expose_secret());
    let (bootstrap_hash, generated_admin_token) =
        bootstrap(&data_dir, admin_token, runs(Service::Admin))?;
    let deps = Deps {
        bus: bus.clone(),
        index,
        auth: Authenticator::new(Arc::clone(&directory), bootstrap_hash),
        directory,
        data_dir,
        listen_addr: listener.local_addr().ok(),
        health: accord_runtime::health::Health::new(&options.config.health),
        memory: options.config.memory.clone(),
        replica: member
            .as_ref()
            .map(|member| member.data_dir_id().to_owned()),
    };
    let config = &options.config;
    let mut host = ServiceHost::new(deps, config.http.clone(), shutdown);
    for service in Service::ALL.into_iter().filter(|service| runs(*service)) {
        let started = match service {
            Service::Admin => accord_admin::start(config.admin.clone(), &mut host).await,
            Service::Gateway => accord_gateway::start(config.gateway.clone(), &mut host).await,
            Service::Normalizer => {
                let limits = config.gateway.limits();
                accord_normalizer::start(config.normalizer.clone(), limits, &mut host).await
            }
            Service::Enforcer => accord_enforcer::start(config.enforcer.clone(), &mut host).await,
            Service::Indexer => accord_indexer::start(config.indexer.clone(), &mut host).await,
            Service::Search => accord_search::start(config.search.clone(), &mut host).await,
            Service::Console => accord_console::start(config.console.clone(), &mut host).await,
        };
        started.with_context(|| format!("failed to start {service}"))?;
    }
    let hosted = host.serve(listener);
    let names: Vec<&str> = options
        .services
        .iter()
        .map(|service| service.name())
        .collect();
    tracing::info!(services = ?names, bus = %redact(&bus_url), index = %redact(&index_url), "started");
    Ok(Running {
        tracker: hosted.tracker,
        generated_admin_token,
        bus,
        shutdown_grace: options.config.health.shutdown_grace(),
        member,
    })
}

/// Returns the keys this process verifies directory records with: `[directory] public_keys`, else admin's own key
/// when this process runs admin (generated on its first start), else admin's public key file in the data directory.
fn directory_keys(options: &RunOptions, data_dir: &Path) -> anyhow::Result<DirectoryKeys> {
    let admin_key = match options.services.contains(&Service::Admin) {
        true => Some(
            options
                .config
                .admin
                .directory_signer(data_dir)
                .context("failed to load the directory signing key")?
                .public_key(),
        ),
        false => None,
    };
    DirectoryKeys::resolve(&options.config.directory, admin_key, data_dir)
        .map_err(|message| anyhow::anyhow!("invalid configuration: {message}"))
}

/// Opens the bus (`options.bus`, else the embedded log in the data directory) and creates the topics. Returns it
/// with its URL and, on Kafka, the process's identity in its consumer groups.
async fn open_bus(
    options: &RunOptions,
) -> anyhow::Result<(
    BusClient,
    String,
    Option<Arc<accord_bus::kafka::MemberIdentity>>,
)> {
    let url = match &options.bus {
        Some(url) => url.expose_secret().to_owned(),
        None => format!(
            "embedded://{}",
            options.data_dir.join("bus").to_string_lossy()
        ),
    };
    // On Kafka, an identity kept in the data directory, so that a restart right after a crash resumes: under
    // static membership (`?static_membership=true`) the consumers take their partitions back at once; otherwise they
    // join once the dead predecessor's session is over (accord_bus::kafka::MemberIdentity, decisions 0073, 0076 and
    // 0078).
    let member = match url.starts_with("kafka://") {
        true => Some(
            accord_bus::kafka::MemberIdentity::claim(&options.data_dir)
                .context("failed to claim a Kafka member identity in the data directory")?,
        ),
        false => None,
    };
    let bus_options = BusOptions {
        kafka: options.config.kafka.clone(),
        embedded_cache_bytes: options.config.memory.bus_cache_bytes(),
        member: member.clone(),
    };
    let bus = BusClient::from_url_with(&url, &bus_options)
        .await
        .with_context(|| format!("failed to open the bus `{}`", redact(&url)))?;
    bus.ensure_topics(&topics::ALL)
        .await
        .context("failed to create topics")?;
    Ok((bus, url, member))
}

/// Opens the index (`options.index`, else tantivy in the data directory), with its writer only in the process
/// that runs the indexer. Returns it with its URL.
async fn open_index(options: &RunOptions, writes: bool) -> anyhow::Result<(IndexClient, String)> {
    let url = match &options.index {
        Some(url) => url.expose_secret().to_owned(),
        None => format!(
            "tantivy://{}",
            options.data_dir.join("index").to_string_lossy()
        ),
    };
    let index_options = accord_index::IndexOptions {
        writer_bytes: options.config.memory.index_writer_bytes(),
    };
    let opened = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            if writes {
                IndexClient::from_url_with(&url, &index_options)
            } else {
                IndexClient::from_url_read_only(&url)
            }
        })
        .await?
    };
    let index = opened.with_context(|| format!("failed to open the index `{}`", redact(&url)))?;
    Ok((index, url))
}

/// Runs until SIGINT/SIGTERM, then shuts down; a second signal exits at once.
///
/// # Errors
/// The process must exit with a non-zero status, so that a supervisor sees that it did not stop cleanly: a
/// service stopped on its own (a critical task failed), the grace period ran out with work unfinished, or a second
/// signal cut the shutdown short.
pub(crate) async fn until_signal(
    running: Running,
    shutdown: CancellationToken,
    mut signals: Signals,
) -> anyhow::Result<()> {
    let failed = tokio::select! {
        () = signals.recv() => {
            tracing::info!("shutting down: finishing requests and batches (signal again to exit now)");
            false
        }
        () = shutdown.cancelled() => {
            tracing::warn!("shutting down: a service stopped");
            true
        }
    };
    shutdown.cancel();
    let grace = running.shutdown_grace;
    tokio::select! {
        () = running.tracker.wait() => {
            if let Some(member) = &running.member {
                member.release();
            }
            tracing::info!("stopped cleanly");
        }
        () = signals.recv() => {
            tracing::warn!("second signal: exiting now");
            anyhow::bail!("stopped by a second signal before the shutdown finished");
        }
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX), "grace period over: exiting now");
            anyhow::bail!(
                "the shutdown grace period ({} ms, health.shutdown_grace_ms) ran out before every request and batch \
                 finished",
                grace.as_millis()
            );
        }
    }
    if failed {
        anyhow::bail!("a service stopped on its own (its error is logged above)");
    }
    Ok(())
}

/// SIGINT and SIGTERM, listened to from the moment [`Signals::install`] is called: installed before the services
/// start, so that a signal that arrives as soon as the process answers `/readyz` shuts it down cleanly instead of
/// killing it.
pub(crate) struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Starts listening (falling back to Ctrl-C alone where a signal cannot be listened to).
    pub(crate) fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                interrupt: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Waits for the next SIGINT or SIGTERM.
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        {
            if let (Some(term), Some(interrupt)) = (&mut self.term, &mut self.interrupt) {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
                return;
            }
        }
        wait_for_signal().await;
    }
}

pub(crate) async fn wait_for_signal() {
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
}
