//! A retracted report stays retracted on the bus (decision 0077).
//!
//! `reports.raw` is compacted by report id: its last record of a report is the report's state, and a store refilled
//! from it learns only that. One gateway never publishes an amendment after a retraction (its handlers hold one lock
//! and check the status first), but two gateways can: one accepts an amendment while the retraction another accepted
//! has not reached its status yet. Every consumer ignores such an amendment (the enforcer keeps its tombstone, the
//! status its retraction), but once compaction has removed the retraction, the amendment would be all that is left of
//! the report, and a store refilled from the bus would release it.
//!
//! So the status follower of `reports.raw`, when it reads an amendment of a report already retracted (earlier in the
//! log: in its store, or earlier in the same batch), publishes the retraction again: the last record of the report is
//! a retraction again, long before the broker may compact (`min.compaction.lag.ms`; the embedded log's cleaner waits
//! for every consumer group). Every gateway's follower does it, and a replay of an amendment that came before its
//! retraction does it too: the controls repeat an existing retraction, which every consumer applies once.

use std::collections::HashMap;

use accord_domain::{OrgId, ReportId, control::Retraction};

use super::{Change, StatusError, StatusStore, owned::RetractionView};

/// Returns the retractions to publish again for `changes` (read from `reports.raw`, in log order): one per report
/// amended after its retraction.
///
/// # Errors
/// When the store cannot be read.
pub(crate) fn reassertions(
    store: &StatusStore,
    changes: &[Change],
) -> Result<Vec<Retraction>, StatusError> {
    let mut retracted: HashMap<&str, (&str, &RetractionView)> = HashMap::new();
    let mut again: HashMap<String, Retraction> = HashMap::new();
    for change in changes {
        match change {
            Change::Retracted {
                id,
                partner,
                retraction,
            } => {
                retracted.insert(id, (partner, retraction));
            }
            Change::Amended(amendment) if !again.contains_key(&amendment.id) => {
                let earlier = match retracted.get(amendment.id.as_str()) {
                    Some((partner, view)) => retraction(&amendment.id, partner, view),
                    None => store.get(&amendment.id)?.and_then(|status| {
                        let view = status.retraction.as_ref()?;
                        retraction(&amendment.id, &status.partner, view)
                    }),
                };
                if let Some(earlier) = earlier {
                    again.insert(amendment.id.clone(), earlier);
                }
            }
            _ => {}
        }
    }
    Ok(again.into_values().collect())
}

/// Rebuilds the retraction control a status records (`None` when a field does not read back: nothing to repeat).
fn retraction(id: &str, partner: &str, view: &RetractionView) -> Option<Retraction> {
    Some(Retraction {
        report_id: ReportId::parse(id).ok()?,
        partner: OrgId::parse(partner).ok()?,
        reason: serde_json::from_value(serde_json::Value::String(view.reason.clone())).ok()?,
        detail: view.detail.clone(),
        by: view.by.clone(),
        at: chrono::DateTime::parse_from_rfc3339(&view.at)
            .ok()?
            .with_timezone(&chrono::Utc),
    })
}

#[cfg(test)]
mod tests {
    use accord_domain::Revision;

    use super::*;
    use crate::status::owned::Amendment;

    const ID: &str = "report--00000000-0000-4000-8000-000000000001";

    fn retracted() -> Change {
        Change::Retracted {
            id: ID.into(),
            partner: "bank-a".into(),
            retraction: RetractionView {
                reason: "personal-data".into(),
                detail: Some("a victim's phone".into()),
                by: "tok-1".into(),
                at: "2026-12-07T09:00:00Z".into(),
            },
        }
    }

    fn amended() -> Change {
        Change::Amended(Amendment {
            id: ID.into(),
            partner: "bank-a".into(),
            title: "again".into(),
            body_sha256: String::new(),
            revision: Revision {
                version: 2,
                by: "tok-2".into(),
                at: chrono::Utc::now(),
            },
            warnings: Vec::new(),
            received_at: String::new(),
            objects: Vec::new(),
        })
    }

    #[test]
    fn an_amendment_after_its_retraction_brings_the_retraction_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = StatusStore::open(dir.path()).unwrap();
        // Within one batch: the retraction, then an amendment (twice): one retraction to publish again.
        let again = reassertions(&store, &[retracted(), amended(), amended()]).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].report_id.as_str(), ID);
        assert_eq!(again[0].reason.as_str(), "personal-data");
        assert_eq!(again[0].by, "tok-1");
        // An amendment before the retraction changes nothing; one after, in a later batch, is found in the store.
        assert!(
            reassertions(&store, &[amended(), retracted()])
                .unwrap()
                .is_empty()
        );
        store.apply(vec![retracted()], true).unwrap();
        assert_eq!(reassertions(&store, &[amended()]).unwrap().len(), 1);
        // A report that was not retracted is left alone.
        let other = tempfile::tempdir().unwrap();
        let store = StatusStore::open(other.path()).unwrap();
        assert!(reassertions(&store, &[amended()]).unwrap().is_empty());
    }
}
