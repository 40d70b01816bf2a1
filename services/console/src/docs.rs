//! The API's documents, as the console reads them: what `GET /v1/reports`, `POST /v1/search` and the other
//! endpoints answer (docs/api.md), deserialized into types the pages render.
//!
//! Both backends produce exactly these documents — the in-process one from the values the service functions return,
//! the remote one from the HTTP bodies — so a page shows what the API would have answered the same caller, field for
//! field. Fields the console does not show are not declared; unknown fields are ignored.

mod admin;
mod mous;
mod oversight;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::{
    admin::{IssuedToken, Organization, OrganizationList, Token, TokenList},
    mous::{AgencyChange, Explanation, MouHistory, MouList, MouVersion, Preview},
    oversight::{AuditSummary, CaseSummary, Conservation, PipelineCounts, PipelineDay},
};

/// `202` of `POST /v1/reports`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Accepted {
    /// The report id.
    pub id: String,
}

/// A rejection of a report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rejection {
    /// Stable reason.
    pub reason: String,
    /// Human detail.
    pub detail: String,
}

/// A withdrawal receipt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Withdrawal {
    /// The agency that no longer receives the report.
    pub agency: String,
    /// When (RFC 3339).
    pub at: String,
    /// Why.
    pub reason: String,
}

/// `GET /v1/reports/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReportStatus {
    /// The report id.
    pub id: String,
    /// The report's title, as the partner sent it.
    #[serde(default)]
    pub title: Option<String>,
    /// `accepted`, `normalized`, `released` or `rejected`.
    pub status: String,
    /// Canonical indicators found.
    #[serde(default)]
    pub indicators: usize,
    /// Agencies it is released to now.
    #[serde(default)]
    pub released_to: Vec<String>,
    /// Why it was rejected.
    #[serde(default)]
    pub rejections: Vec<Rejection>,
    /// When it left an agency, and why.
    #[serde(default)]
    pub withdrawals: Vec<Withdrawal>,
    /// When the gateway accepted it.
    #[serde(default)]
    pub received_at: Option<String>,
    /// When the enforcer last evaluated it.
    #[serde(default)]
    pub evaluated_at: Option<String>,
    /// Agencies' feedback on it (absent from a gateway before feedback).
    #[serde(default)]
    pub feedback: Option<Feedback>,
}

/// The aggregated feedback of a report, as `GET /v1/reports/{id}` shows it to its partner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Feedback {
    /// Distinct agencies that sent feedback (named or not).
    #[serde(default)]
    pub agencies: u64,
    /// The agencies the MoUs name.
    #[serde(default)]
    pub named_agencies: Vec<String>,
    /// Sightings reported.
    #[serde(default)]
    pub sightings: u64,
    /// Agencies that flagged a false positive.
    #[serde(default)]
    pub false_positive: u64,
    /// Agencies that found it useful.
    #[serde(default)]
    pub useful: u64,
    /// The earliest time the feedback is about.
    #[serde(default)]
    pub first: Option<String>,
    /// The latest time the feedback is about.
    #[serde(default)]
    pub last: Option<String>,
}

/// Where a report is, as the console shows it: the API's status, with `withheld` for a report the enforcer
/// evaluated and released to no agency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// On the bus, not normalized yet.
    Accepted,
    /// Normalized, not evaluated yet.
    Normalized,
    /// Released to at least one agency.
    Released,
    /// Evaluated, released to nobody (no MoU covers it now).
    Withheld,
    /// Refused by the normalizer.
    Rejected,
}

impl Stage {
    /// Every stage, in the order of a report's life.
    pub const ALL: [Self; 5] = [
        Self::Accepted,
        Self::Normalized,
        Self::Released,
        Self::Withheld,
        Self::Rejected,
    ];

    /// Returns its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Normalized => "normalized",
            Self::Released => "released",
            Self::Withheld => "withheld",
            Self::Rejected => "rejected",
        }
    }

    /// Returns whether the report may still change stage by itself (the page keeps polling).
    pub fn in_flight(self) -> bool {
        matches!(self, Self::Accepted | Self::Normalized)
    }
}

impl ReportStatus {
    /// Returns the stage shown.
    pub fn stage(&self) -> Stage {
        match self.status.as_str() {
            "rejected" => Stage::Rejected,
            "released" => Stage::Released,
            "normalized" if self.evaluated_at.is_some() => Stage::Withheld,
            "normalized" => Stage::Normalized,
            _ => Stage::Accepted,
        }
    }
}

