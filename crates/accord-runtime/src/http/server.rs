//! The HTTP/1.1 server under every API: hyper's connection builder on a bound listener, with the limits that keep a
//! slow or greedy client from holding the server (`axum::serve` has none of them).
//!
//! - **Connections**: at most [`Limits::max_connections`] open, and [`Limits::max_per_address`] from one client
//!   address (an IPv6 client counts by its /64). A connection beyond either limit closes the one of that scope that
//!   has been open longest *without a request in progress* — a slow-loris connection that never finishes its
//!   headers, an idle keep-alive one — so that a new client (a health check, an investigator) always gets in while
//!   the server is flooded; only when every connection of the scope is serving a request is the new one closed at
//!   once. The choice is written down in decision 0023.
//! - **Header-read timeout**: a request's headers must arrive within [`Limits::header_read_timeout`], counted from
//!   the moment the connection waits for a request (so it also bounds an idle keep-alive connection).
//! - **Idle timeout**: a connection on which no byte moved for [`Limits::idle_timeout`] while no request is in
//!   progress (a client that stopped reading its answer, a stalled body) is closed. A request in progress is bounded
//!   by the request timeout of `with_common_layers`, not here.
//! - **Tracking**: every connection is a task of the process's `TaskTracker`, so shutdown waits for the last one.
//!   On shutdown the listener stops accepting and every connection is shut down gracefully: an idle one closes at
//!   once, one serving a request finishes it first.
//!
//! Each request carries the client's address as `ConnectInfo<SocketAddr>` for the rate limits.

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::{Pin, pin},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt as _;

use super::{
    HttpConfig,
    connections::{Admitted, Connections},
    forwarded::TrustedProxies,
};
use crate::metrics as names;

/// The connection limits and timeouts of [`serve`].
#[derive(Debug, Clone)]
pub struct Limits {
    /// The most connections open at once.
    pub max_connections: usize,
    /// The most connections open at once from one client address.
    pub max_per_address: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a connection may stay without traffic while no request is in progress.
    pub idle_timeout: Duration,
    /// Proxies whose connections are not held to `max_per_address` (they carry many clients' requests).
    pub trusted_proxies: TrustedProxies,
}

impl From<&HttpConfig> for Limits {
    fn from(config: &HttpConfig) -> Self {
        Self {
            max_connections: config.max_connections,
            max_per_address: config.max_connections_per_address,
            header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(config.idle_timeout_ms),
            trusted_proxies: TrustedProxies::new(&config.trusted_proxies),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled; see the module documentation. Connection tasks are
/// spawned into `tracker`.
///
/// # Errors
/// Never in practice: accept errors (a peer that reset, no file descriptor left) are logged and the loop goes on.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) -> std::io::Result<()> {
    let connections = Arc::new(Connections::new(
        limits.max_connections,
        limits.max_per_address,
        limits.trusted_proxies.clone(),
    ));
    let timeouts = Timeouts {
        header_read: limits.header_read_timeout,
        idle: limits.idle_timeout,
    };
    warn_about_file_descriptors(limits.max_connections);
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and the like: back off instead of spinning; the limits should keep us clear of it.
                tracing::warn!(%error, "failed to accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = connections.admit(peer.ip()) else {
            metrics::counter!(names::HTTP_CONNECTIONS_REFUSED).increment(1);
            drop(stream);
            continue;
        };
        // Best effort: small answers should leave at once.
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            router: router.clone(),
            peer,
            timeouts,
            admitted,
            shutdown: shutdown.clone(),
        };
        tracker.spawn(connection.run(stream));
    }
    tracing::info!("http server stopped accepting connections");
    Ok(())
}

/// A connection's timeouts ([`Limits`]).
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header_read: Duration,
    idle: Duration,
}

/// One accepted connection.
struct Connection {
    router: Router,
    peer: SocketAddr,
    timeouts: Timeouts,
    admitted: Admitted,
    shutdown: CancellationToken,
}

impl Connection {
    /// Serves requests until the client closes, a timeout or an eviction closes the connection, or shutdown drains it.
    async fn run(self, stream: TcpStream) {
        let activity = Activity::new();
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: Arc::clone(&activity),
        });
        let busy = self.admitted.busy();
        let (router, peer) = (self.router.clone(), self.peer);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let in_progress = InProgress::start(Arc::clone(&busy));
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await;
                drop(in_progress);
                Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
            }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.timeouts.header_read)
            .keep_alive(true);
        let mut connection = pin!(builder.serve_connection(io, service));
        let mut draining = false;
        let evicted = self.admitted.evicted();
        let mut idle_check = activity.last() + self.timeouts.idle;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%error, peer = %self.peer, "connection ended with an error");
                    }
                    return;
                }
                () = evicted.cancelled() => {
                    tracing::debug!(peer = %self.peer, "connection closed to admit a newer one");
                    return;
                }
                () = self.shutdown.cancelled(), if !draining => {
                    connection.as_mut().graceful_shutdown();
                    draining = true;
                }
                () = tokio::time::sleep_until(idle_check) => {
                    let now = Instant::now();
                    if self.admitted.is_busy() {
                        // The request timeout bounds a request in progress; look again later.
                        idle_check = now + self.timeouts.idle;
                        continue;
                    }
                    if now.saturating_duration_since(activity.last()) >= self.timeouts.idle {
                        metrics::counter!(names::HTTP_CONNECTIONS_IDLE_CLOSED).increment(1);
                        tracing::debug!(peer = %self.peer, "closing an idle connection");
                        return;
                    }
                    idle_check = activity.last() + self.timeouts.idle;
                }
            }
        }
    }
}

/// Counts a request in progress on its connection for as long as it lives.
struct InProgress(Arc<AtomicUsize>);

impl InProgress {
    fn start(busy: Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::AcqRel);
        Self(busy)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// When a byte last moved on a connection.
struct Activity {
    base: Instant,
    /// Milliseconds after `base`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(elapsed, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }
}

/// A stream that notes in [`Activity`] every read or write that moved bytes.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Warns when the process may run out of file descriptors before it reaches the connection limit (Linux: the soft
/// `RLIMIT_NOFILE` from `/proc/self/limits`); the stores and the bus need some of their own.
fn warn_about_file_descriptors(max_connections: usize) {
    const RESERVED: u64 = 256;
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<u64>().ok());
    if let Some(soft) = soft
        && (max_connections as u64).saturating_add(RESERVED) > soft
    {
        tracing::warn!(
            max_connections,
            open_files_limit = soft,
            reserved = RESERVED,
            "http.max_connections leaves too few file descriptors for the stores and the bus; \
             raise the open files limit (ulimit -n) or lower http.max_connections"
        );
    }
}
