//! What a partner's amendments and retractions do to its report's status (issue 19): a new version resets the
//! status to `accepted` (the whole pipeline runs again) and records who amended it and when; a retraction turns the
//! status into a tombstone (`retracted`, terminal) that keeps the receipts: the release set that withdraws the
//! report adds one withdrawal per agency that had it, when the retraction reached it.

use accord_domain::{Control, Revision, SubmittedObject, Warning};
use serde::{Deserialize, Serialize};

use super::{Change, ReportStatus, keep_known};

/// The version of a report as first submitted.
pub(super) fn first_version() -> u32 {
    1
}

/// Who amended a report last, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmendedView {
    /// The public id of the token that amended it.
    pub by: String,
    /// When the gateway accepted the amendment (RFC 3339).
    pub at: String,
}

/// A report's retraction as its partner (and nobody else) sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetractionView {
    /// `false-positive`, `sent-in-error`, `personal-data` or `other`.
    pub reason: String,
    /// The partner's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The public id of the token that retracted it.
    pub by: String,
    /// When the gateway accepted the retraction (RFC 3339).
    pub at: String,
}

/// A new version accepted by the gateway.
#[derive(Debug, Clone)]
pub struct Amendment {
    /// The report.
    pub id: String,
    /// Its partner.
    pub partner: String,
    /// The new version's title (empty when not known).
    pub title: String,
    /// SHA-256 of the new version's body (empty when not known).
    pub body_sha256: String,
    /// Which version, by whom, when.
    pub revision: Revision,
    /// What lenient handling left out of the new version.
    pub warnings: Vec<Warning>,
    /// When the first version was received (empty when not known): a status refilled from a compacted
    /// `reports.raw`, where the new version is all that is left of the report, takes it from there.
    pub received_at: String,
    /// The new version's objects, for such a status (one that has none yet).
    pub objects: Vec<SubmittedObject>,
}

/// Applies an amendment in log order: a newer version counts, and so does another amendment to the same version
/// (two gateways each accepted one: the later on the bus wins, as it does in the enforcer); the same amendment read
/// again changes nothing, and neither does an older version.
pub(super) fn amend(status: &mut ReportStatus, amendment: Amendment) {
    let revision = &amendment.revision;
    let same = status
        .amended
        .as_ref()
        .is_some_and(|amended| amended.by == revision.by && amended.at == revision.at.to_rfc3339());
    let older = revision.version < status.version;
    let again = revision.version == status.version && (same || status.amended.is_none());
    if older || again || status.status == "retracted" {
        return;
    }
    status.partner = amendment.partner;
    status.version = amendment.revision.version;
    status.amended = Some(AmendedView {
        by: amendment.revision.by,
        at: amendment.revision.at.to_rfc3339(),
    });
    keep_known(&mut status.title, amendment.title);
    keep_known(&mut status.body_sha256, amendment.body_sha256);
    keep_known(&mut status.received_at, amendment.received_at);
    if status.objects.is_empty() {
        status.objects = amendment.objects;
    }
    status.warnings = amendment.warnings;
    status.rejections.clear();
    status.status = "accepted".to_owned();
}

/// Applies a retraction: the status becomes a tombstone for good.
pub(super) fn retract(status: &mut ReportStatus, partner: String, retraction: RetractionView) {
    if !partner.is_empty() {
        status.partner = partner;
    }
    if status.retraction.is_none() {
        status.retraction = Some(retraction);
    }
    status.status = "retracted".to_owned();
}

