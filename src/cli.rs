//! Command-line interface. Flags can also be given as environment variables (shown in `--help`); a flag on the
//! command line wins over the environment, which wins over the default.

use std::{net::SocketAddr, path::PathBuf};

use accord_runtime::telemetry::LogFormat;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Accord: MoU-governed sharing of cyber-incident reports between industry partners and law-enforcement agencies.
#[derive(Debug, Parser)]
#[command(name = "accord", version)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, env = "ACCORD_LOG_FORMAT", value_enum, default_value_t = LogFormatArg::Pretty)]
    pub log_format: LogFormatArg,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Log format flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable.
    Pretty,
    /// JSON lines.
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(value: LogFormatArg) -> Self {
        match value {
            LogFormatArg::Pretty => LogFormat::Pretty,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs every service in one process on the embedded backends (no servers needed).
    Up(UpArgs),
    /// Posts synthetic reports to a running Accord and measures throughput and latency.
    Loadgen(crate::loadgen::LoadgenArgs),
}

/// `accord up`.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Where everything is stored: the bus log, the index, the audit trail, the gateway's status store.
    #[arg(long, env = "ACCORD_DATA_DIR", default_value = "accord-data")]
    pub data_dir: PathBuf,
    /// The address every HTTP API is served on.
    #[arg(long, env = "ACCORD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The bootstrap coordinator token; when unset, one is generated on first start and printed once.
    #[arg(long, env = "ACCORD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}
