//! What each agency can find of one report, without rendering it: the agencies [`crate::release()`] releases a view
//! of the report to and, per agency, the values of the indicators those views release. The MoU preview compares this
//! before and after a draft, for many reports at a time.
//!
//! [`reach`] equals collecting, from the views `release` returns for the same inputs, per agency named in a view's
//! grants or alternates, the values of that view's indicators (a property test checks it on random inputs). It makes
//! the same decisions (`crate::decide`) and, where several MoUs grant one (agency, purpose), the same choice
//! (`crate::choose`), but renders no text, groups no views and derives no view ids. Where one MoU alone grants the
//! pair there is nothing to choose: its candidate is the shown view exactly when it releases an indicator or the
//! narrative, and only its indicators are worked out. (A union over every granting MoU would not do: the choice
//! measures which indicators a candidate releases, not their values, so of two candidates differing only in
//! `pii`, the one releasing an indicator's redacted value may be contained in the other and not released.)

use std::collections::{BTreeMap, BTreeSet, HashMap};

use accord_domain::{
    Indicator, MouVersion, NormalizedReport, OrgId, Organization, Profile, Purpose, Timestamp,
};

use crate::choose::{Outcome, Plans, choose};
use crate::decide::{Decision, Terms, decide, facts};
use crate::render::{plan_indicators, released_under};

/// Per agency holding a view of a report (shown or alternate), the values of the indicators released to it.
pub type Reach<'r> = BTreeMap<OrgId, BTreeSet<&'r str>>;

/// Returns what each agency can find of `report` at `at` under `mous` (see the module documentation), for the agencies
/// in `only` when given (every agency otherwise). The same inputs always give the same answer.
pub fn reach<'r>(
    report: &'r NormalizedReport,
    at: Timestamp,
    mous: &[MouVersion],
    orgs: &HashMap<OrgId, Organization>,
    only: Option<&BTreeSet<OrgId>>,
) -> Reach<'r> {
    let facts = facts(report);
    let agencies: BTreeSet<&OrgId> = mous
        .iter()
        .flat_map(|version| version.mou.recipients.iter())
        .filter(|agency| only.is_none_or(|only| only.contains(*agency)))
        .collect();
    let mut plans = Plans::new(report);
    let mut alone: HashMap<Profile, Option<Vec<&'r Indicator>>> = HashMap::new();
    let mut reach = Reach::new();
    for agency in agencies {
        for purpose in Purpose::ALL {
            let Decision::Granted(mut terms) = decide(&facts, agency, purpose, at, mous, orgs)
            else {
                continue;
            };
            let released: Vec<&'r Indicator> = if terms.len() == 1 {
                let Some(Terms { profile, .. }) = terms.pop() else {
                    continue;
                };
                let indicators = alone
                    .entry(profile)
                    .or_insert_with_key(|profile| released_under(report, profile));
                let Some(indicators) = indicators else {
                    continue;
                };
                indicators.clone()
            } else {
                let kept: Vec<Terms> = choose(&mut plans, terms)
                    .into_iter()
                    .filter(|candidate| {
                        matches!(
                            candidate.outcome,
                            Outcome::Shown | Outcome::Alternate { .. }
                        )
                    })
                    .map(|candidate| candidate.terms)
                    .collect();
                if kept.is_empty() {
                    continue;
                }
                kept.iter()
                    .flat_map(|terms| plan_indicators(report, &plans.get(&terms.profile).0))
                    .collect()
            };
            reach
                .entry(agency.clone())
                .or_default()
                .extend(released.iter().map(|indicator| indicator.value.as_str()));
        }
    }
    reach
}