/// Returns the status change a control record on `reports.raw` makes (an indicator retraction makes none: the
/// release sets of the reports it changed do).
pub(super) fn control_change(payload: &[u8]) -> Option<Change> {
    match serde_json::from_slice::<Control>(payload).ok()? {
        Control::RetractReport(retraction) => Some(Change::Retracted {
            id: retraction.report_id.to_string(),
            partner: retraction.partner.to_string(),
            retraction: RetractionView {
                reason: retraction.reason.as_str().to_owned(),
                detail: retraction.detail,
                by: retraction.by,
                at: retraction.at.to_rfc3339(),
            },
        }),
        Control::RetractIndicators(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::merge;

    fn amendment(version: u32) -> Change {
        Change::Amended(Amendment {
            id: "r".into(),
            partner: "p".into(),
            title: format!("v{version}"),
            body_sha256: String::new(),
            revision: Revision {
                version,
                by: "tok".into(),
                at: chrono::Utc::now(),
            },
            warnings: Vec::new(),
            received_at: String::new(),
            objects: Vec::new(),
        })
    }

    fn released(to: &[&str], trigger: &str) -> Change {
        Change::Released {
            id: "r".into(),
            partner: "p".into(),
            indicators: 1,
            released_to: to.iter().map(|agency| (*agency).to_owned()).collect(),
            at: "t".into(),
            trigger: trigger.into(),
            revoked_from: Vec::new(),
        }
    }

    #[test]
    fn an_amendment_starts_the_pipeline_again_and_a_replay_changes_nothing() {
        let mut status = merge(None, released(&["a"], "report received"));
        status.status = "rejected".into();
        status.rejections.push(crate::status::RejectionView {
            reason: "x".into(),
            detail: "y".into(),
        });
        let second = amendment(2);
        let amended = merge(Some(status), second.clone());
        assert_eq!(
            (
                amended.version,
                amended.status.as_str(),
                amended.title.as_str()
            ),
            (2, "accepted", "v2")
        );
        assert!(amended.rejections.is_empty());
        let replayed = merge(Some(amended.clone()), second);
        assert_eq!(replayed, amended);
    }

    #[test]
    fn of_two_amendments_to_one_version_the_later_on_the_bus_wins() {
        let first = amendment(2);
        let Change::Amended(mut other) = amendment(2) else {
            unreachable!()
        };
        other.title = "v2 from another gateway".into();
        other.revision.by = "tok-other".into();
        let status = merge(merge(None, first.clone()).into(), Change::Amended(other));
        assert_eq!(
            (status.version, status.title.as_str()),
            (2, "v2 from another gateway")
        );
        // An older version read again changes nothing.
        let Change::Amended(mut old) = amendment(1) else {
            unreachable!()
        };
        old.title = "old".into();
        assert_eq!(merge(Some(status.clone()), Change::Amended(old)), status);
    }

    #[test]
    fn a_retraction_is_terminal_and_its_withdrawal_is_a_receipt() {
        let status = merge(None, released(&["a", "b"], "report received"));
        let retracted = merge(
            Some(status),
            Change::Retracted {
                id: "r".into(),
                partner: "p".into(),
                retraction: RetractionView {
                    reason: "false-positive".into(),
                    detail: None,
                    by: "tok".into(),
                    at: "t1".into(),
                },
            },
        );
        let withdrawn = merge(
            Some(retracted),
            released(&[], "retracted by the partner (false-positive)"),
        );
        assert_eq!(withdrawn.status, "retracted");
        assert_eq!(withdrawn.withdrawals.len(), 2);
        assert!(
            withdrawn
                .withdrawals
                .iter()
                .all(|w| w.reason == "retracted by the partner (false-positive)")
        );
        let late = merge(Some(withdrawn), amendment(2));
        assert_eq!((late.status.as_str(), late.version), ("retracted", 1));
    }

    /// A status refilled from compacted topics: the retraction and its release set are all that is left of the
    /// report, and the receipts come from what the release set revokes.
    #[test]
    fn a_refilled_tombstone_has_its_receipts_from_the_revocations() {
        let retracted = merge(
            None,
            Change::Retracted {
                id: "r".into(),
                partner: "p".into(),
                retraction: RetractionView {
                    reason: "sent-in-error".into(),
                    detail: None,
                    by: "tok".into(),
                    at: "t1".into(),
                },
            },
        );
        let mut withdrawal = released(&[], "retracted by the partner (sent-in-error)");
        if let Change::Released { revoked_from, .. } = &mut withdrawal {
            *revoked_from = vec!["a".into(), "b".into()];
        }
        let withdrawn = merge(Some(retracted), withdrawal.clone());
        let agencies: Vec<&str> = withdrawn
            .withdrawals
            .iter()
            .map(|w| w.agency.as_str())
            .collect();
        assert_eq!(
            (withdrawn.status.as_str(), agencies),
            ("retracted", vec!["a", "b"])
        );
        let replayed = merge(Some(withdrawn.clone()), withdrawal);
        assert_eq!(replayed, withdrawn, "read again, it adds no receipt");
    }
}
