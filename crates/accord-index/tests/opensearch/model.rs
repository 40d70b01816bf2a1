//! A small in-memory model of the OpenSearch semantics Accord relies on, served by the stub: external versions (with
//! delete tombstones), `_mget`, and the query DSL Accord emits (`bool` filter/should, `term`/`terms` on keywords,
//! `term` on an `ip_range`, `range` on dates, `simple_query_string` with AND, `-` and phrases, sort, from/size).
//!
//! It lets the whole conformance suite run through the real client, bulk and write protocol on every machine. It is a
//! model, not OpenSearch: it encodes the documented semantics the design assumes, and the same cases run against a
//! real cluster in `live` whenever `OPENSEARCH_URL` is set.

use std::{
    cmp::Ordering,
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::{Arc, Mutex},
};

use accord_index::conformance::CASES;
use serde_json::{Value, json};

use crate::stub::{Recorded, Reply, Stub, default_reply};

#[derive(Default)]
struct Cluster {
    /// index → id → (version, source)
    indices: BTreeMap<String, BTreeMap<String, (u64, Value)>>,
    /// (index, id) → version of the delete
    tombstones: HashMap<(String, String), u64>,
}

impl Cluster {
    fn handle(&mut self, request: &Recorded) -> Reply {
        let path = request.path.as_str();
        if request.is_bulk() {
            return self.bulk(request);
        }
        if let Some(index) = path
            .strip_suffix("/_mget")
            .map(|p| p.trim_start_matches('/'))
        {
            let docs: Vec<Value> = request.json()["ids"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|id| {
                    let id = id.as_str().expect("id");
                    match self.indices.get(index).and_then(|docs| docs.get(id)) {
                        Some((version, source)) => json!({ "_index": index, "_id": id, "_version": version, "found": true, "_source": source }),
                        None => json!({ "_index": index, "_id": id, "found": false }),
                    }
                })
                .collect();
            return Reply::new(200, json!({ "docs": docs }));
        }
        if let Some(index) = path
            .strip_suffix("/_search")
            .map(|p| p.trim_start_matches('/'))
        {
            return Reply::new(200, self.search(index, &request.json()));
        }
        if path == "/_msearch" {
            let lines = request.lines();
            let answers: Vec<Value> = lines
                .chunks(2)
                .map(|pair| {
                    let mut answer =
                        self.search(pair[0]["index"].as_str().expect("index"), &pair[1]);
                    answer["status"] = json!(200);
                    answer
                })
                .collect();
            return Reply::new(200, json!({ "took": 1, "responses": answers }));
        }
        if request.method == "PUT" && !path.starts_with("/_") {
            let index = path.trim_start_matches('/').to_owned();
            if self.indices.contains_key(&index) {
                return Reply::new(
                    400,
                    json!({ "error": { "type": "resource_already_exists_exception", "reason": "exists" }, "status": 400 }),
                );
            }
            self.indices.insert(index, BTreeMap::new());
        }
        if request.method == "DELETE" && !path.starts_with("/_") {
            self.indices.remove(path.trim_start_matches('/'));
        }
        default_reply(request)
    }

    fn bulk(&mut self, request: &Recorded) -> Reply {
        crate::stub::bulk_reply(request, |_, (name, meta, source)| {
            let index = meta["_index"].as_str().expect("_index").to_owned();
            let id = meta["_id"].as_str().expect("_id").to_owned();
            let version = meta["version"].as_u64().expect("external version");
            let gte = meta["version_type"] == json!("external_gte");
            let docs = self.indices.entry(index.clone()).or_default();
            let current = docs
                .get(&id)
                .map(|(stored, _)| *stored)
                .or_else(|| self.tombstones.get(&(index.clone(), id.clone())).copied());
            let accepted = current.is_none_or(|current| {
                if gte {
                    version >= current
                } else {
                    version > current
                }
            });
            if !accepted {
                return Some(crate::stub::conflict(&(name.clone(), meta.clone(), None)));
            }
            if name == "delete" {
                let existed = docs.remove(&id).is_some();
                self.tombstones.insert((index.clone(), id.clone()), version);
                let (result, status) = if existed {
                    ("deleted", 200)
                } else {
                    ("not_found", 404)
                };
                return Some(
                    json!({ "_index": index, "_id": id, "_version": version, "result": result, "status": status }),
                );
            }
            docs.insert(id, (version, source.clone().expect("source")));
            self.tombstones
                .remove(&(index, meta["_id"].as_str().unwrap_or_default().to_owned()));
            None
        })
    }

    fn search(&self, index: &str, body: &Value) -> Value {
        let mut hits: Vec<&Value> = self
            .indices
            .get(index)
            .map(|docs| {
                docs.values()
                    .map(|(_, source)| source)
                    .filter(|source| matches(&body["query"], source))
                    .collect()
            })
            .unwrap_or_default();
        hits.sort_by(|a, b| {
            let by_time = b["occurred_at"].as_str().cmp(&a["occurred_at"].as_str());
            if by_time != Ordering::Equal {
                return by_time;
            }
            a["view_id"].as_str().cmp(&b["view_id"].as_str())
        });
        let from = usize::try_from(body["from"].as_u64().unwrap_or(0)).unwrap_or(usize::MAX);
        let size = usize::try_from(body["size"].as_u64().unwrap_or(10)).unwrap_or(usize::MAX);
        assert!(
            from + size <= 10_000,
            "result window exceeded: from {from} size {size}"
        );
        let page: Vec<Value> = hits
            .iter()
            .skip(from)
            .take(size)
            .map(|source| json!({ "_source": { "view": source["view"] } }))
            .collect();
        json!({
            "took": 1, "timed_out": false, "_shards": { "total": 1, "successful": 1, "skipped": 0, "failed": 0 },
            "hits": { "total": { "value": hits.len(), "relation": "eq" }, "max_score": null, "hits": page }
        })
    }
}

