//! The configuration of a process: where it finds its backends (`data_dir`, `listen`, `bus`, `index`,
//! `admin_token_file`), the Kafka bus's TLS and SASL settings (`[kafka]`, secrets included: never in the bus URL),
//! the keys directory records are verified with (`[directory]`) and the settings of every service it may run
//! (`[http]`, `[health]`, `[gateway]`, `[normalizer]`, `[enforcer]`, `[indexer]`, `[search]`, `[admin]`, `[console]`: each the
//! service crate's own `Config`) and the sizes of its caches (`[memory]`, `accord_runtime::memory`).
//!
//! Each value comes from the first of these that has it:
//! 1. the command line (`--bus …`);
//! 2. the environment: `ACCORD_BUS` and the like for the process settings, `ACCORD_<SECTION>__<FIELD>` for a
//!    service setting (`ACCORD_INDEXER__LINGER_MS=20`, `ACCORD_HTTP__MAX_BODY_BYTES=4194304`);
//! 3. the TOML file named by `--config` / `ACCORD_CONFIG` (top-level keys and `[section]` tables);
//! 4. the defaults (the embedded development values).
//!
//! Everything is validated at start: an unknown key (in the file or in an `ACCORD_<SECTION>__` variable), a value
//! of the wrong type or out of range stops the process with an error naming the key. Secrets (the bootstrap admin
//! token, passwords inside backend URLs, keys in service sections) are held in [`SecretString`] or
//! [`accord_runtime::secret::ConfigSecret`] and printed masked by `accord config print`.
//!
//! The bootstrap admin token is read from the environment (`ACCORD_ADMIN_TOKEN`) or from a file of its own
//! (`--admin-token-file`, `ACCORD_ADMIN_TOKEN_FILE`, `admin_token_file`), never from the command line (which `ps`
//! shows to every user of the host) nor from the configuration file itself (which is printed and shared); giving
//! both is an error.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf};

use accord_runtime::http::HttpConfig;
use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::cli::RunArgs;

/// The settings of every service, one section each.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServicesConfig {
    /// The HTTP server of the process.
    pub http: HttpConfig,
    /// `[health]`: when a failing store makes `/healthz` fail, and the shutdown grace period.
    pub health: accord_runtime::health::HealthConfig,
    /// `[kafka]`: TLS and SASL of the Kafka bus (merged with the bus URL's parameters; the only place for the
    /// passwords).
    pub kafka: accord_bus::kafka::KafkaSecurity,
    /// `[directory]`: the public keys directory records are verified with.
    pub directory: accord_runtime::directory::signing::DirectoryConfig,
    /// `[gateway]`.
    pub gateway: accord_gateway::Config,
    /// `[normalizer]`.
    pub normalizer: accord_normalizer::Config,
    /// `[enforcer]`.
    pub enforcer: accord_enforcer::Config,
    /// `[indexer]`.
    pub indexer: accord_indexer::Config,
    /// `[search]`.
    pub search: accord_search::Config,
    /// `[admin]`.
    pub admin: accord_admin::Config,
    /// `[console]`.
    pub console: accord_console::Config,
    /// `[memory]`: the sizes of the process's caches.
    pub memory: accord_runtime::memory::MemoryConfig,
}

impl ServicesConfig {
    /// Checks every section, naming the key of the first bad value.
    ///
    /// # Errors
    /// A message naming the key (`gateway.max_report_bytes must be at least 1024`).
    pub fn validate(&self) -> anyhow::Result<()> {
        let checks = [
            self.http.validate(),
            self.health.validate(),
            self.gateway.validate(),
            self.normalizer.validate(),
            self.enforcer.validate(),
            self.indexer.validate(),
            self.search.validate(),
            self.console.validate(),
            self.admin.validate(),
            self.directory.validate(),
            self.memory.validate(),
        ];
        for check in checks {
            check.map_err(|message| anyhow::anyhow!("invalid configuration: {message}"))?;
        }
        Ok(())
    }
}

/// The configuration file: process settings at the top level, service settings in sections; all optional. Unknown
/// keys land among the sections, where [`ServicesConfig`] refuses them by name.
#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    bus: Option<String>,
    index: Option<String>,
    admin_token_file: Option<PathBuf>,
    /// Refused with a message (the token does not belong in a configuration file).
    admin_token: Option<toml::Value>,
    #[serde(flatten)]
    services: BTreeMap<String, toml::Value>,
}

/// A process's settings once every source is applied.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Local state: each service's own store, and the embedded bus and index when they are used.
    pub data_dir: PathBuf,
    /// The address the HTTP API is served on.
    pub listen: SocketAddr,
    /// The bus URL (`None`: the embedded log in `data_dir/bus`); may carry credentials.
    pub bus: Option<SecretString>,
    /// The index URL (`None`: tantivy in `data_dir/index`); may carry credentials.
    pub index: Option<SecretString>,
    /// The bootstrap coordinator token.
    pub admin_token: Option<SecretString>,
    /// The services' settings.
    pub services: ServicesConfig,
}

/// The sections a `ACCORD_<SECTION>__<FIELD>` variable may name.
const SECTIONS: [&str; 12] = [
    "http",
    "health",
    "kafka",
    "directory",
    "gateway",
    "normalizer",
    "enforcer",
    "indexer",
    "search",
    "admin",
    "console",
    "memory",
];

