//! The query DSL Accord sends, and the decoding of search answers.
//!
//! Every search and every lookup is one `bool` query whose `filter` list starts with the release filter
//! ([`release_filter`]): `terms` on the caller's grant terms (`<agency>|<purpose>`, and `<agency>|<purpose>|alt` when
//! alternates are asked for), `terms` on the MoUs in force (an empty list matches nothing), and the validity window
//! `valid_from <= at < valid_until`. The application adds it to every
//! query; nothing an investigator types can reach it, because free text goes through `simple_query_string` over
//! `title` and `description` only, with the operators limited to `+`, `-`, `"…"` and whitespace (no field names, no
//! wildcards, no fuzziness: "never an error, never another field"); a text of more than [`crate::MAX_TEXT_WORDS`]
//! words is refused before OpenSearch sees it, so that it never exceeds `indices.query.bool.max_clause_count`. All
//! clauses are filters: hits are ordered by `occurred_at` desc, then `view_id` asc, then `report_id` asc (a total
//! order, so that `search_after` pages are stable), never by score. `track_total_hits: true` makes totals exact.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{client::ErrorCause, mapping::date_value};
use crate::{Filters, IndexError, IndicatorMatch, Query, ReleaseFilter, release::VERSIONED};

/// Returns the release filter: grant terms, MoUs in force, validity window; for
/// [`ReleaseFilter::stale_only`], a versioned document carrying none of the current versions.
pub(crate) fn release_filter(release: &ReleaseFilter) -> Value {
    let at = date_value(release.at);
    let mut filter = vec![
        json!({ "terms": { "grant": release.grant_terms() } }),
        json!({ "terms": { "mou": release.mou_terms() } }),
        json!({ "range": { "valid_from": { "lte": at } } }),
        json!({ "range": { "valid_until": { "gt": at } } }),
    ];
    if !release.stale_only {
        return json!({ "bool": { "filter": filter } });
    }
    filter.push(json!({ "term": { "mou": VERSIONED } }));
    json!({
        "bool": {
            "filter": filter,
            "must_not": [{ "terms": { "mou": release.current_terms() } }]
        }
    })
}

/// Returns the clause of an indicator match: the exact `<type>|<value>` term, or, with an address, that term or any
/// stored CIDR block containing the address (a `term` query on an `ip_range` field matches the ranges containing it).
pub(crate) fn indicator_clause(matcher: &IndicatorMatch) -> Value {
    let exact = json!({
        "term": { "indicator": format!("{}|{}", matcher.key.kind.as_str(), matcher.key.value) }
    });
    let Some(ip) = matcher.ip else {
        return exact;
    };
    // IPv4 and IPv6 blocks live in separate fields; an IPv4-mapped address is the IPv4 address it maps.
    let ip = ip.to_canonical();
    let field = if ip.is_ipv4() { "cidr_v4" } else { "cidr_v6" };
    json!({
        "bool": {
            "should": [exact, { "term": { field: ip.to_string() } }],
            "minimum_should_match": 1
        }
    })
}

/// Returns the clause of a free-text search, or `None` when `text` has nothing to search for.
pub(crate) fn text_clause(text: &str) -> Option<Value> {
    if !text.chars().any(char::is_alphanumeric) {
        return None;
    }
    Some(json!({
        "simple_query_string": {
            "query": text,
            "fields": ["title", "description"],
            "default_operator": "and",
            "flags": "AND|NOT|PHRASE|WHITESPACE",
            "lenient": true
        }
    }))
}

