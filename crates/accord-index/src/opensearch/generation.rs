//! Generations: the index rebuilt behind an alias (decision 0066).
//!
//! The views live in a concrete index `<prefix>-views-<generation>` and the report markers in
//! `<prefix>-reports-<generation>`; the aliases `<prefix>-views` and `<prefix>-reports` point at the *current*
//! generation, and searches, lookups, refreshes and health checks name the aliases only. Writers name the concrete
//! indices of their generations ([`OpenSearchIndex::write`](crate::SearchIndex::write) writes to every generation in
//! its write set), never the aliases.
//!
//! - **Start** ([`OpenSearchIndex::install`](super::OpenSearchIndex)): one `GET <prefix>-views*/_alias` lists the
//!   generations. The index carrying the alias is current. A deployment from before generations has concrete
//!   indices named `<prefix>-views` and `<prefix>-reports`: that is **generation 0**, used as it is (nothing moves,
//!   search reads the same name); its first rebuild migrates it. When there is neither (a new deployment, or an
//!   index that was lost: what it left is deleted first), the next generation is created with both aliases in its
//!   creation requests, and
//!   [`SearchIndex::is_empty`](crate::SearchIndex::is_empty) answers `true` (the indexer compares that with its
//!   consumer group's committed offsets).
//! - **Rebuild** ([`OpenSearchIndex::request_rebuild`]): creates generation n+1 without aliases; an unaliased
//!   generation above the current one is a rebuild in progress ([`Generations::pending`]), so the request survives
//!   restarts. The rebuilder writes into it through [`OpenSearchIndex::generation`] while the live writer keeps
//!   writing generation n and, from [`OpenSearchIndex::write_also_to`] on, n+1 as well (writes are versioned, so the
//!   two writers converge: whichever writes a version second gets `Stale`).
//! - **Switch** ([`OpenSearchIndex::switch_to`]): one `POST _aliases` moves both aliases from n to n+1 (`remove` +
//!   `add`; for generation 0, `remove_index` of the concrete index + `add`, OpenSearch applies `remove_index` first),
//!   so a search reads n or n+1, never neither; then generation n is deleted. The live writer's write set becomes
//!   {n+1} before the alias call is answered, and waits for writes in flight, so nothing writes into n once it is
//!   deleted (a bulk write into a missing index would create it).

use std::{collections::BTreeMap, sync::Arc};

use serde::Deserialize;
use serde_json::{Value, json};

use async_trait::async_trait;

use super::{OpenSearchIndex, client::Request, mapping::Names};
use crate::{IndexClient, IndexError, Rebuilding};

/// The generations found on the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Generations {
    /// The generation the aliases point at (0: the concrete indices of a deployment from before generations);
    /// `None` when there is no views index at all.
    pub current: Option<u64>,
    /// The highest generation above the current one without the alias: a rebuild in progress.
    pub pending: Option<u64>,
    /// The highest generation found, aliased or not.
    pub highest: Option<u64>,
}

/// One index of the answer to `GET <pattern>/_alias`.
#[derive(Debug, Deserialize)]
struct IndexAliases {
    #[serde(default)]
    aliases: BTreeMap<String, Value>,
}

/// Returns the generations of `prefix` in an answer to `GET <prefix>-views*/_alias`. Only `<prefix>-views` (a
/// concrete index: generation 0) and `<prefix>-views-<digits>` count; other indices the wildcard matches (another
/// deployment's prefix that starts with this one) are ignored.
fn parse_generations(prefix: &str, indices: &BTreeMap<String, IndexAliases>) -> Generations {
    let alias = Names::new(prefix).views;
    let mut found = Generations::default();
    let mut unaliased = Vec::new();
    for (index, aliases) in indices {
        let generation = if *index == alias {
            0
        } else {
            match index
                .strip_prefix(alias.as_str())
                .and_then(|rest| rest.strip_prefix('-'))
                .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|digits| digits.parse::<u64>().ok())
            {
                Some(generation) if generation > 0 => generation,
                _ => continue,
            }
        };
        found.highest = found.highest.max(Some(generation));
        if generation == 0 || aliases.aliases.contains_key(&alias) {
            found.current = found.current.max(Some(generation));
        } else {
            unaliased.push(generation);
        }
    }
    found.pending = unaliased
        .into_iter()
        .filter(|generation| found.current.is_some_and(|current| *generation > current))
        .max();
    found
}

