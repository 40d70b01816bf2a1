//! Random worlds: organizations, MoUs (every field of policy-model.md; every agency named by 2–4 MoUs, so that
//! MoUs overlap) and normalized reports (indicators written into the text in several spellings, with their
//! positions; sometimes no positions, or invalid ones), and random changes to a world (revoke, suspend, narrow,
//! widen, re-date, an agency moving country, a new MoU).

use std::collections::BTreeSet;

use accord_domain::{
    Attribution, ContentPart, Indicator, IndicatorSource, IndicatorSpan, Mou, MouId, MouStatus,
    MouVersion, NormalizedReport, ObservableType, OrgId, OrgKind, Organization, PiiKind, PiiMatch,
    PiiRule, Purpose, ReportId, Scope, TextField, Timestamp, Tlp, Victim, observable,
};
use chrono::{Duration, TimeZone, Utc};

use crate::rng::Rng;

pub const CATEGORIES: [&str; 5] = ["phishing", "ransomware", "ddos", "fraud", "malware"];
pub const SECTORS: [&str; 4] = ["finance", "telecom", "digital-infrastructure", "energy"];
pub const COUNTRIES: [&str; 4] = ["DE", "FR", "NL", "US"];
/// Words of titles and descriptions; free-text queries use them. None of them occurs in a PII piece.
pub const WORDS: [&str; 8] = [
    "credential",
    "botnet",
    "wiper",
    "invoice",
    "beacon",
    "loader",
    "exfiltration",
    "skimmer",
];
const TTPS: [&str; 4] = ["T1566.002", "T1486", "T1498", "T1059.001"];

pub struct World {
    pub number: u64,
    /// The evaluation time of the world (the enforcer evaluates, the investigator asks, at `t0` unless a query
    /// travels in time).
    pub t0: Timestamp,
    pub orgs: Vec<Organization>,
    /// Latest version of each MoU.
    pub mous: Vec<MouVersion>,
    /// Every MoU version the world ever had (views rendered under an older one may still be indexed).
    pub history: Vec<Mou>,
    pub reports: Vec<NormalizedReport>,
    /// Every canonical indicator value the world's reports use, with its type.
    pub pool: Vec<(ObservableType, String)>,
}

impl World {
    pub fn agencies(&self) -> Vec<&Organization> {
        self.orgs
            .iter()
            .filter(|org| org.kind == OrgKind::Agency)
            .collect()
    }

    pub fn report(&self, id: &str) -> Option<&NormalizedReport> {
        self.reports.iter().find(|report| report.id.as_str() == id)
    }

    /// Every instant at which some MoU or retention period of this world starts or ends.
    pub fn boundaries(&self) -> Vec<Timestamp> {
        let mut out = Vec::new();
        for version in &self.mous {
            out.push(version.mou.effective_from);
            out.push(version.mou.expires_at);
            for report in &self.reports {
                out.push(
                    report.received_at + Duration::days(i64::from(version.mou.retention_days)),
                );
            }
        }
        out
    }
}

fn org_id(value: &str) -> OrgId {
    OrgId::parse(value).unwrap()
}

fn scope(rng: &mut Rng, values: &[&str], any_percent: u64) -> Scope {
    if rng.chance(any_percent) {
        return Scope::Any;
    }
    Scope::Only(
        rng.subset(values)
            .into_iter()
            .map(|value| {
                // Coordinators may write either case: the comparison ignores ASCII case.
                if rng.chance(15) {
                    value.to_ascii_uppercase()
                } else {
                    value.to_owned()
                }
            })
            .collect(),
    )
}

fn country_scope(rng: &mut Rng) -> Scope {
    if rng.chance(60) {
        return Scope::Any;
    }
    Scope::Only(
        rng.subset(&COUNTRIES)
            .into_iter()
            .map(|country| {
                if rng.chance(15) {
                    country.to_ascii_lowercase()
                } else {
                    country.to_owned()
                }
            })
            .collect(),
    )
}

