//! The gateway's metric names, defined once.

/// Reports accepted onto the bus (answered 202).
pub(crate) const SENT: &str = "accord_gateway_sent_total";
/// Reports the bus refused or could not take (answered 503).
pub(crate) const ERRORS: &str = "accord_gateway_errors_total";
/// Submissions refused as classified (answered 422, never on the bus).
pub(crate) const CLASSIFIED_REFUSED: &str = "accord_gateway_classified_refused_total";
/// TAXII add_objects requests, by `status`.
pub(crate) const TAXII_ADDS: &str = "accord_taxii_adds_total";
/// Submissions refused because the partner's backlog is full (answered 429).
pub(crate) const BACKLOG_REFUSED: &str = "accord_gateway_backlog_refused_total";
/// Submissions refused because they go over a report limit once normalized (answered 422).
pub(crate) const TOO_LARGE_REFUSED: &str = "accord_gateway_too_large_refused_total";
/// Submissions refused because the partner's daily quota is used up (answered 429).
pub(crate) const QUOTA_REFUSED: &str = "accord_gateway_quota_refused_total";
