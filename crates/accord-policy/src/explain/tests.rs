//! Unit tests of [`explain`].

use std::collections::BTreeSet;

use accord_domain::{MouStatus, Purpose, Tlp};

use super::*;
use crate::testkit::{directory, mou, mou_id, now, org_id, report, v1, version};

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