/// Returns the values of a keyword field (one or many).
fn values(source: &Value, field: &str) -> Vec<String> {
    match &source[field] {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Value::String(value) => vec![value.clone()],
        _ => Vec::new(),
    }
}

fn matches(query: &Value, source: &Value) -> bool {
    let (kind, spec) = query
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("query clause");
    match kind.as_str() {
        "bool" => {
            let filter = spec["filter"]
                .as_array()
                .is_none_or(|all| all.iter().all(|q| matches(q, source)));
            let should = spec["should"]
                .as_array()
                .is_none_or(|any| any.iter().any(|q| matches(q, source)));
            let must_not = spec["must_not"]
                .as_array()
                .is_none_or(|none| !none.iter().any(|q| matches(q, source)));
            filter && should && must_not
        }
        "term" => {
            let (field, value) = spec
                .as_object()
                .and_then(|o| o.iter().next())
                .expect("term");
            let value = value.as_str().expect("term value");
            if field == "cidr" {
                let ip: IpAddr = value.parse().expect("term on ip_range takes an address");
                return values(source, "cidr")
                    .iter()
                    .any(|block| contains(block, ip));
            }
            values(source, field).iter().any(|stored| stored == value)
        }
        "terms" => {
            let (field, wanted) = spec
                .as_object()
                .and_then(|o| o.iter().next())
                .expect("terms");
            let stored = values(source, field);
            wanted
                .as_array()
                .expect("terms list")
                .iter()
                .any(|w| w.as_str().is_some_and(|w| stored.iter().any(|s| s == w)))
        }
        "range" => {
            let (field, bounds) = spec
                .as_object()
                .and_then(|o| o.iter().next())
                .expect("range");
            let Some(stored) = source[field].as_str() else {
                return false;
            };
            // Dates are fixed-width RFC 3339 with nanoseconds: string order is time order.
            bounds
                .as_object()
                .expect("bounds")
                .iter()
                .all(|(op, bound)| {
                    let bound = bound.as_str().expect("date bound");
                    assert_eq!(bound.len(), 30, "dates are sent with nanoseconds: {bound}");
                    match op.as_str() {
                        "gte" => stored >= bound,
                        "gt" => stored > bound,
                        "lte" => stored <= bound,
                        "lt" => stored < bound,
                        other => panic!("range operator {other}"),
                    }
                })
        }
        "simple_query_string" => {
            assert_eq!(spec["default_operator"], json!("and"));
            let text: Vec<String> = ["title", "description"]
                .iter()
                .flat_map(|field| tokens(source[field].as_str().unwrap_or_default()))
                .collect();
            simple_query(spec["query"].as_str().expect("query"), &text)
        }
        other => panic!("the model does not know `{other}` queries"),
    }
}

/// Lower-cased runs of alphanumerics (a rough standard analyzer).
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// `simple_query_string` with AND as default operator: words, `-word`, `+word` and `"phrases"`.
fn simple_query(query: &str, text: &[String]) -> bool {
    let mut parts = Vec::new();
    let mut rest = query;
    while let Some(start) = rest.find('"') {
        let Some(len) = rest[start + 1..].find('"') else {
            break;
        };
        parts.extend(
            rest[..start]
                .split_whitespace()
                .map(|w| (w.to_owned(), false)),
        );
        parts.push((rest[start + 1..start + 1 + len].to_owned(), true));
        rest = &rest[start + len + 2..];
    }
    parts.extend(rest.split_whitespace().map(|w| (w.to_owned(), false)));
    parts.iter().all(|(part, phrase)| {
        let (negated, word) = match part.strip_prefix('-') {
            Some(word) if !phrase => (true, word),
            _ => (false, part.strip_prefix('+').unwrap_or(part)),
        };
        let wanted = tokens(word);
        if wanted.is_empty() {
            return true;
        }
        let found = text
            .windows(wanted.len())
            .any(|window| window == wanted.as_slice())
            || (!phrase && wanted.iter().all(|token| text.contains(token)));
        found != negated
    })
}

/// Whether a CIDR block contains an address (IPv4 and IPv6 never mix).
fn contains(block: &str, ip: IpAddr) -> bool {
    let Some((network, prefix)) = block.split_once('/') else {
        return false;
    };
    let (Ok(network), Ok(prefix)) = (network.parse::<IpAddr>(), prefix.parse::<u32>()) else {
        return false;
    };
    let bits = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    let ((network, width), (address, address_width)) = (bits(network), bits(ip));
    if width != address_width {
        return false;
    }
    let prefix = prefix.min(width);
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    network & mask == address & mask
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
        case(stub.index()).await;
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

#[test]
fn the_model_contains_like_ip_range() {
    assert!(contains("10.0.0.0/8", "10.200.0.1".parse().unwrap()));
    assert!(!contains("10.0.0.0/8", "11.0.0.1".parse().unwrap()));
    assert!(contains("0.0.0.0/0", "203.0.113.9".parse().unwrap()));
    assert!(!contains("0.0.0.0/0", "2001:db8::1".parse().unwrap()));
    assert!(contains(
        "2001:db8::/32",
        "2001:db8:ffff::2".parse().unwrap()
    ));
}
