//! Secrets a service is configured with, and keys it keeps in its data directory.
//!
//! - [`ConfigSecret`]: a secret setting in a service's `Config` (a signing key, a report-id key). It is read from the
//!   configuration file or an `ACCORD_<SECTION>__<FIELD>` variable like any setting, but never printed: its `Debug`
//!   and its serialized form (what `accord config print` shows) are `***`.
//! - [`load_or_generate_key`]: the one rule for a service's 32-byte key: the configured value when there is one,
//!   else the key file in the service's data directory, else a fresh random key written there once, readable by its
//!   owner only (mode 0600). Keys are written and read as standard base64 (`openssl rand -base64 32` makes one);
//!   64 hex digits are accepted too.

use std::{
    fmt,
    io::Write as _,
    path::{Path, PathBuf},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret configuration value: deserialized from a string, shown as `***` everywhere.
#[derive(Clone)]
pub struct ConfigSecret(SecretString);

impl ConfigSecret {
    /// Returns a secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// Returns the secret value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ConfigSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for ConfigSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for ConfigSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The configured value or the key file is not 32 bytes in base64 or hex.
    #[error("{what} is not a 32-byte key in base64 or hex")]
    Malformed {
        /// The setting or file.
        what: String,
    },
    /// The key file could not be read or written.
    #[error("failed to {action} the key file {}", path.display())]
    Io {
        /// `read`, `create` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Returns a 32-byte key decoded from base64 (standard, padded or not) or 64 hex digits.
///
/// # Errors
/// [`KeyError::Malformed`] naming `what`.
pub fn decode_key(text: &str, what: &str) -> Result<[u8; 32], KeyError> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        STANDARD.decode(text).ok().or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(text)
                .ok()
        })
    };
    bytes
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| KeyError::Malformed {
            what: what.to_owned(),
        })
}

/// Returns a service's key: `configured` (named `setting` in errors) when given, else the key in `path`, else a
/// fresh random key written to `path` (created with mode 0600; its directory is created too). A key file readable
/// by others than its owner is used, with a warning.
///
/// # Errors
/// A malformed configured value or file, or a file that cannot be read or written.
pub fn load_or_generate_key(
    configured: Option<&ConfigSecret>,
    setting: &str,
    path: &Path,
) -> Result<[u8; 32], KeyError> {
    if let Some(configured) = configured {
        return decode_key(configured.expose(), setting);
    }
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_shared(path);
            return decode_key(&text, &path.display().to_string());
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(KeyError::Io {
                action: "read",
                path: path.to_owned(),
                source,
            });
        }
    }
    let mut key = [0_u8; 32];
    rand::rng().fill_bytes(&mut key);
    match write_new_key_file(path, &key) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a key");
            Ok(key)
        }
        // Another process sharing the data directory wrote it first: use that one.
        Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            load_or_generate_key(None, setting, path)
        }
        Err(error) => Err(error),
    }
}

/// Writes `key` to a file that must not exist yet, readable and writable by its owner only.
fn write_new_key_file(path: &Path, key: &[u8; 32]) -> Result<(), KeyError> {
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
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io("create"))?;
    file.write_all(format!("{}\n", STANDARD.encode(key)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io("write"))
}

/// Logs a warning when a key file can be read by its group or others.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "a key file is readable by others than its owner; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_printed() {
        let secret: ConfigSecret = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
    }

    #[test]
    fn keys_are_generated_once_with_owner_only_permissions_and_configured_keys_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("service.key");
        let first = load_or_generate_key(None, "svc.key", &path).unwrap();
        assert_eq!(load_or_generate_key(None, "svc.key", &path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let configured = ConfigSecret::new(STANDARD.encode([9_u8; 32]));
        assert_eq!(
            load_or_generate_key(Some(&configured), "svc.key", &path).unwrap(),
            [9; 32]
        );
        let hex = ConfigSecret::new("ab".repeat(32));
        assert_eq!(
            load_or_generate_key(Some(&hex), "svc.key", &path).unwrap(),
            [0xab; 32]
        );
        let short = ConfigSecret::new("c2hvcnQ=");
        let error = load_or_generate_key(Some(&short), "svc.key", &path).unwrap_err();
        assert_eq!(
            error.to_string(),
            "svc.key is not a 32-byte key in base64 or hex"
        );
        assert!(!error.to_string().contains("c2hvcnQ"));
    }
}
