//! Integration tests of the embedded bus: the backend-neutral conformance suite, then what only the embedded log
//! promises (reopening, closing, one file per directory).

mod conformance;
mod durability;
mod lifecycle;

use std::{future::Ready, path::PathBuf};

use accord_bus::{BusClient, embedded::EmbeddedBus};
use tempfile::TempDir;

/// A data directory and a factory that opens the bus in it: calling it again after dropping the previous client
/// simulates a restart.
pub(crate) struct TestDir {
    pub(crate) dir: TempDir,
}

impl TestDir {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("failed to create a temporary directory"),
        }
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().join("bus")
    }

    /// Returns a factory for the conformance suite.
    pub(crate) fn factory(&self) -> impl Fn() -> Ready<BusClient> + Send + Sync + use<> {
        let path = self.path();
        move || std::future::ready(open(&path))
    }

    pub(crate) fn open(&self) -> EmbeddedBus {
        EmbeddedBus::open(self.path()).expect("failed to open the embedded bus")
    }
}

fn open(path: &std::path::Path) -> BusClient {
    BusClient::new(EmbeddedBus::open(path).expect("failed to open the embedded bus"))
}
