//! Releasing a report as views (rule 6 of the crate documentation), and the query-time re-check of a view.
//!
//! [`release`] decides every (agency, purpose) pair named by the MoUs, renders the report once per distinct
//! (profile, validity window) and returns the views sorted by their deterministic ids. [`allows`] is what search
//! calls on every hit before serving it.

use std::collections::{BTreeSet, HashMap};

use accord_domain::{
    Attribution, ContentPart, Grant, MouId, MouVersion, NormalizedReport, OrgId, Organization,
    PiiRule, Profile, Purpose, ReportId, Scope, Timestamp, View, ViewContent,
};
use chrono::SecondsFormat;
use serde_json::json;
use uuid::Uuid;

use crate::decide::{Decision, PurposeCheck, decide, evaluate, facts, scope_allows};
use crate::render::render;

/// The UUIDv5 namespace of view ids. Fixed forever: changing it renames every view in every index.
const VIEW_NAMESPACE: Uuid = Uuid::from_u128(0x2b7e_1c55_8f0a_4d3e_a6c1_5e9d_0b47_c3a2);

/// Returns the views of `report` at `at`: one per distinct (profile, validity window) among the granted
/// (agency, purpose) pairs, for every agency named in any MoU's recipients and every purpose. Views are sorted by
/// id; an empty result withdraws the report everywhere. The same inputs always give the same views.
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

    let mut groups: Vec<Group> = Vec::new();
    for agency in agencies {
        for purpose in Purpose::ALL {
            let Decision::Granted(terms) = decide(&facts, agency, purpose, at, mous, orgs) else {
                continue;
            };
            let grant = Grant {
                agency: agency.clone(),
                purpose,
            };
            let existing = groups.iter_mut().find(|group| {
                group.profile == terms.profile
                    && group.valid_from == terms.valid_from
                    && group.valid_until == terms.valid_until
            });
            match existing {
                Some(group) => {
                    group.grants.insert(grant);
                    group.mous.insert((terms.mou, terms.version));
                }
                None => groups.push(Group {
                    profile: terms.profile,
                    valid_from: terms.valid_from,
                    valid_until: terms.valid_until,
                    grants: BTreeSet::from([grant]),
                    mous: BTreeSet::from([(terms.mou, terms.version)]),
                }),
            }
        }
    }

    let mut views: Vec<View> = groups
        .into_iter()
        .map(|group| View {
            id: view_id(
                &report.id,
                &group.profile,
                group.valid_from,
                group.valid_until,
            ),
            report_id: report.id.clone(),
            mous: group.mous.into_iter().collect(),
            grants: group.grants.into_iter().collect(),
            valid_from: group.valid_from,
            valid_until: group.valid_until,
            content: render(report, &group.profile),
            profile: group.profile,
            facts: facts.clone(),
        })
        .collect();
    views.sort_by(|left, right| left.id.cmp(&right.id));
    views
}

/// Granted pairs sharing one profile and window, before they become a [`View`].
struct Group {
    profile: Profile,
    valid_from: Timestamp,
    valid_until: Timestamp,
    grants: BTreeSet<Grant>,
    mous: BTreeSet<(MouId, u32)>,
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
/// lists the grant, `at` lies in its window, its content respects its profile, and [`decide`] grants the pair now
/// under a profile that the view's profile is within. Anything else, including a narrowed, suspended, revoked or
/// expired MoU, returns `false`.
pub fn allows(
    view: &View,
    agency: &OrgId,
    purpose: Purpose,
    at: Timestamp,
    mous: &[MouVersion],
    orgs: &HashMap<OrgId, Organization>,
) -> bool {
    let listed = view
        .grants
        .iter()
        .any(|grant| &grant.agency == agency && grant.purpose == purpose);
    if !listed || at < view.valid_from || at >= view.valid_until {
        return false;
    }
    if !content_within(&view.content, &view.profile) {
        return false;
    }
    // Served when ANY one MoU in force grants this (agency, purpose) a profile covering the view's: the view was
    // rendered under one MoU's terms, and some MoU in force now releases at least that much. (Requiring the chosen,
    // least-restricted MoU instead would hide views whenever a new, incomparable MoU appears.)
    let evaluation = evaluate(
        &view.facts,
        agency,
        PurposeCheck::One(purpose),
        at,
        mous,
        orgs,
    );
    evaluation.org_failures_empty()
        && evaluation
            .eligible_profiles()
            .any(|profile| view.profile.is_within(&profile))
}

/// Returns whether `content` carries nothing its `profile` does not release: a defensive check against a view
/// altered after rendering. (PII inside released text cannot be checked here; [`render`] guarantees it.)
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
