//! The enforcer's durable copy of every normalized report, so that a policy change can re-evaluate the reports it
//! affects without rereading the bus: reports by id, and an index by partner (MoUs name their providers, so a change
//! to an MoU affects exactly its providers' reports).

use std::{path::Path, sync::Arc};

use accord_domain::{NormalizedReport, OrgId, ReportId};
use accord_runtime::{health::Health, memory::MemoryConfig, store::HealingDatabase};
use redb::{Durability, ReadableTable, TableDefinition};

use self::partitions::Placements;
use self::received::{BY_RECEIVED, received_key};
use self::retracted::RETRACTED;
use self::retracted_values::RETRACTED_VALUES;

mod encoded;
pub use self::encoded::{Resume, Stored};
mod partitions;
mod received;
mod retracted;
mod retracted_values;
pub(crate) mod strip;

const REPORTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("reports");
const BY_PARTNER: TableDefinition<'_, &str, ()> = TableDefinition::new("reports_by_partner");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const POLICY_POSITIONS: &str = "policy_positions";

/// The separator between partner and report id in the partner index (never part of either).
const SEPARATOR: char = '\u{1f}';

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[error("report store failed: {context}")]
pub struct StoreError {
    context: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn failed<E: Into<redb::Error>>(context: &'static str) -> impl FnOnce(E) -> StoreError {
    move |error| StoreError {
        context,
        source: Box::new(error.into()),
    }
}

/// The report store (`<data>/enforcer/reports.redb`).
#[derive(Clone)]
pub struct ReportStore {
    db: Arc<HealingDatabase>,
    /// Set when the file was damaged and replaced by a new one at open (or such a refill was interrupted): the
    /// enforcer refills it from `reports.normalized` before it processes anything ([`crate::refill`]).
    pending: Option<accord_runtime::refill::Pending>,
}

impl ReportStore {
    /// Opens or creates the store in `dir`.
    ///
    /// # Errors
    /// Fails when the file cannot be opened.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        Self::open_with(dir, MemoryConfig::default().enforcer_cache_bytes(), None)
    }

    /// Opens or creates the store in `dir`, reporting its failures and recoveries to `health`: after an I/O error
    /// (a full disk) it reopens itself with backoff ([`accord_runtime::store`]). The store is derived from
    /// `reports.normalized`: a file damaged beyond repair is set aside and a new one created, which
    /// [`ReportStore::pending`] then asks to refill.
    ///
    /// # Errors
    /// Fails when the file cannot be opened.
    pub fn open_with(
        dir: &Path,
        cache_bytes: usize,
        health: Option<Health>,
    ) -> anyhow::Result<Self> {
        Self::open_as("enforcer store", dir, cache_bytes, health)
    }

    /// As [`ReportStore::open_with`], for the catalog of every report (`crate::catalog`), named so in `/readyz`.
    ///
    /// # Errors
    /// Fails when the file cannot be opened.
    pub(crate) fn open_catalog(
        dir: &Path,
        cache_bytes: usize,
        health: Option<Health>,
    ) -> anyhow::Result<Self> {
        Self::open_as("enforcer catalog", dir, cache_bytes, health)
    }

    fn open_as(
        name: &'static str,
        dir: &Path,
        cache_bytes: usize,
        health: Option<Health>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (db, pending) =
            HealingDatabase::open_derived(name, &dir.join("reports.redb"), cache_bytes, health)?;
        let txn = db.begin_write()?;
        txn.open_table(REPORTS)?;
        txn.open_table(BY_PARTNER)?;
        txn.open_table(META)?;
        txn.open_table(RETRACTED)?;
        txn.open_table(partitions::PARTITION_OF)?;
        txn.open_table(partitions::BY_PARTITION)?;
        txn.open_table(partitions::APPLIED)?;
        txn.open_table(partitions::EVALUATED)?;
        txn.open_table(RETRACTED_VALUES)?;
        received::backfill(&txn)?;
        txn.commit()?;
        Ok(Self { db, pending })
    }

