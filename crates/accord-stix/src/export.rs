//! What an agency receives, as STIX 2.1: released [`View`]s rendered to STIX objects and bundles.
//!
//! One code path serves both a single view ([`bundle`]) and a whole TAXII collection ([`export`]): every view
//! becomes
//!
//! - a `report` (its id is the Accord report id): name, description, `published`, `labels` (categories and
//!   `sector:<sector>`), TTPs as `mitre-attack` external references, `object_refs` to everything below, the view's
//!   TLP marking, `created_by_ref` the partner's identity;
//! - one `indicator` per released observable (a vulnerability has no pattern: it is exported as a `vulnerability`
//!   object instead), with a STIX pattern built from the canonical value ([`pattern`]);
//! - the cyber-observables with their deterministic ids ([`crate::observable_id`]): a `file` with `hashes` or `name`,
//!   an `x509-certificate` with `serial_number`, the others with `value`;
//! - an `identity` for the partner, or the single shared "anonymous partner" identity when the MoU attributes
//!   anonymously (decided by the view's profile, never by the partner's name);
//! - an `identity` for the victim, when the view releases one;
//! - the OASIS TLP 2.0 `marking-definition` of every TLP used ([`tlp_marking_id`]).
//!
//! Objects that several views can share (observables, vulnerabilities, identities, markings) appear once; a shared
//! observable or vulnerability carries the most restrictive TLP of the views that contain it. Every object gets a
//! `date_added`: the time the view containing it was released ([`Release::released_at`]), the latest one for shared
//! objects. Timestamps are millisecond-precise, as STIX requires for `created` and `modified`.
//!
//! Ids are deterministic (UUIDv5 in [`ACCORD_NAMESPACE`] for the objects STIX leaves to the producer), so a client
//! polling a collection sees the same object, not a new one, every time.

use std::{borrow::Cow, collections::BTreeMap};

use accord_domain::{
    Attribution, Indicator, ObservableType, Timestamp, Tlp, View, observable::hash_algorithm,
};
use chrono::{SecondsFormat, SubsecRound};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The UUIDv5 namespace of the ids Accord derives for the objects STIX leaves to the producer (indicators,
/// identities, bundles): a random UUID chosen once, fixed forever (changing it would re-identify every object).
pub const ACCORD_NAMESPACE: Uuid = Uuid::from_u128(0x3c0f_5b8e_2d7a_5f3e_9a61_4b0c_8e2d_1f47);

/// The OASIS TLP 2.0 extension definition (cti-stix-common-objects, extension-definition-specifications/tlp-2.0).
pub const TLP_EXTENSION_ID: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// When the OASIS TLP 2.0 marking definitions were created.
const TLP_CREATED: &str = "2022-10-01T00:00:00.000Z";

/// `created`/`modified` of the partner identities Accord generates: they never change.
const IDENTITY_CREATED: &str = "2020-01-01T00:00:00.000Z";

/// Returns the standard OASIS `marking-definition` id of a TLP 2.0 label.
pub fn tlp_marking_id(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
}

/// Returns the OASIS TLP 2.0 `marking-definition` object of a label.
pub fn tlp_marking(tlp: Tlp) -> Value {
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": tlp_marking_id(tlp),
        "created": TLP_CREATED,
        "name": format!("TLP:{}", tlp.as_str().to_ascii_uppercase()),
        "extensions": {
            TLP_EXTENSION_ID: { "extension_type": "property-extension", "tlp_2_0": tlp.as_str() }
        }
    })
}

/// One view released to the recipient, and when it was released to it (the `date_added` of its objects and the
/// `modified` of its report and indicators).
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    /// The released view.
    pub view: &'a View,
    /// When the recipient got this view; not before the report was received.
    pub released_at: Timestamp,
}