/// Returns the body of `PUT <index>` that gives it `alias`, or none.
fn aliased(alias: Option<&str>) -> Option<Value> {
    alias.map(|alias| json!({ "aliases": { alias: {} } }))
}

impl OpenSearchIndex {
    /// Lists the generations of this deployment.
    ///
    /// # Errors
    /// Returns [`IndexError::Unavailable`] when the cluster refuses or cannot be reached.
    pub async fn generations(&self) -> Result<Generations, IndexError> {
        let views = self.list(&Names::new(&self.config.prefix).views).await?;
        Ok(parse_generations(&self.config.prefix, &views))
    }

    /// Returns the indices whose names start with `alias` (itself, if concrete, and its generations; other names
    /// the wildcard matches are filtered by the caller), with their aliases.
    async fn list(&self, alias: &str) -> Result<BTreeMap<String, IndexAliases>, IndexError> {
        let request = Request::GetAliases {
            pattern: format!("{alias}*"),
        };
        let reply = self.http.call(&request).await?;
        if reply.status == 404 {
            return Ok(BTreeMap::new());
        }
        reply.decode(request.what())
    }

    /// Deletes what a lost index left: every generation of this prefix (none holds the views alias) and the markers
    /// of a deployment from before generations, whose name the markers alias is about to take. Their markers would
    /// describe views that are gone.
    async fn clear_leftovers(&self) -> Result<(), IndexError> {
        let names = Names::new(&self.config.prefix);
        let mut leftovers = Vec::new();
        for alias in [&names.views, &names.reports] {
            let generation_of = |index: &str| {
                index
                    .strip_prefix(alias.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|digits| {
                        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                    })
            };
            leftovers.extend(
                self.list(alias)
                    .await?
                    .into_keys()
                    .filter(|index| index == alias || generation_of(index)),
            );
        }
        for index in leftovers {
            tracing::warn!(index = %index, "deleting what a lost index left");
            let request = Request::DeleteIndex { index };
            let reply = self.http.call(&request).await?;
            if !reply.is_success() && reply.status != 404 {
                return Err(reply.failure(request.what()));
            }
        }
        Ok(())
    }

    /// Creates index `index` (with `alias`, if given); one that already exists is fine.
    async fn create_index(&self, index: &str, alias: Option<&str>) -> Result<(), IndexError> {
        let request = Request::CreateIndex {
            index: index.to_owned(),
            body: aliased(alias),
        };
        let reply = self.http.call(&request).await?;
        let exists = reply.status == 400
            && reply
                .error()
                .is_some_and(|error| error.kind == "resource_already_exists_exception");
        if !reply.is_success() && !exists {
            return Err(reply.failure(request.what()));
        }
        Ok(())
    }

    /// Creates both indices of `generation`, the markers first (the views index is what makes a generation exist),
    /// each with its alias when `aliases` is set.
    async fn create_generation(&self, generation: u64, aliases: bool) -> Result<(), IndexError> {
        let concrete = Names::generation(&self.config.prefix, generation);
        let alias = Names::new(&self.config.prefix);
        let alias_of = |name: &str| aliases.then(|| name.to_owned());
        self.create_index(&concrete.reports, alias_of(&alias.reports).as_deref())
            .await?;
        self.create_index(&concrete.views, alias_of(&alias.views).as_deref())
            .await
    }

    /// Finds the current generation at start, creating the first one (with its aliases) when there is none, and
    /// makes it this handle's write set. Returns whether it had to create it (the index was missing).
    pub(crate) async fn open_generation(&self) -> Result<bool, IndexError> {
        let found = self.generations().await?;
        let (current, created) = match found.current {
            Some(0) => {
                self.create_index(&Names::new(&self.config.prefix).reports, None)
                    .await?;
                (0, false)
            }
            Some(current) => {
                let alias = Names::new(&self.config.prefix).reports;
                let reports = Names::generation(&self.config.prefix, current).reports;
                self.create_index(&reports, Some(&alias)).await?;
                (current, false)
            }
            None => {
                let first = found.highest.map_or(1, |highest| highest + 1);
                self.clear_leftovers().await?;
                self.create_generation(first, true).await?;
                (first, true)
            }
        };
        *self.targets.write().await = vec![current];
        tracing::info!(generation = current, created, prefix = %self.config.prefix, "opensearch index generation open");
        Ok(created)
    }

