//! Large answers streamed: written chunk by chunk as the client reads them, never held whole in memory.
//!
//! A [`Streamed`] answer is written by a function (`write`, given an [`std::io::Write`]) on a blocking thread, into
//! chunks of [`CHUNK_BYTES`] handed to the connection through a channel that holds [`CHUNKS_AHEAD`] of them. So the
//! serialized form of an answer costs a few chunks of memory whatever its size (a TAXII page, a 10 000-value lookup,
//! an export), and a client that reads slowly pauses the writer instead of making the server buffer for it.
//!
//! A client that stops reading for [`STALL`] ends the answer: the writer gives up, its thread is released, and the
//! body ends with an error, so the connection is closed without a complete answer (a chunked body without its last
//! chunk, which every HTTP client reports as an error, never as a short but complete answer). A client that goes
//! away stops the writer at its next chunk. The body is sent without a length (`Transfer-Encoding: chunked` on
//! HTTP/1.1).
//!
//! Only what is decided is streamed: the answer's status, headers and audit record are settled before the first
//! byte, and `write` only renders what was already released (it does no policy work and takes no lock).

use std::{
    io::{self, Write},
    time::Duration,
};

use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;

/// The size of one chunk of a streamed body.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The chunks written ahead of the client.
pub const CHUNKS_AHEAD: usize = 2;

/// How long the writer waits for a client to take a chunk before it ends the answer.
pub const STALL: Duration = Duration::from_secs(30);

/// A function that writes an answer's body.
type Writer = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// An answer whose body is written as it is sent; see the module documentation.
pub struct Streamed {
    content_type: HeaderValue,
    write: Writer,
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamed")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl Streamed {
    /// An answer of `content_type` whose body `write` writes.
    pub fn new(
        content_type: HeaderValue,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
    ) -> Self {
        Self {
            content_type,
            write: Box::new(write),
        }
    }

    /// `value` as JSON (`application/json`).
    pub fn json<T: Serialize + Send + 'static>(value: T) -> Self {
        Self::json_as(HeaderValue::from_static("application/json"), value)
    }

    /// `value` as JSON, of `content_type` (a TAXII or STIX media type).
    pub fn json_as<T: Serialize + Send + 'static>(content_type: HeaderValue, value: T) -> Self {
        Self::new(content_type, move |out| {
            serde_json::to_writer(out, &value).map_err(io::Error::from)
        })
    }

    /// The body as a stream of chunks, written on a blocking thread.
    fn into_body(self) -> Body {
        let (sender, mut receiver) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_AHEAD);
        let runtime = tokio::runtime::Handle::current();
        let write = self.write;
        tokio::task::spawn_blocking(move || {
            let mut chunks = Chunks {
                sender,
                runtime,
                buffer: Vec::with_capacity(CHUNK_BYTES),
            };
            let written = write(&mut chunks).and_then(|()| chunks.flush());
            if let Err(error) = written {
                tracing::debug!(%error, "a streamed answer ended early");
                // Ends the body with an error, so that the client cannot take it for a complete answer (the
                // client may be gone: then nobody reads it).
                chunks.send(Err(error)).ok();
            }
        });
        Body::from_stream(futures_util::stream::poll_fn(move |cx| {
            receiver.poll_recv(cx)
        }))
    }
}

impl IntoResponse for Streamed {
    fn into_response(self) -> Response {
        let content_type = self.content_type.clone();
        let mut response = Response::new(self.into_body());
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
        response
    }
}

/// The writer a [`Streamed`] body is written into: full chunks go to the connection.
struct Chunks {
    sender: mpsc::Sender<io::Result<Bytes>>,
    runtime: tokio::runtime::Handle,
    buffer: Vec<u8>,
}

impl Chunks {
    /// Hands `item` to the connection, waiting at most [`STALL`] for room.
    fn send(&self, item: io::Result<Bytes>) -> io::Result<()> {
        let sent = self
            .runtime
            .block_on(async { tokio::time::timeout(STALL, self.sender.send(item)).await });
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client went away",
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            )),
        }
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK_BYTES {
            let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
            self.send(Ok(Bytes::from(chunk)))?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buffer);
        self.send(Ok(Bytes::from(chunk)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use axum::body::to_bytes;
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn a_streamed_json_answer_is_the_value_serialized_in_chunks() {
        let value = json!({ "objects": (0..20_000).map(|n| json!({ "id": n, "name": "x".repeat(16) })).collect::<Vec<_>>() });
        let expected = serde_json::to_vec(&value).unwrap();
        assert!(
            expected.len() > 4 * CHUNK_BYTES,
            "the answer spans several chunks"
        );
        let response = Streamed::json(value).into_response();
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert!(
            response.headers().get(header::CONTENT_LENGTH).is_none(),
            "sent without a length"
        );
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert_eq!(body.as_ref(), expected.as_slice());
    }

    #[tokio::test]
    async fn the_writer_runs_ahead_of_the_client_by_a_few_chunks_only_and_stops_when_it_goes_away()
    {
        let written = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&written);
        let response = Streamed::new(HeaderValue::from_static("text/csv"), move |out| {
            for _ in 0..1_000 {
                out.write_all(&[b'x'; CHUNK_BYTES])?;
                counted.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        })
        .into_response();
        // Nobody reads: the writer fills the channel and waits.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ahead = written.load(Ordering::SeqCst);
        assert!(
            ahead <= CHUNKS_AHEAD + 2,
            "{ahead} chunks written with no reader"
        );
        drop(response);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = written.load(Ordering::SeqCst);
        assert!(
            after <= ahead + 1,
            "the writer stopped once the client was gone ({ahead} → {after})"
        );
    }

    #[tokio::test]
    async fn a_writer_that_fails_ends_the_body_with_an_error_not_a_short_answer() {
        let response = Streamed::new(HeaderValue::from_static("text/csv"), |out| {
            out.write_all(b"a,b\r\n")?;
            Err(io::Error::other("the rendering failed"))
        })
        .into_response();
        assert!(to_bytes(response.into_body(), usize::MAX).await.is_err());
    }
}