fn random_mou(
    rng: &mut Rng,
    id: String,
    t0: Timestamp,
    partners: &[OrgId],
    agencies: &[OrgId],
) -> Mou {
    let mut providers: BTreeSet<OrgId> = rng.subset(partners).into_iter().collect();
    if providers.is_empty() {
        providers.insert(rng.pick(partners).clone());
    }
    let mut recipients: BTreeSet<OrgId> = rng.subset(agencies).into_iter().collect();
    if recipients.is_empty() {
        recipients.insert(rng.pick(agencies).clone());
    }
    if rng.chance(5) {
        // Fail closed: a recipient the directory does not know, or a partner named as recipient.
        recipients.insert(if rng.chance(50) {
            org_id("ghost-agency")
        } else {
            rng.pick(partners).clone()
        });
    }
    let effective_from = if rng.chance(85) {
        t0 - Duration::days(rng.range(0, 400)) - Duration::seconds(rng.range(0, 86_399))
    } else {
        t0 + Duration::days(rng.range(0, 30)) + Duration::seconds(rng.range(1, 86_399))
    };
    let expires_at = if rng.chance(10) {
        // Already expired (but after it took effect).
        let span = (t0 - effective_from).num_seconds().max(2);
        effective_from + Duration::seconds(rng.range(1, span))
    } else {
        effective_from
            + Duration::days(rng.range(30, 900))
            + Duration::seconds(rng.range(0, 86_399))
    };
    let expires_at = expires_at.max(effective_from + Duration::seconds(1));
    let all_parts = [
        ContentPart::Indicators,
        ContentPart::Narrative,
        ContentPart::Victim,
    ];
    let mut content: BTreeSet<ContentPart> = rng.subset(&all_parts).into_iter().collect();
    if content.is_empty() && rng.chance(80) {
        content.insert(ContentPart::Indicators);
    }
    let types: Vec<&str> = ObservableType::ALL
        .iter()
        .map(|kind| kind.as_str())
        .collect();
    let mut purposes: BTreeSet<Purpose> = Purpose::ALL
        .iter()
        .filter(|_| rng.chance(70))
        .copied()
        .collect();
    if purposes.is_empty() && rng.chance(80) {
        purposes.insert(*rng.pick(&Purpose::ALL));
    }
    Mou {
        id: MouId::parse(&id).unwrap(),
        title: format!("MoU {id}"),
        status: match rng.below(10) {
            0 => MouStatus::Suspended,
            1 => MouStatus::Revoked,
            _ => MouStatus::Active,
        },
        providers,
        recipients,
        effective_from,
        expires_at,
        max_tlp: *rng.pick(&[Tlp::Green, Tlp::Amber, Tlp::AmberStrict, Tlp::Red, Tlp::Red]),
        content,
        categories: scope(rng, &CATEGORIES, 70),
        sectors: scope(rng, &SECTORS, 75),
        indicator_types: scope(rng, &types, 50),
        purposes,
        pii: if rng.chance(50) {
            PiiRule::Redact
        } else {
            PiiRule::Share
        },
        attribution: if rng.chance(50) {
            Attribution::Anonymous
        } else {
            Attribution::Named
        },
        feedback: Default::default(),
        recipient_countries: country_scope(rng),
        retention_days: if rng.chance(30) {
            rng.range(1, 400) as u32
        } else {
            rng.range(400, 2000) as u32
        },
    }
}

fn version(mou: Mou, number: u32, t0: Timestamp) -> MouVersion {
    MouVersion {
        reason: None,
        mou,
        version: number,
        changed_by: "differential".to_owned(),
        changed_at: t0,
    }
}

