//! The preview's parts, and a differential test: on generated worlds (several MoUs of every status, overlapping
//! grants, redaction differences, expired and retention-ended grants, retracted reports), the answer equals the one
//! releasing every stored report twice in full gives (the implementation before `accord_policy::reach`).

use std::collections::BTreeSet;

use accord_domain::{
    Attribution, ContentPart, Indicator, IndicatorPii, IndicatorSource, Mou, MouId, MouStatus,
    NormalizedReport, ObservableType, OrgKind, PiiKind, PiiMatch, PiiRule, Purpose, Retraction,
    RetractionReason, Scope, TextField, Tlp, View,
};
use accord_testkit::SplitMix64;
use chrono::TimeDelta;

use super::*;
use crate::store::ReportStore;

fn part(first: usize, count: usize) -> AgencyChange {
    let ids: Vec<ReportId> = (first..first + count).map(|_| ReportId::random()).collect();
    AgencyChange {
        agency: "ncu".to_owned(),
        reports_becoming_visible: count,
        reports_withdrawn: 1,
        indicators_becoming_visible: 10 * count,
        indicators_withdrawn: 2,
        becoming_visible: ids.into_iter().take(MAX_LISTED).collect(),
        withdrawn: vec![ReportId::random()],
    }
}

#[test]
fn parts_add_up_in_order_and_lists_stay_bounded() {
    let (first, second) = (part(0, 70), part(70, 70));
    let expected: Vec<ReportId> = first
        .becoming_visible
        .iter()
        .chain(&second.becoming_visible)
        .take(MAX_LISTED)
        .cloned()
        .collect();
    let mut total = first;
    total.add(second);
    assert_eq!(total.reports_becoming_visible, 140);
    assert_eq!(total.indicators_becoming_visible, 1400);
    assert_eq!(
        (total.reports_withdrawn, total.indicators_withdrawn),
        (2, 4)
    );
    assert_eq!(
        total.becoming_visible, expected,
        "the first 100, in report order"
    );
    assert_eq!(total.withdrawn.len(), 2);
}

const PARTNERS: [&str; 2] = ["bank-a", "bank-b"];
/// Known agencies, an organization of the wrong kind and an unknown one: MoUs may name any of them.
const RECIPIENTS: [&str; 5] = ["ncu-de", "europol-ec3", "police-fr", "bank-b", "ghost"];
const TYPES: [&str; 5] = ["ipv4-addr", "domain-name", "email-addr", "file", "url"];

fn org_id(id: &str) -> OrgId {
    OrgId::parse(id).unwrap()
}

fn ts(value: &str) -> Timestamp {
    value.parse().unwrap()
}

fn orgs() -> HashMap<OrgId, Organization> {
    [
        ("bank-a", OrgKind::Partner, "DE"),
        ("bank-b", OrgKind::Partner, "FR"),
        ("ncu-de", OrgKind::Agency, "DE"),
        ("europol-ec3", OrgKind::Agency, "NL"),
        ("police-fr", OrgKind::Agency, "FR"),
    ]
    .into_iter()
    .map(|(id, kind, country)| {
        let organization = Organization {
            id: org_id(id),
            name: id.to_uppercase(),
            kind,
            country: country.to_owned(),
            sector: None,
            default_tlp: None,
            created_at: ts("2025-01-01T00:00:00Z"),
        };
        (organization.id.clone(), organization)
    })
    .collect()
}

/// The generator of one world.
struct Rng(SplitMix64);

