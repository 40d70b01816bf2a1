//! Unit tests of [`release`], [`view_id`] and [`allows`].

use std::collections::BTreeSet;

use accord_domain::{
    Attribution, ContentPart, Grant, Mou, MouStatus, Purpose, ReportId, Scope, Timestamp, Tlp, View,
};
use chrono::TimeDelta;

use super::*;
use crate::decide::profile_of;
use crate::render::render;
use crate::testkit::{directory, mou, mou_id, now, only, org_id, report, ts, v1, version};

fn grant(agency: &str, purpose: Purpose) -> Grant {
    Grant {
        agency: org_id(agency),
        purpose,
    }
}

fn release_with(mous: &[Mou]) -> Vec<View> {
    let versions: Vec<_> = mous.iter().cloned().map(v1).collect();
    release(&report(), now(), &versions, &directory())
}

fn two_agencies() -> Mou {
    let mut mou = mou("mou-x");
    mou.recipients = BTreeSet::from([org_id("ncu-de"), org_id("europol-ec3")]);
    mou
}

#[test]
fn agencies_with_the_same_terms_share_one_view() {
    let views = release_with(&[two_agencies()]);
    assert_eq!(views.len(), 1);
    let view = &views[0];
    assert_eq!(
        view.grants,
        vec![
            grant("europol-ec3", Purpose::Investigation),
            grant("europol-ec3", Purpose::Prosecution),
            grant("ncu-de", Purpose::Investigation),
            grant("ncu-de", Purpose::Prosecution),
        ]
    );
    assert_eq!(view.mous, vec![(mou_id("mou-x"), 1)]);
    assert_eq!(view.report_id, report().id);
    assert_eq!(view.profile, profile_of(&two_agencies()));
    assert_eq!(view.content, render(&report(), &view.profile));
    assert_eq!(view.facts, facts(&report()));
    assert_eq!(view.valid_from, ts("2026-01-01T00:00:00Z"));
    assert_eq!(view.valid_until, ts("2027-06-01T00:00:00Z"));
}

#[test]
fn different_mous_for_different_purposes_give_two_views() {
    let mut indicators = mou("mou-a");
    indicators.content = BTreeSet::from([ContentPart::Indicators]);
    indicators.purposes = BTreeSet::from([Purpose::Investigation]);
    let mut narrative = mou("mou-b");
    narrative.content = BTreeSet::from([ContentPart::Narrative]);
    narrative.purposes = BTreeSet::from([Purpose::Research]);
    let views = release_with(&[indicators.clone(), narrative.clone()]);
    assert_eq!(views.len(), 2);
    let by_mou = |id: &str| {
        views
            .iter()
            .find(|view| view.mous == vec![(mou_id(id), 1)])
            .unwrap()
    };
    assert_eq!(
        by_mou("mou-a").grants,
        vec![grant("ncu-de", Purpose::Investigation)]
    );
    assert_eq!(by_mou("mou-a").profile, profile_of(&indicators));
    assert!(by_mou("mou-a").content.title.is_none());
    assert_eq!(
        by_mou("mou-b").grants,
        vec![grant("ncu-de", Purpose::Research)]
    );
    assert_eq!(by_mou("mou-b").profile, profile_of(&narrative));
    assert!(by_mou("mou-b").content.indicators.is_empty());
}

#[test]
fn mous_with_identical_terms_merge_into_one_view_listing_both() {
    let first = mou("mou-a");
    let mut second = mou("mou-b");
    second.recipients = BTreeSet::from([org_id("europol-ec3")]);
    let views = release(
        &report(),
        now(),
        &[v1(first), version(second, 4)],
        &directory(),
    );
    assert_eq!(views.len(), 1);
    assert_eq!(
        views[0].mous,
        vec![(mou_id("mou-a"), 1), (mou_id("mou-b"), 4)]
    );
    assert_eq!(views[0].grants.len(), 4);
}

#[test]
fn same_profile_with_another_window_is_another_view() {
    let first = mou("mou-a");
    let mut second = mou("mou-b");
    second.recipients = BTreeSet::from([org_id("europol-ec3")]);
    second.expires_at = ts("2026-12-01T00:00:00Z");
    let views = release_with(&[first, second]);
    assert_eq!(views.len(), 2);
    assert_ne!(views[0].id, views[1].id);
}

#[test]
fn ids_are_deterministic_and_independent_of_input_order() {
    let mut other = mou("mou-b");
    other.recipients = BTreeSet::from([org_id("police-fr")]);
    other.pii = PiiRule::Share;
    let first = release_with(&[two_agencies(), other.clone()]);
    let again = release_with(&[two_agencies(), other.clone()]);
    let reversed = release_with(&[other, two_agencies()]);
    assert_eq!(first, again);
    assert_eq!(first, reversed);
    assert_eq!(first.len(), 2);
    assert!(
        first.windows(2).all(|pair| pair[0].id < pair[1].id),
        "sorted by id"
    );
    for view in &first {
        let uuid = view.id.strip_prefix("view--").unwrap();
        assert_eq!(Uuid::parse_str(uuid).unwrap().get_version_num(), 5);
        assert_eq!(
            view.id,
            view_id(
                &view.report_id,
                &view.profile,
                view.valid_from,
                view.valid_until
            )
        );
    }
}

