//! The embedded log's on-disk record encoding.
//!
//! A record is stored as one redb value, length-prefixed and little-endian:
//!
//! ```text
//! version: u8 (= 1)
//! key:     u8 tag (0 = none, 1 = some) [+ u32 length + UTF-8 bytes]
//! headers: u32 count, then per header u32 length + UTF-8 name, u32 length + UTF-8 value
//! payload: the remaining bytes
//! ```
//!
//! The leading version byte lets a later format coexist with logs written by this one.

use bytes::Bytes;

use crate::{BusError, Record};

/// The only format version written so far.
const VERSION: u8 = 1;

/// The largest encoded record the embedded log accepts (16 MiB): a record this large is a bug upstream, and it keeps
/// every length well inside a `u32`.
pub(crate) const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// Why a stored record could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("record is truncated")]
    Truncated,
    #[error("unknown record format version {0}")]
    UnknownVersion(u8),
    #[error("invalid key tag {0}")]
    InvalidKeyTag(u8),
    #[error("record holds a string that is not valid utf-8")]
    InvalidUtf8(#[from] std::str::Utf8Error),
}

/// Returns the stored form of `record`.
///
/// # Errors
/// Returns [`BusError::Refused`] when the encoded record would exceed [`MAX_RECORD_BYTES`].
pub(crate) fn encode(record: &Record) -> Result<Vec<u8>, BusError> {
    let len = record.size();
    if len > MAX_RECORD_BYTES {
        return Err(BusError::Refused(format!(
            "record of {len} bytes exceeds the embedded log's limit of {MAX_RECORD_BYTES} bytes"
        )));
    }
    let mut out = Vec::with_capacity(len);
    out.push(VERSION);
    match &record.key {
        None => out.push(0),
        Some(key) => {
            out.push(1);
            put_str(&mut out, key);
        }
    }
    put_u32(&mut out, record.headers.len());
    for (name, value) in &record.headers {
        put_str(&mut out, name);
        put_str(&mut out, value);
    }
    out.extend_from_slice(&record.payload);
    Ok(out)
}

/// Returns the record stored as `bytes`.
///
/// # Errors
/// Returns a [`DecodeError`] when `bytes` is not a record written by [`encode`].
pub(crate) fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let mut reader = Reader { rest: bytes };
    let version = reader.u8()?;
    if version != VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let key = match reader.u8()? {
        0 => None,
        1 => Some(reader.string()?),
        tag => return Err(DecodeError::InvalidKeyTag(tag)),
    };
    let num_headers = reader.u32()?;
    // Every header takes at least 8 bytes, so a corrupt count cannot make us reserve much.
    let mut headers = Vec::with_capacity(num_headers.min(reader.rest.len() / 8));
    for _ in 0..num_headers {
        let name = reader.string()?;
        let value = reader.string()?;
        headers.push((name, value));
    }
    Ok(Record {
        key,
        headers,
        payload: Bytes::copy_from_slice(reader.rest),
    })
}

/// Appends a length (known to fit, see [`MAX_RECORD_BYTES`]) as a little-endian `u32`.
fn put_u32(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, value: &str) {
    put_u32(out, value.len());
    out.extend_from_slice(value.as_bytes());
}

/// A cursor over a stored record.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < len {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<usize, DecodeError> {
        let mut buf = [0u8; 4];
        buf.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(buf) as usize)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.u32()?;
        Ok(std::str::from_utf8(self.take(len)?)?.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(record: Record) {
        let encoded = encode(&record).unwrap();
        assert_eq!(decode(&encoded).unwrap(), record);
    }

    #[test]
    fn round_trips_records() {
        round_trip(Record::new("report-1", r#"{"a":1}"#));
        round_trip(Record {
            key: None,
            headers: Vec::new(),
            payload: Bytes::new(),
        });
        round_trip(Record {
            key: Some(String::new()),
            headers: vec![
                ("record-id".into(), "r-1".into()),
                (String::new(), "ünïcødé".into()),
            ],
            payload: Bytes::from_static(&[0, 1, 2, 255]),
        });
    }

    #[test]
    fn refuses_oversized_records() {
        let record = Record::new("k", vec![0u8; MAX_RECORD_BYTES]);
        assert!(matches!(encode(&record), Err(BusError::Refused(_))));
    }

    #[test]
    fn rejects_corrupt_bytes() {
        assert!(matches!(decode(&[]), Err(DecodeError::Truncated)));
        assert!(matches!(decode(&[9]), Err(DecodeError::UnknownVersion(9))));
        assert!(matches!(
            decode(&[1, 7]),
            Err(DecodeError::InvalidKeyTag(7))
        ));
        assert!(matches!(
            decode(&[1, 1, 5, 0, 0, 0, b'a']),
            Err(DecodeError::Truncated)
        ));
        assert!(matches!(
            decode(&[1, 1, 1, 0, 0, 0, 0xff, 0, 0, 0, 0]),
            Err(DecodeError::InvalidUtf8(_))
        ));
        // A huge header count over a short record fails without a huge allocation.
        assert!(matches!(
            decode(&[1, 0, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::Truncated)
        ));
    }
}
