//! `accord`: see `accord --help`.

use accord::cli::{Cli, Command};
use accord_runtime::telemetry;
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format.into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => accord::up::main(args).await,
            Command::Loadgen(args) => accord::loadgen::main(args).await,
        }
    })
}
