//! Reading many stored reports fast, for the MoU preview and for re-evaluations: reports read and decoded in
//! parallel parts within one read transaction (one snapshot of the store), each part folded into a result on its own
//! thread as it is read, so that no copy of the stored bytes and no list of every decoded report is ever kept.
//!
//! A re-evaluation walks a partner's (or a partition's) reports a page of ids at a time ([`ReportStore::page_ids`])
//! and decodes only the page it works on ([`ReportStore::map_many`]): however many reports a partner has, what is
//! held in memory at once is one page of them.

use std::{collections::BTreeSet, ops::Bound};

use accord_domain::{NormalizedReport, OrgId, ReportId};
use redb::{ReadOnlyTable, TableDefinition};

use super::{
    BY_PARTNER, REPORTS, ReportStore, SEPARATOR, StoreError, decode, failed,
    partitions::{BY_PARTITION, partition_range},
    partner_range,
};

/// Which stored reports a paged read walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Every report of a partner.
    Partner(OrgId),
    /// Every report placed in a partition.
    Partition(u32),
}

/// Where a paged read continues: after this key of the index it walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume(String);

impl ReportStore {
    /// Folds every stored report of `partners` (those that decode, as [`ReportStore::by_partner`] returns them) in
    /// at most `parts` parts of consecutive reports, in the order of `by_partner` partner after partner: each part is
    /// read from one snapshot of the store, decoded and folded into `init()` with `fold` on its own thread. Returns
    /// the parts' results in order.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn fold_by_partners<T: Send>(
        &self,
        partners: &BTreeSet<OrgId>,
        parts: usize,
        init: impl Fn() -> T + Sync,
        fold: impl Fn(&mut T, NormalizedReport) + Sync,
    ) -> Result<Vec<T>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(failed("failed to begin read"))?;
        let index = txn
            .open_table(BY_PARTNER)
            .map_err(failed("failed to open an index"))?;
        let table = txn
            .open_table(REPORTS)
            .map_err(failed("failed to open reports"))?;
        let mut ids: Vec<String> = Vec::new();
        for partner in partners {
            let (start, end) = partner_range(partner);
            for entry in index
                .range(start.as_str()..end.as_str())
                .map_err(failed("failed to scan an index"))?
            {
                let (key, _) = entry.map_err(failed("failed to read an index"))?;
                if let Some((_, id)) = key.value().rsplit_once(SEPARATOR) {
                    ids.push(id.to_owned());
                }
            }
        }
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        fold_parts(&table, &ids, parts, &init, &fold)
    }

    /// Returns the ids of at most `limit` stored reports of `which` in the order of its index, from after `after`
    /// (from the first when `None`), and where the next page starts (`None`: this page ends the walk). Each page is
    /// read from the store as it is then: a report stored after the walk passed its place is not in it.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn page_ids(
        &self,
        which: &Stored,
        after: Option<&Resume>,
        limit: usize,
    ) -> Result<(Vec<ReportId>, Option<Resume>), StoreError> {
        let (index, (start, end)): (TableDefinition<'_, &str, ()>, _) = match which {
            Stored::Partner(partner) => (BY_PARTNER, partner_range(partner)),
            Stored::Partition(partition) => (BY_PARTITION, partition_range(*partition)),
        };
        let txn = self
            .db
            .begin_read()
            .map_err(failed("failed to begin read"))?;
        let index = txn
            .open_table(index)
            .map_err(failed("failed to open an index"))?;
        let from = match after {
            Some(Resume(key)) => Bound::Excluded(key.as_str()),
            None => Bound::Included(start.as_str()),
        };
        let mut ids = Vec::new();
        let mut last = None;
        for entry in index
            .range::<&str>((from, Bound::Excluded(end.as_str())))
            .map_err(failed("failed to scan an index"))?
        {
            if ids.len() == limit.max(1) {
                return Ok((ids, last.map(Resume)));
            }
            let (key, _) = entry.map_err(failed("failed to read an index"))?;
            if let Some((_, id)) = key.value().rsplit_once(SEPARATOR)
                && let Ok(id) = ReportId::parse(id)
            {
                ids.push(id);
            }
            last = Some(key.value().to_owned());
        }
        Ok((ids, None))
    }

    /// Reads and decodes the stored reports `ids` (those stored that decode) from one snapshot of the store, in at
    /// most `parts` parts of consecutive ids each on its own thread, and maps each with `map` there. Returns the
    /// results in the order of `ids`.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn map_many<T: Send>(
        &self,
        ids: &[ReportId],
        parts: usize,
        map: impl Fn(NormalizedReport) -> T + Sync,
    ) -> Result<Vec<T>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(failed("failed to begin read"))?;
        let table = txn
            .open_table(REPORTS)
            .map_err(failed("failed to open reports"))?;
        let ids: Vec<&str> = ids.iter().map(ReportId::as_str).collect();
        let parts = fold_parts(
            &table,
            &ids,
            parts,
            &Vec::new,
            &|mapped: &mut Vec<T>, report| {
                mapped.push(map(report));
            },
        )?;
        Ok(parts.into_iter().flatten().collect())
    }
}

