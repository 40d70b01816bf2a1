//! Retracted reports: a tombstone per report its partner retracted (`DELETE /v1/reports/{id}`), so that no copy of
//! it comes back. Retracting removes the stored report (and its partner and reception index entries) and writes the
//! tombstone in one transaction; [`ReportStore::put`] refuses a report with a tombstone (a record replayed after the
//! retraction, or an amendment racing it), which is then evaluated as released to no one.

use accord_domain::{NormalizedReport, ReportId, Retraction};
use redb::TableDefinition;

use super::{
    BY_PARTNER, REPORTS, ReportStore, StoreError, failed, partner_key,
    received::{BY_RECEIVED, received_key},
};

/// Report id → the [`Retraction`] (JSON).
pub(super) const RETRACTED: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("reports_retracted");

impl ReportStore {
    /// Writes the tombstone of a retracted report and removes its stored copy; returns the copy removed (`None` when
    /// none was stored: the report was rejected, already retracted, or not here yet).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn retract(&self, retraction: &Retraction) -> Result<Option<NormalizedReport>, StoreError> {
        let tombstone = serde_json::to_vec(retraction).map_err(|error| StoreError {
            context: "failed to encode a retraction",
            source: Box::new(error),
        })?;
        let id = retraction.report_id.as_str();
        let txn = self.begin_durable_write()?;
        let removed = {
            let mut retracted = txn
                .open_table(RETRACTED)
                .map_err(failed("failed to open tombstones"))?;
            retracted
                .insert(id, tombstone.as_slice())
                .map_err(failed("failed to write a tombstone"))?;
            let mut table = txn
                .open_table(REPORTS)
                .map_err(failed("failed to open reports"))?;
            let removed = table
                .remove(id)
                .map_err(failed("failed to remove report"))?
                .and_then(|value| {
                    accord_runtime::packed::from_slice::<NormalizedReport>(value.value()).ok()
                });
            super::Placements::open(&txn)?.unplace(id)?;
            if let Some(report) = &removed {
                txn.open_table(BY_PARTNER)
                    .map_err(failed("failed to open partner index"))?
                    .remove(partner_key(&report.partner, &report.id).as_str())
                    .map_err(failed("failed to remove from partner index"))?;
                txn.open_table(BY_RECEIVED)
                    .map_err(failed("failed to open reception index"))?
                    .remove(received_key(report).as_str())
                    .map_err(failed("failed to remove from reception index"))?;
            }
            removed
        };
        txn.commit()
            .map_err(failed("failed to commit a retraction"))?;
        Ok(removed)
    }

    /// Returns whether `id` was retracted.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn is_retracted(&self, id: &ReportId) -> Result<bool, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(failed("failed to begin read"))?;
        let table = txn
            .open_table(RETRACTED)
            .map_err(failed("failed to open tombstones"))?;
        Ok(table
            .get(id.as_str())
            .map_err(failed("failed to read a tombstone"))?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use accord_domain::{OrgId, RetractionReason};

    use super::*;

    #[test]
    fn a_retracted_report_is_removed_and_never_stored_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(dir.path()).unwrap();
        let report = crate::store::tests::report("bank-a");
        assert!(store.put(&mut [report.clone()]).unwrap().is_empty());
        let retraction = Retraction {
            report_id: report.id.clone(),
            partner: OrgId::parse("bank-a").unwrap(),
            reason: RetractionReason::SentInError,
            detail: None,
            by: "tok".into(),
            at: chrono::Utc::now(),
        };
        assert!(!store.is_retracted(&report.id).unwrap());
        assert_eq!(store.retract(&retraction).unwrap(), Some(report.clone()));
        assert!(store.is_retracted(&report.id).unwrap());
        assert_eq!(store.get(&report.id).unwrap(), None);
        assert!(store.by_partner(&report.partner).unwrap().is_empty());
        assert_eq!(store.oldest_received(&report.partner).unwrap(), None);
        // A replay of the report, and of the retraction, change nothing.
        assert_eq!(
            store.put(&mut [report.clone()]).unwrap(),
            vec![report.id.clone()]
        );
        assert_eq!(store.get(&report.id).unwrap(), None);
        assert_eq!(store.retract(&retraction).unwrap(), None);
    }
}
