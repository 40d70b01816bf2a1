//! One lock per partner, ordering the two writers of a partner's stored reports that run side by side: the stage's
//! lane that stores, evaluates and publishes the partner's new reports, and the follower that applies the partner's
//! indicator retractions (`control::follow`). Each holds the partner's lock from storing to publishing, so a report's
//! release sets reach the index in the order its stored versions were written: a retraction's stripped version is
//! never overtaken by the unstripped one a lane stored just before.
//!
//! Other partners are never held (a retraction of 10 000 values over a million stored indicators takes seconds). Locks
//! are taken in partner order, always before the evaluation lock, so two holders never wait on each other. The map
//! keeps one entry per partner that ever wrote (a few hundred in a partnership).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use accord_domain::OrgId;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The partners' locks; see the module documentation.
#[derive(Default, Clone)]
pub(crate) struct PartnerLocks {
    locks: Arc<Mutex<HashMap<OrgId, Arc<AsyncMutex<()>>>>>,
}

/// The locks held, released on drop.
pub(crate) struct Held {
    _guards: Vec<OwnedMutexGuard<()>>,
}

impl PartnerLocks {
    /// Waits for the locks of `partners` (deduplicated and taken in order).
    pub(crate) async fn lock<'a>(&self, partners: impl IntoIterator<Item = &'a OrgId>) -> Held {
        let partners: BTreeSet<&OrgId> = partners.into_iter().collect();
        let locks: Vec<Arc<AsyncMutex<()>>> = {
            let mut map = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            partners
                .into_iter()
                .map(|partner| map.entry(partner.clone()).or_default().clone())
                .collect()
        };
        let mut held = Vec::with_capacity(locks.len());
        for lock in locks {
            held.push(lock.lock_owned().await);
        }
        Held { _guards: held }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_partner_waits_for_its_own_lock_only() {
        let locks = PartnerLocks::default();
        let (a, b) = (
            OrgId::parse("bank-a").unwrap(),
            OrgId::parse("bank-b").unwrap(),
        );
        let held = locks.lock([&a, &a]).await;
        // Another partner is not held.
        let other = tokio::time::timeout(std::time::Duration::from_secs(5), locks.lock([&b])).await;
        assert!(other.is_ok());
        // The same partner waits until the holder lets go.
        let same = locks.clone();
        let a2 = a.clone();
        let waiting = tokio::spawn(async move { same.lock([&a2]).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(held);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("the lock is free once dropped")
            .unwrap();
    }
}
