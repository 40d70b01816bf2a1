//! The one validation of an MoU document (policy-model.md), used by admin's create and update, by the enforcer's
//! preview and by the console's editor: whatever one of them refuses, all refuse, naming the same fields.
//!
//! [`MouValidator::validate`] takes the document as sent and, in this order:
//! 1. drops the read-only fields a client may echo back (`version`, `changed_by`, `changed_at`), takes the id from
//!    the path when there is one (a different id in the body is refused), and defaults `status` to `active`;
//! 2. checks the JSON Schema (`schemas/mou.schema.json`: types, required fields, the enumerations of status, TLP,
//!    content parts, purposes, PII, attribution and feedback, which name the allowed values);
//! 3. reads the typed [`Mou`];
//! 4. checks what the schema cannot say, and brings vocabularies to their canonical form:
//!    - `effective_from` before `expires_at`; `retention_days` at least 1;
//!    - every provider a known partner and every recipient a known agency of the directory;
//!    - `indicator_types` in canonical STIX 2.1 names: an alias reports accept (`ipv4`, `hash`, `md5`) is stored as
//!      its canonical name (`ipv4-addr`, `file`); an unknown name is refused with the allowed ones, because a type
//!      that matches nothing would silently release reports without their indicators;
//!    - `recipient_countries` ISO 3166-1 alpha-2 codes ([`crate::country`]), stored upper-case;
//!    - `categories` and `sectors` from the fixed vocabularies ([`crate::vocabulary`]) that reports use, stored
//!      canonical (an alias such as `Spear Phishing` becomes its canonical value); anything else is refused with the
//!      allowed values, because a scope naming a value no report can carry would match nothing.
//!
//! Every problem is a [`FieldIssue`] whose pointer is into the document as sent.

use std::{collections::HashMap, str::FromStr};

use serde_json::{Value, json};

use crate::{
    Mou, MouId, ObservableType, OrgId, OrgKind, Organization, Scope,
    country::{NOT_A_COUNTRY, country},
    schema,
    validation::{FieldIssue, Invalid, to_pointer},
    vocabulary,
};

/// At most this many schema errors are listed.
const MAX_LISTED_ERRORS: usize = 50;

/// Validates MoU documents; compiled once (the schema) and shared.
#[derive(Debug)]
pub struct MouValidator {
    schema: jsonschema::Validator,
}

/// The MoU schema did not compile: a build defect, refused at start-up.
#[derive(Debug, thiserror::Error)]
#[error("the MoU schema does not compile: {0}")]
pub struct SchemaError(String);

impl MouValidator {
    /// Compiles the MoU schema.
    ///
    /// # Errors
    /// [`SchemaError`] when the bundled schema is not valid (services refuse to start).
    pub fn new() -> Result<Self, SchemaError> {
        let document: Value =
            serde_json::from_str(schema::MOU).map_err(|error| SchemaError(error.to_string()))?;
        let schema =
            jsonschema::validator_for(&document).map_err(|error| SchemaError(error.to_string()))?;
        Ok(Self { schema })
    }

    /// Returns the MoU `document` describes, canonical, or every field that makes it invalid. `id_in_path` is the
    /// id of the MoU being changed (`PUT /v1/mous/{id}`), `None` for a new one; `orgs` is the directory.
    ///
    /// # Errors
    /// [`Invalid`] naming each bad field as a JSON pointer into `document`.
    pub fn validate(
        &self,
        mut document: Value,
        id_in_path: Option<&MouId>,
        orgs: &HashMap<OrgId, Organization>,
    ) -> Result<Mou, Invalid> {
        prepare(&mut document, id_in_path)?;
        let schema_issues: Vec<FieldIssue> = self
            .schema
            .iter_errors(&document)
            .take(MAX_LISTED_ERRORS)
            .map(|error| {
                let pointer = error.instance_path().to_string();
                let pointer = if pointer.is_empty() {
                    "/".to_owned()
                } else {
                    pointer
                };
                FieldIssue::new(pointer, error.to_string())
            })
            .collect();
        Invalid::check(schema_issues)?;
        let mou: Mou = serde_path_to_error::deserialize(&document).map_err(|error| Invalid {
            issues: vec![FieldIssue::new(
                to_pointer(&error.path().to_string()),
                error.inner().to_string(),
            )],
        })?;
        check(mou, &document, orgs)
    }
}

