//! One connection: the acceptor's handshake, hyper's HTTP/1.1 over it, and a watchdog that closes
//! it when it has been silent too long.
//!
//! The watchdog follows the connection through four phases, told by the bytes it reads and the
//! requests it hands to the router:
//!
//! | phase | from | ends when | closes after |
//! |---|---|---|---|
//! | new | the connection opens | a request head is whole | the header-read timeout |
//! | busy | a request head is whole | the last answer's body is written (or dropped) | never: the body-read timeout bounds the request, the handler bounds itself |
//! | idle | an answer is written | a byte arrives | the idle timeout |
//! | head | a byte arrives on an idle connection | the request head is whole | the header-read timeout |
//!
//! So a connection that sends nothing, or half a head, closes after the header-read timeout; a
//! kept-alive one after the idle timeout. hyper's own `header_read_timeout` is set to both
//! together, the longest any of these may take, as a second line: it counts from the moment
//! hyper starts waiting for a head, which on a kept-alive connection includes the idle time.

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tower::ServiceExt as _;

use crate::body::{InFlight, TimedBody};
use crate::{Acceptor, Limits};

const NEW: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;
const HEAD: u8 = 3;

/// Where a connection is (see the module's table), shared by its reads, its requests and its
/// watchdog.
#[derive(Debug, Default)]
pub(crate) struct Phase {
    state: AtomicU8,
    in_flight: AtomicUsize,
    changed: Notify,
}

impl Phase {
    fn set(&self, state: u8) {
        self.state.store(state, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Bytes arrived: an idle connection now reads a head.
    fn bytes_read(&self) {
        if self
            .state
            .compare_exchange(IDLE, HEAD, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.changed.notify_waiters();
        }
    }

    /// A request head is whole and goes to the router: busy until the guard is dropped.
    pub(crate) fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.set(BUSY);
        InFlight::new(self.clone())
    }

    /// An answer was written (or dropped): idle once no other request is in flight.
    pub(crate) fn request_ended(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.set(IDLE);
        }
    }

    /// Resolves, with the reason, when the connection has stayed in a phase longer than it may.
    async fn watchdog(&self, limits: &Limits) -> &'static str {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before the phase is read, so a change in between is not missed.
            changed.as_mut().enable();
            let (limit, why) = match self.state.load(Ordering::SeqCst) {
                NEW | HEAD => (
                    limits.header_read_timeout,
                    "no whole request head within the header-read timeout",
                ),
                IDLE => (limits.idle_timeout, "idle past the idle timeout"),
                _ => {
                    changed.await;
                    continue;
                }
            };
            if tokio::time::timeout(limit, changed).await.is_err() {
                return why;
            }
        }
    }
}

/// The accepted stream, telling [`Phase`] when bytes arrive.
struct Watched<S> {
    inner: S,
    phase: Arc<Phase>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.phase.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
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
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves one accepted connection until it ends, the watchdog closes it, or the drain does;
/// `_permit` goes back to the listener's limit when it returns.
pub(crate) async fn serve_connection<A: Acceptor>(
    tcp: TcpStream,
    acceptor: Arc<A>,
    router: axum::Router,
    limits: Limits,
    watcher: hyper_util::server::graceful::Watcher,
    _permit: OwnedSemaphorePermit,
) {
    let _ = tcp.set_nodelay(true);
    let stream = match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(tcp)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "connection refused by the acceptor");
            return;
        }
        Err(_) => {
            tracing::debug!("the acceptor did not finish within the header-read timeout");
            return;
        }
    };
    let phase = Arc::new(Phase::default());
    let io = TokioIo::new(Watched {
        inner: stream,
        phase: phase.clone(),
    });
    let service = hyper::service::service_fn({
        let phase = phase.clone();
        move |request: hyper::Request<Incoming>| {
            let in_flight = phase.request_started();
            let router = router.clone();
            async move {
                let request = request.map(|body| {
                    axum::body::Body::new(TimedBody::new(body, limits.body_read_timeout))
                });
                let response = router.oneshot(request).await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| axum::body::Body::new(in_flight.guard(body))),
                )
            }
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout + limits.header_read_timeout)
        .keep_alive(true);
    let connection = watcher.watch(http.serve_connection(io, service));
    tokio::select! {
        served = connection => {
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        why = phase.watchdog(&limits) => tracing::debug!("connection closed: {why}"),
    }
}
