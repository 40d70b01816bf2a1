//! The store's index by partner and reception time, for retention: which reports of a partner were received
//! before a cutoff, and when the oldest one was received. Keys are `<partner>\x1f<micros, 20 digits>\x1f<id>`, so a
//! range scan per partner yields reports oldest first.

use accord_domain::{NormalizedReport, OrgId, ReportId, Timestamp};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::{BY_PARTNER, REPORTS, ReportStore, SEPARATOR, StoreError, failed, partner_key};

pub(super) const BY_RECEIVED: TableDefinition<'_, &str, ()> =
    TableDefinition::new("reports_by_received");

/// Returns the key of a report in [`BY_RECEIVED`].
pub(super) fn received_key(report: &NormalizedReport) -> String {
    received_key_of(&report.partner, report.received_at, &report.id)
}

fn received_key_of(partner: &OrgId, received_at: Timestamp, id: &ReportId) -> String {
    let micros = received_at.timestamp_micros().max(0);
    format!("{partner}{SEPARATOR}{micros:020}{SEPARATOR}{id}")
}

/// Fills [`BY_RECEIVED`] from the reports of a store written before the table existed.
pub(super) fn backfill(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut received = txn
        .open_table(BY_RECEIVED)
        .map_err(failed("failed to open reception index"))?;
    if !received
        .is_empty()
        .map_err(failed("failed to read reception index"))?
    {
        return Ok(());
    }
    let reports = txn
        .open_table(REPORTS)
        .map_err(failed("failed to open reports"))?;
    for entry in reports.iter().map_err(failed("failed to scan reports"))? {
        let (_, value) = entry.map_err(failed("failed to read report"))?;
        if let Ok(report) = accord_runtime::packed::from_slice::<NormalizedReport>(value.value()) {
            received
                .insert(received_key(&report).as_str(), ())
                .map_err(failed("failed to write reception index"))?;
        }
    }
    Ok(())
}

impl ReportStore {
    /// Returns the reports of `partner` received before `cutoff`, oldest first.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn received_before(
        &self,
        partner: &OrgId,
        cutoff: Timestamp,
    ) -> Result<Vec<NormalizedReport>, StoreError> {
        let start = format!("{partner}{SEPARATOR}");
        let end = format!(
            "{partner}{SEPARATOR}{:020}",
            cutoff.timestamp_micros().max(0)
        );
        self.indexed(BY_RECEIVED, &start, &end, |_| true)
    }

    /// Returns when the oldest stored report of `partner` was received.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn oldest_received(&self, partner: &OrgId) -> Result<Option<Timestamp>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(failed("failed to begin read"))?;
        let index = txn
            .open_table(BY_RECEIVED)
            .map_err(failed("failed to open reception index"))?;
        let start = format!("{partner}{SEPARATOR}");
        let end = format!(
            "{partner}{}",
            char::from_u32(u32::from(SEPARATOR) + 1).unwrap_or(SEPARATOR)
        );
        let mut range = index
            .range(start.as_str()..end.as_str())
            .map_err(failed("failed to scan reception index"))?;
        let Some(entry) = range.next() else {
            return Ok(None);
        };
        let (key, _) = entry.map_err(failed("failed to read reception index"))?;
        let micros = key
            .value()
            .split(SEPARATOR)
            .nth(1)
            .and_then(|micros| micros.parse::<i64>().ok());
        Ok(micros.and_then(chrono::DateTime::from_timestamp_micros))
    }

    /// Removes reports for good: the report, and its entries in the partner and reception indexes.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn remove(&self, reports: &[NormalizedReport]) -> Result<(), StoreError> {
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
            let mut placements = super::Placements::open(&txn)?;
            for report in reports {
                placements.unplace(report.id.as_str())?;
                table
                    .remove(report.id.as_str())
                    .map_err(failed("failed to remove report"))?;
                by_partner
                    .remove(partner_key(&report.partner, &report.id).as_str())
                    .map_err(failed("failed to remove from partner index"))?;
                by_received
                    .remove(received_key(report).as_str())
                    .map_err(failed("failed to remove from reception index"))?;
            }
        }
        txn.commit().map_err(failed("failed to commit removal"))?;
        Ok(())
    }
}
