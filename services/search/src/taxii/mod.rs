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
//!
//! Discovery lists the API root under `[search] public_url` when it is set; else under the process's listen address
//! when that is a specific one (`http://127.0.0.1:8080`); else as a relative URL. Never under the request's `Host`
//! header, which a client chooses ([`api_root_url`], fixed at start).
//! Errors are TAXII error messages (`application/taxii+json;version=2.1`), not problem documents.
//!
//! Routing: search serves discovery, the API root, collections and every read. Adding objects to an inbox
//! (`POST …/objects/`) and the status resources belong to the gateway, the partners' door (`accord_gateway::taxii`):
//! `accord up` merges both method routers on the same path; separate processes need a proxy that sends those two to
//! the gateway (docs/decisions/0007-taxii.md, docs/deployment.md). Authentication, negotiation and errors are shared
//! in [`accord_runtime::taxii`].

mod collections;
mod objects;
pub(crate) mod revoked;
mod selection;
mod walk;

pub(crate) use objects::released_at;

use std::net::SocketAddr;

use accord_runtime::taxii::{self, API_ROOT, Caller, TaxiiError};
use axum::http::HeaderMap;

use crate::AppState;

/// The header that carries an agency's case reference.
pub(crate) const CASE_HEADER: &str = "x-accord-case";

accord_runtime::route_table! {
    /// The TAXII reads, as data (the gateway serves the writes: `POST` on the objects path and the status).
    pub(crate) const ROUTES;
    /// The TAXII routes (state-less: merged into search's router).
    pub(crate) fn routes() -> Router<AppState>;
    GET "/taxii2/" => collections::discovery,
    GET "/taxii2/accord/" => collections::api_root,
    GET "/taxii2/accord/collections/" => collections::list,
    GET "/taxii2/accord/collections/{collection}/" => collections::one,
    GET "/taxii2/accord/collections/{collection}/objects/" => objects::get_objects,
    GET "/taxii2/accord/collections/{collection}/objects/{object}/" => objects::get_object,
    GET "/taxii2/accord/collections/{collection}/objects/{object}/versions/" => objects::versions,
    GET "/taxii2/accord/collections/{collection}/manifest/" => objects::manifest,
}

/// Authenticates a TAXII request (Bearer, or Basic with the token as password).
///
/// # Errors
/// [`TaxiiError::Unauthorized`].
pub(crate) fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, TaxiiError> {
    taxii::caller(&state.deps.auth, headers)
}

/// Checks a configured public base URL: `http` or `https`, a host, no path (but `/`), query, fragment or user info.
///
/// # Errors
/// A message saying what is wrong (the caller names the setting).
pub(crate) fn check_public_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|error| format!("is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http or https URL with a host".to_owned());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be a base URL without path, query or fragment".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user information".to_owned());
    }
    Ok(url)
}

/// Returns the URL of the API root that discovery lists (see the module documentation).
pub(crate) fn api_root_url(public_url: Option<&str>, listen_addr: Option<SocketAddr>) -> String {
    let base = match (public_url.map(check_public_url), listen_addr) {
        (Some(Ok(url)), _) => Some(url.as_str().trim_end_matches('/').to_owned()),
        (_, Some(addr)) if !addr.ip().is_unspecified() => Some(format!("http://{addr}")),
        _ => None,
    };
    format!("{}/taxii2/{API_ROOT}/", base.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_root_comes_from_configuration_never_from_a_request() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            api_root_url(Some("https://accord.example.org"), Some(listen)),
            "https://accord.example.org/taxii2/accord/"
        );
        assert_eq!(
            api_root_url(Some("https://accord.example.org:8443/"), None),
            "https://accord.example.org:8443/taxii2/accord/"
        );
        assert_eq!(
            api_root_url(None, Some(listen)),
            "http://127.0.0.1:8080/taxii2/accord/"
        );
        let everywhere: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(api_root_url(None, Some(everywhere)), "/taxii2/accord/");
        for bad in [
            "accord.example.org",
            "ftp://accord.example.org",
            "https://accord.example.org/api",
            "https://accord.example.org/?x=1",
            "https://user:pw@accord.example.org",
        ] {
            assert!(check_public_url(bad).is_err(), "{bad}");
        }
    }
}
