//! A local HTTP stub of OpenSearch: it records every request Accord sends and answers like an empty cluster,
//! unless the test's script answers first. The default cluster is one from before index generations: its views index
//! is the concrete `<prefix>-views` (generation 0), so the write protocol's contract tests see the index names they
//! always did; the generation tests (`rebuild`) run on the model. Answers follow the shapes OpenSearch documents for `_bulk`, `_mget`,
//! `_search`, `_msearch`, index templates, aliases (`GET <pattern>/_alias`: none; `POST _aliases`) and cluster health.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use accord_index::{
    IndexClient,
    opensearch_index::{OpenSearchConfig, OpenSearchIndex, RetryPolicy},
};
use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// One request as the stub received it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) body: String,
}

impl Recorded {
    /// Returns the JSON body.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("body of {} is not JSON: {error}", self.path))
    }

    /// Returns the NDJSON lines of the body.
    pub(crate) fn lines(&self) -> Vec<Value> {
        assert!(self.body.ends_with('\n'), "NDJSON body ends with a newline");
        self.body
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("bad NDJSON line: {error}"))
            })
            .collect()
    }

    /// Returns the bulk actions: (action name, metadata, source).
    pub(crate) fn actions(&self) -> Vec<(String, Value, Option<Value>)> {
        let mut lines = self.lines().into_iter();
        let mut actions = Vec::new();
        while let Some(line) = lines.next() {
            let (name, meta) = line
                .as_object()
                .and_then(|object| object.iter().next())
                .map(|(name, meta)| (name.clone(), meta.clone()))
                .expect("action line");
            let source = if name == "delete" { None } else { lines.next() };
            actions.push((name, meta, source));
        }
        actions
    }

    /// Returns whether this is a `_bulk` request.
    pub(crate) fn is_bulk(&self) -> bool {
        self.path == "/_bulk"
    }

    /// Returns the kind of a bulk request by its first action.
    pub(crate) fn bulk_kind(&self) -> Option<BulkKind> {
        if !self.is_bulk() {
            return None;
        }
        let (_, meta, source) = self.actions().into_iter().next()?;
        if !meta["_index"].as_str()?.ends_with("-reports") {
            return Some(BulkKind::Views);
        }
        match source?["state"].as_str()? {
            "pending" => Some(BulkKind::Claim),
            _ => Some(BulkKind::Commit),
        }
    }
}

/// The three bulk requests of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BulkKind {
    Claim,
    Views,
    Commit,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) delay: Duration,
}

impl Reply {
    pub(crate) fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Answers a request before the default does: `(request, how many earlier requests of the same kind)`; the kind is
/// the bulk kind for `_bulk`, else method and path.
pub(crate) type Script = Arc<dyn Fn(&Recorded, usize) -> Option<Reply> + Send + Sync>;

struct Shared {
    log: Mutex<Vec<Recorded>>,
    script: Script,
}

/// A running stub.
pub(crate) struct Stub {
    pub(crate) url: String,
    shared: Arc<Shared>,
}

impl Stub {
    /// Starts a stub answering like an empty cluster.
    pub(crate) async fn start() -> Self {
        Self::scripted(|_, _| None).await
    }

