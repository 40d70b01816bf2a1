//! What each STIX object type contributes to the report.

use accord_domain::{
    ObservableType, PatternInput, Timestamp, Tlp,
    observable::{self, FileForm, ObservableError},
    report::{IncidentReport, IndicatorInput},
    unique::dedup_by_key,
    vocabulary,
};
use serde_json::{Map, Value};

use super::{
    Handling, IngestError, MAX_DESCRIPTION_CHARS, MAX_PATTERN_TYPE_CHARS, MAX_PATTERNS,
    MAX_TITLE_CHARS, dedup_indicators, pointer_escape, push_indicator, truncate_chars, types,
};
use crate::pattern::{self, MAX_PATTERN_CHARS, is_indexed_hash};

/// Returns an object's id (checked by [`check_envelope`]).
pub(super) fn object_id(object: &Value) -> &str {
    object.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// Checks what every object needs: a JSON object with a `type` and an id `<type>--<uuid>`, and `spec_version` 2.1
/// when it says.
pub(super) fn check_envelope(index: usize, object: &Value) -> Result<(), IngestError> {
    let at = |field: &str| format!("/objects/{index}{field}");
    if !object.is_object() {
        return Err(IngestError::malformed(
            at(""),
            "a STIX object is a JSON object",
        ));
    }
    let Some(kind) = object.get("type").and_then(Value::as_str) else {
        return Err(IngestError::malformed(
            at("/type"),
            "required: the object's type",
        ));
    };
    let Some(id) = object.get("id").and_then(Value::as_str) else {
        return Err(IngestError::malformed(
            at("/id"),
            "required: the object's id",
        ));
    };
    let valid_id = id
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix("--"))
        .is_some_and(|uuid| uuid::Uuid::parse_str(uuid).is_ok());
    if !valid_id {
        return Err(IngestError::malformed(
            at("/id"),
            format!("`{id}` is not `{kind}--` followed by a UUID"),
        ));
    }
    if let Some(version) = object.get("spec_version")
        && version.as_str() != Some("2.1")
    {
        return Err(IngestError::malformed(
            at("/spec_version"),
            "only STIX 2.1 is accepted",
        ));
    }
    Ok(())
}

/// The report being assembled from the objects.
#[derive(Debug, Default)]
pub(super) struct Content {
    title: Option<String>,
    description: Option<String>,
    published: Option<Timestamp>,
    /// The earliest "first seen" style date of any object, then the earliest `created`.
    first_seen: Option<Timestamp>,
    earliest_created: Option<Timestamp>,
    fallback_title: Option<String>,
    summary: Vec<String>,
    categories: Vec<String>,
    ttps: Vec<String>,
    indicators: Vec<IndicatorInput>,
    patterns: Vec<PatternInput>,
}

/// What [`Content`] held before an object was read, so that an object left out leaves nothing behind.
struct Mark {
    had_title: bool,
    had_description: bool,
    published: Option<Timestamp>,
    had_fallback_title: bool,
    first_seen: Option<Timestamp>,
    earliest_created: Option<Timestamp>,
    lengths: [usize; 5],
}

/// Objects left out by lenient handling: each with its index and the error that refused it.
pub(super) type Skipped = Vec<(usize, IngestError)>;

impl Content {
    /// Reads every object. Strict, the first invalid object is the error; lenient, an invalid object (its envelope,
    /// type or content) is left out whole and listed with its index.
    pub(super) fn read(
        objects: &[Value],
        handling: Handling,
    ) -> Result<(Self, Skipped), IngestError> {
        let mut content = Content::default();
        let mut skipped = Vec::new();
        for (index, object) in objects.iter().enumerate() {
            let mark = content.mark();
            let read = check_envelope(index, object)
                .and_then(|()| types::check_type(index, object))
                .and_then(|()| content.read_object(index, object));
            match (read, handling) {
                (Ok(()), _) => {}
                (Err(error), Handling::Strict) => return Err(error),
                (Err(error), Handling::Lenient) => {
                    content.rollback(mark);
                    skipped.push((index, error));
                }
            }
        }
        if content.patterns.len() > MAX_PATTERNS {
            return Err(IngestError::malformed(
                "/objects",
                format!("at most {MAX_PATTERNS} indicator objects per bundle"),
            ));
        }
        Ok((content, skipped))
    }

    fn mark(&self) -> Mark {
        Mark {
            had_title: self.title.is_some(),
            had_description: self.description.is_some(),
            published: self.published,
            had_fallback_title: self.fallback_title.is_some(),
            first_seen: self.first_seen,
            earliest_created: self.earliest_created,
            lengths: [
                self.summary.len(),
                self.categories.len(),
                self.ttps.len(),
                self.indicators.len(),
                self.patterns.len(),
            ],
        }
    }