#[test]
fn ids_change_when_terms_or_report_change() {
    let report_id = report().id;
    let profile = profile_of(&mou("mou-x"));
    let from = ts("2026-01-01T00:00:00Z");
    let until = ts("2027-01-01T00:00:00Z");
    let base = view_id(&report_id, &profile, from, until);
    assert_eq!(base, view_id(&report_id, &profile, from, until));
    let mut variants = vec![
        view_id(&ReportId::random(), &profile, from, until),
        view_id(
            &report_id,
            &profile,
            from + TimeDelta::nanoseconds(1),
            until,
        ),
        view_id(&report_id, &profile, from, until - TimeDelta::seconds(1)),
    ];
    let changes: [fn(&mut Profile); 5] = [
        |p| p.pii = PiiRule::Share,
        |p| p.attribution = Attribution::Named,
        |p| {
            p.content.insert(ContentPart::Victim);
        },
        |p| p.indicator_types = only(&["url"]),
        |p| p.indicator_types = Scope::Only(BTreeSet::from(["*".to_owned(), "url".to_owned()])),
    ];
    for change in changes {
        let mut changed = profile.clone();
        change(&mut changed);
        variants.push(view_id(&report_id, &changed, from, until));
    }
    let distinct: BTreeSet<&String> = variants.iter().chain([&base]).collect();
    assert_eq!(
        distinct.len(),
        variants.len() + 1,
        "every change gives a new id"
    );
}

#[test]
fn nothing_granted_releases_nothing() {
    assert!(release_with(&[]).is_empty());
    let mut revoked = mou("mou-x");
    revoked.status = MouStatus::Revoked;
    assert!(release_with(&[revoked]).is_empty());
    let mut other_partner = mou("mou-x");
    other_partner.providers = BTreeSet::from([org_id("bank-b")]);
    assert!(release_with(&[other_partner]).is_empty());
}

#[test]
fn unknown_or_foreign_recipients_are_left_out() {
    let mut mou = two_agencies();
    mou.recipients.insert(org_id("ghost-agency"));
    mou.recipients.insert(org_id("police-fr"));
    mou.recipient_countries = only(&["DE", "NL"]);
    let views = release_with(&[mou]);
    let agencies: BTreeSet<String> = views
        .iter()
        .flat_map(|view| view.grants.iter().map(|grant| grant.agency.to_string()))
        .collect();
    assert_eq!(
        agencies,
        BTreeSet::from(["europol-ec3".to_owned(), "ncu-de".to_owned()])
    );
}

fn baseline_view() -> (View, Vec<MouVersion>) {
    let mous = vec![v1(mou("mou-x"))];
    let mut views = release(&report(), now(), &mous, &directory());
    assert_eq!(views.len(), 1);
    (views.remove(0), mous)
}

fn allowed(
    view: &View,
    agency: &str,
    purpose: Purpose,
    at: Timestamp,
    mous: &[MouVersion],
) -> bool {
    allows(view, &org_id(agency), purpose, at, mous, &directory())
}

#[test]
fn allows_every_grant_at_evaluation_time() {
    let (view, mous) = baseline_view();
    for grant in &view.grants {
        assert!(allows(
            &view,
            &grant.agency,
            grant.purpose,
            now(),
            &mous,
            &directory()
        ));
    }
}

#[test]
fn allows_refuses_other_purposes_and_agencies() {
    let (view, mous) = baseline_view();
    assert!(!allowed(&view, "ncu-de", Purpose::Research, now(), &mous));
    assert!(!allowed(
        &view,
        "europol-ec3",
        Purpose::Investigation,
        now(),
        &mous
    ));
    // Granted by the MoUs now, but not listed in this view.
    let widened = vec![version(two_agencies(), 2)];
    assert!(!allowed(
        &view,
        "europol-ec3",
        Purpose::Investigation,
        now(),
        &widened
    ));
    let mut narrowed_grants = view.clone();
    narrowed_grants
        .grants
        .retain(|grant| grant.purpose != Purpose::Prosecution);
    assert!(!allowed(
        &narrowed_grants,
        "ncu-de",
        Purpose::Prosecution,
        now(),
        &mous
    ));
}

#[test]
fn allows_refuses_after_a_narrowing_edit() {
    let (view, _) = baseline_view();
    let narrowings: [fn(&mut Mou); 4] = [
        |m| m.content = BTreeSet::from([ContentPart::Indicators]),
        |m| m.indicator_types = only(&["url"]),
        |m| m.purposes = BTreeSet::from([Purpose::Prosecution]),
        |m| m.max_tlp = Tlp::Green,
    ];
    for narrow in narrowings {
        let mut narrowed = mou("mou-x");
        narrow(&mut narrowed);
        assert!(!allowed(
            &view,
            "ncu-de",
            Purpose::Investigation,
            now(),
            &[version(narrowed, 2)]
        ));
    }
}

