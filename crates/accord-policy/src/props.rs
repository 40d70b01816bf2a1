//! Property-style tests: random MoUs and reports from a small deterministic PRNG, checked against the invariants
//! the reference monitor must keep whatever the input.

use std::collections::{BTreeSet, HashMap};

use accord_domain::{
    Attribution, ContentPart, IndicatorPii, IndicatorSource, Mou, MouStatus, MouVersion,
    NormalizedReport, ObservableType, OrgId, Organization, PiiKind, PiiMatch, PiiRule, Purpose,
    Scope, TextField, Timestamp, Tlp, Victim,
};
use chrono::TimeDelta;

use crate::decide::{Decision, decide, facts, profile_of};
use crate::reach::{Reach, reach};
use crate::release::{allows, content_within, release};
use crate::render::WHOLE_FIELD_MARKER;
use crate::testkit::{directory, indicator, mou, org_id, report, ts, version};

/// SplitMix64: tiny, deterministic, good enough to vary inputs.
struct Rng(accord_testkit::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[usize::try_from(self.below(items.len() as u64)).unwrap()].clone()
    }

    fn subset<T: Clone>(&mut self, items: &[T], percent: u64) -> Vec<T> {
        items
            .iter()
            .filter(|_| self.chance(percent))
            .cloned()
            .collect()
    }

    fn scope(&mut self, values: &[&str]) -> Scope {
        if self.chance(40) {
            Scope::Any
        } else {
            Scope::Only(
                self.subset(values, 70)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            )
        }
    }

    fn time(&mut self, base: Timestamp, spread_days: i64) -> Timestamp {
        let offset =
            i64::try_from(self.below(u64::try_from(2 * spread_days * 86_400).unwrap())).unwrap();
        base + TimeDelta::seconds(offset - spread_days * 86_400)
    }
}

const AGENCIES: [&str; 4] = ["ncu-de", "europol-ec3", "police-fr", "ghost"];
const TYPES: [&str; 5] = ["ipv4-addr", "domain-name", "email-addr", "file", "url"];
const FILLERS: [&str; 5] = ["Grüße ", "日本語 ", "🙂 ", "plain text ", "Ærø "];

fn random_mou(rng: &mut Rng, index: usize) -> Mou {
    let base = ts("2026-06-01T00:00:00Z");
    let mut mou = mou(&format!("mou-{index}"));
    mou.status = if rng.chance(80) {
        MouStatus::Active
    } else {
        rng.pick(&[MouStatus::Suspended, MouStatus::Revoked])
    };
    mou.providers = rng
        .subset(&["bank-a", "bank-b"], 80)
        .into_iter()
        .map(org_id)
        .collect();
    mou.recipients = rng.subset(&AGENCIES, 70).into_iter().map(org_id).collect();
    mou.effective_from = rng.time(base - TimeDelta::days(100), 150);
    mou.expires_at = rng.time(base + TimeDelta::days(250), 300);
    mou.max_tlp = rng.pick(&Tlp::ALL);
    mou.content = rng
        .subset(
            &[
                ContentPart::Indicators,
                ContentPart::Narrative,
                ContentPart::Victim,
            ],
            60,
        )
        .into_iter()
        .collect();
    mou.categories = rng.scope(&["phishing", "malware", "ransomware"]);
    mou.sectors = rng.scope(&["finance", "telecom"]);
    mou.indicator_types = rng.scope(&TYPES);
    mou.purposes = rng.subset(&Purpose::ALL, 70).into_iter().collect();
    mou.pii = rng.pick(&[PiiRule::Redact, PiiRule::Share]);
    mou.attribution = rng.pick(&[Attribution::Anonymous, Attribution::Named]);
    mou.recipient_countries = rng.scope(&["DE", "NL", "FR"]);
    mou.retention_days = u32::try_from(rng.below(900)).unwrap();
    mou
}

/// A random report, the PII strings it hides in its text, and which fields carry a deliberately invalid range.
struct Generated {
    report: NormalizedReport,
    secrets: Vec<String>,
    broken: BTreeSet<&'static str>,
}

fn random_text(
    rng: &mut Rng,
    field: TextField,
    secrets: &mut Vec<String>,
    pii: &mut Vec<PiiMatch>,
) -> String {
    let mut text = String::new();
    for _ in 0..rng.below(6) {
        text.push_str(rng.pick(&FILLERS));
        if rng.chance(50) {
            let n = secrets.len();
            let (kind, secret) = rng.pick(&[
                (PiiKind::Email, format!("person{n}@mail.example")),
                (PiiKind::Phone, format!("+49 30 77{n:03}")),
                (PiiKind::Name, format!("Zoë Łukasz{n}")),
            ]);
            pii.push(PiiMatch {
                kind,
                field,
                start: text.len(),
                end: text.len() + secret.len(),
            });
            text.push_str(&secret);
            secrets.push(secret);
        }
    }
    text
}