    /// Undoes what an object left out had added (to the lists, and the report's fields it set).
    fn rollback(&mut self, mark: Mark) {
        if !mark.had_title {
            self.title = None;
        }
        if !mark.had_description {
            self.description = None;
        }
        self.published = mark.published;
        if !mark.had_fallback_title {
            self.fallback_title = None;
        }
        self.first_seen = mark.first_seen;
        self.earliest_created = mark.earliest_created;
        let [summary, categories, ttps, indicators, patterns] = mark.lengths;
        self.summary.truncate(summary);
        self.categories.truncate(categories);
        self.ttps.truncate(ttps);
        self.indicators.truncate(indicators);
        self.patterns.truncate(patterns);
    }

    fn read_object(&mut self, index: usize, object: &Value) -> Result<(), IngestError> {
        let kind = object
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let id = object_id(object);
        let at = |field: &str| format!("/objects/{index}{field}");
        let text = |field: &str| object.get(field).and_then(Value::as_str).map(str::trim);
        if let Some(created) = timestamp(object, "created", &at("/created"))? {
            self.earliest_created = earliest(self.earliest_created, created);
        }
        for field in ["first_observed", "first_seen"] {
            if let Some(seen) = timestamp(object, field, &at(&format!("/{field}")))? {
                self.first_seen = earliest(self.first_seen, seen);
            }
        }
        match kind {
            "report" => {
                if self.title.is_none() {
                    self.title = text("name")
                        .filter(|name| !name.is_empty())
                        .map(str::to_owned);
                    self.description = text("description").map(str::to_owned);
                    self.published = timestamp(object, "published", &at("/published"))?;
                    self.categories.extend(strings(object, "report_types"));
                    self.categories.extend(strings(object, "labels"));
                } else if let Some(name) = text("name") {
                    self.summary.push(format!("Report: {name}"));
                }
            }
            "indicator" => self.indicator(index, id, object)?,
            "observed-data" => {
                if let Some(Value::Object(embedded)) = object.get("objects") {
                    for (key, sco) in embedded {
                        let pointer = at(&format!("/objects/{}", pointer_escape(key)));
                        self.observable(&pointer, id, sco)?;
                    }
                }
            }
            "vulnerability" => self.vulnerability(index, id, object)?,
            "attack-pattern" => {
                self.describe("Attack pattern", object);
                for reference in array(object, "external_references") {
                    let source = reference.get("source_name").and_then(Value::as_str);
                    let external = reference.get("external_id").and_then(Value::as_str);
                    if let (Some("mitre-attack"), Some(technique)) = (source, external)
                        && is_technique(technique)
                    {
                        self.ttps.push(technique.to_owned());
                    }
                }
            }
            "malware" => {
                self.describe("Malware", object);
                self.categories.extend(strings(object, "malware_types"));
            }
            "campaign" => self.describe("Campaign", object),
            "threat-actor" => self.describe("Threat actor", object),
            "intrusion-set" => self.describe("Intrusion set", object),
            "tool" => self.describe("Tool", object),
            "infrastructure" => self.describe("Infrastructure", object),
            "course-of-action" => self.describe("Course of action", object),
            _ => self.observable(&at(""), id, object)?,
        }
        Ok(())
    }

