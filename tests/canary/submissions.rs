//! Canaries and submissions that carry them: native reports, STIX 2.1 bundles and MISP events.
//!
//! A canary is a piece of personal data the detectors must recognize, made unique per case (random digits, a random
//! hex local part), so that finding its secret anywhere in an agency's view can only mean a leak. Each field of a
//! submission gets a canary of a kind drawn at random, in a phrasing that fits the field.

use rand::{Rng, rngs::StdRng};
use serde_json::{Value, json};

/// Given names and surnames from the shipped lists (a canary must be detectable to test the pipeline, not the lists).
const GIVEN: [&str; 8] = [
    "Anna", "Thomas", "Maria", "Lukas", "Sarah", "Pierre", "Julia", "Daniel",
];
const SURNAMES: [&str; 8] = [
    "Kowalski",
    "Schneider",
    "Rossi",
    "Johnson",
    "Dubois",
    "Nowak",
    "Fischer",
    "Wagner",
];

/// The kinds of canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Email,
    Phone,
    Iban,
    Card,
    Account,
    NameCued,
    NamePlain,
    UrlEmail,
    UrlAccount,
    FileName,
}

pub(crate) const KINDS: [Kind; 10] = [
    Kind::Email,
    Kind::Phone,
    Kind::Iban,
    Kind::Card,
    Kind::Account,
    Kind::NameCued,
    Kind::NamePlain,
    Kind::UrlEmail,
    Kind::UrlAccount,
    Kind::FileName,
];

/// One canary: how it is written in text, in an indicator, and the secrets that must never reach a redacted view.
#[derive(Debug, Clone)]
pub(crate) struct Canary {
    pub(crate) kind: Kind,
    pub(crate) text: String,
    pub(crate) indicator: (&'static str, String),
    pub(crate) secrets: Vec<String>,
    /// The host of its URL indicator, which a redacted view still releases.
    pub(crate) host: String,
}

fn hex(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap())
        .collect()
}

fn digits(rng: &mut StdRng, len: usize) -> String {
    let first = char::from_digit(rng.random_range(1..10), 10).unwrap();
    std::iter::once(first)
        .chain((1..len).map(|_| char::from_digit(rng.random_range(0..10), 10).unwrap()))
        .collect()
}

fn iban(rng: &mut StdRng) -> String {
    let bban = digits(rng, 18);
    let numeric = format!("{bban}131400");
    let remainder = numeric
        .bytes()
        .fold(0u32, |acc, byte| (acc * 10 + u32::from(byte - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - remainder)
}

fn card(rng: &mut StdRng) -> String {
    let mut number: Vec<u32> = std::iter::once(4)
        .chain((0..14).map(|_| rng.random_range(0..10)))
        .collect();
    let sum: u32 = number
        .iter()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            if position % 2 == 0 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                *digit
            }
        })
        .sum();
    number.push((10 - sum % 10) % 10);
    number.iter().map(|digit| digit.to_string()).collect()
}

fn name(rng: &mut StdRng) -> (&'static str, &'static str) {
    (
        GIVEN[rng.random_range(0..GIVEN.len())],
        SURNAMES[rng.random_range(0..SURNAMES.len())],
    )
}

fn name_secrets(given: &str, surname: &str) -> Vec<String> {
    ["", " ", "_", "-", "+", "%20"]
        .iter()
        .map(|separator| format!("{given}{separator}{surname}"))
        .collect()
}

