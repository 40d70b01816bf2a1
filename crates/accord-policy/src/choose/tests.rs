//! Unit tests of the choice among candidate views (rule 3): containment measured on the actual report, the rank of
//! incomparable candidates, alternates for indicators only they release, and the reproductions of issue 21.

use std::collections::BTreeSet;

use accord_domain::{Attribution, ContentPart, Mou, ObservableType, PiiRule, Purpose, Scope, View};

use crate::testkit::{directory, mou, now, only, org_id, report, v1, version};
use crate::{decide, facts, release};

use super::*;

fn with(id: &str, change: impl FnOnce(&mut Mou)) -> Mou {
    let mut mou = mou(id);
    change(&mut mou);
    mou
}

/// Chooses for the baseline pair (ncu-de, investigation) and returns `(mou id, outcome)` in MoU id order.
fn outcomes(mous: &[Mou]) -> Vec<(String, Outcome)> {
    let report = report();
    let versions: Vec<_> = mous.iter().cloned().map(v1).collect();
    let decision = decide(
        &facts(&report),
        &org_id("ncu-de"),
        Purpose::Investigation,
        now(),
        &versions,
        &directory(),
    );
    let mut plans = Plans::new(&report);
    choose(&mut plans, decision.terms().to_vec())
        .into_iter()
        .map(|candidate| (candidate.terms.mou.to_string(), candidate.outcome))
        .collect()
}

fn shown(mous: &[Mou]) -> String {
    let shown: Vec<String> = outcomes(mous)
        .into_iter()
        .filter(|(_, outcome)| *outcome == Outcome::Shown)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(shown.len(), 1, "exactly one shown view: {shown:?}");
    shown[0].clone()
}

/// The views released to (ncu-de, investigation), shown one first.
fn views_for_pair(mous: &[Mou]) -> Vec<View> {
    let versions: Vec<_> = mous.iter().cloned().map(v1).collect();
    let mut views: Vec<View> = release(&report(), now(), &versions, &directory())
        .into_iter()
        .filter(|view| {
            view.rank_for(&org_id("ncu-de"), Purpose::Investigation)
                .is_some()
        })
        .collect();
    views.sort_by_key(|view| view.rank_for(&org_id("ncu-de"), Purpose::Investigation));
    views
}

fn values(view: &View) -> Vec<&str> {
    view.content
        .indicators
        .iter()
        .map(|indicator| indicator.value.as_str())
        .collect()
}

#[test]
fn a_victim_part_under_redact_does_not_outrank_pii_share() {
    // Issue 21: listing `victim` under `pii: redact` releases no victim data, yet counting content parts made it win
    // over `pii: share`, and the agency saw `[redacted:email]` where it saw the address.
    let share = with("mou-b", |m| m.pii = PiiRule::Share);
    let victim_redact = with("mou-a", |m| {
        m.content.insert(ContentPart::Victim);
    });
    assert_eq!(shown(&[share.clone(), victim_redact.clone()]), "mou-b");
    assert_eq!(
        outcomes(&[share.clone(), victim_redact.clone()])[0].1,
        Outcome::Contained { by: 1 },
        "the redacting MoU's view is strictly contained in the sharing one's"
    );
    let views = views_for_pair(&[share, victim_redact]);
    assert_eq!(views.len(), 1);
    assert!(
        views[0]
            .content
            .description
            .as_deref()
            .unwrap()
            .contains("jane.doe@bank-a.example")
    );
}