    /// What must be refilled before the store is used, if anything (see [`ReportStore::open_with`]).
    pub fn pending(&self) -> Option<accord_runtime::refill::Pending> {
        self.pending.clone()
    }

    /// Stores reports durably (replacing any earlier copy of the same id: an amendment replaces its report), except
    /// those whose partner retracted them, whose ids are returned. A report sent before a retraction of one of its
    /// indicator values loses the value first, in `reports` too, so the caller evaluates what was stored
    /// (`retracted_values`). The reports are encoded before the write transaction opens: the store has one writer at
    /// a time, which the enforcer's lanes share. A report keeps the partition it was placed in, if any
    /// ([`ReportStore::put_placed`]).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn put(&self, reports: &mut [NormalizedReport]) -> Result<Vec<ReportId>, StoreError> {
        self.put_placed(reports, &[])
    }

    /// As [`ReportStore::put`], and records that `reports[i]` came from partition `partitions[i]` of
    /// `reports.normalized` (`partitions` is empty, or as long as `reports`).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn put_placed(
        &self,
        reports: &mut [NormalizedReport],
        partitions: &[u32],
    ) -> Result<Vec<ReportId>, StoreError> {
        let mut encoded = reports
            .iter()
            .map(encode)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut refused = Vec::new();
        let txn = self.begin_durable_write()?;
        {
            let mut table = txn
                .open_table(REPORTS)
                .map_err(failed("failed to open reports"))?;
            let mut by_partner = txn
                .open_table(BY_PARTNER)
                .map_err(failed("failed to open partner index"))?;
            let mut by_received = txn
                .open_table(BY_RECEIVED)
                .map_err(failed("failed to open reception index"))?;
            let retracted = txn
                .open_table(RETRACTED)
                .map_err(failed("failed to open tombstones"))?;
            let mut placements = Placements::open(&txn)?;
            let values = txn
                .open_table(RETRACTED_VALUES)
                .map_err(failed("failed to open retracted values"))?;
            let mut partners = std::collections::HashMap::new();
            for (index, (report, bytes)) in reports.iter_mut().zip(encoded.iter_mut()).enumerate() {
                if retracted
                    .get(report.id.as_str())
                    .map_err(failed("failed to read a tombstone"))?
                    .is_some()
                {
                    refused.push(report.id.clone());
                    continue;
                }
                let gone = retracted_values::retracted_in(&values, &mut partners, report)?;
                if !gone.is_empty() && strip::strip(report, &gone) {
                    *bytes = encode(report)?;
                }
                table
                    .insert(report.id.as_str(), bytes.as_slice())
                    .map_err(failed("failed to write report"))?;
                let key = partner_key(&report.partner, &report.id);
                by_partner
                    .insert(key.as_str(), ())
                    .map_err(failed("failed to write partner index"))?;
                by_received
                    .insert(received_key(report).as_str(), ())
                    .map_err(failed("failed to write reception index"))?;
                if let Some(&partition) = partitions.get(index) {
                    placements.place(report.id.as_str(), partition)?;
                }
            }
        }
        txn.commit().map_err(failed("failed to commit reports"))?;
        Ok(refused)
    }

    /// Begins a write transaction that is durable once committed (synced): what the store holds must survive a
    /// crash once the enforcer has acted on it.
    fn begin_durable_write(&self) -> Result<accord_runtime::store::HealingWrite<'_>, StoreError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(failed("failed to begin write"))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|error| StoreError {
                context: "failed to set durability",
                source: Box::new(error),
            })?;
        Ok(txn)
    }

    /// Returns a report by id.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn get(&self, id: &ReportId) -> Result<Option<NormalizedReport>, StoreError> {
        Ok(self.get_many(std::slice::from_ref(id))?.pop())
    }

    /// Returns the stored reports among `ids`, in their order, leaving out those not stored (retracted).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn get_many(&self, ids: &[ReportId]) -> Result<Vec<NormalizedReport>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(failed("failed to begin read"))?;
        let table = txn
            .open_table(REPORTS)
            .map_err(failed("failed to open reports"))?;
        let mut reports = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(value) = table
                .get(id.as_str())
                .map_err(failed("failed to read report"))?
                && let Some(report) = decode(value.value())
            {
                reports.push(report);
            }
        }
        Ok(reports)
    }

    /// Returns every stored report of `partner`.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn by_partner(&self, partner: &OrgId) -> Result<Vec<NormalizedReport>, StoreError> {
        let (start, end) = partner_range(partner);
        self.indexed(BY_PARTNER, &start, &end, |_| true)
    }

    /// Returns the stored reports named by the keys of `index` in `start..end`, in key order, whose stored bytes
    /// `keep` accepts (a test that decodes only what it needs, before the whole report is decoded): each key ends
    /// with `SEPARATOR` and the report id.
    fn indexed(
        &self,
        index: TableDefinition<'_, &str, ()>,
        start: &str,
        end: &str,
        keep: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<NormalizedReport>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(failed("failed to begin read"))?;
        let index = txn
            .open_table(index)
            .map_err(failed("failed to open an index"))?;
        let table = txn
            .open_table(REPORTS)
            .map_err(failed("failed to open reports"))?;
        let mut reports = Vec::new();
        for entry in index
            .range(start..end)
            .map_err(failed("failed to scan an index"))?
        {
            let (key, _) = entry.map_err(failed("failed to read an index"))?;
            let Some((_, id)) = key.value().rsplit_once(SEPARATOR) else {
                continue;
            };
            let Some(value) = table.get(id).map_err(failed("failed to read report"))? else {
                continue;
            };
            if keep(value.value())
                && let Some(report) = decode(value.value())
            {
                reports.push(report);
            }
        }
        Ok(reports)
    }
}

