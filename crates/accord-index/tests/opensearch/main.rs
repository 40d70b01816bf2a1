//! The OpenSearch index, tested three ways:
//!
//! - contract tests (`setup`, `writes`, `failures`, `queries`, and `rebuild` on the model) against a local HTTP stub that records the exact
//!   requests Accord sends (templates, bulk NDJSON, query DSL) and answers like OpenSearch, including partial
//!   failures, rejections and timeouts: always run;
//! - the conformance suite against an in-memory model of the OpenSearch semantics Accord relies on (`model`): always
//!   run, so the write protocol and the query DSL meet every case of the suite;
//! - the conformance suite against a real cluster (`live`): run when `OPENSEARCH_URL` is set.

mod failures;
mod live;
mod model;
mod model_aliases;
mod model_dsl;
mod model_writes;
mod queries;
mod races;
mod rebuild;
mod setup;
mod stub;
mod writes;
