//! Reading many stored reports fast, for the MoU preview: every report of some partners, read and decoded in
//! parallel parts within one read transaction (one snapshot of the store), each part folded into a result on its own
//! thread as it is read, so that no copy of the stored bytes and no list of every decoded report is ever kept.

use std::collections::BTreeSet;

use accord_domain::{NormalizedReport, OrgId};

use super::{
    BY_PARTNER, REPORTS, ReportStore, SEPARATOR, StoreError, decode, failed, partner_range,
};

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
        let size = ids.len().div_ceil(parts.max(1)).max(1);
        let (table, init, fold) = (&table, &init, &fold);
        std::thread::scope(|scope| {
            let readers: Vec<_> = ids
                .chunks(size)
                .map(|part| {
                    scope.spawn(move || {
                        let mut folded = init();
                        for id in part {
                            let value = table
                                .get(id.as_str())
                                .map_err(failed("failed to read report"))?;
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
}
