//! The watchlists, their entries and the alerts, in `<data>/search/alerts.redb`, with the matcher's index of every
//! watched value kept in memory (rebuilt from the file at start).
//!
//! Tables (keys are strings, `\x1f`-separated; values JSON unless said):
//! - `watchlists`: watchlist id → [`Watchlist`];
//! - `entries`: `<watchlist>\x1f<value>` → [`Entry`];
//! - `alerts`: `<agency>\x1f<seq, 20 digits>` → [`Alert`]: an agency's alerts in the order they were raised, so that
//!   a stream resumes from an id with one range read;
//! - `active`: `<report>\x1f<watchlist>\x1f<entry>\x1f<value>` → the sequence number of the `match` alert: which
//!   matches a report's current release holds, so that a later release of the report raises only what changed
//!   (`match` for a new one, `withdrawn` for one that is gone) and a replayed release raises nothing;
//! - `order`: sequence number → the alert's key in `alerts`: every alert in the order raised, so that the retention
//!   of alerts deletes the oldest without reading the others;
//! - `webhooks`: watchlist id → its webhook's delivery state ([`super::webhook::State`]);
//! - `meta`: `seq` → the last sequence number given (u64).

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, RwLock},
};

use accord_domain::{Case, ObservableType, OrgId, Purpose, ReportId, Timestamp, View};
use accord_runtime::{health::Health, store::HealingDatabase};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::watched::{Slot, Watched};

pub(super) const WATCHLISTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("watchlists");
pub(super) const ENTRIES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("entries");
pub(super) const ALERTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("alerts");
pub(super) const ACTIVE: TableDefinition<'_, &str, u64> = TableDefinition::new("active");
pub(super) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
pub(super) const WEBHOOKS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("webhooks");
pub(super) const ORDER: TableDefinition<'_, u64, &str> = TableDefinition::new("order");
pub(super) const SEP: char = '\u{1f}';
/// The character after [`SEP`], ending a prefix range.
pub(super) const SEP_END: char = '\u{20}';

/// A watchlist: an agency's watched values for one purpose and one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Watchlist {
    pub(crate) id: String,
    pub(crate) agency: OrgId,
    pub(crate) name: String,
    pub(crate) purpose: Purpose,
    pub(crate) case: Case,
    pub(crate) created_at: Timestamp,
    /// The token that created it.
    pub(crate) created_by: String,
    /// How many entries it has.
    pub(crate) entries: usize,
    /// Where its alerts are also POSTed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) webhook: Option<super::webhook::Target>,
}

/// One watched value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    #[serde(rename = "type")]
    pub(crate) kind: ObservableType,
    /// The canonical value.
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) include_subdomains: bool,
}

/// `match` or `withdrawn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AlertKind {
    Match,
    Withdrawn,
}

/// An alert as stored: what matched, and for a `match` the released view cut down to the summary and the matched
/// indicators (re-checked against the MoUs in force when it is delivered).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Alert {
    pub(crate) seq: u64,
    pub(crate) kind: AlertKind,
    pub(crate) watchlist: String,
    pub(crate) entry: String,
    pub(crate) value: String,
    pub(crate) report: ReportId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) view: Option<View>,
    pub(crate) at: Timestamp,
}

/// A match found in a release: (watchlist, entry, released value).
pub(crate) type Match = (Arc<str>, Arc<str>, String);

/// What the process holds in memory: the watchlists and the index of their values.
#[derive(Default)]
pub(crate) struct Memory {
    pub(crate) lists: HashMap<Arc<str>, Watchlist>,
    /// (agency, purpose) → how many watchlists it has: a grant without any is skipped at once.
    pub(crate) grants: HashMap<(OrgId, Purpose), usize>,
    pub(crate) watched: Watched,
}

impl Memory {
    pub(crate) fn add_list(&mut self, list: Watchlist) {
        *self
            .grants
            .entry((list.agency.clone(), list.purpose))
            .or_default() += 1;
        self.lists.insert(list.id.as_str().into(), list);
    }

    fn remove_list(&mut self, id: &str) {
        if let Some(list) = self.lists.remove(id) {
            let key = (list.agency, list.purpose);
            if let Some(count) = self.grants.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    self.grants.remove(&key);
                }
            }
        }
    }
}

fn slot(list: &str, entry: &Entry) -> Slot {
    Slot {
        list: list.into(),
        entry: entry.value.as_str().into(),
    }
}

/// The store.
#[derive(Clone)]
pub(crate) struct AlertStore {
    pub(super) db: Arc<HealingDatabase>,
    memory: Arc<RwLock<Memory>>,
    /// The last sequence number written: streams wait on it.
    pub(super) last: Arc<watch::Sender<u64>>,
}