impl Rng {
    fn chance(&mut self, percent: u64) -> bool {
        self.0.chance(percent)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.0.index(items.len())].clone()
    }

    fn subset<T: Clone + Ord>(&mut self, items: &[T], percent: u64) -> BTreeSet<T> {
        items
            .iter()
            .filter(|_| self.chance(percent))
            .cloned()
            .collect()
    }

    fn scope(&mut self, values: &[&str]) -> Scope {
        if self.chance(40) {
            return Scope::Any;
        }
        Scope::Only(
            self.subset(values, 60)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        )
    }

    fn days(&mut self, around: Timestamp, spread: i64) -> Timestamp {
        let spread_u64 = u64::try_from(spread).unwrap();
        let offset = i64::try_from(self.0.below(2 * spread_u64 * 24)).unwrap();
        around + TimeDelta::hours(offset - spread * 24)
    }

    fn mou(&mut self, id: &str) -> Mou {
        let base = ts("2026-06-01T00:00:00Z");
        Mou {
            id: MouId::parse(id).unwrap(),
            title: format!("MoU {id}"),
            status: if self.chance(75) {
                MouStatus::Active
            } else {
                self.pick(&[MouStatus::Suspended, MouStatus::Revoked])
            },
            providers: self.subset(&PARTNERS.map(org_id), 80),
            recipients: self.subset(&RECIPIENTS.map(org_id), 45),
            effective_from: self.days(base - TimeDelta::days(100), 150),
            expires_at: self.days(base + TimeDelta::days(200), 250),
            max_tlp: self.pick(&Tlp::ALL),
            content: self.subset(
                &[
                    ContentPart::Indicators,
                    ContentPart::Narrative,
                    ContentPart::Victim,
                ],
                65,
            ),
            categories: self.scope(&["phishing", "malware", "ransomware"]),
            sectors: self.scope(&["finance", "telecom"]),
            indicator_types: self.scope(&TYPES),
            purposes: self.subset(&Purpose::ALL, 70),
            pii: self.pick(&[PiiRule::Redact, PiiRule::Share]),
            attribution: self.pick(&[Attribution::Anonymous, Attribution::Named]),
            feedback: Default::default(),
            recipient_countries: self.scope(&["DE", "NL", "FR"]),
            retention_days: u32::try_from(self.0.below(700)).unwrap(),
        }
    }

    /// Indicators of random types and sources, some carrying personal data, some sharing a value.
    fn indicators(&mut self, report: &mut NormalizedReport, number: usize) {
        let kinds = [
            ObservableType::Ipv4Addr,
            ObservableType::DomainName,
            ObservableType::EmailAddr,
            ObservableType::Url,
            ObservableType::File,
        ];
        for index in 0..self.0.below(6) {
            let kind = self.pick(&kinds);
            let value = format!("value-{}-{number}", self.0.below(4));
            let indicator = Indicator {
                id: format!("{}--{number}-{index}", kind.as_str()),
                kind,
                value,
                source: self.pick(&[IndicatorSource::Declared, IndicatorSource::Text]),
            };
            if self.chance(25) {
                let mut redacted = indicator.clone();
                redacted.id.push_str("-redacted");
                redacted.value = format!("value-[redacted:email]-{}", self.0.below(2));
                report.indicator_pii.push(IndicatorPii {
                    indicator: indicator.id.clone(),
                    kinds: vec![PiiKind::Email],
                    redacted,
                });
            }
            report.indicators.push(indicator);
        }
    }

    fn report(&mut self, number: usize) -> NormalizedReport {
        let title = format!("Incident {number} reported by alice@example.org");
        let start = title.find("alice").unwrap();
        let mut report = NormalizedReport {
            revision: None,
            id: ReportId::random(),
            partner: org_id(self.pick(&PARTNERS)),
            received_at: self.days(ts("2026-06-01T00:00:00Z"), 300),
            occurred_at: ts("2026-01-01T00:00:00Z"),
            tlp: self.pick(&Tlp::ALL),
            pii: vec![PiiMatch {
                kind: PiiKind::Email,
                field: TextField::Title,
                start,
                end: title.len(),
            }],
            title,
            description: "Beacon.".to_owned(),
            categories: self
                .subset(&["phishing", "malware", "ransomware"], 50)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            sector: self
                .chance(85)
                .then(|| self.pick(&["finance", "telecom"]).to_owned()),
            ttps: Vec::new(),
            victim: None,
            indicators: Vec::new(),
            indicator_spans: self.chance(80).then(Vec::new),
            indicator_pii: Vec::new(),
        };
        self.indicators(&mut report, number);
        report
    }

    /// A draft: a new MoU, a new version of an existing one (rewritten, suspended or revoked, unchanged, sent to
    /// other agencies, releasing other indicator types or under the other PII rule, releasing other content parts).
    fn draft(&mut self, in_force: &[MouVersion]) -> Mou {
        if in_force.is_empty() || self.chance(20) {
            return self.mou("mou-new");
        }
        let current = self.pick(in_force).mou;
        let active = MouStatus::Active;
        match self.0.below(6) {
            0 => self.mou(current.id.as_str()),
            1 => Mou {
                status: self.pick(&[MouStatus::Suspended, MouStatus::Revoked]),
                ..current
            },
            2 => current,
            3 => Mou {
                status: active,
                recipients: self.subset(&RECIPIENTS.map(org_id), 60),
                ..current
            },
            4 => Mou {
                status: active,
                indicator_types: self.scope(&TYPES),
                pii: self.pick(&[PiiRule::Redact, PiiRule::Share]),
                ..current
            },
            _ => Mou {
                status: active,
                content: self.subset(
                    &[
                        ContentPart::Indicators,
                        ContentPart::Narrative,
                        ContentPart::Victim,
                    ],
                    65,
                ),
                ..current
            },
        }
    }
}

