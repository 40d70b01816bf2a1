//! What a process does with each record of the directory topics: apply it, hold it back, or refuse it.
//!
//! Every record is verified with the directory's public keys (the `signing` module) before anything of it is
//! applied:
//! - **signed** by a trusted key: applied, unless an admin record for the same key was already applied with a later
//!   signing time: then it is an old record published again (a replay: a token's record from before its
//!   revocation) and is refused;
//! - **badly signed** (a forged or altered record, a signature of an unknown key): refused;
//! - **unsigned**: accepted only if it was written before signing began. Admin marks that point once per topic: a
//!   signed *cut-over* record (key [`CUT_OVER_KEY`], `{"signing_cut_over": {"unsigned_before": N}}`) published when
//!   it first starts on a bus without one, with `N` the topic's end at that moment. An unsigned record below `N` is
//!   a legacy record of a deployment from before signing and is applied; one at `N` or later is refused. Unsigned
//!   records seen before any cut-over record are held back (at most [`MAX_HELD`] per topic) until it arrives, because
//!   a follower reads from the beginning, where the legacy records precede the marker.
//!
//! A refused record changes nothing in the directory. It is logged at ERROR (topic, offset, key, reason), counted
//! in `accord_directory_rejected_total{topic, reason}` and handed to [`crate::Directory::rejections`] watchers (admin
//! then publishes its current record for that key again, so that compaction keeps the genuine record as the
//! latest). It does not fail `/readyz`: the forged record was stopped, and failing readiness would let anyone who
//! can write to the topic take every service out of rotation (docs/decisions/0030).

use std::{collections::HashMap, sync::Arc};

use accord_bus::{Delivery, Record};
use serde::{Deserialize, Serialize};

use super::signing::{DirectoryKeys, Verdict};
use crate::metrics;

/// The key of the cut-over record.
pub const CUT_OVER_KEY: &str = "signing:cut-over";

/// Unsigned records held back per topic while no cut-over record has been seen; past it they are refused.
pub const MAX_HELD: usize = 100_000;

/// The cut-over record's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutOverRecord {
    /// The point where signing began.
    pub signing_cut_over: CutOver,
}

/// Where signing began on a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutOver {
    /// Unsigned records at offsets below this one were written before signing and are applied.
    pub unsigned_before: u64,
}

/// Why a record was refused: the `reason` label of `accord_directory_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// No signature, written after signing began.
    Unsigned,
    /// A signature that does not verify with a trusted key, or malformed signature headers.
    BadSignature,
    /// Signed, but older than the record already applied for its key.
    Replayed,
    /// Unsigned, and too many unsigned records were already held back waiting for the cut-over record.
    TooManyHeld,
}

impl RejectReason {
    /// Returns the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::BadSignature => "bad_signature",
            Self::Replayed => "replayed",
            Self::TooManyHeld => "too_many_held",
        }
    }
}

/// A refused record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The topic.
    pub topic: &'static str,
    /// Its offset.
    pub offset: u64,
    /// Its key.
    pub key: Option<String>,
    /// Why.
    pub reason: RejectReason,
}

/// The verification state of one followed topic.
#[derive(Debug)]
pub(super) struct Gate {
    topic: &'static str,
    keys: Arc<DirectoryKeys>,
    cut_over: Option<u64>,
    /// Unsigned records seen before the cut-over record, in order.
    held: Vec<Delivery>,
    /// The latest signing time applied per key.
    latest: HashMap<String, u64>,
}

/// What [`Gate::admit`] decided for a batch.
#[derive(Debug, Default)]
pub(super) struct Admitted {
    /// Records to apply, in order.
    pub(super) apply: Vec<Record>,
    /// Records refused.
    pub(super) rejected: Vec<Rejection>,
    /// The cut-over, when this batch brought it.
    pub(super) cut_over: Option<u64>,
    /// The latest signing time of the batch's verified records (0 without any).
    pub(super) latest_signed_at: u64,
}