/// Returns the clauses of the field filters.
pub(crate) fn filter_clauses(filters: &Filters) -> Vec<Value> {
    let mut clauses = Vec::new();
    if !filters.types.is_empty() {
        let types: Vec<&str> = filters.types.iter().map(|kind| kind.as_str()).collect();
        clauses.push(json!({ "terms": { "indicator_type": types } }));
    }
    if !filters.tlp.is_empty() {
        let labels: Vec<&str> = filters.tlp.iter().map(|tlp| tlp.as_str()).collect();
        clauses.push(json!({ "terms": { "tlp": labels } }));
    }
    if let Some(sector) = &filters.sector {
        clauses.push(json!({ "term": { "sector": sector } }));
    }
    if let Some(partner) = &filters.partner {
        clauses.push(json!({ "term": { "partner": partner } }));
    }
    if let Some(report) = &filters.report {
        clauses.push(json!({ "term": { "report_id": report.as_str() } }));
    }
    if !filters.stix_ids.is_empty() {
        clauses.push(json!({ "terms": { "stix_id": filters.stix_ids } }));
    }
    if filters.from.is_some() || filters.to.is_some() {
        let mut range = serde_json::Map::new();
        if let Some(from) = filters.from {
            range.insert("gte".to_owned(), json!(date_value(from)));
        }
        if let Some(to) = filters.to {
            range.insert("lt".to_owned(), json!(date_value(to)));
        }
        clauses.push(json!({ "range": { "occurred_at": range } }));
    }
    clauses
}

/// Returns Accord's order of hits: a total order (see the module docs).
fn sort() -> Value {
    json!([
        { "occurred_at": { "order": "desc" } },
        { "view_id": { "order": "asc" } },
        { "report_id": { "order": "asc" } }
    ])
}

/// Returns the query of a search: the release filter and `clauses`, all as filters.
fn filtered(release: &ReleaseFilter, clauses: Vec<Value>) -> Value {
    let mut filter = vec![release_filter(release)];
    filter.extend(clauses);
    json!({ "bool": { "filter": filter } })
}

/// Returns the body of one request for hits `from .. from + size` of `query` in Accord's order, with exact totals;
/// with `views`, each hit carries its view, else only its id and sort values.
pub(crate) fn page_body(query: &Value, from: usize, size: usize, views: bool) -> Value {
    let source = if views { json!(["view"]) } else { json!(false) };
    json!({
        "query": query,
        "sort": sort(),
        "track_total_hits": true,
        "from": from,
        "size": size,
        "_source": source
    })
}

/// Returns the query of a search.
///
/// # Errors
/// Returns [`IndexError::InvalidQuery`] when the free text has too many words ([`crate::check_text`]).
pub(crate) fn search_query(query: &Query) -> Result<Value, IndexError> {
    let mut clauses = Vec::new();
    if let Some(matcher) = &query.indicator {
        clauses.push(indicator_clause(matcher));
    }
    if let Some(text) = &query.text {
        crate::check_text(text)?;
        clauses.extend(text_clause(text));
    }
    crate::check_stix_ids(&query.filters)?;
    clauses.extend(filter_clauses(&query.filters));
    Ok(filtered(&query.release, clauses))
}

/// Returns the query of one lookup of a batch.
pub(crate) fn lookup_query(release: &ReleaseFilter, matcher: &IndicatorMatch) -> Value {
    filtered(release, vec![indicator_clause(matcher)])
}

/// A search answer, or one answer of `_msearch`.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchResponse {
    #[serde(default)]
    timed_out: bool,
    #[serde(rename = "_shards", default)]
    shards: Option<Shards>,
    hits: Hits,
    #[serde(default)]
    pit_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Shards {
    #[serde(default)]
    failed: u64,
}

#[derive(Debug, Deserialize)]
struct Hits {
    total: Total,
    hits: Vec<Hit>,
}

#[derive(Debug, Deserialize)]
struct Total {
    value: u64,
}

/// One hit: its document id, its sort values and, when asked for, its view.
#[derive(Debug, Deserialize)]
pub(crate) struct Hit {
    /// The document id (`<report id>:<view id>`).
    #[serde(rename = "_id")]
    pub(crate) id: String,
    #[serde(rename = "_source", default)]
    source: Option<HitSource>,
    /// The sort values, for `search_after`.
    #[serde(default)]
    pub(crate) sort: Vec<Value>,
}

