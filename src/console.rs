//! `accord console --api URL`: the web console alone, its pages calling a remote Accord's HTTP API with each
//! signed-in user's own token (see `accord_console`). Its settings are the `[console]` and `[http]` sections of the
//! configuration, as for `accord up`.

use std::{collections::BTreeMap, net::SocketAddr};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    cli::{ConsoleArgs, RunArgs},
    config::Settings,
};

/// The console's default address when run alone.
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8087);

/// Runs the console until SIGINT/SIGTERM.
///
/// # Errors
/// Fails when the configuration is invalid, the address cannot be bound or the server fails.
pub async fn main(args: ConsoleArgs) -> anyhow::Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let run_args = RunArgs {
        config: args.config,
        listen: args.listen,
        ..RunArgs::default()
    };
    let settings = Settings::resolve(run_args, DEFAULT_LISTEN, &env)?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("failed to bind {}", settings.listen))?;
    let address = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let mut server = tokio::spawn(accord_console::run_remote(
        settings.services.console,
        settings.services.http,
        args.api.clone(),
        listener,
        shutdown.clone(),
    ));
    println!(
        "Accord console is up on http://{address}, calling the API at {}",
        args.api
    );
    tokio::select! {
        result = &mut server => return result.context("the console stopped")?,
        () = crate::run::wait_for_signal() => {}
    }
    tracing::info!("shutting down: finishing requests");
    shutdown.cancel();
    server.await.context("the console stopped")?
}
