//! The reference evaluator: policy-model.md (and decisions 0002 and 0010) read literally, written without
//! `accord-policy`, as slowly and plainly as possible. It answers which MoUs let an agency see a report, what each of
//! them releases (byte by byte), which of their views the agency receives, and which reports a query should find.

use std::collections::BTreeSet;

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

fn restricted(list: &Scope) -> bool {
    !matches!(list, Scope::Any)
}

/// Every MoU under which `agency` may see `report` for `purpose` at `at` (before asking whether it releases
/// anything of it).
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
        // An empty field never passes a restriction.
        ok &= !(report.categories.is_empty() && restricted(&m.categories));
        match &report.sector {
            Some(sector) => ok &= in_list(&m.sectors, sector),
            None => ok &= !restricted(&m.sectors),
        }
        ok &= !(report.indicators.is_empty() && restricted(&m.indicator_types));
        ok &= m.purposes.contains(&purpose);
        ok &= in_list(&m.recipient_countries, &agency_org.country);
        ok &= at < report.received_at + Duration::days(i64::from(m.retention_days));
        if ok {
            out.push(m);
        }
    }
    out
}

/// What one MoU releases of a report, field by field, and which bytes of the text it cuts.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub mou: String,
    pub partner: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub ttps: Option<Vec<String>>,
    pub indicators: Vec<(String, String)>,
    pub victim: Option<serde_json::Value>,
    /// `(field, byte)` of every byte of the title (0) and description (1) the release cuts.
    pub cut: BTreeSet<(u8, usize)>,
}

impl Release {
    /// Whether it releases an indicator or the narrative (a release of neither is no view).
    pub fn anything(&self) -> bool {
        !self.indicators.is_empty() || self.title.is_some()
    }

    /// Whether `self` releases everything `other` releases.
    pub fn contains(&self, other: &Release) -> bool {
        let indicators = other.indicators.iter().all(|i| self.indicators.contains(i));
        let narrative =
            other.title.is_none() || (self.title.is_some() && self.cut.is_subset(&other.cut));
        let victim = other.victim.is_none() || self.victim.is_some();
        let named = other.partner == "anonymous" || self.partner != "anonymous";
        indicators && narrative && victim && named
    }

    /// The rank of incomparable releases: greater is preferred.
    fn rank(
        &self,
        report: &NormalizedReport,
    ) -> (usize, usize, usize, bool, std::cmp::Reverse<String>) {
        let parts = usize::from(!self.indicators.is_empty())
            + usize::from(self.title.is_some())
            + usize::from(self.victim.is_some());
        let revealed = if self.title.is_some() {
            report.title.len() + report.description.len() - self.cut.len()
        } else {
            0
        };
        (
            parts,
            self.indicators.len(),
            revealed,
            self.partner != "anonymous",
            std::cmp::Reverse(self.mou.clone()),
        )
    }
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

fn marker(kind: PiiKind) -> &'static str {
    match kind {
        PiiKind::Email => "[redacted:email]",
        PiiKind::Phone => "[redacted:phone]",
        PiiKind::Name => "[redacted:name]",
        PiiKind::Iban => "[redacted:iban]",
        PiiKind::Card => "[redacted:card]",
        PiiKind::Account => "[redacted:account]",
    }
}