/// `GET /v1/reports`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReportList {
    /// A page of reports, newest first.
    pub reports: Vec<ReportStatus>,
    /// The cursor of the next page.
    #[serde(default)]
    pub next: Option<String>,
}

/// One day of `GET /v1/reports/counts`: the partner's reports received that day, per stage.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DayCounts {
    /// The UTC day (`YYYY-MM-DD`).
    pub day: String,
    /// Still on the bus.
    #[serde(default)]
    pub accepted: u64,
    /// Normalized, not evaluated yet.
    #[serde(default)]
    pub normalized: u64,
    /// Released to at least one agency.
    #[serde(default)]
    pub released: u64,
    /// Evaluated, released to nobody.
    #[serde(default)]
    pub withheld: u64,
    /// Rejected.
    #[serde(default)]
    pub rejected: u64,
}

impl DayCounts {
    /// Returns the count of `stage`.
    pub fn of(&self, stage: Stage) -> u64 {
        match stage {
            Stage::Accepted => self.accepted,
            Stage::Normalized => self.normalized,
            Stage::Released => self.released,
            Stage::Withheld => self.withheld,
            Stage::Rejected => self.rejected,
        }
    }
}

/// `GET /v1/reports/counts`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReportCounts {
    /// One entry per day, oldest first.
    pub days: Vec<DayCounts>,
}

/// An indicator as answers list it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IndicatorRef {
    /// Its STIX type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its canonical value.
    pub value: String,
}

/// A report in an indicator's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReportSummary {
    /// The report id.
    pub id: String,
    /// Its title, when the narrative is released.
    #[serde(default)]
    pub title: Option<String>,
    /// Its TLP.
    pub tlp: String,
    /// When the incident happened.
    pub occurred_at: String,
    /// The partner, or `anonymous`.
    pub partner: String,
    /// Its categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Its sector.
    #[serde(default)]
    pub sector: Option<String>,
    /// Its released indicators (`include=indicators`).
    #[serde(default)]
    pub indicators: Option<Vec<IndicatorRef>>,
}

/// `GET /v1/indicators/{value}`, and a match of `POST /v1/indicators/lookup`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IndicatorMatch {
    /// Its STIX type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its canonical value.
    pub value: String,
    /// When the earliest report's incident happened.
    #[serde(default)]
    pub first_seen: Option<String>,
    /// When the latest report's incident happened.
    #[serde(default)]
    pub last_seen: Option<String>,
    /// Reports containing it (all of them, `reports` lists the first).
    #[serde(default)]
    pub reports_total: u64,
    /// Agencies' feedback sightings of it in these reports.
    #[serde(default)]
    pub sightings: u64,
    /// Distinct partners (anonymous ones as one `anonymous`).
    #[serde(default)]
    pub partners: Vec<String>,
    /// The reports (the first ones).
    #[serde(default)]
    pub reports: Vec<ReportSummary>,
}

/// One result of `POST /v1/indicators/lookup`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LookupResult {
    /// The value as looked up.
    pub value: String,
    /// What was found.
    #[serde(rename = "match")]
    pub found: Option<IndicatorMatch>,
}

/// `POST /v1/indicators/lookup`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Lookup {
    /// One result per value, in order.
    pub results: Vec<LookupResult>,
}

/// A victim block, when released.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Victim {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Country.
    #[serde(default)]
    pub country: Option<String>,
    /// Sector.
    #[serde(default)]
    pub sector: Option<String>,
}

/// A hit of `POST /v1/search`: everything its view releases.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Hit {
    /// The report id.
    pub id: String,
    /// Its title, when the narrative is released.
    #[serde(default)]
    pub title: Option<String>,
    /// Its TLP.
    pub tlp: String,
    /// When the incident happened.
    pub occurred_at: String,
    /// The partner, or `anonymous`.
    pub partner: String,
    /// Its categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Its sector.
    #[serde(default)]
    pub sector: Option<String>,
    /// Released indicators.
    #[serde(default)]
    pub indicators: Vec<IndicatorRef>,
    /// The description, when the narrative is released.
    #[serde(default)]
    pub description: Option<String>,
    /// ATT&CK techniques, when the narrative is released.
    #[serde(default)]
    pub ttps: Option<Vec<String>>,
    /// The victim, when released.
    #[serde(default)]
    pub victim: Option<Victim>,
}