/// One exported STIX object with what TAXII needs to list it.
#[derive(Debug, Clone, PartialEq)]
pub struct StixObject {
    /// The STIX id.
    pub id: String,
    /// The STIX type (`report`, `ipv4-addr`, …).
    pub kind: String,
    /// When it was added to what the recipient can read (millisecond precision).
    pub date_added: Timestamp,
    /// Its version: `modified`, or `created` for objects without one, or `date_added` for objects with neither.
    pub version: Timestamp,
    /// The object.
    pub body: Value,
}

/// Returns the `(type, id)` of the objects a view renders that belong to its report alone: the `report`, one
/// `indicator` per released observable with a pattern, and the victim `identity` when the view releases one (the
/// observables, vulnerabilities, partner identities and markings are shared with other reports). A retraction
/// revokes exactly these.
pub fn own_objects(view: &View) -> Vec<(String, String)> {
    let mut objects = vec![("report".to_owned(), view.report_id.to_string())];
    for indicator in &view.content.indicators {
        let indicator = exported(indicator);
        if pattern(indicator.kind, &indicator.value).is_some() {
            let name = format!("accord|indicator|{}|{}", view.report_id, indicator.id);
            objects.push(("indicator".to_owned(), derived_id("indicator", &name)));
        }
    }
    if view.content.victim.is_some() {
        let name = format!("accord|victim|{}", view.report_id);
        objects.push(("identity".to_owned(), derived_id("identity", &name)));
    }
    objects
}

/// Returns the ids of every object the export of `view` holds ([`export`] of that view alone): its own objects
/// ([`own_objects`]), its observables and vulnerabilities, its author identity and its TLP marking. The index stores
/// them with the view, so that a TAXII read of given objects finds the views that carry them by term.
pub fn object_ids(view: &View) -> Vec<String> {
    let mut ids: Vec<String> = own_objects(view).into_iter().map(|(_, id)| id).collect();
    ids.extend(
        view.content
            .indicators
            .iter()
            .map(|indicator| exported(indicator).id.clone()),
    );
    ids.push(author_id(view));
    ids.push(tlp_marking_id(view.content.tlp).to_owned());
    ids.sort();
    ids.dedup();
    ids
}