/// A field as `m` releases it, and the bytes it cuts; `None` for the whole field.
fn released_text(
    report: &NormalizedReport,
    m: &Mou,
    field: TextField,
    released: &[(String, String)],
) -> Option<(String, BTreeSet<usize>)> {
    let text = match field {
        TextField::Title => &report.title,
        TextField::Description => &report.description,
    };
    let ok = |start: usize, end: usize| {
        start < end
            && end <= text.len()
            && text.is_char_boundary(start)
            && text.is_char_boundary(end)
    };
    // (start, end, marker, is pii)
    let mut cuts: Vec<(usize, usize, &str, bool)> = Vec::new();
    if m.pii == PiiRule::Redact {
        for found in report.pii.iter().filter(|found| found.field == field) {
            if !ok(found.start, found.end) {
                return None;
            }
            // PII ranges may not overlap each other.
            if cuts
                .iter()
                .any(|(s, e, _, _)| *s < found.end && found.start < *e)
            {
                return None;
            }
            cuts.push((found.start, found.end, marker(found.kind), true));
        }
    }
    let withheld = report
        .indicators
        .iter()
        .any(|i| !released.contains(&(i.kind.as_str().to_owned(), i.value.clone())));
    match &report.indicator_spans {
        None if withheld => return None,
        None => {}
        Some(spans) => {
            for span in spans.iter().filter(|span| span.field == field) {
                if released.contains(&(span.kind.as_str().to_owned(), span.value.clone())) {
                    continue;
                }
                if !ok(span.start, span.end) {
                    return None;
                }
                cuts.push((span.start, span.end, "[withheld:indicator]", false));
            }
        }
    }
    let cut: BTreeSet<usize> = cuts.iter().flat_map(|(s, e, _, _)| *s..*e).collect();
    // Write the text byte by byte: a run of cut bytes becomes one marker (the first PII marker among the cuts
    // covering it, else the withheld marker); touching cuts stay separate.
    let mut out = String::new();
    let mut position = 0;
    let mut sorted = cuts.clone();
    sorted.sort_by_key(|(s, e, _, _)| (*s, *e));
    let mut groups: Vec<(usize, usize, &str)> = Vec::new();
    for (s, e, mark, pii) in sorted {
        match groups.last_mut() {
            Some(last) if s < last.1 => {
                last.1 = last.1.max(e);
                if last.2 == "[withheld:indicator]" && pii {
                    last.2 = mark;
                }
            }
            _ => groups.push((s, e, mark)),
        }
    }
    for (s, e, mark) in groups {
        out.push_str(&text[position..s]);
        out.push_str(mark);
        position = e;
    }
    out.push_str(&text[position..]);
    Some((out, cut))
}

/// The report as released under `m` alone.
pub fn release(report: &NormalizedReport, m: &Mou) -> Release {
    let narrative = m.content.contains(&ContentPart::Narrative);
    let indicators: Vec<(String, String)> = report
        .indicators
        .iter()
        .filter(|i| releases_indicator(m, i.kind, i.source))
        .map(|i| (i.kind.as_str().to_owned(), i.value.clone()))
        .collect();
    let mut cut = BTreeSet::new();
    let mut text = |field: TextField, number: u8| -> Option<String> {
        if !narrative {
            return None;
        }
        let len = match field {
            TextField::Title => report.title.len(),
            TextField::Description => report.description.len(),
        };
        match released_text(report, m, field, &indicators) {
            Some((shown, bytes)) => {
                cut.extend(bytes.into_iter().map(|byte| (number, byte)));
                Some(shown)
            }
            None => {
                cut.extend((0..len).map(|byte| (number, byte)));
                Some("[redacted]".to_owned())
            }
        }
    };
    let title = text(TextField::Title, 0);
    let description = text(TextField::Description, 1);
    Release {
        mou: m.id.to_string(),
        partner: match m.attribution {
            Attribution::Named => report.partner.to_string(),
            Attribution::Anonymous => "anonymous".to_owned(),
        },
        title,
        description,
        ttps: narrative.then(|| report.ttps.clone()),
        indicators,
        victim: if m.content.contains(&ContentPart::Victim) && m.pii == PiiRule::Share {
            report
                .victim
                .as_ref()
                .map(|v| serde_json::to_value(v).unwrap())
        } else {
            None
        },
        cut,
    }
}

/// The views an agency receives of a report for a purpose: the shown one first, then the alternates in rank order.
/// Empty when no granting MoU releases anything of it.
pub fn received(
    world: &World,
    report: &NormalizedReport,
    agency: &str,
    purpose: Purpose,
    at: Timestamp,
) -> Vec<Release> {
    let releases: Vec<Release> = granting(world, report, agency, purpose, at)
        .into_iter()
        .map(|m| release(report, m))
        .filter(Release::anything)
        .collect();
    let mut maximal: Vec<&Release> = releases
        .iter()
        .filter(|r| {
            !releases
                .iter()
                .any(|other| other.contains(r) && !r.contains(other))
        })
        .collect();
    maximal.sort_by_key(|release| std::cmp::Reverse(release.rank(report)));
    let mut kept: Vec<Release> = Vec::new();
    for candidate in maximal {
        if kept.iter().any(|k| k.contains(candidate)) {
            continue;
        }
        let adds = candidate
            .indicators
            .iter()
            .any(|i| !kept.iter().any(|k| k.indicators.contains(i)));
        if kept.is_empty() || adds {
            kept.push(candidate.clone());
        }
    }
    kept
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