    /// Starts a stub with a script.
    pub(crate) async fn scripted(
        script: impl Fn(&Recorded, usize) -> Option<Reply> + Send + Sync + 'static,
    ) -> Self {
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            script: Arc::new(script),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stub");
        let url = format!("http://{}", listener.local_addr().expect("stub address"));
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("stub server");
        });
        Self { url, shared }
    }

    /// Returns a client of this stub: prefix `accord`, fast retries (4 attempts), a 2 s timeout.
    pub(crate) fn config(&self) -> OpenSearchConfig {
        let mut config = OpenSearchConfig::new(self.url.parse().expect("stub url"));
        config.retry = RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        };
        config.request_timeout = Duration::from_secs(2);
        config
    }

    /// Returns an index client of this stub with [`Stub::config`].
    pub(crate) fn index(&self) -> IndexClient {
        self.index_with(self.config())
    }

    /// Returns an index client of this stub with `config`.
    pub(crate) fn index_with(&self, config: OpenSearchConfig) -> IndexClient {
        IndexClient::new(OpenSearchIndex::new(config).expect("build client"))
    }

    /// Returns every request received so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.shared.log.lock().expect("stub log").clone()
    }

    /// Returns the bulk requests of one kind.
    pub(crate) fn bulks(&self, kind: BulkKind) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|request| request.bulk_kind() == Some(kind))
            .collect()
    }

    /// Returns the requests to a path ending with `suffix`.
    pub(crate) fn to(&self, suffix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|request| request.path.ends_with(suffix))
            .collect()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let nth = {
        let mut log = shared.log.lock().expect("stub log");
        let kind = recorded.bulk_kind();
        let nth = log
            .iter()
            .filter(|earlier| {
                earlier.method == recorded.method
                    && earlier.path == recorded.path
                    && earlier.bulk_kind() == kind
            })
            .count();
        log.push(recorded.clone());
        nth
    };
    let reply = (shared.script)(&recorded, nth).unwrap_or_else(|| default_reply(&recorded));
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).expect("status");
    (status, Json(reply.body)).into_response()
}

/// Answers like an empty, healthy single-node cluster.
pub(crate) fn default_reply(request: &Recorded) -> Reply {
    let path = request.path.as_str();
    if path.starts_with("/_index_template/") || request.method == "DELETE" {
        return Reply::new(200, json!({ "acknowledged": true }));
    }
    if request.method == "GET"
        && let Some(pattern) = path.strip_suffix("/_alias")
    {
        // A deployment from before generations: concrete `<prefix>-views` (generation 0), no alias.
        let legacy = pattern.trim_start_matches('/').trim_end_matches('*');
        return Reply::new(200, json!({ legacy: { "aliases": {} } }));
    }
    if path == "/_aliases" {
        return Reply::new(200, json!({ "acknowledged": true }));
    }
    if path.starts_with("/_cluster/health") {
        return Reply::new(
            200,
            json!({
                "cluster_name": "stub", "status": "yellow", "timed_out": false,
                "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": 2,
                "active_shards": 2, "relocating_shards": 0, "initializing_shards": 0,
                "unassigned_shards": 2, "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0,
                "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
                "active_shards_percent_as_number": 50.0
            }),
        );
    }
    if request.is_bulk() {
        return bulk_reply(request, |_, _| None);
    }
    if path.ends_with("/_mget") {
        let index = path.trim_start_matches('/').trim_end_matches("/_mget");
        let docs: Vec<Value> = mget_ids(request)
            .iter()
            .map(|id| json!({ "_index": index, "_id": id, "found": false }))
            .collect();
        return Reply::new(200, json!({ "docs": docs }));
    }
    if path.ends_with("/_search/point_in_time") {
        return Reply::new(200, json!({ "pit_id": "stub-pit", "creation_time": 0 }));
    }
    if path.ends_with("/_search") {
        return Reply::new(200, search_answer(0, &[]));
    }
    if path == "/_msearch" {
        let searches = request.lines().len() / 2;
        let mut answer = search_answer(0, &[]);
        answer["status"] = json!(200);
        return Reply::new(
            200,
            json!({ "took": 2, "responses": vec![answer; searches] }),
        );
    }
    if path.ends_with("/_refresh") {
        return Reply::new(
            200,
            json!({ "_shards": { "total": 4, "successful": 2, "failed": 0 } }),
        );
    }
    if request.method == "PUT" {
        let index = path.trim_start_matches('/');
        return Reply::new(
            200,
            json!({ "acknowledged": true, "shards_acknowledged": true, "index": index }),
        );
    }
    Reply::new(
        400,
        json!({ "error": { "type": "stub_exception", "reason": format!("unexpected {} {path}", request.method) }, "status": 400 }),
    )
}

