//! A small in-memory model of the OpenSearch 2.x semantics Accord relies on, served by the stub, grown to show
//! what a real cluster does that a naive model hides:
//!
//! - index templates apply at index creation: `index.max_result_window` (a search with `from + size` beyond it is
//!   refused with 400, as OpenSearch does), the analyzer of `title`/`description` (`standard` unless the mapping
//!   names Accord's `accord_text`, see `model_dsl`), and `dynamic: strict`;
//! - `ip_range` fields parse like OpenSearch: CIDR notation on an IPv4-mapped address is a
//!   `mapper_parsing_exception`, and IPv4 ranges live in the IPv6 space (a stored `::/0` holds every IPv4 address);
//! - a query with more clauses than `max_clause_count` (1024) is answered 500 `too_many_clauses`;
//! - external versions with delete tombstones that expire after `gc_deletes` (60 s by default) on a logical clock
//!   the test advances; `_seq_no`/`_primary_term`, `if_seq_no`/`if_primary_term` and `create`;
//! - `_mget` (`ids` or `docs` with `_source` filtering), `_search` and `_msearch` with `_source`, `sort`,
//!   `search_after`, and points in time (`_search/point_in_time`, a snapshot).
//!
//! It lets the whole conformance suite run through the real client, bulk and write protocol on every machine. It is a
//! model, not OpenSearch: it encodes the documented semantics the design assumes, and the same cases run against a
//! real cluster in `live` whenever `OPENSEARCH_URL` is set.

use std::{
    cmp::Ordering,
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use accord_index::conformance::CASES;
use serde_json::{Value, json};

use crate::{
    model_dsl::{Analyzer, clause_count, matches, parse_ip_range},
    stub::{Recorded, Reply, Stub, default_reply, mget_ids},
};

/// A stored document.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub(crate) version: u64,
    pub(crate) seq_no: u64,
    pub(crate) source: Value,
}

/// One index: its documents and the settings its template gave it.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    pub(crate) docs: BTreeMap<String, Doc>,
    max_result_window: usize,
    analyzer: Analyzer,
    /// The fields of a `dynamic: strict` mapping with their types (empty: any field).
    fields: BTreeMap<String, String>,
}

