//! Reading many stored reports fast, for the MoU preview: the stored bytes of every report of some partners, read
//! in parallel parts within one read transaction (one snapshot of the store) and handed over undecoded, so that the
//! caller decodes them in parallel too ([`Encoded::decode`]).

use std::collections::BTreeSet;

use accord_domain::{NormalizedReport, OrgId};
use redb::ReadableDatabase;

use super::{
    BY_PARTNER, REPORTS, ReportStore, SEPARATOR, StoreError, decode, failed, partner_range,
};

/// A stored report as the store holds it, not yet decoded ([`ReportStore::encoded_by_partners`]).
pub struct Encoded(Vec<u8>);

impl Encoded {
    /// Decodes the report; `None` when the stored bytes are not a report (which every reader skips).
    pub fn decode(&self) -> Option<NormalizedReport> {
        decode(&self.0)
    }
}

impl ReportStore {
    /// Returns every stored report of `partners`, in the order of [`ReportStore::by_partner`] partner after partner,
    /// undecoded and split into at most `parts` parts of consecutive reports, each part read on its own thread from
    /// one snapshot of the store.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn encoded_by_partners(
        &self,
        partners: &BTreeSet<OrgId>,
        parts: usize,
    ) -> Result<Vec<Vec<Encoded>>, StoreError> {
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
        let table = &table;
        std::thread::scope(|scope| {
            let readers: Vec<_> = ids
                .chunks(size)
                .map(|part| {
                    scope.spawn(move || {
                        let mut reports = Vec::with_capacity(part.len());
                        for id in part {
                            let value = table
                                .get(id.as_str())
                                .map_err(failed("failed to read report"))?;
                            if let Some(value) = value {
                                reports.push(Encoded(value.value().to_vec()));
                            }
                        }
                        Ok(reports)
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
