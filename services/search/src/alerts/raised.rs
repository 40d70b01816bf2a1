//! Raising and reading alerts: what a release changes in the matches of a report, the alerts that records, an
//! agency's alerts in order, and the retention of alerts (tables in [`super::store`]).

use std::collections::BTreeMap;

use accord_domain::{OrgId, ReportId, Timestamp, View};
use redb::ReadableTable;

use super::store::{
    ACTIVE, ALERTS, Alert, AlertKind, AlertStore, META, Match, ORDER, SEP, SEP_END,
};

impl Alert {
    fn new(
        seq: u64,
        kind: AlertKind,
        found: Match,
        report: &ReportId,
        view: Option<View>,
        at: Timestamp,
    ) -> Self {
        let (list, entry, value) = found;
        Self {
            seq,
            kind,
            watchlist: list.to_string(),
            entry: entry.to_string(),
            value,
            report: report.clone(),
            view,
            at,
        }
    }
}

/// What one release of a report changes: the matches it gains (with their views) and those it loses (with their
/// keys in `active`).
struct Change {
    report: ReportId,
    gained: BTreeMap<Match, View>,
    lost: Vec<(Match, String)>,
}

impl AlertStore {
    /// Records what the latest release of each report matches: a `match` alert for each new match, a `withdrawn`
    /// alert for each earlier match it no longer holds (of a watchlist that still exists). `releases` gives each
    /// report's matches and, for each, the view (cut down) that releases it. Returns how many alerts were written;
    /// a batch that changes nothing writes nothing.
    ///
    /// # Errors
    /// Fails on a storage error (nothing is written then).
    pub(crate) fn record(
        &self,
        releases: Vec<(ReportId, BTreeMap<Match, View>)>,
        at: Timestamp,
    ) -> anyhow::Result<usize> {
        let changes = self.changes(releases)?;
        if changes.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin_write()?;
        let (written, last) = {
            let mut active = txn.open_table(ACTIVE)?;
            let mut tables = (txn.open_table(ALERTS)?, txn.open_table(ORDER)?);
            let mut meta = txn.open_table(META)?;
            let first = meta.get("seq")?.map_or(0, |seq| seq.value());
            let mut seq = first;
            let memory = self.memory();
            for change in changes {
                for (found, key) in change.lost {
                    active.remove(key.as_str())?;
                    if let Some(list) = memory.lists.get(&found.0) {
                        seq += 1;
                        let alert =
                            Alert::new(seq, AlertKind::Withdrawn, found, &change.report, None, at);
                        put_alert((&mut tables.0, &mut tables.1), &list.agency, &alert)?;
                    }
                }
                for (found, view) in change.gained {
                    if let Some(list) = memory.lists.get(&found.0) {
                        seq += 1;
                        let key = active_key(&change.report, &found.0, &found.1, &found.2);
                        active.insert(key.as_str(), seq)?;
                        let alert = Alert::new(
                            seq,
                            AlertKind::Match,
                            found,
                            &change.report,
                            Some(view),
                            at,
                        );
                        put_alert((&mut tables.0, &mut tables.1), &list.agency, &alert)?;
                    }
                }
            }
            meta.insert("seq", seq)?;
            (seq - first, seq)
        };
        txn.commit()?;
        if written > 0 {
            self.last.send_replace(last);
        }
        Ok(usize::try_from(written).unwrap_or(usize::MAX))
    }

    /// Compares each report's matches with those its previous release held (read only: the matcher is the only
    /// writer of `active`).
    fn changes(
        &self,
        releases: Vec<(ReportId, BTreeMap<Match, View>)>,
    ) -> anyhow::Result<Vec<Change>> {
        let txn = self.db.begin_read()?;
        let active = txn.open_table(ACTIVE)?;
        let mut changes = Vec::new();
        for (report, mut gained) in releases {
            let mut lost = Vec::new();
            for (found, key) in held_matches(&active, &report)? {
                if gained.remove(&found).is_none() {
                    lost.push((found, key));
                }
            }
            if !gained.is_empty() || !lost.is_empty() {
                changes.push(Change {
                    report,
                    gained,
                    lost,
                });
            }
        }
        Ok(changes)
    }

    /// Returns up to `limit` alerts of `agency` after sequence number `after`, oldest first.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub(crate) fn page(
        &self,
        agency: &OrgId,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<Alert>> {
        let start = format!("{agency}{SEP}{:020}", after.saturating_add(1));
        let end = format!("{agency}{SEP_END}");
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ALERTS)?;
        let mut page = Vec::new();
        for item in table.range(start.as_str()..end.as_str())?.take(limit) {
            let (_, value) = item?;
            page.push(serde_json::from_slice(value.value())?);
        }
        Ok(page)
    }

    /// Deletes the alerts raised before `before` (the retention of alerts), oldest first, at most `limit` of them in
    /// one transaction; returns how many.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub(crate) fn prune(&self, before: Timestamp, limit: usize) -> anyhow::Result<usize> {
        let txn = self.db.begin_write()?;
        let pruned = {
            let mut order = txn.open_table(ORDER)?;
            let mut alerts = txn.open_table(ALERTS)?;
            let mut old = Vec::new();
            for item in order.iter()?.take(limit) {
                let (seq, key) = item?;
                let key = key.value().to_owned();
                let at = alerts
                    .get(key.as_str())?
                    .and_then(|value| serde_json::from_slice::<Alert>(value.value()).ok())
                    .map(|alert| alert.at);
                if at.is_some_and(|at| at >= before) {
                    break;
                }
                old.push((seq.value(), key));
            }
            for (seq, key) in &old {
                order.remove(seq)?;
                alerts.remove(key.as_str())?;
            }
            old.len()
        };
        txn.commit()?;
        Ok(pruned)
    }
}

fn active_key(report: &ReportId, list: &str, entry: &str, value: &str) -> String {
    format!("{report}{SEP}{list}{SEP}{entry}{SEP}{value}")
}

/// The matches a report's last release held, with their keys.
fn held_matches(
    active: &impl ReadableTable<&'static str, u64>,
    report: &ReportId,
) -> anyhow::Result<BTreeMap<Match, String>> {
    let (start, end) = (format!("{report}{SEP}"), format!("{report}{SEP_END}"));
    let mut held = BTreeMap::new();
    for item in active.range(start.as_str()..end.as_str())? {
        let (key, _) = item?;
        let key = key.value().to_owned();
        let mut parts = key.splitn(4, SEP).skip(1);
        if let (Some(list), Some(entry), Some(value)) = (parts.next(), parts.next(), parts.next()) {
            held.insert((list.into(), entry.into(), value.to_owned()), key.clone());
        }
    }
    Ok(held)
}

fn put_alert(
    (alerts, order): (
        &mut redb::Table<'_, &str, &[u8]>,
        &mut redb::Table<'_, u64, &str>,
    ),
    agency: &OrgId,
    alert: &Alert,
) -> anyhow::Result<()> {
    let key = format!("{agency}{SEP}{:020}", alert.seq);
    alerts.insert(key.as_str(), serde_json::to_vec(alert)?.as_slice())?;
    order.insert(alert.seq, key.as_str())?;
    Ok(())
}