impl Index {
    pub(crate) fn new(template: Option<&Value>) -> Self {
        let template = template.map(|template| &template["template"]);
        let settings = template.map(|template| &template["settings"]);
        let max_result_window = settings
            .and_then(|settings| settings["index"]["max_result_window"].as_u64())
            .map_or(10_000, |window| usize::try_from(window).expect("window"));
        let properties =
            template.and_then(|template| template["mappings"]["properties"].as_object());
        let fields: BTreeMap<String, String> = properties
            .map(|properties| {
                properties
                    .iter()
                    .map(|(name, mapping)| {
                        (
                            name.clone(),
                            mapping["type"].as_str().unwrap_or("object").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let analyzer = match properties
            .and_then(|properties| properties.get("title"))
            .and_then(|title| title["analyzer"].as_str())
        {
            Some("accord_text") => {
                let tokenizer =
                    settings.map(|settings| &settings["analysis"]["tokenizer"]["accord_words"]);
                assert_eq!(
                    tokenizer.map(|tokenizer| tokenizer["pattern"].clone()),
                    Some(json!("[^\\p{L}\\p{N}]+")),
                    "accord_text splits on runs of non-alphanumerics"
                );
                Analyzer::AccordText
            }
            Some(other) => panic!("the model does not know analyzer `{other}`"),
            None => Analyzer::Standard,
        };
        Self {
            docs: BTreeMap::new(),
            max_result_window,
            analyzer,
            fields,
        }
    }

    /// Returns why OpenSearch would refuse `source` under this mapping, if it would.
    pub(crate) fn refuse(&self, source: &Value) -> Option<(&'static str, String)> {
        if self.fields.is_empty() {
            return None;
        }
        for (field, value) in source.as_object()? {
            let Some(kind) = self.fields.get(field) else {
                return Some((
                    "strict_dynamic_mapping_exception",
                    format!(
                        "mapping set to strict, dynamic introduction of [{field}] is not allowed"
                    ),
                ));
            };
            if kind == "ip_range" {
                for block in crate::model_dsl::values(source, field) {
                    if let Err(reason) = parse_ip_range(&block) {
                        return Some((
                            "mapper_parsing_exception",
                            format!("failed to parse field [{field}] of type [ip_range]: {reason}"),
                        ));
                    }
                }
                let _ = value;
            }
        }
        None
    }
}

/// The modelled cluster.
pub(crate) struct Cluster {
    pub(crate) indices: BTreeMap<String, Index>,
    /// alias → the index it points at (`model_aliases`).
    pub(crate) aliases: BTreeMap<String, String>,
    /// (index, id) → (version of the delete, logical time of the delete in ms)
    pub(crate) tombstones: HashMap<(String, String), (u64, u64)>,
    pub(crate) templates: BTreeMap<String, Value>,
    pits: HashMap<String, Index>,
    pub(crate) next_seq_no: u64,
    /// The logical clock in ms (advanced by tests).
    pub(crate) clock_ms: u64,
    /// `index.gc_deletes` in ms.
    pub(crate) gc_deletes_ms: u64,
    /// `indices.query.bool.max_clause_count`.
    pub(crate) max_clause_count: usize,
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            indices: BTreeMap::new(),
            aliases: BTreeMap::new(),
            tombstones: HashMap::new(),
            templates: BTreeMap::new(),
            pits: HashMap::new(),
            next_seq_no: 0,
            clock_ms: 0,
            gc_deletes_ms: 60_000,
            max_clause_count: 1024,
        }
    }
}

/// The sort key of a view document: newest `occurred_at` first, then `view_id`, then `report_id`.
fn sort_key(source: &Value) -> Vec<Value> {
    vec![
        source["occurred_at"].clone(),
        source["view_id"].clone(),
        source["report_id"].clone(),
    ]
}

fn compare(a: &[Value], b: &[Value]) -> Ordering {
    let text = |values: &[Value], at: usize| {
        values
            .get(at)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    text(b, 0)
        .cmp(&text(a, 0))
        .then_with(|| text(a, 1).cmp(&text(b, 1)))
        .then_with(|| text(a, 2).cmp(&text(b, 2)))
}

/// An error answer as OpenSearch shapes it.
fn error(status: u16, kind: &str, reason: &str) -> Value {
    json!({
        "error": {
            "root_cause": [{ "type": kind, "reason": reason }],
            "type": "search_phase_execution_exception", "reason": "all shards failed",
            "caused_by": { "type": kind, "reason": reason }
        },
        "status": status
    })
}

impl Cluster {
    pub(crate) fn handle(&mut self, request: &Recorded) -> Reply {
        let path = request.path.as_str();
        if request.is_bulk() {
            return self.bulk(request);
        }
        if let Some(reply) = self.handle_aliases(request) {
            return reply;
        }
        if let Some(name) = path.strip_prefix("/_index_template/") {
            if request.method == "PUT" {
                self.templates.insert(name.to_owned(), request.json());
            }
            return default_reply(request);
        }
        if let Some(index) = path.strip_suffix("/_search/point_in_time") {
            let snapshot = self
                .indices
                .get(&self.resolve(index.trim_start_matches('/')))
                .cloned();
            let Some(snapshot) = snapshot else {
                return Reply::new(
                    404,
                    json!({ "error": { "type": "index_not_found_exception" }, "status": 404 }),
                );
            };
            let id = format!("pit-{}", self.pits.len());
            self.pits.insert(id.clone(), snapshot);
            return Reply::new(200, json!({ "pit_id": id, "creation_time": 0 }));
        }
        if path == "/_search/point_in_time" && request.method == "DELETE" {
            let ids: Vec<String> = request.json()["pit_id"]
                .as_array()
                .expect("pit ids")
                .iter()
                .filter_map(|id| id.as_str().map(str::to_owned))
                .collect();
            let pits: Vec<Value> = ids
                .iter()
                .map(|id| json!({ "pit_id": id, "successful": self.pits.remove(id).is_some() }))
                .collect();
            return Reply::new(200, json!({ "pits": pits }));
        }
        if let Some(index) = path
            .strip_suffix("/_mget")
            .map(|p| p.trim_start_matches('/'))
        {
            return Reply::new(200, self.mget(&self.resolve(index), request));
        }
        if path == "/_search" {
            let body = request.json();
            let pit = body["pit"]["id"]
                .as_str()
                .expect("a search without index has a pit");
            let Some(snapshot) = self.pits.get(pit) else {
                return Reply::new(
                    404,
                    error(404, "search_context_missing_exception", "no pit"),
                );
            };
            let (status, mut answer) = self.search(snapshot, &body);
            answer["pit_id"] = json!(pit);
            return Reply::new(status, answer);
        }
        if let Some(index) = path
            .strip_suffix("/_search")
            .map(|p| p.trim_start_matches('/'))
        {
            let index = self
                .indices
                .get(&self.resolve(index))
                .cloned()
                .unwrap_or_else(|| Index::new(None));
            let (status, answer) = self.search(&index, &request.json());
            return Reply::new(status, answer);
        }
        if path == "/_msearch" {
            return Reply::new(200, self.msearch(request));
        }
        if request.method == "PUT" && !path.starts_with("/_") {
            return self.create_index(request);
        }
        if request.method == "DELETE" && !path.starts_with("/_") {
            return self.delete_index(request);
        }
        default_reply(request)
    }

    fn mget(&self, index: &str, request: &Recorded) -> Value {
        let body = request.json();
        let only_view = body["docs"][0]["_source"] == json!(["view"]);
        let docs: Vec<Value> = mget_ids(request)
            .iter()
            .map(|id| match self.indices.get(index).and_then(|index| index.docs.get(id)) {
                Some(doc) => {
                    let source = if only_view { json!({ "view": doc.source["view"] }) } else { doc.source.clone() };
                    json!({
                        "_index": index, "_id": id, "_version": doc.version, "_seq_no": doc.seq_no,
                        "_primary_term": 1, "found": true, "_source": source
                    })
                }
                None => json!({ "_index": index, "_id": id, "found": false }),
            })
            .collect();
        json!({ "docs": docs })
    }

    fn msearch(&self, request: &Recorded) -> Value {
        let lines = request.lines();
        let answers: Vec<Value> = lines
            .chunks(2)
            .map(|pair| {
                let name = self.resolve(pair[0]["index"].as_str().expect("index"));
                let index = self
                    .indices
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| Index::new(None));
                let (status, mut answer) = self.search(&index, &pair[1]);
                answer["status"] = json!(status);
                answer
            })
            .collect();
        json!({ "took": 1, "responses": answers })
    }

    /// Answers one search of `index` (a live index or a point in time): status and body.
    fn search(&self, index: &Index, body: &Value) -> (u16, Value) {
        let clauses = clause_count(&body["query"], index.analyzer);
        if clauses > self.max_clause_count {
            let reason = format!("maxClauseCount is set to {}", self.max_clause_count);
            return (500, error(500, "too_many_clauses", &reason));
        }
        let from = usize::try_from(body["from"].as_u64().unwrap_or(0)).unwrap_or(usize::MAX);
        let size = usize::try_from(body["size"].as_u64().unwrap_or(10)).unwrap_or(usize::MAX);
        if from.saturating_add(size) > index.max_result_window {
            let reason = format!(
                "Result window is too large, from + size must be less than or equal to: [{}] but was [{}]. \
                 See the scroll api for a more efficient way to request large data sets.",
                index.max_result_window,
                from.saturating_add(size)
            );
            return (400, error(400, "illegal_argument_exception", &reason));
        }
        assert_eq!(
            body["sort"],
            json!([{ "occurred_at": { "order": "desc" } }, { "view_id": { "order": "asc" } }, { "report_id": { "order": "asc" } }])
        );
        let mut hits: Vec<(&String, &Value)> = index
            .docs
            .iter()
            .map(|(id, doc)| (id, &doc.source))
            .filter(|(_, source)| matches(&body["query"], source, index.analyzer))
            .collect();
        hits.sort_by(|a, b| compare(&sort_key(a.1), &sort_key(b.1)));
        let total = hits.len();
        let after = body["search_after"].as_array();
        let page: Vec<Value> = hits
            .iter()
            .filter(|(_, source)| {
                after.is_none_or(|after| compare(&sort_key(source), after) == Ordering::Greater)
            })
            .skip(from)
            .take(size)
            .map(|(id, source)| {
                let mut hit = json!({ "_id": id, "sort": sort_key(source) });
                match &body["_source"] {
                    Value::Bool(false) => {}
                    fields => {
                        assert_eq!(fields, &json!(["view"]), "hits carry the view only");
                        hit["_source"] = json!({ "view": source["view"] });
                    }
                }
                hit
            })
            .collect();
        (
            200,
            json!({
                "took": 1, "timed_out": false, "_shards": { "total": 1, "successful": 1, "skipped": 0, "failed": 0 },
                "hits": { "total": { "value": total, "relation": "eq" }, "max_score": null, "hits": page }
            }),
        )
    }
}

async fn modelled() -> (Stub, Arc<Mutex<Cluster>>) {
    let cluster = Arc::new(Mutex::new(Cluster::default()));
    let shared = Arc::clone(&cluster);
    let stub =
        Stub::scripted(move |request, _| Some(shared.lock().expect("model").handle(request))).await;
    (stub, cluster)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_conformance_case_passes_on_the_model() {
    for (name, case) in CASES {
        eprintln!("conformance case `{name}` on the OpenSearch model");
        let (stub, _cluster) = modelled().await;
        let mut config = stub.config();
        crate::live::small_requests(&mut config);
        case(stub.index_with(config)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_views_and_versions_on_the_model() {
    let (stub, _cluster) = modelled().await;
    let config = stub.config();
    let first = stub.index_with(config.clone());
    accord_index::conformance::restart_keeps_views_and_versions(first, |old| async move {
        drop(old);
        stub.index_with(config)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_lookups_read_each_view_once_in_bounded_requests() {
    use accord_domain::ObservableType as T;
    use accord_index::conformance as c;
    let (stub, _cluster) = modelled().await;
    let mut config = stub.config();
    crate::live::small_requests(&mut config);
    let index = stub.index_with(config);
    let report_id = c::report();
    let domains: Vec<String> = (0..30).map(|n| format!("shared{n}.example")).collect();
    let indicators: Vec<(T, &str)> = domains
        .iter()
        .map(|d| (T::DomainName, d.as_str()))
        .collect();
    let views = (0..15)
        .map(|n| c::with_indicators(c::view(&report_id, &format!("s{n:02}")), &indicators))
        .collect();
    c::put(&index, &report_id, 1, views).await;
    let keys: Vec<_> = domains.iter().map(|d| c::key(T::DomainName, d)).collect();
    let pages = index.lookup(c::release(), keys, 15).await.unwrap();
    assert!(pages.iter().all(|page| page.hits.len() == 15));

    // 30 keys × 15 hits, but each of the 15 views is read once, at most 7 per `_mget` (`mget_max_docs`).
    let reads: Vec<usize> = stub
        .to("/accord-views/_mget")
        .iter()
        .map(|request| crate::stub::mget_ids(request).len())
        .collect();
    assert_eq!(reads.iter().sum::<usize>(), 15, "{reads:?}");
    assert!(reads.iter().all(|docs| *docs <= 7), "{reads:?}");
    // Searches per `_msearch` stay within `msearch_max_searches` (4) and `msearch_max_hits` (25) / size (10).
    for request in stub.to("/_msearch") {
        assert!(
            request.lines().len() / 2 <= 2,
            "{} searches",
            request.lines().len() / 2
        );
    }
}
