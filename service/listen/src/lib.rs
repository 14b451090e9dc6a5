//! The accept loop every intune-mock listener shares (the service's `serve`, the simulated
//! connector's SCEP endpoint, the DigiCert-like CA): axum's `serve` has no connection limit and no
//! read timeouts, so a client that opens connections and sends nothing, or half a request, holds a
//! socket (and a file descriptor) for as long as it likes.
//!
//! [`Listener::serve`] runs an [`axum::Router`] over hyper's HTTP/1.1 connections with
//! ([`Limits`], docs/behaviour.md, "Errors and limits"):
//!
//! - **a connection limit**: a semaphore permit per connection, taken *before* `accept`, so past
//!   the limit new connections wait in the kernel's accept queue (and are served in arrival order
//!   as permits come back) while the established ones keep being served;
//! - **a header-read timeout**: a request head must be whole within this long of the
//!   connection's opening, or of its first byte on a kept-alive connection (see `conn`);
//! - **an idle timeout**: a kept-alive connection with no request in flight closes after this
//!   long without a byte;
//! - **a body-read timeout**: a request's body must be whole within this long of its head
//!   (`body`); the handler reading it then gets an error, and the connection closes after the
//!   answer;
//! - **a graceful drain**: when `shutdown` resolves the listening socket closes (new connections
//!   are refused), idle connections close, in-flight requests are answered, and after
//!   [`Limits::grace`] whatever is still open is cut.
//!
//! The file-descriptor limit is fitted to the connection limit at bind time (`fd`).
//!
//! A TLS (or any other) layer plugs in as an [`Acceptor`]: it turns each accepted TCP stream
//! into the stream HTTP is read from, inside the connection's task (so a slow handshake holds only
//! its own connection), under the connection's permit and within the header-read timeout.

mod body;
mod conn;
mod fd;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use body::BodyTimeout;
pub use fd::{fit_connections, FdFit};

/// The limits of one listener. [`Limits::default`] holds the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; past it, new connections wait to be accepted.
    pub max_connections: usize,
    /// How long a request head may take, from the connection's opening (or, on a kept-alive
    /// connection, from the first byte of the next request).
    pub header_read_timeout: Duration,
    /// How long a request body may take, from the end of its head.
    pub body_read_timeout: Duration,
    /// How long a kept-alive connection may stay silent between requests.
    pub idle_timeout: Duration,
    /// How long a shutdown waits for in-flight requests before it cuts their connections.
    pub grace: Duration,
}

impl Limits {
    /// 1,024 connections: a tenant has at most 100 connectors and each keeps one or two
    /// connections, so this leaves room for several tenants and their test clients, and each
    /// connection costs one file descriptor (the soft limit is raised to fit; see `fd`).
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
    /// 10 s: a request head is a few hundred bytes that an honest client sends at once.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// 30 s: the largest body taken (1 MiB) still arrives at 35 KB/s.
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// 60 s: longer than the simulated connector's 30-second poll, so a connector polling on the
    /// default interval keeps its connection.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// 5 s: half of the 10 s a container runtime (`docker stop`) waits between SIGTERM and
    /// SIGKILL, so the store is closed before the kill.
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: Self::DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            grace: Self::DEFAULT_GRACE,
        }
    }
}

/// Turns an accepted TCP stream into the stream HTTP is read from: [`PlainTcp`] hands it over as
/// it is; a TLS acceptor runs its handshake here. It runs inside the connection's task, within
/// [`Limits::header_read_timeout`]; an error closes that connection only.
pub trait Acceptor: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    fn accept(&self, tcp: TcpStream) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// HTTP straight over TCP.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainTcp;

impl Acceptor for PlainTcp {
    type Stream = TcpStream;
    fn accept(&self, tcp: TcpStream) -> impl Future<Output = io::Result<TcpStream>> + Send {
        std::future::ready(Ok(tcp))
    }
}

/// A bound listener with its limits (the connection limit already fitted to the process's file
/// limit) and its acceptor.
#[derive(Debug)]
pub struct Listener<A = PlainTcp> {
    tcp: TcpListener,
    local_addr: SocketAddr,
    limits: Limits,
    acceptor: Arc<A>,
}

/// How a [`Listener::serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// Connections still open when the grace period ran out, cut without an answer.
    pub cut: usize,
}

impl Listener<PlainTcp> {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, limits: Limits) -> io::Result<Self> {
        Self::from_tcp(TcpListener::bind(addr).await?, limits)
    }

    /// Serves on a listener bound elsewhere.
    pub fn from_tcp(tcp: TcpListener, limits: Limits) -> io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        let limits = Limits {
            max_connections: fd::fit_process(limits.max_connections),
            ..limits
        };
        Ok(Listener {
            tcp,
            local_addr,
            limits,
            acceptor: Arc::new(PlainTcp),
        })
    }
}

impl<A: Acceptor> Listener<A> {
    /// The same listener with another acceptor (TLS, say).
    pub fn with_acceptor<B: Acceptor>(self, acceptor: B) -> Listener<B> {
        Listener {
            tcp: self.tcp,
            local_addr: self.local_addr,
            limits: self.limits,
            acceptor: Arc::new(acceptor),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The limits in force (the connection limit as fitted to the file limit).
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The bound socket itself, for a caller that runs its own accept loop (the limits are then
    /// its own).
    pub fn into_tcp(self) -> TcpListener {
        self.tcp
    }

    /// Serves `router` until `shutdown` resolves, then drains (see the module's note).
    pub async fn serve(
        self,
        router: axum::Router,
        shutdown: impl Future<Output = ()> + Send,
    ) -> io::Result<Served> {
        let Listener {
            tcp,
            limits,
            acceptor,
            ..
        } = self;
        let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut tasks = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut accept_errors = AcceptErrors::default();
        loop {
            while tasks.try_join_next().is_some() {}
            // The permit first: at the limit, connections wait in the accept queue.
            let permit = tokio::select! {
                biased;
                () = &mut shutdown => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let tcp_stream = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = tcp.accept() => match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        accept_errors.wait_after(&e).await;
                        continue;
                    }
                },
            };
            tasks.spawn(conn::serve_connection(
                tcp_stream,
                acceptor.clone(),
                router.clone(),
                limits,
                graceful.watcher(),
                permit,
            ));
        }
        // Stop accepting: the listening socket closes, so a new connection is refused at once.
        drop(tcp);
        let open = graceful.count();
        tracing::info!(connections = open, grace = ?limits.grace, "stopping: answering the requests in flight");
        let drained = tokio::time::timeout(limits.grace, async {
            graceful.shutdown().await;
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        let cut = if drained {
            0
        } else {
            let cut = tasks.len();
            tasks.shutdown().await;
            tracing::warn!(
                connections = cut,
                "the grace period ran out: connections cut"
            );
            cut
        };
        Ok(Served { cut })
    }
}

/// Accept errors are logged at most once a second, and one that says the process is out of
/// file descriptors pauses accepting briefly instead of spinning on it.
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<tokio::time::Instant>,
}

impl AcceptErrors {
    async fn wait_after(&mut self, error: &io::Error) {
        let now = tokio::time::Instant::now();
        if self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            tracing::warn!(error = %error, "cannot accept a connection");
            self.last_logged = Some(now);
        }
        if is_out_of_descriptors(error) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn is_out_of_descriptors(error: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and the BSDs.
    matches!(error.raw_os_error(), Some(23 | 24))
}
