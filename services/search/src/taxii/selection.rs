//! The filters and paging of a read of a collection (`added_after`, `match[…]`, `limit`, `next`), and the position
//! of an object in the collection's order, which the opaque `next` cursor carries.
//!
//! Objects are ordered by [`Position`]: the time their group was released to the agency (microseconds; `date_added`
//! is that time to the millisecond, so the order is by `date_added`), then the group (a view's id, or
//! [`REVOKED_GROUP`] for revoked objects), then the object id. `next` names the last object returned; a read with it
//! continues strictly after that position, so objects added meanwhile (which sort later) are neither skipped nor
//! repeated.

use std::collections::BTreeSet;

use accord_domain::Timestamp;
use accord_runtime::taxii::TaxiiError;
use accord_stix::export::StixObject;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// The largest page (`limit`) served; a larger `limit` gets this many.
pub(crate) const MAX_PAGE: usize = 1_000;

/// The group of revoked objects (sorts before every view id at the same time).
pub(crate) const REVOKED_GROUP: &str = "revoked";

/// Where an object is in the collection's order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    /// When its group was released to the agency (microseconds).
    pub(crate) at: Timestamp,
    /// Its view's id, or [`REVOKED_GROUP`].
    pub(crate) group: String,
    /// Its STIX id.
    pub(crate) object: String,
}

/// An object and its place in the collection.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    /// Its place.
    pub(crate) position: Position,
    /// The object.
    pub(crate) object: StixObject,
}

/// The filters and paging of a read.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    pub(crate) added_after: Option<Timestamp>,
    pub(crate) types: Option<BTreeSet<String>>,
    pub(crate) ids: Option<BTreeSet<String>>,
    pub(crate) spec_versions: Option<BTreeSet<String>>,
    pub(crate) versions: Option<Vec<String>>,
    pub(crate) limit: usize,
    pub(crate) after: Option<Position>,
}

fn parse_timestamp(name: &str, value: &str) -> Result<Timestamp, TaxiiError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|_| TaxiiError::BadRequest(format!("`{name}` must be an RFC 3339 timestamp")))
}

fn list(value: &str) -> BTreeSet<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Returns the `next` cursor of a position.
pub(crate) fn encode_cursor(position: &Position) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}|{}|{}",
        position.at.timestamp_micros(),
        position.group,
        position.object
    ))
}

/// Decodes a `next` cursor. A cursor of the earlier form (`<µs>|<object id>`) continues at the start of its time.
pub(crate) fn decode_cursor(cursor: &str) -> Result<Position, TaxiiError> {
    let invalid =
        || TaxiiError::BadRequest("`next` is not a value this server returned".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '|');
    let micros: i64 = parts
        .next()
        .and_then(|micros| micros.parse().ok())
        .ok_or_else(invalid)?;
    let at = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    let (group, object) = match (parts.next(), parts.next()) {
        (Some(group), Some(object)) => (group.to_owned(), object.to_owned()),
        (Some(_), None) => (String::new(), String::new()),
        _ => return Err(invalid()),
    };
    Ok(Position { at, group, object })
}

/// Parses the query parameters of a read.
pub(crate) fn parse_selection(params: &[(String, String)]) -> Result<Selection, TaxiiError> {
    let mut selection = Selection {
        limit: MAX_PAGE,
        ..Selection::default()
    };
    for (name, value) in params {
        match name.as_str() {
            "added_after" => selection.added_after = Some(parse_timestamp(name, value)?),
            "limit" => {
                let limit: usize = value.trim().parse().map_err(|_| {
                    TaxiiError::BadRequest("`limit` must be a positive integer".to_owned())
                })?;
                if limit == 0 {
                    return Err(TaxiiError::BadRequest(
                        "`limit` must be a positive integer".to_owned(),
                    ));
                }
                selection.limit = limit.min(MAX_PAGE);
            }
            "next" => selection.after = Some(decode_cursor(value)?),
            "match[type]" => selection.types = Some(list(value)),
            "match[id]" => {
                let ids = list(value);
                if ids.len() > accord_index::MAX_OBJECT_IDS {
                    return Err(TaxiiError::BadRequest(format!(
                        "`match[id]` lists more than {} ids",
                        accord_index::MAX_OBJECT_IDS
                    )));
                }
                selection.ids = Some(ids);
            }
            "match[spec_version]" => selection.spec_versions = Some(list(value)),
            "match[version]" => {
                let versions: Vec<String> = list(value).into_iter().collect();
                for version in &versions {
                    if !matches!(version.as_str(), "first" | "last" | "all") {
                        parse_timestamp(name, version)?;
                    }
                }
                selection.versions = Some(versions);
            }
            // Other parameters (and match filters this server does not offer) are ignored, as TAXII allows.
            _ => {}
        }
    }
    Ok(selection)
}

impl Selection {
    /// Returns whether an object passes the filters (not the paging).
    pub(crate) fn admits(&self, object: &StixObject) -> bool {
        if self
            .added_after
            .is_some_and(|after| object.date_added <= after)
        {
            return false;
        }
        if self
            .types
            .as_ref()
            .is_some_and(|types| !types.contains(&object.kind))
        {
            return false;
        }
        if self
            .ids
            .as_ref()
            .is_some_and(|ids| !ids.contains(&object.id))
        {
            return false;
        }
        // Accord serves STIX 2.1 only, so every object is its own latest spec version.
        if self
            .spec_versions
            .as_ref()
            .is_some_and(|versions| !versions.contains("2.1"))
        {
            return false;
        }
        // Every object has exactly one version here: it is the first, the last, and all of them.
        if let Some(versions) = &self.versions {
            let matches = versions.iter().any(|version| match version.as_str() {
                "first" | "last" | "all" => true,
                timestamp => parse_timestamp("match[version]", timestamp)
                    .is_ok_and(|at| at == object.version),
            });
            if !matches {
                return false;
            }
        }
        true
    }

    /// Returns whether a placed object comes after the cursor and passes the filters.
    pub(crate) fn takes(&self, placed: &Placed) -> bool {
        self.after
            .as_ref()
            .is_none_or(|after| placed.position > *after)
            && self.admits(&placed.object)
    }

    /// Returns the page of `objects` (in collection order): the admitted ones after the cursor, at most `limit`, and
    /// whether more follow.
    pub(crate) fn page(&self, objects: Vec<Placed>) -> (Vec<Placed>, bool) {
        let mut admitted = objects.into_iter().filter(|placed| self.takes(placed));
        let page: Vec<Placed> = admitted.by_ref().take(self.limit).collect();
        let more = admitted.next().is_some();
        (page, more)
    }
}

#[cfg(test)]
mod tests;
