//! The coordinator's explanation of why an agency can or cannot see a report (`GET /v1/explain`, api.md).
//!
//! [`explain`] decides every purpose, names the MoU chosen for the first granting one, and lists what that MoU's
//! terms withhold. Its reasons name MoUs, partners and agencies: never show them to investigators.

use std::collections::HashMap;

use accord_domain::{MouId, MouVersion, NormalizedReport, OrgId, Organization, Purpose, Timestamp};
use serde::{Deserialize, Serialize};

use crate::decide::{Decision, PurposeCheck, Terms, decide, evaluate, facts};
use crate::render::redactions;

/// The body of `GET /v1/explain`: `{ "visible", "mou", "reasons", "redactions" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// Whether the agency may see the report for at least one purpose.
    pub visible: bool,
    /// The MoU chosen for the first granting purpose (in `Purpose::ALL` order), when visible.
    pub mou: Option<MouId>,
    /// When visible, one `granted for <purpose> by <mou> v<version>` per granting purpose; otherwise why not.
    pub reasons: Vec<String>,
    /// What the named MoU's terms withhold or alter; empty when not visible.
    pub redactions: Vec<String>,
}

/// Explains whether `agency` may see `report` at `at`, for any purpose, under the current MoU versions `mous`.
///
/// When nothing is visible, the reasons are those of a purpose-independent evaluation: organization problems,
/// then per MoU naming both the partner and the agency every condition it fails (an MoU that passes everything
/// else but permits no purpose says so), or that no MoU covers the pair.
pub fn explain(
    report: &NormalizedReport,
    agency: &OrgId,
    at: Timestamp,
    mous: &[MouVersion],
    orgs: &HashMap<OrgId, Organization>,
) -> Explanation {
    let facts = facts(report);
    let mut first: Option<Terms> = None;
    let mut reasons = Vec::new();
    for purpose in Purpose::ALL {
        let Decision::Granted(terms) = decide(&facts, agency, purpose, at, mous, orgs) else {
            continue;
        };
        reasons.push(format!(
            "granted for {purpose} by {} v{}",
            terms.mou, terms.version
        ));
        if first.is_none() {
            first = Some(terms);
        }
    }
    let Some(terms) = first else {
        let evaluation = evaluate(&facts, agency, PurposeCheck::Any, at, mous, orgs);
        return Explanation {
            visible: false,
            mou: None,
            reasons: evaluation.reasons(&facts, agency),
            redactions: Vec::new(),
        };
    };
    Explanation {
        visible: true,
        redactions: redactions(report, &terms.profile),
        mou: Some(terms.mou),
        reasons,
    }
}

#[cfg(test)]
mod tests;
