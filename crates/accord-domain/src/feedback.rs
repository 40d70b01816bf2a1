//! An agency's feedback on a released report or indicator, as it travels from search to the partner on
//! [`crate::topics::REPORTS_FEEDBACK`] (decision 0057).
//!
//! A [`FeedbackRecord`] carries what the partner may learn and nothing else: the report, the indicator (canonical)
//! if any, the kind, a count, when it was seen and when it was sent, and who sent it — the agency's id only when
//! the MoU releasing the report says `feedback: named`, otherwise an opaque [`pseudonym`] per (agency, partner),
//! so that distinct agencies can be counted without being named. The agency's case reference and any free text
//! never enter a record: the type has no field that could hold them.
//!
//! Each record has a random `id`, fixed when search writes it: a follower that sees it twice (the bus delivers at
//! least once) counts it once.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

use crate::{ObservableType, OrgId, ReportId, Timestamp};

/// What an agency says about a report or an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedbackKind {
    /// It was seen in the agency's own data (`count` times).
    Sighted,
    /// It is, in the agency's view, a false positive.
    FalsePositive,
    /// It helped.
    Useful,
}

impl FeedbackKind {
    /// Returns the name used in the API: `sighted`, `false-positive`, `useful`.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Sighted => "sighted",
            FeedbackKind::FalsePositive => "false-positive",
            FeedbackKind::Useful => "useful",
        }
    }
}

/// The indicator a feedback is about, canonical.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FeedbackIndicator {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ObservableType,
    /// Its canonical value.
    pub value: String,
}

/// One feedback on one report, as published on [`crate::topics::REPORTS_FEEDBACK`] (keyed by report id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRecord {
    /// Random, fixed when written: followers apply a record once however often it is delivered.
    pub id: String,
    /// The report.
    pub report_id: ReportId,
    /// The partner that submitted it (the only one that reads the feedback).
    pub partner: OrgId,
    /// The indicator, for feedback on an indicator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator: Option<FeedbackIndicator>,
    /// What the agency says.
    pub kind: FeedbackKind,
    /// How many sightings (1 for the other kinds).
    pub count: u64,
    /// When the agency saw it, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<Timestamp>,
    /// When the feedback was sent.
    pub at: Timestamp,
    /// The agency, only when the MoU releasing the report says `feedback: named`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<OrgId>,
    /// Otherwise the agency's opaque pseudonym towards this partner ([`pseudonym`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
}

impl FeedbackRecord {
    /// Returns who sent it as the partner may know it: the agency's id when named, else its pseudonym.
    pub fn sender(&self) -> &str {
        match (&self.agency, &self.pseudonym) {
            (Some(agency), _) => agency.as_str(),
            (None, Some(pseudonym)) => pseudonym,
            (None, None) => "",
        }
    }

    /// Returns the day-independent time the feedback is about: `seen_at`, else `at`.
    pub fn when(&self) -> Timestamp {
        self.seen_at.unwrap_or(self.at)
    }
}

/// Returns the pseudonym of `agency` towards `partner`: `agency-` and 16 hex digits of
/// HMAC-SHA256(`key`, agency ␟ partner). Stable for the deployment (the same agency is counted once per partner),
/// different per partner (two partners cannot link their feedback), not computable without the key.
pub fn pseudonym(key: &[u8; 32], agency: &OrgId, partner: &OrgId) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(agency.as_str().as_bytes());
    mac.update(b"\x1f");
    mac.update(partner.as_str().as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("agency-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: &str) -> OrgId {
        OrgId::parse(id).unwrap()
    }

    #[test]
    fn pseudonyms_are_stable_per_pair_and_differ_across_partners_and_keys() {
        let key = [7_u8; 32];
        let one = pseudonym(&key, &org("ncu-de"), &org("bank-a"));
        assert_eq!(one, pseudonym(&key, &org("ncu-de"), &org("bank-a")));
        assert_ne!(one, pseudonym(&key, &org("ncu-de"), &org("bank-b")));
        assert_ne!(one, pseudonym(&key, &org("ncu-fr"), &org("bank-a")));
        assert_ne!(one, pseudonym(&[8_u8; 32], &org("ncu-de"), &org("bank-a")));
        assert!(!one.contains("ncu"), "{one}");
        assert_eq!(one.len(), "agency-".len() + 16);
    }

    #[test]
    fn a_record_has_no_room_for_a_case_or_free_text() {
        let record = serde_json::json!({
            "id": "x", "report_id": "report--0b7f3f0e-6d7c-4e59-9d5e-8d7d2c1f0a11", "partner": "bank-a",
            "kind": "sighted", "count": 1, "at": "2026-11-20T08:00:00Z", "case": "CASE-1"
        });
        assert!(serde_json::from_value::<FeedbackRecord>(record).is_err());
    }
}
