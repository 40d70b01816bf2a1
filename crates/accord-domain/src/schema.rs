//! The JSON Schemas of `schemas/`, compiled once at start-up.

/// The native incident report schema.
pub const INCIDENT_REPORT: &str = include_str!("../../../schemas/incident-report.schema.json");
/// The MoU schema.
pub const MOU: &str = include_str!("../../../schemas/mou.schema.json");
/// The normalized record schema.
pub const NORMALIZED_REPORT: &str = include_str!("../../../schemas/normalized-report.schema.json");
