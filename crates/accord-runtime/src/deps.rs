//! The backends and shared state a service is handed: it never knows which implementation it has.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use accord_bus::BusClient;
use accord_index::IndexClient;

use crate::{Authenticator, Directory, health::Health, memory::MemoryConfig};

/// Everything a service needs from outside itself.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The bus.
    pub bus: BusClient,
    /// The search index.
    pub index: IndexClient,
    /// The live directory (organizations, tokens, MoUs).
    pub directory: Arc<Directory>,
    /// Token resolution.
    pub auth: Authenticator,
    /// The data directory for a service's local state (gateway status, audit trail).
    pub data_dir: PathBuf,
    /// The address this process's HTTP server listens on (TAXII discovery's default base URL).
    pub listen_addr: Option<SocketAddr>,
    /// The process's health registry: stores report their failures and recoveries here ([`crate::health`]).
    pub health: Health,
    /// The sizes of the caches the services' stores are opened with (`[memory]`).
    pub memory: MemoryConfig,
}
