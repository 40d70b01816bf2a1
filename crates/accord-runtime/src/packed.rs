//! JSON values as the services' stores keep them: compressed with zstd when that is worth it
//! ([`accord_bus::compression`]: from 256 bytes, when smaller), plain JSON otherwise. A stored value that starts with
//! zstd's frame magic is a frame (JSON never starts so), so values written before compression are read as they are
//! and no format version is needed. Issue 14: bytes on disk per indicator.

use serde::{Serialize, de::DeserializeOwned};

use accord_bus::compression::{self, DecompressError, FRAME_MAGIC};

/// The largest value a frame may expand to (64 MiB): far above any stored report, and a bound on what a damaged
/// frame can make a reader allocate.
pub const MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;

/// Why a stored value could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PackedError {
    /// The frame could not be decompressed.
    #[error("stored value cannot be decompressed")]
    Decompress(#[from] DecompressError),
    /// The JSON does not decode as the type.
    #[error("stored value is not the expected JSON")]
    Json(#[from] serde_json::Error),
}

/// Returns the stored form of `value`.
///
/// # Errors
/// When `value` cannot be serialized.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let json = serde_json::to_vec(value)?;
    Ok(compression::compress(&json).unwrap_or(json))
}

/// Returns the value stored as `bytes` by [`to_vec`], or as plain JSON.
///
/// # Errors
/// See [`PackedError`].
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PackedError> {
    if bytes.starts_with(&FRAME_MAGIC) {
        let json = compression::decompress(bytes, MAX_VALUE_BYTES)?;
        return Ok(serde_json::from_slice(&json)?);
    }
    Ok(serde_json::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_large_value_is_stored_compressed_and_plain_json_is_still_read() {
        let value = json!({ "title": "x".repeat(64), "indicators": vec!["198.51.100.1"; 100] });
        let stored = to_vec(&value).unwrap();
        assert!(stored.starts_with(&FRAME_MAGIC));
        assert!(stored.len() * 4 < serde_json::to_vec(&value).unwrap().len());
        assert_eq!(from_slice::<Value>(&stored).unwrap(), value);
        let small = json!({ "a": 1 });
        assert_eq!(to_vec(&small).unwrap(), serde_json::to_vec(&small).unwrap());
        let old = serde_json::to_vec(&value).unwrap();
        assert_eq!(from_slice::<Value>(&old).unwrap(), value);
        assert!(matches!(
            from_slice::<Value>(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]),
            Err(PackedError::Decompress(_))
        ));
    }
}
