//! Unit tests of [`decide`]: every condition of rule 1 on its own, boundaries, scopes (an empty field never passes a
//! restriction), organizations, and that every granting MoU is a candidate.

use std::collections::{BTreeSet, HashMap};

use accord_domain::{
    Mou, MouStatus, OrgId, OrgKind, Organization, Purpose, ReportFacts, Scope, Timestamp, Tlp,
};
use chrono::TimeDelta;

use super::*;
use crate::testkit::{directory, mou, mou_id, now, only, org_id, report, ts, v1};

/// One decision's inputs, starting from a granting baseline.
pub(super) struct Setup {
    pub(super) mou: Mou,
    pub(super) facts: ReportFacts,
    pub(super) orgs: HashMap<OrgId, Organization>,
    pub(super) agency: OrgId,
    pub(super) purpose: Purpose,
    pub(super) at: Timestamp,
}

impl Setup {
    pub(super) fn baseline() -> Self {
        Setup {
            mou: mou("mou-x"),
            facts: facts(&report()),
            orgs: directory(),
            agency: org_id("ncu-de"),
            purpose: Purpose::Investigation,
            at: now(),
        }
    }

    pub(super) fn decide(&self) -> Decision {
        decide(
            &self.facts,
            &self.agency,
            self.purpose,
            self.at,
            &[v1(self.mou.clone())],
            &self.orgs,
        )
    }
}

fn denial(decision: &Decision) -> Vec<String> {
    match decision {
        Decision::Denied { reasons } => reasons.clone(),
        Decision::Granted(terms) => panic!("expected a denial, got {terms:?}"),
    }
}

fn set_kind(orgs: &mut HashMap<OrgId, Organization>, id: &str, kind: OrgKind) {
    orgs.get_mut(&org_id(id)).unwrap().kind = kind;
}

type Mutation = fn(&mut Setup);

/// Each row breaks exactly one condition of rule 1 and names the reason it must produce.
const CONDITIONS: &[(&str, Mutation, &str)] = &[
    (
        "suspended",
        |s| s.mou.status = MouStatus::Suspended,
        "mou-x: not active (suspended)",
    ),
    (
        "revoked",
        |s| s.mou.status = MouStatus::Revoked,
        "mou-x: not active (revoked)",
    ),
    (
        "partner not a provider",
        |s| s.mou.providers = BTreeSet::from([org_id("bank-b")]),
        "no MoU covers partner bank-a and agency ncu-de",
    ),
    (
        "agency not a recipient",
        |s| s.mou.recipients = BTreeSet::from([org_id("europol-ec3")]),
        "no MoU covers partner bank-a and agency ncu-de",
    ),
    (
        "unknown agency",
        |s| {
            s.orgs.remove(&org_id("ncu-de"));
        },
        "agency ncu-de is not a known organization",
    ),
    (
        "agency of kind partner",
        |s| set_kind(&mut s.orgs, "ncu-de", OrgKind::Partner),
        "ncu-de is not an agency (kind partner)",
    ),
    (
        "agency of kind operator",
        |s| set_kind(&mut s.orgs, "ncu-de", OrgKind::Operator),
        "ncu-de is not an agency (kind operator)",
    ),
    (
        "unknown partner",
        |s| {
            s.orgs.remove(&org_id("bank-a"));
        },
        "partner bank-a is not a known organization",
    ),
    (
        "partner of kind agency",
        |s| set_kind(&mut s.orgs, "bank-a", OrgKind::Agency),
        "bank-a is not a partner (kind agency)",
    ),
    (
        "before effective_from",
        |s| s.at = ts("2025-12-31T23:59:59Z"),
        "mou-x: not yet in force (effective from 2026-01-01T00:00:00+00:00)",
    ),
    (
        "at expires_at",
        |s| {
            s.at = s.mou.expires_at;
            s.mou.retention_days = 10_000;
        },
        "mou-x: expired at 2027-12-31T23:59:59+00:00",
    ),
    (
        "tlp above max",
        |s| s.facts.tlp = Tlp::Red,
        "mou-x: report tlp red above max_tlp amber",
    ),
    (
        "category not covered",
        |s| s.mou.categories = only(&["ransomware"]),
        "mou-x: category phishing not covered",
    ),
    (
        "one of two categories not covered",
        |s| {
            s.facts.categories = vec!["malware".to_owned(), "phishing".to_owned()];
            s.mou.categories = only(&["phishing"]);
        },
        "mou-x: category malware not covered",
    ),
    (
        "sector not covered",
        |s| s.mou.sectors = only(&["energy"]),
        "mou-x: sector finance not covered",
    ),
    (
        "purpose not permitted",
        |s| s.purpose = Purpose::Research,
        "mou-x: purpose research not permitted",
    ),
    (
        "agency country not allowed",
        |s| s.mou.recipient_countries = only(&["FR", "NL"]),
        "mou-x: agency country DE not in recipient_countries",
    ),
    (
        "retention over",
        |s| s.at = s.facts.received_at + TimeDelta::days(365),
        "mou-x: retention of 365 days ended at 2027-06-01T00:00:00+00:00",
    ),
];

