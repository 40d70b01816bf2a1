//! Retracted indicator values (`POST /v1/indicators/retract`): per partner, each value retracted and when the
//! latest retraction of it was accepted, so that a report of the partner shared before that moment never carries it,
//! whenever and wherever the report reaches the store (decision 0083).
//!
//! A retraction is about what was shared, not a block list: a report the partner sent *after* it (its `received_at`,
//! or its amendment's `revision.at`) keeps the value. What was sent before is stripped both ways round:
//!
//! - [`ReportStore::retract_values`] records the values, then strips the stored reports sent before the retraction
//!   (`carrying`, then `put`; the `strip` module says what stripping removes);
//! - [`ReportStore::put`] strips, inside its write transaction, every report sent before a recorded retraction of one
//!   of its values: a report still in the pipeline when the retraction was applied (on another partition, behind a
//!   lagging normalizer, replayed), or held by another enforcer replica's partition.
//!
//! The caller orders the two for one partner (the enforcer's partner locks): a report is put either before the
//! retraction's scan, which then finds it, or after its values were recorded, which `put` then applies.
//!
//! Keys are `<partner>\x1f<type>\x1f<value>` (a partner id and a type never hold the separator), values the
//! retraction's time in microseconds. The table grows with what partners retract (at most
//! `accord_domain::control::MAX_RETRACTED_VALUES` per request) and is never trimmed: a report replayed from the bus
//! years later is still stripped.

use std::collections::{HashMap, HashSet};

use accord_domain::{IndicatorRetraction, NormalizedReport, ObservableType, OrgId, Timestamp};
use redb::{ReadableTable, Table, TableDefinition};
use serde::Deserialize;

use super::{BY_PARTNER, ReportStore, SEPARATOR, StoreError, failed};

/// `<partner>\x1f<type>\x1f<value>` → the latest retraction of the value, in microseconds since the epoch.
pub(super) const RETRACTED_VALUES: TableDefinition<'_, &str, i64> =
    TableDefinition::new("retracted_values");

/// A set of indicator values.
pub(crate) type Values = HashSet<(ObservableType, String)>;

/// The fields of a stored report a retraction's scan decodes: its indicators and when it was sent.
#[derive(Deserialize)]
struct Scanned {
    indicators: Vec<Typed>,
    #[serde(default)]
    indicator_spans: Option<Vec<Typed>>,
    received_at: Timestamp,
    #[serde(default)]
    revision: Option<Sent>,
}

#[derive(Deserialize)]
struct Sent {
    at: Timestamp,
}

#[derive(Deserialize, PartialEq, Eq, Hash)]
struct Typed {
    #[serde(rename = "type")]
    kind: ObservableType,
    value: String,
}

/// When the partner sent this version of `report`: its amendment's time, or its reception.
pub(crate) fn sent_at(report: &NormalizedReport) -> Timestamp {
    report
        .revision
        .as_ref()
        .map_or(report.received_at, |revision| revision.at)
}

fn value_key(partner: &OrgId, kind: ObservableType, value: &str) -> String {
    format!("{partner}{SEPARATOR}{kind}{SEPARATOR}{value}")
}

/// The values of `report` (indicators and located spans) retracted after it was sent, read from `table`;
/// `partners` remembers which partners have none at all, so a report of such a partner costs one range probe per
/// call.
pub(super) fn retracted_in(
    table: &Table<'_, &str, i64>,
    partners: &mut HashMap<OrgId, bool>,
    report: &NormalizedReport,
) -> Result<Values, StoreError> {
    let any = match partners.get(&report.partner) {
        Some(any) => *any,
        None => {
            let (start, end) = super::partner_range(&report.partner);
            let any = table
                .range(start.as_str()..end.as_str())
                .map_err(failed("failed to read retracted values"))?
                .next()
                .is_some();
            partners.insert(report.partner.clone(), any);
            any
        }
    };
    let mut found = Values::new();
    if !any {
        return Ok(found);
    }
    let sent = sent_at(report).timestamp_micros();
    let spans = report.indicator_spans.iter().flatten();
    let typed = report
        .indicators
        .iter()
        .map(|indicator| (indicator.kind, &indicator.value))
        .chain(spans.map(|span| (span.kind, &span.value)));
    for (kind, value) in typed {
        let key = value_key(&report.partner, kind, value);
        let retracted = table
            .get(key.as_str())
            .map_err(failed("failed to read retracted values"))?;
        if retracted.is_some_and(|at| at.value() >= sent) {
            found.insert((kind, value.clone()));
        }
    }
    Ok(found)
}

