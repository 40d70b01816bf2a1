//! Incoming MISP events (`{"Event": {…}}`, as MISP's `/events/view` and exports write them) converted into one native
//! [`IncidentReport`], like a STIX bundle in [`crate::ingest`].
//!
//! - `Event.info` → title (required); `Event.date` (`YYYY-MM-DD`) → `occurred_at` at midnight UTC, else
//!   `Event.timestamp` (Unix seconds), else now.
//! - `Event.Tag[].name` `tlp:<label>` (TLP 2.0, and TLP 1.0's `tlp:white` as `clear`) → TLP; attribute tags count
//!   too; the most restrictive wins; without any the partner's default TLP applies, or the event is refused.
//!   A tag that names a protective marking (`classification:secret`, `nato:NATO SECRET`) refuses the event.
//!   Without a `tlp:` tag the event's `distribution` decides (`0` your organisation only → red, `1` this community
//!   only → amber, `2` connected communities and `3` all communities → green, `4` a sharing group → amber; a sharing
//!   group whose name names a protective marking refuses the event), and only without that the default TLP.
//!   `PAP:RED` and `PAP:AMBER` tags are a floor: the TLP is at least red or amber (docs/decisions/0038).
//!   Galaxy tags naming an ATT&CK technique (`misp-galaxy:mitre-attack-pattern="… - T1566.002"`) → TTPs.
//!   Tags of the incident-classification taxonomies (`rsit:fraud="phishing"`, `ecsirt:malicious-code="ransomware"`)
//!   and bare tags in the category vocabulary (`ransomware`) → categories; other tags are not categories.
//! - `Event.Attribute[]` and `Event.Object[].Attribute[]` → typed indicators, by MISP type:
//!   `ip-src`, `ip-dst` (and `|port`) → IPv4/IPv6; `domain`, `hostname` (and `|port`), `domain|ip` → domain (and IP);
//!   `url`, `uri` → URL; `email`, `email-src`, `email-dst`, `email-reply-to`, `whois-registrant-email` → e-mail;
//!   `md5`, `sha1`, `sha256`, `sha512` and `filename|<hash>` → file hash (a digest only, never read as a file name);
//!   `vulnerability` → CVE.
//!   Other types (`link`, `comment`, `text`, `target-*`, `yara`, …) are not indicators and are left out: `link` is a
//!   reference, `target-*` name the victim. An invalid value of a mapped type refuses the event naming the attribute,
//!   or, with [`Handling::Lenient`], leaves that attribute out ([`misp_event_to_report_with`]).

use accord_domain::{
    ObservableType, Tlp, classification, observable,
    report::{IncidentReport, IndicatorInput},
    unique::dedup_by_key,
    vocabulary,
};
use serde_json::Value;

use crate::ingest::{
    Converted, Handling, IngestError, MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, dedup_indicators,
    parse_tlp, push_indicator, truncate_chars,
};

/// Returns `true` when a JSON document looks like a MISP event: an object whose only top-level key is `Event`.
pub fn is_misp_event(document: &Value) -> bool {
    document
        .as_object()
        .is_some_and(|map| map.len() == 1 && map.get("Event").is_some_and(Value::is_object))
}

/// Converts a MISP event into one native incident report (`classification: unclassified`, `tlp` set).
///
/// # Errors
/// Returns an [`IngestError`] naming the first problem (as a JSON pointer into the event): not an event, no `info`,
/// a bad date, an invalid attribute value, no TLP tag without a default TLP, or a tag naming a classification.
pub fn misp_event_to_report(
    document: &Value,
    default_tlp: Option<Tlp>,
) -> Result<IncidentReport, IngestError> {
    misp_event_to_report_with(document, default_tlp, Handling::Strict)
        .map(|converted| converted.report)
}