#[test]
fn baseline_is_granted_under_the_mou_terms() {
    let setup = Setup::baseline();
    let Decision::Granted(terms) = setup.decide() else {
        panic!("baseline must be granted");
    };
    assert_eq!(terms.len(), 1);
    let terms = &terms[0];
    assert_eq!(terms.mou, mou_id("mou-x"));
    assert_eq!(terms.version, 1);
    assert_eq!(terms.profile, profile_of(&setup.mou));
    assert_eq!(terms.valid_from, setup.mou.effective_from);
    // Retention (2026-06-01 + 365 days) ends before the MoU expires.
    assert_eq!(terms.valid_until, ts("2027-06-01T00:00:00Z"));
}

#[test]
fn each_condition_on_its_own_denies_with_its_reason() {
    assert!(Setup::baseline().decide().is_granted());
    for (name, mutate, expected) in CONDITIONS {
        let mut setup = Setup::baseline();
        mutate(&mut setup);
        let reasons = denial(&setup.decide());
        assert_eq!(reasons, vec![(*expected).to_owned()], "row `{name}`");
    }
}

#[test]
fn several_failures_of_one_mou_are_one_reason() {
    let mut setup = Setup::baseline();
    setup.facts.tlp = Tlp::Red;
    setup.purpose = Purpose::Research;
    assert_eq!(
        denial(&setup.decide()),
        vec!["mou-x: report tlp red above max_tlp amber; purpose research not permitted"]
    );
}

#[test]
fn one_reason_per_candidate_mou_in_id_order() {
    let setup = Setup::baseline();
    let mut second = mou("mou-a");
    second.status = MouStatus::Revoked;
    let mut first = mou("mou-b");
    first.max_tlp = Tlp::Green;
    let mut unrelated = mou("mou-c");
    unrelated.providers = BTreeSet::from([org_id("bank-b")]);
    let mous = [v1(first), v1(unrelated), v1(second)];
    let decision = decide(
        &setup.facts,
        &setup.agency,
        setup.purpose,
        setup.at,
        &mous,
        &setup.orgs,
    );
    assert_eq!(
        denial(&decision),
        vec![
            "mou-a: not active (revoked)",
            "mou-b: report tlp amber above max_tlp green"
        ]
    );
}

#[test]
fn no_mou_at_all_denies() {
    let setup = Setup::baseline();
    let decision = decide(
        &setup.facts,
        &setup.agency,
        setup.purpose,
        setup.at,
        &[],
        &setup.orgs,
    );
    assert_eq!(
        denial(&decision),
        vec!["no MoU covers partner bank-a and agency ncu-de"]
    );
}

#[test]
fn organization_problems_deny_even_when_the_mou_passes() {
    let mut setup = Setup::baseline();
    setup.orgs.clear();
    assert_eq!(
        denial(&setup.decide()),
        vec![
            "agency ncu-de is not a known organization",
            "partner bank-a is not a known organization"
        ]
    );
}

#[test]
fn effective_from_is_inclusive_and_expires_at_exclusive() {
    let mut setup = Setup::baseline();
    setup.mou.retention_days = 10_000;
    setup.at = setup.mou.effective_from;
    assert!(setup.decide().is_granted());
    setup.at = setup.mou.effective_from - TimeDelta::nanoseconds(1);
    assert!(!setup.decide().is_granted());
    setup.at = setup.mou.expires_at - TimeDelta::nanoseconds(1);
    assert!(setup.decide().is_granted());
    setup.at = setup.mou.expires_at;
    assert!(!setup.decide().is_granted());
}

#[test]
fn retention_ends_exactly_after_retention_days() {
    let mut setup = Setup::baseline();
    let end = setup.facts.received_at + TimeDelta::days(365);
    setup.at = end - TimeDelta::nanoseconds(1);
    assert!(setup.decide().is_granted());
    setup.at = end;
    assert!(!setup.decide().is_granted());
    setup.mou.retention_days = 0;
    setup.at = setup.facts.received_at;
    assert!(
        !setup.decide().is_granted(),
        "zero retention releases nothing"
    );
}

#[test]
fn huge_retention_never_ends_and_never_panics() {
    let mut setup = Setup::baseline();
    setup.mou.retention_days = u32::MAX;
    let Decision::Granted(terms) = setup.decide() else {
        panic!("must be granted");
    };
    assert_eq!(terms[0].valid_until, setup.mou.expires_at);
}

#[test]
fn window_ends_at_expiry_when_it_comes_before_retention() {
    let mut setup = Setup::baseline();
    setup.mou.expires_at = ts("2026-09-01T00:00:00Z");
    let terms = setup.decide().terms()[0].clone();
    assert_eq!(terms.valid_until, ts("2026-09-01T00:00:00Z"));
}

