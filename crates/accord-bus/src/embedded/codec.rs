//! The embedded log's on-disk record encoding.
//!
//! A record is stored as one redb value, length-prefixed and little-endian:
//!
//! ```text
//! version: u8 (= 3)
//! crc32c:  u32, the CRC32C (Castagnoli) of every byte after it
//! flags:   u8, bit 0: the payload is compressed (zstd)
//! key:     u8 tag (0 = none, 1 = some) [+ u32 length + UTF-8 bytes]
//! headers: u32 count, then per header u32 length + UTF-8 name, u32 length + UTF-8 value
//! payload: the remaining bytes (one zstd frame, with its content size, when bit 0 is set)
//! ```
//!
//! A payload is compressed as [`crate::compression`] decides (from 256 bytes, when that makes it smaller): the
//! report topics hold JSON, which shrinks to a third or less (issue 14: bytes on disk per indicator). A compressed
//! payload that would expand beyond [`MAX_RECORD_BYTES`] is refused as damaged, never allocated.
//!
//! The leading version byte lets formats coexist: version 2 (a checksum, no flags) and version 1 (written before
//! checksums, no `crc32c` field) are still read. A record whose bytes do not match its checksum is
//! [`DecodeError::Checksum`]: the reader ([`super::subscription`]) delivers it as a corrupt record rather than stopping
//! the topic (issue 22).

use bytes::Bytes;

use crate::{BusError, Record, compression};

/// The format version written: a checksum and flags.
const VERSION: u8 = 3;
/// The format with a checksum and no flags (never compressed), still read.
const VERSION_CHECKED: u8 = 2;
/// The format written before checksums, still read.
const VERSION_UNCHECKED: u8 = 1;

/// Flag: the payload is one zstd frame.
const FLAG_ZSTD: u8 = 1;