/// [`misp_event_to_report`] with a choice of [`Handling`]: leniently, an attribute whose type or value is invalid is
/// left out (none of its values is kept) and listed in [`Converted::skipped`]. Tags (the classification guard, TLP)
/// are read from every attribute, left out or not.
///
/// # Errors
/// As [`misp_event_to_report`], but an invalid attribute only when strict.
pub fn misp_event_to_report_with(
    document: &Value,
    default_tlp: Option<Tlp>,
    handling: Handling,
) -> Result<Converted, IngestError> {
    let Some(event) = document.get("Event").filter(|event| event.is_object()) else {
        return Err(IngestError::malformed(
            "/Event",
            "required: the MISP event object",
        ));
    };
    let title = match event.get("info").and_then(Value::as_str).map(str::trim) {
        Some(info) if !info.is_empty() => truncate_chars(info, MAX_TITLE_CHARS),
        _ => {
            return Err(IngestError::malformed(
                "/Event/info",
                "required: the event's description",
            ));
        }
    };
    let occurred_at = occurred_at(event)?;

    let mut tags = Tags::default();
    tags.read(event, "/Event")?;
    let mut indicators = Vec::new();
    let mut skipped = Vec::new();
    let mut read = |attribute: &Value, pointer: String| -> Result<(), IngestError> {
        tags.read(attribute, &pointer)?;
        let before = indicators.len();
        match attribute_indicators(attribute, &pointer, &mut indicators) {
            Err(error) if handling == Handling::Lenient => {
                indicators.truncate(before);
                skipped.push(error);
                Ok(())
            }
            other => other,
        }
    };
    for (index, attribute) in list(event, "Attribute").iter().enumerate() {
        read(attribute, format!("/Event/Attribute/{index}"))?;
    }
    for (object_index, object) in list(event, "Object").iter().enumerate() {
        for (index, attribute) in list(object, "Attribute").iter().enumerate() {
            read(
                attribute,
                format!("/Event/Object/{object_index}/Attribute/{index}"),
            )?;
        }
    }
    dedup_indicators(&mut indicators);
    dedup_by_key(&mut tags.ttps, Clone::clone);
    let tlp = event_tlp(event, &tags, default_tlp)?;
    let report = IncidentReport {
        title,
        description: truncate_chars(
            event
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            MAX_DESCRIPTION_CHARS,
        ),
        occurred_at,
        tlp: Some(tlp),
        classification: "unclassified".to_owned(),
        categories: tags.categories,
        sector: None,
        indicators,
        ttps: tags.ttps,
        victim: None,
        patterns: Vec::new(),
    };
    Ok(Converted { report, skipped })
}

fn event_id(event: &Value) -> String {
    match event.get("uuid").and_then(Value::as_str) {
        Some(uuid) => format!("event {uuid}"),
        None => "the event".to_owned(),
    }
}

