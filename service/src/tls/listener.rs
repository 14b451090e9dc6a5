//! The HTTPS side of `serve`: the listener is the same `listen` accept loop as HTTP's (connection
//! limit, header/body/idle timeouts, graceful stop), with [`super::TlsAcceptor`] as its
//! [`listen::Acceptor`], so a TLS handshake runs in the connection's task within the header-read
//! timeout and a client that connects and sends nothing holds up no one. [`https`] marks every
//! request served there as HTTPS for the links the service writes.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::Router;

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