impl AlertStore {
    /// Opens or creates the store in `dir` and loads every watchlist and entry into memory.
    ///
    /// # Errors
    /// Fails when the file cannot be opened or read.
    pub(crate) fn open(
        dir: &Path,
        cache_bytes: usize,
        health: Option<Health>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let db = HealingDatabase::open(
            "search alerts store",
            &dir.join("alerts.redb"),
            cache_bytes,
            health,
        )?;
        let txn = db.begin_write()?;
        txn.open_table(WATCHLISTS)?;
        txn.open_table(ENTRIES)?;
        txn.open_table(ALERTS)?;
        txn.open_table(ACTIVE)?;
        txn.open_table(META)?;
        txn.open_table(ORDER)?;
        txn.open_table(WEBHOOKS)?;
        txn.commit()?;
        let mut memory = Memory::default();
        let txn = db.begin_read()?;
        for item in txn.open_table(WATCHLISTS)?.iter()? {
            let (_, value) = item?;
            memory.add_list(serde_json::from_slice(value.value())?);
        }
        for item in txn.open_table(ENTRIES)?.iter()? {
            let (key, value) = item?;
            let entry: Entry = serde_json::from_slice(value.value())?;
            let list = key.value().split(SEP).next().unwrap_or_default();
            memory.watched.insert(
                entry.kind,
                &entry.value,
                entry.include_subdomains,
                slot(list, &entry),
            );
        }
        let last = txn
            .open_table(META)?
            .get("seq")?
            .map_or(0, |seq| seq.value());
        Ok(Self {
            db,
            memory: Arc::new(RwLock::new(memory)),
            last: Arc::new(watch::channel(last).0),
        })
    }

