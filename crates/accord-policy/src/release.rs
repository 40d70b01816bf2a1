//! Releasing a report as views (rule 6 of the crate documentation), and the query-time re-check of a view.
//!
//! [`release`] decides every (agency, purpose) pair named by the MoUs, chooses among the candidates of each pair
//! (`crate::choose`: one shown view, maybe alternates), renders the report once per distinct (profile, validity
//! window) and returns the views sorted by their deterministic ids. [`allows`] is what search calls on every hit
//! before serving it.

use std::collections::{BTreeSet, HashMap};

use accord_domain::{
    Alternate, Attribution, ContentPart, Grant, MouId, MouVersion, NormalizedReport, OrgId,
    Organization, PiiRule, Profile, Purpose, ReportId, Scope, Timestamp, View, ViewContent,
};
use chrono::SecondsFormat;
use serde_json::json;
use uuid::Uuid;

use crate::choose::{Outcome, Plans, choose};
use crate::decide::{Decision, PurposeCheck, Terms, decide, evaluate, facts, scope_allows};
use crate::render::render_plan;

/// The UUIDv5 namespace of view ids. Fixed forever: changing it renames every view in every index.
const VIEW_NAMESPACE: Uuid = Uuid::from_u128(0x2b7e_1c55_8f0a_4d3e_a6c1_5e9d_0b47_c3a2);

/// Returns the views of `report` at `at`: for every agency named in any MoU's recipients and every purpose, the
/// shown view and the alternates the choice keeps (`crate::choose`), grouped into one view per distinct (profile,
/// validity window). Views are sorted by id; an empty result withdraws the report everywhere. The same inputs always
/// give the same views.
pub fn release(
    report: &NormalizedReport,
    at: Timestamp,
    mous: &[MouVersion],
    orgs: &HashMap<OrgId, Organization>,
) -> Vec<View> {
    let facts = facts(report);
    let agencies: BTreeSet<&OrgId> = mous
        .iter()
        .flat_map(|version| version.mou.recipients.iter())
        .collect();

    let mut plans = Plans::new(report);
    let mut groups: Vec<Group> = Vec::new();
    for agency in agencies {
        for purpose in Purpose::ALL {
            let Decision::Granted(terms) = decide(&facts, agency, purpose, at, mous, orgs) else {
                continue;
            };
            let candidates = choose(&mut plans, terms);
            for candidate in &candidates {
                let role = match candidate.outcome {
                    Outcome::Shown => Role::Shown,
                    Outcome::Alternate { rank } => Role::Alternate(rank),
                    // The same rendering under another MoU: that MoU justifies the kept view too.
                    Outcome::Equivalent { to }
                        if same_view(&candidate.terms, &candidates[to].terms) =>
                    {
                        Role::AlsoBy
                    }
                    _ => continue,
                };
                let group = group_for(&mut groups, &candidate.terms);
                group.add(agency, purpose, role, &candidate.terms);
            }
        }
    }

    let mut views: Vec<View> = groups
        .into_iter()
        .map(|group| {
            let (plan, _) = plans.get(&group.profile);
            View {
                id: view_id(
                    &report.id,
                    &group.profile,
                    group.valid_from,
                    group.valid_until,
                ),
                report_id: report.id.clone(),
                mous: group.mous.into_iter().collect(),
                grants: group.grants.into_iter().collect(),
                alternates: group.alternates.into_iter().collect(),
                valid_from: group.valid_from,
                valid_until: group.valid_until,
                content: render_plan(report, &plan),
                profile: group.profile,
                facts: facts.clone(),
            }
        })
        .collect();
    views.sort_by(|left, right| left.id.cmp(&right.id));
    views
}

/// What a candidate is for one pair.
enum Role {
    Shown,
    Alternate(u32),
    /// Equivalent to the kept candidate of the same view: adds its MoU, no grant.
    AlsoBy,
}

/// Returns whether two terms render the same view (same profile and window).
fn same_view(left: &Terms, right: &Terms) -> bool {
    left.profile == right.profile
        && left.valid_from == right.valid_from
        && left.valid_until == right.valid_until
}

/// Returns the group of `terms`' (profile, window), creating it.
fn group_for<'g>(groups: &'g mut Vec<Group>, terms: &Terms) -> &'g mut Group {
    let position = groups.iter().position(|group| {
        group.profile == terms.profile
            && group.valid_from == terms.valid_from
            && group.valid_until == terms.valid_until
    });
    let index = match position {
        Some(index) => index,
        None => {
            groups.push(Group {
                profile: terms.profile.clone(),
                valid_from: terms.valid_from,
                valid_until: terms.valid_until,
                grants: BTreeSet::new(),
                alternates: BTreeSet::new(),
                mous: BTreeSet::new(),
            });
            groups.len() - 1
        }
    };
    &mut groups[index]
}