    /// Asks for a rebuild: creates generation n+1 (with the templates, without aliases) unless a rebuild is already
    /// pending, and returns the generation to rebuild into. The indexer finds it ([`OpenSearchIndex::generations`])
    /// and replays the bus into it.
    ///
    /// # Errors
    /// Returns [`IndexError::Unavailable`] when the cluster refuses or cannot be reached, or when there is no
    /// current generation yet (the indexer creates it when it starts).
    pub async fn request_rebuild(&self) -> Result<u64, IndexError> {
        self.ensure_ready().await?;
        let found = self.generations().await?;
        if let Some(pending) = found.pending {
            return Ok(pending);
        }
        let Some(highest) = found.highest.filter(|_| found.current.is_some()) else {
            return Err(IndexError::Unavailable {
                context: "there is no index to rebuild yet: start the indexer first".to_owned(),
                source: None,
            });
        };
        let next = highest + 1;
        self.create_generation(next, false).await?;
        tracing::info!(generation = next, prefix = %self.config.prefix, "opensearch index rebuild requested");
        Ok(next)
    }

    /// Returns a handle on `generation` alone: it writes there, and its searches read it (not the alias). For the
    /// rebuilder, and for tests.
    pub fn generation(&self, generation: u64) -> OpenSearchIndex {
        let ready = tokio::sync::OnceCell::new_with(Some(()));
        OpenSearchIndex {
            http: self.http.clone(),
            config: Arc::clone(&self.config),
            names: Arc::new(Names::generation(&self.config.prefix, generation)),
            ready: Arc::new(ready),
            targets: Arc::new(tokio::sync::RwLock::new(vec![generation])),
            created: Arc::default(),
            hold: Arc::default(),
        }
    }

    /// Makes this handle write into `generation` as well as into its current generation, once the writes in flight
    /// are done: every write that returns after this call is in both.
    ///
    /// # Errors
    /// As [`OpenSearchIndex::generations`] (the first use installs the templates).
    pub async fn write_also_to(&self, generation: u64) -> Result<(), IndexError> {
        self.ensure_ready().await?;
        let mut targets = self.targets.write().await;
        if targets.is_empty() {
            // A process that does not manage the indices wrote through the aliases: name the current generation.
            targets.extend(self.generations().await?.current);
        }
        if !targets.contains(&generation) {
            targets.push(generation);
        }
        Ok(())
    }

    /// Switches both aliases from the current generation to `generation` in one `POST _aliases`, makes it this
    /// handle's only write target, then deletes the old generation (generation 0's indices are deleted by the
    /// switch itself). Switching to the current generation does
    /// nothing.
    ///
    /// # Errors
    /// Returns [`IndexError::Unavailable`] when the cluster refuses (nothing switched) or cannot be reached; a failed
    /// deletion of the old generation is logged, not returned (the switch is done; the next switch deletes it).
    pub async fn switch_to(&self, generation: u64) -> Result<(), IndexError> {
        self.ensure_ready().await?;
        let mut targets = self.targets.write().await;
        let found = self.generations().await?;
        let Some(current) = found.current else {
            return Err(IndexError::Unavailable {
                context: "no current index generation to switch from".to_owned(),
                source: None,
            });
        };
        if current == generation {
            *targets = vec![generation];
            return Ok(());
        }
        let request = Request::UpdateAliases {
            body: switch_actions(&self.config.prefix, current, generation),
        };
        let reply = self.http.call(&request).await?;
        if !reply.is_success() {
            return Err(reply.failure(request.what()));
        }
        *targets = vec![generation];
        drop(targets);
        tracing::info!(from = current, to = generation, prefix = %self.config.prefix, "opensearch index aliases switched");
        if current > 0
            && let Err(error) = self.delete_generation(current).await
        {
            tracing::warn!(error = %error, generation = current, "failed to delete the old index generation");
        }
        Ok(())
    }

