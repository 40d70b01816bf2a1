//! The MoUs in force for an agency and purpose at a time, whatever the report: the search service hands them (with
//! their current versions) to the index as part of the release filter, so that views of a suspended, revoked or
//! expired MoU drop out of totals and pages at once, and views written under an older version can be told apart
//! (the per-report conditions are re-checked per hit by [`crate::allows`]).

use std::collections::HashMap;

use accord_domain::{
    FeedbackRule, MouId, MouStatus, MouVersion, OrgId, OrgKind, Organization, Purpose, Timestamp,
    View,
};

use crate::decide::scope_allows;

/// Returns the ids and versions of the MoUs (latest versions in `mous`) that are active at `at` and release to
/// `agency` for `purpose`, taking the agency's country into account, sorted by id (of duplicate input, the highest
/// version). Empty when the agency is unknown or not an agency.
pub fn mous_in_force(
    agency: &OrgId,
    purpose: Purpose,
    at: Timestamp,
    mous: &[MouVersion],
    orgs: &HashMap<OrgId, Organization>,
) -> Vec<(MouId, u32)> {
    let Some(org) = orgs.get(agency).filter(|org| org.kind == OrgKind::Agency) else {
        return Vec::new();
    };
    let mut ids: Vec<(MouId, u32)> = mous
        .iter()
        .filter(|version| {
            let mou = &version.mou;
            mou.status == MouStatus::Active
                && mou.recipients.contains(agency)
                && mou.effective_from <= at
                && at < mou.expires_at
                && mou.purposes.contains(&purpose)
                && scope_allows(&mou.recipient_countries, &org.country)
        })
        .map(|version| (version.mou.id.clone(), version.version))
        .collect();
    ids.sort_by(|left, right| (&left.0, right.1).cmp(&(&right.0, left.1)));
    ids.dedup_by(|later, earlier| later.0 == earlier.0);
    ids
}

/// Returns the feedback rule for `agency`'s feedback on `view` for `purpose` at `at` (decision 0057): the lowest
/// (most protective) `feedback` among the MoUs in force now ([`mous_in_force`], latest versions) that rendered the
/// view and cover its partner. [`FeedbackRule::None`] when no such MoU is in force: fail closed (the caller checks
/// [`crate::allows`] first; this only says what the MoUs releasing it permit).
pub fn feedback_rule(
    view: &View,
    agency: &OrgId,
    purpose: Purpose,
    at: Timestamp,
    mous: &[MouVersion],
    orgs: &HashMap<OrgId, Organization>,
) -> FeedbackRule {
    let in_force = mous_in_force(agency, purpose, at, mous, orgs);
    in_force
        .iter()
        .filter(|(id, _)| view.mous.iter().any(|(rendered, _)| rendered == id))
        .filter_map(|(id, version)| {
            mous.iter()
                .find(|candidate| candidate.mou.id == *id && candidate.version == *version)
        })
        .filter(|version| version.mou.providers.contains(&view.facts.partner))
        .map(|version| version.mou.feedback)
        .min()
        .unwrap_or(FeedbackRule::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{directory, mou, mou_id, now, only, org_id, ts, v1, version};

    #[test]
    fn lists_only_mous_that_could_grant_the_agency_and_purpose_now() {
        let mut suspended = mou("mou-suspended");
        suspended.status = MouStatus::Suspended;
        let mut expired = mou("mou-expired");
        expired.expires_at = ts("2026-02-01T00:00:00Z");
        let mut future = mou("mou-future");
        future.effective_from = ts("2027-06-01T00:00:00Z");
        let mut research = mou("mou-research");
        research.purposes = [Purpose::Research].into();
        let mut elsewhere = mou("mou-elsewhere");
        elsewhere.recipient_countries = only(&["FR"]);
        let mous = vec![
            v1(mou("mou-x")),
            v1(suspended),
            v1(expired),
            v1(future),
            v1(research),
            v1(elsewhere),
        ];
        let agency = org_id("ncu-de");
        assert_eq!(
            mous_in_force(&agency, Purpose::Investigation, now(), &mous, &directory()),
            vec![(mou_id("mou-x"), 1)]
        );
        assert_eq!(
            mous_in_force(&agency, Purpose::Research, now(), &mous, &directory()),
            vec![(mou_id("mou-research"), 1)]
        );
        let twice = vec![version(mou("mou-x"), 3), version(mou("mou-x"), 9)];
        assert_eq!(
            mous_in_force(&agency, Purpose::Investigation, now(), &twice, &directory()),
            vec![(mou_id("mou-x"), 9)]
        );
        assert!(
            mous_in_force(
                &org_id("bank-a"),
                Purpose::Investigation,
                now(),
                &mous,
                &directory()
            )
            .is_empty()
        );
        assert!(
            mous_in_force(
                &org_id("nobody"),
                Purpose::Investigation,
                now(),
                &mous,
                &directory()
            )
            .is_empty()
        );
    }

    #[test]
    fn feedback_follows_the_most_protective_mou_in_force_that_releases_the_view() {
        let agency = org_id("ncu-de");
        let rule = |mous: &[MouVersion]| {
            let views = crate::release(&crate::testkit::report(), now(), mous, &directory());
            let view = views
                .iter()
                .find(|view| view.rank_for(&agency, Purpose::Investigation).is_some())
                .expect("released");
            feedback_rule(
                view,
                &agency,
                Purpose::Investigation,
                now(),
                mous,
                &directory(),
            )
        };
        let mut named = mou("mou-named");
        named.feedback = FeedbackRule::Named;
        assert_eq!(rule(&[v1(named.clone())]), FeedbackRule::Named);
        assert_eq!(rule(&[v1(mou("mou-default"))]), FeedbackRule::Anonymous);
        let mut none = mou("mou-none");
        none.feedback = FeedbackRule::None;
        assert_eq!(rule(&[v1(none.clone())]), FeedbackRule::None);
        // Two MoUs render the same view: the lower rule applies.
        assert_eq!(rule(&[v1(named.clone()), v1(none)]), FeedbackRule::None);
        // The view was rendered under an MoU that is suspended now: nothing in force permits feedback.
        let views = crate::release(
            &crate::testkit::report(),
            now(),
            &[v1(named.clone())],
            &directory(),
        );
        let mut suspended = named.clone();
        suspended.status = MouStatus::Suspended;
        let now_in_force = [version(suspended, 2)];
        assert_eq!(
            feedback_rule(
                &views[0],
                &agency,
                Purpose::Investigation,
                now(),
                &now_in_force,
                &directory()
            ),
            FeedbackRule::None
        );
    }
}
