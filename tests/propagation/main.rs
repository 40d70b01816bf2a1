//! Policy changes reaching every indexed copy, through `accord up` in process: an agency's country changing
//! (`PATCH /v1/organizations/{id}`), revocation and narrowing under a steady search load (no hit served later than
//! 2 s after the change was acknowledged), exact expiry, and retention removing reports from the index and the
//! enforcer's store.
#![allow(unreachable_pub)]

#[allow(dead_code)]
#[path = "../e2e/helpers.rs"]
mod helpers;
mod load;
mod org_change;
mod paged;
mod retention;