impl Hit {
    /// Returns the view of this hit.
    ///
    /// # Errors
    /// Returns [`IndexError::Unavailable`] when the answer did not carry it.
    pub(crate) fn view(self) -> Result<accord_domain::View, IndexError> {
        self.source
            .map(|source| source.view)
            .ok_or_else(|| IndexError::Unavailable {
                context: format!("search hit `{}` carries no view", self.id),
                source: None,
            })
    }
}

#[derive(Debug, Deserialize)]
struct HitSource {
    view: accord_domain::View,
}

impl SearchResponse {
    /// Returns the total and the hits of this answer.
    ///
    /// # Errors
    /// Returns [`IndexError::Unavailable`] when the search timed out or shards failed: a partial answer would have
    /// wrong totals and pages, so it is an error (the search service answers 503), never a short page.
    pub(crate) fn into_hits(self) -> Result<(u64, Vec<Hit>), IndexError> {
        let failed = self.shards.as_ref().map_or(0, |shards| shards.failed);
        if self.timed_out || failed > 0 {
            return Err(IndexError::Unavailable {
                context: format!(
                    "search answer is partial (timed out: {}, failed shards: {failed})",
                    self.timed_out
                ),
                source: None,
            });
        }
        Ok((self.hits.total.value, self.hits.hits))
    }

    /// Returns the point in time id this answer carries (it may change from one answer to the next).
    pub(crate) fn pit_id(&self) -> Option<&str> {
        self.pit_id.as_deref()
    }
}

/// The error type OpenSearch answers (500, in 2.x) when a query has more clauses than
/// `indices.query.bool.max_clause_count`: the query is at fault, so it is never retried.
pub(crate) const TOO_MANY_CLAUSES: &str = "too_many_clauses";

/// Returns the error of a query refused with [`TOO_MANY_CLAUSES`].
pub(crate) fn too_many_clauses() -> IndexError {
    IndexError::InvalidQuery(
        "the search has more clauses than the index allows (indices.query.bool.max_clause_count); use fewer words"
            .to_owned(),
    )
}

/// The answer to `_msearch`: one item per search, in order.
#[derive(Debug, Deserialize)]
pub(crate) struct MsearchResponse {
    pub(crate) responses: Vec<Value>,
}

/// One item of a multi-search answer.
pub(crate) enum MsearchItem {
    /// A search answer.
    Answer(Box<SearchResponse>),
    /// A failed search with its status.
    Failed { status: u16, reason: String },
}

/// Decodes one item of a multi-search answer.
///
/// # Errors
/// Returns [`IndexError::Unavailable`] when the item is neither an answer nor an error.
pub(crate) fn msearch_item(item: Value) -> Result<MsearchItem, IndexError> {
    let status = item
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|status| u16::try_from(status).ok())
        .unwrap_or(200);
    if let Some(error) = item.get("error") {
        if error.to_string().contains(TOO_MANY_CLAUSES) {
            return Err(too_many_clauses());
        }
        let cause: ErrorCause = serde_json::from_value(error.clone()).unwrap_or_default();
        return Ok(MsearchItem::Failed {
            status,
            reason: cause.describe(),
        });
    }
    serde_json::from_value(item)
        .map(|answer| MsearchItem::Answer(Box::new(answer)))
        .map_err(|source| IndexError::unavailable("failed to decode a multi-search answer", source))
}

#[cfg(test)]
mod tests {
    use accord_domain::{ObservableType, OrgId, Purpose};

    use super::*;
    use crate::IndicatorKey;

    fn release(mous: &[&str]) -> ReleaseFilter {
        ReleaseFilter {
            agency: OrgId::parse("ncu").unwrap(),
            purpose: Purpose::Investigation,
            at: "2025-01-01T00:00:00Z".parse().unwrap(),
            mous: mous
                .iter()
                .map(|mou| (accord_domain::MouId::parse(mou).unwrap(), 2))
                .collect(),
            views: crate::Views::Shown,
            stale_only: false,
        }
    }

