//! zstd for what Accord stores: the embedded log's record payloads (`embedded` module) and the JSON values of the
//! services' stores (`accord_runtime::packed`). Issue 14: bytes on disk per indicator; reports are JSON, which
//! shrinks to a third or less.
//!
//! - [`compress`] compresses from [`COMPRESS_FROM`] bytes, at level [`LEVEL`] (the fastest: every record of the
//!   pipeline passes here), and only keeps the result when it is smaller. The frame states its content size.
//! - [`decompress`] refuses a frame that does not state its size or claims more than the caller's limit, before
//!   allocating anything: a damaged frame never makes it allocate more than the limit.
//! - The compression contexts are kept per thread (creating one costs more than compressing a small record).

use std::cell::RefCell;

/// The smallest input worth compressing.
pub const COMPRESS_FROM: usize = 256;

/// The zstd level.
pub const LEVEL: i32 = 1;

/// The first four bytes of every zstd frame (its magic number, little-endian): a stored value that starts with
/// them is a frame (JSON never does).
pub const FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Why a frame could not be decompressed.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// Not a frame, or one that does not state its content size.
    #[error("not a zstd frame with its content size")]
    NotAFrame,
    /// The frame claims more than the caller allows.
    #[error("the frame claims {claimed} bytes, more than the {limit} allowed")]
    TooLarge {
        /// What the frame claims.
        claimed: u64,
        /// What the caller allows.
        limit: usize,
    },
    /// zstd could not decompress it (damaged).
    #[error("the frame is damaged")]
    Damaged(#[source] std::io::Error),
}

/// Returns `input` compressed when that is worth it (at least [`COMPRESS_FROM`] bytes, and smaller compressed);
/// `None` to store it as it is.
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() < COMPRESS_FROM {
        return None;
    }
    let compressed = COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Compressor::new(LEVEL).ok()?);
        }
        slot.as_mut()?.compress(input).ok()
    })?;
    (compressed.len() < input.len()).then_some(compressed)
}

/// Returns what the zstd frame `frame` holds, at most `limit` bytes.
///
/// # Errors
/// See [`DecompressError`].
pub fn decompress(frame: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let claimed = zstd::zstd_safe::get_frame_content_size(frame)
        .ok()
        .flatten()
        .ok_or(DecompressError::NotAFrame)?;
    let size = usize::try_from(claimed)
        .ok()
        .filter(|size| *size <= limit)
        .ok_or(DecompressError::TooLarge { claimed, limit })?;
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new().map_err(DecompressError::Damaged)?);
        }
        let Some(decompressor) = slot.as_mut() else {
            return Err(DecompressError::NotAFrame);
        };
        decompressor
            .decompress(frame, size)
            .map_err(DecompressError::Damaged)
    })
}

/// `len` bytes that do not compress (a xorshift sequence), for tests.
#[cfg(test)]
pub(crate) fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_shrinks_is_compressed_and_comes_back_whole() {
        let json = r#"{"title":"a phishing kit","indicators":["198.51.100.1"]}"#.repeat(50);
        let frame = compress(json.as_bytes()).unwrap();
        assert!(frame.starts_with(&FRAME_MAGIC));
        assert!(frame.len() * 4 < json.len());
        assert_eq!(decompress(&frame, json.len()).unwrap(), json.as_bytes());
        assert!(compress(b"{}").is_none(), "too small to be worth it");
        let noise = noise(4096);
        assert!(compress(&noise).is_none(), "incompressible");
    }

    #[test]
    fn a_frame_claiming_more_than_allowed_is_refused_unread() {
        let frame = compress(&vec![0u8; 1 << 20]).unwrap();
        assert!(matches!(
            decompress(&frame, 1000),
            Err(DecompressError::TooLarge { .. })
        ));
        assert!(matches!(
            decompress(b"not zstd at all", 1000),
            Err(DecompressError::NotAFrame)
        ));
        let mut damaged = frame.clone();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0xff;
        assert!(decompress(&damaged, 1 << 20).is_err());
    }
}
