//! Where each stored report came from: its partition of `reports.normalized`, and per partition the offset below
//! which every record was applied to the store (issue 18 item 1, decision 0081).
//!
//! - `report_partition`: report id → partition, and `reports_by_partition`: `<partition, 10 digits> 0x1F <id>`, so
//!   that a partition's reports are one range scan (re-evaluating a partition just taken over) and a report's
//!   partition one lookup (acting only on owned partitions). Written with the report by [`ReportStore::put_placed`];
//!   [`ReportStore::put`] keeps a report's placement (a report stripped of retracted values stays where it is);
//!   removal and retraction remove it. A report stored before placements existed has none: it belongs to no
//!   partition a replica owns until a restore of its partition places it.
//! - `partition_applied`: partition → offset. Raised only ([`ReportStore::raise_applied`]), by a restore (to the end
//!   it read to) and by the stage's contiguous progress; a restore reads from it.
//! - `partition_evaluated`: partition → the policy positions under which all its stored reports were last evaluated
//!   by this replica, and when ([`ReportStore::set_evaluated`]): a partition taken back with nothing new to read and
//!   no policy change since needs no re-evaluation.

use std::collections::BTreeMap;

use accord_domain::ReportId;
use redb::{ReadableTable, Table, TableDefinition};

use super::{ReportStore, SEPARATOR, StoreError, failed};

pub(super) const PARTITION_OF: TableDefinition<'_, &str, u32> =
    TableDefinition::new("report_partition");
pub(super) const BY_PARTITION: TableDefinition<'_, &str, ()> =
    TableDefinition::new("reports_by_partition");
pub(super) const APPLIED: TableDefinition<'_, u32, u64> = TableDefinition::new("partition_applied");
/// Partition → `[directory position, MoU position, micros]`: the policy positions under which every stored report
/// of the partition was last evaluated and published by this replica, and when.
pub(super) const EVALUATED: TableDefinition<'_, u32, [u64; 3]> =
    TableDefinition::new("partition_evaluated");

fn partition_key(partition: u32, id: &str) -> String {
    format!("{partition:010}{SEPARATOR}{id}")
}

/// The two placement tables, open in a write transaction.
pub(super) struct Placements<'txn> {
    partition_of: Table<'txn, &'static str, u32>,
    by_partition: Table<'txn, &'static str, ()>,
}

impl<'txn> Placements<'txn> {
    pub(super) fn open(txn: &'txn redb::WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            partition_of: txn
                .open_table(PARTITION_OF)
                .map_err(failed("failed to open the partition table"))?,
            by_partition: txn
                .open_table(BY_PARTITION)
                .map_err(failed("failed to open the partition index"))?,
        })
    }

    /// Records that report `id` is in `partition` (moving it if it was placed elsewhere).
    pub(super) fn place(&mut self, id: &str, partition: u32) -> Result<(), StoreError> {
        let previous = self
            .partition_of
            .insert(id, partition)
            .map_err(failed("failed to write a partition"))?
            .map(|value| value.value());
        if let Some(previous) = previous.filter(|previous| *previous != partition) {
            self.by_partition
                .remove(partition_key(previous, id).as_str())
                .map_err(failed("failed to write the partition index"))?;
        }
        self.by_partition
            .insert(partition_key(partition, id).as_str(), ())
            .map_err(failed("failed to write the partition index"))?;
        Ok(())
    }

    /// Forgets report `id`'s placement.
    pub(super) fn unplace(&mut self, id: &str) -> Result<(), StoreError> {
        let previous = self
            .partition_of
            .remove(id)
            .map_err(failed("failed to remove a partition"))?
            .map(|value| value.value());
        if let Some(previous) = previous {
            self.by_partition
                .remove(partition_key(previous, id).as_str())
                .map_err(failed("failed to write the partition index"))?;
        }
        Ok(())
    }
}

