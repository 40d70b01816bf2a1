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
    /// Runs every service in one process: on the embedded backends by default (no servers needed), or on the
    /// bus and index named by `--bus` and `--index`.
    Up(RunArgs),
    /// Runs the gateway (partners' API: POST /v1/reports) in this process.
    Gateway(RunArgs),
    /// Runs the normalizer (reports.raw → reports.normalized) in this process.
    Normalizer(RunArgs),
    /// Runs the enforcer (MoUs: reports.normalized → reports.releasable; explain, preview) in this process.
    Enforcer(RunArgs),
    /// Runs the indexer (reports.releasable → the index) in this process.
    Indexer(RunArgs),
    /// Runs search (investigators' and auditors' API) in this process.
    Search(RunArgs),
    /// Runs admin (coordinators' API: organizations, tokens, MoUs) in this process.
    Admin(RunArgs),
    /// Posts synthetic reports to a running Accord and measures throughput and latency.
    Loadgen(crate::loadgen::LoadgenArgs),
    /// Checks the pipeline's conservation law on the bus (accepted = released + rejected + withheld) and prints
    /// the counts as JSON; exits with an error when it does not hold.
    Check(CheckArgs),
}

/// `accord check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The bus to read (as for the services; the embedded log only while no other process has it open).
    #[arg(long, env = "ACCORD_BUS")]
    pub bus: String,
    /// How long to wait for reports in flight to arrive before failing.
    #[arg(long, default_value_t = 0)]
    pub wait_secs: u64,
}

/// Where a running service finds its backends and serves its API.
///
/// Each setting comes from, in this order (the first that has it wins): the command line, the environment
/// variable, the configuration file (`--config`, TOML with the same names: `data_dir`, `listen`, `bus`, `index`,
/// `admin_token`), the default.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// A TOML configuration file (keys `data_dir`, `listen`, `bus`, `index`, `admin_token`).
    #[arg(long, env = "ACCORD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Local state: each service's own store, and the embedded bus and index when they are used [default:
    /// accord-data].
    #[arg(long, env = "ACCORD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The address the HTTP API (and /healthz, /readyz, /metrics) is served on [default: 127.0.0.1:8080 for `up`;
    /// gateway 8081, search 8082, admin 8083, enforcer 8084, normalizer 8085, indexer 8086].
    #[arg(long, env = "ACCORD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The bus: `embedded://DIR` or `kafka://HOST:PORT[,HOST:PORT…][?partitions=N&replication=N…]` [default: the
    /// embedded log in DATA_DIR/bus, which only one process can open].
    #[arg(long, env = "ACCORD_BUS")]
    pub bus: Option<String>,
    /// The index: `tantivy://DIR` or `opensearch://HOST:PORT` (`opensearch+https://USER:PASSWORD@HOST:PORT`)
    /// [default: tantivy in DATA_DIR/index; the indexer's process writes it, others on the same host read it].
    #[arg(long, env = "ACCORD_INDEX")]
    pub index: Option<String>,
    /// The bootstrap coordinator token; when unset, admin generates one on first start and prints it once.
    #[arg(long, env = "ACCORD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

/// The settings of [`RunArgs`] once every source is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    /// See [`RunArgs::data_dir`].
    pub data_dir: PathBuf,
    /// See [`RunArgs::listen`].
    pub listen: SocketAddr,
    /// See [`RunArgs::bus`].
    pub bus: Option<String>,
    /// See [`RunArgs::index`].
    pub index: Option<String>,
    /// See [`RunArgs::admin_token`].
    pub admin_token: Option<String>,
}

/// The configuration file: the settings of [`RunArgs`], all optional; unknown keys are refused.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    bus: Option<String>,
    index: Option<String>,
    admin_token: Option<String>,
}

impl RunArgs {
    /// Applies the configuration file and the defaults (the command line and the environment are already in
    /// `self`, the command line first).
    ///
    /// # Errors
    /// When the configuration file cannot be read or parsed (naming the file and the key).
    pub fn resolve(self, default_listen: SocketAddr) -> anyhow::Result<RunSettings> {
        use anyhow::Context as _;
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("failed to read the configuration file {}", path.display())
                })?;
                toml::from_str::<ConfigFile>(&text)
                    .with_context(|| format!("invalid configuration file {}", path.display()))?
            }
            None => ConfigFile::default(),
        };
        Ok(RunSettings {
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("accord-data")),
            listen: self.listen.or(file.listen).unwrap_or(default_listen),
            bus: self.bus.or(file.bus),
            index: self.index.or(file.index),
            admin_token: self.admin_token.or(file.admin_token),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(args).expect("valid command line");
        match cli.command {
            Command::Gateway(args) | Command::Up(args) => args,
            other => panic!("unexpected command {other:?}"),
        }
    }

    #[test]
    fn the_command_line_wins_over_the_file_which_wins_over_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("accord.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/accord\"\nbus = \"kafka://file:9092\"\nlisten = \"0.0.0.0:9000\"\n",
        )
        .unwrap();
        let args = parse(&[
            "accord",
            "gateway",
            "--config",
            file.to_str().unwrap(),
            "--bus",
            "kafka://flag:9092",
        ]);
        let settings = args
            .resolve(SocketAddr::from(([127, 0, 0, 1], 8081)))
            .unwrap();
        assert_eq!(settings.bus.as_deref(), Some("kafka://flag:9092"));
        assert_eq!(settings.data_dir, PathBuf::from("/srv/accord"));
        assert_eq!(settings.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(settings.index, None);

        let defaults = parse(&["accord", "up"])
            .resolve(SocketAddr::from(([127, 0, 0, 1], 8080)))
            .unwrap();
        assert_eq!(defaults.data_dir, PathBuf::from("accord-data"));
        assert_eq!(defaults.listen, "127.0.0.1:8080".parse().unwrap());
    }

    #[test]
    fn a_bad_configuration_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "buss = \"kafka://x:1\"\n").unwrap();
        let args = parse(&["accord", "up", "--config", file.to_str().unwrap()]);
        let error = args
            .resolve(SocketAddr::from(([127, 0, 0, 1], 8080)))
            .unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("bad.toml"), "{message}");
        assert!(message.contains("buss"), "{message}");
    }
}