fn raw_indicator(rng: &mut Rng, world: u64) -> (ObservableType, String) {
    let k = rng.below(6);
    match rng.below(9) {
        0 | 1 => (
            ObservableType::Ipv4Addr,
            format!("10.{}.{}.{}", rng.below(2) + 1, rng.below(2) + 1, k + 1),
        ),
        2 => (
            ObservableType::Ipv4Addr,
            if rng.chance(50) {
                format!("10.{}.{}.0/24", rng.below(2) + 1, rng.below(2) + 1)
            } else {
                format!("10.{}.0.0/16", rng.below(2) + 1)
            },
        ),
        3 => (ObservableType::Ipv6Addr, format!("2001:db8::{:x}", k + 1)),
        4 => (
            ObservableType::DomainName,
            format!("evil{k}.w{world}.example"),
        ),
        5 => (
            ObservableType::Url,
            format!("https://evil{k}.w{world}.example/login{}", rng.below(3)),
        ),
        6 => (
            ObservableType::EmailAddr,
            format!("attacker{k}@evil.w{world}.example"),
        ),
        7 => (
            ObservableType::File,
            format!("{:016x}{:016x}{:016x}{:016x}", world, k, 7, 7),
        ),
        _ => (
            ObservableType::Vulnerability,
            format!("CVE-2024-{}", 1000 + k),
        ),
    }
}

fn canonical(kind: ObservableType, raw: &str) -> (ObservableType, String) {
    observable::canonicalize(Some(kind), raw)
        .unwrap_or_else(|error| panic!("generator made a bad {kind} `{raw}`: {error}"))
}

/// Returns how an indicator may be written in prose: canonical, defanged, or in other case.
fn spelling(rng: &mut Rng, kind: ObservableType, value: &str) -> String {
    match kind {
        ObservableType::Ipv4Addr if !value.contains('/') && rng.chance(50) => {
            value.replace('.', "[.]")
        }
        ObservableType::DomainName if rng.chance(30) => value.replacen('.', "[.]", 1),
        ObservableType::DomainName if rng.chance(30) => value.to_ascii_uppercase(),
        ObservableType::Url if rng.chance(50) => value.replacen("https", "hxxps", 1),
        ObservableType::EmailAddr if rng.chance(30) => value.replacen('@', "[@]", 1),
        ObservableType::File if rng.chance(50) => value.to_ascii_uppercase(),
        ObservableType::Vulnerability if rng.chance(30) => value.to_ascii_lowercase(),
        _ => value.to_owned(),
    }
}

/// What a text field is built from and records.
struct TextParts<'a> {
    pii: &'a mut Vec<PiiMatch>,
    found_emails: &'a mut Vec<String>,
    spans: &'a mut Vec<IndicatorSpan>,
    /// Indicators of the report that may be written into the text.
    embeddable: &'a [(ObservableType, String)],
}

