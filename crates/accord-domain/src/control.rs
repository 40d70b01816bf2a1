//! A partner's controls over its own reports (issue 19): retracting a report, and retracting indicators across all of
//! its reports. Amending a report needs no record of its own: the new version is a [`crate::RawReport`] with the same
//! id and a higher version ([`crate::RawReport::revision`]).
//!
//! A control travels the pipeline like a report: the gateway writes it to [`crate::topics::REPORTS_RAW`] marked with
//! [`crate::topics::HEADER_KIND`] = [`CONTROL_KIND`] and the partner header, the normalizer passes it on to
//! [`crate::topics::REPORTS_NORMALIZED`] in its place among the partner's records, and the enforcer acts on it. Stages
//! keep each partner's records in order (decision 0044), so a retraction sent right after its report's 202 is acted on
//! after the report, never before. A report retraction is keyed by the report's id (on Kafka, the same partition as
//! the report's own records); an indicator retraction by [`IndicatorRetraction::key`].

use serde::{Deserialize, Serialize};

use crate::{ObservableType, OrgId, ReportId, Timestamp};

/// The value of [`crate::topics::HEADER_KIND`] on a control record.
pub const CONTROL_KIND: &str = "control";

/// The most indicator values one `POST /v1/indicators/retract` may name.
pub const MAX_RETRACTED_VALUES: usize = 10_000;

/// The longest `detail` of a retraction, in characters.
pub const MAX_DETAIL_CHARS: usize = 1_000;

/// Why a partner retracts (api.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetractionReason {
    /// The report or indicator was wrong (a shared CDN address, a sinkhole).
    FalsePositive,
    /// Sent to the wrong partnership.
    SentInError,
    /// Carries personal data that should not have been shared.
    PersonalData,
    /// Anything else (say why in `detail`).
    Other,
}

impl RetractionReason {
    /// Returns the reason as the API writes it (`false-positive`).
    pub fn as_str(self) -> &'static str {
        match self {
            RetractionReason::FalsePositive => "false-positive",
            RetractionReason::SentInError => "sent-in-error",
            RetractionReason::PersonalData => "personal-data",
            RetractionReason::Other => "other",
        }
    }
}

/// The retraction of one report by its partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retraction {
    /// The retracted report.
    pub report_id: ReportId,
    /// Its partner (the caller's organization).
    pub partner: OrgId,
    /// Why.
    pub reason: RetractionReason,
    /// The partner's words, bounded by [`MAX_DETAIL_CHARS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The public id of the token that retracted it.
    pub by: String,
    /// When the gateway accepted the retraction.
    pub at: Timestamp,
}

/// One canonical indicator value to retract.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RetractedValue {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ObservableType,
    /// Its canonical value.
    pub value: String,
}

/// The retraction of indicator values from every report of a partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorRetraction {
    /// This retraction's id (`retraction--<uuid>`), returned in the 202.
    pub id: String,
    /// The partner whose reports lose the values.
    pub partner: OrgId,
    /// The values, canonical, deduplicated, at most [`MAX_RETRACTED_VALUES`].
    pub values: Vec<RetractedValue>,
    /// Why.
    pub reason: RetractionReason,
    /// The public id of the token that retracted them.
    pub by: String,
    /// When the gateway accepted the retraction.
    pub at: Timestamp,
}

impl IndicatorRetraction {
    /// Returns the bus key of the record: `retraction:<partner>:<id>` (not a report id: `accord check` and the
    /// stages know a control by its header). Each retraction has its own key: `reports.raw` and
    /// `reports.normalized` are compacted by key, and a later retraction must not replace an earlier one, which a
    /// store refilled from the bus applies too.
    pub fn key(&self) -> String {
        format!("retraction:{}:{}", self.partner, self.id)
    }
}

/// A control record, as it travels on `reports.raw` and `reports.normalized`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "control", rename_all = "snake_case")]
pub enum Control {
    /// Retract one report.
    RetractReport(Retraction),
    /// Retract indicator values across the partner's reports.
    RetractIndicators(IndicatorRetraction),
}

impl Control {
    /// Returns the partner the control belongs to.
    pub fn partner(&self) -> &OrgId {
        match self {
            Control::RetractReport(retraction) => &retraction.partner,
            Control::RetractIndicators(retraction) => &retraction.partner,
        }
    }

    /// Returns the bus key of the control's record.
    pub fn key(&self) -> String {
        match self {
            Control::RetractReport(retraction) => retraction.report_id.to_string(),
            Control::RetractIndicators(retraction) => retraction.key(),
        }
    }
}

/// Returns whether a record's headers mark it as a control record.
pub fn is_control(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .any(|(name, value)| name == crate::topics::HEADER_KIND && value == CONTROL_KIND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_use_the_api_spelling() {
        let reason: RetractionReason = serde_json::from_str("\"sent-in-error\"").unwrap();
        assert_eq!(reason, RetractionReason::SentInError);
        assert_eq!(reason.as_str(), "sent-in-error");
        assert!(serde_json::from_str::<RetractionReason>("\"oops\"").is_err());
    }

    #[test]
    fn a_control_round_trips_with_its_tag() {
        let control = Control::RetractReport(Retraction {
            report_id: ReportId::random(),
            partner: OrgId::parse("bank-a").unwrap(),
            reason: RetractionReason::Other,
            detail: Some("wrong partnership".into()),
            by: "tok".into(),
            at: chrono::Utc::now(),
        });
        let json = serde_json::to_value(&control).unwrap();
        assert_eq!(json["control"], "retract_report");
        assert_eq!(serde_json::from_value::<Control>(json).unwrap(), control);
    }
}