impl Settings {
    /// Resolves `args` (command line and process environment already applied by clap) against the configuration
    /// file, the service variables of `env` and the defaults.
    ///
    /// # Errors
    /// When the file cannot be read or parsed, a variable names an unknown section or field, or a value is invalid;
    /// the error names the file, variable or key.
    pub fn resolve(
        args: RunArgs,
        default_listen: SocketAddr,
        env: &BTreeMap<String, String>,
    ) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("failed to read the configuration file {}", path.display())
                })?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("invalid configuration file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let mut sections = toml::Table::from_iter(file.services);
        apply_env(&mut sections, env)?;
        let services: ServicesConfig =
            serde_path_to_error::deserialize(toml::Value::Table(sections)).map_err(|error| {
                let source = match &args.config {
                    Some(path) => format!("{} or the environment", path.display()),
                    None => "the environment".to_owned(),
                };
                anyhow::anyhow!(
                    "invalid configuration in {source}: `{}`: {}",
                    error.path(),
                    error.inner()
                )
            })?;
        services.validate()?;
        let secret = |value: Option<String>| value.map(SecretString::from);
        Ok(Self {
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("accord-data")),
            listen: args.listen.or(file.listen).unwrap_or(default_listen),
            bus: secret(args.bus.or(file.bus)),
            index: secret(args.index.or(file.index)),
            admin_token: admin_token(
                env,
                args.admin_token_file.or(file.admin_token_file),
                file.admin_token.is_some(),
            )?,
            services,
        })
    }

    /// Returns the effective settings as TOML, secrets masked: `accord config print`.
    pub fn to_masked_toml(&self) -> String {
        let mut table = toml::Table::new();
        let text = |value: &str| toml::Value::String(value.to_owned());
        table.insert("data_dir".into(), text(&self.data_dir.to_string_lossy()));
        table.insert("listen".into(), text(&self.listen.to_string()));
        if let Some(bus) = &self.bus {
            table.insert("bus".into(), text(&redact(bus.expose_secret())));
        }
        if let Some(index) = &self.index {
            table.insert("index".into(), text(&redact(index.expose_secret())));
        }
        if self.admin_token.is_some() {
            table.insert("admin_token".into(), text("***"));
        }
        if let Ok(toml::Value::Table(services)) = toml::Value::try_from(&self.services) {
            table.extend(services);
        }
        toml::to_string(&table).unwrap_or_default()
    }
}

/// Returns the `[kafka]` settings given by the `ACCORD_KAFKA__<FIELD>` variables of `env`, for commands that take
/// no configuration file (`accord check`).
///
/// # Errors
/// When a variable names no setting or holds an invalid value.
pub fn kafka_from_env(
    env: &BTreeMap<String, String>,
) -> anyhow::Result<accord_bus::kafka::KafkaSecurity> {
    let mut sections = toml::Table::new();
    apply_env(&mut sections, env)?;
    let kafka = sections
        .remove("kafka")
        .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
    serde_path_to_error::deserialize(kafka).map_err(|error| {
        anyhow::anyhow!(
            "invalid configuration in the environment: `kafka.{}`: {}",
            error.path(),
            error.inner()
        )
    })
}

/// Returns the bootstrap token: `ACCORD_ADMIN_TOKEN` of `env`, or the first line of `file` (surrounding white space
/// trimmed), or none.
///
/// # Errors
/// When both are given, the file cannot be read, or the configuration file holds the token itself.
fn admin_token(
    env: &BTreeMap<String, String>,
    file: Option<PathBuf>,
    in_config_file: bool,
) -> anyhow::Result<Option<SecretString>> {
    if in_config_file {
        anyhow::bail!(
            "invalid configuration: `admin_token` is not read from the configuration file; put the token in a \
             file of its own (`admin_token_file`) or in ACCORD_ADMIN_TOKEN"
        );
    }
    let from_env = env
        .get("ACCORD_ADMIN_TOKEN")
        .filter(|token| !token.is_empty());
    match (from_env, file) {
        (Some(_), Some(_)) => anyhow::bail!(
            "invalid configuration: both ACCORD_ADMIN_TOKEN and an admin token file are set; keep one"
        ),
        (Some(token), None) => Ok(Some(SecretString::from(token.clone()))),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("failed to read the admin token file {}", path.display())
            })?;
            let token = text.lines().next().unwrap_or_default().trim().to_owned();
            Ok(Some(SecretString::from(token)))
        }
        (None, None) => Ok(None),
    }
}

/// Applies the `ACCORD_<SECTION>__<FIELD>` variables of `env` to the sections; a value is read as TOML (a number,
/// a boolean, an array) when it parses as one, else as a string.
fn apply_env(sections: &mut toml::Table, env: &BTreeMap<String, String>) -> anyhow::Result<()> {
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("ACCORD_") else {
            continue;
        };
        let Some((section, field)) = rest.split_once("__") else {
            continue;
        };
        let (section, field) = (section.to_ascii_lowercase(), field.to_ascii_lowercase());
        if !SECTIONS.contains(&section.as_str()) || field.is_empty() || field.contains("__") {
            anyhow::bail!(
                "invalid configuration: the environment variable {name} names no setting \
                 (ACCORD_<SECTION>__<FIELD>, sections: {})",
                SECTIONS.join(", ")
            );
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut table| table.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.clone()));
        let table = sections
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(table) = table else {
            anyhow::bail!("invalid configuration: `{section}` must be a table");
        };
        table.insert(field, parsed);
    }
    Ok(())
}

/// Returns `url` without the password of its `user:password@` part, for logs, errors and `accord config print`.
pub fn redact(url: &str) -> String {
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

#[cfg(test)]
mod tests;
