//! The auditors' summary document (`GET /v1/audit/summary`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// One case of a summary.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CaseSummary {
    /// The case reference.
    pub case: String,
    /// Requests stated under it in the period.
    pub requests: u64,
    /// The first and last day (YYYY-MM-DD) it was stated in the period.
    pub first: String,
    pub last: String,
}

/// `GET /v1/audit/summary`: one organization's requests per day.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuditSummary {
    /// The organization summarized.
    pub organization: String,
    /// The days, oldest first (YYYY-MM-DD).
    pub days: Vec<String>,
    /// Requests per day.
    pub requests: Vec<u64>,
    /// Refused requests (4xx) per day.
    pub refused: Vec<u64>,
    /// Exports per day.
    pub exports: Vec<u64>,
    /// Requests per purpose, per day.
    pub purposes: BTreeMap<String, Vec<u64>>,
    /// Cases by requests, most first.
    pub cases: Vec<CaseSummary>,
}