    fn indicator(&mut self, index: usize, id: &str, object: &Value) -> Result<(), IngestError> {
        let at = |field: &str| format!("/objects/{index}{field}");
        let Some(text) = object.get("pattern").and_then(Value::as_str) else {
            return Err(IngestError::malformed(
                at("/pattern"),
                "required: the indicator's pattern",
            ));
        };
        let pattern_type = object
            .get("pattern_type")
            .and_then(Value::as_str)
            .unwrap_or("stix")
            .to_owned();
        if text.chars().count() > MAX_PATTERN_CHARS || text.trim().is_empty() {
            return Err(IngestError::malformed(
                at("/pattern"),
                format!("a pattern has 1 to {MAX_PATTERN_CHARS} characters"),
            ));
        }
        if pattern_type.is_empty() || pattern_type.chars().count() > MAX_PATTERN_TYPE_CHARS {
            return Err(IngestError::malformed(
                at("/pattern_type"),
                format!("a pattern type has 1 to {MAX_PATTERN_TYPE_CHARS} characters"),
            ));
        }
        let name = object
            .get("name")
            .and_then(Value::as_str)
            .map(|name| truncate_chars(name, MAX_TITLE_CHARS));
        if self.fallback_title.is_none() {
            // A blank name is no title: the report's title must not be empty.
            self.fallback_title = name
                .as_deref()
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned);
        }
        if pattern_type == "stix" {
            let parsed = pattern::parse(text).map_err(|error| IngestError::InvalidPattern {
                pointer: at("/pattern"),
                object_id: id.to_owned(),
                error,
            })?;
            for found in parsed.observables() {
                let Some(result) = found.canonicalize() else {
                    continue;
                };
                let (kind, value) = result.map_err(|error| IngestError::InvalidObservable {
                    pointer: at("/pattern"),
                    object_id: id.to_owned(),
                    message: format!("`{}`: {error}", found.value),
                })?;
                push_indicator(&mut self.indicators, kind, value);
            }
        }
        self.patterns.push(PatternInput {
            id: Some(id.to_owned()),
            name,
            pattern_type,
            pattern: text.to_owned(),
        });
        Ok(())
    }

    /// A cyber-observable with a value Accord indexes; other objects and other observables contribute nothing.
    fn observable(&mut self, pointer: &str, id: &str, object: &Value) -> Result<(), IngestError> {
        let kind = match object.get("type").and_then(Value::as_str) {
            Some("ipv4-addr") => ObservableType::Ipv4Addr,
            Some("ipv6-addr") => ObservableType::Ipv6Addr,
            Some("domain-name") => ObservableType::DomainName,
            Some("url") => ObservableType::Url,
            Some("email-addr") => ObservableType::EmailAddr,
            Some("file") => {
                if let Some(Value::Object(hashes)) = object.get("hashes") {
                    self.hashes(pointer, id, hashes)?;
                }
                if let Some(name) = object.get("name") {
                    self.file_name(pointer, id, name)?;
                }
                return Ok(());
            }
            Some("x509-certificate") => {
                let Some(serial) = object.get("serial_number") else {
                    return Ok(());
                };
                let field = format!("{pointer}/serial_number");
                let Some(raw) = serial.as_str() else {
                    return Err(IngestError::malformed(field, "a serial number is a string"));
                };
                let kind = ObservableType::X509Certificate;
                let value = canonical(kind, raw, &field, id)?;
                push_indicator(&mut self.indicators, kind, value);
                return Ok(());
            }
            _ => return Ok(()),
        };
        let field = format!("{pointer}/value");
        let Some(raw) = object.get("value").and_then(Value::as_str) else {
            return Err(IngestError::malformed(
                field,
                "required: the observable's value",
            ));
        };
        let value = canonical(kind, raw, &field, id)?;
        push_indicator(&mut self.indicators, kind, value);
        Ok(())
    }

    fn hashes(
        &mut self,
        pointer: &str,
        id: &str,
        hashes: &Map<String, Value>,
    ) -> Result<(), IngestError> {
        for (algorithm, value) in hashes {
            if !is_indexed_hash(algorithm) {
                continue;
            }
            let field = format!("{pointer}/hashes/{}", pointer_escape(algorithm));
            let Some(raw) = value.as_str() else {
                return Err(IngestError::malformed(field, "a hash is a string"));
            };
            let value = observable::canonicalize_file(raw, FileForm::Hash)
                .map_err(|error| invalid(&field, id, raw, &error))?;
            push_indicator(&mut self.indicators, ObservableType::File, value);
        }
        Ok(())
    }

    /// A `file` object's `name`: a file name indicator, unless it reads as a digest (an Accord `file` of that shape is
    /// a hash, so the name cannot be indexed as one). A path or an empty name refuses the bundle like any invalid value.
    fn file_name(&mut self, pointer: &str, id: &str, name: &Value) -> Result<(), IngestError> {
        let field = format!("{pointer}/name");
        let Some(raw) = name.as_str() else {
            return Err(IngestError::malformed(field, "a file name is a string"));
        };
        if FileForm::of(&observable::refang(raw)) == FileForm::Hash {
            return Ok(());
        }
        let value = observable::canonicalize_file(raw, FileForm::Name)
            .map_err(|error| invalid(&field, id, raw, &error))?;
        push_indicator(&mut self.indicators, ObservableType::File, value);
        Ok(())
    }

    fn vulnerability(&mut self, index: usize, id: &str, object: &Value) -> Result<(), IngestError> {
        self.describe("Vulnerability", object);
        let mut candidates: Vec<(String, &str)> = Vec::new();
        if let Some(name) = object.get("name").and_then(Value::as_str)
            && name.trim().to_ascii_uppercase().starts_with("CVE-")
        {
            candidates.push((format!("/objects/{index}/name"), name));
        }
        for (position, reference) in array(object, "external_references").iter().enumerate() {
            let source = reference.get("source_name").and_then(Value::as_str);
            if let (Some("cve"), Some(external)) =
                (source, reference.get("external_id").and_then(Value::as_str))
            {
                candidates.push((
                    format!("/objects/{index}/external_references/{position}/external_id"),
                    external,
                ));
            }
        }
        for (pointer, raw) in candidates {
            let value = canonical(ObservableType::Vulnerability, raw, &pointer, id)?;
            push_indicator(&mut self.indicators, ObservableType::Vulnerability, value);
        }
        Ok(())
    }

    /// Adds `Label: name — description` to the summary, and remembers the first name as a fallback title.
    fn describe(&mut self, label: &str, object: &Value) {
        let Some(name) = object.get("name").and_then(Value::as_str).map(str::trim) else {
            return;
        };
        if name.is_empty() {
            return;
        }
        if self.fallback_title.is_none() {
            self.fallback_title = Some(format!("{label}: {name}"));
        }
        let mut line = format!("{label}: {name}");
        let aliases = strings(object, "aliases");
        if !aliases.is_empty() {
            line.push_str(&format!(" (aka {})", aliases.join(", ")));
        }
        if let Some(description) = object
            .get("description")
            .and_then(Value::as_str)
            .map(str::trim)
            && !description.is_empty()
        {
            line.push_str(" — ");
            line.push_str(description);
        }
        self.summary.push(line);
    }

    /// Assembles the native report.
    pub(super) fn into_report(mut self, tlp: Tlp) -> IncidentReport {
        dedup_indicators(&mut self.indicators);
        dedup_by_key(&mut self.ttps, Clone::clone);
        let title = self
            .title
            .or(self.fallback_title)
            .unwrap_or_else(|| "STIX 2.1 bundle".to_owned());
        let mut description = self.description.unwrap_or_default();
        if !self.summary.is_empty() {
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str(&self.summary.join("\n"));
        }
        // Labels, report types and malware types are categories only when the vocabulary knows them (canonical);
        // any other label is not a category (docs/decisions/0013-categories-and-sectors.md).
        let mut categories: Vec<String> = Vec::new();
        for category in self.categories {
            let Some(category) = vocabulary::category(&category) else {
                continue;
            };
            if !categories.iter().any(|known| known == category) {
                categories.push(category.to_owned());
            }
        }
        let occurred_at = self
            .published
            .or(self.first_seen)
            .or(self.earliest_created)
            .unwrap_or_else(chrono::Utc::now);
        IncidentReport {
            title: truncate_chars(&title, MAX_TITLE_CHARS),
            description: truncate_chars(&description, MAX_DESCRIPTION_CHARS),
            occurred_at,
            tlp: Some(tlp),
            classification: "unclassified".to_owned(),
            categories,
            sector: None,
            indicators: self.indicators,
            ttps: self.ttps.into_iter().take(200).collect(),
            victim: None,
            patterns: self.patterns,
        }
    }
}

