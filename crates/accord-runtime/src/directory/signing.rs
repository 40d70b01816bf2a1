//! Signed directory records: admin signs every record it publishes on [`accord_domain::topics::ADMIN_DIRECTORY`] and
//! [`accord_domain::topics::POLICY_MOUS`]; every process verifies before it applies (the `follower` module decides what happens to a
//! record that does not verify).
//!
//! # The signature
//! Two record headers: [`HEADER_SIGNED_AT`] (milliseconds since the Unix epoch, strictly increasing per signer) and
//! [`HEADER_SIGNATURE`] (standard base64 of an ed25519 signature). The signed message is the JSON array
//! `["accord-directory/v1", topic, key, signed_at, sha256(payload) in hex]`: the topic and the key are signed with
//! the payload, so a signed record cannot be moved to the other topic or under another key (an MoU version published
//! as the current state of another MoU, a token record as another token); `signed_at` orders the records of one key,
//! so an old signed record published again (a revoked token's record from before its revocation) is recognized as a
//! replay. The payload itself is unchanged: readers that do not verify (`accord check`) still parse it.
//!
//! # The keys
//! - Admin's signing key ([`DirectorySigner::load`]): `[admin] directory_signing_key` (the 32-byte ed25519 seed in
//!   base64, a secret setting), else `DATA_DIR/admin/directory-signing.key`, generated on first start with mode 0600.
//!   Admin writes its public key to `DATA_DIR/directory/admin.pub` at every start: a directory apart from the
//!   private key, so that processes with data directories of their own can share just this one
//!   (docker-compose.yml mounts a `directory-keys` volume there, read-only in every other service).
//! - The public keys every process verifies with ([`DirectoryKeys::resolve`]): `[directory] public_keys` when set
//!   (several while a key is rotated); else, in a process that runs admin, admin's own key; else the public key file
//!   in the shared data directory. With none of these the process refuses to start: it could not tell a forged
//!   token from a real one.

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
};

use accord_bus::Record;
use base64::{Engine as _, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::secret::{ConfigSecret, KeyError, decode_key, load_or_generate_key};

/// The header carrying the signature (standard base64 of 64 bytes).
pub const HEADER_SIGNATURE: &str = "accord-signature";
/// The header carrying the signing time (milliseconds since the Unix epoch).
pub const HEADER_SIGNED_AT: &str = "accord-signed-at";
/// The domain of the signed message: a signature made for anything else never verifies here.
const DOMAIN: &str = "accord-directory/v1";
/// Admin's signing key, in its data directory.
pub const KEY_FILE: &str = "admin/directory-signing.key";
/// Admin's public key, for the other processes: in a directory of its own, shareable without the private key.
pub const PUBLIC_KEY_FILE: &str = "directory/admin.pub";

/// The process-wide directory settings: `[directory]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectoryConfig {
    /// The public keys directory records are verified with (standard base64 of 32 bytes; one key as a plain string,
    /// as `ACCORD_DIRECTORY__PUBLIC_KEYS=<key>` gives it, or a list). Empty: admin's own key in a process that runs
    /// admin, else `DATA_DIR/directory/admin.pub`.
    #[serde(deserialize_with = "one_or_many")]
    pub public_keys: Vec<String>,
}

/// Deserializes a list of strings, or one string as a list of one.
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(key) => vec![key],
        OneOrMany::Many(keys) => keys,
    })
}

impl DirectoryConfig {
    /// Checks the values at start, naming the key of the first bad one.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        for (index, key) in self.public_keys.iter().enumerate() {
            decode_public_key(key)
                .map_err(|error| format!("directory.public_keys[{index}]: {error}"))?;
        }
        Ok(())
    }
}

/// Admin's signer of directory records.
pub struct DirectorySigner {
    key: SigningKey,
    /// The last `signed_at` used: the next one is later, even within a millisecond or after a clock step back.
    last_signed_at: Mutex<u64>,
}

impl std::fmt::Debug for DirectorySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectorySigner")
            .field("public_key", &encode_public_key(&self.public_key()))
            .finish()
    }
}