/// What the views of one release release per agency: the values of the indicators of every view the agency is shown
/// or is an alternate for (the preview's measure before `accord_policy::reach`).
fn released(views: &[View]) -> BTreeMap<OrgId, BTreeSet<String>> {
    let mut by_agency: BTreeMap<OrgId, BTreeSet<String>> = BTreeMap::new();
    for view in views {
        let shown = view.grants.iter().map(|grant| &grant.agency);
        let alternates = view.alternates.iter().map(|alternate| &alternate.agency);
        for agency in shown.chain(alternates) {
            by_agency.entry(agency.clone()).or_default().extend(
                view.content
                    .indicators
                    .iter()
                    .map(|indicator| indicator.value.clone()),
            );
        }
    }
    by_agency
}

fn strs(values: &BTreeSet<String>) -> BTreeSet<&str> {
    values.iter().map(String::as_str).collect()
}

/// The answer of releasing every report twice in full, under `in_force` and under `with_draft`.
fn full_changes(
    reports: &[NormalizedReport],
    orgs: &HashMap<OrgId, Organization>,
    in_force: &[MouVersion],
    with_draft: &[MouVersion],
    now: Timestamp,
) -> Vec<AgencyChange> {
    let mut changes: BTreeMap<OrgId, AgencyChange> = BTreeMap::new();
    for report in reports {
        let before = released(&accord_policy::release(report, now, in_force, orgs));
        let after = released(&accord_policy::release(report, now, with_draft, orgs));
        for agency in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
            let change = changes
                .entry(agency.clone())
                .or_insert_with(|| AgencyChange {
                    agency: agency.to_string(),
                    ..AgencyChange::default()
                });
            let (old, new) = (before.get(agency).map(strs), after.get(agency).map(strs));
            change.count(&report.id, old.as_ref(), new.as_ref());
        }
    }
    changes
        .into_values()
        .filter(|change| {
            change.reports_becoming_visible
                + change.reports_withdrawn
                + change.indicators_becoming_visible
                + change.indicators_withdrawn
                > 0
        })
        .collect()
}

/// Stores `count` reports, retracts about one in eight; returns the store and the retracted ids.
fn stored(rng: &mut Rng, dir: &std::path::Path, count: usize) -> (ReportStore, Vec<ReportId>) {
    let store = ReportStore::open(dir).unwrap();
    let mut reports: Vec<NormalizedReport> = (0..count).map(|number| rng.report(number)).collect();
    store.put(&mut reports).unwrap();
    let mut retracted = Vec::new();
    for report in reports.iter().filter(|_| rng.chance(12)) {
        let retraction = Retraction {
            report_id: report.id.clone(),
            partner: report.partner.clone(),
            reason: RetractionReason::SentInError,
            detail: None,
            by: "tok".into(),
            at: ts("2026-06-01T00:00:00Z"),
        };
        store.retract(&retraction).unwrap();
        retracted.push(report.id.clone());
    }
    (store, retracted)
}

