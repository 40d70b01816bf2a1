//! Fuzz targets of the STIX side of ingest (docs/fuzzing.md): the pattern parser, bundle ingest and the MISP
//! importer, driven by structure-aware generators (patterns from the grammar, bundles and events built from real
//! indicator shapes) and their mutations.

mod ingest;
mod misp;
mod pattern;
mod report;