/// Returns a fresh canary of `kind`.
pub(crate) fn canary(rng: &mut StdRng, kind: Kind) -> Canary {
    let host = format!("evil-{}.example", hex(rng, 8));
    let email = format!("c{}@victim-{}.example", hex(rng, 12), hex(rng, 4));
    let local = email.split('@').next().unwrap().to_owned();
    let (text, indicator, secrets) = match kind {
        Kind::Email => (
            format!("the victim wrote from {email}"),
            ("url", format!("https://{host}/u/{email}/")),
            vec![local],
        ),
        Kind::Phone => {
            let subscriber = digits(rng, 7);
            let phone = format!("+49 30 {subscriber}");
            let url = format!("https://{host}/c?phone={}", phone.replace(' ', "+"));
            (format!("call {phone} now"), ("url", url), vec![subscriber])
        }
        Kind::Iban => {
            let iban = iban(rng);
            let url = format!("https://{host}/pay?iban={iban}");
            (
                format!("transfer to {iban} today"),
                ("url", url),
                vec![iban],
            )
        }
        Kind::Card => {
            let card = card(rng);
            let url = format!("https://{host}/p?card={card}");
            (format!("card {card} was used"), ("url", url), vec![card])
        }
        Kind::Account | Kind::UrlAccount => {
            let number = digits(rng, 9);
            let url = format!("https://{host}/pay?acct={number}");
            let text = if kind == Kind::Account {
                format!("account number: {number} was emptied")
            } else {
                format!("the kit at {url} collected it")
            };
            (text, ("url", url), vec![number])
        }
        Kind::NameCued | Kind::NamePlain => {
            let (given, surname) = name(rng);
            let text = if kind == Kind::NameCued {
                format!("Contact: {given} {surname}")
            } else {
                format!("the customer {given} {surname} lost funds")
            };
            let url = format!("https://{host}/profile/{given}-{surname}/");
            (text, ("url", url), name_secrets(given, surname))
        }
        Kind::UrlEmail => {
            let url = format!("https://{host}/login?email={email}");
            (
                format!("the kit at {url} was live"),
                ("url", url),
                vec![local],
            )
        }
        Kind::FileName => {
            let (given, surname) = name(rng);
            let file = format!("Invoice_{given}_{surname}.pdf");
            (
                format!("the victim opened {file} twice"),
                ("file", file),
                name_secrets(given, surname),
            )
        }
    };
    Canary {
        kind,
        text,
        indicator,
        secrets,
        host,
    }
}