/// Canonicalizes one observable value, or says why it is invalid.
fn canonical(
    kind: ObservableType,
    raw: &str,
    pointer: &str,
    id: &str,
) -> Result<String, IngestError> {
    observable::canonicalize(Some(kind), raw)
        .map(|(_, value)| value)
        .map_err(|error| invalid(pointer, id, raw, &error))
}

/// The error of an invalid observable value at `pointer` in object `id`.
fn invalid(pointer: &str, id: &str, raw: &str, error: &ObservableError) -> IngestError {
    IngestError::InvalidObservable {
        pointer: pointer.to_owned(),
        object_id: id.to_owned(),
        message: format!("`{raw}`: {error}"),
    }
}

fn timestamp(object: &Value, field: &str, pointer: &str) -> Result<Option<Timestamp>, IngestError> {
    let Some(value) = object.get(field) else {
        return Ok(None);
    };
    let parsed = value
        .as_str()
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .map(|time| time.with_timezone(&chrono::Utc));
    match parsed {
        Some(time) => Ok(Some(time)),
        None => Err(IngestError::malformed(pointer, "not an RFC 3339 timestamp")),
    }
}

fn earliest(known: Option<Timestamp>, candidate: Timestamp) -> Option<Timestamp> {
    Some(known.map_or(candidate, |known| known.min(candidate)))
}

fn array<'a>(object: &'a Value, field: &str) -> &'a [Value] {
    object
        .get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn strings(object: &Value, field: &str) -> Vec<String> {
    array(object, field)
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// `T1566` or `T1566.002`.
fn is_technique(id: &str) -> bool {
    let Some(rest) = id.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = match rest.split_once('.') {
        Some((main, sub)) => (main, Some(sub)),
        None => (rest, None),
    };
    let digits = |text: &str, len: usize| {
        text.len() == len && text.bytes().all(|byte| byte.is_ascii_digit())
    };
    digits(main, 4) && sub.is_none_or(|sub| digits(sub, 3))
}