#[test]
fn allows_keeps_serving_after_a_widening_edit() {
    let (view, _) = baseline_view();
    let mut widened = mou("mou-x");
    widened.pii = PiiRule::Share;
    widened.content.insert(ContentPart::Victim);
    assert!(allowed(
        &view,
        "ncu-de",
        Purpose::Investigation,
        now(),
        &[version(widened, 2)]
    ));
}

#[test]
fn allows_refuses_suspended_revoked_and_removed_mous() {
    let (view, _) = baseline_view();
    for status in [MouStatus::Suspended, MouStatus::Revoked] {
        let mut changed = mou("mou-x");
        changed.status = status;
        assert!(!allowed(
            &view,
            "ncu-de",
            Purpose::Investigation,
            now(),
            &[version(changed, 2)]
        ));
    }
    assert!(!allowed(
        &view,
        "ncu-de",
        Purpose::Investigation,
        now(),
        &[]
    ));
}

#[test]
fn allows_refuses_outside_the_window() {
    let (view, mous) = baseline_view();
    assert!(allowed(
        &view,
        "ncu-de",
        Purpose::Investigation,
        view.valid_until - TimeDelta::seconds(1),
        &mous
    ));
    assert!(!allowed(
        &view,
        "ncu-de",
        Purpose::Investigation,
        view.valid_until,
        &mous
    ));
    assert!(!allowed(
        &view,
        "ncu-de",
        Purpose::Investigation,
        view.valid_from - TimeDelta::seconds(1),
        &mous
    ));
    let mut expired = mou("mou-x");
    expired.expires_at = now();
    assert!(!allowed(
        &view,
        "ncu-de",
        Purpose::Investigation,
        now(),
        &[version(expired, 2)]
    ));
}

#[test]
fn allows_refuses_a_view_whose_window_is_stale_even_if_the_mou_was_extended() {
    let mut short = mou("mou-x");
    short.expires_at = ts("2026-08-01T00:00:00Z");
    let mous = vec![v1(short)];
    let view = release(&report(), now(), &mous, &directory()).remove(0);
    let extended = vec![version(mou("mou-x"), 2)];
    assert!(!allowed(
        &view,
        "ncu-de",
        Purpose::Investigation,
        ts("2026-09-01T00:00:00Z"),
        &extended
    ));
}

#[test]
fn allows_refuses_when_the_agency_or_partner_leaves_the_directory() {
    let (view, mous) = baseline_view();
    let mut orgs = directory();
    orgs.remove(&org_id("ncu-de"));
    assert!(!allows(
        &view,
        &org_id("ncu-de"),
        Purpose::Investigation,
        now(),
        &mous,
        &orgs
    ));
    let mut orgs = directory();
    orgs.remove(&org_id("bank-a"));
    assert!(!allows(
        &view,
        &org_id("ncu-de"),
        Purpose::Investigation,
        now(),
        &mous,
        &orgs
    ));
}

#[test]
fn allows_refuses_content_beyond_the_view_profile() {
    let (view, mous) = baseline_view();
    let tamperings: [fn(&mut View); 4] = [
        |v| v.content.partner = "bank-a".to_owned(),
        |v| v.content.victim = report().victim,
        |v| {
            v.profile.content.remove(&ContentPart::Narrative);
        },
        |v| v.profile.indicator_types = only(&["url"]),
    ];
    for tamper in tamperings {
        let mut tampered = view.clone();
        tamper(&mut tampered);
        assert!(!allowed(
            &tampered,
            "ncu-de",
            Purpose::Investigation,
            now(),
            &mous
        ));
    }
}

#[test]
fn content_within_accepts_rendered_content() {
    let (view, _) = baseline_view();
    assert!(content_within(&view.content, &view.profile));
}

#[test]
fn a_new_incomparable_mou_does_not_hide_views_rendered_under_an_existing_one() {
    let (view, mut mous) = baseline_view();
    // mou-y grants the same pair named but indicators only: by the choice order it loses to mou-x (fewer parts)…
    let mut named = mou("mou-y");
    named.content = BTreeSet::from([accord_domain::ContentPart::Indicators]);
    named.attribution = accord_domain::Attribution::Named;
    mous.push(v1(named));
    assert!(allowed(
        &view,
        "ncu-de",
        Purpose::Investigation,
        now(),
        &mous
    ));
    // …and a third MoU that wins the choice but whose profile does not cover the view's must not hide it either.
    let mut winner = mou("mou-z");
    winner.content = BTreeSet::from([
        accord_domain::ContentPart::Indicators,
        accord_domain::ContentPart::Victim,
        accord_domain::ContentPart::Narrative,
    ]);
    winner.pii = accord_domain::PiiRule::Share;
    winner.attribution = accord_domain::Attribution::Named;
    winner.indicator_types = only(&["ipv4-addr"]);
    mous.push(v1(winner));
    assert!(allowed(
        &view,
        "ncu-de",
        Purpose::Investigation,
        now(),
        &mous
    ));
    // Without the MoU the view was rendered under, and no other covering it, it is refused.
    mous.remove(0);
    assert!(!allowed(
        &view,
        "ncu-de",
        Purpose::Investigation,
        now(),
        &mous
    ));
}
