//! The coordinator's explanation of why an agency can or cannot see a report (`GET /v1/explain`, api.md).
//!
//! [`explain`] decides every purpose and chooses among the candidates of each (`crate::choose`). When the report is
//! visible it names the MoU whose view is shown for the first granting purpose, lists for that purpose why every
//! other MoU naming both parties did not provide the shown view (it fails a condition, releases nothing, is
//! contained in the shown view, is equivalent to it, ranks below it, or is kept as an alternate for indicator
//! lookups), and lists what the shown view withholds. Its reasons name MoUs, partners and agencies: never show them
//! to investigators.

use std::collections::HashMap;

use accord_domain::{MouId, MouVersion, NormalizedReport, OrgId, Organization, Purpose, Timestamp};
use serde::{Deserialize, Serialize};

use crate::choose::{Candidate, Outcome, Plans, choose};
use crate::decide::{Decision, PurposeCheck, decide, evaluate, facts};
use crate::render::redactions;

/// The body of `GET /v1/explain`: `{ "visible", "mou", "reasons", "redactions" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// Whether the agency may see the report for at least one purpose.
    pub visible: bool,
    /// The MoU whose view is shown for the first granting purpose (in `Purpose::ALL` order), when visible.
    pub mou: Option<MouId>,
    /// When visible: one `granted for <purpose> by <mou> v<version>` per granting purpose, then, for the first
    /// granting purpose, one line per other MoU naming both parties saying why its view is not the one shown.
    /// Otherwise why nothing is visible.
    pub reasons: Vec<String>,
    /// What the named MoU's terms withhold or alter; empty when not visible.
    pub redactions: Vec<String>,
}

/// Explains whether `agency` may see `report` at `at`, for any purpose, under the current MoU versions `mous`.
///
/// When nothing is visible, the reasons are those of a purpose-independent evaluation: organization problems,
/// then per MoU naming both the partner and the agency every condition it fails (an MoU that passes everything
/// else but permits no purpose says so) or that it releases nothing of this report, or that no MoU covers the pair.
pub fn explain(
    report: &NormalizedReport,
    agency: &OrgId,
    at: Timestamp,
    mous: &[MouVersion],
    orgs: &HashMap<OrgId, Organization>,
) -> Explanation {
    let facts = facts(report);
    let mut plans = Plans::new(report);
    let mut first: Option<(Purpose, usize, Vec<Candidate>)> = None;
    let mut reasons = Vec::new();
    for purpose in Purpose::ALL {
        let Decision::Granted(terms) = decide(&facts, agency, purpose, at, mous, orgs) else {
            continue;
        };
        let candidates = choose(&mut plans, terms);
        let Some(shown) = candidates.iter().position(|c| c.outcome == Outcome::Shown) else {
            continue;
        };
        let terms = &candidates[shown].terms;
        reasons.push(format!(
            "granted for {purpose} by {} v{}",
            terms.mou, terms.version
        ));
        if first.is_none() {
            first = Some((purpose, shown, candidates));
        }
    }
    let Some((purpose, shown, candidates)) = first else {
        return invisible(report, agency, at, mous, orgs, &mut plans);
    };
    let evaluation = evaluate(&facts, agency, PurposeCheck::One(purpose), at, mous, orgs);
    reasons.extend(
        evaluation
            .mou_failures
            .iter()
            .map(|failure| format!("{failure} (for {purpose})")),
    );
    reasons.extend(not_chosen(purpose, shown, &candidates));
    let shown = &candidates[shown].terms;
    Explanation {
        visible: true,
        redactions: redactions(report, &shown.profile),
        mou: Some(shown.mou.clone()),
        reasons,
    }
}

/// Returns the explanation of a report the agency sees for no purpose.
fn invisible(
    report: &NormalizedReport,
    agency: &OrgId,
    at: Timestamp,
    mous: &[MouVersion],
    orgs: &HashMap<OrgId, Organization>,
    plans: &mut Plans<'_>,
) -> Explanation {
    let facts = facts(report);
    let evaluation = evaluate(&facts, agency, PurposeCheck::Any, at, mous, orgs);
    let mut reasons = evaluation.reasons(&facts, agency);
    // An MoU passing every condition for some purpose releases nothing of this report (were it to release
    // something, the report would be visible for that purpose).
    for version in &evaluation.eligible {
        let (plan, _) = plans.get(&crate::profile_of(&version.mou));
        if !plan.releases_anything() {
            reasons.push(format!("{}: {EMPTY}", version.mou.id));
        }
    }
    Explanation {
        visible: false,
        mou: None,
        reasons,
        redactions: Vec::new(),
    }
}

/// Why a candidate releases nothing.
const EMPTY: &str =
    "releases nothing of this report (no indicator it covers, narrative not released)";

/// Returns, for each candidate of `purpose` other than the shown one, why its view is not the one shown.
fn not_chosen(purpose: Purpose, shown: usize, candidates: &[Candidate]) -> Vec<String> {
    let name = |index: usize| {
        let terms = &candidates[index].terms;
        format!("{} v{}", terms.mou, terms.version)
    };
    let mut lines = Vec::new();
    for candidate in candidates {
        let why = match candidate.outcome {
            Outcome::Shown => continue,
            Outcome::Empty => EMPTY.to_owned(),
            Outcome::Contained { by } => {
                format!("its view is strictly contained in the view of {}", name(by))
            }
            Outcome::Equivalent { to } => format!("releases the same as {}", name(to)),
            Outcome::Redundant { below } => format!(
                "incomparable with {}, ranked below it ({}), and releases no indicator a better-ranked view does \
                 not release",
                name(below),
                candidate.rank.below_because(&candidates[below].rank)
            ),
            Outcome::Alternate { rank } => {
                format!(
                    "incomparable with {}, ranked below it ({}); kept as alternate view {rank}: lookups of an \
                     indicator only it releases find the report through it",
                    name(shown),
                    candidate.rank.below_because(&candidates[shown].rank)
                )
            }
        };
        lines.push(format!(
            "{} v{} not shown for {purpose}: {why}",
            candidate.terms.mou, candidate.terms.version
        ));
    }
    lines
}

#[cfg(test)]
mod tests;