fn random_report(rng: &mut Rng) -> Generated {
    let mut report = report();
    let mut secrets = Vec::new();
    let mut pii = Vec::new();
    let mut broken = BTreeSet::new();
    report.partner = org_id(rng.pick(&["bank-a", "bank-b"]));
    report.received_at = rng.time(ts("2026-06-01T00:00:00Z"), 300);
    report.tlp = rng.pick(&Tlp::ALL);
    report.categories = rng
        .subset(&["phishing", "malware", "ransomware"], 50)
        .into_iter()
        .map(str::to_owned)
        .collect();
    report.sector = rng
        .chance(90)
        .then(|| rng.pick(&["finance", "telecom"]).to_owned());
    report.title = random_text(rng, TextField::Title, &mut secrets, &mut pii);
    report.description = random_text(rng, TextField::Description, &mut secrets, &mut pii);
    for (field, name, len) in [
        (TextField::Title, "title", report.title.len()),
        (
            TextField::Description,
            "description",
            report.description.len(),
        ),
    ] {
        if rng.chance(10) {
            pii.push(PiiMatch {
                kind: PiiKind::Name,
                field,
                start: len,
                end: len + 3,
            });
            broken.insert(name);
        }
    }
    report.pii = pii;
    report.victim = rng.chance(50).then(|| Victim {
        name: Some("Victim Person".to_owned()),
        ..Victim::default()
    });
    report.indicators = ObservableType::ALL
        .iter()
        .filter(|_| rng.chance(50))
        .map(|kind| {
            indicator(
                *kind,
                &format!("value-of-{kind}"),
                IndicatorSource::Declared,
            )
        })
        .collect();
    Generated {
        report,
        secrets,
        broken,
    }
}

/// Checks that the view content of `view` releases exactly what its profile allows, and nothing of the secrets.
fn check_content(generated: &Generated, view: &accord_domain::View) {
    let report = &generated.report;
    let profile = &view.profile;
    let content = &view.content;
    assert!(
        content_within(content, profile),
        "{content:?} outside {profile:?}"
    );
    let expected_partner = match profile.attribution {
        Attribution::Named => report.partner.to_string(),
        Attribution::Anonymous => "anonymous".to_owned(),
    };
    assert_eq!(content.partner, expected_partner);
    for indicator in &content.indicators {
        assert!(report.indicators.contains(indicator));
    }
    if profile.content.contains(&ContentPart::Narrative) && profile.pii == PiiRule::Redact {
        for (name, text) in [
            ("title", &content.title),
            ("description", &content.description),
        ] {
            let text = text.as_deref().unwrap();
            for secret in &generated.secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{secret} leaked in {name}: {text}"
                );
            }
            if generated.broken.contains(name) {
                assert_eq!(text, WHOLE_FIELD_MARKER);
            }
        }
    }
    if profile.pii == PiiRule::Redact {
        assert!(content.victim.is_none());
    }
}

fn check_case(
    generated: &Generated,
    mous: &[MouVersion],
    orgs: &HashMap<OrgId, Organization>,
    at: Timestamp,
) {
    let report = &generated.report;
    let views = release(report, at, mous, orgs);
    assert_eq!(views, release(report, at, mous, orgs), "deterministic");
    assert!(
        views.windows(2).all(|pair| pair[0].id < pair[1].id),
        "sorted, unique ids"
    );
    for view in &views {
        check_content(generated, view);
        assert!(view.valid_from <= at && at < view.valid_until);
        let from_some_mou = view.mous.iter().any(|(id, number)| {
            mous.iter().any(|v| {
                &v.mou.id == id && v.version == *number && profile_of(&v.mou) == view.profile
            })
        });
        assert!(from_some_mou, "profile is one MoU's, never a mix");
        for grant in &view.grants {
            assert!(
                allows(view, &grant.agency, grant.purpose, at, mous, orgs),
                "{grant:?}"
            );
        }
        for alternate in &view.alternates {
            assert!(
                allows(view, &alternate.agency, alternate.purpose, at, mous, orgs),
                "{alternate:?}"
            );
        }
    }
    let facts = facts(report);
    for agency in AGENCIES.map(org_id) {
        for purpose in Purpose::ALL {
            let holders: Vec<_> = views
                .iter()
                .filter(|view| view.rank_for(&agency, purpose).is_some())
                .collect();
            match decide(&facts, &agency, purpose, at, mous, orgs) {
                Decision::Granted(terms) => {
                    let mut ranks: Vec<u32> = holders
                        .iter()
                        .filter_map(|view| view.rank_for(&agency, purpose))
                        .collect();
                    ranks.sort_unstable();
                    let expected: Vec<u32> = (0..u32::try_from(ranks.len()).unwrap()).collect();
                    assert_eq!(ranks, expected, "one shown view, then alternates 1, 2, …");
                    for view in &holders {
                        assert!(
                            terms.iter().any(|terms| terms.profile == view.profile),
                            "every view is one granting MoU's rendering"
                        );
                        assert!(
                            !view.content.indicators.is_empty() || view.content.title.is_some(),
                            "every view releases an indicator or the narrative"
                        );
                    }
                }
                Decision::Denied { reasons } => {
                    assert!(holders.is_empty());
                    assert!(!reasons.is_empty());
                    for view in &views {
                        assert!(!allows(view, &agency, purpose, at, mous, orgs));
                    }
                }
            }
        }
    }
}