#[test]
fn a_url_only_mou_next_to_a_wide_one_keeps_the_other_indicators_reachable() {
    // Issue 21: the "larger" MoU limited to URLs was chosen and the IP lookup answered 404.
    let url_only = with("mou-a", |m| {
        m.content.insert(ContentPart::Victim);
        m.pii = PiiRule::Share;
        m.indicator_types = only(&["url"]);
    });
    let network = with("mou-b", |m| {
        m.content = BTreeSet::from([ContentPart::Indicators]);
        m.indicator_types = only(&["ipv4-addr", "domain-name"]);
    });
    let views = views_for_pair(&[url_only, network]);
    assert_eq!(views.len(), 2, "{views:#?}");
    // The shown view releases more parts (the narrative, the victim block); the report has no URL.
    assert!(views[0].content.indicators.is_empty());
    assert!(views[0].content.victim.is_some());
    assert_eq!(
        views[1].rank_for(&org_id("ncu-de"), Purpose::Investigation),
        Some(1)
    );
    assert_eq!(
        values(&views[1]),
        vec!["login-bank-a.com", "45.155.205.172"]
    );
    // No view mixes the terms: the shown one has no indicator, the alternate no narrative.
    assert!(views[1].content.description.is_none());
}

#[test]
fn three_overlapping_mous_keep_one_shown_view_and_the_alternates_that_add_indicators() {
    let files = with("mou-a", |m| {
        m.content = BTreeSet::from([ContentPart::Indicators]);
        m.indicator_types = only(&["file"]);
    });
    let narrative = with("mou-b", |m| {
        m.indicator_types = only(&["domain-name"]);
        m.pii = PiiRule::Share;
        m.attribution = Attribution::Named;
    });
    let domains = with("mou-c", |m| {
        m.content = BTreeSet::from([ContentPart::Indicators]);
        m.indicator_types = only(&["domain-name", "ipv4-addr"]);
    });
    let all = [files.clone(), narrative.clone(), domains.clone()];
    assert_eq!(
        outcomes(&all),
        vec![
            ("mou-a".to_owned(), Outcome::Alternate { rank: 2 }),
            ("mou-b".to_owned(), Outcome::Shown),
            ("mou-c".to_owned(), Outcome::Alternate { rank: 1 }),
        ]
    );
    let views = views_for_pair(&all);
    assert_eq!(views.len(), 3);
    assert_eq!(values(&views[0]), vec!["login-bank-a.com"]);
    assert_eq!(
        values(&views[1]),
        vec!["login-bank-a.com", "45.155.205.172"]
    );
    assert_eq!(values(&views[2]), vec![&*"a".repeat(64)]);
    // Whatever order the MoUs come in, the outcome is the same.
    assert_eq!(
        outcomes(&[domains, files, narrative]),
        outcomes(&all),
        "outcomes are listed in MoU id order and do not depend on input order"
    );
}

#[test]
fn an_alternate_adding_no_indicator_is_not_released() {
    let wide = mou("mou-a");
    let share_no_indicators = with("mou-b", |m| {
        m.pii = PiiRule::Share;
        m.content = BTreeSet::from([ContentPart::Narrative, ContentPart::Victim]);
    });
    // Incomparable: mou-a releases indicators, mou-b the PII and the victim block.
    let result = outcomes(&[wide, share_no_indicators]);
    assert_eq!(result[0].1, Outcome::Shown, "{result:?}");
    assert_eq!(result[1].1, Outcome::Redundant { below: 0 });
}

#[test]
fn identical_terms_tie_on_the_lowest_mou_id_and_share_one_view() {
    let result = outcomes(&[mou("mou-z"), mou("mou-b"), mou("mou-m")]);
    assert_eq!(
        result,
        vec![
            ("mou-b".to_owned(), Outcome::Shown),
            ("mou-m".to_owned(), Outcome::Equivalent { to: 0 }),
            ("mou-z".to_owned(), Outcome::Equivalent { to: 0 }),
        ]
    );
    let views = views_for_pair(&[mou("mou-z"), mou("mou-b"), mou("mou-m")]);
    assert_eq!(views.len(), 1);
    assert_eq!(
        views[0]
            .mous
            .iter()
            .map(|(id, _)| id.to_string())
            .collect::<Vec<_>>(),
        vec!["mou-b", "mou-m", "mou-z"],
        "every MoU rendering the same view justifies it"
    );
}

