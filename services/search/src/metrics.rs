//! Search's metric names, defined once.

/// Requests answered, audited, by `endpoint` and `status` (every investigator request and TAXII read).
pub(crate) const REQUESTS: &str = "accord_search_requests_total";
