//! Search's metric names, defined once.

/// Requests answered, audited, by `endpoint` and `status` (every investigator request and TAXII read).
pub(crate) const REQUESTS: &str = "accord_search_requests_total";
/// Requests refused for want of a valid token, by `endpoint`: counted here, never written to the audit trail.
pub(crate) const UNAUTHENTICATED: &str = "accord_search_unauthenticated_total";
