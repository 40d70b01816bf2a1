//! The model's write side: `_bulk` `index`, `create` and `delete` actions with external versions (delete tombstones
//! that expire after `gc_deletes`), or with `if_seq_no`/`if_primary_term` (internal versions).

use serde_json::{Value, json};

use crate::{
    model::{Cluster, Doc, Index},
    stub::{Recorded, Reply, bulk_reply, conflict, failure},
};

impl Cluster {
    /// Answers a `_bulk` request item by item.
    pub(crate) fn bulk(&mut self, request: &Recorded) -> Reply {
        bulk_reply(request, |_, action| self.apply(action))
    }

    /// Returns the live tombstone version of a deleted document, if its tombstone has not expired.
    fn tombstone(&self, index: &str, id: &str) -> Option<u64> {
        self.tombstones
            .get(&(index.to_owned(), id.to_owned()))
            .filter(|(_, at)| self.clock_ms.saturating_sub(*at) < self.gc_deletes_ms)
            .map(|(version, _)| *version)
    }

    /// Applies one action; `None` is a success with the default answer.
    fn apply(&mut self, action: &(String, Value, Option<Value>)) -> Option<Value> {
        let (name, meta, source) = action;
        let index = self.resolve(meta["_index"].as_str().expect("_index"));
        let id = meta["_id"].as_str().expect("_id").to_owned();
        let tombstone = self.tombstone(&index, &id);
        let docs = &mut self
            .indices
            .entry(index.clone())
            .or_insert_with(|| Index::new(None));
        let current = docs.docs.get(&id).cloned();
        if let Some(reason) = source.as_ref().and_then(|source| docs.refuse(source)) {
            return Some(failure(action, 400, reason.0, &reason.1));
        }
        let version = match meta["version_type"].as_str() {
            Some(kind) => {
                let version = meta["version"].as_u64().expect("external version");
                let stored = current.as_ref().map(|doc| doc.version).or(tombstone);
                let accepted = stored.is_none_or(|stored| {
                    if kind == "external_gte" {
                        version >= stored
                    } else {
                        version > stored
                    }
                });
                if !accepted {
                    return Some(conflict(action));
                }
                version
            }
            None => {
                // Internal versions: `create` needs no document, `if_seq_no` the one read.
                if name == "create" && current.is_some() {
                    return Some(failure(
                        action,
                        409,
                        "version_conflict_engine_exception",
                        &format!("[{id}]: version conflict, document already exists"),
                    ));
                }
                if let Some(expected) = meta["if_seq_no"].as_u64() {
                    assert_eq!(
                        meta["if_primary_term"],
                        json!(1),
                        "if_seq_no comes with if_primary_term"
                    );
                    if current.as_ref().is_none_or(|doc| doc.seq_no != expected) {
                        return Some(failure(
                            action,
                            409,
                            "version_conflict_engine_exception",
                            &format!("[{id}]: version conflict, required seqNo [{expected}]"),
                        ));
                    }
                }
                current.as_ref().map_or(1, |doc| doc.version + 1)
            }
        };
        let seq_no = self.next_seq_no;
        self.next_seq_no += 1;
        let docs = &mut self.indices.get_mut(&index).expect("index").docs;
        if name == "delete" {
            let existed = docs.remove(&id).is_some();
            self.tombstones
                .insert((index.clone(), id.clone()), (version, self.clock_ms));
            let (result, status) = if existed {
                ("deleted", 200)
            } else {
                ("not_found", 404)
            };
            return Some(
                json!({ "_index": index, "_id": id, "_version": version, "_seq_no": seq_no, "_primary_term": 1, "result": result, "status": status }),
            );
        }
        docs.insert(
            id.clone(),
            Doc {
                version,
                seq_no,
                source: source.clone().expect("source"),
            },
        );
        self.tombstones.remove(&(index.clone(), id.clone()));
        Some(json!({
            "_index": index, "_id": id, "_version": version, "result": "created", "_seq_no": seq_no, "_primary_term": 1,
            "_shards": { "total": 2, "successful": 1, "failed": 0 }, "status": 201
        }))
    }
}