/// The largest encoded record the embedded log accepts (16 MiB): a record this large is a bug upstream, and it keeps
/// every length well inside a `u32`.
pub(crate) const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// Why a stored record could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("record is truncated")]
    Truncated,
    #[error(
        "record checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the bytes were damaged"
    )]
    Checksum { stored: u32, computed: u32 },
    #[error("unknown record format version {0}")]
    UnknownVersion(u8),
    #[error("invalid key tag {0}")]
    InvalidKeyTag(u8),
    #[error("record holds a string that is not valid utf-8")]
    InvalidUtf8(#[from] std::str::Utf8Error),
    #[error("the compressed payload cannot be read")]
    Decompress(#[source] compression::DecompressError),
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
    let compressed = compression::compress(&record.payload);
    let mut out = Vec::with_capacity(len + 6);
    out.push(VERSION);
    out.extend_from_slice(&[0; 4]);
    out.push(if compressed.is_some() { FLAG_ZSTD } else { 0 });
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
    out.extend_from_slice(compressed.as_deref().unwrap_or(&record.payload));
    let crc = crc32c::crc32c(&out[5..]);
    out[1..5].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Returns the record stored as `bytes`.
///
/// # Errors
/// Returns a [`DecodeError`] when `bytes` is not a record written by [`encode`].
pub(crate) fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let (mut reader, compressed) = checked(bytes)?;
    let (key, headers) = decode_fields(&mut reader)?;
    let payload = match compressed {
        true => Bytes::from(
            compression::decompress(reader.rest, MAX_RECORD_BYTES)
                .map_err(DecodeError::Decompress)?,
        ),
        false => Bytes::copy_from_slice(reader.rest),
    };
    Ok(Record {
        key,
        headers,
        payload,
    })
}

/// Returns the key of the record stored as `bytes`, checked as [`decode`] checks it, without reading its payload
/// (the cleaner's question).
///
/// # Errors
/// As [`decode`], except for the payload.
pub(crate) fn key(bytes: &[u8]) -> Result<Option<String>, DecodeError> {
    let (mut reader, _) = checked(bytes)?;
    Ok(decode_fields(&mut reader)?.0)
}

/// Reads the version, checks the checksum (versions 2 and 3) and reads the flags (version 3): returns a reader at
/// the key, and whether the payload is compressed.
fn checked(bytes: &[u8]) -> Result<(Reader<'_>, bool), DecodeError> {
    let mut reader = Reader { rest: bytes };
    let version = reader.u8()?;
    match version {
        VERSION_UNCHECKED => return Ok((reader, false)),
        VERSION_CHECKED | VERSION => {
            let stored = reader.u32()? as u32;
            let computed = crc32c::crc32c(reader.rest);
            if stored != computed {
                return Err(DecodeError::Checksum { stored, computed });
            }
        }
        version => return Err(DecodeError::UnknownVersion(version)),
    }
    let compressed = version == VERSION && reader.u8()? & FLAG_ZSTD != 0;
    Ok((reader, compressed))
}

/// Returns the key of a damaged record when the layout after its checksum still holds one (what the dead letter of
/// a corrupt record is keyed by); `None` when even that is unreadable.
pub(crate) fn salvage_key(bytes: &[u8]) -> Option<String> {
    let rest = match *bytes.first()? {
        VERSION => bytes.get(6..)?,
        VERSION_CHECKED => bytes.get(5..)?,
        VERSION_UNCHECKED => bytes.get(1..)?,
        _ => return None,
    };
    decode_fields(&mut Reader { rest }).ok()?.0
}

/// A record's key and headers.
type Fields = (Option<String>, Vec<(String, String)>);

/// Decodes the key and the headers; the reader is left at the payload.
fn decode_fields(reader: &mut Reader<'_>) -> Result<Fields, DecodeError> {
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
    Ok((key, headers))
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
    fn a_flipped_bit_anywhere_fails_the_checksum_and_the_key_can_be_salvaged() {
        let record = Record::new("report--1", r#"{"title":"checksummed"}"#);
        let encoded = encode(&record).unwrap();
        for byte in 1..encoded.len() {
            for bit in [0, 3, 7] {
                let mut damaged = encoded.clone();
                damaged[byte] ^= 1 << bit;
                assert!(
                    matches!(decode(&damaged), Err(DecodeError::Checksum { .. })),
                    "byte {byte} bit {bit}"
                );
            }
        }
        let mut damaged = encoded.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 0xff;
        assert_eq!(salvage_key(&damaged).as_deref(), Some("report--1"));
    }

    #[test]
    fn a_large_payload_is_stored_compressed_and_read_back_whole() {
        let json = r#"{"title":"a phishing kit","indicators":["198.51.100.1"]}"#.repeat(100);
        let record = Record::new("report--1", json.clone());
        let encoded = encode(&record).unwrap();
        assert!(
            encoded.len() * 4 < json.len(),
            "{} of {}",
            encoded.len(),
            json.len()
        );
        assert_eq!(decode(&encoded).unwrap(), record);
        assert_eq!(key(&encoded).unwrap().as_deref(), Some("report--1"));
        // Small, or incompressible: stored as it is.
        let small = Record::new("k", "{}");
        assert_eq!(encode(&small).unwrap()[5], 0);
        let noise = crate::compression::noise(4096);
        let noisy = Record::new("k", noise);
        assert_eq!(encode(&noisy).unwrap()[5], 0);
        assert_eq!(decode(&encode(&noisy).unwrap()).unwrap(), noisy);
    }

    #[test]
    fn records_written_before_flags_are_still_read() {
        // Version 2: a checksum, no flags.
        let body = [&[1u8, 1, 0, 0, 0, b'k', 0, 0, 0, 0][..], b"payload"].concat();
        let crc = crc32c::crc32c(&body).to_le_bytes();
        let old = [&[2u8][..], &crc, &body].concat();
        assert_eq!(decode(&old).unwrap(), Record::new("k", "payload"));
        assert_eq!(salvage_key(&old).as_deref(), Some("k"));
    }

    #[test]
    fn records_written_before_checksums_are_still_read() {
        // Version 1: no checksum field.
        let old = [&[1u8, 1, 1, 0, 0, 0, b'k', 0, 0, 0, 0][..], b"payload"].concat();
        assert_eq!(decode(&old).unwrap(), Record::new("k", "payload"));
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
