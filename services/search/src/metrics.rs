//! Search's metric names, defined once.

/// Requests answered, audited, by `endpoint` and `status` (every investigator request and TAXII read).
pub(crate) const REQUESTS: &str = "accord_search_requests_total";
/// Requests refused for want of a valid token, by `endpoint`: counted here, never written to the audit trail.
pub(crate) const UNAUTHENTICATED: &str = "accord_search_unauthenticated_total";
/// Feedback records published to partners (`POST /v1/feedback`), one per report a request applies to.
pub(crate) const FEEDBACK: &str = "accord_search_feedback_records_total";
