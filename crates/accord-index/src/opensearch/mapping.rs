//! Index names, the index templates installed at start-up, and the documents Accord writes.
//!
//! Two indices per deployment, each created from a composable index template (`PUT _index_template/<name>`):
//!
//! - `<prefix>-views`: one document per view, `_id` = `<report id>:<view id>`. Keyword fields for exact matches and
//!   filters (`indicator` = `<type>|<canonical value>`, `indicator_value`, `indicator_type`, `grant` and `mou` (the
//!   terms of `crate::document_terms`), `tlp`, `sector`, `partner`, `report_id`, `view_id`), two `ip_range` fields,
//!   `cidr_v4` and `cidr_v6`, holding the CIDR indicators of each family (a `term` query with an address finds the
//!   blocks containing it; `ip_range` stores IPv4 as IPv4-mapped IPv6, so one field would let a stored `::/0` hold
//!   every IPv4 address), each block as [`IpBlock`] derives it (an IPv4-mapped block is the IPv4 block it maps:
//!   OpenSearch refuses CIDR notation on a mapped address), an `ip` field for plain addresses, `text` fields `title`
//!   and `description` analyzed by `accord_text` (below), `date_nanos` fields `valid_from`, `valid_until` and
//!   `occurred_at`, the report `version`, the ids of the STIX objects of the view's export in `stix_id` (a TAXII read
//!   of given objects), and the whole view in `view` (an object with `enabled: false`: stored in
//!   `_source`, never indexed). `dynamic: strict` turns a field Accord does not know into an item failure instead of
//!   a silent new mapping.
//! - `<prefix>-reports`: one *marker* per report, `_id` = report id, written conditionally on what was read
//!   (`if_seq_no`/`if_primary_term` or `create`, see the `write` module): the version the report is at, pending or
//!   committed, and the document ids of its views.
//!
//! `date_nanos` keeps the microseconds Accord's time filters are specified in (`date` would round to milliseconds),
//! but only holds 1970-01-01 to 2262-04-11: times are clamped into that range in documents and queries ([`clamp`]),
//! which changes no comparison between the times Accord produces.
//!
//! The text analyzer `accord_text` splits like the embedded index's tokenizer ([`crate::text_words`]): runs of
//! letters and digits (a `pattern` tokenizer on `[^\p{L}\p{N}]+`), lower-cased, words of 40 bytes or more dropped.
//! The `standard` analyzer would keep `evil.example` and `10.1.2.3` as single tokens, so that a search for `example`
//! found a report on tantivy and not on OpenSearch.
//!
//! `refresh_interval` is set to `1s` explicitly: a view is searchable about one second after the bulk request that
//! wrote it, with no per-request refresh (which would create a segment per batch), and an explicit interval also
//! keeps idle shards refreshing (OpenSearch skips refreshes of "search idle" shards when the interval is unset).
//! Changing the templates does not change existing indices: a rebuild (`generation` module) creates new ones with
//! the current templates. Each template's patterns are its alias name and `<alias>-*` (the generations).

use accord_domain::{ObservableType, Timestamp, View, observable::IpBlock};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::OpenSearchConfig;

/// The name of the text analyzer of `title` and `description`.
pub(crate) const TEXT_ANALYZER: &str = "accord_text";

/// The longest document `_id` OpenSearch accepts, in bytes.
pub(crate) const MAX_ID_BYTES: usize = 512;

/// The names of one deployment's indices and templates, or of one generation of them (`generation` module).
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// The views index (and its template): the alias searches read, or a concrete index.
    pub(crate) views: String,
    /// The report markers index (and its template): an alias, or a concrete index.
    pub(crate) reports: String,
}

impl Names {
    /// Returns the names for `prefix`: the aliases `<prefix>-views` and `<prefix>-reports` (or, on a deployment
    /// from before generations, the concrete indices of those names: generation 0).
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            views: format!("{prefix}-views"),
            reports: format!("{prefix}-reports"),
        }
    }

    /// Returns the concrete indices of `generation`: `<prefix>-views-<generation>` and
    /// `<prefix>-reports-<generation>`, or the names of [`Names::new`] for generation 0.
    pub(crate) fn generation(prefix: &str, generation: u64) -> Self {
        if generation == 0 {
            return Self::new(prefix);
        }
        Self {
            views: format!("{prefix}-views-{generation}"),
            reports: format!("{prefix}-reports-{generation}"),
        }
    }
}

/// Returns the analysis settings: the `accord_text` analyzer (see the module docs).
fn analysis() -> Value {
    json!({
        "tokenizer": {
            "accord_words": { "type": "pattern", "pattern": "[^\\p{L}\\p{N}]+" }
        },
        "filter": {
            "accord_short": { "type": "length", "max": 39 }
        },
        "analyzer": {
            TEXT_ANALYZER: {
                "type": "custom",
                "tokenizer": "accord_words",
                "filter": ["lowercase", "accord_short"]
            }
        }
    })
}

