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

/// One day of `GET /v1/pipeline/counts`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PipelineDay {
    /// The UTC day of reception (YYYY-MM-DD).
    pub day: String,
    /// Reports received that day, by the stage they are in now.
    pub accepted: u64,
    pub normalized: u64,
    pub released: u64,
    pub withheld: u64,
    pub rejected: u64,
    /// Their rejections (dead letters), per reason.
    #[serde(default)]
    pub rejections: BTreeMap<String, u64>,
}

/// The conservation law over the status store's counters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Conservation {
    pub received: u64,
    pub released: u64,
    pub withheld: u64,
    pub rejected: u64,
    pub in_flight: u64,
    /// In flight since before yesterday.
    pub stuck: u64,
    pub holds: bool,
}

/// `GET /v1/pipeline/counts`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PipelineCounts {
    /// Oldest first.
    pub days: Vec<PipelineDay>,
    pub conservation: Conservation,
}
