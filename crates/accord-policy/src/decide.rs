//! Deciding whether one agency may see one report for one purpose at one time, and under which MoUs' terms.
//!
//! [`decide`] evaluates rule 1 of the crate documentation against every MoU naming both the partner and the agency
//! and returns the terms of every MoU that grants the pair (each yields one candidate view; which of them the agency
//! receives depends on the report itself, `crate::choose`). A [`Decision::Denied`] carries one reason per such MoU,
//! for coordinators only.

use std::collections::HashMap;

use accord_domain::{
    Mou, MouId, MouStatus, MouVersion, NormalizedReport, OrgId, OrgKind, Organization, Profile,
    Purpose, ReportFacts, Scope, Timestamp,
};
use chrono::{DateTime, TimeDelta, Utc};

/// The terms one MoU grants a report under: the MoU, its version, its profile and the view's validity window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// The granting MoU.
    pub mou: MouId,
    /// Its version.
    pub version: u32,
    /// Its profile.
    pub profile: Profile,
    /// Visible from (inclusive): the MoU's `effective_from`.
    pub valid_from: Timestamp,
    /// Visible until (exclusive): the MoU's expiry or the end of retention, whichever comes first.
    pub valid_until: Timestamp,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Visible: the terms of every granting MoU (at least one), in MoU id order.
    Granted(Vec<Terms>),
    /// Not visible. The reasons name MoUs, partners and agencies: show them to coordinators only.
    Denied {
        /// One reason per organization problem and per MoU naming both the partner and the agency.
        reasons: Vec<String>,
    },
}

impl Decision {
    /// Returns the terms of every granting MoU (empty when denied).
    pub fn terms(&self) -> &[Terms] {
        match self {
            Decision::Granted(terms) => terms,
            Decision::Denied { .. } => &[],
        }
    }

    /// Returns whether the decision grants visibility.
    pub fn is_granted(&self) -> bool {
        matches!(self, Decision::Granted(_))
    }
}

/// Which purpose condition [`evaluate`] applies.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PurposeCheck {
    /// The MoU must permit this purpose.
    One(Purpose),
    /// The MoU must permit at least one purpose (used by explain when nothing is visible).
    Any,
}

/// Everything [`evaluate`] found out, before a choice is made.
pub(crate) struct Evaluation<'m> {
    /// Problems with the partner or agency themselves.
    org_failures: Vec<String>,
    /// How many MoUs name both the partner and the agency.
    num_candidates: usize,
    /// One reason per candidate MoU that fails, in MoU id order.
    pub(crate) mou_failures: Vec<String>,
    /// Candidate MoUs that pass every condition, in MoU id order.
    pub(crate) eligible: Vec<&'m MouVersion>,
}

impl Evaluation<'_> {
    /// Returns whether the partner and agency themselves are usable.
    pub(crate) fn org_failures_empty(&self) -> bool {
        self.org_failures.is_empty()
    }

    /// Returns the profiles of the MoUs that pass every condition.
    pub(crate) fn eligible_profiles(&self) -> impl Iterator<Item = Profile> + '_ {
        self.eligible.iter().map(|version| profile_of(&version.mou))
    }

    /// Returns the denial reasons: organization problems, then per-MoU reasons or the absence of any MoU.
    pub(crate) fn reasons(&self, facts: &ReportFacts, agency: &OrgId) -> Vec<String> {
        let mut reasons = self.org_failures.clone();
        if self.num_candidates == 0 {
            reasons.push(format!(
                "no MoU covers partner {} and agency {agency}",
                facts.partner
            ));
        }
        reasons.extend(self.mou_failures.iter().cloned());
        reasons
    }
}

/// Returns the facts about `report` that MoU evaluation needs.
pub fn facts(report: &NormalizedReport) -> ReportFacts {
    ReportFacts {
        partner: report.partner.clone(),
        tlp: report.tlp,
        categories: report.categories.clone(),
        sector: report.sector.clone(),
        received_at: report.received_at,
        num_indicators: Some(report.indicators.len()),
        amended_at: report.revision.as_ref().map(|revision| revision.at),
    }
}

