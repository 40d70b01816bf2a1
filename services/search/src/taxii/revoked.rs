//! Retracted reports in TAXII collections (issue 19): a poller that copied a report's objects gets them again with
//! STIX 2.1 `revoked: true`, so that a SIEM can drop them.
//!
//! A follower of `reports.releasable` (consumer group `search-revocations`) keeps, per (agency, purpose), the
//! objects each retraction revokes ([`accord_domain::Revocation`]: the report's own objects, listed by the enforcer
//! for the grants the report was shown under just before) in `<data>/search/revocations.redb`. A collection's
//! content is what the index releases now plus these revoked objects of its (agency, purpose), `date_added` and
//! `modified` the retraction's time: an agency is only ever told of a report it was shown, nothing else changes.
//! An amendment revokes the objects of the replaced version that the new one no longer releases; an object released
//! again later (a later amendment) is served as released, not revoked.
//! The store is derived state: a file damaged beyond repair is set aside at open and a new one refilled from the
//! start of `reports.releasable` (decision 0069).
//! Every search replica keeps the whole store: on Kafka the group is scoped to the data directory
//! (`search-revocations@<id>`, [`accord_runtime::Deps::store_group`]), so that several replicas do not split the
//! revocations between them and every replica serves the same collection.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use accord_bus::Delivery;
use accord_domain::{OrgId, Purpose, ReleaseSet, Timestamp, topics};
use accord_runtime::stage::{Stage, StageOptions};
use accord_runtime::{health::Health, store::HealingDatabase};
use accord_stix::export::{StixObject, timestamp};
use async_trait::async_trait;
use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `<agency>|<purpose>\x1f<at, µs, 20 digits>\x1f<report id>` → [`Revoked`] (JSON).
const REVOKED: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("revoked");
const SEPARATOR: char = '\u{1f}';

/// One retraction as one (agency, purpose) sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Revoked {
    at: Timestamp,
    created: Timestamp,
    objects: Vec<(String, String)>,
}

/// The store of revoked objects.
#[derive(Clone)]
pub(crate) struct Revocations {
    db: Arc<HealingDatabase>,
    /// Set when the file was damaged and replaced by a new one at open (or such a refill was interrupted): its
    /// follower then refills it first ([`accord_runtime::refill`]).
    pending: Option<accord_runtime::refill::Pending>,
}

fn prefix(agency: &OrgId, purpose: Purpose) -> String {
    format!("{agency}|{purpose}{SEPARATOR}")
}

impl Revocations {
    /// Opens or creates the store in `dir`.
    ///
    /// # Errors
    /// Fails when the file cannot be opened.
    pub(crate) fn open(
        dir: &Path,
        cache_bytes: usize,
        health: Option<Health>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (db, pending) = HealingDatabase::open_derived(
            "search revocations store",
            &dir.join("revocations.redb"),
            cache_bytes,
            health,
        )?;
        let txn = db.begin_write()?;
        txn.open_table(REVOKED)?;
        txn.commit()?;
        Ok(Self { db, pending })
    }

