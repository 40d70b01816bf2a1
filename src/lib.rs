//! The `accord` binary's library: CLI wiring only. [`config`] resolves a process's settings (flags, environment,
//! file, defaults). [`run`] starts a set of services in one process (all of them:
//! [`up`]; one: `accord gateway` and the like); [`console`] runs the web console alone against a remote API;
//! [`loadgen`] drives a running instance and measures it; [`submit`] imports a partner's files over the API; [`audit`] verifies an audit trail offline against a kept
//! checkpoint; [`index`] drops a lost or damaged embedded index so that the next start rebuilds it; [`memory`] is the
//! allocator of every `accord` process and its figures.

pub mod audit;
pub mod bus;
pub mod check;
pub mod cli;
pub mod config;
pub mod console;
pub mod index;
pub mod loadgen;
pub mod memory;
pub mod run;
pub mod submit;
pub mod up;
