//! Reports as they travel: the native submission, the raw bus envelope, the normalized record and rejections.

use serde::{Deserialize, Serialize};

use crate::{ObservableType, OrgId, ReportId, Timestamp, Tlp};

/// One indicator as a partner submits it in a native report (`type` optional: detected when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorInput {
    /// STIX 2.1 cyber-observable type name (`ipv4-addr`, `domain-name`, …) or `None`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The value as written, possibly defanged.
    pub value: String,
}

/// A STIX 2.1 indicator pattern carried by a report, kept as written. The normalizer reduces it to the observables
/// it compares with `=` (see `accord_stix::pattern`); a pattern using `MATCHES`, `LIKE` or other comparisons is kept
/// without producing an exact indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternInput {
    /// The STIX id of the indicator object that carried it (`indicator--<uuid>`), when it came from a bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The indicator's name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The pattern language (`stix`, `sigma`, `yara`, …); only `stix` patterns are parsed.
    #[serde(default = "stix_pattern_type")]
    pub pattern_type: String,
    /// The pattern.
    pub pattern: String,
}

fn stix_pattern_type() -> String {
    "stix".to_owned()
}

/// Details about the victim organization or people. Released only under `content: victim`, and removed by
/// `pii: redact`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Victim {
    /// Victim organization or person name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Contact e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Contact phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// ISO alpha-2 country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Victim sector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
}

/// The native incident report of `schemas/incident-report.schema.json`, after schema validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentReport {
    /// Short title.
    pub title: String,
    /// Free text; may contain (defanged) indicators and personal data.
    #[serde(default)]
    pub description: String,
    /// When the incident happened.
    pub occurred_at: Timestamp,
    /// TLP 2.0 label; when absent the partner's `default_tlp` applies, or the report is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlp: Option<Tlp>,
    /// Must be `unclassified`.
    pub classification: String,
    /// Incident categories (`phishing`, `ransomware`, …).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Sector affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Declared indicators.
    #[serde(default)]
    pub indicators: Vec<IndicatorInput>,
    /// MITRE ATT&CK technique ids.
    #[serde(default)]
    pub ttps: Vec<String>,
    /// Victim details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victim: Option<Victim>,
    /// Indicator patterns (STIX 2.1 patterning or another `pattern_type`), kept with the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<PatternInput>,
}

/// The format a report was submitted in. Whatever the format, the gateway converts the submission into a native
/// [`IncidentReport`] before it reaches the bus: the format records where the report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// Native JSON (`application/json`).
    Native,
    /// A STIX 2.1 bundle (`application/stix+json;version=2.1`, or TAXII 2.1), converted to a native report.
    Stix,
    /// A MISP event (`{"Event": {…}}`), converted to a native report.
    Misp,
}

/// What the gateway writes to [`crate::topics::REPORTS_RAW`]: the accepted submission plus who sent it and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawReport {
    /// The report's id, returned in the 202.
    pub id: ReportId,
    /// The submitting partner (from its token, never from the body).
    pub partner: OrgId,
    /// When the gateway accepted it.
    pub received_at: Timestamp,
    /// The TLP to apply when the submission carries none (the partner's `default_tlp` at submission time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_tlp: Option<Tlp>,
    /// Submission format.
    pub format: ReportFormat,
    /// The submission as a native incident report (converted from STIX or MISP when `format` says so), already
    /// schema-validated.
    pub payload: serde_json::Value,
    /// The STIX objects of a submission made over TAXII, which its status resource accounts for; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<SubmittedObject>,
    /// What lenient handling left out of the submission (`Prefer: handling=lenient`, TAXII add_objects): none of it
    /// is in `payload`. Empty for a submission accepted whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// Which amendment this is (`PUT /v1/reports/{id}`); `None` for the report as first submitted (version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
}

/// An amended version of a report: its number (2 for the first amendment), who amended it and when. The report keeps
/// its id and its `received_at` (retention counts from the first reception).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Revision {
    /// The version: n + 1 for the amendment of version n.
    pub version: u32,
    /// The public id of the token that amended it.
    pub by: String,
    /// When the gateway accepted the amendment.
    pub at: Timestamp,
}

/// Returns the version a report's revision names: 1 without one.
pub fn version_of(revision: Option<&Revision>) -> u32 {
    revision.map_or(1, |revision| revision.version)
}

/// A part of a submission that lenient handling left out: where it was and why it is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// A JSON pointer into the submission as sent (`/objects/3/pattern`, `/indicators/2/value`).
    pub pointer: String,
    /// Why that field is invalid.
    pub message: String,
}

/// One STIX object a partner added over TAXII: its id and version, as TAXII status resources list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmittedObject {
    /// The object's STIX id.
    pub id: String,
    /// Its version: `modified`, else `created`, else the time the envelope was received.
    pub version: String,
    /// Why the object was left out of the report (it failed validation: the field and the reason); `None` for an
    /// object that went on with the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Where an indicator came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorSource {
    /// Listed by the partner.
    Declared,
    /// Found in the title or description.
    Text,
    /// Extracted from a STIX pattern or observable.
    Stix,
    /// The host (domain or IP address) of a URL indicator that carries personal data, added by the normalizer so that
    /// the part without personal data is released and searchable on its own.
    Derived,
}

/// A typed, canonical indicator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Indicator {
    /// Deterministic STIX 2.1 id of the cyber-observable (`ipv4-addr--<uuidv5>`).
    pub id: String,
    /// Observable type.
    #[serde(rename = "type")]
    pub kind: ObservableType,
    /// Canonical value.
    pub value: String,
    /// Where it was found.
    pub source: IndicatorSource,
}