    /// Stores the revocations of release sets (idempotent: a replay writes the same keys).
    fn put(&self, releases: &[ReleaseSet]) -> anyhow::Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(REVOKED)?;
            for release in releases {
                for revocation in &release.revoked {
                    let key = format!(
                        "{}{:020}{SEPARATOR}{}",
                        prefix(&revocation.agency, revocation.purpose),
                        release.evaluated_at.timestamp_micros().max(0),
                        release.report_id
                    );
                    let value = serde_json::to_vec(&Revoked {
                        at: release.evaluated_at,
                        created: revocation.created,
                        objects: revocation.objects.clone(),
                    })?;
                    table.insert(key.as_str(), value.as_slice())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Returns the revoked objects of (agency, purpose), as TAXII serves them.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub(crate) fn objects(
        &self,
        agency: &OrgId,
        purpose: Purpose,
    ) -> anyhow::Result<Vec<StixObject>> {
        let start = prefix(agency, purpose);
        let end = format!("{agency}|{purpose}{}", char::from(SEPARATOR as u8 + 1));
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REVOKED)?;
        // One object per id: the latest revocation (an amendment, then the retraction, may revoke it twice).
        let mut objects: BTreeMap<String, StixObject> = BTreeMap::new();
        for entry in table.range(start.as_str()..end.as_str())? {
            let (_, value) = entry?;
            let Ok(revoked) = serde_json::from_slice::<Revoked>(value.value()) else {
                continue;
            };
            let ids: Vec<&str> = revoked.objects.iter().map(|(_, id)| id.as_str()).collect();
            for (kind, id) in &revoked.objects {
                let object = StixObject {
                    body: revoked_body(kind, id, &revoked, &ids),
                    id: id.clone(),
                    kind: kind.clone(),
                    date_added: revoked.at,
                    version: revoked.at,
                };
                objects.insert(id.clone(), object);
            }
        }
        Ok(objects.into_values().collect())
    }
}

/// Returns the revoked version of an object: its id, `created`, a `modified` at the revocation and
/// `revoked: true`, with the properties STIX 2.1 requires of its type filled with neutral values that carry nothing of
/// the report (a `report` named "Retracted report" referring to the other revoked objects, an `indicator` whose
/// pattern names only its own id and can match no observable, an `identity` named "retracted").
fn revoked_body(kind: &str, id: &str, revoked: &Revoked, ids: &[&str]) -> serde_json::Value {
    let created = timestamp(revoked.created);
    let mut body = json!({
        "type": kind,
        "spec_version": "2.1",
        "id": id,
        "created": created,
        "modified": timestamp(revoked.at),
        "revoked": true,
    });
    match kind {
        "report" => {
            let others: Vec<&str> = ids.iter().copied().filter(|other| *other != id).collect();
            body["name"] = json!("Retracted report");
            body["published"] = json!(created);
            body["object_refs"] = json!(if others.is_empty() { vec![id] } else { others });
        }
        "indicator" => {
            body["pattern"] = json!(format!("[x-accord-retracted:indicator_ref = '{id}']"));
            body["pattern_type"] = json!("stix");
            body["valid_from"] = json!(created);
        }
        "identity" => body["name"] = json!("retracted"),
        _ => {}
    }
    body
}

/// The follower that fills the store.
struct Follower {
    store: Revocations,
}

#[async_trait]
impl Stage for Follower {
    async fn process(&mut self, batch: &[Delivery]) -> anyhow::Result<()> {
        let releases: Vec<ReleaseSet> = batch
            .iter()
            .filter(|delivery| {
                // Only retractions carry revocations: skip decoding views for every other release set.
                memchr_revoked(&delivery.record.payload)
            })
            .filter_map(|delivery| serde_json::from_slice(&delivery.record.payload).ok())
            .filter(|release: &ReleaseSet| !release.revoked.is_empty())
            .collect();
        if releases.is_empty() {
            return Ok(());
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.put(&releases)).await?
    }
}

/// Whether a release set's JSON may carry revocations (a cheap byte search before decoding it).
fn memchr_revoked(payload: &[u8]) -> bool {
    payload.windows(10).any(|window| window == b"\"revoked\":")
}

/// Returns the follower, to run until `shutdown`: when the store must be refilled, it refills it from the start of
/// its topic first (`/readyz` says so from now on).
///
/// # Errors
/// When the bus cannot be subscribed to.
pub(crate) fn run(
    deps: &accord_runtime::Deps,
    store: Revocations,
    shutdown: tokio_util::sync::CancellationToken,
) -> impl std::future::Future<Output = anyhow::Result<()>> + use<> {
    let options = StageOptions {
        name: "search-revocations",
        topic: topics::REPORTS_RELEASABLE,
        group: deps.store_group("search-revocations"),
        batch_size: 1024,
        linger: std::time::Duration::ZERO,
    };
    let pending = store.pending.clone();
    let make = move || Follower {
        store: store.clone(),
    };
    accord_runtime::refill::follow(
        deps.bus.clone(),
        options,
        "search-revocations-refill",
        pending,
        &deps.health,
        make,
        shutdown,
    )
}
