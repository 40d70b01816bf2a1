//! `accord up`: every service in one process, on the embedded backends, with every HTTP API on one address.
//!
//! Start-up: open the bus (`<data>/bus`) and create the topics → open the index (`<data>/index`) → follow the
//! directory topics and catch up → resolve the bootstrap token → start the stages (normalizer, enforcer, indexer,
//! the gateway's status followers) → serve HTTP.
//!
//! Shutdown (on the token): stop accepting HTTP and finish in-flight requests → each stage finishes its current
//! batch (its index commit or bus publish) and commits its offsets → the bus writer drains → exit. A second signal
//! exits at once.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use accord_bus::BusClient;
use accord_domain::topics;
use accord_index::IndexClient;
use accord_runtime::{Authenticator, Deps, Directory, auth, http};
use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::cli::UpArgs;

/// What [`start`] needs.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Data directory.
    pub data_dir: PathBuf,
    /// The bootstrap coordinator token (`ACCORD_ADMIN_TOKEN`), if given.
    pub admin_token: Option<String>,
}

/// A running instance.
#[derive(Debug)]
pub struct Running {
    /// Every task; wait on it after cancelling the shutdown token.
    pub tracker: TaskTracker,
    /// The admin token generated on this start (a fresh data directory without `ACCORD_ADMIN_TOKEN`).
    pub generated_admin_token: Option<String>,
    /// The bus, for tests that look at what was (not) published.
    pub bus: BusClient,
}

const ADMIN_HASH_FILE: &str = "admin-token.sha256";

/// A pipeline stage's run loop.
type StageFuture = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;

/// Returns the bootstrap token hash, generating and storing a token on a fresh data directory.
fn bootstrap(data_dir: &Path, given: Option<&str>) -> anyhow::Result<(String, Option<String>)> {
    if let Some(token) = given {
        // A blank token would let anyone act as coordinator with an empty bearer: refuse to start.
        if token.trim().len() < 16 {
            anyhow::bail!(
                "ACCORD_ADMIN_TOKEN must be at least 16 characters (unset it to have one generated)"
            );
        }
        return Ok((auth::hash_secret(token), None));
    }
    let path = data_dir.join(ADMIN_HASH_FILE);
    if let Ok(hash) = std::fs::read_to_string(&path) {
        return Ok((hash.trim().to_owned(), None));
    }
    let token = auth::generate_secret();
    let hash = auth::hash_secret(&token);
    std::fs::write(&path, &hash).with_context(|| format!("failed to write {}", path.display()))?;
    Ok((hash, Some(token)))
}