/// Returns the profile of `mou`: its content parts, PII rule, attribution rule and indicator types.
pub fn profile_of(mou: &Mou) -> Profile {
    Profile {
        content: mou.content.clone(),
        pii: mou.pii,
        attribution: mou.attribution,
        indicator_types: mou.indicator_types.clone(),
    }
}

/// Decides whether `agency` may see the report described by `facts` for `purpose` at `at`, under the current MoU
/// versions `mous` and the directory `orgs`.
///
/// Returns [`Decision::Granted`] with the terms of every granting MoU, or [`Decision::Denied`] with the reasons (for
/// coordinators only). Unknown organizations and organizations of the wrong kind are denied.
pub fn decide(
    facts: &ReportFacts,
    agency: &OrgId,
    purpose: Purpose,
    at: Timestamp,
    mous: &[MouVersion],
    orgs: &HashMap<OrgId, Organization>,
) -> Decision {
    let evaluation = evaluate(facts, agency, PurposeCheck::One(purpose), at, mous, orgs);
    if evaluation.org_failures.is_empty() && !evaluation.eligible.is_empty() {
        let terms = evaluation
            .eligible
            .iter()
            .map(|version| terms_of(version, facts))
            .collect();
        return Decision::Granted(terms);
    }
    Decision::Denied {
        reasons: evaluation.reasons(facts, agency),
    }
}

/// Evaluates every MoU naming both the partner and `agency` against rule 1.
pub(crate) fn evaluate<'m>(
    facts: &ReportFacts,
    agency: &OrgId,
    purpose: PurposeCheck,
    at: Timestamp,
    mous: &'m [MouVersion],
    orgs: &HashMap<OrgId, Organization>,
) -> Evaluation<'m> {
    let mut org_failures = Vec::new();
    let agency_country = match orgs.get(agency) {
        None => {
            org_failures.push(format!("agency {agency} is not a known organization"));
            None
        }
        Some(org) if org.kind != OrgKind::Agency => {
            org_failures.push(format!(
                "{agency} is not an agency (kind {})",
                kind_name(org.kind)
            ));
            None
        }
        Some(org) => Some(org.country.as_str()),
    };
    match orgs.get(&facts.partner) {
        None => org_failures.push(format!(
            "partner {} is not a known organization",
            facts.partner
        )),
        Some(org) if org.kind != OrgKind::Partner => org_failures.push(format!(
            "{} is not a partner (kind {})",
            facts.partner,
            kind_name(org.kind)
        )),
        Some(_) => {}
    }

    // Sorted so that reasons come out in a stable order whatever order the caller keeps its MoUs in; of duplicate
    // input (two versions of one MoU), only the highest version counts.
    let mut candidates: Vec<&MouVersion> = mous
        .iter()
        .filter(|version| {
            version.mou.providers.contains(&facts.partner)
                && version.mou.recipients.contains(agency)
        })
        .collect();
    candidates
        .sort_by(|left, right| (&left.mou.id, right.version).cmp(&(&right.mou.id, left.version)));
    candidates.dedup_by(|later, earlier| later.mou.id == earlier.mou.id);

    let mut evaluation = Evaluation {
        org_failures,
        num_candidates: candidates.len(),
        mou_failures: Vec::new(),
        eligible: Vec::new(),
    };
    for version in candidates {
        let failures = mou_failures(facts, agency_country, purpose, at, &version.mou);
        if failures.is_empty() {
            evaluation.eligible.push(version);
        } else {
            evaluation
                .mou_failures
                .push(format!("{}: {}", version.mou.id, failures.join("; ")));
        }
    }
    evaluation
}

