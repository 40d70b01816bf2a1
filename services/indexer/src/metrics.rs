//! The indexer's metric names, defined once (the stage metrics are the runtime's, `accord_runtime::metrics`).

/// Reports whose views were written (or found already newer) in the index.
pub(crate) const WRITTEN: &str = "accord_indexer_written_total";
