//! The model's indices and aliases, as OpenSearch documents them: `PUT <index>` (templates whose patterns match the
//! name, `*` a wildcard; an `aliases` object in the body), `DELETE <index>` (its aliases go with it; an alias name is
//! refused), `GET <pattern>/_alias`, and `POST _aliases` whose `add`, `remove` and `remove_index` actions all apply
//! or none do (`remove_index` first). Every read through an alias reads the index it points at.

use serde_json::{Value, json};

use crate::{
    model::{Cluster, Index},
    stub::{Recorded, Reply, default_reply},
};

/// Returns whether an index pattern (`*` as a wildcard) matches `name`.
fn matches_pattern(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
        }
    }
}

/// An error answer as OpenSearch shapes it.
fn refusal(status: u16, kind: &str, reason: &str) -> Reply {
    Reply::new(
        status,
        json!({
            "error": { "root_cause": [{ "type": kind, "reason": reason }], "type": kind, "reason": reason },
            "status": status
        }),
    )
}

impl Cluster {
    /// Returns the index `name` reads: the one an alias points at, or `name`.
    pub(crate) fn resolve(&self, name: &str) -> String {
        self.aliases
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    }

    /// Answers the alias requests, or `None` for the others.
    pub(crate) fn handle_aliases(&mut self, request: &Recorded) -> Option<Reply> {
        if request.method == "GET"
            && let Some(pattern) = request
                .path
                .strip_suffix("/_alias")
                .map(|p| p.trim_start_matches('/'))
        {
            return Some(self.get_aliases(pattern));
        }
        (request.method == "POST" && request.path == "/_aliases")
            .then(|| self.update_aliases(&request.json()))
    }

    fn get_aliases(&self, pattern: &str) -> Reply {
        let mut answer = serde_json::Map::new();
        for index in self.indices.keys() {
            let aliased = self
                .aliases
                .iter()
                .any(|(alias, target)| target == index && matches_pattern(pattern, alias));
            if matches_pattern(pattern, index) || aliased {
                let aliases: serde_json::Map<String, Value> = self
                    .aliases
                    .iter()
                    .filter(|(_, target)| *target == index)
                    .map(|(alias, _)| (alias.clone(), json!({})))
                    .collect();
                answer.insert(index.clone(), json!({ "aliases": aliases }));
            }
        }
        if answer.is_empty() && !pattern.contains('*') {
            return refusal(
                404,
                "index_not_found_exception",
                &format!("no such index [{pattern}]"),
            );
        }
        Reply::new(200, Value::Object(answer))
    }

    /// Applies every action of a `POST _aliases` or none.
    fn update_aliases(&mut self, body: &Value) -> Reply {
        let actions = body["actions"].as_array().cloned().unwrap_or_default();
        if actions.is_empty() {
            return refusal(400, "action_request_validation_exception", "no actions");
        }
        let mut indices = self.indices.clone();
        let mut aliases = self.aliases.clone();
        let (removals, others): (Vec<&Value>, Vec<&Value>) = actions
            .iter()
            .partition(|action| action.get("remove_index").is_some());
        for action in removals {
            let index = action["remove_index"]["index"].as_str().unwrap_or_default();
            if indices.remove(index).is_none() {
                return refusal(
                    404,
                    "index_not_found_exception",
                    &format!("no such index [{index}]"),
                );
            }
            aliases.retain(|_, target| target != index);
        }
        for action in others {
            let (kind, spec) = action
                .as_object()
                .and_then(|object| object.iter().next())
                .expect("one action");
            let index = spec["index"].as_str().unwrap_or_default().to_owned();
            let alias = spec["alias"].as_str().unwrap_or_default().to_owned();
            if !indices.contains_key(&index) {
                return refusal(
                    404,
                    "index_not_found_exception",
                    &format!("no such index [{index}]"),
                );
            }
            match kind.as_str() {
                "add" if indices.contains_key(&alias) => {
                    return refusal(
                        400,
                        "invalid_alias_name_exception",
                        "an index exists with the same name as the alias",
                    );
                }
                "add" => {
                    aliases.insert(alias, index);
                }
                "remove" if aliases.get(&alias) == Some(&index) => {
                    aliases.remove(&alias);
                }
                "remove" => {
                    return refusal(
                        404,
                        "aliases_not_found_exception",
                        &format!("aliases [{alias}] missing"),
                    );
                }
                other => panic!("the model does not know alias action `{other}`"),
            }
        }
        self.indices = indices;
        self.aliases = aliases;
        Reply::new(200, json!({ "acknowledged": true }))
    }

    /// `PUT <index>`: from the template matching its name, with the aliases of the body.
    pub(crate) fn create_index(&mut self, request: &Recorded) -> Reply {
        let index = request.path.trim_start_matches('/').to_owned();
        if self.indices.contains_key(&index) {
            return refusal(
                400,
                "resource_already_exists_exception",
                &format!("index [{index}/abc] already exists"),
            );
        }
        if self.aliases.contains_key(&index) {
            return refusal(
                400,
                "invalid_index_name_exception",
                "already exists as alias",
            );
        }
        let body = if request.body.is_empty() {
            json!({})
        } else {
            request.json()
        };
        let names: Vec<String> = body["aliases"]
            .as_object()
            .map(|aliases| aliases.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(taken) = names.iter().find(|alias| self.indices.contains_key(*alias)) {
            return refusal(
                400,
                "invalid_alias_name_exception",
                &format!("an index exists with the same name as the alias [{taken}]"),
            );
        }
        let template = self.templates.values().find(|template| {
            template["index_patterns"]
                .as_array()
                .is_some_and(|patterns| {
                    patterns
                        .iter()
                        .any(|pattern| pattern.as_str().is_some_and(|p| matches_pattern(p, &index)))
                })
        });
        self.indices.insert(index.clone(), Index::new(template));
        for alias in names {
            self.aliases.insert(alias, index.clone());
        }
        default_reply(request)
    }

    /// `DELETE <index>`: the index and its aliases; an alias name is refused, as OpenSearch does.
    pub(crate) fn delete_index(&mut self, request: &Recorded) -> Reply {
        let index = request.path.trim_start_matches('/').to_owned();
        if self.aliases.contains_key(&index) {
            return refusal(
                400,
                "illegal_argument_exception",
                &format!(
                    "The provided expression [{index}] matches an alias, specify the corresponding concrete indices instead."
                ),
            );
        }
        if self.indices.remove(&index).is_none() {
            return refusal(
                404,
                "index_not_found_exception",
                &format!("no such index [{index}]"),
            );
        }
        self.aliases.retain(|_, target| *target != index);
        default_reply(request)
    }
}