fn list<'a>(value: &'a Value, field: &str) -> &'a [Value] {
    value
        .get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn occurred_at(event: &Value) -> Result<accord_domain::Timestamp, IngestError> {
    if let Some(date) = event.get("date") {
        let parsed = date
            .as_str()
            .and_then(|text| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .map(|time| time.and_utc());
        return parsed.ok_or_else(|| IngestError::malformed("/Event/date", "expected YYYY-MM-DD"));
    }
    let seconds = match event.get("timestamp") {
        Some(Value::String(text)) => text.parse::<i64>().ok(),
        Some(Value::Number(number)) => number.as_i64(),
        _ => None,
    };
    Ok(seconds
        .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
        .unwrap_or_else(chrono::Utc::now))
}

/// The event's TLP: its `tlp:` tags, else its distribution, else `default_tlp`, raised to the PAP floor.
///
/// # Errors
/// A sharing group named as a classification, or no TLP at all.
fn event_tlp(event: &Value, tags: &Tags, default_tlp: Option<Tlp>) -> Result<Tlp, IngestError> {
    let marked = tags.tlp.or(distribution_tlp(event)?).or(default_tlp);
    match (marked, tags.pap) {
        (Some(tlp), floor) => Ok(tlp.max(floor.unwrap_or(tlp))),
        (None, Some(floor)) => Ok(floor),
        (None, None) => Err(IngestError::Unmarked {
            pointer: "/Event/Tag".to_owned(),
            object_id: event_id(event),
        }),
    }
}

/// The TLP an event's MISP `distribution` implies (a number or a numeric string; absent or unknown: none), checking
/// that a sharing group's name names no protective marking.
fn distribution_tlp(event: &Value) -> Result<Option<Tlp>, IngestError> {
    let distribution = match event.get("distribution") {
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
        _ => None,
    };
    if let Some(name) = event.pointer("/SharingGroup/name").and_then(Value::as_str)
        && let Some(marking) = classification::classified_marking(name)
    {
        return Err(IngestError::Classified {
            pointer: "/Event/SharingGroup/name".to_owned(),
            object_id: format!("sharing group `{name}`"),
            marking: marking.to_owned(),
        });
    }
    Ok(match distribution {
        Some(0) => Some(Tlp::Red),
        Some(1 | 4) => Some(Tlp::Amber),
        Some(2 | 3) => Some(Tlp::Green),
        _ => None,
    })
}

/// TLP and TTPs gathered from tags.
#[derive(Debug, Default)]
struct Tags {
    tlp: Option<Tlp>,
    /// The TLP floor a `PAP:` tag sets (red or amber), if any.
    pap: Option<Tlp>,
    ttps: Vec<String>,
    categories: Vec<String>,
}

impl Tags {
    fn read(&mut self, owner: &Value, pointer: &str) -> Result<(), IngestError> {
        for (index, tag) in list(owner, "Tag").iter().enumerate() {
            let Some(name) = tag.get("name").and_then(Value::as_str) else {
                continue;
            };
            let lower = name.trim().to_ascii_lowercase();
            if lower.starts_with("tlp:") {
                if let Some(tlp) = parse_tlp(&lower) {
                    self.tlp = self.tlp.max(Some(tlp));
                }
                continue;
            }
            if let Some(pap) = lower.strip_prefix("pap:") {
                let floor = match pap.trim_matches('"') {
                    "red" => Some(Tlp::Red),
                    "amber" => Some(Tlp::Amber),
                    _ => None,
                };
                self.pap = self.pap.max(floor);
                continue;
            }
            if lower.starts_with("misp-galaxy:") {
                if let Some(technique) = technique_in(name) {
                    self.ttps.push(technique);
                }
                continue;
            }
            if let Some(marking) = classification::classified_marking(name) {
                return Err(IngestError::Classified {
                    pointer: format!("{pointer}/Tag/{index}/name"),
                    object_id: format!("tag `{name}`"),
                    marking: marking.to_owned(),
                });
            }
            if let Some(category) = tag_category(name)
                && !self.categories.iter().any(|known| known == category)
            {
                self.categories.push(category.to_owned());
            }
        }
        Ok(())
    }
}

/// Returns the category a tag names, if any: a tag of the incident-classification taxonomies (`rsit:`, `ecsirt:`,
/// `enisa:`, `circl:incident-classification=`) by its value (`rsit:fraud="phishing"` is `phishing`) or else its
/// predicate (`ecsirt:malicious-code` is `malware`), or a bare tag that is in the vocabulary (`ransomware`). Every
/// other tag is not a category (docs/decisions/0013-categories-and-sectors.md).
fn tag_category(name: &str) -> Option<&'static str> {
    let name = name.trim();
    let Some((namespace, rest)) = name.split_once(':') else {
        return vocabulary::category(name);
    };
    let namespace = namespace.to_ascii_lowercase();
    let taxonomy = matches!(namespace.as_str(), "rsit" | "ecsirt" | "enisa")
        || (namespace == "circl" && rest.starts_with("incident-classification"));
    if !taxonomy {
        return None;
    }
    match rest.split_once('=') {
        Some((predicate, value)) => vocabulary::category(value.trim().trim_matches('"'))
            .or_else(|| vocabulary::category(predicate)),
        None => vocabulary::category(rest),
    }
}

