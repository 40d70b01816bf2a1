//! Every bundle Accord's STIX export produces passes the OASIS `stix2-validator` with no errors.
//!
//! Generates random released views (every observable type, file hashes and names, certificate serials, CIDRs, values
//! full of characters a STIX pattern must escape, named and anonymous attribution, every TLP, with and without narrative, TTPs and victim), exports each as a
//! bundle plus one bundle of all of them (the shape of a TAXII collection), and has `tests/interop/stix_validate.py`
//! validate them.
//!
//! Needs `python3` with `stix2-validator` (`pip install stix2-validator`). Without it the test prints a notice and
//! passes, unless `ACCORD_REQUIRE_INTEROP=1` (set by scripts/test.sh and CI), in which case it fails.
//! `ACCORD_INTEROP_SEED=<u64>` replays a run.

#[path = "../common/python.rs"]
mod python;

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
    time::{SystemTime, UNIX_EPOCH},
};

use accord_domain::{
    Attribution, ContentPart, Grant, Indicator, ObservableType, OrgId, PiiRule, Profile, Purpose,
    ReportFacts, ReportId, Scope, Tlp, View, ViewContent,
    observable::canonicalize,
    report::{IndicatorSource, Victim},
};
use accord_stix::{
    export::{Release, bundle},
    observable_id,
};
use accord_testkit::{Component, available};
use chrono::{TimeDelta, TimeZone, Utc};

const NUM_VIEWS: usize = 60;

/// SplitMix64: a small deterministic generator, so a failing seed can be replayed.
struct Rng(accord_testkit::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    fn label(&mut self) -> String {
        let len = 1 + self.below(10) as usize;
        (0..len)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[self.below(36) as usize]))
            .collect()
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }

    /// Text with characters a STIX pattern literal or JSON must escape.
    fn nasty(&mut self) -> String {
        const PIECES: [&str; 12] = [
            "a", "'", "\\", "\"", "%27", "é", "😀", "\u{1}", " ", "]", "[", "中",
        ];
        let len = 1 + self.below(12) as usize;
        (0..len)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    /// A file name with characters a STIX pattern literal or JSON must escape (but no `/`, `\\` or control
    /// character, which a file name cannot have).
    fn file_name(&mut self) -> String {
        const PIECES: [&str; 10] = ["a", "'", "\"", "%27", "é", "😀", " ", "]", "[", "中"];
        let len = self.below(8) as usize;
        let middle: String = (0..len)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect();
        format!("{}{middle}.exe", self.label())
    }
}

fn indicator(rng: &mut Rng) -> Option<Indicator> {
    let kind = ObservableType::ALL[rng.below(ObservableType::ALL.len() as u64) as usize];
    let domain = format!("{}.{}.com", rng.label(), rng.label());
    let raw = match kind {
        ObservableType::Ipv4Addr => {
            let octets: Vec<String> = (0..4).map(|_| rng.below(256).to_string()).collect();
            let prefix = if rng.chance(3) {
                format!("/{}", rng.below(33))
            } else {
                String::new()
            };
            format!("{}{prefix}", octets.join("."))
        }
        ObservableType::Ipv6Addr => {
            let groups: Vec<String> = (0..8)
                .map(|_| format!("{:x}", rng.below(0x10000)))
                .collect();
            let prefix = if rng.chance(3) {
                format!("/{}", rng.below(129))
            } else {
                String::new()
            };
            format!("{}{prefix}", groups.join(":"))
        }
        ObservableType::DomainName => domain,
        ObservableType::Url => format!("https://{domain}/{}?q={}", rng.label(), rng.nasty()),
        ObservableType::EmailAddr => format!("{}@{domain}", rng.label()),
        ObservableType::File if rng.chance(2) => rng.file_name(),
        ObservableType::File => {
            let len = [32, 40, 64, 128][rng.below(4) as usize];
            rng.hex(len)
        }
        ObservableType::X509Certificate => {
            let len = 2 * (1 + rng.below(20) as usize);
            rng.hex(len)
        }
        ObservableType::Vulnerability => {
            format!("CVE-{}-{}", 2000 + rng.below(26), 1000 + rng.below(90_000))
        }
    };
    let (kind, value) = canonicalize(Some(kind), &raw).ok()?;
    Some(Indicator {
        id: observable_id(kind, &value),
        kind,
        value,
        source: IndicatorSource::Declared,
    })
}