/// Returns the composable index template of the views index.
pub(crate) fn views_template(names: &Names, config: &OpenSearchConfig) -> Value {
    let keyword = || json!({ "type": "keyword" });
    let date = || json!({ "type": "date_nanos" });
    let text = || json!({ "type": "text", "analyzer": TEXT_ANALYZER });
    json!({
        "index_patterns": [names.views, format!("{}-*", names.views)],
        "priority": 100,
        "template": {
            "settings": {
                "index": {
                    "number_of_shards": config.shards,
                    "number_of_replicas": config.replicas,
                    "refresh_interval": "1s",
                    "max_result_window": config.max_result_window
                },
                "analysis": analysis()
            },
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "report_id": keyword(),
                    "view_id": keyword(),
                    "version": { "type": "long" },
                    "grant": keyword(),
                    "mou": keyword(),
                    "valid_from": date(),
                    "valid_until": date(),
                    "occurred_at": date(),
                    "indicator": keyword(),
                    "indicator_value": keyword(),
                    "indicator_type": keyword(),
                    "cidr_v4": { "type": "ip_range" },
                    "cidr_v6": { "type": "ip_range" },
                    "ip": { "type": "ip" },
                    "tlp": keyword(),
                    "sector": keyword(),
                    "partner": keyword(),
                    "title": text(),
                    "description": text(),
                    "stix_id": keyword(),
                    "view": { "type": "object", "enabled": false }
                }
            }
        },
        "_meta": { "managed_by": "accord", "content": "views" }
    })
}

/// Returns the composable index template of the report markers index. Markers are read with `_mget` (real time) by
/// id, never searched: one shard is plenty and nothing but `report_id` needs indexing.
pub(crate) fn reports_template(names: &Names, replicas: u32) -> Value {
    let stored = || json!({ "type": "keyword", "index": false, "doc_values": false });
    json!({
        "index_patterns": [names.reports, format!("{}-*", names.reports)],
        "priority": 100,
        "template": {
            "settings": {
                "index": {
                    "number_of_shards": 1,
                    "number_of_replicas": replicas,
                    "refresh_interval": "1s"
                }
            },
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "report_id": { "type": "keyword" },
                    "version": { "type": "long" },
                    "state": { "type": "keyword" },
                    "views": stored(),
                    "superseded": stored()
                }
            }
        },
        "_meta": { "managed_by": "accord", "content": "report markers" }
    })
}

/// The state of a report marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MarkerState {
    /// Claimed at `2 × version`: the views of `version` may be partly written.
    Pending,
    /// Committed at `2 × version + 1`: the views of `version` are written and the superseded ones deleted.
    Committed,
}

/// The `_source` of a report marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Marker {
    /// The report.
    pub(crate) report_id: String,
    /// The report version (`ReplaceViews::version`).
    pub(crate) version: u64,
    /// Pending or committed.
    pub(crate) state: MarkerState,
    /// The document ids of the views of `version`.
    pub(crate) views: Vec<String>,
    /// While pending: the document ids of earlier views that this version deletes.
    pub(crate) superseded: Vec<String>,
}

/// Returns the document id of a view: `<report id>:<view id>`. The report id keeps reports apart even if two ever
/// produced the same view id.
pub(crate) fn view_doc_id(report_id: &str, view_id: &str) -> String {
    format!("{report_id}:{view_id}")
}

/// Returns the indexed document of `view`, written under `report_id` at `version`.
///
/// # Errors
/// Returns the serialization error when the view cannot be written as JSON.
pub(crate) fn view_document(
    report_id: &str,
    version: u64,
    view: &View,
) -> Result<Value, serde_json::Error> {
    let content = &view.content;
    let mut indicator = Vec::with_capacity(content.indicators.len());
    let mut indicator_value = Vec::with_capacity(content.indicators.len());
    let (mut cidr_v4, mut cidr_v6, mut ip) = (Vec::new(), Vec::new(), Vec::new());
    for item in &content.indicators {
        indicator.push(format!("{}|{}", item.kind.as_str(), item.value));
        indicator_value.push(item.value.as_str());
        match ip_field(item.kind, &item.value) {
            Some(IpField::Address(block)) => ip.push(block.to_string()),
            Some(IpField::V4(block)) => cidr_v4.push(block.to_string()),
            Some(IpField::V6(block)) => cidr_v6.push(block.to_string()),
            None => {}
        }
    }
    let types: Vec<&str> = view
        .indicator_types()
        .into_iter()
        .map(ObservableType::as_str)
        .collect();
    let (grants, mous) = crate::document_terms(view);
    Ok(json!({
        "report_id": report_id,
        "view_id": view.id,
        "version": version,
        "grant": grants,
        "mou": mous,
        "valid_from": date_value(view.valid_from),
        "valid_until": date_value(view.valid_until),
        "occurred_at": date_value(content.occurred_at),
        "indicator": indicator,
        "indicator_value": indicator_value,
        "indicator_type": types,
        "cidr_v4": cidr_v4,
        "cidr_v6": cidr_v6,
        "ip": ip,
        "tlp": content.tlp.as_str(),
        "sector": content.sector,
        "partner": content.partner,
        "title": content.title,
        "description": content.description,
        "stix_id": accord_stix::export::object_ids(view),
        "view": serde_json::to_value(view)?,
    }))
}