impl DirectorySigner {
    /// Returns a signer of the 32-byte ed25519 seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&seed),
            last_signed_at: Mutex::new(0),
        }
    }

    /// Returns the signer of the configured key, else of the key file in `data_dir` (generated there on first use),
    /// and writes its public key file next to it.
    ///
    /// # Errors
    /// A malformed key, or a key file that cannot be read or written.
    pub fn load(configured: Option<&ConfigSecret>, data_dir: &Path) -> Result<Self, KeyError> {
        let seed = load_or_generate_key(
            configured,
            "admin.directory_signing_key",
            &data_dir.join(KEY_FILE),
        )?;
        let signer = Self::from_seed(seed);
        let path = data_dir.join(PUBLIC_KEY_FILE);
        let text = format!("{}\n", encode_public_key(&signer.public_key()));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            write_public_key(&path, &text)?;
        }
        Ok(signer)
    }

    /// Returns the public key.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Makes the next signing time later than `signed_at` (the latest one on the bus, signed before a restart or by
    /// another replica whose clock is ahead).
    pub fn advance(&self, signed_at: u64) {
        let mut last = self
            .last_signed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *last = (*last).max(signed_at);
    }

    /// Returns `record` with its signature for `topic` in its headers (replacing any it had).
    pub fn sign(&self, topic: &str, mut record: Record) -> Record {
        let signed_at = {
            let mut last = self
                .last_signed_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
            *last = now.max(*last + 1);
            *last
        };
        let message = message(topic, record.key.as_deref(), signed_at, &record.payload);
        let signature = self.key.sign(&message);
        record
            .headers
            .retain(|(name, _)| name != HEADER_SIGNATURE && name != HEADER_SIGNED_AT);
        record
            .headers
            .push((HEADER_SIGNED_AT.to_owned(), signed_at.to_string()));
        record.headers.push((
            HEADER_SIGNATURE.to_owned(),
            STANDARD.encode(signature.to_bytes()),
        ));
        record
    }
}

/// Writes the public key file (world-readable: it is public).
fn write_public_key(path: &Path, text: &str) -> Result<(), KeyError> {
    let io = |action: &'static str| {
        move |source: std::io::Error| KeyError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create"))?;
    }
    std::fs::write(path, text).map_err(io("write"))
}

/// What verifying a record found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by one of the trusted keys, at this time.
    Signed {
        /// Milliseconds since the Unix epoch.
        signed_at: u64,
    },
    /// No signature at all.
    Unsigned,
    /// A signature that does not verify with any trusted key (forged, or the record was altered), or malformed
    /// signature headers.
    BadSignature,
}

/// The public keys directory records are verified with.
#[derive(Debug, Clone)]
pub struct DirectoryKeys {
    keys: Vec<VerifyingKey>,
}

impl DirectoryKeys {
    /// Returns a verifier trusting `keys`.
    pub fn new(keys: Vec<VerifyingKey>) -> Self {
        Self { keys }
    }

    /// Returns the keys a process verifies with (see the module documentation): `config.public_keys`, else
    /// `admin_key` (the process runs admin), else the public key file in `data_dir`.
    ///
    /// # Errors
    /// A malformed key, admin's key missing from configured ones, or no key at all; the message says how to
    /// configure one.
    pub fn resolve(
        config: &DirectoryConfig,
        admin_key: Option<VerifyingKey>,
        data_dir: &Path,
    ) -> Result<Self, String> {
        if !config.public_keys.is_empty() {
            let keys = config
                .public_keys
                .iter()
                .map(|key| decode_public_key(key))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("directory.public_keys: {error}"))?;
            if let Some(admin_key) = admin_key
                && !keys.contains(&admin_key)
            {
                return Err(format!(
                    "admin's directory signing key ({}) is not among directory.public_keys: its own records would \
                     be refused",
                    encode_public_key(&admin_key)
                ));
            }
            return Ok(Self::new(keys));
        }
        if let Some(admin_key) = admin_key {
            return Ok(Self::new(vec![admin_key]));
        }
        let path: PathBuf = data_dir.join(PUBLIC_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => decode_public_key(&text)
                .map(|key| Self::new(vec![key]))
                .map_err(|error| format!("{}: {error}", path.display())),
            Err(error) => Err(format!(
                "no public key to verify directory records with: set [directory] public_keys \
                 (ACCORD_DIRECTORY__PUBLIC_KEYS) to admin's key, which admin logs at start, or share admin's data \
                 directory ({} cannot be read: {error})",
                path.display()
            )),
        }
    }

    /// Verifies `record` as read from `topic`.
    pub fn verify(&self, topic: &str, record: &Record) -> Verdict {
        let header = |name: &str| {
            record
                .headers
                .iter()
                .find(|(found, _)| found == name)
                .map(|(_, value)| value.as_str())
        };
        let (signature, signed_at) = match (header(HEADER_SIGNATURE), header(HEADER_SIGNED_AT)) {
            (None, None) => return Verdict::Unsigned,
            (Some(signature), Some(signed_at)) => (signature, signed_at),
            _ => return Verdict::BadSignature,
        };
        let Ok(signed_at) = signed_at.parse::<u64>() else {
            return Verdict::BadSignature;
        };
        let Some(signature) = STANDARD
            .decode(signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
        else {
            return Verdict::BadSignature;
        };
        let message = message(topic, record.key.as_deref(), signed_at, &record.payload);
        if self
            .keys
            .iter()
            .any(|key| key.verify_strict(&message, &signature).is_ok())
        {
            Verdict::Signed { signed_at }
        } else {
            Verdict::BadSignature
        }
    }
}

