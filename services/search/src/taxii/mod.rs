//! TAXII 2.1 (OASIS) under `/taxii2/`: one API root, `accord`, with collections per principal.
//!
//! - A **partner** sees one collection, its inbox (`can_write`, not `can_read`).
//! - An **agency** (an investigator's token) sees one read-only collection per purpose that MoUs in force grant it
//!   now. Choosing the collection states the purpose; the case reference travels in the `X-Accord-Case` header. A
//!   collection holds exactly what `POST /v1/search` would return for that agency, purpose and moment, as STIX
//!   ([`accord_stix::export`]): the same index query under the release filter, the same query-time re-check of every
//!   hit, so whatever is withdrawn disappears from the collection at once. Every read of a collection's content is
//!   audited like a search before the answer leaves, and refused (400) without a case reference.
//!
//! Authentication: `Authorization: Bearer <token>` or HTTP Basic with the token as password (any user name).
//! Errors are TAXII error messages (`application/taxii+json;version=2.1`), not problem documents.
//!
//! Routing: search serves discovery, the API root, collections and every read. Adding objects to an inbox
//! (`POST …/objects/`) and the status resources belong to the gateway, the partners' door (`accord_gateway::taxii`):
//! `accord up` merges both method routers on the same path; separate processes need a proxy that sends those two to
//! the gateway (docs/decisions/0007-taxii.md, docs/deployment.md). Authentication, negotiation and errors are shared
//! in [`accord_runtime::taxii`].

mod collections;
mod objects;

pub(crate) use objects::released_at;

use accord_runtime::taxii::{self, Caller, TaxiiError};
use axum::{Router, http::HeaderMap, routing::get};

use crate::AppState;

/// The header that carries an agency's case reference.
pub(crate) const CASE_HEADER: &str = "x-accord-case";

/// Returns the TAXII routes (state-less: merged into search's router).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/taxii2/", get(collections::discovery))
        .route("/taxii2/accord/", get(collections::api_root))
        .route("/taxii2/accord/collections/", get(collections::list))
        .route(
            "/taxii2/accord/collections/{collection}/",
            get(collections::one),
        )
        .route(
            "/taxii2/accord/collections/{collection}/objects/",
            get(objects::get_objects),
        )
        .route(
            "/taxii2/accord/collections/{collection}/objects/{object}/",
            get(objects::get_object),
        )
        .route(
            "/taxii2/accord/collections/{collection}/objects/{object}/versions/",
            get(objects::versions),
        )
        .route(
            "/taxii2/accord/collections/{collection}/manifest/",
            get(objects::manifest),
        )
}

/// Authenticates a TAXII request (Bearer, or Basic with the token as password).
///
/// # Errors
/// [`TaxiiError::Unauthorized`].
pub(crate) fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, TaxiiError> {
    taxii::caller(&state.deps.auth, headers)
}