/// Builds a free-text field from words, PII pieces and indicators of the report, recording the PII ranges
/// (sometimes invalid ones) and where each indicator is written.
fn text_field(rng: &mut Rng, field: TextField, parts: &mut TextParts<'_>) -> String {
    let mut text = String::new();
    let num_pieces = rng.range(1, 6);
    for _ in 0..num_pieces {
        if !text.is_empty() {
            text.push(' ');
        }
        let start = text.len();
        let kind = match rng.below(8) {
            0 => Some(PiiKind::Email),
            1 => Some(PiiKind::Phone),
            2 => Some(PiiKind::Name),
            _ => None,
        };
        match kind {
            Some(PiiKind::Email) => {
                let email = format!("jane.doe{}@victim.example", rng.below(4));
                text.push_str(&email);
                parts.spans.push(IndicatorSpan {
                    field,
                    start,
                    end: text.len(),
                    kind: ObservableType::EmailAddr,
                    value: email.clone(),
                });
                parts.found_emails.push(email);
            }
            Some(PiiKind::Phone) => text.push_str(&format!("+49 30 555{:04}", rng.below(10_000))),
            Some(PiiKind::Name) => {
                let name: &&str = rng.pick(&["Erika Müller", "Jean Dupont", "Zoë Smith"]);
                text.push_str(name)
            }
            None if !parts.embeddable.is_empty() && rng.chance(45) => {
                let (indicator_kind, value) = rng.pick(parts.embeddable).clone();
                text.push_str(&spelling(rng, indicator_kind, &value));
                parts.spans.push(IndicatorSpan {
                    field,
                    start,
                    end: text.len(),
                    kind: indicator_kind,
                    value,
                });
            }
            Some(PiiKind::Iban | PiiKind::Card | PiiKind::Account) => {
                unreachable!("worlds place only e-mail addresses, phone numbers and names")
            }
            None => {
                let word: &&str = rng.pick(&WORDS);
                text.push_str(word)
            }
        }
        if let Some(kind) = kind {
            parts.pii.push(PiiMatch {
                kind,
                field,
                start,
                end: text.len(),
            });
        }
    }
    if rng.chance(6) {
        // A range the renderer must not trust: past the end, empty, overlapping, or off a char boundary.
        let len = text.len();
        let (start, end) = match rng.below(4) {
            0 => (len.saturating_sub(2), len + 3),
            1 => (1, 1),
            2 => (0, len.min(3)),
            _ => match text.char_indices().find(|(_, c)| c.len_utf8() > 1) {
                Some((at, _)) => (at + 1, at + 2),
                None => (len, len + 1),
            },
        };
        parts.pii.push(PiiMatch {
            kind: PiiKind::Name,
            field,
            start,
            end,
        });
        if rng.chance(50) {
            parts.pii.push(PiiMatch {
                kind: PiiKind::Phone,
                field,
                start: 0,
                end: len.min(2),
            });
        }
    }
    text
}

fn random_report(
    rng: &mut Rng,
    world: u64,
    number: usize,
    t0: Timestamp,
    partners: &[OrgId],
    pool: &mut Vec<(ObservableType, String)>,
) -> NormalizedReport {
    let received_at =
        t0 - Duration::days(rng.range(0, 900)) - Duration::seconds(rng.range(0, 86_399));
    let occurred_at =
        received_at - Duration::days(rng.range(0, 30)) - Duration::seconds(rng.range(0, 86_399));
    let mut indicators: Vec<Indicator> = Vec::new();
    let mut push = |kind: ObservableType, value: String, source: IndicatorSource| {
        if indicators
            .iter()
            .any(|known| known.kind == kind && known.value == value)
        {
            return;
        }
        indicators.push(Indicator {
            id: format!("{kind}--{:08x}-{world}-{number}", indicators.len()),
            kind,
            value,
            source,
        });
    };
    let mut embeddable = Vec::new();
    for _ in 0..rng.range(0, 6) {
        let (kind, raw) = raw_indicator(rng, world);
        let (kind, value) = canonical(kind, &raw);
        let source = if rng.chance(80) {
            IndicatorSource::Declared
        } else {
            IndicatorSource::Text
        };
        push(kind, value.clone(), source);
        embeddable.push((kind, value.clone()));
        if !pool.contains(&(kind, value.clone())) {
            pool.push((kind, value));
        }
    }
    let mut pii = Vec::new();
    let mut found_emails = Vec::new();
    let mut spans = Vec::new();
    let mut parts = TextParts {
        pii: &mut pii,
        found_emails: &mut found_emails,
        spans: &mut spans,
        embeddable: &embeddable,
    };
    let title = text_field(rng, TextField::Title, &mut parts);
    let description = text_field(rng, TextField::Description, &mut parts);
    for email in found_emails {
        let (kind, value) = canonical(ObservableType::EmailAddr, &email);
        push(kind, value.clone(), IndicatorSource::Text);
        if !pool.contains(&(kind, value.clone())) {
            pool.push((kind, value));
        }
    }
    let indicator_spans = match rng.below(100) {
        // A record from before positions were kept.
        0..=4 => None,
        5..=7 => {
            // A position the renderer must not trust.
            spans.push(IndicatorSpan {
                field: TextField::Description,
                start: description.len(),
                end: description.len() + 4,
                kind: ObservableType::DomainName,
                value: "never-released.example".to_owned(),
            });
            Some(spans)
        }
        _ => Some(spans),
    };
    let mut categories: Vec<String> = rng
        .subset(&CATEGORIES)
        .into_iter()
        .take(2)
        .map(str::to_owned)
        .collect();
    categories.sort();
    let uuid_hi = rng.next_u64();
    let uuid_lo = rng.next_u64();
    let id = format!(
        "report--{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (uuid_hi >> 32) as u32,
        (uuid_hi >> 16) as u16,
        uuid_hi & 0xfff,
        (uuid_lo >> 48) & 0xfff,
        uuid_lo & 0xffff_ffff_ffff
    );
    NormalizedReport {
        revision: None,
        id: ReportId::parse(&id).unwrap(),
        partner: rng.pick(partners).clone(),
        received_at,
        occurred_at,
        tlp: *rng.pick(&[
            Tlp::Clear,
            Tlp::Green,
            Tlp::Green,
            Tlp::Amber,
            Tlp::Amber,
            Tlp::AmberStrict,
            Tlp::Red,
        ]),
        title,
        description,
        categories,
        sector: rng.chance(80).then(|| rng.pick(&SECTORS).to_string()),
        ttps: rng.subset(&TTPS).into_iter().map(str::to_owned).collect(),
        victim: rng.chance(40).then(|| Victim {
            name: Some("Erika Müller".to_owned()),
            email: Some(format!("erika{}@victim.example", rng.below(9))),
            phone: rng.chance(50).then(|| "+49 30 5550000".to_owned()),
            country: Some(rng.pick(&COUNTRIES).to_string()),
            sector: None,
        }),
        indicators,
        pii,
        indicator_spans,
        indicator_pii: Vec::new(),
    }
}