#[test]
fn random_releases_keep_every_invariant() {
    let mut rng = Rng(accord_testkit::SplitMix64::new(0x5eed_acc0_4d00_0001));
    let orgs = directory();
    let mut num_views = 0;
    let mut num_releasing_cases = 0;
    for _ in 0..800 {
        let generated = random_report(&mut rng);
        let mous: Vec<MouVersion> = (0..=rng.below(4))
            .map(|index| {
                let index = usize::try_from(index).unwrap();
                let number = u32::try_from(rng.below(5)).unwrap() + 1;
                version(random_mou(&mut rng, index), number)
            })
            .collect();
        let at = rng.time(ts("2026-07-01T00:00:00Z"), 150);
        check_case(&generated, &mous, &orgs, at);
        let views = release(&generated.report, at, &mous, &orgs);
        num_views += views.len();
        num_releasing_cases += usize::from(!views.is_empty());
    }
    // The generator must actually exercise releases (and grouping), not only denials.
    assert!(
        num_releasing_cases > 150,
        "only {num_releasing_cases} cases released anything"
    );
    assert!(
        num_views > num_releasing_cases,
        "no case released several views"
    );
}

/// Returns what `views` release per agency: the values of the indicators of every view the agency is shown or is an
/// alternate for (what [`reach`] must equal).
fn reach_of_views(views: &[accord_domain::View]) -> Reach<'_> {
    let mut by_agency = Reach::new();
    for view in views {
        let shown = view.grants.iter().map(|grant| &grant.agency);
        let alternates = view.alternates.iter().map(|alternate| &alternate.agency);
        for agency in shown.chain(alternates) {
            by_agency.entry(agency.clone()).or_default().extend(
                view.content
                    .indicators
                    .iter()
                    .map(|indicator| indicator.value.as_str()),
            );
        }
    }
    by_agency
}

/// Varies the indicators of `report`: some e-mail addresses found only in free text, some values carrying personal
/// data (two of which redact to the same value), some duplicate values of another type.
fn vary_indicators(rng: &mut Rng, report: &mut NormalizedReport) {
    let shared = rng.chance(30);
    for indicator in &mut report.indicators {
        if rng.chance(40) {
            indicator.source = IndicatorSource::Text;
        }
        if rng.chance(30) {
            let mut redacted = indicator.clone();
            redacted.value = if shared {
                "redacted-[redacted:email]".to_owned()
            } else {
                format!("{}-[redacted:email]", indicator.value)
            };
            report.indicator_pii.push(IndicatorPii {
                indicator: indicator.id.clone(),
                kinds: vec![PiiKind::Email],
                redacted,
            });
        }
    }
    if rng.chance(20)
        && let Some(first) = report.indicators.first().cloned()
    {
        let mut twin = first;
        twin.kind = rng.pick(&ObservableType::ALL);
        twin.id = format!("{}--twin", twin.kind.as_str());
        report.indicators.push(twin);
    }
}

#[test]
fn reach_is_what_release_releases_per_agency() {
    let seed = 0x5eed_acc0_4d00_0047;
    println!("seed {seed:#x}");
    let mut rng = Rng(accord_testkit::SplitMix64::new(seed));
    let orgs = directory();
    let mut num_reaching = 0;
    for case in 0..1500 {
        let mut generated = random_report(&mut rng);
        vary_indicators(&mut rng, &mut generated.report);
        let mous: Vec<MouVersion> = (0..=rng.below(5))
            .map(|index| {
                let index = usize::try_from(index).unwrap();
                let number = u32::try_from(rng.below(5)).unwrap() + 1;
                version(random_mou(&mut rng, index), number)
            })
            .collect();
        let at = rng.time(ts("2026-07-01T00:00:00Z"), 150);
        let report = &generated.report;
        let views = release(report, at, &mous, &orgs);
        let expected = reach_of_views(&views);
        assert_eq!(
            reach(report, at, &mous, &orgs, None),
            expected,
            "case {case} (seed {seed:#x}): {report:?} under {mous:?}"
        );
        let only: BTreeSet<OrgId> = [org_id(rng.pick(&AGENCIES))].into();
        let mut restricted = expected.clone();
        restricted.retain(|agency, _| only.contains(agency));
        assert_eq!(reach(report, at, &mous, &orgs, Some(&only)), restricted);
        num_reaching += usize::from(expected.len() > 1);
    }
    assert!(
        num_reaching > 100,
        "only {num_reaching} cases reached several agencies"
    );
}