    /// Deletes both indices of `generation` (≥ 1); missing ones are fine.
    pub(crate) async fn delete_generation(&self, generation: u64) -> Result<(), IndexError> {
        let names = Names::generation(&self.config.prefix, generation);
        for index in [names.views, names.reports] {
            let request = Request::DeleteIndex { index };
            let reply = self.http.call(&request).await?;
            if !reply.is_success() && reply.status != 404 {
                return Err(reply.failure(request.what()));
            }
        }
        Ok(())
    }
}

/// A rebuild into a generation of the OpenSearch index ([`crate::SearchIndex::pending_rebuild`]).
#[derive(Debug)]
pub(crate) struct GenerationRebuild {
    /// The live index (its write set holds the generation too).
    pub(crate) live: OpenSearchIndex,
    /// The generation being rebuilt.
    pub(crate) generation: u64,
}

#[async_trait]
impl Rebuilding for GenerationRebuild {
    fn generation(&self) -> u64 {
        self.generation
    }

    fn target(&self) -> IndexClient {
        IndexClient::new(self.live.generation(self.generation))
    }

    async fn switch(&self) -> Result<(), IndexError> {
        self.live.switch_to(self.generation).await
    }
}

/// Returns the `_aliases` body moving both aliases from generation `from` to `to`: `remove` + `add`, or for
/// generation 0 (concrete indices with the aliases' names) `remove_index` + `add`, which OpenSearch applies
/// atomically, `remove_index` first.
pub(crate) fn switch_actions(prefix: &str, from: u64, to: u64) -> Value {
    let alias = Names::new(prefix);
    let old = Names::generation(prefix, from);
    let new = Names::generation(prefix, to);
    let mut actions = Vec::new();
    for (alias, old, new) in [
        (&alias.views, &old.views, &new.views),
        (&alias.reports, &old.reports, &new.reports),
    ] {
        actions.push(if from == 0 {
            json!({ "remove_index": { "index": old } })
        } else {
            json!({ "remove": { "index": old, "alias": alias } })
        });
        actions.push(json!({ "add": { "index": new, "alias": alias } }));
    }
    json!({ "actions": actions })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(entries: &[(&str, &[&str])]) -> BTreeMap<String, IndexAliases> {
        entries
            .iter()
            .map(|(index, aliases)| {
                let aliases = aliases
                    .iter()
                    .map(|alias| ((*alias).to_owned(), json!({})))
                    .collect();
                ((*index).to_owned(), IndexAliases { aliases })
            })
            .collect()
    }

    #[test]
    fn generations_are_read_from_index_names_and_the_alias() {
        let found = parse_generations(
            "acc",
            &listing(&[
                ("acc-views-3", &["acc-views"]),
                ("acc-views-4", &[]),
                ("acc-views-2", &[]),
                ("acc-views-x-views-9", &[]),
                ("acc-viewsy", &[]),
            ]),
        );
        assert_eq!(
            found,
            Generations {
                current: Some(3),
                pending: Some(4),
                highest: Some(4)
            }
        );
        let legacy = parse_generations("acc", &listing(&[("acc-views", &[])]));
        assert_eq!((legacy.current, legacy.pending), (Some(0), None));
        let lost = parse_generations("acc", &listing(&[("acc-views-5", &[])]));
        assert_eq!(
            (lost.current, lost.pending, lost.highest),
            (None, None, Some(5))
        );
        assert_eq!(
            parse_generations("acc", &BTreeMap::new()),
            Generations::default()
        );
    }

    #[test]
    fn a_switch_is_one_call_moving_both_aliases() {
        assert_eq!(
            switch_actions("acc", 2, 3),
            json!({ "actions": [
                { "remove": { "index": "acc-views-2", "alias": "acc-views" } },
                { "add": { "index": "acc-views-3", "alias": "acc-views" } },
                { "remove": { "index": "acc-reports-2", "alias": "acc-reports" } },
                { "add": { "index": "acc-reports-3", "alias": "acc-reports" } },
            ]})
        );
        assert_eq!(
            switch_actions("acc", 0, 1)["actions"][0],
            json!({ "remove_index": { "index": "acc-views" } })
        );
    }
}