/// Starts every service, serving HTTP on `listener`, until `shutdown` is cancelled.
///
/// # Errors
/// Fails when a backend cannot be opened or a service cannot start.
pub async fn start(
    options: UpOptions,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let data_dir = options.data_dir;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("failed to create data directory {}", data_dir.display()))?;
    let bus = BusClient::from_url(&data_dir.join("bus").to_string_lossy())
        .await
        .context("failed to open the embedded bus")?;
    bus.ensure_topics(&topics::ALL)
        .await
        .context("failed to create topics")?;
    let index_dir = data_dir.join("index");
    let index =
        tokio::task::spawn_blocking(move || IndexClient::from_url(&index_dir.to_string_lossy()))
            .await?
            .context("failed to open the embedded index")?;

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
        bootstrap(&data_dir, options.admin_token.as_deref())?;
    let auth = Authenticator::new(Arc::clone(&directory), Some(bootstrap_hash));
    let deps = Deps {
        bus: bus.clone(),
        index: index.clone(),
        directory: Arc::clone(&directory),
        auth,
        data_dir,
    };

    let tracker = TaskTracker::new();
    let admin = accord_admin::AppState::new(accord_admin::Config::default(), deps.clone())?;
    accord_admin::orgs::ensure_operator(&admin)
        .await
        .map_err(|error| {
            anyhow::anyhow!("failed to register the operator organization: {error}")
        })?;
    let gateway = accord_gateway::AppState::new(accord_gateway::Config::default(), deps.clone())?;
    accord_gateway::run_workers(gateway.clone(), &tracker, shutdown.clone()).await?;
    let search = accord_search::AppState::new(accord_search::Config::default(), deps.clone())?;
    let enforcer =
        accord_enforcer::AppState::new(accord_enforcer::Config::default(), deps.clone())?;

    let stages: Vec<(&str, StageFuture)> = vec![
        (
            "normalizer",
            Box::pin(accord_normalizer::run(
                Default::default(),
                bus.clone(),
                shutdown.clone(),
            )),
        ),
        (
            "enforcer",
            Box::pin(accord_enforcer::run(enforcer.clone(), shutdown.clone())),
        ),
        (
            "indexer",
            Box::pin(accord_indexer::run(
                Default::default(),
                bus.clone(),
                index.clone(),
                shutdown.clone(),
            )),
        ),
    ];
    for (name, stage) in stages {
        tracker.spawn(async move {
            if let Err(error) = stage.await {
                tracing::error!(error = %format!("{error:#}"), stage = name, "stage stopped with an error");
            }
        });
    }

    let router = accord_gateway::router(gateway)
        .merge(accord_admin::router(admin))
        .merge(accord_search::router(search))
        .merge(accord_enforcer::router(enforcer))
        .merge(http::ops_router(http::backends_ready(&deps)));
    let router = http::with_common_layers(router);
    let serve_shutdown = shutdown.clone();
    tracker.spawn(async move {
        if let Err(error) = http::serve(listener, router, serve_shutdown).await {
            tracing::error!(%error, "http server stopped with an error");
        }
    });
    tracker.close();
    Ok(Running {
        tracker,
        generated_admin_token,
        bus,
    })
}

/// `accord up` from the command line: runs until SIGINT/SIGTERM; a second signal exits at once.
///
/// # Errors
/// Fails when the address cannot be bound or start-up fails.
pub async fn main(args: UpArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to bind {}", args.listen))?;
    let address = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let options = UpOptions {
        data_dir: args.data_dir.clone(),
        admin_token: args.admin_token,
    };
    let running = start(options, listener, shutdown.clone()).await?;
    println!(
        "Accord is up: every API on http://{address} (data in {})",
        args.data_dir.display()
    );
    println!("  health: curl http://{address}/healthz   readiness: curl http://{address}/readyz");
    if let Some(token) = &running.generated_admin_token {
        println!(
            "  admin token (coordinator, shown once; set ACCORD_ADMIN_TOKEN to choose your own):"
        );
        println!("    {token}");
    }
    wait_for_signal().await;
    tracing::info!("shutting down: finishing requests and batches (signal again to exit now)");
    shutdown.cancel();
    tokio::select! {
        () = running.tracker.wait() => tracing::info!("stopped cleanly"),
        () = wait_for_signal() => tracing::warn!("second signal: exiting now"),
        () = tokio::time::sleep(std::time::Duration::from_secs(30)) => tracing::warn!("grace period over: exiting now"),
    }
    Ok(())
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
        assert!(bootstrap(dir.path(), Some("")).is_err());
        assert!(bootstrap(dir.path(), Some("   short   ")).is_err());
        let (hash, generated) = bootstrap(dir.path(), Some("a-long-enough-secret")).unwrap();
        assert_eq!(hash, auth::hash_secret("a-long-enough-secret"));
        assert!(generated.is_none());
        let (first_hash, first) = bootstrap(dir.path(), None).unwrap();
        let token = first.expect("a fresh data directory generates a token");
        assert_eq!(first_hash, auth::hash_secret(&token));
        let (second_hash, second) = bootstrap(dir.path(), None).unwrap();
        assert_eq!(second_hash, first_hash);
        assert!(second.is_none(), "the token is shown once");
    }
}