/// A kind of personal data found in free text or inside an indicator. Records written before a kind existed still
/// decode: kinds are only ever added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// A personal name.
    Name,
    /// An IBAN (checked by mod 97).
    Iban,
    /// A payment card number (checked by Luhn).
    Card,
    /// A bank account number introduced by a cue (`account number:`, `sort code`, `acct=`).
    Account,
}

impl PiiKind {
    /// Every kind.
    pub const ALL: [PiiKind; 6] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Name,
        PiiKind::Iban,
        PiiKind::Card,
        PiiKind::Account,
    ];

    /// Returns the redaction marker: `[redacted:email]`.
    pub fn marker(self) -> &'static str {
        match self {
            PiiKind::Email => "[redacted:email]",
            PiiKind::Phone => "[redacted:phone]",
            PiiKind::Name => "[redacted:name]",
            PiiKind::Iban => "[redacted:iban]",
            PiiKind::Card => "[redacted:card]",
            PiiKind::Account => "[redacted:account]",
        }
    }

    /// Returns what it is called in words, singular and plural (`e-mail address`, `e-mail addresses`).
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            PiiKind::Email => ("e-mail address", "e-mail addresses"),
            PiiKind::Phone => ("phone number", "phone numbers"),
            PiiKind::Name => ("personal name", "personal names"),
            PiiKind::Iban => ("IBAN", "IBANs"),
            PiiKind::Card => ("payment card number", "payment card numbers"),
            PiiKind::Account => ("bank account number", "bank account numbers"),
        }
    }
}

/// A free-text field of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextField {
    /// The title.
    Title,
    /// The description.
    Description,
}

/// Personal data located by the normalizer: a byte range of a text field. Ranges do not overlap and lie on char
/// boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PiiMatch {
    /// What it is.
    pub kind: PiiKind,
    /// Which field.
    pub field: TextField,
    /// Start byte offset.
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
}

/// Where an indicator occurs in a free-text field: a byte range of the text as stored, whatever its spelling there
/// (defanged `45.155.205[.]172`, `hxxps://`, an upper-case hash). Located by the normalizer so that the enforcer can
/// replace every occurrence of an indicator an MoU withholds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IndicatorSpan {
    /// Which field.
    pub field: TextField,
    /// Start byte offset.
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
    /// The indicator's type.
    #[serde(rename = "type")]
    pub kind: ObservableType,
    /// The indicator's canonical value (as in [`NormalizedReport::indicators`]).
    pub value: String,
}

/// The canonical record the normalizer writes to [`crate::topics::REPORTS_NORMALIZED`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizedReport {
    /// Report id.
    pub id: ReportId,
    /// Submitting partner.
    pub partner: OrgId,
    /// When the gateway accepted it.
    pub received_at: Timestamp,
    /// When the incident happened.
    pub occurred_at: Timestamp,
    /// Effective TLP (declared or the partner's default).
    pub tlp: Tlp,
    /// Title.
    pub title: String,
    /// Description, as written (defanged indicators stay defanged in the prose; extracted ones are canonical).
    pub description: String,
    /// Categories, lower-cased, sorted, deduplicated.
    pub categories: Vec<String>,
    /// Sector, lower-cased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// ATT&CK technique ids, upper-cased.
    pub ttps: Vec<String>,
    /// Victim details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victim: Option<Victim>,
    /// Canonical indicators, deduplicated by (type, value), declared ones first.
    pub indicators: Vec<Indicator>,
    /// Personal data located in title and description.
    pub pii: Vec<PiiMatch>,
    /// Where the indicators occur in title and description. `None` on records written before the normalizer located
    /// them: nothing is known, so a renderer that must withhold an indicator cannot trust the text (fail closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator_spans: Option<Vec<IndicatorSpan>>,
    /// Personal data located inside indicator values (a URL's query or path, a file name), one entry per indicator
    /// that carries some. Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicator_pii: Vec<IndicatorPii>,
    /// The amendment this record is the normalization of; `None` for version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
}

/// Personal data inside one indicator's value, and the indicator `pii: redact` releases instead: the same type with
/// each personal part replaced by its marker (`https://evil.example/login?user=[redacted:email]`), under the
/// deterministic id of that redacted value, so that neither the value nor the id can be matched against a guess of
/// the hidden part.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IndicatorPii {
    /// The id of the indicator (in [`NormalizedReport::indicators`]) whose value carries personal data.
    pub indicator: String,
    /// The kinds found, sorted and deduplicated.
    pub kinds: Vec<PiiKind>,
    /// The indicator as released under `pii: redact`.
    pub redacted: Indicator,
}

/// Why a report was rejected, as written to [`crate::topics::REPORTS_REJECTED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The report.
    pub report_id: ReportId,
    /// Its partner, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<OrgId>,
    /// The stage that rejected it (`normalizer`, `enforcer`, `indexer`).
    pub stage: String,
    /// A stable machine-readable reason (`invalid-indicator`, `missing-tlp`, `undecodable`).
    pub reason: String,
    /// Human detail, naming the field (`/indicators/3/value: not a valid IPv4 address`).
    pub detail: String,
    /// When.
    pub at: Timestamp,
}

impl Rejection {
    /// Whether the enforcer evaluates the report again instead: a release set the indexer could not read (damaged
    /// on the bus; stage `indexer`, reason `undecodable`). Such a dead letter does not make the report rejected.
    #[must_use]
    pub fn is_rederived(&self) -> bool {
        self.stage == "indexer" && self.reason == "undecodable"
    }
}