impl ReportStore {
    /// Returns the directory positions the last re-evaluation acted on.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn policy_positions(
        &self,
    ) -> Result<Option<accord_runtime::directory::Applied>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(failed("failed to begin read"))?;
        let table = txn
            .open_table(META)
            .map_err(failed("failed to open meta"))?;
        let Some(value) = table
            .get(POLICY_POSITIONS)
            .map_err(failed("failed to read meta"))?
        else {
            return Ok(None);
        };
        let Ok((directory, mous)) = serde_json::from_slice::<(u64, u64)>(value.value()) else {
            return Ok(None);
        };
        Ok(Some(accord_runtime::directory::Applied { directory, mous }))
    }

    /// Stores the directory positions a re-evaluation acted on.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn set_policy_positions(
        &self,
        applied: accord_runtime::directory::Applied,
    ) -> Result<(), StoreError> {
        let txn = self
            .db
            .begin_write()
            .map_err(failed("failed to begin write"))?;
        {
            let mut table = txn
                .open_table(META)
                .map_err(failed("failed to open meta"))?;
            let bytes = serde_json::to_vec(&(applied.directory, applied.mous)).unwrap_or_default();
            table
                .insert(POLICY_POSITIONS, bytes.as_slice())
                .map_err(failed("failed to write meta"))?;
        }
        txn.commit().map_err(failed("failed to commit meta"))?;
        Ok(())
    }
}

/// Encodes a report as stored.
fn encode(report: &NormalizedReport) -> Result<Vec<u8>, StoreError> {
    accord_runtime::packed::to_vec(report).map_err(|error| StoreError {
        context: "failed to encode report",
        source: Box::new(error),
    })
}

/// Decodes a stored report; `None` when the bytes are not one (which every reader skips).
fn decode(bytes: &[u8]) -> Option<NormalizedReport> {
    accord_runtime::packed::from_slice(bytes).ok()
}

fn partner_key(partner: &OrgId, id: &ReportId) -> String {
    format!("{partner}{SEPARATOR}{id}")
}

