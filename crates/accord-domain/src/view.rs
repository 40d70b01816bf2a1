//! What the enforcer releases: one redacted [`View`] per distinct release of a report, grouped in a [`ReleaseSet`].
//!
//! For one (agency, purpose), a report may have several views when several MoUs grant it with incomparable terms
//! (`accord_policy` documents the rule): exactly one of them is *shown* (listed in [`View::grants`]: what searches,
//! listings and TAXII serve), the others are *alternates* (listed in [`View::alternates`] with their rank), served
//! only to an indicator lookup whose indicator the shown view does not release.

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

/// A grant under which a view is an alternative to the shown one: served only for an indicator it releases that
/// better-ranked views do not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Alternate {
    /// The receiving agency.
    pub agency: OrgId,
    /// The purpose it may use the view for.
    pub purpose: Purpose,
    /// Its rank among the views of the report for this grant: 1 for the best alternate (the shown view is rank 0).
    pub rank: u32,
}

impl Alternate {
    /// Returns the grant this alternate is for.
    pub fn grant(&self) -> Grant {
        Grant {
            agency: self.agency.clone(),
            purpose: self.purpose,
        }
    }

    /// Returns the single-term form used by the index for alternates: `<agency>|<purpose>|alt`.
    pub fn term(&self) -> String {
        format!("{}|{}|alt", self.agency, self.purpose)
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
    /// How many indicators the report has (a restricted `indicator_types` admits no report without one). `None` on
    /// views written before it was kept: the query-time re-check then counts the view's released indicators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_indicators: Option<usize>,
    /// When the version this view renders was accepted, for an amended report (`None` for version 1): TAXII gives the
    /// view's objects a new `modified` from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amended_at: Option<Timestamp>,
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
    /// The MoUs whose terms it was rendered under (one per grant or alternate it serves), with their versions.
    pub mous: Vec<(MouId, u32)>,
    /// The (agency, purpose) pairs it is the shown view for: at most one view of a report per pair.
    pub grants: Vec<Grant>,
    /// The (agency, purpose) pairs it is an alternate view for, with its rank (absent on views written before
    /// alternates existed: they have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternates: Vec<Alternate>,
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
    /// Returns the rank of this view for (`agency`, `purpose`): 0 when it is the shown view, the alternate's rank when
    /// it is an alternate, `None` when it is not released to that pair.
    pub fn rank_for(&self, agency: &OrgId, purpose: Purpose) -> Option<u32> {
        if self
            .grants
            .iter()
            .any(|grant| &grant.agency == agency && grant.purpose == purpose)
        {
            return Some(0);
        }
        self.alternates
            .iter()
            .find(|alternate| &alternate.agency == agency && alternate.purpose == purpose)
            .map(|alternate| alternate.rank)
    }

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
    /// What a retraction revokes (issue 19): for each (agency, purpose) the report was shown to just before, the
    /// STIX objects of the report's own that TAXII pollers get again with `revoked: true`. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<Revocation>,
}

/// The STIX objects of a retracted report that one (agency, purpose) had received: its `report`, its `indicator`s
/// and its victim `identity` (never the observables, identities and markings other reports share).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The agency.
    pub agency: OrgId,
    /// The purpose it received the report for.
    pub purpose: Purpose,
    /// When the report was received (the objects' `created`).
    pub created: Timestamp,
    /// The objects: `(type, id)`.
    pub objects: Vec<(String, String)>,
}

/// The trigger of a report's first evaluation, when it arrives.
pub const TRIGGER_RECEIVED: &str = "report received";

/// The trigger of a release set the enforcer evaluated again because the indexer could not read the previous one
/// (damaged on the bus): it releases the report again, even after that dead letter marked it rejected.
pub const TRIGGER_REDERIVED: &str = "re-derived: the previous release set was damaged on the bus";

impl ReleaseSet {
    /// Returns the agencies any view is released to, sorted and deduplicated.
    pub fn released_to(&self) -> Vec<OrgId> {
        let agencies: BTreeSet<&OrgId> = self
            .views
            .iter()
            .flat_map(|view| {
                let shown = view.grants.iter().map(|grant| &grant.agency);
                shown.chain(view.alternates.iter().map(|alternate| &alternate.agency))
            })
            .collect();
        agencies.into_iter().cloned().collect()
    }
}