/// Returns every condition of rule 1 that `mou` fails, apart from providers, recipients and organization kinds.
/// `agency_country` is `None` when the agency is unusable (already a reason on its own); the country check then
/// reports nothing extra.
fn mou_failures(
    facts: &ReportFacts,
    agency_country: Option<&str>,
    purpose: PurposeCheck,
    at: Timestamp,
    mou: &Mou,
) -> Vec<String> {
    let mut failures = Vec::new();
    if mou.status != MouStatus::Active {
        failures.push(format!("not active ({})", status_name(mou.status)));
    }
    if at < mou.effective_from {
        failures.push(format!(
            "not yet in force (effective from {})",
            mou.effective_from.to_rfc3339()
        ));
    }
    if at >= mou.expires_at {
        failures.push(format!("expired at {}", mou.expires_at.to_rfc3339()));
    }
    if facts.tlp > mou.max_tlp {
        failures.push(format!(
            "report tlp {} above max_tlp {}",
            facts.tlp, mou.max_tlp
        ));
    }
    failures.extend(scope_failures(facts, mou));
    match purpose {
        PurposeCheck::One(purpose) if !mou.purposes.contains(&purpose) => {
            failures.push(format!("purpose {purpose} not permitted"));
        }
        PurposeCheck::Any if mou.purposes.is_empty() => {
            failures.push("no purpose permitted".to_owned());
        }
        PurposeCheck::One(_) | PurposeCheck::Any => {}
    }
    if let Some(country) = agency_country
        && !scope_allows(&mou.recipient_countries, country)
    {
        failures.push(format!(
            "agency country {} not in recipient_countries",
            country.to_ascii_uppercase()
        ));
    }
    let retention_end = retention_end(facts.received_at, mou.retention_days);
    if at >= retention_end {
        failures.push(format!(
            "retention of {} days ended at {}",
            mou.retention_days,
            retention_end.to_rfc3339()
        ));
    }
    failures
}

/// Returns the terms `version` grants the report described by `facts` under.
pub(crate) fn terms_of(version: &MouVersion, facts: &ReportFacts) -> Terms {
    let mou = &version.mou;
    Terms {
        mou: mou.id.clone(),
        version: version.version,
        profile: profile_of(mou),
        valid_from: mou.effective_from,
        valid_until: mou
            .expires_at
            .min(retention_end(facts.received_at, mou.retention_days)),
    }
}

/// Returns the first instant a report received at `received_at` is no longer retained. A retention too long to
/// represent never ends (`DateTime::MAX_UTC`), which is what it means.
pub(crate) fn retention_end(received_at: Timestamp, retention_days: u32) -> Timestamp {
    TimeDelta::try_days(i64::from(retention_days))
        .and_then(|retention| received_at.checked_add_signed(retention))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Returns the failures of the report's own scoped fields: every category inside `categories`, the sector inside
/// `sectors`, and, for a restricted `indicator_types`, at least one indicator. A report with no value in a field an
/// MoU restricts is outside that scope (an empty field never passes a restriction); only `*` admits it.
fn scope_failures(facts: &ReportFacts, mou: &Mou) -> Vec<String> {
    let mut failures = Vec::new();
    if facts.categories.is_empty() && mou.categories != Scope::Any {
        failures.push("report has no category (categories restricted)".to_owned());
    }
    for category in &facts.categories {
        if !scope_allows(&mou.categories, category) {
            failures.push(format!("category {category} not covered"));
        }
    }
    match &facts.sector {
        Some(sector) if !scope_allows(&mou.sectors, sector) => {
            failures.push(format!("sector {sector} not covered"));
        }
        None if mou.sectors != Scope::Any => {
            failures.push("report has no sector (sectors restricted)".to_owned());
        }
        Some(_) | None => {}
    }
    // Unknown (a view written before the count was kept) counts as none: fail closed.
    if facts.num_indicators.unwrap_or(0) == 0 && mou.indicator_types != Scope::Any {
        failures.push("report has no indicator (indicator_types restricted)".to_owned());
    }
    failures
}

/// Returns whether `scope` allows `value`, ignoring ASCII case.
pub(crate) fn scope_allows(scope: &Scope, value: &str) -> bool {
    match scope {
        Scope::Any => true,
        Scope::Only(values) => values
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(value)),
    }
}

fn kind_name(kind: OrgKind) -> &'static str {
    match kind {
        OrgKind::Partner => "partner",
        OrgKind::Agency => "agency",
        OrgKind::Operator => "operator",
    }
}

fn status_name(status: MouStatus) -> &'static str {
    match status {
        MouStatus::Active => "active",
        MouStatus::Suspended => "suspended",
        MouStatus::Revoked => "revoked",
    }
}

#[cfg(test)]
mod tests;