/// Generates world `number` from its seed.
pub fn generate(rng: &mut Rng, number: u64) -> World {
    let base = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let t0 = base + Duration::seconds(rng.range(0, 400 * 86_400));
    let num_partners = rng.range(1, 3) as usize;
    let num_agencies = rng.range(1, 4) as usize;
    let mut orgs = Vec::new();
    let mut partners = Vec::new();
    let mut agencies = Vec::new();
    for index in 0..num_partners {
        let id = org_id(&format!("w{number}-bank-{index}"));
        partners.push(id.clone());
        orgs.push(Organization {
            id,
            name: format!("Bank {index}"),
            kind: OrgKind::Partner,
            country: rng.pick(&COUNTRIES).to_string(),
            sector: Some(rng.pick(&SECTORS).to_string()),
            default_tlp: None,
            created_at: t0,
        });
    }
    for index in 0..num_agencies {
        let id = org_id(&format!("w{number}-ncu-{index}"));
        agencies.push(id.clone());
        orgs.push(Organization {
            id,
            name: format!("Agency {index}"),
            kind: OrgKind::Agency,
            country: rng.pick(&COUNTRIES).to_string(),
            sector: None,
            default_tlp: None,
            created_at: t0,
        });
    }
    // Every agency is named by 2–4 MoUs (some name other agencies too), so that MoUs overlap.
    let mut mous: Vec<MouVersion> = Vec::new();
    for agency in &agencies {
        for _ in 0..rng.range(2, 4) {
            let mut mou = random_mou(
                rng,
                format!("w{number}-mou-{}", mous.len()),
                t0,
                &partners,
                &agencies,
            );
            mou.recipients.insert(agency.clone());
            if rng.chance(50) {
                // Widely granting, so that several MoUs grant the same report and their terms decide.
                mou.status = MouStatus::Active;
                mou.categories = Scope::Any;
                mou.sectors = Scope::Any;
                mou.max_tlp = Tlp::Red;
            }
            mous.push(version(mou, 1, t0));
        }
    }
    let history = mous.iter().map(|version| version.mou.clone()).collect();
    let mut pool = Vec::new();
    let reports = (0..rng.range(3, 12) as usize)
        .map(|index| random_report(rng, number, index, t0, &partners, &mut pool))
        .collect();
    World {
        number,
        t0,
        orgs,
        mous,
        history,
        reports,
        pool,
    }
}