    /// Returns the in-memory state, for reading.
    pub(crate) fn memory(&self) -> std::sync::RwLockReadGuard<'_, Memory> {
        self.memory
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn memory_mut(&self) -> std::sync::RwLockWriteGuard<'_, Memory> {
        self.memory
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns a receiver of the last sequence number written.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.last.subscribe()
    }

    /// Returns a watchlist.
    pub(crate) fn get(&self, id: &str) -> Option<Watchlist> {
        self.memory().lists.get(id).cloned()
    }

    /// Returns the watchlists of `agency`, by creation.
    pub(crate) fn of_agency(&self, agency: &OrgId) -> Vec<Watchlist> {
        let mut lists: Vec<Watchlist> = self
            .memory()
            .lists
            .values()
            .filter(|list| &list.agency == agency)
            .cloned()
            .collect();
        lists.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        lists
    }

    /// Stores a new watchlist with its entries.
    ///
    /// # Errors
    /// Fails on a storage error (nothing is changed then).
    pub(crate) fn create(
        &self,
        mut list: Watchlist,
        entries: &[Entry],
    ) -> anyhow::Result<Watchlist> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(ENTRIES)?;
            list.entries = put_entries(&mut table, &list.id, entries)?.len();
            txn.open_table(WATCHLISTS)?
                .insert(list.id.as_str(), serde_json::to_vec(&list)?.as_slice())?;
            if list.webhook.is_some() {
                // Delivery starts with the alerts raised after the watchlist exists.
                let state = super::webhook::State {
                    cursor: *self.last.borrow(),
                    ..Default::default()
                };
                txn.open_table(WEBHOOKS)?
                    .insert(list.id.as_str(), serde_json::to_vec(&state)?.as_slice())?;
            }
        }
        txn.commit()?;
        let mut memory = self.memory_mut();
        for entry in entries {
            let slot = slot(&list.id, entry);
            memory
                .watched
                .insert(entry.kind, &entry.value, entry.include_subdomains, slot);
        }
        memory.add_list(list.clone());
        Ok(list)
    }

    /// Adds (or replaces) entries of a watchlist; returns it with its new count.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub(crate) fn add_entries(
        &self,
        id: &str,
        entries: &[Entry],
    ) -> anyhow::Result<Option<Watchlist>> {
        self.change_entries(id, |table, list| {
            let replaced = put_entries(table, id, entries)?;
            list.entries += entries.len() - replaced.iter().filter(|old| old.is_some()).count();
            Ok((entries.to_vec(), replaced.into_iter().flatten().collect()))
        })
    }

    /// Removes entries of a watchlist by value; returns it with its new count.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub(crate) fn remove_entries(
        &self,
        id: &str,
        values: &[String],
    ) -> anyhow::Result<Option<Watchlist>> {
        self.change_entries(id, |table, list| {
            let mut removed = Vec::new();
            for value in values {
                let key = format!("{id}{SEP}{value}");
                if let Some(old) = table.remove(key.as_str())? {
                    removed.push(serde_json::from_slice::<Entry>(old.value())?);
                }
            }
            list.entries -= removed.len();
            Ok((Vec::new(), removed))
        })
    }

    /// Runs `change` on a watchlist's entries in one transaction, then applies what it added and removed to memory.
    fn change_entries(
        &self,
        id: &str,
        change: impl FnOnce(
            &mut redb::Table<'_, &str, &[u8]>,
            &mut Watchlist,
        ) -> anyhow::Result<(Vec<Entry>, Vec<Entry>)>,
    ) -> anyhow::Result<Option<Watchlist>> {
        let Some(mut list) = self.get(id) else {
            return Ok(None);
        };
        let txn = self.db.begin_write()?;
        let (added, removed) = {
            let mut table = txn.open_table(ENTRIES)?;
            let changed = change(&mut table, &mut list)?;
            txn.open_table(WATCHLISTS)?
                .insert(id, serde_json::to_vec(&list)?.as_slice())?;
            changed
        };
        txn.commit()?;
        let mut memory = self.memory_mut();
        for entry in &removed {
            memory.watched.remove(
                entry.kind,
                &entry.value,
                entry.include_subdomains,
                &slot(id, entry),
            );
        }
        for entry in &added {
            let slot = slot(id, entry);
            memory
                .watched
                .insert(entry.kind, &entry.value, entry.include_subdomains, slot);
        }
        if let Some(held) = memory.lists.get_mut(id) {
            held.entries = list.entries;
        }
        Ok(Some(list))
    }

    /// Deletes a watchlist and its entries (its alerts stay, for the record, and are no longer delivered).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub(crate) fn delete(&self, id: &str) -> anyhow::Result<bool> {
        let Some(list) = self.get(id) else {
            return Ok(false);
        };
        let txn = self.db.begin_write()?;
        let removed = {
            let mut table = txn.open_table(ENTRIES)?;
            let (start, end) = (format!("{id}{SEP}"), format!("{id}{SEP_END}"));
            let mut removed = Vec::new();
            for item in table.extract_from_if(start.as_str()..end.as_str(), |_, _| true)? {
                let (_, value) = item?;
                removed.push(serde_json::from_slice::<Entry>(value.value())?);
            }
            txn.open_table(WATCHLISTS)?.remove(id)?;
            txn.open_table(WEBHOOKS)?.remove(id)?;
            removed
        };
        txn.commit()?;
        let mut memory = self.memory_mut();
        for entry in &removed {
            memory.watched.remove(
                entry.kind,
                &entry.value,
                entry.include_subdomains,
                &slot(&list.id, entry),
            );
        }
        memory.remove_list(id);
        Ok(true)
    }

    /// Returns the delivery state of a watchlist's webhook (the default when it has none).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub(crate) fn webhook_state(&self, id: &str) -> anyhow::Result<super::webhook::State> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(WEBHOOKS)?;
        Ok(match table.get(id)? {
            Some(value) => serde_json::from_slice(value.value())?,
            None => super::webhook::State::default(),
        })
    }

    /// Stores the delivery state of a watchlist's webhook, unless the watchlist was deleted meanwhile.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub(crate) fn put_webhook_state(
        &self,
        id: &str,
        state: &super::webhook::State,
    ) -> anyhow::Result<()> {
        if self.get(id).is_none() {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        txn.open_table(WEBHOOKS)?
            .insert(id, serde_json::to_vec(state)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Returns up to `limit` entries of a watchlist after the value `after`.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub(crate) fn entries(
        &self,
        id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<Entry>> {
        let start = match after {
            Some(after) => format!("{id}{SEP}{after}\u{0}"),
            None => format!("{id}{SEP}"),
        };
        let end = format!("{id}{SEP_END}");
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ENTRIES)?;
        let mut entries = Vec::new();
        for item in table.range(start.as_str()..end.as_str())?.take(limit) {
            let (_, value) = item?;
            entries.push(serde_json::from_slice(value.value())?);
        }
        Ok(entries)
    }
}

/// Writes entries under `list`; returns, for each, the entry it replaced.
fn put_entries(
    table: &mut redb::Table<'_, &str, &[u8]>,
    list: &str,
    entries: &[Entry],
) -> anyhow::Result<Vec<Option<Entry>>> {
    let mut replaced = Vec::with_capacity(entries.len());
    for entry in entries {
        let key = format!("{list}{SEP}{}", entry.value);
        let old = table.insert(key.as_str(), serde_json::to_vec(entry)?.as_slice())?;
        replaced.push(match old {
            Some(old) => Some(serde_json::from_slice(old.value())?),
            None => None,
        });
    }
    Ok(replaced)
}
