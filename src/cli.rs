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
    /// Runs the web console alone, its pages calling a running Accord's HTTP API with each user's own token
    /// (`accord up` serves the console itself, at `/`).
    Console(ConsoleArgs),
    /// A partner's reports into a running Accord over its API: `accord report submit FILE|DIR --as PARTNER`.
    Report(ReportArgs),
    /// Posts synthetic reports to a running Accord and measures throughput and latency.
    Loadgen(crate::loadgen::LoadgenArgs),
    /// Checks the pipeline's conservation law on the bus (accepted = released + rejected + withheld) and prints
    /// the counts as JSON; exits with an error when it does not hold.
    Check(CheckArgs),
    /// Shows the configuration.
    Config(ConfigArgs),
    /// Works on the audit trail offline.
    Audit(AuditArgs),
    /// Works on the embedded index offline.
    Index(IndexArgs),
    /// Works on the embedded bus offline.
    Bus(BusArgs),
}

/// `accord bus`.
#[derive(Debug, Clone, Args)]
pub struct BusArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: BusAction,
}

/// `accord bus` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum BusAction {
    /// Checks the embedded bus of a stopped Accord: the file's checksums and every record's; lists damaged records.
    Verify(crate::bus::BusVerifyArgs),
}

/// `accord index`.
#[derive(Debug, Clone, Args)]
pub struct IndexArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: IndexAction,
}

/// `accord index` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum IndexAction {
    /// Drops the embedded index of a stopped Accord so that its next start rebuilds it from the bus (the index is
    /// derived state); refuses while a process holds the data directory. With --index opensearch://…, asks the
    /// running indexer for an online rebuild into a new index generation behind the alias.
    Rebuild(crate::index::IndexRebuildArgs),
    /// Checks every file of the embedded index against its checksum and lists the damaged ones.
    Verify(crate::index::IndexVerifyArgs),
}

/// `accord report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ReportAction,
}

/// `accord report` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum ReportAction {
    /// Imports STIX 2.1 bundles, MISP events, MISP feeds and indicator lists (one report per bundle, event or
    /// batch of list values) with a partner token from ACCORD_TOKEN or --token-file; prints a summary and exits
    /// with an error when anything was refused (docs/cli.md).
    Submit(crate::submit::SubmitArgs),
}

/// `accord audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: AuditAction,
}

/// `accord audit` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditAction {
    /// Verifies the audit trail of a stopped search (or a copy of its data directory) against a checkpoint kept
    /// from `GET /v1/audit/checkpoint`: every link, then the checkpoint's signature and that the chain still has
    /// its record with its hash. Prints the result as JSON; exits with an error when it does not hold.
    Verify(AuditVerifyArgs),
    /// Verifies an export of the audit trail (`GET /v1/audit/export`, the console's "Export (JSON lines)") without
    /// Accord running: every record's hash, every link, and the signed checkpoint of the range's end. Prints the
    /// result as JSON; exits with an error when it does not hold.
    VerifyExport(AuditVerifyExportArgs),
}

/// `accord audit verify-export`.
#[derive(Debug, Clone, Args)]
pub struct AuditVerifyExportArgs {
    /// The export (JSON lines).
    pub file: PathBuf,
    /// The public key checkpoints are signed with (base64, from `GET /v1/audit/public-key`) [default: the one the
    /// export names, which proves only that the file is consistent].
    #[arg(long)]
    pub public_key: Option<String>,
}

/// `accord audit verify`.
#[derive(Debug, Clone, Args)]
pub struct AuditVerifyArgs {
    /// The data directory of the search process (its trail is DATA_DIR/search/audit.redb).
    #[arg(long, env = "ACCORD_DATA_DIR")]
    pub data_dir: PathBuf,
    /// A checkpoint an auditor kept (the JSON `GET /v1/audit/checkpoint` returned).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The public key checkpoints are signed with (base64, from `GET /v1/audit/public-key`) [default: derived from
    /// the key file DATA_DIR/search/audit-signing.key].
    #[arg(long)]
    pub public_key: Option<String>,
}

/// `accord check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The bus to read (as for the services; the embedded log only while no other process has it open). A Kafka
    /// bus's password and other `[kafka]` settings come from `ACCORD_KAFKA__<FIELD>` variables.
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
/// `admin_token_file`, and one `[section]` per service), the default (see [`crate::config`]). The bootstrap token
/// itself is never a flag: `ACCORD_ADMIN_TOKEN`, or the file named by `--admin-token-file`.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// A TOML configuration file (keys `data_dir`, `listen`, `bus`, `index`, `admin_token_file`; sections `[http]`,
    /// `[gateway]`, `[normalizer]`, `[enforcer]`, `[indexer]`, `[search]`, `[admin]`).
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
    /// The bus: `embedded://DIR` or `kafka://HOST:PORT[,HOST:PORT…][?partitions=N&replication=N…]`, TLS and SASL
    /// as `security_protocol=sasl_ssl&sasl_mechanism=SCRAM-SHA-512&sasl_username=U&ssl_ca_location=PATH`
    /// (passwords only in `[kafka]` or `ACCORD_KAFKA__SASL_PASSWORD`) [default: the
    /// embedded log in DATA_DIR/bus, which only one process can open].
    #[arg(long, env = "ACCORD_BUS")]
    pub bus: Option<String>,
    /// The index: `tantivy://DIR` or `opensearch://HOST:PORT` (`opensearch+https://USER:PASSWORD@HOST:PORT`)
    /// [default: tantivy in DATA_DIR/index; the indexer's process writes it, others on the same host read it].
    #[arg(long, env = "ACCORD_INDEX")]
    pub index: Option<String>,
    /// A file holding the bootstrap coordinator token (one line). The token can also be given in the environment
    /// variable ACCORD_ADMIN_TOKEN, never on the command line; without either, admin generates one on first start
    /// and prints it once.
    #[arg(long, env = "ACCORD_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
}

/// `accord console`: the web console alone, against a remote API.
#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// The Accord API the console's pages call, e.g. `https://accord.example.org/` (every route of `accord up` under
    /// it: /v1/…).
    #[arg(long, env = "ACCORD_CONSOLE_API")]
    pub api: url::Url,
    /// The address the console is served on [default: 127.0.0.1:8087].
    #[arg(long, env = "ACCORD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// A TOML configuration file: its `[console]` and `[http]` sections apply.
    #[arg(long, env = "ACCORD_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `accord config`.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// `accord config` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigAction {
    /// Prints the effective settings (command line, environment, file, defaults) as TOML, secrets masked.
    Print(RunArgs),
}