/// Pairs sharing one profile and window, before they become a [`View`].
struct Group {
    profile: Profile,
    valid_from: Timestamp,
    valid_until: Timestamp,
    grants: BTreeSet<Grant>,
    alternates: BTreeSet<Alternate>,
    mous: BTreeSet<(MouId, u32)>,
}

impl Group {
    fn add(&mut self, agency: &OrgId, purpose: Purpose, role: Role, terms: &Terms) {
        match role {
            Role::Shown => {
                self.grants.insert(Grant {
                    agency: agency.clone(),
                    purpose,
                });
            }
            Role::Alternate(rank) => {
                self.alternates.insert(Alternate {
                    agency: agency.clone(),
                    purpose,
                    rank,
                });
            }
            Role::AlsoBy => {}
        }
        self.mous.insert((terms.mou.clone(), terms.version));
    }
}

/// Returns the deterministic id of the view of `report_id` under `profile` and the window
/// [`valid_from`, `valid_until`): `view--<uuidv5>` over the report id and a canonical JSON form of the rest.
pub fn view_id(
    report_id: &ReportId,
    profile: &Profile,
    valid_from: Timestamp,
    valid_until: Timestamp,
) -> String {
    let indicator_types = match &profile.indicator_types {
        Scope::Any => json!("*"),
        Scope::Only(values) => json!(values),
    };
    let content: Vec<&str> = profile
        .content
        .iter()
        .map(|part| content_name(*part))
        .collect();
    let canonical = json!({
        "attribution": match profile.attribution {
            Attribution::Anonymous => "anonymous",
            Attribution::Named => "named",
        },
        "content": content,
        "indicator_types": indicator_types,
        "pii": match profile.pii {
            PiiRule::Redact => "redact",
            PiiRule::Share => "share",
        },
        "valid_from": valid_from.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "valid_until": valid_until.to_rfc3339_opts(SecondsFormat::Nanos, true),
    });
    let name = format!("{report_id}\u{1f}{canonical}");
    format!("view--{}", Uuid::new_v5(&VIEW_NAMESPACE, name.as_bytes()))
}

/// Returns whether `view` may be served to `agency` for `purpose` at `at` under the MoUs in force now: the view
/// is released to the pair (shown or alternate), `at` lies in its window, its content respects its profile and
/// releases an indicator or the narrative, and some MoU in force now grants the pair a profile that the view's
/// profile is within. Anything else, including a narrowed, suspended, revoked or expired MoU, returns `false`.
pub fn allows(
    view: &View,
    agency: &OrgId,
    purpose: Purpose,
    at: Timestamp,
    mous: &[MouVersion],
    orgs: &HashMap<OrgId, Organization>,
) -> bool {
    if view.rank_for(agency, purpose).is_none() || at < view.valid_from || at >= view.valid_until {
        return false;
    }
    if !content_within(&view.content, &view.profile) {
        return false;
    }
    let content = &view.content;
    if content.indicators.is_empty() && content.title.is_none() && content.description.is_none() {
        return false;
    }
    let mut facts = view.facts.clone();
    if facts.num_indicators.is_none() {
        // A view written before the count was kept: it proves at least the indicators it releases.
        facts.num_indicators = Some(content.indicators.len());
    }
    // Served when ANY one MoU in force grants this (agency, purpose) a profile covering the view's: the view was
    // rendered under one MoU's terms, and some MoU in force now releases at least that much. (Requiring the MoU
    // that would be chosen now instead would hide views whenever a new, incomparable MoU appears.)
    let evaluation = evaluate(&facts, agency, PurposeCheck::One(purpose), at, mous, orgs);
    evaluation.org_failures_empty()
        && evaluation
            .eligible_profiles()
            .any(|profile| view.profile.is_within(&profile))
}

/// Returns whether `content` carries nothing its `profile` does not release: a defensive check against a view
/// altered after rendering. (PII inside released text cannot be checked here; [`crate::render()`] guarantees it.)
pub(crate) fn content_within(content: &ViewContent, profile: &Profile) -> bool {
    let narrative = profile.content.contains(&ContentPart::Narrative);
    if !narrative
        && (content.title.is_some() || content.description.is_some() || content.ttps.is_some())
    {
        return false;
    }
    let indicators_ok = if profile.content.contains(&ContentPart::Indicators) {
        content
            .indicators
            .iter()
            .all(|indicator| scope_allows(&profile.indicator_types, indicator.kind.as_str()))
    } else {
        content.indicators.is_empty()
    };
    if !indicators_ok {
        return false;
    }
    let victim_allowed =
        profile.content.contains(&ContentPart::Victim) && profile.pii == PiiRule::Share;
    if content.victim.is_some() && !victim_allowed {
        return false;
    }
    profile.attribution == Attribution::Named || content.partner == "anonymous"
}

fn content_name(part: ContentPart) -> &'static str {
    match part {
        ContentPart::Indicators => "indicators",
        ContentPart::Narrative => "narrative",
        ContentPart::Victim => "victim",
    }
}

#[cfg(test)]
mod tests;