    #[test]
    fn release_filter_has_grant_mous_and_window() {
        assert_eq!(
            release_filter(&release(&["mou-a", "mou-b"])),
            json!({ "bool": { "filter": [
                { "terms": { "grant": ["ncu|investigation"] } },
                { "terms": { "mou": ["mou-a", "mou-b"] } },
                { "range": { "valid_from": { "lte": "2025-01-01T00:00:00.000000000Z" } } },
                { "range": { "valid_until": { "gt": "2025-01-01T00:00:00.000000000Z" } } }
            ] } })
        );
        assert_eq!(
            release_filter(&release(&[]))["bool"]["filter"][1],
            json!({ "terms": { "mou": [] } })
        );
    }

    #[test]
    fn alternates_and_stale_views_are_selected_by_terms() {
        let mut filter = release(&["mou-a"]);
        filter.views = crate::Views::WithAlternates;
        assert_eq!(
            release_filter(&filter)["bool"]["filter"][0],
            json!({ "terms": { "grant": ["ncu|investigation", "ncu|investigation|alt"] } })
        );
        filter.views = crate::Views::AlternatesOnly;
        filter.stale_only = true;
        let stale = release_filter(&filter);
        assert_eq!(
            stale["bool"]["filter"][0],
            json!({ "terms": { "grant": ["ncu|investigation|alt"] } })
        );
        assert_eq!(
            stale["bool"]["filter"][4],
            json!({ "term": { "mou": "@versioned" } })
        );
        assert_eq!(
            stale["bool"]["must_not"],
            json!([{ "terms": { "mou": ["mou-a@2"] } }])
        );
    }

    #[test]
    fn ip_matches_add_the_range_term() {
        let key = IndicatorKey {
            kind: ObservableType::Ipv4Addr,
            value: "10.1.2.3".to_owned(),
        };
        let exact = IndicatorMatch {
            key: key.clone(),
            ip: None,
        };
        assert_eq!(
            indicator_clause(&exact),
            json!({ "term": { "indicator": "ipv4-addr|10.1.2.3" } })
        );
        let containing = IndicatorMatch {
            key,
            ip: Some("10.1.2.3".parse().unwrap()),
        };
        assert_eq!(
            indicator_clause(&containing)["bool"]["should"][1],
            json!({ "term": { "cidr_v4": "10.1.2.3" } })
        );
        let mapped = IndicatorMatch {
            key: IndicatorKey {
                kind: ObservableType::Ipv6Addr,
                value: "::ffff:10.1.2.3".to_owned(),
            },
            ip: Some("::ffff:10.1.2.3".parse().unwrap()),
        };
        assert_eq!(
            indicator_clause(&mapped)["bool"]["should"][1],
            json!({ "term": { "cidr_v4": "10.1.2.3" } })
        );
        let v6 = IndicatorMatch {
            key: IndicatorKey {
                kind: ObservableType::Ipv6Addr,
                value: "2001:db8::1".to_owned(),
            },
            ip: Some("2001:db8::1".parse().unwrap()),
        };
        assert_eq!(
            indicator_clause(&v6)["bool"]["should"][1],
            json!({ "term": { "cidr_v6": "2001:db8::1" } })
        );
    }

    #[test]
    fn blank_text_is_no_clause_and_long_text_is_refused() {
        assert!(text_clause(" * ").is_none());
        assert!(text_clause("ransomware").is_some());
        let mut query = crate::Query {
            release: release(&["mou-a"]),
            indicator: None,
            text: Some("word ".repeat(crate::MAX_TEXT_WORDS)),
            filters: crate::Filters::default(),
            size: 10,
            offset: 0,
        };
        assert!(search_query(&query).is_ok());
        query.text = Some("word ".repeat(crate::MAX_TEXT_WORDS + 1));
        assert!(matches!(
            search_query(&query),
            Err(IndexError::InvalidQuery(_))
        ));
    }

    #[test]
    fn partial_answers_are_errors() {
        let partial: SearchResponse = serde_json::from_value(json!({
            "took": 3, "timed_out": false,
            "_shards": { "total": 2, "successful": 1, "skipped": 0, "failed": 1 },
            "hits": { "total": { "value": 0, "relation": "eq" }, "max_score": null, "hits": [] }
        }))
        .unwrap();
        assert!(partial.into_hits().is_err());
    }
}
