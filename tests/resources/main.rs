//! Resource limits and isolation through `accord up` (issue 15, items 1 and 5): no partner can stall another, and
//! no client can hold the HTTP server.
//!
//! - `reports`: every per-report quantity is bounded before the bus (what patterns and free text expand to is
//!   counted), a record already on the bus past the limits is dead-lettered, a release set too large for the bus is
//!   withdrawn and dead-lettered, never retried.
//! - `fairness`: a hostile partner (the expanding submission, then a flood of the heaviest reports the limits allow)
//!   next to partners posting as usual, against `accord up` as a child process: how long their reports wait, in
//!   normalizer batches, compared with a baseline of the same run; then SIGTERM stops the process within its grace
//!   period with the hostile backlog queued.
//! - `http`: slow-loris and a connection flood leave `/healthz` answering; a token over its rate gets 429 with
//!   `Retry-After` while another is unaffected; a 600 000-term query is a 400; search's JSON routes want JSON.
//! - `quota`: a partner past its daily quota gets 429 until midnight UTC, before any work; the others do not.
#![allow(unreachable_pub)]

mod fairness;
#[allow(dead_code)]
#[path = "../e2e/helpers.rs"]
mod helpers;
mod hostile;
mod http;
mod quota;
mod reports;
