//! Whole-pipeline tests: `accord up` in process on random ports with a fresh data directory, driven over HTTP.
#![allow(unreachable_pub)]

mod alerts;
mod audit_export;
mod bench;
mod case_tokens;
mod corpus;
mod corruption;
mod faults;
mod feedback;
mod flips;
mod full_disk;
mod helpers;
mod lenient;
mod lifecycle;
mod overlap;
mod oversight;
mod owned;
mod pipeline;
mod policy;
mod reads;
mod rebuild;
mod refusals;
mod report_ids;
mod restart;
mod signed_directory;
mod stix_ingest;
mod submit_cli;
mod tokens;
mod validation;
mod webhooks;
