//! Signed checkpoints of the audit chain: the head an auditor keeps outside Accord.
//!
//! A hash chain shows that no record was changed in place, but not that the chain was not cut short or rebuilt
//! from its first record with every hash recomputed. A [`Checkpoint`] `{ seq, hash, at, signature }` states that
//! the record number `seq` had hash `hash` at time `at`, signed with the deployment's ed25519 key. An auditor who
//! kept one can later check the chain against it ([`super::verify`]): shorter than `seq` means truncated, another
//! hash at `seq` means rewritten, whatever the chain says about itself.
//!
//! The signed message is the UTF-8 text [`MESSAGE_FORMAT`] (`accord-audit-checkpoint/v1`, then `seq`, `hash` and
//! `at` as RFC 3339 UTC, one per line), so that anyone with the public key (`GET /v1/audit/public-key`) can check a
//! checkpoint without Accord. The signature and the public key are standard base64.
//!
//! The key: `[search] audit_signing_key` (the 32-byte ed25519 seed, a secret setting), else the file
//! `search/audit-signing.key` in the data directory, generated on first start with mode 0600
//! ([`accord_runtime::secret::load_or_generate_key`]).

use std::path::{Path, PathBuf};

use accord_domain::Timestamp;
use accord_runtime::secret::{ConfigSecret, KeyError, load_or_generate_key};
use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

/// What a checkpoint's signature covers, as documented for outside verifiers.
pub const MESSAGE_FORMAT: &str = "accord-audit-checkpoint/v1\n<seq>\n<hash>\n<at>";

/// The key file, relative to search's data directory.
pub const KEY_FILE: &str = "audit-signing.key";

/// A signed statement of the chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The sequence number of the head record (0: the empty chain).
    pub seq: u64,
    /// The hash of that record (the genesis hash for 0).
    pub hash: String,
    /// When the checkpoint was made (whole seconds).
    pub at: Timestamp,
    /// The ed25519 signature of the message, base64.
    pub signature: String,
}

/// Returns the message a checkpoint's signature covers.
fn message(seq: u64, hash: &str, at: Timestamp) -> String {
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    format!("accord-audit-checkpoint/v1\n{seq}\n{hash}\n{at}")
}

/// Signs checkpoints with the deployment's key.
pub struct CheckpointSigner {
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("public_key", &encode_public_key(&self.public_key()))
            .finish()
    }
}

impl CheckpointSigner {
    /// Returns a signer of the 32-byte ed25519 seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// Returns the signer of the configured key, else of the key file in `dir` (generated there on first use).
    ///
    /// # Errors
    /// A malformed key, or a key file that cannot be read or written.
    pub fn load(configured: Option<&ConfigSecret>, dir: &Path) -> Result<Self, KeyError> {
        load_or_generate_key(configured, "search.audit_signing_key", &key_path(dir))
            .map(Self::from_seed)
    }

    /// Returns the public key.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Returns the signed checkpoint of head `seq` with `hash`, made now.
    pub fn sign(&self, seq: u64, hash: &str) -> Checkpoint {
        let now = chrono::Utc::now();
        let at = chrono::DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let signature = self.key.sign(message(seq, hash, at).as_bytes());
        Checkpoint {
            seq,
            hash: hash.to_owned(),
            at,
            signature: STANDARD.encode(signature.to_bytes()),
        }
    }
}

/// Returns the key file of search's data directory `dir`.
pub fn key_path(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE)
}

/// Returns a public key as published: standard base64 of its 32 bytes.
pub fn encode_public_key(key: &VerifyingKey) -> String {
    STANDARD.encode(key.as_bytes())
}

/// Returns the public key of its base64 (or hex) form.
///
/// # Errors
/// When it is not 32 bytes or not a point of the curve.
pub fn decode_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let bytes = accord_runtime::secret::decode_key(text, "the public key")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Malformed {
        what: "the public key".to_owned(),
    })
}

/// Returns whether `checkpoint` carries a valid signature by `key`.
pub fn signature_holds(key: &VerifyingKey, checkpoint: &Checkpoint) -> bool {
    let Ok(bytes) = STANDARD.decode(checkpoint.signature.trim()) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(&bytes) else {
        return false;
    };
    let message = message(checkpoint.seq, &checkpoint.hash, checkpoint.at);
    key.verify(message.as_bytes(), &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_under_its_key_only_and_not_once_changed() {
        let signer = CheckpointSigner::from_seed([3; 32]);
        let checkpoint = signer.sign(42, "ab".repeat(32).as_str());
        assert!(signature_holds(&signer.public_key(), &checkpoint));
        let round_trip: Checkpoint =
            serde_json::from_str(&serde_json::to_string(&checkpoint).unwrap()).unwrap();
        assert!(signature_holds(&signer.public_key(), &round_trip));

        let other = CheckpointSigner::from_seed([4; 32]);
        assert!(!signature_holds(&other.public_key(), &checkpoint));
        for forged in [
            Checkpoint {
                seq: 41,
                ..checkpoint.clone()
            },
            Checkpoint {
                hash: "cd".repeat(32),
                ..checkpoint.clone()
            },
            Checkpoint {
                at: checkpoint.at + chrono::Duration::seconds(1),
                ..checkpoint.clone()
            },
            Checkpoint {
                signature: "not base64!".to_owned(),
                ..checkpoint.clone()
            },
        ] {
            assert!(!signature_holds(&signer.public_key(), &forged));
        }
        let published = encode_public_key(&signer.public_key());
        assert_eq!(decode_public_key(&published).unwrap(), signer.public_key());
    }

    #[test]
    fn the_documented_message_is_what_is_signed() {
        let signer = CheckpointSigner::from_seed([8; 32]);
        let checkpoint = signer.sign(7, "ef".repeat(32).as_str());
        let json = serde_json::to_value(&checkpoint).unwrap();
        // An outside verifier: the published format filled in from the checkpoint's JSON as kept.
        let text = MESSAGE_FORMAT
            .replace("<seq>", &json["seq"].to_string())
            .replace("<hash>", json["hash"].as_str().unwrap())
            .replace("<at>", json["at"].as_str().unwrap());
        let signature = Signature::from_slice(
            &STANDARD
                .decode(json["signature"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(
            signer
                .public_key()
                .verify(text.as_bytes(), &signature)
                .is_ok()
        );
        let at = json["at"].as_str().unwrap();
        assert!(
            at.ends_with('Z') && !at.contains('.'),
            "whole seconds, UTC: {at}"
        );
    }
}
