//! Builders shared by the unit tests: a small directory, a baseline MoU that grants the baseline report to `ncu-de`
//! for investigation and prosecution, and a baseline report carrying PII, indicators of several types and a victim.

use std::collections::{BTreeSet, HashMap};

use accord_domain::{
    Attribution, ContentPart, Indicator, IndicatorSource, IndicatorSpan, Mou, MouId, MouStatus,
    MouVersion, NormalizedReport, ObservableType, OrgId, OrgKind, Organization, PiiKind, PiiMatch,
    PiiRule, Purpose, ReportId, Scope, TextField, Timestamp, Tlp, Victim,
};

/// Parses an RFC 3339 timestamp.
pub(crate) fn ts(value: &str) -> Timestamp {
    value.parse().unwrap()
}

/// The baseline evaluation time: inside the baseline MoU and the report's retention.
pub(crate) fn now() -> Timestamp {
    ts("2026-07-01T00:00:00Z")
}

pub(crate) fn org_id(value: &str) -> OrgId {
    OrgId::parse(value).unwrap()
}

pub(crate) fn mou_id(value: &str) -> MouId {
    MouId::parse(value).unwrap()
}

pub(crate) fn org(id: &str, kind: OrgKind, country: &str) -> Organization {
    Organization {
        id: org_id(id),
        name: id.to_uppercase(),
        kind,
        country: country.to_owned(),
        sector: None,
        default_tlp: None,
        created_at: ts("2025-01-01T00:00:00Z"),
    }
}

/// Partners `bank-a` (DE), `bank-b` (FR); agencies `ncu-de` (DE), `europol-ec3` (NL), `police-fr` (FR); operator `ops`.
pub(crate) fn directory() -> HashMap<OrgId, Organization> {
    [
        org("bank-a", OrgKind::Partner, "DE"),
        org("bank-b", OrgKind::Partner, "FR"),
        org("ncu-de", OrgKind::Agency, "DE"),
        org("europol-ec3", OrgKind::Agency, "NL"),
        org("police-fr", OrgKind::Agency, "FR"),
        org("ops", OrgKind::Operator, "DE"),
    ]
    .into_iter()
    .map(|organization| (organization.id.clone(), organization))
    .collect()
}

pub(crate) fn only(values: &[&str]) -> Scope {
    Scope::Only(values.iter().map(|value| (*value).to_owned()).collect())
}

/// The baseline MoU of policy-model.md: bank-a → ncu-de, amber, indicators + narrative, investigation and
/// prosecution, pii redact, anonymous, 365 days, every scope `*`.
pub(crate) fn mou(id: &str) -> Mou {
    Mou {
        id: mou_id(id),
        title: format!("MoU {id}"),
        status: MouStatus::Active,
        providers: BTreeSet::from([org_id("bank-a")]),
        recipients: BTreeSet::from([org_id("ncu-de")]),
        effective_from: ts("2026-01-01T00:00:00Z"),
        expires_at: ts("2027-12-31T23:59:59Z"),
        max_tlp: Tlp::Amber,
        content: BTreeSet::from([ContentPart::Indicators, ContentPart::Narrative]),
        categories: Scope::Any,
        sectors: Scope::Any,
        indicator_types: Scope::Any,
        purposes: BTreeSet::from([Purpose::Investigation, Purpose::Prosecution]),
        pii: PiiRule::Redact,
        attribution: Attribution::Anonymous,
        feedback: Default::default(),
        recipient_countries: Scope::Any,
        retention_days: 365,
    }
}

pub(crate) fn version(mou: Mou, version: u32) -> MouVersion {
    MouVersion {
        reason: None,
        mou,
        version,
        changed_by: "tok-coordinator".to_owned(),
        changed_at: ts("2025-12-01T00:00:00Z"),
    }
}

pub(crate) fn v1(mou: Mou) -> MouVersion {
    version(mou, 1)
}

pub(crate) fn indicator(kind: ObservableType, value: &str, source: IndicatorSource) -> Indicator {
    Indicator {
        id: format!("{}--{value}", kind.as_str()),
        kind,
        value: value.to_owned(),
        source,
    }
}