impl ReportStore {
    /// Returns every stored report of `partition`.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn by_partition(
        &self,
        partition: u32,
    ) -> Result<Vec<accord_domain::NormalizedReport>, StoreError> {
        let (start, end) = partition_range(partition);
        self.indexed(BY_PARTITION, &start, &end, |_| true)
    }

    /// Returns the partition of each report (`None`: not stored, or stored before placements existed).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn partitions_of(&self, ids: &[&ReportId]) -> Result<Vec<Option<u32>>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(failed("failed to begin read"))?;
        let table = txn
            .open_table(PARTITION_OF)
            .map_err(failed("failed to open the partition table"))?;
        ids.iter()
            .map(|id| {
                Ok(table
                    .get(id.as_str())
                    .map_err(failed("failed to read a partition"))?
                    .map(|value| value.value()))
            })
            .collect()
    }

    /// Returns, per partition, the offset below which every record was applied.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn applied(&self) -> Result<BTreeMap<u32, u64>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(failed("failed to begin read"))?;
        let table = txn
            .open_table(APPLIED)
            .map_err(failed("failed to open applied offsets"))?;
        table
            .iter()
            .map_err(failed("failed to scan applied offsets"))?
            .map(|entry| {
                let (partition, offset) =
                    entry.map_err(failed("failed to read applied offsets"))?;
                Ok((partition.value(), offset.value()))
            })
            .collect()
    }

    /// Returns the policy positions under which every stored report of `partition` was last evaluated, and when.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn evaluated(
        &self,
        partition: u32,
    ) -> Result<Option<(accord_runtime::directory::Applied, accord_domain::Timestamp)>, StoreError>
    {
        let txn = self
            .db
            .begin_read()
            .map_err(failed("failed to begin read"))?;
        let table = txn
            .open_table(EVALUATED)
            .map_err(failed("failed to open evaluated positions"))?;
        let Some([directory, mous, micros]) = table
            .get(partition)
            .map_err(failed("failed to read evaluated positions"))?
            .map(|value| value.value())
        else {
            return Ok(None);
        };
        let at = chrono::DateTime::from_timestamp_micros(i64::try_from(micros).unwrap_or(i64::MAX));
        Ok(at.map(|at| (accord_runtime::directory::Applied { directory, mous }, at)))
    }

    /// Records that every stored report of `partitions` was evaluated under `applied` at `at`.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn set_evaluated(
        &self,
        partitions: &[u32],
        applied: accord_runtime::directory::Applied,
        at: accord_domain::Timestamp,
    ) -> Result<(), StoreError> {
        let txn = self
            .db
            .begin_write()
            .map_err(failed("failed to begin write"))?;
        {
            let mut table = txn
                .open_table(EVALUATED)
                .map_err(failed("failed to open evaluated positions"))?;
            let micros = u64::try_from(at.timestamp_micros()).unwrap_or_default();
            for &partition in partitions {
                table
                    .insert(partition, [applied.directory, applied.mous, micros])
                    .map_err(failed("failed to write evaluated positions"))?;
            }
        }
        txn.commit()
            .map_err(failed("failed to commit evaluated positions"))?;
        Ok(())
    }

    /// Forgets under which policy positions the stored reports of `partitions` were last evaluated: something changed
    /// them that this replica did not publish (it did not act on those partitions), so whoever of its processes takes
    /// one over evaluates its reports again.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn unset_evaluated(&self, partitions: &[u32]) -> Result<(), StoreError> {
        self.forget_partitions(EVALUATED, partitions)
    }

    /// Forgets what was applied of `partitions`: a restore of one of them reads it from its start again.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn forget_applied(&self, partitions: &[u32]) -> Result<(), StoreError> {
        self.forget_partitions(APPLIED, partitions)
    }

    /// Removes the entries of `partitions` from a table keyed by partition.
    fn forget_partitions<V: redb::Value + 'static>(
        &self,
        table: TableDefinition<'_, u32, V>,
        partitions: &[u32],
    ) -> Result<(), StoreError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let txn = self
            .db
            .begin_write()
            .map_err(failed("failed to begin write"))?;
        {
            let mut table = txn
                .open_table(table)
                .map_err(failed("failed to open a partition table"))?;
            for &partition in partitions {
                table
                    .remove(partition)
                    .map_err(failed("failed to forget a partition"))?;
            }
        }
        txn.commit()
            .map_err(failed("failed to commit a partition table"))?;
        Ok(())
    }

    /// Raises the applied offsets of partitions (never lowers one), durably.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn raise_applied(&self, offsets: &BTreeMap<u32, u64>) -> Result<(), StoreError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let txn = self
            .db
            .begin_write()
            .map_err(failed("failed to begin write"))?;
        {
            let mut table = txn
                .open_table(APPLIED)
                .map_err(failed("failed to open applied offsets"))?;
            for (&partition, &offset) in offsets {
                let current = table
                    .get(partition)
                    .map_err(failed("failed to read applied offsets"))?
                    .map(|value| value.value());
                if current.is_none_or(|current| current < offset) {
                    table
                        .insert(partition, offset)
                        .map_err(failed("failed to write applied offsets"))?;
                }
            }
        }
        txn.commit()
            .map_err(failed("failed to commit applied offsets"))?;
        Ok(())
    }
}

/// Returns the range of the partition index holding `partition`'s reports.
pub(super) fn partition_range(partition: u32) -> (String, String) {
    let start = format!("{partition:010}{SEPARATOR}");
    let end = format!(
        "{partition:010}{}",
        char::from_u32(u32::from(SEPARATOR) + 1).unwrap_or(SEPARATOR)
    );
    (start, end)
}
