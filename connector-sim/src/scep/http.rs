//! The SCEP endpoint over HTTP: `GET …?operation=GetCACaps|GetCACert|PKIOperation&message=…`
//! and `POST …?operation=PKIOperation` with the DER pkiMessage as the body, on NDES's path
//! (`/certsrv/mscep/mscep.dll`, with or without `/pkiclient.exe`) and on `/scep`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;

use super::endpoint::ScepEndpoint;

/// The paths the endpoint answers on.
pub const PATHS: [&str; 3] = [
    "/certsrv/mscep/mscep.dll",
    "/certsrv/mscep/mscep.dll/pkiclient.exe",
    "/scep",
];

/// Largest pkiMessage taken (a CSR with a 16k-bit key and many extensions stays far below).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

pub fn router(endpoint: Arc<ScepEndpoint>) -> Router {
    let mut router = Router::new();
    for path in PATHS {
        router = router.route(path, get(on_get).post(on_post));
    }
    router
        .layer(axum::extract::DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
        .with_state(endpoint)
}

/// Serves the endpoint on `addr` (port 0 picks one) with the default listener limits, until the
/// task is aborted; returns the bound address.
pub async fn serve(
    endpoint: Arc<ScepEndpoint>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    serve_with(
        endpoint,
        addr,
        listen::Limits::default(),
        std::future::pending(),
    )
    .await
}

/// Serves the endpoint on `addr` with `limits` (the connection limit and read timeouts every
/// listener has, see `listen`) until `shutdown` resolves, then drains within the limits' grace
/// period; returns the bound address and the serving task.
pub async fn serve_with(
    endpoint: Arc<ScepEndpoint>,
    addr: SocketAddr,
    limits: listen::Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = listen::Listener::bind(addr, limits).await?;
    let bound = listener.local_addr();
    let app = router(endpoint);
    let task = tokio::spawn(async move {
        if let Err(e) = listener.serve(app, shutdown).await {
            tracing::warn!(error = %e, "the SCEP endpoint stopped");
        }
    });
    Ok((bound, task))
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.into(),
    )
        .into_response()
}

/// `message=` as clients send it: standard base64 (percent-decoded already; a `+` that became a
/// space is put back) or the URL-safe alphabet (micromdm 2.1.0), with or without padding.
pub fn decode_message(text: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = text
        .chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .map(|c| match c {
            ' ' | '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine
        .decode(cleaned.trim())
        .map_err(|e| format!("message is not base64: {e}"))
}

async fn on_get(
    State(endpoint): State<Arc<ScepEndpoint>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let operation = query.get("operation").map(String::as_str).unwrap_or("");
    match operation {
        "GetCACaps" => plain(StatusCode::OK, endpoint.capabilities()),
        "GetCACert" => match endpoint.ca_certs() {
            Ok(der) => (
                [(header::CONTENT_TYPE, "application/x-x509-ca-ra-cert")],
                der,
            )
                .into_response(),
            Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        "PKIOperation" => {
            let Some(message) = query.get("message") else {
                return plain(
                    StatusCode::BAD_REQUEST,
                    "PKIOperation needs message=<base64 pkiMessage>",
                );
            };
            match decode_message(message) {
                Ok(body) => pki_operation(&endpoint, &body).await,
                Err(e) => plain(StatusCode::BAD_REQUEST, e),
            }
        }
        "" => plain(
            StatusCode::BAD_REQUEST,
            "operation= is missing (GetCACaps, GetCACert, PKIOperation)",
        ),
        other => plain(
            StatusCode::BAD_REQUEST,
            format!("operation `{other}` is not served (GetCACaps, GetCACert, PKIOperation)"),
        ),
    }
}

async fn on_post(
    State(endpoint): State<Arc<ScepEndpoint>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    match query.get("operation").map(String::as_str) {
        Some("PKIOperation") => pki_operation(&endpoint, &body).await,
        other => plain(
            StatusCode::BAD_REQUEST,
            format!(
                "POST serves operation=PKIOperation only, not `{}`",
                other.unwrap_or("")
            ),
        ),
    }
}

async fn pki_operation(endpoint: &ScepEndpoint, body: &[u8]) -> Response {
    match endpoint.pki_operation(body).await {
        Ok(reply) => ([(header::CONTENT_TYPE, "application/x-pki-message")], reply).into_response(),
        Err(e) => plain(
            StatusCode::BAD_REQUEST,
            format!("the pkiMessage cannot be read: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_decodes_from_either_alphabet_with_or_without_padding() {
        let bytes: Vec<u8> = (0u8..=255).collect();
        let standard = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(decode_message(&standard).unwrap(), bytes);
        assert_eq!(decode_message(&url).unwrap(), bytes);
        assert_eq!(decode_message(&standard.replace('+', " ")).unwrap(), bytes);
        assert!(decode_message("***")
            .unwrap_err()
            .starts_with("message is not base64"));
    }
}