/// Applies one to three random changes, each as the admin service would publish it (a new MoU version, or a changed
/// organization), and returns what changed, for failure messages.
pub fn mutate(rng: &mut Rng, world: &mut World) -> Vec<String> {
    let mut changes = Vec::new();
    let partners: Vec<OrgId> = world
        .orgs
        .iter()
        .filter(|org| org.kind == OrgKind::Partner)
        .map(|org| org.id.clone())
        .collect();
    let agencies: Vec<OrgId> = world.agencies().iter().map(|org| org.id.clone()).collect();
    for _ in 0..rng.range(1, 3) {
        let choice = rng.below(12);
        if choice == 0 {
            let index = rng.below(world.orgs.len());
            let org = &mut world.orgs[index];
            if org.kind == OrgKind::Agency {
                org.country = rng.pick(&COUNTRIES).to_string();
                changes.push(format!("{} moved to {}", org.id, org.country));
            }
            continue;
        }
        if choice == 1 {
            let id = format!("w{}-mou-{}", world.number, world.mous.len());
            let mou = random_mou(rng, id.clone(), world.t0, &partners, &agencies);
            world.history.push(mou.clone());
            world.mous.push(version(mou, 1, world.t0));
            changes.push(format!("{id} created"));
            continue;
        }
        let index = rng.below(world.mous.len());
        let current = &world.mous[index];
        if current.mou.status == MouStatus::Revoked {
            continue;
        }
        let mut mou = current.mou.clone();
        let what = match choice {
            2 => {
                mou.status = MouStatus::Revoked;
                "revoked"
            }
            3 => {
                mou.status = MouStatus::Suspended;
                "suspended"
            }
            4 => {
                mou.status = MouStatus::Active;
                "reactivated"
            }
            5 => {
                mou.content = rng
                    .subset(&mou.content.iter().copied().collect::<Vec<_>>())
                    .into_iter()
                    .collect();
                "content narrowed"
            }
            6 => {
                mou.pii = PiiRule::Redact;
                mou.attribution = Attribution::Anonymous;
                "pii redact, anonymous"
            }
            7 => {
                mou.expires_at = world.t0 + Duration::seconds(rng.range(-86_400, 86_400));
                mou.expires_at = mou
                    .expires_at
                    .max(mou.effective_from + Duration::seconds(1));
                "expiry moved near t0"
            }
            8 => {
                mou.retention_days = rng.range(1, 400) as u32;
                "retention changed"
            }
            9 => {
                mou.purposes = rng
                    .subset(&mou.purposes.iter().copied().collect::<Vec<_>>())
                    .into_iter()
                    .collect();
                mou.recipient_countries = country_scope(rng);
                "purposes and countries changed"
            }
            10 => {
                let types: Vec<&str> = ObservableType::ALL
                    .iter()
                    .map(|kind| kind.as_str())
                    .collect();
                mou.indicator_types = scope(rng, &types, 30);
                mou.max_tlp = *rng.pick(&Tlp::ALL);
                "indicator types and max_tlp changed"
            }
            _ => {
                mou.content = [
                    ContentPart::Indicators,
                    ContentPart::Narrative,
                    ContentPart::Victim,
                ]
                .into();
                mou.pii = PiiRule::Share;
                mou.attribution = Attribution::Named;
                mou.categories = Scope::Any;
                mou.sectors = Scope::Any;
                "widened"
            }
        };
        changes.push(format!("{} v{} {what}", mou.id, current.version + 1));
        let next = current.version + 1;
        world.history.push(mou.clone());
        world.mous[index] = version(mou, next, world.t0);
    }
    changes
}
