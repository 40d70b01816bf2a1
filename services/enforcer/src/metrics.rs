//! The enforcer's metric names, defined once.

/// Views released by evaluations of newly received reports.
pub(crate) const VIEWS: &str = "accord_enforcer_views_total";
/// Stored reports evaluated again after a policy or directory change.
pub(crate) const REEVALUATED: &str = "accord_enforcer_reevaluated_total";
/// Reports removed from the store (and withdrawn from the index) at the end of their retention.
pub(crate) const RETENTION_REMOVED: &str = "accord_enforcer_retention_removed_total";
