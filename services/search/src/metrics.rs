//! Search's metric names, defined once.

/// Requests answered, audited, by `endpoint` and `status` (every investigator request and TAXII read).
pub(crate) const REQUESTS: &str = "accord_search_requests_total";
/// Requests refused for want of a valid token, by `endpoint`: counted here, never written to the audit trail.
pub(crate) const UNAUTHENTICATED: &str = "accord_search_unauthenticated_total";
/// Feedback records published to partners (`POST /v1/feedback`), one per report a request applies to.
pub(crate) const FEEDBACK: &str = "accord_search_feedback_records_total";
/// Alerts raised by the watchlist matcher (`match` and `withdrawn`).
pub(crate) const ALERTS_RAISED: &str = "accord_alerts_raised_total";
/// Release sets whose matches exceeded `search.max_alerts_per_report` (the rest raised nothing).
pub(crate) const ALERTS_CAPPED: &str = "accord_alerts_capped_total";
/// Alerts delivered to agencies, audited, by `via` (`stream`, `page`).
pub(crate) const ALERTS_DELIVERED: &str = "accord_alerts_delivered_total";
