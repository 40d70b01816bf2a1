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
//! Routing: search serves every `/taxii2/` route, reads and the partner's POST alike, so that `accord up` (one
//! router for all services) and a separate search process expose the same TAXII server; see
//! docs/decisions/0007-taxii.md.

mod collections;
mod error;
mod objects;

use accord_domain::{OrgKind, Organization, Role};
use accord_runtime::Principal;
use axum::{
    Router,
    http::{HeaderMap, header},
    routing::get,
};
use base64::{Engine, engine::general_purpose::STANDARD};

pub(crate) use self::error::TaxiiError;
use crate::AppState;

/// The TAXII 2.1 media type.
pub(crate) const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The STIX 2.1 media type (objects).
pub(crate) const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";
/// The one API root's path segment.
pub(crate) const API_ROOT: &str = "accord";
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
            get(objects::get_objects).post(objects::add_objects),
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
        .route("/taxii2/accord/status/{status}/", get(objects::status))
}

/// Who calls, and as what.
pub(crate) struct Caller {
    pub(crate) principal: Principal,
    pub(crate) org: Organization,
}

impl Caller {
    /// Returns whether the caller reads as an agency (an investigator of an agency).
    pub(crate) fn is_agency(&self) -> bool {
        self.principal.role == Role::Investigator && self.org.kind == OrgKind::Agency
    }

    /// Returns whether the caller writes as a partner.
    pub(crate) fn is_partner(&self) -> bool {
        self.principal.role == Role::Partner && self.org.kind == OrgKind::Partner
    }
}

/// Returns the token a request presents: `Bearer <token>`, or HTTP Basic with the token as password.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credentials.to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_user, password) = decoded.split_once(':')?;
    Some(password.to_owned())
}

/// Authenticates a TAXII request.
///
/// # Errors
/// [`TaxiiError::Unauthorized`] without a valid token, or when the token's organization is unknown.
pub(crate) fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, TaxiiError> {
    let Some(token) = presented_token(headers) else {
        return Err(TaxiiError::Unauthorized);
    };
    let principal = state
        .deps
        .auth
        .authenticate(&token)
        .map_err(|_| TaxiiError::Unauthorized)?;
    let Some(org) = state.deps.auth.organization(&principal) else {
        return Err(TaxiiError::Unauthorized);
    };
    Ok(Caller { principal, org })
}

/// What a response may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accepts {
    /// TAXII resources only.
    Taxii,
    /// TAXII, or STIX for object envelopes.
    TaxiiOrStix,
}

/// Picks the response media type from `Accept` (406 when nothing acceptable is offered). A missing header, `*/*`
/// and `application/*` get TAXII; `application/taxii+json` without a version means 2.1.
///
/// # Errors
/// [`TaxiiError::NotAcceptable`].
pub(crate) fn negotiate(headers: &HeaderMap, accepts: Accepts) -> Result<&'static str, TaxiiError> {
    let Some(value) = headers.get(header::ACCEPT) else {
        return Ok(TAXII_MEDIA_TYPE);
    };
    let Ok(value) = value.to_str() else {
        return Err(TaxiiError::NotAcceptable);
    };
    for range in value.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let essence = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut version_ok = true;
        for parameter in parts {
            if let Some((name, value)) = parameter.split_once('=')
                && name.trim().eq_ignore_ascii_case("version")
            {
                version_ok = value.trim().trim_matches('"') == "2.1";
            }
        }
        match essence.as_str() {
            "*/*" | "application/*" => return Ok(TAXII_MEDIA_TYPE),
            "application/taxii+json" if version_ok => return Ok(TAXII_MEDIA_TYPE),
            "application/stix+json" if version_ok && accepts == Accepts::TaxiiOrStix => {
                return Ok(STIX_MEDIA_TYPE);
            }
            _ => {}
        }
    }
    Err(TaxiiError::NotAcceptable)
}

/// Returns whether a request's `Content-Type` is the TAXII 2.1 media type (415 otherwise).
pub(crate) fn is_taxii_content(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|essence| essence.eq_ignore_ascii_case("application/taxii+json"))
    {
        return false;
    }
    parts.all(|parameter| match parameter.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("version") => {
            value.trim().trim_matches('"') == "2.1"
        }
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_negotiation_follows_the_spec() {
        let taxii = Accepts::Taxii;
        let objects = Accepts::TaxiiOrStix;
        assert_eq!(
            negotiate(&HeaderMap::new(), taxii).unwrap(),
            TAXII_MEDIA_TYPE
        );
        let ok = headers(header::ACCEPT, "application/taxii+json;version=2.1");
        assert_eq!(negotiate(&ok, taxii).unwrap(), TAXII_MEDIA_TYPE);
        let old = headers(header::ACCEPT, "application/taxii+json;version=2.0");
        assert!(matches!(
            negotiate(&old, taxii),
            Err(TaxiiError::NotAcceptable)
        ));
        let json = headers(header::ACCEPT, "application/json");
        assert!(matches!(
            negotiate(&json, taxii),
            Err(TaxiiError::NotAcceptable)
        ));
        let stix = headers(header::ACCEPT, "application/stix+json; version=2.1");
        assert!(matches!(
            negotiate(&stix, taxii),
            Err(TaxiiError::NotAcceptable)
        ));
        assert_eq!(negotiate(&stix, objects).unwrap(), STIX_MEDIA_TYPE);
        let any = headers(header::ACCEPT, "text/html, */*");
        assert_eq!(negotiate(&any, taxii).unwrap(), TAXII_MEDIA_TYPE);
    }

    #[test]
    fn tokens_come_from_bearer_or_basic_password() {
        let bearer = headers(header::AUTHORIZATION, "Bearer acc_1");
        assert_eq!(presented_token(&bearer).as_deref(), Some("acc_1"));
        let basic = headers(
            header::AUTHORIZATION,
            &format!("Basic {}", STANDARD.encode("anyone:acc_2")),
        );
        assert_eq!(presented_token(&basic).as_deref(), Some("acc_2"));
        let garbage = headers(header::AUTHORIZATION, "Basic !!!");
        assert_eq!(presented_token(&garbage), None);
        let other = headers(header::AUTHORIZATION, "Digest x");
        assert_eq!(presented_token(&other), None);
    }

    #[test]
    fn content_type_must_be_taxii_21() {
        assert!(is_taxii_content(&headers(
            header::CONTENT_TYPE,
            "application/taxii+json;version=2.1"
        )));
        assert!(!is_taxii_content(&headers(
            header::CONTENT_TYPE,
            "application/json"
        )));
        assert!(!is_taxii_content(&headers(
            header::CONTENT_TYPE,
            "application/taxii+json;version=2.0"
        )));
        assert!(!is_taxii_content(&HeaderMap::new()));
    }
}
