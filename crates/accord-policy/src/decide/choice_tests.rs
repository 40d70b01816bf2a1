//! Unit tests of the least-restricted choice of rule 3: content, PII, attribution and indicator types in that
//! order, the id tie-break, and never mixing the terms of two MoUs.

use std::collections::BTreeSet;

use accord_domain::{Attribution, ContentPart, Mou, MouStatus, PiiRule, Purpose};

use super::tests::Setup;
use super::*;
use crate::testkit::{mou, only, ts, v1, version};

/// Decides the baseline pair against `mous` and returns the chosen MoU id.
fn chosen(mous: &[Mou]) -> String {
    let setup = Setup::baseline();
    let versions: Vec<_> = mous.iter().cloned().map(v1).collect();
    let decision = decide(
        &setup.facts,
        &setup.agency,
        setup.purpose,
        setup.at,
        &versions,
        &setup.orgs,
    );
    let terms = decision.terms().cloned().expect("granted");
    let mou = mous.iter().find(|mou| mou.id == terms.mou).unwrap();
    assert_eq!(
        terms.profile,
        profile_of(mou),
        "terms are exactly the chosen MoU's"
    );
    terms.mou.to_string()
}

fn with(id: &str, change: impl FnOnce(&mut Mou)) -> Mou {
    let mut mou = mou(id);
    change(&mut mou);
    mou
}

#[test]
fn more_content_parts_win_over_everything_else() {
    let narrow = with("mou-a", |m| {
        m.content = BTreeSet::from([ContentPart::Indicators]);
        m.pii = PiiRule::Share;
        m.attribution = Attribution::Named;
    });
    let wide = with("mou-b", |m| m.indicator_types = only(&["url"]));
    assert_eq!(chosen(&[narrow.clone(), wide.clone()]), "mou-b");
    assert_eq!(chosen(&[wide, narrow]), "mou-b");
}

#[test]
fn pii_share_wins_over_redact_at_equal_content() {
    let redact = with("mou-a", |m| m.attribution = Attribution::Named);
    let share = with("mou-b", |m| m.pii = PiiRule::Share);
    assert_eq!(chosen(&[redact, share]), "mou-b");
}

#[test]
fn named_wins_over_anonymous_at_equal_content_and_pii() {
    let anonymous = with("mou-a", |_| {});
    let named = with("mou-b", |m| {
        m.attribution = Attribution::Named;
        m.indicator_types = only(&["url"]);
    });
    assert_eq!(chosen(&[anonymous, named]), "mou-b");
}

#[test]
fn indicator_types_rank_star_then_larger_sets() {
    let small = with("mou-a", |m| m.indicator_types = only(&["url"]));
    let large = with("mou-b", |m| m.indicator_types = only(&["url", "file"]));
    let star = with("mou-c", |_| {});
    assert_eq!(chosen(&[small.clone(), large.clone(), star]), "mou-c");
    assert_eq!(chosen(&[small, large]), "mou-b");
}

#[test]
fn identical_profiles_tie_break_on_the_lowest_id() {
    assert_eq!(chosen(&[mou("mou-z"), mou("mou-b"), mou("mou-m")]), "mou-b");
}

#[test]
fn duplicate_ids_prefer_the_highest_version() {
    let setup = Setup::baseline();
    let mous = [
        version(mou("mou-x"), 2),
        version(mou("mou-x"), 7),
        version(mou("mou-x"), 3),
    ];
    let decision = decide(
        &setup.facts,
        &setup.agency,
        setup.purpose,
        setup.at,
        &mous,
        &setup.orgs,
    );
    assert_eq!(decision.terms().unwrap().version, 7);
}

#[test]
fn wider_mous_that_do_not_grant_are_never_chosen() {
    let narrow = with("mou-b", |m| {
        m.content = BTreeSet::from([ContentPart::Indicators])
    });
    let revoked = with("mou-a", |m| {
        m.status = MouStatus::Revoked;
        m.content = BTreeSet::from([
            ContentPart::Victim,
            ContentPart::Narrative,
            ContentPart::Indicators,
        ]);
    });
    let wrong_purpose = with("mou-c", |m| {
        m.purposes = BTreeSet::from([Purpose::Research]);
        m.pii = PiiRule::Share;
    });
    assert_eq!(chosen(&[revoked, narrow, wrong_purpose]), "mou-b");
}

#[test]
fn terms_of_two_mous_are_never_mixed() {
    let narrative_anonymous = with("mou-a", |m| {
        m.content = BTreeSet::from([ContentPart::Narrative]);
        m.attribution = Attribution::Anonymous;
    });
    let indicators_named = with("mou-b", |m| {
        m.content = BTreeSet::from([ContentPart::Indicators]);
        m.attribution = Attribution::Named;
        m.expires_at = ts("2026-08-01T00:00:00Z");
    });
    let setup = Setup::baseline();
    let mous = [
        v1(narrative_anonymous.clone()),
        v1(indicators_named.clone()),
    ];
    let decision = decide(
        &setup.facts,
        &setup.agency,
        setup.purpose,
        setup.at,
        &mous,
        &setup.orgs,
    );
    let terms = decision.terms().unwrap();
    assert_eq!(terms.profile, profile_of(&indicators_named));
    assert_ne!(terms.profile, profile_of(&narrative_anonymous));
    assert_eq!(
        terms.valid_until, indicators_named.expires_at,
        "window of the chosen MoU"
    );
}

#[test]
fn profile_order_is_total_and_antisymmetric() {
    let a = profile_of(&with("mou-a", |m| m.pii = PiiRule::Share));
    let b = profile_of(&mou("mou-b"));
    assert_eq!(compare_profiles(&a, &b), Ordering::Greater);
    assert_eq!(compare_profiles(&b, &a), Ordering::Less);
    assert_eq!(compare_profiles(&a, &a), Ordering::Equal);
}