impl ReportStore {
    /// Applies an indicator retraction: records its values (durably, before anything else), then removes them from
    /// every stored report of the partner sent before it (`strip`) and stores those; returns the reports changed.
    /// Applying it again changes nothing.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn retract_values(
        &self,
        retraction: &IndicatorRetraction,
    ) -> Result<Vec<NormalizedReport>, StoreError> {
        let values: Values = retraction
            .values
            .iter()
            .map(|value| (value.kind, value.value.clone()))
            .collect();
        self.record_values(retraction)?;
        let mut changed = self.carrying(&retraction.partner, &values, retraction.at)?;
        changed.retain_mut(|report| super::strip::strip(report, &values));
        self.put(&mut changed)?;
        Ok(changed)
    }

    fn record_values(&self, retraction: &IndicatorRetraction) -> Result<(), StoreError> {
        let at = retraction.at.timestamp_micros();
        let txn = self.begin_durable_write()?;
        {
            let mut table = txn
                .open_table(RETRACTED_VALUES)
                .map_err(failed("failed to open retracted values"))?;
            for value in &retraction.values {
                let key = value_key(&retraction.partner, value.kind, &value.value);
                let earlier = table
                    .get(key.as_str())
                    .map_err(failed("failed to read retracted values"))?
                    .map(|earlier| earlier.value());
                if earlier.is_none_or(|earlier| earlier < at) {
                    table
                        .insert(key.as_str(), at)
                        .map_err(failed("failed to record a retracted value"))?;
                }
            }
        }
        txn.commit()
            .map_err(failed("failed to commit retracted values"))
    }

    /// Returns the stored reports of `partner` sent at or before `before` that carry one of `values` as an
    /// indicator or in a located span: every report of the partner is read, but only the fields the test needs are
    /// decoded, and only the reports that match in full.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn carrying(
        &self,
        partner: &OrgId,
        values: &Values,
        before: Timestamp,
    ) -> Result<Vec<NormalizedReport>, StoreError> {
        let (start, end) = super::partner_range(partner);
        let hit = |typed: &Typed| values.contains(&(typed.kind, typed.value.clone()));
        self.indexed(BY_PARTNER, &start, &end, |bytes| {
            accord_runtime::packed::from_slice::<Scanned>(bytes).is_ok_and(|found| {
                let sent = found.revision.map_or(found.received_at, |sent| sent.at);
                sent <= before
                    && (found.indicator_spans.iter().flatten().any(hit)
                        || found.indicators.iter().any(hit))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use accord_domain::{Indicator, IndicatorSource, RetractedValue, RetractionReason};

    use super::*;

    fn report_with(value: &str, received_at: Timestamp) -> NormalizedReport {
        let mut report = crate::store::tests::report("bank-a");
        report.received_at = received_at;
        let indicator = |value: &str| Indicator {
            id: format!("domain-name--{value}"),
            kind: ObservableType::DomainName,
            value: value.into(),
            source: IndicatorSource::Declared,
        };
        report.indicators = vec![indicator(value), indicator("kept.example")];
        report
    }

    fn retraction(value: &str, at: Timestamp) -> IndicatorRetraction {
        IndicatorRetraction {
            id: "retraction--1".into(),
            partner: OrgId::parse("bank-a").unwrap(),
            values: vec![RetractedValue {
                kind: ObservableType::DomainName,
                value: value.into(),
            }],
            reason: RetractionReason::FalsePositive,
            by: "tok".into(),
            at,
        }
    }

    fn values(report: &NormalizedReport) -> Vec<&str> {
        report.indicators.iter().map(|i| i.value.as_str()).collect()
    }

    #[test]
    fn a_report_sent_before_a_retraction_loses_the_value_whenever_it_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(dir.path()).unwrap();
        let now = chrono::Utc::now();
        let hour = chrono::Duration::hours(1);
        let stored_before = report_with("gone.example", now - hour * 2);
        let stored_after = report_with("gone.example", now + hour);
        store
            .put(&mut [stored_before.clone(), stored_after.clone()])
            .unwrap();

        let changed = store
            .retract_values(&retraction("gone.example", now))
            .unwrap();
        assert_eq!(changed.len(), 1, "only the report sent before");
        assert_eq!(changed[0].id, stored_before.id);
        assert_eq!(
            values(&store.get(&stored_before.id).unwrap().unwrap()),
            ["kept.example"]
        );
        assert_eq!(
            values(&store.get(&stored_after.id).unwrap().unwrap()),
            ["gone.example", "kept.example"],
            "a report sent after a retraction keeps the value"
        );

        // Arriving after the retraction was applied: stripped when sent before it, kept when sent after.
        let mut late = [
            report_with("gone.example", now - hour),
            report_with("gone.example", now + hour),
        ];
        store.put(&mut late).unwrap();
        assert_eq!(values(&late[0]), ["kept.example"], "what put returns");
        assert_eq!(values(&late[1]), ["gone.example", "kept.example"]);
        assert_eq!(
            values(&store.get(&late[0].id).unwrap().unwrap()),
            ["kept.example"],
            "what put stores"
        );

        // An amendment sent after the retraction keeps the value; another partner's report is untouched.
        let mut amended = report_with("gone.example", now - hour);
        amended.revision = Some(accord_domain::Revision {
            version: 2,
            by: "tok".into(),
            at: now + hour,
        });
        let mut other = report_with("gone.example", now - hour);
        other.partner = OrgId::parse("bank-b").unwrap();
        store.put(&mut [amended.clone(), other.clone()]).unwrap();
        assert_eq!(
            values(&store.get(&amended.id).unwrap().unwrap()),
            ["gone.example", "kept.example"]
        );
        assert_eq!(
            values(&store.get(&other.id).unwrap().unwrap()),
            ["gone.example", "kept.example"]
        );

        // Applied again (a replay, another replica's follower): nothing changes.
        let again = store
            .retract_values(&retraction("gone.example", now))
            .unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn an_earlier_retraction_replayed_later_keeps_the_latest_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(dir.path()).unwrap();
        let now = chrono::Utc::now();
        let hour = chrono::Duration::hours(1);
        store
            .retract_values(&retraction("gone.example", now))
            .unwrap();
        store
            .retract_values(&retraction("gone.example", now - hour * 5))
            .unwrap();
        let mut late = [report_with("gone.example", now - hour)];
        store.put(&mut late).unwrap();
        assert_eq!(values(&late[0]), ["kept.example"]);
    }
}