/// Finds an ATT&CK technique id (`T1566` or `T1566.002`) in a galaxy tag.
fn technique_in(tag: &str) -> Option<String> {
    let bytes = tag.as_bytes();
    for (start, _) in tag.match_indices('T') {
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let digits = |from: usize, len: usize| {
            bytes.len() >= from + len && bytes[from..from + len].iter().all(u8::is_ascii_digit)
        };
        if !before_ok || !digits(start + 1, 4) {
            continue;
        }
        let mut end = start + 5;
        if bytes.get(end) == Some(&b'.') && digits(end + 1, 3) {
            end += 4;
        }
        if bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        return Some(tag[start..end].to_owned());
    }
    None
}

/// Maps one attribute to indicators by its MISP type.
fn attribute_indicators(
    attribute: &Value,
    pointer: &str,
    indicators: &mut Vec<IndicatorInput>,
) -> Result<(), IngestError> {
    let Some(kind) = attribute.get("type").and_then(Value::as_str) else {
        return Err(IngestError::malformed(
            format!("{pointer}/type"),
            "required: the attribute's type",
        ));
    };
    let Some(value) = attribute.get("value").and_then(Value::as_str) else {
        return Err(IngestError::malformed(
            format!("{pointer}/value"),
            "required: the attribute's value",
        ));
    };
    let first = |value: &str| value.split('|').next().unwrap_or(value).to_owned();
    let second = |value: &str| value.split_once('|').map(|(_, rest)| rest.to_owned());
    // Declared as Accord type names: a digest alias (`md5`, `hash`) accepts only a digest, never a file name.
    let mut typed: Vec<(Option<&str>, String)> = Vec::new();
    match kind {
        "ip-src" | "ip-dst" => typed.push((None, value.to_owned())),
        "ip-src|port" | "ip-dst|port" => typed.push((None, first(value))),
        "domain" | "hostname" => typed.push((Some("domain-name"), value.to_owned())),
        "hostname|port" => typed.push((Some("domain-name"), first(value))),
        "domain|ip" => {
            typed.push((Some("domain-name"), first(value)));
            if let Some(ip) = second(value) {
                typed.push((None, ip));
            }
        }
        "url" | "uri" => typed.push((Some("url"), value.to_owned())),
        "email" | "email-src" | "email-dst" | "email-reply-to" | "whois-registrant-email" => {
            typed.push((Some("email-addr"), value.to_owned()));
        }
        "md5" | "sha1" | "sha256" | "sha512" => typed.push((Some("hash"), value.to_owned())),
        "filename|md5" | "filename|sha1" | "filename|sha256" | "filename|sha512" => {
            if let Some(hash) = second(value) {
                typed.push((Some("hash"), hash));
            }
        }
        "vulnerability" => typed.push((Some("vulnerability"), value.to_owned())),
        _ => {}
    }
    for (declared, raw) in typed {
        // An `ip-*` attribute is IPv4 or IPv6: detection decides, and must find an IP.
        let result = observable::canonicalize_declared(declared, &raw).and_then(|(kind, value)| {
            let is_ip = matches!(kind, ObservableType::Ipv4Addr | ObservableType::Ipv6Addr);
            if declared.is_none() && !is_ip {
                return Err(accord_domain::observable::ObservableError::Invalid {
                    kind,
                    reason: "an ip attribute must hold an IPv4 or IPv6 address".to_owned(),
                });
            }
            Ok((kind, value))
        });
        match result {
            Ok((kind, value)) => push_indicator(indicators, kind, value),
            Err(error) => {
                let object_id = match attribute.get("uuid").and_then(Value::as_str) {
                    Some(uuid) => format!("attribute {uuid}"),
                    None => format!("{kind} attribute"),
                };
                return Err(IngestError::InvalidObservable {
                    pointer: format!("{pointer}/value"),
                    object_id,
                    message: format!("`{raw}`: {error}"),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