/// Returns the range of the partner index holding `partner`'s reports.
pub(crate) fn partner_range(partner: &OrgId) -> (String, String) {
    let start = format!("{partner}{SEPARATOR}");
    let end = format!(
        "{partner}{}",
        char::from_u32(u32::from(SEPARATOR) + 1).unwrap_or(SEPARATOR)
    );
    (start, end)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn report(partner: &str) -> NormalizedReport {
        NormalizedReport {
            revision: None,
            id: ReportId::random(),
            partner: OrgId::parse(partner).unwrap(),
            received_at: chrono::Utc::now(),
            occurred_at: chrono::Utc::now(),
            tlp: accord_domain::Tlp::Green,
            title: "t".into(),
            description: String::new(),
            categories: vec![],
            sector: None,
            ttps: vec![],
            victim: None,
            indicators: vec![],
            pii: vec![],
            indicator_spans: None,
            indicator_pii: Vec::new(),
        }
    }

    #[test]
    fn reports_keep_their_partition_until_removed_and_applied_offsets_only_rise() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(dir.path()).unwrap();
        assert!(store.applied().unwrap().is_empty());
        let (a, b, c) = (report("bank-a"), report("bank-a"), report("bank-b"));
        store
            .put_placed(&mut [a.clone(), b.clone(), c.clone()], &[1, 2, 1])
            .unwrap();
        let ids = |reports: Vec<NormalizedReport>| {
            let mut ids: Vec<ReportId> = reports.into_iter().map(|report| report.id).collect();
            ids.sort();
            ids
        };
        let mut expected = vec![a.id.clone(), c.id.clone()];
        expected.sort();
        assert_eq!(ids(store.by_partition(1).unwrap()), expected);
        // Stored again without a placement (indicators stripped), it stays where it was; moved, it moves.
        store.put(&mut [a.clone()]).unwrap();
        store.put_placed(&mut [c.clone()], &[3]).unwrap();
        assert_eq!(ids(store.by_partition(1).unwrap()), vec![a.id.clone()]);
        assert_eq!(ids(store.by_partition(3).unwrap()), vec![c.id.clone()]);
        let unknown = ReportId::random();
        assert_eq!(
            store
                .partitions_of(&[&a.id, &b.id, &c.id, &unknown])
                .unwrap(),
            vec![Some(1), Some(2), Some(3), None]
        );
        store.remove(std::slice::from_ref(&b)).unwrap();
        assert!(store.by_partition(2).unwrap().is_empty());
        assert_eq!(store.partitions_of(&[&b.id]).unwrap(), vec![None]);
        store
            .raise_applied(&std::collections::BTreeMap::from([(1, 10), (2, 4)]))
            .unwrap();
        store
            .raise_applied(&std::collections::BTreeMap::from([(1, 7), (2, 9)]))
            .unwrap();
        drop(store);
        let store = ReportStore::open(dir.path()).unwrap();
        assert_eq!(
            store.applied().unwrap(),
            std::collections::BTreeMap::from([(1, 10), (2, 9)])
        );
        assert_eq!(ids(store.by_partition(1).unwrap()), vec![a.id]);
    }

    #[test]
    fn reports_are_found_by_id_and_by_partner_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(dir.path()).unwrap();
        let (a1, a2, b1, ab) = (
            report("bank-a"),
            report("bank-a"),
            report("bank-b"),
            report("bank-ab"),
        );
        store
            .put(&mut [a1.clone(), b1.clone(), a2.clone(), ab.clone()])
            .unwrap();
        store.put(&mut [a1.clone()]).unwrap();
        drop(store);
        let store = ReportStore::open(dir.path()).unwrap();
        assert_eq!(store.get(&b1.id).unwrap().unwrap(), b1);
        let mut ids: Vec<_> = store
            .by_partner(&a1.partner)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.sort();
        let mut expected = vec![a1.id, a2.id];
        expected.sort();
        assert_eq!(ids, expected, "bank-ab's report is not bank-a's");
        assert!(
            store
                .by_partner(&OrgId::parse("bank-c").unwrap())
                .unwrap()
                .is_empty()
        );
    }
}