#[test]
fn equal_releases_under_different_terms_prefer_the_lowest_id() {
    // Without PII in the report, `share` and `redact` release the same: the candidates are equivalent.
    let mut report = report();
    report.pii.clear();
    report.victim = None;
    let share = with("mou-b", |m| m.pii = PiiRule::Share);
    let versions = [v1(share), v1(mou("mou-a"))];
    let decision = decide(
        &facts(&report),
        &org_id("ncu-de"),
        Purpose::Investigation,
        now(),
        &versions,
        &directory(),
    );
    let mut plans = Plans::new(&report);
    let result: Vec<Outcome> = choose(&mut plans, decision.terms().to_vec())
        .into_iter()
        .map(|candidate| candidate.outcome)
        .collect();
    assert_eq!(result, vec![Outcome::Shown, Outcome::Equivalent { to: 0 }]);
}

#[test]
fn a_candidate_releasing_nothing_yields_no_view() {
    let files_only = with("mou-a", |m| {
        m.content = BTreeSet::from([ContentPart::Indicators]);
        m.indicator_types = only(&["vulnerability"]);
    });
    assert_eq!(
        outcomes(std::slice::from_ref(&files_only)),
        vec![("mou-a".to_owned(), Outcome::Empty)]
    );
    assert!(views_for_pair(std::slice::from_ref(&files_only)).is_empty());
    // With the narrative, the same MoU releases the text, every indicator replaced by its marker.
    let with_narrative = with("mou-a", |m| {
        m.indicator_types = only(&["vulnerability"]);
    });
    let views = views_for_pair(&[with_narrative]);
    assert_eq!(views.len(), 1);
    assert!(views[0].content.indicators.is_empty());
    let description = views[0].content.description.as_deref().unwrap();
    for value in [
        "login-bank-a.com",
        "attacker@evil.example",
        "45.155.205.172",
    ] {
        assert!(!description.contains(value), "{value} in {description}");
    }
}

#[test]
fn ranks_prefer_parts_then_indicators_then_text_then_names_then_ids() {
    let rank = |parts, indicators, revealed, named, mou: &str| Rank {
        parts,
        indicators,
        revealed,
        named,
        mou: Reverse(crate::testkit::mou_id(mou)),
        version: 1,
    };
    let ordered = [
        rank(1, 9, 999, true, "mou-a"),
        rank(2, 0, 0, false, "mou-z"),
        rank(2, 1, 0, false, "mou-z"),
        rank(2, 1, 5, false, "mou-z"),
        rank(2, 1, 5, true, "mou-z"),
        rank(2, 1, 5, true, "mou-b"),
    ];
    for pair in ordered.windows(2) {
        assert!(pair[0] < pair[1], "{pair:?}");
    }
    assert_eq!(
        ordered[0].below_because(&ordered[1]),
        "fewer content parts released"
    );
    assert_eq!(
        ordered[1].below_because(&ordered[2]),
        "fewer indicators released"
    );
    assert_eq!(
        ordered[2].below_because(&ordered[3]),
        "less narrative text released"
    );
    assert_eq!(ordered[3].below_because(&ordered[4]), "partner not named");
    assert_eq!(ordered[4].below_because(&ordered[5]), "higher MoU id");
}

#[test]
fn containment_compares_what_is_released_not_what_is_listed() {
    let report = report();
    let measure = |change: fn(&mut Mou)| {
        let mut mou = mou("mou-x");
        change(&mut mou);
        Measure::of(&report, &plan(&report, &crate::profile_of(&mou)))
    };
    let baseline = measure(|_| {});
    let victim_redact = measure(|m| {
        m.content.insert(ContentPart::Victim);
    });
    assert_eq!(
        baseline, victim_redact,
        "victim under redact releases nothing more"
    );
    let share = measure(|m| m.pii = PiiRule::Share);
    assert!(share.contains(&baseline) && !baseline.contains(&share));
    let ip_only = measure(|m| m.indicator_types = only(&["ipv4-addr"]));
    assert!(baseline.contains(&ip_only) && !ip_only.contains(&baseline));
    let named = measure(|m| m.attribution = Attribution::Named);
    assert!(named.contains(&baseline) && !baseline.contains(&named));
    let no_narrative = measure(|m| m.content = BTreeSet::from([ContentPart::Indicators]));
    assert!(baseline.contains(&no_narrative) && !no_narrative.contains(&baseline));
    // Incomparable: more indicators against more text.
    let share_ip = measure(|m| {
        m.pii = PiiRule::Share;
        m.indicator_types = only(&["ipv4-addr"]);
    });
    assert!(!share_ip.contains(&baseline) && !baseline.contains(&share_ip));
}