#[test]
fn every_tlp_pair_follows_the_tlp_order() {
    for report_tlp in Tlp::ALL {
        for max_tlp in Tlp::ALL {
            let mut setup = Setup::baseline();
            setup.facts.tlp = report_tlp;
            setup.mou.max_tlp = max_tlp;
            assert_eq!(
                setup.decide().is_granted(),
                report_tlp <= max_tlp,
                "report {report_tlp} under max_tlp {max_tlp}"
            );
        }
    }
}

#[test]
fn star_scopes_match_anything() {
    let mut setup = Setup::baseline();
    setup.facts.categories = vec!["anything".to_owned(), "zero-day".to_owned()];
    setup.facts.sector = Some("space".to_owned());
    setup.orgs.get_mut(&org_id("ncu-de")).unwrap().country = "XX".to_owned();
    assert!(setup.decide().is_granted());
}

#[test]
fn explicit_scopes_match_their_values_ignoring_case() {
    let mut setup = Setup::baseline();
    setup.mou.categories = only(&["Phishing", "malware"]);
    setup.mou.sectors = only(&["FINANCE"]);
    setup.mou.recipient_countries = only(&["de"]);
    assert!(setup.decide().is_granted());
}

#[test]
fn an_empty_field_never_passes_a_restriction() {
    // Issue 15: a report with no categories was released under `categories: ["ransomware"]`.
    let mut setup = Setup::baseline();
    setup.facts.categories.clear();
    setup.mou.categories = only(&["ransomware"]);
    assert_eq!(
        denial(&setup.decide()),
        vec!["mou-x: report has no category (categories restricted)"]
    );
    setup.mou.categories = Scope::Only(BTreeSet::new());
    assert!(!setup.decide().is_granted(), "an empty list admits nothing");
    setup.mou.categories = Scope::Any;
    assert!(setup.decide().is_granted(), "only `*` admits no category");

    let mut setup = Setup::baseline();
    setup.facts.sector = None;
    setup.mou.sectors = only(&["finance"]);
    assert_eq!(
        denial(&setup.decide()),
        vec!["mou-x: report has no sector (sectors restricted)"]
    );
    setup.mou.sectors = Scope::Any;
    assert!(setup.decide().is_granted());

    let mut setup = Setup::baseline();
    setup.facts.num_indicators = Some(0);
    setup.mou.indicator_types = only(&["ipv4-addr"]);
    assert_eq!(
        denial(&setup.decide()),
        vec!["mou-x: report has no indicator (indicator_types restricted)"]
    );
    setup.facts.num_indicators = None;
    assert!(!setup.decide().is_granted(), "an unknown count is none");
    setup.mou.indicator_types = Scope::Any;
    assert!(setup.decide().is_granted());
}

#[test]
fn every_failing_scope_is_one_part_of_the_reason() {
    let mut setup = Setup::baseline();
    setup.facts.categories.clear();
    setup.facts.sector = None;
    setup.facts.num_indicators = Some(0);
    setup.mou.categories = only(&["phishing"]);
    setup.mou.sectors = only(&["finance"]);
    setup.mou.indicator_types = only(&["url"]);
    assert_eq!(
        denial(&setup.decide()),
        vec![
            "mou-x: report has no category (categories restricted); report has no sector (sectors restricted); \
             report has no indicator (indicator_types restricted)"
        ]
    );
}

#[test]
fn empty_recipient_countries_deny() {
    let mut setup = Setup::baseline();
    setup.mou.recipient_countries = Scope::Only(BTreeSet::new());
    assert!(!setup.decide().is_granted());
}

#[test]
fn indicator_types_of_a_report_with_indicators_do_not_decide_visibility() {
    // They decide what is released (rule 2), and whether anything is (`crate::choose`).
    let mut setup = Setup::baseline();
    setup.mou.indicator_types = only(&["vulnerability"]);
    assert!(setup.decide().is_granted());
    setup.mou.indicator_types = Scope::Only(BTreeSet::new());
    assert!(setup.decide().is_granted());
}

#[test]
fn every_granting_mou_is_a_candidate_in_id_order() {
    let setup = Setup::baseline();
    let mut revoked = mou("mou-a");
    revoked.status = MouStatus::Revoked;
    let mous = [v1(mou("mou-c")), v1(revoked), v1(mou("mou-b"))];
    let decision = decide(
        &setup.facts,
        &setup.agency,
        setup.purpose,
        setup.at,
        &mous,
        &setup.orgs,
    );
    let ids: Vec<String> = decision
        .terms()
        .iter()
        .map(|terms| terms.mou.to_string())
        .collect();
    assert_eq!(ids, vec!["mou-b", "mou-c"]);
}

#[test]
fn facts_copy_the_report() {
    let report = report();
    let facts = facts(&report);
    assert_eq!(facts.partner, report.partner);
    assert_eq!(facts.tlp, report.tlp);
    assert_eq!(facts.categories, report.categories);
    assert_eq!(facts.sector, report.sector);
    assert_eq!(facts.received_at, report.received_at);
    assert_eq!(facts.num_indicators, Some(report.indicators.len()));
}
