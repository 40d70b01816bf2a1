//! The `accord` binary's library: CLI wiring only. [`up`] runs every service in one process on the embedded
//! backends; [`loadgen`] drives a running instance and measures it.

pub mod cli;
pub mod loadgen;
pub mod up;