/// Returns the signed message of a record (see the module documentation).
fn message(topic: &str, key: Option<&str>, signed_at: u64, payload: &[u8]) -> Vec<u8> {
    let digest = hex::encode(Sha256::digest(payload));
    let fields = (DOMAIN, topic, key.unwrap_or_default(), signed_at, digest);
    serde_json::to_vec(&fields).unwrap_or_default()
}

/// Returns a public key as configured and logged: standard base64 of its 32 bytes.
pub fn encode_public_key(key: &VerifyingKey) -> String {
    STANDARD.encode(key.as_bytes())
}

/// Returns the public key of its base64 (or hex) form.
///
/// # Errors
/// When it is not 32 bytes or not a point of the curve.
pub fn decode_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let bytes = decode_key(text, "the public key")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Malformed {
        what: "the public key".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use accord_domain::topics;

    use super::*;

    fn record(key: &str, payload: &str) -> Record {
        Record::new(key, payload.to_owned())
    }

    #[test]
    fn a_signed_record_verifies_and_any_change_breaks_it() {
        let signer = DirectorySigner::from_seed([7; 32]);
        let keys = DirectoryKeys::new(vec![signer.public_key()]);
        let signed = signer.sign(topics::ADMIN_DIRECTORY, record("token:t1", r#"{"a":1}"#));
        let Verdict::Signed { signed_at } = keys.verify(topics::ADMIN_DIRECTORY, &signed) else {
            panic!("a signed record must verify");
        };
        let again = signer.sign(topics::ADMIN_DIRECTORY, record("token:t1", r#"{"a":1}"#));
        assert!(
            matches!(keys.verify(topics::ADMIN_DIRECTORY, &again), Verdict::Signed { signed_at: later } if later > signed_at),
            "signing times increase"
        );
        // A clock behind the latest record on the bus (a restart after a step back, another replica).
        let ahead = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap() + 3_600_000;
        signer.advance(ahead);
        let after = signer.sign(topics::ADMIN_DIRECTORY, record("token:t1", r#"{"a":1}"#));
        assert!(
            matches!(keys.verify(topics::ADMIN_DIRECTORY, &after), Verdict::Signed { signed_at } if signed_at > ahead),
            "signed after the latest record seen"
        );
        assert_eq!(
            keys.verify(topics::POLICY_MOUS, &signed),
            Verdict::BadSignature,
            "another topic"
        );
        let mut other_key = signed.clone();
        other_key.key = Some("token:t2".to_owned());
        assert_eq!(
            keys.verify(topics::ADMIN_DIRECTORY, &other_key),
            Verdict::BadSignature
        );
        let mut altered = signed.clone();
        altered.payload = bytes::Bytes::from_static(br#"{"a":2}"#);
        assert_eq!(
            keys.verify(topics::ADMIN_DIRECTORY, &altered),
            Verdict::BadSignature
        );
        let mut backdated = signed.clone();
        for (name, value) in &mut backdated.headers {
            if name == HEADER_SIGNED_AT {
                *value = "1".to_owned();
            }
        }
        assert_eq!(
            keys.verify(topics::ADMIN_DIRECTORY, &backdated),
            Verdict::BadSignature
        );
        assert_eq!(
            keys.verify(topics::ADMIN_DIRECTORY, &record("token:t1", "{}")),
            Verdict::Unsigned
        );
        let forger = DirectorySigner::from_seed([8; 32]);
        let forged = forger.sign(topics::ADMIN_DIRECTORY, record("token:t1", r#"{"a":1}"#));
        assert_eq!(
            keys.verify(topics::ADMIN_DIRECTORY, &forged),
            Verdict::BadSignature
        );
    }

    #[test]
    fn keys_come_from_configuration_then_admin_then_the_shared_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let error =
            DirectoryKeys::resolve(&DirectoryConfig::default(), None, dir.path()).unwrap_err();
        assert!(error.contains("ACCORD_DIRECTORY__PUBLIC_KEYS"), "{error}");
        let signer = DirectorySigner::load(None, dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let reloaded = DirectorySigner::load(None, dir.path()).unwrap();
        assert_eq!(reloaded.public_key(), signer.public_key(), "generated once");
        let from_file =
            DirectoryKeys::resolve(&DirectoryConfig::default(), None, dir.path()).unwrap();
        assert_eq!(from_file.keys, vec![signer.public_key()]);
        let other = DirectorySigner::from_seed([3; 32]);
        let configured = DirectoryConfig {
            public_keys: vec![encode_public_key(&other.public_key())],
        };
        assert_eq!(configured.validate(), Ok(()));
        let keys = DirectoryKeys::resolve(&configured, None, dir.path()).unwrap();
        assert_eq!(keys.keys, vec![other.public_key()]);
        let error =
            DirectoryKeys::resolve(&configured, Some(signer.public_key()), dir.path()).unwrap_err();
        assert!(error.contains("not among directory.public_keys"), "{error}");
        let bad = DirectoryConfig {
            public_keys: vec!["not a key".to_owned()],
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .starts_with("directory.public_keys[0]")
        );
    }
}
