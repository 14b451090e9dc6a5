//! Serving the router over TLS with axum: [`TlsListener`] is an `axum::serve::Listener` whose
//! connections have finished their handshake, and [`https`] marks every request it serves as
//! HTTPS for the links the service writes.
//!
//! Handshakes run in their own tasks (at most [`HANDSHAKE_TIMEOUT`] each), so a client that
//! opens a connection and sends nothing holds up no one; finished ones are handed to axum's
//! accept loop through a channel. A server with its own accept loop calls
//! [`super::TlsAcceptor::accept`] on each TCP stream instead and serves
//! `https(router)`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_openssl::SslStream;

use super::TlsAcceptor;

/// The longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections past their handshake that axum has not picked up yet.
const READY_QUEUE: usize = 64;

/// A TCP listener whose accepted connections come out as TLS streams.
#[derive(Debug)]
pub struct TlsListener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<(SslStream<TcpStream>, SocketAddr)>,
    _accepting: AbortOnDrop,
}

/// Stops the accept task when the listener goes (axum drops it at shutdown).
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl TlsListener {
    pub fn new(mut listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (ready_tx, ready) = mpsc::channel(READY_QUEUE);
        let accepting = tokio::spawn(async move {
            loop {
                // axum's accept: retries and logs the errors a listener can have.
                let (tcp, peer) = axum::serve::Listener::accept(&mut listener).await;
                let acceptor = acceptor.clone();
                let ready_tx = ready_tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = ready_tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            local_addr,
            ready,
            _accepting: AbortOnDrop(accepting),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = SslStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept task is gone (it never ends on its own): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// `router` as the HTTPS listener serves it: every request carries `X-Forwarded-Proto: https`
/// (whatever the client sent), which the handlers read to write `https` links.
pub fn https(router: Router) -> Router {
    router.layer(axum::middleware::map_request(
        |mut request: Request| async move {
            request
                .headers_mut()
                .insert("x-forwarded-proto", HeaderValue::from_static("https"));
            request
        },
    ))
}

/// Serves `router` over HTTP on `http` and over HTTPS on `https` until `shutdown` resolves,
/// then lets both finish their in-flight requests.
pub async fn serve_both(
    http: TcpListener,
    https_listener: TlsListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let plain =
        axum::serve(http, router.clone()).with_graceful_shutdown(until_stopped(stopped.clone()));
    let secure = axum::serve(https_listener, self::https(router))
        .with_graceful_shutdown(until_stopped(stopped));
    let (plain, secure) = tokio::join!(
        std::future::IntoFuture::into_future(plain),
        std::future::IntoFuture::into_future(secure)
    );
    plain.and(secure)
}