impl Gate {
    pub(super) fn new(topic: &'static str, keys: Arc<DirectoryKeys>) -> Self {
        Self {
            topic,
            keys,
            cut_over: None,
            held: Vec::new(),
            latest: HashMap::new(),
        }
    }

    /// Decides about each delivery of a batch, in order.
    pub(super) fn admit(&mut self, deliveries: &[Delivery]) -> Admitted {
        let mut admitted = Admitted::default();
        for delivery in deliveries {
            self.admit_one(delivery, &mut admitted);
        }
        admitted
    }

    fn admit_one(&mut self, delivery: &Delivery, admitted: &mut Admitted) {
        let record = &delivery.record;
        match self.keys.verify(self.topic, record) {
            Verdict::BadSignature => self.reject(delivery, RejectReason::BadSignature, admitted),
            Verdict::Unsigned => match self.cut_over {
                Some(before) if delivery.position.offset < before => {
                    admitted.apply.push(record.clone());
                }
                Some(_) => self.reject(delivery, RejectReason::Unsigned, admitted),
                None if self.held.len() >= MAX_HELD => {
                    self.reject(delivery, RejectReason::TooManyHeld, admitted);
                }
                None => self.held.push(delivery.clone()),
            },
            Verdict::Signed { signed_at } => {
                admitted.latest_signed_at = admitted.latest_signed_at.max(signed_at);
                let key = record.key.clone().unwrap_or_default();
                if key == CUT_OVER_KEY {
                    self.cut_over_record(delivery, admitted);
                    return;
                }
                match self.latest.get(&key) {
                    Some(&latest) if signed_at < latest => {
                        self.reject(delivery, RejectReason::Replayed, admitted);
                    }
                    _ => {
                        self.latest.insert(key, signed_at);
                        admitted.apply.push(record.clone());
                    }
                }
            }
        }
    }

    /// Takes the first signed cut-over record and releases the records held back until it came.
    fn cut_over_record(&mut self, delivery: &Delivery, admitted: &mut Admitted) {
        let Ok(CutOverRecord { signing_cut_over }) =
            serde_json::from_slice::<CutOverRecord>(&delivery.record.payload)
        else {
            tracing::error!(
                topic = self.topic,
                offset = delivery.position.offset,
                "skipped an undecodable cut-over record"
            );
            return;
        };
        if self.cut_over.is_some() {
            tracing::debug!(
                topic = self.topic,
                offset = delivery.position.offset,
                "ignoring a later cut-over record"
            );
            return;
        }
        let before = signing_cut_over.unsigned_before;
        self.cut_over = Some(before);
        admitted.cut_over = Some(before);
        let held = std::mem::take(&mut self.held);
        let mut num_legacy = 0_usize;
        for held in &held {
            if held.position.offset < before {
                num_legacy += 1;
                admitted.apply.push(held.record.clone());
            } else {
                self.reject(held, RejectReason::Unsigned, admitted);
            }
        }
        tracing::info!(
            topic = self.topic,
            unsigned_before = before,
            num_legacy,
            "directory records are signed from here on; unsigned records written before are applied"
        );
    }