/// Step 1: read-only fields, the id from the path, the default status.
fn prepare(document: &mut Value, id_in_path: Option<&MouId>) -> Result<(), Invalid> {
    let Value::Object(map) = document else {
        return Err(Invalid {
            issues: vec![FieldIssue::new("/", "an MoU must be a json object")],
        });
    };
    for read_only in ["version", "changed_by", "changed_at"] {
        map.remove(read_only);
    }
    if let Some(id) = id_in_path {
        match map.get("id") {
            None => {
                map.insert("id".to_owned(), json!(id));
            }
            Some(given) if given == &json!(id) => {}
            Some(_) => {
                return Err(Invalid {
                    issues: vec![FieldIssue::new("/id", "must match the id in the path")],
                });
            }
        }
    }
    map.entry("status").or_insert_with(|| json!("active"));
    Ok(())
}

/// Step 4: what the schema cannot say.
fn check(
    mut mou: Mou,
    document: &Value,
    orgs: &HashMap<OrgId, Organization>,
) -> Result<Mou, Invalid> {
    let mut issues = Vec::new();
    if mou.effective_from >= mou.expires_at {
        issues.push(FieldIssue::new(
            "/expires_at",
            "must be after effective_from",
        ));
    }
    if mou.retention_days == 0 {
        issues.push(FieldIssue::new("/retention_days", "must be at least 1"));
    }
    check_parties(document, orgs, &mut issues);
    mou.indicator_types = canonical_scope(document, "indicator_types", &mut issues, |name| {
        ObservableType::from_str(name)
            .map(|kind| kind.as_str().to_owned())
            .map_err(|_| {
                format!(
                    "unknown indicator type `{name}`; allowed: {} (or \"*\")",
                    allowed_types()
                )
            })
    });
    mou.recipient_countries =
        canonical_scope(document, "recipient_countries", &mut issues, |code| {
            country(code)
                .map(str::to_owned)
                .ok_or_else(|| format!("`{code}` is not a country: {NOT_A_COUNTRY}"))
        });
    mou.categories = canonical_scope(document, "categories", &mut issues, |value| {
        vocabulary::category(value)
            .map(str::to_owned)
            .ok_or_else(|| {
                format!(
                    "`{value}` is not a category; allowed: {}",
                    vocabulary::category_names().join(", ")
                )
            })
    });
    mou.sectors = canonical_scope(document, "sectors", &mut issues, |value| {
        vocabulary::sector(value).map(str::to_owned).ok_or_else(|| {
            format!(
                "`{value}` is not a sector; allowed: {}",
                vocabulary::sector_names().join(", ")
            )
        })
    });
    Invalid::check(issues)?;
    Ok(mou)
}

/// Returns the strings of the array `field` of `document`, with their indexes (the schema made them strings).
fn strings<'d>(document: &'d Value, field: &str) -> impl Iterator<Item = (usize, &'d str)> {
    document
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(index, value)| value.as_str().map(|value| (index, value)))
}

/// Checks that every provider is a known partner and every recipient a known agency.
fn check_parties(
    document: &Value,
    orgs: &HashMap<OrgId, Organization>,
    issues: &mut Vec<FieldIssue>,
) {
    let sides = [
        ("providers", OrgKind::Partner, "not a partner"),
        ("recipients", OrgKind::Agency, "not an agency"),
    ];
    for (field, kind, wrong_kind) in sides {
        for (index, party) in strings(document, field) {
            let known = OrgId::parse(party)
                .ok()
                .and_then(|id| orgs.get(&id))
                .map(|org| org.kind);
            let problem = match known {
                Some(found) if found == kind => continue,
                Some(_) => wrong_kind,
                None => "unknown organization",
            };
            issues.push(FieldIssue::new(format!("/{field}/{index}"), problem));
        }
    }
}

/// Returns the scope of the array `field` of `document` with every value replaced by `canonical(value)` (`["*"]`
/// stays any); each value it refuses becomes an issue at `/field/<index>`.
fn canonical_scope(
    document: &Value,
    field: &str,
    issues: &mut Vec<FieldIssue>,
    canonical: impl Fn(&str) -> Result<String, String>,
) -> Scope {
    let mut values = std::collections::BTreeSet::new();
    let mut any = document.get(field).is_none();
    for (index, value) in strings(document, field) {
        if value == "*" {
            any = true;
            continue;
        }
        match canonical(value) {
            Ok(value) => {
                values.insert(value);
            }
            Err(message) => issues.push(FieldIssue::new(format!("/{field}/{index}"), message)),
        }
    }
    if any { Scope::Any } else { Scope::Only(values) }
}

fn allowed_types() -> String {
    ObservableType::ALL
        .iter()
        .map(|kind| kind.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
