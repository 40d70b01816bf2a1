//! The reference evaluator: policy-model.md (and decision 0002) read literally, written without `accord-policy`,
//! as slowly and plainly as possible. It answers which MoUs let an agency see a report, what each of them releases,
//! and which reports a query should find.

use accord_domain::{
    Attribution, ContentPart, IndicatorSource, Mou, MouStatus, NormalizedReport, ObservableType,
    OrgKind, PiiKind, PiiRule, Purpose, Scope, TextField, Timestamp, Tlp,
};
use chrono::Duration;

use crate::world::World;

fn tlp_rank(tlp: Tlp) -> u8 {
    match tlp {
        Tlp::Clear => 0,
        Tlp::Green => 1,
        Tlp::Amber => 2,
        Tlp::AmberStrict => 3,
        Tlp::Red => 4,
    }
}

/// `*` matches anything, an explicit list matches its members ignoring ASCII case.
fn in_list(list: &Scope, value: &str) -> bool {
    match list {
        Scope::Any => true,
        Scope::Only(values) => values
            .iter()
            .any(|v| v.to_lowercase() == value.to_lowercase()),
    }
}

/// Every MoU under which `agency` may see `report` for `purpose` at `at`.
pub fn granting<'w>(
    world: &'w World,
    report: &NormalizedReport,
    agency: &str,
    purpose: Purpose,
    at: Timestamp,
) -> Vec<&'w Mou> {
    let Some(agency_org) = world.orgs.iter().find(|org| org.id.as_str() == agency) else {
        return Vec::new();
    };
    if agency_org.kind != OrgKind::Agency {
        return Vec::new();
    }
    let partner_ok = world
        .orgs
        .iter()
        .any(|org| org.id == report.partner && org.kind == OrgKind::Partner);
    if !partner_ok {
        return Vec::new();
    }
    let mut out = Vec::new();
    for version in &world.mous {
        let m = &version.mou;
        let mut ok = true;
        ok &= m.status == MouStatus::Active;
        ok &= m.providers.iter().any(|p| *p == report.partner);
        ok &= m.recipients.iter().any(|r| r.as_str() == agency);
        ok &= m.effective_from <= at && at < m.expires_at;
        ok &= tlp_rank(report.tlp) <= tlp_rank(m.max_tlp);
        for category in &report.categories {
            ok &= in_list(&m.categories, category);
        }
        if let Some(sector) = &report.sector {
            ok &= in_list(&m.sectors, sector);
        }
        ok &= m.purposes.contains(&purpose);
        ok &= in_list(&m.recipient_countries, &agency_org.country);
        ok &= at < report.received_at + Duration::days(i64::from(m.retention_days));
        if ok {
            out.push(m);
        }
    }
    out
}

/// The least-restricted of the granting MoUs (policy-model.md; order of decision 0002).
pub fn best<'m>(mous: &[&'m Mou]) -> Option<&'m Mou> {
    let key = |m: &Mou| {
        let types = match &m.indicator_types {
            Scope::Any => (1, 0),
            Scope::Only(values) => (0, values.len()),
        };
        (
            m.content.len(),
            m.pii == PiiRule::Share,
            m.attribution == Attribution::Named,
            types,
        )
    };
    let mut chosen: Option<&Mou> = None;
    for m in mous {
        chosen = match chosen {
            None => Some(m),
            Some(c) if key(m) > key(c) || (key(m) == key(c) && m.id < c.id) => Some(m),
            Some(c) => Some(c),
        };
    }
    chosen
}

/// What one MoU releases of a report, field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub partner: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub ttps: Option<Vec<String>>,
    pub indicators: Vec<(String, String)>,
    pub victim: Option<serde_json::Value>,
}