/// Returns the STIX timestamp form Accord writes: RFC 3339, UTC, milliseconds (`2026-11-20T08:00:00.000Z`).
pub fn timestamp(at: Timestamp) -> String {
    at.trunc_subsecs(3)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Escapes a string for a STIX pattern string literal (`\` and `'` are escaped with a backslash).
pub fn pattern_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Returns the STIX pattern matching an observable with a canonical value, or `None` for a vulnerability (not a
/// cyber-observable, so it has no pattern): `[ipv4-addr:value = '…']`, `[file:hashes.'SHA-256' = '…']` for a digest,
/// `[file:name = '…']` for a file name (a canonical `file` value is a digest exactly when [`hash_algorithm`] names
/// one), `[x509-certificate:serial_number = '…']`.
pub fn pattern(kind: ObservableType, value: &str) -> Option<String> {
    let literal = pattern_literal(value);
    let pattern = match kind {
        ObservableType::Ipv4Addr
        | ObservableType::Ipv6Addr
        | ObservableType::DomainName
        | ObservableType::Url
        | ObservableType::EmailAddr => format!("[{kind}:value = {literal}]"),
        ObservableType::File => match hash_algorithm(value) {
            Some(algorithm) => format!("[file:hashes.'{algorithm}' = {literal}]"),
            None => format!("[file:name = {literal}]"),
        },
        ObservableType::X509Certificate => format!("[x509-certificate:serial_number = {literal}]"),
        ObservableType::Vulnerability => return None,
    };
    Some(pattern)
}

/// Returns the STIX objects of `releases`, shared objects once, sorted by `date_added` then id (the TAXII order).
pub fn export(releases: &[Release<'_>]) -> Vec<StixObject> {
    let mut collector = Collector::default();
    for release in releases {
        collector.add_view(release);
    }
    collector.finish()
}

/// Returns a STIX 2.1 bundle of the objects of `releases`. Its id is derived from the ids and versions of its
/// objects, so the same content always has the same bundle id.
pub fn bundle(releases: &[Release<'_>]) -> Value {
    bundle_of(export(releases).into_iter().map(|object| object.body))
}

/// Returns a STIX 2.1 bundle of `objects`, with an id derived from their ids and versions.
pub fn bundle_of(objects: impl IntoIterator<Item = Value>) -> Value {
    let objects: Vec<Value> = objects.into_iter().collect();
    let mut name = String::new();
    for object in &objects {
        for key in ["id", "modified"] {
            if let Some(value) = object.get(key).and_then(Value::as_str) {
                name.push_str(value);
            }
            name.push('|');
        }
    }
    let id = Uuid::new_v5(&ACCORD_NAMESPACE, format!("bundle|{name}").as_bytes());
    json!({ "type": "bundle", "id": format!("bundle--{id}"), "objects": objects })
}

/// Returns the UUIDv5 of `name` in [`ACCORD_NAMESPACE`], hyphenated (TAXII collection ids, status ids, …).
pub fn accord_uuid(name: &str) -> String {
    Uuid::new_v5(&ACCORD_NAMESPACE, name.as_bytes()).to_string()
}

fn derived_id(kind: &str, name: &str) -> String {
    format!(
        "{kind}--{}",
        Uuid::new_v5(&ACCORD_NAMESPACE, name.as_bytes())
    )
}

/// Returns the id of the STIX `indicator` a report's export carries for an observable (as [`own_objects`] lists it),
/// so that a `sighting` of that observable in the report can refer to it: the same id for the same report and
/// canonical value, whoever computes it.
pub fn indicator_id(report_id: &str, kind: ObservableType, value: &str) -> String {
    let indicator = Indicator {
        id: crate::observable_id(kind, value),
        kind,
        value: value.to_owned(),
        source: accord_domain::IndicatorSource::Declared,
    };
    let indicator = exported(&indicator);
    let name = format!("accord|indicator|{report_id}|{}", indicator.id);
    derived_id("indicator", &name)
}

/// Returns a deterministic id of `kind` for `name` in [`ACCORD_NAMESPACE`] (a feedback `sighting`, an agency's
/// `identity`).
pub fn accord_id(kind: &str, name: &str) -> String {
    derived_id(kind, name)
}

/// Returns the id of the identity a view's report is attributed to.
pub fn author_id(view: &View) -> String {
    match view.profile.attribution {
        Attribution::Anonymous => derived_id("identity", "accord|anonymous-partner"),
        Attribution::Named => derived_id(
            "identity",
            &format!("accord|partner|{}", view.content.partner),
        ),
    }
}

/// A shared object being collected: the most restrictive TLP and the latest release among the views that contain it.
struct Shared {
    body: Value,
    tlp: Option<Tlp>,
    added: Timestamp,
    /// Whether `created`/`modified` follow `added` (a vulnerability) rather than staying fixed.
    versioned_by_release: bool,
}

#[derive(Default)]
struct Collector {
    own: BTreeMap<String, StixObject>,
    shared: BTreeMap<String, Shared>,
}

/// What every object a view contributes shares: its timestamps, TLP marking and author.
struct Stamp {
    /// When the report was received (`created`).
    created: String,
    /// When the view was released to the agency (`modified`).
    modified: String,
    /// The same instant, for `date_added`.
    released: Timestamp,
    tlp: Tlp,
    marking: &'static str,
    author: String,
}

impl Collector {
    fn share(
        &mut self,
        id: &str,
        body: Value,
        tlp: Option<Tlp>,
        added: Timestamp,
        versioned: bool,
    ) {
        let entry = self.shared.entry(id.to_owned()).or_insert(Shared {
            body,
            tlp,
            added,
            versioned_by_release: versioned,
        });
        entry.tlp = entry.tlp.max(tlp);
        entry.added = entry.added.max(added);
    }

    fn own(&mut self, body: Value, added: Timestamp, version: Timestamp) {
        let Some(id) = body.get("id").and_then(Value::as_str).map(str::to_owned) else {
            return;
        };
        let kind = body
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        // Two views of one report (never at once for one recipient and purpose, but be safe): the later one wins.
        if self
            .own
            .get(&id)
            .is_some_and(|existing| existing.date_added >= added)
        {
            return;
        }
        let object = StixObject {
            id: id.clone(),
            kind,
            date_added: added,
            version,
            body,
        };
        self.own.insert(id, object);
    }

    fn add_view(&mut self, release: &Release<'_>) {
        let view = release.view;
        let received = view.facts.received_at.trunc_subsecs(3);
        let released = release.released_at.trunc_subsecs(3).max(received);
        let tlp = view.content.tlp;
        let stamp = Stamp {
            created: timestamp(received),
            modified: timestamp(released),
            released,
            tlp,
            marking: tlp_marking_id(tlp),
            author: author_id(view),
        };
        self.share(stamp.marking, tlp_marking(tlp), None, released, false);
        self.share(
            &stamp.author,
            author_identity(view, &stamp.author),
            None,
            released,
            false,
        );
        let mut refs = self.add_indicators(view, &stamp);
        if let Some(victim) = self.add_victim(view, &stamp) {
            refs.push(victim);
        }
        if refs.is_empty() {
            // object_refs must not be empty: a report released without indicators or victim refers to its author.
            refs.push(stamp.author.clone());
        }
        refs.dedup();
        self.add_report(view, &stamp, refs);
    }

    /// Adds the view's observables (shared), their indicators and vulnerabilities; returns the ids to refer to.
    fn add_indicators(&mut self, view: &View, stamp: &Stamp) -> Vec<String> {
        let content = &view.content;
        let mut refs: Vec<String> = Vec::new();
        for indicator in &content.indicators {
            let indicator = exported(indicator);
            let indicator = indicator.as_ref();
            if indicator.kind == ObservableType::Vulnerability {
                let body = json!({
                    "type": "vulnerability",
                    "spec_version": "2.1",
                    "id": indicator.id,
                    "name": indicator.value,
                    "external_references": [
                        { "source_name": "cve", "external_id": indicator.value }
                    ],
                });
                self.share(&indicator.id, body, Some(stamp.tlp), stamp.released, true);
                refs.push(indicator.id.clone());
                continue;
            }
            self.share(
                &indicator.id,
                observable(indicator),
                Some(stamp.tlp),
                stamp.released,
                false,
            );
            let Some(pattern) = pattern(indicator.kind, &indicator.value) else {
                continue;
            };
            let id = derived_id(
                "indicator",
                &format!("accord|indicator|{}|{}", view.report_id, indicator.id),
            );
            let body = json!({
                "type": "indicator",
                "spec_version": "2.1",
                "id": id,
                "created": stamp.created,
                "modified": stamp.modified,
                "created_by_ref": stamp.author,
                "name": indicator.value,
                "indicator_types": ["malicious-activity"],
                "pattern": pattern,
                "pattern_type": "stix",
                "pattern_version": "2.1",
                "valid_from": timestamp(content.occurred_at),
                "object_marking_refs": [stamp.marking],
            });
            self.own(body, stamp.released, stamp.released);
            refs.push(id);
            refs.push(indicator.id.clone());
        }
        refs
    }

    /// Adds the victim identity when the view releases one; returns its id.
    fn add_victim(&mut self, view: &View, stamp: &Stamp) -> Option<String> {
        let victim = view.content.victim.as_ref()?;
        let id = derived_id("identity", &format!("accord|victim|{}", view.report_id));
        let mut body = json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": id,
            "created": stamp.created,
            "modified": stamp.modified,
            "created_by_ref": stamp.author,
            "name": victim.name.clone().unwrap_or_else(|| "victim".to_owned()),
            "identity_class": "unknown",
            "description": "the victim of the reported incident",
            "object_marking_refs": [stamp.marking],
        });
        let contact: Vec<String> = [
            ("email", &victim.email),
            ("phone", &victim.phone),
            ("country", &victim.country),
        ]
        .into_iter()
        .filter_map(|(label, value)| value.as_ref().map(|value| format!("{label}: {value}")))
        .collect();
        insert(
            &mut body,
            "contact_information",
            (!contact.is_empty()).then(|| json!(contact.join("; "))),
        );
        insert(
            &mut body,
            "sectors",
            victim.sector.as_ref().map(|sector| json!([sector])),
        );
        self.own(body, stamp.released, stamp.released);
        Some(id)
    }

    /// Adds the report object referring to `refs`.
    fn add_report(&mut self, view: &View, stamp: &Stamp, refs: Vec<String>) {
        let content = &view.content;
        let mut labels: Vec<String> = content.categories.clone();
        if let Some(sector) = &content.sector {
            labels.push(format!("sector:{sector}"));
        }
        let name = content
            .title
            .clone()
            .unwrap_or_else(|| format!("Incident report {}", view.report_id));
        let mut report = json!({
            "type": "report",
            "spec_version": "2.1",
            "id": view.report_id,
            "created": stamp.created,
            "modified": stamp.modified,
            "created_by_ref": stamp.author,
            "name": name,
            "report_types": ["threat-report"],
            "published": timestamp(content.occurred_at.max(view.facts.received_at)),
            "object_refs": refs,
            "object_marking_refs": [stamp.marking],
        });
        insert(
            &mut report,
            "description",
            content.description.as_ref().map(|text| json!(text)),
        );
        insert(
            &mut report,
            "labels",
            (!labels.is_empty()).then(|| json!(labels)),
        );
        let references: Vec<Value> = content
            .ttps
            .iter()
            .flatten()
            .map(|ttp| attack_reference(ttp))
            .collect();
        insert(
            &mut report,
            "external_references",
            (!references.is_empty()).then(|| json!(references)),
        );
        self.own(report, stamp.released, stamp.released);
    }

    fn finish(self) -> Vec<StixObject> {
        let mut objects: Vec<StixObject> = self.own.into_values().collect();
        for (id, shared) in self.shared {
            let mut body = shared.body;
            if let Some(tlp) = shared.tlp {
                insert(
                    &mut body,
                    "object_marking_refs",
                    Some(json!([tlp_marking_id(tlp)])),
                );
            }
            if shared.versioned_by_release {
                let at = json!(timestamp(shared.added));
                insert(&mut body, "created", Some(at.clone()));
                insert(&mut body, "modified", Some(at));
            }
            let version = ["modified", "created"]
                .into_iter()
                .find_map(|key| body.get(key).and_then(Value::as_str))
                .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
                .map_or(shared.added, |at| at.with_timezone(&chrono::Utc));
            let kind = body
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            objects.push(StixObject {
                id,
                kind,
                date_added: shared.added,
                version,
                body,
            });
        }
        objects.sort_by(|a, b| {
            a.date_added
                .cmp(&b.date_added)
                .then_with(|| a.id.cmp(&b.id))
        });
        objects
    }
}

fn insert(object: &mut Value, key: &str, value: Option<Value>) {
    if let (Value::Object(map), Some(value)) = (object, value) {
        map.insert(key.to_owned(), value);
    }
}

/// Returns the identity a view is attributed to: the named partner, or the shared anonymous partner.
fn author_identity(view: &View, id: &str) -> Value {
    let (name, description) = match view.profile.attribution {
        Attribution::Anonymous => (
            "anonymous partner".to_owned(),
            "an industry partner whose name the MoU withholds",
        ),
        Attribution::Named => (view.content.partner.clone(), "an Accord industry partner"),
    };
    json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": id,
        "created": IDENTITY_CREATED,
        "modified": IDENTITY_CREATED,
        "name": name,
        "description": description,
        "identity_class": "organization",
    })
}

/// Returns the indicator as exported: a URL in its RFC 3986 form ([`uri_form`]), with the deterministic id of that
/// form when it differs from the canonical value (so that the id is still the one `stix2` computes for the value).
fn exported(indicator: &Indicator) -> Cow<'_, Indicator> {
    if indicator.kind != ObservableType::Url {
        return Cow::Borrowed(indicator);
    }
    match uri_form(&indicator.value) {
        Cow::Borrowed(_) => Cow::Borrowed(indicator),
        Cow::Owned(value) => Cow::Owned(Indicator {
            id: crate::observable_id(ObservableType::Url, &value),
            kind: ObservableType::Url,
            value,
            source: indicator.source,
        }),
    }
}

