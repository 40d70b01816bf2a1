//! The tantivy schema of the view index and the mapping from a [`View`] to its documents.
//!
//! Every view is one document. Every report also has one *marker* document that carries only its `report_id` and
//! `version`, so that a replacement with zero views still records the version it was written at. Markers have no
//! grant, so the release filter (a mandatory `grant` term) never matches them.
//!
//! Times are stored as `i64` microseconds since the epoch in fast fields: range filters and sorting read the
//! columns, and no date-precision truncation of tantivy applies.

use accord_domain::{ObservableType, Timestamp, View, observable::IpBlock};
use tantivy::{
    TantivyDocument, Term,
    schema::{FAST, Field, STORED, STRING, Schema, TEXT},
};

/// The name of the view id field (also a fast field, for the sort tie-break).
pub(crate) const VIEW_ID: &str = "view_id";
/// The name of the version field.
pub(crate) const VERSION: &str = "version";
/// The name of the `occurred_at` field (sort key).
pub(crate) const OCCURRED_AT: &str = "occurred_at";
/// The name of the `valid_from` field.
pub(crate) const VALID_FROM: &str = "valid_from";
/// The name of the `valid_until` field.
pub(crate) const VALID_UNTIL: &str = "valid_until";
/// The name of the release base field ([`crate::release_base`]).
pub(crate) const RELEASE_BASE: &str = "release_base";
/// The name of the MoU terms field (also a fast field: the TAXII order reads the versions of each view).
pub(crate) const MOU: &str = "mou";

/// The fields of the index schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    /// The view id (`STRING | FAST`).
    pub(crate) view_id: Field,
    /// The report id, on views and markers (`STRING`): replacements delete by it.
    pub(crate) report_id: Field,
    /// The version the report was written at, on views and markers (`u64 FAST`).
    pub(crate) version: Field,
    /// The grant terms of `crate::document_terms`: `<agency>|<purpose>` per pair the view is shown to,
    /// `<agency>|<purpose>|alt` per pair it is an alternate for (`STRING`, multi-valued).
    pub(crate) grant: Field,
    /// The MoU terms of `crate::document_terms`: ids, `<id>@<version>`, and the versioned marker (`STRING | FAST`,
    /// multi-valued).
    pub(crate) mou: Field,
    /// The view's [`crate::release_base`] (`i64` µs, `FAST`): with the MoU versions, its place in the TAXII order.
    pub(crate) release_base: Field,
    /// Visible from, inclusive (`i64` µs, `FAST`).
    pub(crate) valid_from: Field,
    /// Visible until, exclusive (`i64` µs, `FAST`).
    pub(crate) valid_until: Field,
    /// When the incident happened (`i64` µs, `FAST`): filter and sort key.
    pub(crate) occurred_at: Field,
    /// One `<type>|<canonical value>` term per released indicator (`STRING`, multi-valued).
    pub(crate) indicator: Field,
    /// The canonical CIDR block of each released IP indicator written as a block (`STRING`, multi-valued).
    pub(crate) cidr: Field,
    /// The types of the released indicators (`STRING`, multi-valued).
    pub(crate) indicator_type: Field,
    /// The TLP label (`STRING`).
    pub(crate) tlp: Field,
    /// The sector, when released (`STRING`).
    pub(crate) sector: Field,
    /// The displayed attribution: the partner id or `anonymous` (`STRING`).
    pub(crate) partner: Field,
    /// The title (`TEXT`).
    pub(crate) title: Field,
    /// The description (`TEXT`).
    pub(crate) description: Field,
    /// The ids of the STIX objects of the view's export (`STRING`, multi-valued,
    /// [`accord_stix::export::object_ids`]).
    pub(crate) stix_id: Field,
    /// The whole view as JSON (`STORED` only): hits are decoded from it.
    pub(crate) view_json: Field,
}