/// What one generated world shows: the preview's answer and the full one's.
struct Compared {
    fast: Value,
    full: Value,
    evaluated: usize,
    stored: usize,
}

fn compare(rng: &mut Rng, case: usize) -> (Compared, Vec<ReportId>) {
    let dir = tempfile::tempdir().unwrap();
    let (store, retracted) = stored(rng, dir.path(), 40);
    let in_force: Vec<MouVersion> = (0..=rng.0.below(4))
        .map(|index| MouVersion {
            reason: None,
            mou: rng.mou(&format!("mou-{index}")),
            version: u32::try_from(rng.0.below(3)).unwrap() + 1,
            changed_by: "tok".to_owned(),
            changed_at: ts("2026-01-01T00:00:00Z"),
        })
        .collect();
    let draft = rng.draft(&in_force);
    let current = in_force.iter().find(|version| version.mou.id == draft.id);
    let mut partners: BTreeSet<OrgId> = draft.providers.clone();
    partners.extend(
        current
            .iter()
            .flat_map(|current| current.mou.providers.clone()),
    );
    let now = rng.days(ts("2026-07-01T00:00:00Z"), 150);
    let draft = MouVersion {
        reason: None,
        version: current.map_or(1, |current| current.version + 1),
        mou: draft,
        changed_by: "tok".to_owned(),
        changed_at: now,
    };
    let sides = Sides::new(&in_force, current, draft.clone(), &partners, now);
    let mut with_draft: Vec<MouVersion> = in_force
        .iter()
        .filter(|version| version.mou.id != draft.mou.id)
        .cloned()
        .collect();
    with_draft.push(draft);
    let mut reports = Vec::new();
    for partner in &partners {
        reports.extend(store.by_partner(partner).unwrap());
    }
    let orgs = orgs();
    let parts = 1 + rng.0.index(3);
    let (evaluated, fast) = changes(&store, &partners, parts, &orgs, &sides).unwrap();
    let full = full_changes(&reports, &orgs, &in_force, &with_draft, now);
    let compared = Compared {
        fast: serde_json::to_value(fast).unwrap(),
        full: serde_json::to_value(full).unwrap(),
        evaluated,
        stored: reports.len(),
    };
    assert_eq!(compared.evaluated, compared.stored, "case {case}");
    (compared, retracted)
}

#[test]
fn the_preview_answers_what_releasing_every_report_twice_answers() {
    let seed = std::env::var("PREVIEW_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x0047_2026_1206_u64);
    println!("seed {seed} (PREVIEW_SEED replays it)");
    let mut rng = Rng(SplitMix64::new(seed));
    let (mut gained, mut withdrawn, mut indicators_only) = (0, 0, 0);
    for case in 0..150 {
        let (compared, retracted) = compare(&mut rng, case);
        assert_eq!(
            compared.fast, compared.full,
            "case {case} of seed {seed}: the preview differs from the full double release"
        );
        let text = compared.fast.to_string();
        for id in &retracted {
            assert!(!text.contains(id.as_str()), "retracted {id} in case {case}");
        }
        for change in compared.fast.as_array().unwrap() {
            gained += usize::from(change["reports_becoming_visible"] != 0);
            withdrawn += usize::from(change["reports_withdrawn"] != 0);
            indicators_only += usize::from(
                change["reports_becoming_visible"] == 0
                    && change["reports_withdrawn"] == 0
                    && (change["indicators_becoming_visible"] != 0
                        || change["indicators_withdrawn"] != 0),
            );
        }
    }
    println!(
        "agencies gaining {gained}, losing {withdrawn}, only indicators changing {indicators_only}"
    );
    // The generator must exercise every kind of change, not only "nothing changes".
    assert!(
        gained > 10 && withdrawn > 5 && indicators_only > 1,
        "gained {gained}, withdrawn {withdrawn}, indicator-only {indicators_only}"
    );
}