/// `POST /v1/search`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SearchPage {
    /// The page.
    pub hits: Vec<Hit>,
    /// Every visible report matching.
    pub total: u64,
    /// The cursor of the next page.
    #[serde(default)]
    pub next: Option<String>,
    /// The visible reports per day of incident, oldest first (when asked).
    #[serde(default)]
    pub per_day: Vec<DayCount>,
}

/// One day of a search's `per_day`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DayCount {
    /// The UTC day (`YYYY-MM-DD`).
    pub day: String,
    /// Visible reports whose incident fell that day.
    pub count: u64,
}

/// `GET /v1/alerts`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AlertPage {
    /// Oldest first.
    pub alerts: Vec<Alert>,
    /// The id to read on after, when more follow.
    #[serde(default)]
    pub next: Option<String>,
}

/// One alert of `GET /v1/alerts`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Alert {
    /// Its id (decimal, increasing).
    pub id: String,
    /// `match` or `withdrawn`.
    pub kind: String,
    /// The watchlist's id.
    pub watchlist: String,
    /// The watched value.
    pub entry: String,
    /// The released value.
    pub value: String,
    /// The report as a search hit lists it (`{ "id" }` only for `withdrawn`).
    pub report: Value,
    /// When it was raised.
    pub at: String,
}

/// A record of `GET /v1/audit/mine`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuditRecord {
    /// Its sequence number (what an investigator cites).
    pub seq: u64,
    /// When.
    pub at: String,
    /// Which endpoint.
    pub endpoint: String,
    /// The stated purpose.
    #[serde(default)]
    pub purpose: Option<String>,
    /// The stated case reference.
    #[serde(default)]
    pub case: Option<String>,
    /// The query.
    #[serde(default)]
    pub query: Value,
    /// The status answered.
    pub status: u16,
    /// How many results.
    pub results: u64,
    /// The organization of the token (in `GET /v1/audit`).
    #[serde(default)]
    pub organization: Option<String>,
    /// The token's id.
    #[serde(default)]
    pub token_id: Option<String>,
    /// The record's hash in the chain.
    #[serde(default)]
    pub hash: Option<String>,
    /// The previous record's hash.
    #[serde(default)]
    pub prev_hash: Option<String>,
}

/// `GET /v1/audit`: a page of records, oldest first.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuditPage {
    /// The records.
    pub records: Vec<AuditRecord>,
    /// The cursor of the next page (the scan goes on from there).
    #[serde(default)]
    pub next: Option<String>,
}

/// `GET /v1/audit/verify`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Verification {
    /// Whether every link and the stored checkpoint hold.
    pub ok: bool,
    /// Records checked.
    pub records: u64,
    /// The first record whose hash or link is wrong.
    #[serde(default)]
    pub first_bad: Option<u64>,
    /// The stored checkpoint's check, if there was one.
    #[serde(default)]
    pub checkpoint: Option<Value>,
}

/// `GET /v1/audit/mine`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuditRecords {
    /// Newest first.
    pub records: Vec<AuditRecord>,
}

/// The body of `POST /v1/search` (and of its export, with `format`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SearchRequest {
    /// Free text or `field:value` terms.
    pub q: String,
    /// The filters.
    pub filters: SearchFilters,
    /// The stated purpose.
    pub purpose: String,
    /// The stated case reference.
    pub case: String,
    /// Page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    /// Page cursor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Export format (`stix`, `csv`), for an export only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Also count the visible reports per day of incident (a search only).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub per_day: bool,
}

/// The filters of a search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SearchFilters {
    /// Indicator type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// TLP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tlp: Option<String>,
    /// Category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Occurred at or after (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Occurred before (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// One report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// The body of `POST /v1/indicators/lookup` (and of its export, with `format`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LookupRequest {
    /// The values.
    pub values: Vec<String>,
    /// The stated purpose.
    pub purpose: String,
    /// The stated case reference.
    pub case: String,
    /// Export format (`stix`, `csv`), for an export only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// An exported file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    /// Its media type.
    pub media_type: String,
    /// Its file name extension (`csv`, `stix.json`).
    pub extension: &'static str,
    /// Its content.
    pub body: Vec<u8>,
}