/// Answers a bulk request item by item: `item(position, action)` may answer an item, the others succeed.
pub(crate) fn bulk_reply(
    request: &Recorded,
    mut item: impl FnMut(usize, &(String, Value, Option<Value>)) -> Option<Value>,
) -> Reply {
    let mut errors = false;
    let items: Vec<Value> = request
        .actions()
        .iter()
        .enumerate()
        .map(|(position, action)| {
            let answer = item(position, action).unwrap_or_else(|| success(action));
            let status = answer["status"].as_u64().unwrap_or(200);
            errors |= status >= 300 && !(action.0 == "delete" && status == 404);
            json!({ action.0.clone(): answer })
        })
        .collect();
    Reply::new(200, json!({ "took": 30, "errors": errors, "items": items }))
}

/// A successful item answer.
pub(crate) fn success((name, meta, _): &(String, Value, Option<Value>)) -> Value {
    let (result, status) = if name == "delete" {
        ("deleted", 200)
    } else {
        ("created", 201)
    };
    json!({
        "_index": meta["_index"], "_id": meta["_id"], "_version": meta["version"], "result": result,
        "_shards": { "total": 2, "successful": 1, "failed": 0 }, "_seq_no": 0, "_primary_term": 1,
        "status": status
    })
}

/// A failed item answer.
pub(crate) fn failure(
    (_, meta, _): &(String, Value, Option<Value>),
    status: u16,
    kind: &str,
    reason: &str,
) -> Value {
    json!({
        "_index": meta["_index"], "_id": meta["_id"], "status": status,
        "error": { "type": kind, "reason": reason, "index": meta["_index"], "shard": "0", "index_uuid": "aBcD1234" }
    })
}

/// The item answer of a version conflict, as OpenSearch gives it for an external version not above the stored one.
pub(crate) fn conflict(action: &(String, Value, Option<Value>)) -> Value {
    let id = action.1["_id"].as_str().unwrap_or_default().to_owned();
    let version = action.1["version"].as_u64().unwrap_or_default();
    failure(
        action,
        409,
        "version_conflict_engine_exception",
        &format!(
            "[{id}]: version conflict, current version [{version}] is higher or equal to the one provided [{version}]"
        ),
    )
}

/// A search answer with `total` and these views as hits.
pub(crate) fn search_answer(total: u64, views: &[accord_domain::View]) -> Value {
    let hits: Vec<Value> = views
        .iter()
        .map(|view| {
            json!({
                "_index": "accord-views", "_id": format!("{}:{}", view.report_id, view.id), "_score": null,
                "_source": { "view": view },
                "sort": [view.content.occurred_at.timestamp_nanos_opt(), view.id, view.report_id]
            })
        })
        .collect();
    json!({
        "took": 4, "timed_out": false,
        "_shards": { "total": 1, "successful": 1, "skipped": 0, "failed": 0 },
        "hits": { "total": { "value": total, "relation": "eq" }, "max_score": null, "hits": hits }
    })
}

/// Returns the ids of an `_mget` body, in either form (`ids`, or `docs` with `_id`).
pub(crate) fn mget_ids(request: &Recorded) -> Vec<String> {
    let body = request.json();
    if let Some(ids) = body["ids"].as_array() {
        return ids
            .iter()
            .filter_map(|id| id.as_str().map(str::to_owned))
            .collect();
    }
    body["docs"]
        .as_array()
        .expect("mget ids or docs")
        .iter()
        .filter_map(|doc| doc["_id"].as_str().map(str::to_owned))
        .collect()
}

/// An `_mget` answer of the views index holding `views`.
pub(crate) fn mget_answer(request: &Recorded, views: &[accord_domain::View]) -> Value {
    let docs: Vec<Value> = mget_ids(request)
        .into_iter()
        .map(|id| {
            match views.iter().find(|view| format!("{}:{}", view.report_id, view.id) == id) {
                Some(view) => json!({ "_index": "accord-views", "_id": id, "_version": 1, "found": true, "_source": { "view": view } }),
                None => json!({ "_index": "accord-views", "_id": id, "found": false }),
            }
        })
        .collect();
    json!({ "docs": docs })
}
