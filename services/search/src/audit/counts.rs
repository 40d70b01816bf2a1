//! Per-organization daily counts of the trail, for the auditors' per-agency summary (`GET /v1/audit/summary`):
//! requests per purpose and per case, refused ones and exports, per UTC day — without walking the trail.
//!
//! Table `audit_counts` holds one counter per `(organization, day, kind)`, where `day` is the UTC day of the record
//! (days since 1970-01-01) and `kind` is `all`, `refused` (a 4xx answer but 404, which answers "nothing
//! visible"), `export` (an export route), `p:<purpose>`
//! or `c:<case>`; the writer adds each record to its counters in the same transaction as the record (decision 0043,
//! as the status store's daily counts of decision 0035). An organization's summary of `days` days is one range scan
//! of its counters of those days, however long the trail. A trail written before this table existed gets it built
//! once, when opened (the key `("", 0, "")` marks it built: organization ids are never empty). Records without an
//! organization are not counted.

use std::collections::BTreeMap;

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;

use super::{AuditError, AuditLog, AuditRecord, RECORDS, store_error};

pub(crate) const COUNTS: TableDefinition<'_, (&str, u32, &str), u64> =
    TableDefinition::new("audit_counts");

/// The key that says the table covers every record.
const BUILT: (&str, u32, &str) = ("", 0, "");

/// Returns the UTC day of a time (days since 1970-01-01; 0 before it).
pub fn day_of(at: &accord_domain::Timestamp) -> u32 {
    u32::try_from(at.timestamp().div_euclid(86_400)).unwrap_or(0)
}

/// The counters one record adds to.
fn kinds(record: &AuditRecord) -> Vec<String> {
    let entry = &record.entry;
    let mut kinds = vec!["all".to_owned()];
    if entry.status / 100 == 4 && entry.status != 404 {
        kinds.push("refused".to_owned());
    }
    if entry.endpoint.ends_with("/export") {
        kinds.push("export".to_owned());
    }
    if let Some(purpose) = &entry.purpose {
        kinds.push(format!("p:{purpose}"));
    }
    if let Some(case) = &entry.case {
        kinds.push(format!("c:{}", case.as_str()));
    }
    kinds
}

/// Adds `records` to their counters in the writer's transaction.
pub(super) fn count(txn: &WriteTransaction, records: &[AuditRecord]) -> Result<(), redb::Error> {
    let mut table = txn.open_table(COUNTS)?;
    for record in records {
        let Some(org) = record
            .entry
            .organization
            .as_deref()
            .filter(|org| !org.is_empty())
        else {
            continue;
        };
        let day = day_of(&record.entry.at);
        for kind in kinds(record) {
            let key = (org, day, kind.as_str());
            let current = table.get(key)?.map_or(0, |value| value.value());
            table.insert(key, current + 1)?;
        }
    }
    Ok(())
}

/// Creates the table; on a trail written before it existed, counts every record once.
pub(super) fn ensure(txn: &WriteTransaction) -> Result<(), redb::Error> {
    {
        let table = txn.open_table(COUNTS)?;
        if table.get(BUILT)?.is_some() {
            return Ok(());
        }
    }
    let records = txn.open_table(RECORDS)?;
    let mut batch = Vec::new();
    for item in records.iter()? {
        let (_, value) = item?;
        if let Ok(record) = serde_json::from_slice::<AuditRecord>(value.value()) {
            batch.push(record);
        }
        if batch.len() >= 4096 {
            count(txn, &std::mem::take(&mut batch))?;
        }
    }
    count(txn, &batch)?;
    txn.open_table(COUNTS)?.insert(BUILT, 1)?;
    Ok(())
}

/// One organization's counts per day: `kind` → day → count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DailyCounts {
    /// By kind (`all`, `refused`, `export`, `p:<purpose>`, `c:<case>`), then by day (days since 1970-01-01).
    pub counts: BTreeMap<String, BTreeMap<u32, u64>>,
}

