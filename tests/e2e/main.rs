//! Whole-pipeline tests: `accord up` in process on random ports with a fresh data directory, driven over HTTP.
#![allow(unreachable_pub)]

mod helpers;
mod lifecycle;
mod overlap;
mod pipeline;
mod policy;
mod refusals;
mod restart;
mod signed_directory;
mod stix_ingest;
mod validation;
