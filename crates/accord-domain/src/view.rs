//! What the enforcer releases: one redacted [`View`] per distinct release of a report, grouped in a [`ReleaseSet`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{
    Attribution, ContentPart, Indicator, MouId, ObservableType, OrgId, PiiRule, Purpose, ReportId,
    Scope, Timestamp, Tlp, Victim,
};

/// One (agency, purpose) pair a view is released to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// The receiving agency.
    pub agency: OrgId,
    /// The purpose it may use the view for.
    pub purpose: Purpose,
}

impl Grant {
    /// Returns the single-term form used by the index's release filter: `<agency>|<purpose>`.
    pub fn term(&self) -> String {
        format!("{}|{}", self.agency, self.purpose)
    }
}

/// The terms one MoU releases a report under: which parts, what happens to PII, attribution, which indicator types.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Profile {
    /// Released parts.
    pub content: BTreeSet<ContentPart>,
    /// PII rule.
    pub pii: PiiRule,
    /// Attribution rule.
    pub attribution: Attribution,
    /// Released indicator types.
    pub indicator_types: Scope,
}

impl Profile {
    /// Returns whether `self` releases nothing that `other` does not: fewer or equal parts, no more PII, no more
    /// attribution, no more indicator types. The query-time check serves a view only if its profile is within the
    /// profile the MoUs in force grant now.
    pub fn is_within(&self, other: &Profile) -> bool {
        self.content.is_subset(&other.content)
            && self.pii <= other.pii
            && self.attribution <= other.attribution
            && self.indicator_types.is_subset_of(&other.indicator_types)
    }
}

/// The facts about a report that MoU evaluation needs. Carried in every view so that search can re-check a hit
/// against the MoUs in force at query time without reading the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFacts {
    /// The submitting partner (kept even when attribution is anonymous; never returned by the API then).
    pub partner: OrgId,
    /// Effective TLP.
    pub tlp: Tlp,
    /// Categories.
    pub categories: Vec<String>,
    /// Sector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// When the gateway accepted the report (retention counts from here).
    pub received_at: Timestamp,
}

/// The released content of a report: everything here may be shown to the view's grantees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewContent {
    /// The partner's id, or `anonymous`.
    pub partner: String,
    /// TLP.
    pub tlp: Tlp,
    /// When the incident happened.
    pub occurred_at: Timestamp,
    /// Categories.
    pub categories: Vec<String>,
    /// Sector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Title (narrative), PII-redacted when required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description (narrative), PII-redacted when required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// TTPs (narrative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttps: Option<Vec<String>>,
    /// Released indicators (empty when `indicators` is not released).
    #[serde(default)]
    pub indicators: Vec<Indicator>,
    /// Victim block, when released and not redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victim: Option<Victim>,
}

/// One distinct release of a report: the same redacted content for a set of (agency, purpose) grants within one
/// validity window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Deterministic id: `view--<uuidv5(report id, profile, window)>`.
    pub id: String,
    /// The report it releases.
    pub report_id: ReportId,
    /// The MoUs that grant it (the chosen, least-restricted one for each grant), with their versions.
    pub mous: Vec<(MouId, u32)>,
    /// Who may see it, for which purpose.
    pub grants: Vec<Grant>,
    /// Visible from (inclusive).
    pub valid_from: Timestamp,
    /// Visible until (exclusive): the MoU's expiry or the end of retention, whichever is first.
    pub valid_until: Timestamp,
    /// The terms it was rendered under.
    pub profile: Profile,
    /// Facts for the query-time re-check.
    pub facts: ReportFacts,
    /// The redacted content.
    pub content: ViewContent,
}

impl View {
    /// Returns the observable types of the released indicators.
    pub fn indicator_types(&self) -> BTreeSet<ObservableType> {
        self.content
            .indicators
            .iter()
            .map(|indicator| indicator.kind)
            .collect()
    }
}

/// Everything a report releases, as of one evaluation; written to [`crate::topics::REPORTS_RELEASABLE`]. It
/// replaces every earlier release of the same report: an empty `views` withdraws the report everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseSet {
    /// The report.
    pub report_id: ReportId,
    /// The submitting partner.
    pub partner: OrgId,
    /// When the evaluation was made.
    pub evaluated_at: Timestamp,
    /// Number of canonical indicators in the normalized report.
    pub indicators: usize,
    /// The views.
    pub views: Vec<View>,
    /// What caused this evaluation (`report received`, `mou mou-x v3 (suspended)`, `organization ncu-de changed`):
    /// shown to the partner in withdrawal receipts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
}

impl ReleaseSet {
    /// Returns the agencies any view is released to, sorted and deduplicated.
    pub fn released_to(&self) -> Vec<OrgId> {
        let agencies: BTreeSet<&OrgId> = self
            .views
            .iter()
            .flat_map(|view| view.grants.iter().map(|grant| &grant.agency))
            .collect();
        agencies.into_iter().cloned().collect()
    }
}
