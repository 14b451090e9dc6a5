//! HTTPS for the service (docs/behaviour.md, "Tenants and connectors"): MSAL-based clients
//! (azure-identity, the Graph SDKs' default authentication, PowerShell, MSAL.NET) refuse an
//! authority that is not `https`, so `serve --tls` adds an HTTPS listener next to the HTTP one.
//!
//! Three separable pieces: [`local_ca`] makes (once, in the data dir) a local CA and a server
//! certificate for the listen addresses and `localhost`; [`TlsAcceptor`] turns an accepted TCP
//! stream into a TLS stream (with that certificate or the user's own); [`listener`] serves a
//! router over it with axum.
//!
//! OpenSSL (the `openssl` crate with `tokio-openssl`) rather than rustls: the service already
//! links OpenSSL for its PKI and signs its tokens with it, the local CA is built with the same
//! `X509Builder` code as the connector's CAs, and the system's OpenSSL gets the distribution's
//! security updates; rustls would add a second TLS and crypto stack and a certificate generator
//! (rcgen) to the build. ALPN offers only `http/1.1`: the service speaks HTTP/1.1 only (axum's
//! `http1`), and a client that also offers `h2` (httpx does) must not be told otherwise.

pub mod listener;
pub mod local_ca;

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use openssl::pkey::{PKey, Private};
use openssl::ssl::{self, AlpnError, Ssl, SslAcceptor, SslMethod};
use openssl::x509::X509;
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

pub use local_ca::{LocalTls, ServerName};

/// What could not be read, made or written for TLS, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read or write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    File { path: String, what: String },
    #[error("TLS: {0}")]
    OpenSsl(String),
}

impl From<openssl::error::ErrorStack> for TlsError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        TlsError::OpenSsl(e.to_string())
    }
}

/// The only ALPN protocol offered, in the wire form (length-prefixed).
const ALPN_HTTP_1_1: &[u8] = b"\x08http/1.1";

/// The server side of TLS for one certificate: turns accepted TCP streams into TLS streams.
/// Cheap to clone (one shared OpenSSL context).
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: Arc<SslAcceptor>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsAcceptor")
    }
}

impl TlsAcceptor {
    /// From a PEM certificate chain (the server's certificate first, then any intermediates)
    /// and its PEM private key. `Err` names the file and what is wrong with it.
    pub fn from_pem_files(chain: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        let file = |path: &Path, what: String| TlsError::File {
            path: path.display().to_string(),
            what,
        };
        let certificates = X509::stack_from_pem(&read(chain)?)
            .map_err(|e| file(chain, format!("not a PEM certificate chain: {e}")))?;
        if certificates.is_empty() {
            return Err(file(chain, "holds no PEM certificate".to_owned()));
        }
        let private_key = PKey::private_key_from_pem(&read(key)?)
            .map_err(|e| file(key, format!("not a PEM private key: {e}")))?;
        if !certificates[0].public_key()?.public_eq(&private_key) {
            return Err(file(
                key,
                format!(
                    "is not the key of the first certificate in {}",
                    chain.display()
                ),
            ));
        }
        Self::new(&certificates, &private_key)
    }

    /// `chain[0]` is the server's certificate, `key` its private key.
    pub fn new(chain: &[X509], key: &PKey<Private>) -> Result<Self, TlsError> {
        let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
        let (leaf, rest) = chain
            .split_first()
            .ok_or_else(|| TlsError::OpenSsl("no certificate".to_owned()))?;
        builder.set_certificate(leaf)?;
        for certificate in rest {
            builder.add_extra_chain_cert(certificate.clone())?;
        }
        builder.set_private_key(key)?;
        builder.check_private_key()?;
        builder.set_alpn_select_callback(|_, offered| {
            ssl::select_next_proto(ALPN_HTTP_1_1, offered).ok_or(AlpnError::NOACK)
        });
        Ok(TlsAcceptor {
            inner: Arc::new(builder.build()),
        })
    }

    /// The TLS handshake on an accepted TCP stream: the stream to serve HTTP on, or why the
    /// handshake failed. The caller bounds how long it may take.
    pub async fn accept(&self, tcp: TcpStream) -> std::io::Result<SslStream<TcpStream>> {
        let ssl = Ssl::new(self.inner.context()).map_err(std::io::Error::other)?;
        let mut stream = SslStream::new(ssl, tcp).map_err(std::io::Error::other)?;
        Pin::new(&mut stream)
            .accept()
            .await
            .map_err(std::io::Error::other)?;
        Ok(stream)
    }
}

/// The HTTPS listener's acceptor: `listen` runs the handshake in the connection's task, bounded by
/// the header-read timeout.
impl listen::Acceptor for TlsAcceptor {
    type Stream = SslStream<TcpStream>;

    fn accept(
        &self,
        tcp: TcpStream,
    ) -> impl std::future::Future<Output = std::io::Result<Self::Stream>> + Send {
        let this = self.clone();
        async move { TlsAcceptor::accept(&this, tcp).await }
    }
}