impl Fields {
    /// Builds the schema and returns it with its fields.
    pub(crate) fn build() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let fields = Fields {
            view_id: builder.add_text_field(VIEW_ID, STRING | FAST),
            report_id: builder.add_text_field("report_id", STRING),
            version: builder.add_u64_field(VERSION, FAST),
            grant: builder.add_text_field("grant", STRING),
            mou: builder.add_text_field(MOU, STRING | FAST),
            release_base: builder.add_i64_field(RELEASE_BASE, FAST),
            valid_from: builder.add_i64_field(VALID_FROM, FAST),
            valid_until: builder.add_i64_field(VALID_UNTIL, FAST),
            occurred_at: builder.add_i64_field(OCCURRED_AT, FAST),
            indicator: builder.add_text_field("indicator", STRING),
            cidr: builder.add_text_field("cidr", STRING),
            indicator_type: builder.add_text_field("indicator_type", STRING),
            tlp: builder.add_text_field("tlp", STRING),
            sector: builder.add_text_field("sector", STRING),
            partner: builder.add_text_field("partner", STRING),
            title: builder.add_text_field("title", TEXT),
            description: builder.add_text_field("description", TEXT),
            stix_id: builder.add_text_field("stix_id", STRING),
            view_json: builder.add_text_field("view_json", STORED),
        };
        (builder.build(), fields)
    }

    /// Returns the term of a text field.
    pub(crate) fn term(field: Field, value: &str) -> Term {
        Term::from_field_text(field, value)
    }

    /// Returns the `report_id` term that every document of a report carries.
    pub(crate) fn report_term(&self, report_id: &str) -> Term {
        Self::term(self.report_id, report_id)
    }

    /// Returns the `indicator` term of a typed canonical value.
    pub(crate) fn indicator_term(&self, kind: ObservableType, value: &str) -> Term {
        Self::term(self.indicator, &indicator_token(kind, value))
    }

    /// Returns the marker document of a report written at `version`.
    ///
    /// A marker also has an empty view id and a validity window that no time falls in: every fast column then has
    /// one value per document, which tantivy reads faster than a sparse column, and the window keeps markers out of
    /// release filters even without the grant clause.
    pub(crate) fn marker(&self, report_id: &str, version: u64) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.view_id, "");
        doc.add_text(self.report_id, report_id);
        doc.add_u64(self.version, version);
        doc.add_i64(self.valid_from, i64::MAX);
        doc.add_i64(self.valid_until, i64::MIN);
        doc.add_i64(self.occurred_at, i64::MIN);
        doc.add_i64(self.release_base, i64::MIN);
        doc
    }

    /// Returns the document of `view`, indexed under `report_id` at `version`.
    ///
    /// # Errors
    /// Returns the serialization error when the view cannot be written as JSON.
    pub(crate) fn view_document(
        &self,
        report_id: &str,
        version: u64,
        view: &View,
    ) -> Result<TantivyDocument, serde_json::Error> {
        let json = serde_json::to_string(view)?;
        let mut doc = TantivyDocument::default();
        doc.add_text(self.view_id, &view.id);
        doc.add_text(self.report_id, report_id);
        doc.add_u64(self.version, version);
        let (grants, mous) = crate::document_terms(view);
        for grant in grants {
            doc.add_text(self.grant, grant);
        }
        for mou in mous {
            doc.add_text(self.mou, mou);
        }
        doc.add_i64(self.valid_from, micros(view.valid_from));
        doc.add_i64(self.valid_until, micros(view.valid_until));
        doc.add_i64(self.release_base, micros(crate::release_base(view)));
        let content = &view.content;
        doc.add_i64(self.occurred_at, micros(content.occurred_at));
        for indicator in &content.indicators {
            doc.add_text(
                self.indicator,
                indicator_token(indicator.kind, &indicator.value),
            );
            if let Some(block) = cidr_block(indicator.kind, &indicator.value) {
                doc.add_text(self.cidr, &block);
            }
        }
        for kind in view.indicator_types() {
            doc.add_text(self.indicator_type, kind.as_str());
        }
        doc.add_text(self.tlp, content.tlp.as_str());
        if let Some(sector) = &content.sector {
            doc.add_text(self.sector, sector);
        }
        doc.add_text(self.partner, &content.partner);
        if let Some(title) = &content.title {
            doc.add_text(self.title, title);
        }
        if let Some(description) = &content.description {
            doc.add_text(self.description, description);
        }
        for id in accord_stix::export::object_ids(view) {
            doc.add_text(self.stix_id, id);
        }
        doc.add_text(self.view_json, json);
        Ok(doc)
    }
}

/// Returns the indexed form of a typed indicator: `<type>|<canonical value>`.
pub(crate) fn indicator_token(kind: ObservableType, value: &str) -> String {
    format!("{}|{}", kind.as_str(), value)
}

/// Returns the CIDR block an IP indicator names, when it is written as a block (`10.0.0.0/8`), else `None`, in the
/// form [`containing_networks`](accord_domain::observable::containing_networks) lists it: an IPv4-mapped block is the
/// IPv4 block it maps ([`IpBlock`]).
pub(crate) fn cidr_block(kind: ObservableType, value: &str) -> Option<String> {
    if !value.contains('/') {
        return None;
    }
    IpBlock::of(kind, value).map(|block| block.to_string())
}

/// Returns a timestamp as microseconds since the epoch, the unit of every time field.
pub(crate) fn micros(at: Timestamp) -> i64 {
    at.timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicator_tokens_carry_type_and_value() {
        assert_eq!(
            indicator_token(ObservableType::DomainName, "evil.example"),
            "domain-name|evil.example"
        );
        assert_ne!(
            indicator_token(ObservableType::Url, "x"),
            indicator_token(ObservableType::DomainName, "x")
        );
    }

    #[test]
    fn only_ip_blocks_are_cidr_terms() {
        assert_eq!(
            cidr_block(ObservableType::Ipv4Addr, "10.0.0.0/8"),
            Some("10.0.0.0/8".to_owned())
        );
        assert_eq!(
            cidr_block(ObservableType::Ipv6Addr, "2001:db8::/32"),
            Some("2001:db8::/32".to_owned())
        );
        assert_eq!(
            cidr_block(ObservableType::Ipv6Addr, "::ffff:10.0.0.0/104"),
            Some("10.0.0.0/8".to_owned())
        );
        assert_eq!(cidr_block(ObservableType::Ipv4Addr, "10.1.2.3"), None);
        assert_eq!(
            cidr_block(ObservableType::Url, "http://a.example/x/y"),
            None
        );
    }

    #[test]
    fn schema_field_names_match_the_sort_and_version_columns() {
        let (schema, fields) = Fields::build();
        assert_eq!(schema.get_field(VIEW_ID).ok(), Some(fields.view_id));
        assert_eq!(schema.get_field(VERSION).ok(), Some(fields.version));
        assert_eq!(schema.get_field(OCCURRED_AT).ok(), Some(fields.occurred_at));
    }
}
