//! `accord up`: every service in one process, with every HTTP API on one address; on the embedded backends unless
//! `--bus`/`--index` name others (see [`crate::run`]).

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::Context as _;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::run::Running;
use crate::{
    cli::RunArgs,
    config::{ServicesConfig, Settings},
    run::{self, RunOptions, Service},
};

/// What [`start`] needs.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Data directory.
    pub data_dir: PathBuf,
    /// The bootstrap coordinator token (`ACCORD_ADMIN_TOKEN`), if given.
    pub admin_token: Option<String>,
    /// The services' settings (`ServicesConfig::default()`: the defaults of `accord up`).
    pub config: ServicesConfig,
}

/// Starts every service on the embedded backends in `options.data_dir`, serving HTTP on `listener`, until
/// `shutdown` is cancelled.
///
/// # Errors
/// Fails when a backend cannot be opened or a service cannot start.
pub async fn start(
    options: UpOptions,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let options = RunOptions {
        services: Service::ALL.to_vec(),
        data_dir: options.data_dir,
        bus: None,
        index: None,
        admin_token: options.admin_token.map(SecretString::from),
        config: options.config,
    };
    run::start(options, listener, shutdown).await
}

/// `accord up` from the command line: runs until SIGINT/SIGTERM; a second signal exits at once.
///
/// # Errors
/// Fails when the configuration is invalid, the address cannot be bound or start-up fails.
pub async fn main(args: RunArgs) -> anyhow::Result<()> {
    serve(args, &Service::ALL).await
}

/// Returns the port a process running `services` listens on when none is configured.
fn default_listen(services: &[Service]) -> std::net::SocketAddr {
    match services {
        [one] => one.default_listen(),
        _ => std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
    }
}

/// `accord config print`: the effective settings of `accord up` with these arguments, secrets masked.
///
/// # Errors
/// When the configuration is invalid.
pub fn print_config(args: RunArgs) -> anyhow::Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let settings = Settings::resolve(args, default_listen(&Service::ALL), &env)?;
    print!("{}", settings.to_masked_toml());
    Ok(())
}

/// Runs `services` in this process as configured by `args` (see [`RunArgs`]), until a signal.
///
/// # Errors
/// Fails when the configuration is invalid, the address cannot be bound or start-up fails.
pub async fn serve(args: RunArgs, services: &[Service]) -> anyhow::Result<()> {
    let default_listen = default_listen(services);
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let settings = Settings::resolve(args, default_listen, &env)?;
    let signals = run::Signals::install();
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("failed to bind {}", settings.listen))?;
    let address = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let data_dir = settings.data_dir.clone();
    let options = RunOptions {
        services: services.to_vec(),
        data_dir: settings.data_dir,
        bus: settings.bus,
        index: settings.index,
        admin_token: settings.admin_token,
        config: settings.services,
    };
    let running = run::start(options, listener, shutdown.clone()).await?;
    tokio::spawn(crate::memory::report(shutdown.clone()));
    let names: Vec<&str> = services.iter().map(|service| service.name()).collect();
    if services.len() == Service::ALL.len() {
        println!(
            "Accord is up: every API on http://{address} (data in {})",
            data_dir.display()
        );
    } else {
        println!(
            "Accord {} is up on http://{address} (data in {})",
            names.join(", "),
            data_dir.display()
        );
    }
    println!("  health: curl http://{address}/healthz   readiness: curl http://{address}/readyz");
    if let Some(token) = &running.generated_admin_token {
        println!(
            "  admin token (coordinator, shown once; set ACCORD_ADMIN_TOKEN to choose your own):"
        );
        println!("    {token}");
    }
    run::until_signal(running, shutdown, signals).await
}
