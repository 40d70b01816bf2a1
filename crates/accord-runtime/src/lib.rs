//! Accord's shared runtime, used by every service and the `accord` binary.
//!
//! - [`problem`]: the one [`ApiError`] type, rendered as RFC 9457 problem documents.
//! - [`cpu`]: CPU work off the async runtime, in the background for a partner with a backlog.
//! - [`auth`]: bearer tokens (random, stored hashed) and the [`Principal`] extractor.
//! - [`directory`]: organizations, tokens and MoUs materialized from the compacted bus topics.
//! - [`json`]: the request body extractor that names the failing field.
//! - [`identity`]: `GET /v1/me`, who a token is (served by every process).
//! - [`health`]: which stores fail and since when, what is in progress: what `/readyz` and `/healthz` answer.
//! - [`http`]: serving a router on a bound listener with graceful shutdown, plus `/healthz`, `/readyz`, `/metrics`.
//! - [`secret`]: secret settings (never printed) and the keys a service keeps in its data directory.
//! - [`service`]: hosting services in a process: their routes on one listener, their tasks supervised alike.
//! - [`metrics`]: the runtime's metric names (stages, HTTP).
//! - [`refill`]: refilling a derived store from the bus after its damaged file was set aside.
//! - [`retry`]: the one retry rule (exponential backoff with jitter, state changes logged once).
//! - [`store`]: a redb store that reopens itself after an I/O error (the services' own stores).
//! - [`stage`]: the at-least-once consumer loop of the pipeline stages.
//! - [`taxii`]: TAXII 2.1 authentication, content negotiation, errors and collection ids (gateway and search).
//! - [`telemetry`]: logs and metrics initialization.
//! - [`deps`]: the backends a service is handed.

pub mod auth;
pub use accord_cpu as cpu;
pub mod deps;
pub mod directory;
pub mod health;
pub mod http;
pub mod identity;
pub mod json;
pub mod memory;
pub mod metrics;
pub mod packed;
pub mod problem;
pub mod refill;
pub use accord_bus::retry;
pub mod secret;
pub mod service;
pub mod stage;
pub mod store;
pub mod taxii;
pub mod telemetry;

pub use auth::{Authenticator, Principal};
pub use deps::Deps;
pub use directory::Directory;
pub use problem::{ApiError, FieldError};
pub use service::ServiceHost;