/// The text of a field with its personal data replaced by markers; the whole field becomes `[redacted]` when any
/// range of it is unusable.
pub fn redacted_text(report: &NormalizedReport, field: TextField) -> String {
    let text = match field {
        TextField::Title => &report.title,
        TextField::Description => &report.description,
    };
    let mut ranges: Vec<(usize, usize, PiiKind)> = report
        .pii
        .iter()
        .filter(|m| m.field == field)
        .map(|m| (m.start, m.end, m.kind))
        .collect();
    ranges.sort_by_key(|(start, end, _)| (*start, *end));
    for (i, (start, end, _)) in ranges.iter().enumerate() {
        let bad = start >= end
            || *end > text.len()
            || !text.is_char_boundary(*start)
            || !text.is_char_boundary(*end)
            || (i > 0 && ranges[i - 1].1 > *start);
        if bad {
            return "[redacted]".to_owned();
        }
    }
    let mut out = String::new();
    let mut position = 0;
    for (start, end, kind) in ranges {
        out.push_str(&text[position..start]);
        out.push_str(match kind {
            PiiKind::Email => "[redacted:email]",
            PiiKind::Phone => "[redacted:phone]",
            PiiKind::Name => "[redacted:name]",
            PiiKind::Iban => "[redacted:iban]",
            PiiKind::Card => "[redacted:card]",
            PiiKind::Account => "[redacted:account]",
        });
        position = end;
    }
    out.push_str(&text[position..]);
    out
}

/// Whether an MoU releases one indicator of a report.
pub fn releases_indicator(m: &Mou, kind: ObservableType, source: IndicatorSource) -> bool {
    if !m.content.contains(&ContentPart::Indicators) {
        return false;
    }
    if !in_list(&m.indicator_types, kind.as_str()) {
        return false;
    }
    // Under redact, an e-mail address only found in free text may be a victim's: withheld.
    !(m.pii == PiiRule::Redact
        && kind == ObservableType::EmailAddr
        && source == IndicatorSource::Text)
}

/// The report as released under `m`.
pub fn release(report: &NormalizedReport, m: &Mou) -> Release {
    let narrative = m.content.contains(&ContentPart::Narrative);
    let text = |field: TextField, raw: &str| {
        if !narrative {
            None
        } else if m.pii == PiiRule::Share {
            Some(raw.to_owned())
        } else {
            Some(redacted_text(report, field))
        }
    };
    Release {
        partner: match m.attribution {
            Attribution::Named => report.partner.to_string(),
            Attribution::Anonymous => "anonymous".to_owned(),
        },
        title: text(TextField::Title, &report.title),
        description: text(TextField::Description, &report.description),
        ttps: narrative.then(|| report.ttps.clone()),
        indicators: report
            .indicators
            .iter()
            .filter(|i| releases_indicator(m, i.kind, i.source))
            .map(|i| (i.kind.as_str().to_owned(), i.value.clone()))
            .collect(),
        victim: if m.content.contains(&ContentPart::Victim) && m.pii == PiiRule::Share {
            report
                .victim
                .as_ref()
                .map(|v| serde_json::to_value(v).unwrap())
        } else {
            None
        },
    }
}

fn ipv4(value: &str) -> Option<u32> {
    let parts: Vec<u32> = value
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    (parts.len() == 4 && parts.iter().all(|p| *p < 256))
        .then(|| parts.iter().fold(0, |acc, p| acc << 8 | p))
}

/// Whether a released indicator matches a looked-up value: the same value, or a CIDR block containing the address.
pub fn indicator_matches(released: &(String, String), kind: ObservableType, value: &str) -> bool {
    if released.0 == kind.as_str() && released.1 == value {
        return true;
    }
    if kind != ObservableType::Ipv4Addr || released.0 != "ipv4-addr" {
        return false;
    }
    let (Some(address), Some((network, prefix))) = (ipv4(value), released.1.split_once('/')) else {
        return false;
    };
    let (Some(network), Ok(prefix)) = (ipv4(network), prefix.parse::<u32>()) else {
        return false;
    };
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    address & mask == network & mask
}