/// Returns a URL as an RFC 3986 URI, as STIX requires for `url:value`: after the authority, every character a URI
/// does not allow there (`[`, `]`, `|`, `{`, space, non-ASCII, a second `#`, a `%` not starting an escape, …) is
/// percent-encoded as UTF-8. A canonical (WHATWG-serialized) URL can keep some of these in its path and query.
pub fn uri_form(url: &str) -> Cow<'_, str> {
    let authority_start = url.find("://").map_or(0, |at| at + 3);
    let rest_start = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| authority_start + at);
    let (head, rest) = url.split_at(rest_start);
    let bytes = rest.as_bytes();
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&byte);
    let mut out = String::with_capacity(url.len() + 8);
    let mut changed = false;
    let mut in_fragment = false;
    for (index, &byte) in bytes.iter().enumerate() {
        let keep = match byte {
            b'#' if !in_fragment => {
                in_fragment = true;
                true
            }
            b'%' => bytes
                .get(index + 1..index + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)),
            byte => allowed(byte),
        };
        if keep {
            out.push(char::from(byte));
        } else {
            changed = true;
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    if !changed {
        return Cow::Borrowed(url);
    }
    Cow::Owned(format!("{head}{out}"))
}

/// Returns the cyber-observable of an (exported) indicator, not a vulnerability: `value`, or for a `file` its `hashes`
/// (a digest) or `name`, for an `x509-certificate` its `serial_number`.
fn observable(indicator: &Indicator) -> Value {
    let mut body = Map::new();
    body.insert("type".to_owned(), json!(indicator.kind.as_str()));
    body.insert("spec_version".to_owned(), json!("2.1"));
    body.insert("id".to_owned(), json!(indicator.id));
    match (indicator.kind, hash_algorithm(&indicator.value)) {
        (ObservableType::File, Some(algorithm)) => {
            body.insert("hashes".to_owned(), json!({ algorithm: indicator.value }));
        }
        (ObservableType::File, None) => {
            body.insert("name".to_owned(), json!(indicator.value));
        }
        (ObservableType::X509Certificate, _) => {
            body.insert("serial_number".to_owned(), json!(indicator.value));
        }
        _ => {
            body.insert("value".to_owned(), json!(indicator.value));
        }
    }
    Value::Object(body)
}

/// Returns the external reference of a MITRE ATT&CK technique id (`T1566.002`), with its URL when well formed.
fn attack_reference(ttp: &str) -> Value {
    let mut parts = ttp.splitn(2, '.');
    let technique = parts.next().unwrap_or_default();
    let sub = parts.next();
    let digits =
        |text: &str, len: usize| text.len() == len && text.bytes().all(|b| b.is_ascii_digit());
    let well_formed = technique.len() == 5
        && technique.starts_with('T')
        && digits(&technique[1..], 4)
        && sub.is_none_or(|sub| digits(sub, 3));
    if !well_formed {
        return json!({ "source_name": "mitre-attack", "external_id": ttp });
    }
    let path = match sub {
        Some(sub) => format!("{technique}/{sub}"),
        None => technique.to_owned(),
    };
    json!({
        "source_name": "mitre-attack",
        "external_id": ttp,
        "url": format!("https://attack.mitre.org/techniques/{path}/"),
    })
}

#[cfg(test)]
mod tests;