    fn reject(&self, delivery: &Delivery, reason: RejectReason, admitted: &mut Admitted) {
        let key = delivery.record.key.clone();
        tracing::error!(
            topic = self.topic,
            offset = delivery.position.offset,
            key = key.as_deref().unwrap_or_default(),
            reason = reason.as_str(),
            "refused a directory record: not signed by admin's key; someone who can write to this topic tried to \
             change organizations, tokens or MoUs"
        );
        ::metrics::counter!(
            metrics::DIRECTORY_REJECTED,
            "topic" => self.topic,
            "reason" => reason.as_str()
        )
        .increment(1);
        admitted.rejected.push(Rejection {
            topic: self.topic,
            offset: delivery.position.offset,
            key,
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use accord_bus::Position;
    use accord_domain::topics;

    use super::{super::signing::DirectorySigner, *};

    fn delivery(offset: u64, record: Record) -> Delivery {
        Delivery {
            topic: topics::ADMIN_DIRECTORY.to_owned(),
            position: Position {
                partition: 0,
                offset,
            },
            record,
        }
    }

    fn cut_over(signer: &DirectorySigner, unsigned_before: u64) -> Record {
        let payload = CutOverRecord {
            signing_cut_over: CutOver { unsigned_before },
        };
        signer.sign(
            topics::ADMIN_DIRECTORY,
            Record::new(CUT_OVER_KEY, serde_json::to_vec(&payload).unwrap()),
        )
    }

    fn keys(payloads: &[Record]) -> Vec<String> {
        payloads
            .iter()
            .map(|record| String::from_utf8_lossy(&record.payload).into_owned())
            .collect()
    }

    #[test]
    fn unsigned_records_count_only_before_the_cut_over() {
        let signer = DirectorySigner::from_seed([1; 32]);
        let mut gate = Gate::new(
            topics::ADMIN_DIRECTORY,
            Arc::new(DirectoryKeys::new(vec![signer.public_key()])),
        );
        let first = gate.admit(&[
            delivery(0, Record::new("org:a", "legacy-a")),
            delivery(1, Record::new("org:b", "legacy-b")),
            delivery(2, Record::new("org:c", "raced-in")),
        ]);
        assert!(first.apply.is_empty(), "held until the cut-over");
        let second = gate.admit(&[
            delivery(3, cut_over(&signer, 2)),
            delivery(4, Record::new("token:t", "forged")),
            delivery(
                5,
                signer.sign(topics::ADMIN_DIRECTORY, Record::new("org:d", "signed")),
            ),
        ]);
        assert_eq!(keys(&second.apply), ["legacy-a", "legacy-b", "signed"]);
        assert_eq!(second.cut_over, Some(2));
        let refused: Vec<(u64, RejectReason)> = second
            .rejected
            .iter()
            .map(|rejection| (rejection.offset, rejection.reason))
            .collect();
        assert_eq!(
            refused,
            [(2, RejectReason::Unsigned), (4, RejectReason::Unsigned)]
        );
    }

    #[test]
    fn forged_and_replayed_records_are_refused() {
        let signer = DirectorySigner::from_seed([1; 32]);
        let forger = DirectorySigner::from_seed([2; 32]);
        let mut gate = Gate::new(
            topics::ADMIN_DIRECTORY,
            Arc::new(DirectoryKeys::new(vec![signer.public_key()])),
        );
        let issued = signer.sign(topics::ADMIN_DIRECTORY, Record::new("token:t", "issued"));
        let revoked = signer.sign(topics::ADMIN_DIRECTORY, Record::new("token:t", "revoked"));
        let admitted = gate.admit(&[
            delivery(0, cut_over(&signer, 0)),
            delivery(1, issued.clone()),
            delivery(2, revoked.clone()),
            delivery(3, issued.clone()),
            delivery(
                4,
                forger.sign(topics::ADMIN_DIRECTORY, Record::new("token:x", "minted")),
            ),
        ]);
        assert_eq!(keys(&admitted.apply), ["issued", "revoked"]);
        let reasons: Vec<RejectReason> = admitted
            .rejected
            .iter()
            .map(|rejection| rejection.reason)
            .collect();
        assert_eq!(
            reasons,
            [RejectReason::Replayed, RejectReason::BadSignature]
        );
        // The latest record published again (a publish retried) is not a replay; an older one stays refused.
        let again = gate.admit(&[delivery(5, revoked), delivery(6, issued)]);
        assert_eq!(keys(&again.apply), ["revoked"]);
        assert_eq!(again.rejected[0].reason, RejectReason::Replayed);
        let unsigned_first = gate.admit(&[delivery(7, Record::new("org:z", "late"))]);
        assert_eq!(unsigned_first.rejected[0].reason, RejectReason::Unsigned);
    }
}