impl AuditLog {
    /// Returns `organization`'s counters of the days `first..=last`: one range scan of those counters.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn daily_counts(
        &self,
        organization: &str,
        first: u32,
        last: u32,
    ) -> Result<DailyCounts, AuditError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| store_error("failed to begin read")(e.into()))?;
        let table = txn
            .open_table(COUNTS)
            .map_err(|e| store_error("failed to open audit counts")(e.into()))?;
        let range = table
            .range((organization, first, "")..(organization, last.saturating_add(1), ""))
            .map_err(|e| store_error("failed to read audit counts")(e.into()))?;
        let mut counts = DailyCounts::default();
        for item in range {
            let (key, value) =
                item.map_err(|e| store_error("failed to read audit count")(e.into()))?;
            let (_, day, kind) = key.value();
            counts
                .counts
                .entry(kind.to_owned())
                .or_default()
                .insert(day, value.value());
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use accord_domain::Case;

    use super::*;
    use crate::audit::{AuditEntry, checkpoint::CheckpointSigner};

    fn entry(org: &str, endpoint: &str, purpose: &str, case: &str, status: u16) -> AuditEntry {
        AuditEntry {
            at: chrono::Utc::now(),
            token_id: Some(format!("tok-{org}")),
            organization: Some(org.to_owned()),
            endpoint: endpoint.to_owned(),
            purpose: Some(purpose.to_owned()),
            case: Some(Case::parse(case).unwrap()),
            query: serde_json::json!({}),
            status,
            results: 0,
            writer: None,
        }
    }

    #[tokio::test]
    async fn each_record_counts_for_its_organization_day_purpose_case_refusal_and_export() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            AuditLog::open(
                dir.path(),
                CheckpointSigner::from_seed([1; 32]),
                Duration::from_secs(3600),
            )
            .unwrap()
        };
        let log = open();
        for entry in [
            entry("ncu-de", "POST /v1/search", "investigation", "C-1", 200),
            entry("ncu-de", "POST /v1/search", "investigation", "C-1", 403),
            entry(
                "ncu-de",
                "POST /v1/search/export",
                "prosecution",
                "C-2",
                200,
            ),
            entry("ncu-fr", "POST /v1/search", "research", "C-9", 200),
        ] {
            log.append(entry).await.unwrap();
        }
        let today = day_of(&chrono::Utc::now());
        let expected = |counts: &DailyCounts| {
            let get = |kind: &str| {
                counts
                    .counts
                    .get(kind)
                    .and_then(|days| days.get(&today))
                    .copied()
            };
            assert_eq!(get("all"), Some(3));
            assert_eq!(get("refused"), Some(1));
            assert_eq!(get("export"), Some(1));
            assert_eq!(get("p:investigation"), Some(2));
            assert_eq!(get("p:prosecution"), Some(1));
            assert_eq!(get("c:C-1"), Some(2));
            assert_eq!(get("p:research"), None, "another organization's");
        };
        expected(&log.daily_counts("ncu-de", today - 30, today).unwrap());
        assert!(
            log.daily_counts("ncu-de", 0, today - 1)
                .unwrap()
                .counts
                .is_empty()
        );
        // A trail written before the counters existed gets them built once when opened.
        let txn = log.db.begin_write().unwrap();
        txn.delete_table(COUNTS).unwrap();
        txn.commit().unwrap();
        drop(log);
        let log = open();
        expected(&log.daily_counts("ncu-de", today, today).unwrap());
        log.append(entry(
            "ncu-de",
            "POST /v1/search",
            "investigation",
            "C-1",
            200,
        ))
        .await
        .unwrap();
        let counts = log.daily_counts("ncu-de", today, today).unwrap();
        assert_eq!(
            counts.counts["all"][&today], 4,
            "counted once, not rebuilt twice"
        );
    }
}