/// Reads the reports `ids` of `table` in at most `parts` parts of consecutive ids, each decoded and folded into
/// `init()` with `fold` on its own thread; returns the parts' results in order. An id not stored, or stored bytes
/// that do not decode, are passed over.
fn fold_parts<T: Send>(
    table: &ReadOnlyTable<&str, &[u8]>,
    ids: &[&str],
    parts: usize,
    init: &(impl Fn() -> T + Sync),
    fold: &(impl Fn(&mut T, NormalizedReport) + Sync),
) -> Result<Vec<T>, StoreError> {
    let size = ids.len().div_ceil(parts.max(1)).max(1);
    std::thread::scope(|scope| {
        let readers: Vec<_> = ids
            .chunks(size)
            .map(|part| {
                scope.spawn(move || {
                    let mut folded = init();
                    for id in part {
                        let value = table.get(*id).map_err(failed("failed to read report"))?;
                        if let Some(report) = value.and_then(|value| decode(value.value())) {
                            fold(&mut folded, report);
                        }
                    }
                    Ok(folded)
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|reader| {
                reader
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::report;

    /// Every page of `which`, `limit` ids at a time.
    fn walk(store: &ReportStore, which: &Stored, limit: usize) -> Vec<Vec<ReportId>> {
        let (mut pages, mut after) = (Vec::new(), None);
        loop {
            let (ids, next) = store.page_ids(which, after.as_ref(), limit).unwrap();
            pages.push(ids);
            match next {
                Some(next) => after = Some(next),
                None => return pages,
            }
        }
    }

    #[test]
    fn a_partners_or_partitions_reports_are_walked_in_pages_of_ids_without_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(dir.path()).unwrap();
        // "bank-a" is a prefix of "bank-ab": the walk of one must not reach into the other's keys.
        let mut mine: Vec<NormalizedReport> = (0..7).map(|_| report("bank-a")).collect();
        let mut theirs = vec![report("bank-ab"), report("bank-b")];
        let placements: Vec<u32> = (0..7).map(|at| at % 2).collect();
        store.put_placed(&mut mine, &placements).unwrap();
        store.put_placed(&mut theirs, &[0, 1]).unwrap();
        let mut expected: Vec<ReportId> = mine.iter().map(|report| report.id.clone()).collect();
        expected.sort();
        let partner = Stored::Partner(OrgId::parse("bank-a").unwrap());

        let pages = walk(&store, &partner, 3);
        assert_eq!(
            pages.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![3, 3, 1]
        );
        assert_eq!(pages.concat(), expected);
        // A page that takes the last key ends the walk.
        assert_eq!(
            walk(&store, &partner, 7)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            vec![7]
        );
        assert_eq!(walk(&store, &partner, 100).concat(), expected);
        let nobody = Stored::Partner(OrgId::parse("bank-z").unwrap());
        assert_eq!(walk(&store, &nobody, 3), vec![Vec::<ReportId>::new()]);

        let mut partition_one: Vec<ReportId> = mine
            .iter()
            .zip(&placements)
            .filter(|(_, partition)| **partition == 1)
            .map(|(report, _)| report.id.clone())
            .chain(std::iter::once(theirs[1].id.clone()))
            .collect();
        partition_one.sort();
        assert_eq!(
            walk(&store, &Stored::Partition(1), 2).concat(),
            partition_one
        );
    }

    #[test]
    fn many_reports_are_decoded_and_mapped_in_parts_in_the_order_asked() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(dir.path()).unwrap();
        let mut reports: Vec<NormalizedReport> = (0..9).map(|_| report("bank-a")).collect();
        store.put(&mut reports).unwrap();
        let mut ids: Vec<ReportId> = reports.iter().rev().map(|r| r.id.clone()).collect();
        ids.insert(4, ReportId::random());
        for parts in [1, 2, 4, 20] {
            let mapped = store
                .map_many(&ids, parts, |report| report.id.clone())
                .unwrap();
            let stored: Vec<ReportId> = reports.iter().rev().map(|r| r.id.clone()).collect();
            assert_eq!(mapped, stored, "{parts} parts");
        }
        assert!(
            store
                .map_many(&[], 2, |report| report.id)
                .unwrap()
                .is_empty()
        );
    }
}