/// Which IP field an indicator goes into, with the value written there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpField {
    /// A single address: the `ip` field.
    Address(IpBlock),
    /// An IPv4 block (an IPv4-mapped block included): the `cidr_v4` field.
    V4(IpBlock),
    /// An IPv6 block: the `cidr_v6` field.
    V6(IpBlock),
}

/// Returns the IP field of an IPv4/IPv6 indicator, or `None` for other types and for values OpenSearch would refuse
/// (a malformed value would fail the whole document, and the view would never be indexed; its keyword
/// `indicator` term is written either way).
pub(crate) fn ip_field(kind: ObservableType, value: &str) -> Option<IpField> {
    let block = IpBlock::of(kind, value)?;
    Some(if block.is_address() {
        IpField::Address(block)
    } else if block.is_ipv4() {
        IpField::V4(block)
    } else {
        IpField::V6(block)
    })
}

/// The earliest time a `date_nanos` field holds.
fn min_date() -> Timestamp {
    DateTime::<Utc>::UNIX_EPOCH
}

/// The latest time a `date_nanos` field holds (2262-04-11T23:47:16.854775807Z).
fn max_date() -> Timestamp {
    DateTime::from_timestamp_nanos(i64::MAX)
}

/// Returns `at` clamped into the range of `date_nanos`.
pub(crate) fn clamp(at: Timestamp) -> Timestamp {
    at.clamp(min_date(), max_date())
}

/// Returns the JSON form of a time for a `date_nanos` field or range: RFC 3339 with nanoseconds, clamped.
pub(crate) fn date_value(at: Timestamp) -> String {
    clamp(at).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_fields_take_only_values_opensearch_accepts() {
        use ObservableType as T;
        let field = |kind, value| {
            ip_field(kind, value).map(|field| match field {
                IpField::Address(block) => ("ip", block.to_string()),
                IpField::V4(block) => ("cidr_v4", block.to_string()),
                IpField::V6(block) => ("cidr_v6", block.to_string()),
            })
        };
        let some = |name, value: &str| Some((name, value.to_owned()));
        assert_eq!(
            field(T::Ipv4Addr, "10.0.0.0/8"),
            some("cidr_v4", "10.0.0.0/8")
        );
        assert_eq!(
            field(T::Ipv6Addr, "2001:db8::/32"),
            some("cidr_v6", "2001:db8::/32")
        );
        assert_eq!(
            field(T::Ipv6Addr, "::ffff:10.0.0.0/104"),
            some("cidr_v4", "10.0.0.0/8")
        );
        assert_eq!(field(T::Ipv6Addr, "::/0"), some("cidr_v6", "::/0"));
        assert_eq!(field(T::Ipv4Addr, "10.1.2.3"), some("ip", "10.1.2.3"));
        assert_eq!(field(T::Ipv6Addr, "2001:db8::1"), some("ip", "2001:db8::1"));
        assert_eq!(field(T::Ipv4Addr, "10.0.0.0/33"), None);
        assert_eq!(field(T::Ipv4Addr, "10.0.0.0/x"), None);
        assert_eq!(field(T::Ipv4Addr, "not-an-ip"), None);
        assert_eq!(field(T::DomainName, "10.0.0.1"), None);
    }

    #[test]
    fn dates_keep_nanoseconds_and_are_clamped() {
        let at: Timestamp = "2024-02-01T00:00:00.000001Z".parse().unwrap();
        assert_eq!(date_value(at), "2024-02-01T00:00:00.000001000Z");
        let early: Timestamp = "1960-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(date_value(early), "1970-01-01T00:00:00.000000000Z");
        let late: Timestamp = "9999-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(date_value(late), "2262-04-11T23:47:16.854775807Z");
    }

    #[test]
    fn templates_name_their_own_index_only() {
        let names = Names::new("accord-test-x");
        let config = OpenSearchConfig::new("http://localhost:9200".parse().unwrap());
        let template = views_template(&names, &config);
        assert_eq!(
            template["index_patterns"],
            json!(["accord-test-x-views", "accord-test-x-views-*"])
        );
        let settings = &template["template"]["settings"];
        assert_eq!(settings["index"]["max_result_window"], json!(10_000));
        assert_eq!(
            settings["analysis"]["tokenizer"]["accord_words"]["pattern"],
            json!("[^\\p{L}\\p{N}]+")
        );
        let mappings = &template["template"]["mappings"]["properties"];
        assert_eq!(mappings["title"]["analyzer"], json!(TEXT_ANALYZER));
        assert_eq!(
            reports_template(&names, 1)["index_patterns"],
            json!(["accord-test-x-reports", "accord-test-x-reports-*"])
        );
    }
}