/// Returns the PII match of the first occurrence of `needle` in `text`.
pub(crate) fn pii_at(text: &str, needle: &str, kind: PiiKind, field: TextField) -> PiiMatch {
    let start = text.find(needle).unwrap();
    PiiMatch {
        kind,
        field,
        start,
        end: start + needle.len(),
    }
}

/// Returns the indicator span of the first occurrence of `needle` (written as `value` canonically) in `text`.
pub(crate) fn span_at(
    text: &str,
    needle: &str,
    kind: ObservableType,
    value: &str,
    field: TextField,
) -> IndicatorSpan {
    let start = text.find(needle).unwrap();
    IndicatorSpan {
        field,
        start,
        end: start + needle.len(),
        kind,
        value: value.to_owned(),
    }
}

pub(crate) const TITLE: &str = "Invoice fraud reported by Jürgen Müller";
pub(crate) const DESCRIPTION: &str = "Contact jane.doe@bank-a.example or +49 30 1234567 (Jürgen Müller). \
    Lure domain login-bank-a.com, sender attacker@evil.example, payload from 45.155.205.172.";

/// The baseline report: bank-a, amber, phishing, finance, received 2026-06-01, with a name in the title, an e-mail,
/// a phone number and a name in the description, four indicators of four types (three of them located in the
/// description) and a victim block.
pub(crate) fn report() -> NormalizedReport {
    NormalizedReport {
        revision: None,
        id: ReportId::parse("report--0d9c1f8e-5b1a-4c1e-9a2b-3c4d5e6f7a8b").unwrap(),
        partner: org_id("bank-a"),
        received_at: ts("2026-06-01T00:00:00Z"),
        occurred_at: ts("2026-05-30T08:00:00Z"),
        tlp: Tlp::Amber,
        title: TITLE.to_owned(),
        description: DESCRIPTION.to_owned(),
        categories: vec!["phishing".to_owned()],
        sector: Some("finance".to_owned()),
        ttps: vec!["T1566.002".to_owned()],
        victim: Some(Victim {
            name: Some("Jane Doe".to_owned()),
            email: Some("jane.doe@bank-a.example".to_owned()),
            phone: Some("+49 30 1234567".to_owned()),
            country: Some("DE".to_owned()),
            sector: Some("finance".to_owned()),
        }),
        indicators: vec![
            indicator(
                ObservableType::DomainName,
                "login-bank-a.com",
                IndicatorSource::Declared,
            ),
            indicator(
                ObservableType::Ipv4Addr,
                "45.155.205.172",
                IndicatorSource::Text,
            ),
            indicator(
                ObservableType::EmailAddr,
                "attacker@evil.example",
                IndicatorSource::Declared,
            ),
            indicator(
                ObservableType::File,
                &"a".repeat(64),
                IndicatorSource::Declared,
            ),
        ],
        pii: vec![
            pii_at(TITLE, "Jürgen Müller", PiiKind::Name, TextField::Title),
            pii_at(
                DESCRIPTION,
                "jane.doe@bank-a.example",
                PiiKind::Email,
                TextField::Description,
            ),
            pii_at(
                DESCRIPTION,
                "+49 30 1234567",
                PiiKind::Phone,
                TextField::Description,
            ),
            PiiMatch {
                start: DESCRIPTION.rfind("Jürgen Müller").unwrap(),
                end: DESCRIPTION.rfind("Jürgen Müller").unwrap() + "Jürgen Müller".len(),
                kind: PiiKind::Name,
                field: TextField::Description,
            },
        ],
        indicator_spans: Some(
            [
                (ObservableType::DomainName, "login-bank-a.com"),
                (ObservableType::EmailAddr, "attacker@evil.example"),
                (ObservableType::Ipv4Addr, "45.155.205.172"),
            ]
            .into_iter()
            .map(|(kind, value)| span_at(DESCRIPTION, value, kind, value, TextField::Description))
            .collect(),
        ),
        indicator_pii: Vec::new(),
    }
}
