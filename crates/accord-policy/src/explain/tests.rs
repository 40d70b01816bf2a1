//! Unit tests of [`explain`].

use std::collections::BTreeSet;

use accord_domain::{Attribution, ContentPart, MouStatus, PiiRule, Purpose, Tlp};

use super::*;
use crate::testkit::{directory, mou, mou_id, now, only, org_id, report, v1, version};

#[test]
fn visible_report_names_the_first_granting_purpose_mou() {
    let mut research = mou("mou-r");
    research.purposes = BTreeSet::from([Purpose::Research]);
    let mous = [version(mou("mou-x"), 2), v1(research)];
    let explanation = explain(&report(), &org_id("ncu-de"), now(), &mous, &directory());
    assert!(explanation.visible);
    assert_eq!(explanation.mou, Some(mou_id("mou-x")));
    assert_eq!(
        explanation.reasons,
        vec![
            "granted for investigation by mou-x v2",
            "granted for prosecution by mou-x v2",
            "granted for research by mou-r v1",
            "mou-r: purpose investigation not permitted (for investigation)",
        ]
    );
    assert_eq!(
        explanation.redactions,
        vec![
            "partner anonymized",
            "1 personal name redacted in title",
            "1 e-mail address redacted in description",
            "1 phone number redacted in description",
            "1 personal name redacted in description",
            "victim withheld",
        ]
    );
}

#[test]
fn first_granting_purpose_decides_the_named_mou() {
    let mut prevention = mou("mou-p");
    prevention.purposes = BTreeSet::from([Purpose::Prevention]);
    let mous = [v1(prevention)];
    let explanation = explain(&report(), &org_id("ncu-de"), now(), &mous, &directory());
    assert_eq!(explanation.mou, Some(mou_id("mou-p")));
    assert_eq!(
        explanation.reasons,
        vec!["granted for prevention by mou-p v1"]
    );
}

#[test]
fn invisible_report_gives_purpose_independent_reasons() {
    let mut red_only = mou("mou-x");
    red_only.max_tlp = Tlp::Green;
    let mut revoked = mou("mou-y");
    revoked.status = MouStatus::Revoked;
    let mut no_purpose = mou("mou-z");
    no_purpose.purposes.clear();
    let mous = [v1(red_only), v1(revoked), v1(no_purpose)];
    let explanation = explain(&report(), &org_id("ncu-de"), now(), &mous, &directory());
    assert!(!explanation.visible);
    assert_eq!(explanation.mou, None);
    assert!(explanation.redactions.is_empty());
    assert_eq!(
        explanation.reasons,
        vec![
            "mou-x: report tlp amber above max_tlp green",
            "mou-y: not active (revoked)",
            "mou-z: no purpose permitted",
        ]
    );
}

#[test]
fn no_covering_mou_and_unknown_agency_are_explained() {
    let mous = [v1(mou("mou-x"))];
    let explanation = explain(&report(), &org_id("police-fr"), now(), &mous, &directory());
    assert!(!explanation.visible);
    assert_eq!(
        explanation.reasons,
        vec!["no MoU covers partner bank-a and agency police-fr"]
    );
    let explanation = explain(&report(), &org_id("ghost"), now(), &mous, &directory());
    assert_eq!(
        explanation.reasons,
        vec![
            "agency ghost is not a known organization",
            "no MoU covers partner bank-a and agency ghost"
        ]
    );
}

#[test]
fn explanation_serializes_as_the_api_body() {
    let explanation = explain(&report(), &org_id("police-fr"), now(), &[], &directory());
    let json = serde_json::to_value(&explanation).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "visible": false,
            "mou": null,
            "reasons": ["no MoU covers partner bank-a and agency police-fr"],
            "redactions": [],
        })
    );
}

#[test]
fn overlapping_mous_name_the_shown_view_and_why_each_other_is_not_shown() {
    let mut wide = mou("mou-a");
    wide.pii = PiiRule::Share;
    wide.indicator_types = only(&["url"]);
    wide.content.insert(ContentPart::Victim);
    let mut network = mou("mou-b");
    network.content = BTreeSet::from([ContentPart::Indicators]);
    network.indicator_types = only(&["ipv4-addr"]);
    let mut stricter = mou("mou-c");
    stricter.indicator_types = only(&["url"]);
    let mut nothing = mou("mou-d");
    nothing.content = BTreeSet::from([ContentPart::Indicators]);
    nothing.indicator_types = only(&["vulnerability"]);
    let mut twin = mou("mou-e");
    twin.pii = PiiRule::Share;
    twin.indicator_types = only(&["url"]);
    twin.content.insert(ContentPart::Victim);
    twin.attribution = Attribution::Anonymous;
    let mut tlp = mou("mou-f");
    tlp.max_tlp = Tlp::Green;
    let mous = [
        v1(wide),
        v1(network),
        v1(stricter),
        v1(nothing),
        v1(twin),
        v1(tlp),
    ];
    let explanation = explain(&report(), &org_id("ncu-de"), now(), &mous, &directory());
    assert!(explanation.visible);
    assert_eq!(explanation.mou, Some(mou_id("mou-a")));
    assert_eq!(
        explanation.reasons,
        vec![
            "granted for investigation by mou-a v1",
            "granted for prosecution by mou-a v1",
            "mou-f: report tlp amber above max_tlp green (for investigation)",
            "mou-b v1 not shown for investigation: incomparable with mou-a v1, ranked below it (fewer content \
             parts released); kept as alternate view 1: lookups of an indicator only it releases find the report \
             through it",
            "mou-c v1 not shown for investigation: its view is strictly contained in the view of mou-a v1",
            "mou-d v1 not shown for investigation: releases nothing of this report (no indicator it covers, \
             narrative not released)",
            "mou-e v1 not shown for investigation: releases the same as mou-a v1",
        ]
    );
    assert_eq!(
        explanation.redactions,
        vec![
            "partner anonymized",
            "3 occurrences of withheld indicators replaced in description",
            "4 indicators of types not covered withheld",
        ]
    );
}

#[test]
fn an_mou_releasing_nothing_says_so() {
    let mut nothing = mou("mou-x");
    nothing.content = BTreeSet::from([ContentPart::Indicators]);
    nothing.indicator_types = only(&["vulnerability"]);
    let explanation = explain(
        &report(),
        &org_id("ncu-de"),
        now(),
        &[v1(nothing)],
        &directory(),
    );
    assert!(!explanation.visible);
    assert_eq!(
        explanation.reasons,
        vec![
            "mou-x: releases nothing of this report (no indicator it covers, narrative not released)"
        ]
    );
}