/// A submission and the canaries placed in it, by field.
pub(crate) struct Submission {
    pub(crate) format: accord_domain::ReportFormat,
    pub(crate) payload: Value,
    pub(crate) placed: Vec<(&'static str, Canary)>,
}

/// Draws a canary of a random kind for `field`, remembering where it went.
fn place(
    rng: &mut StdRng,
    placed: &mut Vec<(&'static str, Canary)>,
    field: &'static str,
) -> Canary {
    let kind = KINDS[rng.random_range(0..KINDS.len())];
    let drawn = canary(rng, kind);
    placed.push((field, drawn.clone()));
    drawn
}

/// As [`place`], with a text of at most `max` characters (drawn again until one fits; a phone canary is short).
fn place_within(
    rng: &mut StdRng,
    placed: &mut Vec<(&'static str, Canary)>,
    field: &'static str,
    max: usize,
) -> Canary {
    let draw = |rng: &mut StdRng| {
        let kind = KINDS[rng.random_range(0..KINDS.len())];
        canary(rng, kind)
    };
    let mut drawn = draw(rng);
    for _ in 0..16 {
        if drawn.text.chars().count() <= max {
            break;
        }
        drawn = draw(rng);
    }
    if drawn.text.chars().count() > max {
        drawn = canary(rng, Kind::Phone);
    }
    placed.push((field, drawn.clone()));
    drawn
}

/// The STIX pattern that compares the canary's indicator.
fn stix_pattern(canary: &Canary) -> String {
    match canary.indicator.0 {
        "file" => format!("[file:name = '{}']", canary.indicator.1),
        _ => format!("[url:value = '{}']", canary.indicator.1),
    }
}

/// A native report with a canary in every field.
pub(crate) fn native(rng: &mut StdRng) -> Submission {
    let mut placed = Vec::new();
    let title = place(rng, &mut placed, "title").text;
    let description = format!(
        "{}. Then {}.",
        place(rng, &mut placed, "description").text,
        place(rng, &mut placed, "description").text
    );
    let category = place(rng, &mut placed, "categories").text;
    let sector = place(rng, &mut placed, "sector").text;
    let declared = place(rng, &mut placed, "indicators");
    let file = canary(rng, Kind::FileName);
    placed.push(("indicators", file.clone()));
    let pattern = place(rng, &mut placed, "patterns");
    let victim = [
        place(rng, &mut placed, "victim"),
        place(rng, &mut placed, "victim"),
        // The schema bounds a victim's phone at 64 characters: a longer text would refuse the whole report.
        place_within(rng, &mut placed, "victim", 64),
    ];
    let payload = json!({
        "title": title,
        "description": description,
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "amber",
        "classification": "unclassified",
        "categories": ["phishing", category],
        "sector": sector,
        "indicators": [
            { "type": declared.indicator.0, "value": declared.indicator.1 },
            { "type": "file", "value": file.indicator.1 },
            { "type": "ipv4-addr", "value": "45.155.205.172" },
        ],
        "patterns": [{ "pattern": stix_pattern(&pattern) }],
        "victim": { "name": victim[0].text, "email": victim[1].text, "phone": victim[2].text },
    });
    Submission {
        format: accord_domain::ReportFormat::Native,
        payload,
        placed,
    }
}

/// A STIX 2.1 bundle with a canary in the report's name, description and labels, a malware's name and description,
/// an indicator's pattern, URL and file observables and an identity.
pub(crate) fn stix(rng: &mut StdRng) -> Submission {
    let mut placed = Vec::new();
    let id = |rng: &mut StdRng, kind: &str| {
        format!(
            "{kind}--{}-{}-4{}-a{}-{}",
            hex(rng, 8),
            hex(rng, 4),
            hex(rng, 3),
            hex(rng, 3),
            hex(rng, 12)
        )
    };
    let (name, description, label) = (
        place(rng, &mut placed, "report.name").text,
        place(rng, &mut placed, "report.description").text,
        place(rng, &mut placed, "report.labels").text,
    );
    let (malware_name, malware_description) = (
        place(rng, &mut placed, "malware.name").text,
        place(rng, &mut placed, "malware.description").text,
    );
    let pattern = place(rng, &mut placed, "indicator.pattern");
    let url = canary(rng, Kind::UrlEmail);
    placed.push(("url", url.clone()));
    let file = canary(rng, Kind::FileName);
    placed.push(("file", file.clone()));
    let identity = place(rng, &mut placed, "identity.name").text;
    let common = json!({ "spec_version": "2.1", "created": "2026-11-20T08:00:00.000Z", "modified": "2026-11-20T08:00:00.000Z" });
    let with = |mut object: Value| {
        for (key, value) in common.as_object().unwrap() {
            object[key] = value.clone();
        }
        object
    };
    let objects = vec![
        with(
            json!({ "type": "report", "id": id(rng, "report"), "name": name, "description": description,
            "published": "2026-11-20T08:00:00.000Z", "report_types": ["threat-report"], "labels": ["phishing", label], "object_refs": [] }),
        ),
        with(
            json!({ "type": "malware", "id": id(rng, "malware"), "name": malware_name, "description": malware_description,
            "is_family": false, "malware_types": ["trojan"] }),
        ),
        with(
            json!({ "type": "indicator", "id": id(rng, "indicator"), "pattern": stix_pattern(&pattern),
            "pattern_type": "stix", "valid_from": "2026-11-20T08:00:00.000Z" }),
        ),
        json!({ "type": "url", "spec_version": "2.1", "id": id(rng, "url"), "value": url.indicator.1 }),
        json!({ "type": "file", "spec_version": "2.1", "id": id(rng, "file"), "name": file.indicator.1 }),
        with(
            json!({ "type": "identity", "id": id(rng, "identity"), "name": identity, "identity_class": "individual" }),
        ),
    ];
    let bundle = json!({ "type": "bundle", "id": id(rng, "bundle"), "objects": objects });
    Submission {
        format: accord_domain::ReportFormat::Stix,
        payload: bundle,
        placed,
    }
}

/// A MISP event with a canary in its info, description, a URL attribute, an attribute comment and a tag.
pub(crate) fn misp(rng: &mut StdRng) -> Submission {
    let mut placed = Vec::new();
    let info = place(rng, &mut placed, "info").text;
    let description = place(rng, &mut placed, "description").text;
    let url = place(rng, &mut placed, "Attribute.url");
    let comment = place(rng, &mut placed, "Attribute.comment").text;
    let tag = place(rng, &mut placed, "Tag").text;
    let event = json!({ "Event": {
        "info": info, "description": description, "date": "2026-11-20",
        "Tag": [{ "name": "tlp:amber" }, { "name": tag }],
        "Attribute": [
            { "type": if url.indicator.0 == "url" { "url" } else { "filename" }, "value": url.indicator.1, "comment": comment },
            { "type": "ip-dst", "value": "45.155.205.172" },
        ],
    }});
    Submission {
        format: accord_domain::ReportFormat::Misp,
        payload: event,
        placed,
    }
}