fn view(rng: &mut Rng, index: usize) -> View {
    let received_at = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap()
        + TimeDelta::milliseconds(rng.below(10_000_000_000) as i64);
    let tlp = Tlp::ALL[rng.below(5) as usize];
    let attribution = if rng.chance(2) {
        Attribution::Anonymous
    } else {
        Attribution::Named
    };
    let narrative = !rng.chance(4);
    let indicators: Vec<Indicator> = if rng.chance(5) {
        Vec::new()
    } else {
        (0..rng.below(8)).filter_map(|_| indicator(rng)).collect()
    };
    let mut content = BTreeSet::from([ContentPart::Indicators]);
    if narrative {
        content.insert(ContentPart::Narrative);
    }
    let victim = rng.chance(3).then(|| Victim {
        name: rng.chance(2).then(|| rng.nasty()),
        email: Some(format!("{}@victim.example", rng.label())),
        phone: rng.chance(2).then(|| "+49 30 1234567".to_owned()),
        country: Some("DE".to_owned()),
        sector: Some("finance".to_owned()),
    });
    View {
        id: format!("view--{index}"),
        report_id: ReportId::random(),
        mous: vec![],
        grants: vec![Grant {
            agency: OrgId::parse("ncu-de").unwrap(),
            purpose: Purpose::Investigation,
        }],
        alternates: Vec::new(),
        valid_from: received_at,
        valid_until: received_at + TimeDelta::days(365),
        profile: Profile {
            content,
            pii: PiiRule::Redact,
            attribution,
            indicator_types: Scope::Any,
        },
        facts: ReportFacts {
            partner: OrgId::parse("bank-a").unwrap(),
            tlp,
            categories: vec!["phishing".to_owned()],
            sector: Some("finance".to_owned()),
            received_at,
            num_indicators: None,
            amended_at: None,
        },
        content: ViewContent {
            partner: match attribution {
                Attribution::Anonymous => "anonymous".to_owned(),
                Attribution::Named => "bank-a".to_owned(),
            },
            tlp,
            occurred_at: received_at - TimeDelta::hours(rng.below(1000) as i64),
            categories: (0..rng.below(3)).map(|_| rng.label()).collect(),
            sector: rng.chance(2).then(|| "finance".to_owned()),
            title: narrative.then(|| rng.nasty()),
            description: narrative.then(|| rng.nasty()),
            ttps: narrative.then(|| vec!["T1566.002".to_owned(), "T1059".to_owned(), rng.nasty()]),
            indicators,
            victim,
        },
    }
}

fn validator_available() -> bool {
    Command::new("python3")
        .args(["-c", "import stix2validator"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn every_exported_bundle_passes_the_oasis_validator() {
    if !available(
        Component::Interop,
        validator_available(),
        "`python3 -c 'import stix2validator'` fails",
        "pip install stix2-validator (scripts/test.sh does)",
    ) {
        return;
    }
    let seed = match std::env::var("ACCORD_INTEROP_SEED") {
        Ok(seed) => seed.parse().expect("ACCORD_INTEROP_SEED is a u64"),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|time| time.as_nanos() as u64)
            .unwrap_or(1),
    };
    let mut rng = Rng(accord_testkit::SplitMix64::new(seed));
    let views: Vec<View> = (0..NUM_VIEWS).map(|index| view(&mut rng, index)).collect();
    let releases: Vec<Release<'_>> = views
        .iter()
        .map(|view| Release {
            view,
            released_at: view.facts.received_at + TimeDelta::seconds(5),
        })
        .collect();
    let mut bundles: Vec<serde_json::Value> = releases
        .iter()
        .map(|release| bundle(std::slice::from_ref(release)))
        .collect();
    bundles.push(bundle(&releases));

    let mut input = String::new();
    for bundle in &bundles {
        input.push_str(&bundle.to_string());
        input.push('\n');
    }
    let stdout = python::run_script("stix_validate.py", input, seed);
    let results: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON result per line"))
        .collect();
    assert_eq!(
        results.len(),
        bundles.len(),
        "one result per bundle (seed {seed})"
    );
    for (bundle, result) in bundles.iter().zip(&results) {
        assert_eq!(
            result["valid"], true,
            "stix2-validator errors (seed {seed}): {}\nbundle: {bundle}",
            result["errors"]
        );
    }
    if let Some(warnings) = results
        .last()
        .and_then(|result| result["warnings"].as_array())
        && !warnings.is_empty()
    {
        eprintln!("stix2-validator warnings on the combined bundle: {warnings:?}");
    }
}
