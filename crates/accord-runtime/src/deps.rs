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
    /// The data directory's id on a bus shared by several processes (Kafka), `None` on the embedded log: it scopes the
    /// consumer groups of the stores every replica keeps whole ([`Deps::store_group`]).
    pub replica: Option<String>,
}

impl Deps {
    /// Returns the consumer group for a follower that derives a store this process keeps *whole* — every record of
    /// its topic, not a share — such as the gateway's report status or search's TAXII revocations: `group` scoped to
    /// this data directory (`<group>@<replica>`) on a shared bus, `group` itself on the embedded log.
    ///
    /// A consumer group splits a topic's partitions among its members, which is right for a stage (each record
    /// processed once in the deployment) and wrong for such a store: with two gateway replicas in one group, each
    /// would know the status of half the reports. The group is per data directory, not per process, because its
    /// committed offsets describe the store in that directory.
    pub fn store_group(&self, group: &str) -> String {
        match &self.replica {
            Some(replica) => format!("{group}@{replica}"),
            None => group.to_owned(),
        }
    }

    /// As [`Deps::store_group`], for a store derived from several topics, one follower each: on a shared bus each
    /// follower gets a group of its own, `<group>.<topic>@<replica>`, so that a group never has members on different
    /// topics (on tansu 0.6 such a group, five members on five topics, was seen leaving some members without
    /// partitions for good after a start); on the embedded log every follower is in `group`.
    pub fn store_group_of(&self, group: &str, topic: &str) -> String {
        match &self.replica {
            Some(_) => self.store_group(&format!("{group}.{topic}")),
            None => group.to_owned(),
        }
    }
}