/// SplitMix64, as in the property tests.
struct Rng(accord_testkit::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn random_terms(rng: &mut Rng, id: &str) -> Mou {
    let mut mou = mou(id);
    mou.content = [
        ContentPart::Indicators,
        ContentPart::Narrative,
        ContentPart::Victim,
    ]
    .into_iter()
    .filter(|_| rng.chance(60))
    .collect();
    mou.pii = if rng.chance(50) {
        PiiRule::Share
    } else {
        PiiRule::Redact
    };
    mou.attribution = if rng.chance(50) {
        Attribution::Named
    } else {
        Attribution::Anonymous
    };
    mou.indicator_types = if rng.chance(30) {
        Scope::Any
    } else {
        Scope::Only(
            ObservableType::ALL
                .iter()
                .filter(|_| rng.chance(40))
                .map(|kind| kind.as_str().to_owned())
                .collect(),
        )
    };
    mou
}

/// Per view released to the baseline pair: the indicator values a lookup reaches.
fn reachable(mous: &[Mou]) -> BTreeSet<String> {
    views_for_pair(mous)
        .iter()
        .flat_map(|view| {
            values(view)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn adding_an_mou_never_removes_an_indicator_and_a_stricter_one_changes_nothing() {
    let mut rng = Rng(accord_testkit::SplitMix64::new(0x21_2026));
    let mut num_alternates = 0;
    for case in 0..400 {
        let count = 2 + usize::try_from(rng.next() % 3).unwrap();
        let mous: Vec<Mou> = (0..count)
            .map(|index| random_terms(&mut rng, &format!("mou-{case}-{index}")))
            .collect();
        let before = reachable(&mous);
        let added = random_terms(&mut rng, &format!("mou-{case}-new"));
        let mut after_mous = mous.clone();
        after_mous.push(added);
        assert!(
            reachable(&after_mous).is_superset(&before),
            "case {case}: adding an MoU removed an indicator"
        );
        // A stricter copy of an existing MoU (fewer parts, redact, anonymous, a higher id) changes no view's content.
        let mut stricter = mous[0].clone();
        stricter.id = crate::testkit::mou_id(&format!("mou-{case}-zz"));
        stricter.content.remove(&ContentPart::Victim);
        stricter.pii = PiiRule::Redact;
        stricter.attribution = Attribution::Anonymous;
        let mut with_stricter = mous.clone();
        with_stricter.push(stricter);
        let contents = |mous: &[Mou]| -> Vec<_> {
            views_for_pair(mous)
                .into_iter()
                .map(|view| view.content)
                .collect()
        };
        assert_eq!(
            contents(&with_stricter),
            contents(&mous),
            "case {case}: a stricter MoU changed what the agency gets"
        );
        num_alternates += views_for_pair(&mous).len().saturating_sub(1);
    }
    assert!(
        num_alternates > 50,
        "only {num_alternates} alternates: the generator is too tame"
    );
}

#[test]
fn highest_version_of_duplicate_input_is_the_candidate() {
    let report = report();
    let versions = [version(mou("mou-x"), 2), version(mou("mou-x"), 7)];
    let decision = decide(
        &facts(&report),
        &org_id("ncu-de"),
        Purpose::Investigation,
        now(),
        &versions,
        &directory(),
    );
    assert_eq!(decision.terms().len(), 1);
    assert_eq!(decision.terms()[0].version, 7);
}
