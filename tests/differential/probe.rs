//! Random investigator requests, and what the reference says each should find.

use accord_domain::{NormalizedReport, ObservableType, Purpose, Timestamp, Tlp};
use chrono::Duration;
use serde_json::{Value, json};

use crate::{
    reference::Release, reference::indicator_matches, rng::Rng, world::WORDS, world::World,
};

/// What a request asks for, as the reference understands it.
#[derive(Debug, Default, Clone)]
pub struct Want {
    pub indicator: Option<(ObservableType, String)>,
    pub tlp: Vec<Tlp>,
    pub sector: Option<String>,
    pub partner: Option<String>,
    pub kind: Option<ObservableType>,
    pub word: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub enum Request {
    /// `GET /v1/indicators/{value}`.
    Lookup(String),
    /// `POST /v1/search` with this body.
    Search(Value),
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub agency: String,
    pub purpose: Purpose,
    pub at: Timestamp,
    pub request: Request,
    pub want: Want,
}

fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
        .map(str::to_lowercase)
}

impl Want {
    /// Whether the report, as released, answers the request.
    pub fn matches(&self, report: &NormalizedReport, released: &Release) -> bool {
        if let Some((kind, value)) = &self.indicator
            && !released
                .indicators
                .iter()
                .any(|indicator| indicator_matches(indicator, *kind, value))
        {
            return false;
        }
        if !self.tlp.is_empty() && !self.tlp.contains(&report.tlp) {
            return false;
        }
        if let Some(sector) = &self.sector
            && report.sector.as_ref() != Some(sector)
        {
            return false;
        }
        if let Some(partner) = &self.partner
            && &released.partner != partner
        {
            return false;
        }
        if let Some(kind) = self.kind
            && !released.indicators.iter().any(|(k, _)| k == kind.as_str())
        {
            return false;
        }
        if let Some(word) = &self.word {
            let texts = [released.title.as_deref(), released.description.as_deref()];
            if !texts
                .iter()
                .flatten()
                .any(|text| tokens(text).any(|t| &t == word))
            {
                return false;
            }
        }
        if let Some(from) = self.from
            && report.occurred_at < from
        {
            return false;
        }
        if let Some(to) = self.to
            && report.occurred_at >= to
        {
            return false;
        }
        true
    }
}

fn lookup_value(rng: &mut Rng, world: &World) -> (ObservableType, String) {
    if world.pool.is_empty() || rng.chance(10) {
        return (
            ObservableType::DomainName,
            format!("nobody-reported.w{}.example", world.number),
        );
    }
    let (kind, value) = rng.pick(&world.pool).clone();
    if kind == ObservableType::Ipv4Addr && value.contains('/') && rng.chance(70) {
        // An address inside a reported block: matches the CIDR indicator.
        let network = value.split('/').next().unwrap();
        let mut parts: Vec<&str> = network.split('.').collect();
        let host = format!("{}", rng.below(5) + 1);
        parts[3] = &host;
        return (kind, parts.join("."));
    }
    (kind, value)
}

/// Returns a random request by one of the world's agencies (or, rarely, a partner) at `at`.
pub fn random(rng: &mut Rng, world: &World, at: Timestamp) -> Probe {
    let agencies = world.agencies();
    let agency = if rng.chance(3) {
        world.orgs[0].id.to_string()
    } else {
        rng.pick(&agencies).id.to_string()
    };
    let purpose = *rng.pick(&Purpose::ALL);
    let mut want = Want::default();
    let request = match rng.below(10) {
        0..=3 => {
            let (kind, value) = lookup_value(rng, world);
            want.indicator = Some((kind, value.clone()));
            Request::Lookup(value)
        }
        4..=5 => {
            let (kind, value) = lookup_value(rng, world);
            want.indicator = Some((kind, value.clone()));
            Request::Search(json!({ "q": format!("indicator:{value}"), "size": 100 }))
        }
        6 => {
            let word = rng.pick(&WORDS).to_string();
            want.word = Some(word.clone());
            Request::Search(json!({ "q": word, "size": 100 }))
        }
        _ => {
            let mut filters = serde_json::Map::new();
            if rng.chance(40) {
                want.tlp = rng.subset(&Tlp::ALL);
                filters.insert("tlp".to_owned(), json!(want.tlp));
            }
            if rng.chance(30) {
                let sector = rng.pick(&crate::world::SECTORS).to_string();
                want.sector = Some(sector.clone());
                filters.insert("sector".to_owned(), json!(sector));
            }
            if rng.chance(25) {
                let partner = if rng.chance(30) {
                    "anonymous".to_owned()
                } else {
                    world.reports[rng.below(world.reports.len())]
                        .partner
                        .to_string()
                };
                want.partner = Some(partner.clone());
                filters.insert("partner".to_owned(), json!(partner));
            }
            if rng.chance(25) {
                let kind = *rng.pick(&ObservableType::ALL);
                want.kind = Some(kind);
                filters.insert("type".to_owned(), json!(kind));
            }
            if rng.chance(20) {
                let report = &world.reports[rng.below(world.reports.len())];
                let from = report.occurred_at - Duration::seconds(rng.range(-1, 1));
                want.from = Some(from);
                filters.insert("from".to_owned(), json!(from));
                if rng.chance(50) {
                    let to = from + Duration::days(rng.range(1, 200));
                    want.to = Some(to);
                    filters.insert("to".to_owned(), json!(to));
                }
            }
            Request::Search(json!({ "filters": filters, "size": 100 }))
        }
    };
    Probe {
        agency,
        purpose,
        at,
        request,
        want,
    }
}
